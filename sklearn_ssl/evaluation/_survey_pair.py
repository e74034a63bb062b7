"""The two surveys of the cross-survey study: the same galaxies observed under conditions A and B.

:func:`make_survey_pair` simulates them, :func:`cross_survey_augmentations` spans their
differences (PSF blur, noise, reddening) for pretraining, and :func:`generic_augmentations`
is the control built without knowing them. All three, and :data:`CROSS_SURVEY_CONDITIONS`,
are re-exported by :mod:`sklearn_ssl.evaluation`.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["CROSS_SURVEY_CONDITIONS", "cross_survey_augmentations", "generic_augmentations", "make_survey_pair"]

#: Observing conditions of the two surveys of :func:`cross_survey_study`: median r-band
#: seeing FWHM (arcsec), factor on the sky noise per pixel, and E(B-V) drawn uniformly in a
#: range (or one value). A is SDSS-like (1.35 arcsec, SDSS sky, high Galactic latitude); B has
#: 1.6x worse seeing, 3x the sky noise (1.2 mag shallower) and 0.15-0.35 mag of E(B-V).
CROSS_SURVEY_CONDITIONS = {
    "A": {"seeing": 1.35, "sky_noise_scale": 1.0, "ebv": (0.0, 0.05)},
    "B": {"seeing": 2.2, "sky_noise_scale": 3.0, "ebv": (0.15, 0.35)},
}

def _ebv_values(spec, n, rng):
    if isinstance(spec, (tuple, list)):
        lo, hi = (float(v) for v in spec)
        if not 0 <= lo <= hi:
            raise ValueError(f"an ebv range must be (low, high) with 0 <= low <= high, got {spec!r}.")
        return rng.uniform(lo, hi, n)
    return np.full(n, float(spec))


def make_survey_pair(n_samples=480, image_size=32, bands="gri", *, conditions_a=None, conditions_b=None,
                     random_state=None):
    """The same synthetic galaxies observed under two sets of conditions.

    Calls :func:`sklearn_ssl.datasets.make_galaxy_survey` twice with the same seed, so
    that galaxies (and the noise pattern) are identical and only the seeing, the sky noise
    and the Galactic extinction differ.

    Parameters
    ----------
    n_samples, image_size, bands
        As in :func:`~sklearn_ssl.datasets.make_galaxy_survey` (survey ``"sdss"``).
    conditions_a, conditions_b : dict or None
        Keys ``seeing`` (median r-band FWHM, arcsec), ``sky_noise_scale`` and ``ebv`` (a
        value or a ``(low, high)`` range drawn uniformly per galaxy); missing keys and
        None take :data:`CROSS_SURVEY_CONDITIONS`.
    random_state : int, RandomState instance or None

    Returns
    -------
    images_a, images_b : ndarray of shape (n_samples, len(bands), image_size, image_size)
    catalogue_a, catalogue_b : pandas.DataFrame
        Their catalogues (same galaxies; ``seeing_fwhm_<b>``, ``sky_sigma_<b>`` and ``ebv``
        hold each survey's conditions).
    """
    from ..datasets import make_galaxy_survey

    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    out = []
    for key, given in (("A", conditions_a), ("B", conditions_b)):
        cond = _conditions(key, given)
        ebv = _ebv_values(cond["ebv"], n_samples, np.random.default_rng([seed, ord(key)]))
        out.append(make_galaxy_survey(n_samples, image_size, bands, ebv=ebv, seeing=cond["seeing"],
                                      sky_noise_scale=cond["sky_noise_scale"], random_state=seed))
    (xa, ca), (xb, cb) = out
    return xa, xb, ca, cb


def _conditions(key, given):
    unknown = set(given or {}) - set(CROSS_SURVEY_CONDITIONS[key])
    if unknown:
        raise ValueError(f"conditions_{key.lower()} has unknown keys {sorted(unknown)}; use "
                         f"{sorted(CROSS_SURVEY_CONDITIONS[key])}.")
    return {**CROSS_SURVEY_CONDITIONS[key], **(given or {})}


def cross_survey_augmentations(catalogue_a, catalogue_b, bands, *, pixel_scale=0.396, survey="sdss"):
    """Augmentations spanning the differences between two surveys' conditions.

    From the catalogues' per-galaxy conditions (medians per band): flips and rotations,
    then a Gaussian PSF blur of up to the quadrature difference of the two seeings, a
    random change of E(B-V) of up to the full range of both surveys in either direction
    (the difference of two uniform draws), and Gaussian noise of up to the quadrature
    difference of the two sky noises. A view of an image of either survey thus ranges over
    the other's conditions.

    Parameters
    ----------
    catalogue_a, catalogue_b : pandas.DataFrame
        With ``seeing_fwhm_<b>`` (arcsec), ``sky_sigma_<b>`` (flux per pixel) and ``ebv``
        columns, as made by :func:`~sklearn_ssl.datasets.make_galaxy_survey`.
    bands : str
        Band letters, in channel order.
    pixel_scale : float, default=0.396
        Arcsec per pixel.
    survey : str, default="sdss"
        Key of :data:`sklearn_ssl.datasets.EXTINCTION_COEFFICIENTS`.

    Returns
    -------
    augmentations : sklearn_ssl.augment.Compose
    """
    from ..augment import Compose, GalacticReddening, GaussianNoise, PSFBlur, RandomFlip, RandomRotation, Uniform
    from ..datasets import EXTINCTION_COEFFICIENTS

    def median(cat, prefix):
        return np.array([np.median(cat[f"{prefix}_{b}"]) for b in bands])

    psf_a, psf_b = (median(c, "seeing_fwhm") / 2.3548 / pixel_scale for c in (catalogue_a, catalogue_b))
    sky_a, sky_b = (median(c, "sky_sigma") for c in (catalogue_a, catalogue_b))
    ebv = np.concatenate([catalogue_a["ebv"], catalogue_b["ebv"]])
    blur = np.sqrt(np.abs(psf_b ** 2 - psf_a ** 2))
    noise = np.sqrt(np.abs(sky_b ** 2 - sky_a ** 2))
    span = float(ebv.max() - ebv.min())
    coefficients = [EXTINCTION_COEFFICIENTS[survey][b] for b in bands]
    return Compose([RandomFlip(), RandomRotation(),
                    PSFBlur(Uniform(0.0, tuple(blur.tolist()))),
                    GalacticReddening(coefficients, Uniform(0.0, span), difference=True),
                    GaussianNoise(Uniform(0.0, tuple(noise.tolist())))])


def generic_augmentations(bands="gri", *, survey="sdss"):
    """Augmentations of generic ranges, not built from any survey's conditions.

    The control of :func:`cross_survey_augmentations`, which is built from the known
    difference between the two surveys (an oracle a real study rarely has): flips and
    rotations, then each photometric augmentation at its default range in
    :mod:`sklearn_ssl.augment` -- a Gaussian PSF blur of sigma 0 to 1 px
    (:class:`~sklearn_ssl.augment.PSFBlur`), a change of E(B-V) by the difference of two
    draws from 0 to 0.5 (:class:`~sklearn_ssl.augment.GalacticReddening`), and Gaussian
    noise of 0 to 0.1 of each band's spread (:class:`~sklearn_ssl.augment.GaussianNoise`,
    ``relative=True``, as in the ``"auto"`` preset). Only the bands (for the extinction
    coefficients) are needed: the same augmentations whatever the conditions.

    Parameters
    ----------
    bands : str, default="gri"
        Band letters, in channel order.
    survey : str, default="sdss"
        Key of :data:`sklearn_ssl.datasets.EXTINCTION_COEFFICIENTS`.

    Returns
    -------
    augmentations : sklearn_ssl.augment.Compose
    """
    from ..augment import Compose, GalacticReddening, GaussianNoise, PSFBlur, RandomFlip, RandomRotation, Uniform
    from ..datasets import EXTINCTION_COEFFICIENTS

    coefficients = [EXTINCTION_COEFFICIENTS[survey][b] for b in bands]
    return Compose([RandomFlip(), RandomRotation(), PSFBlur(Uniform(0.0, 1.0)),
                    GalacticReddening(coefficients, Uniform(0.0, 0.5), difference=True),
                    GaussianNoise(Uniform(0.0, 0.1), relative=True)])
