"""Physically motivated augmentations on batched tensors, run on the training device.

Every augmentation is a :class:`torch.nn.Module` whose ``forward(x, generator=None)``
takes a batch ``(n, C, H, W)`` (or ``(n, d)`` for vectors where it makes sense), draws
its random numbers per image from ``generator`` (a :class:`torch.Generator` on ``x``'s
device, or the global RNG when None) and returns a batch of the same dtype and device.
Nothing loops over images in Python. Augmentations that change the image size also
define ``eval_view(x)``, the deterministic view that ``transform`` uses (a centre crop),
so embeddings see the scale seen in training.

The embedder applies augmentations *before* its per-band normalisation, so they act on
physical fluxes (e.g. nanomaggies): noise sigmas are in flux units unless
``relative=True``, PSF widths are in pixels, extinction in magnitudes of E(B-V).

Random parameters are given as a number or per-band sequence (fixed), as
:class:`Uniform` ``(low, high)`` or as :class:`LogNormal` ``(shape, loc, scale, cap)``
(scipy's parametrisation, as fitted by Stein et al.); every field may be per band.

Geometric augmentations (:class:`RandomRotation`, :class:`RandomFlip`,
:class:`RandomDihedral`, :class:`SizeScale`, :class:`RandomShift`, :class:`JitterCrop`)
that follow each other in a :class:`Compose` are fused into one affine warp (one
``grid_sample`` call, bilinear, reflection at the borders), so a rotate-scale-crop
chain resamples the image once and only computes the cropped output.

The package has one module per job: ``_sampling`` (random parameters), ``_geometric``
(the affine warp and the geometric augmentations), ``_compose`` (:class:`Compose`),
``_photometric`` (noise, PSF, reddening) and ``_presets`` (survey presets and their
constants, :func:`resolve_augmentations`). Import from ``sklearn_ssl.augment``.
"""

from . import _photometric, _presets
from ._compose import Compose
from ._geometric import CenterCrop, JitterCrop, RandomDihedral, RandomFlip, RandomRotation, RandomShift, SizeScale
from ._photometric import GalacticReddening, GaussianNoise, PSFBlur, deredden, ebv_from_extinction, redden
from ._presets import resolve_augmentations
from ._sampling import LogNormal, Uniform

# The data constants are defined with the code that uses them; their documentation is here, where
# Sphinx reads it for the public names.

#: Extinction coefficients R_b = A_b / E(B-V): SDSS ugriz from Schlafly & Finkbeiner (2011,
#: R_V=3.1, as used by Hayat et al.), DECaLS grz as used by Stein et al. (DR9 values).
EXTINCTION = _photometric.EXTINCTION
#: Extinction coefficients with which survey catalogues computed their per-band extinction A_b:
#: ``"sdss_dr12"`` (u 5.155, g 3.793, r 2.751, i 2.086, z 1.479; SFD98, as in Hayat et al.'s
#: ``utils/sdss_dr12_galactic_reddening.py``), for :func:`ebv_from_extinction`.
CATALOGUE_EXTINCTION = _photometric.CATALOGUE_EXTINCTION
#: SDSS sky noise per pixel (nanomaggies, ugriz), ~(0.041, 0.017, 0.028, 0.044, 0.190): the Poisson
#: noise of the median moon-down sky, ``sqrt(S * E) / E`` with ``S = 10**(-0.4 (mu - 22.5)) * 0.396**2``
#: the sky per pixel in nanomaggies (mu its surface brightness) and
#: ``E = 54.1 s * 10**(0.4 (ZP_1e - 22.5))`` electrons per nanomaggy (ZP_1e the AB magnitude giving
#: 1 e-/s); sources of mu and ZP_1e in ``augment/_presets.py``. Read noise and dark current are
#: left out: small next to the sky's 300-950 electrons per pixel in g, r, i, z (460 in z), not in
#: u (36), where the value is a lower bound.
SDSS_SKY_SIGMA = _presets.SDSS_SKY_SIGMA
#: SDSS photon counts (electrons) per nanomaggy, ugriz, ~(146, 1060, 958, 700, 113): the ``E`` above,
#: the same zeropoints and exposure as :data:`SDSS_SKY_SIGMA` (the synthetic survey's source noise).
SDSS_ELECTRONS_PER_NMGY = _presets.SDSS_ELECTRONS_PER_NMGY
#: SDSS median moon-down sky brightness, mag/arcsec^2, ugriz (source in ``augment/_presets.py``).
SDSS_SKY_BRIGHTNESS = _presets.SDSS_SKY_BRIGHTNESS
#: Preset name -> factory of the sample shape ``(C, H, W)``.
PRESETS = _presets.PRESETS

__all__ = [
    "Uniform", "LogNormal", "Compose", "RandomRotation", "RandomFlip", "RandomDihedral", "SizeScale",
    "RandomShift", "JitterCrop", "CenterCrop", "GaussianNoise", "PSFBlur", "GalacticReddening",
    "redden", "deredden", "ebv_from_extinction", "EXTINCTION", "CATALOGUE_EXTINCTION", "SDSS_SKY_SIGMA",
    "SDSS_ELECTRONS_PER_NMGY", "SDSS_SKY_BRIGHTNESS", "PRESETS", "resolve_augmentations",
]
