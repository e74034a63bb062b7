"""A built-in, physically motivated synthetic galaxy survey (SDSS ugriz or DECaLS grz).

The simulator renders bulge + disk Sersic galaxies at redshifts drawn from an
SDSS-Main-Galaxy-Sample-like distribution. The four morphology classes differ only in
structure that a catalogue does not hold: where part of the disk's star-forming light sits
(spread over the disk, in spiral arms, in a bar and a ring, or in clumps and a tidal
plume), and, in spirals and barred galaxies, how the disk's older stars are arranged in
azimuth (the density wave of the arms, the m = 2 mode of a bar). Bulge-to-total ratio,
colours, sizes, luminosities and axis ratios are drawn from the same distributions for
every class, so photometry and shape overlap between classes and the image is needed to
tell them apart, while redshift still follows colours and sizes. With

- apparent sizes from the angular-diameter distance and fluxes from the luminosity
  distance of :data:`astropy.cosmology.Planck18` (so surface brightness dims as (1+z)^-4);
- observed colours from three analytic rest-frame spectral templates (old, intermediate,
  star-forming; with a 4000 A break, UV drop and emission lines) redshifted through
  smoothed top-hat approximations of the filter curves, so colours carry redshift;
- a flux limit (r <= 17.77 by default) applied through the luminosity function;
- per-galaxy, per-band seeing (double-Gaussian PSF, applied by FFT), sky and source
  noise, and Galactic extinction with the Schlafly & Finkbeiner (2011) coefficients.

Images are in nanomaggies per pixel (m = 22.5 - 2.5 log10 flux).

This module is the survey's face: :func:`make_galaxy_survey`, its parameters, the survey
constants, noise and the catalogue; the physics (templates, K-corrections, the draw of
galaxies, rendering) is in ``_galaxy_model.py``, gravitational lenses and spectra in
``_survey_extras.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from scipy import fft as sp_fft
from scipy import stats
from sklearn.utils import check_random_state

from ._galaxy_model import (_LAM, _TEMPLATES, _band_fluxes, _draw_catalogue, _grid_interp, _mean_fnu,
                            _render_chunk)
from ._survey_extras import SPECTRUM_WAVELENGTHS, arc_images, draw_lenses, model_spectra
from ..augment import SDSS_ELECTRONS_PER_NMGY, SDSS_SKY_SIGMA

__all__ = [
    "BAND_WAVELENGTHS",
    "EXTINCTION_COEFFICIENTS",
    "MORPHOLOGY_CLASSES",
    "PIXEL_SCALES",
    "SPECTRUM_WAVELENGTHS",
    "make_galaxy_survey",
]

#: Morphology class names, in the order of their integer labels.
MORPHOLOGY_CLASSES = ("smooth", "spiral", "barred", "disturbed")

#: Effective wavelengths in Angstrom.
BAND_WAVELENGTHS = {
    "sdss": {"u": 3551.0, "g": 4686.0, "r": 6166.0, "i": 7480.0, "z": 8932.0},
    "decals": {"g": 4770.0, "r": 6420.0, "z": 9180.0},
}
#: A_b / E(B-V) for R_V = 3.1 (Schlafly & Finkbeiner 2011).
EXTINCTION_COEFFICIENTS = {
    "sdss": {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263},
    "decals": {"g": 3.214, "r": 2.165, "z": 1.211},
}
#: Pixel scale in arcsec per pixel.
PIXEL_SCALES = {"sdss": 0.396, "decals": 0.262}

# Noise model per survey and band: the median sky noise per pixel (nanomaggies) and the photon
# counts (electrons) per nanomaggy of the source Poisson noise, from one set of constants each.
# - SDSS: sky brightness, zeropoints (AB magnitude of 1 e-/s) and the 54.1 s drift-scan exposure of
#   augment._presets (sources there): sigma = sqrt(sky electrons) / (electrons per nmgy), electrons per
#   nmgy = 54.1 s * 10**(0.4 * (zp - 22.5)) (u 146, g 1060, r 962, i 700, z 113).
# - DECaLS: the survey's median 5-sigma point-source depths g/r/z = 24.7/23.9/23.0 (Dey et al. 2019,
#   AJ 157, 168; NOIRLab Astro Data Lab's DECaLS DR9 page), turned into a per-pixel sigma with the
#   noise-equivalent area of the simulation's own PSF at the survey's median seeing; the median r-band
#   FWHM 1.33" is that of Stein et al.'s sweep-catalogue fit (psf_size, 2e6 DR9-south spectroscopic
#   galaxies: lognormal r loc 1.239 + scale 0.916 px sigma at 0.262"/px). Electrons per nanomaggy are then
#   the sky per pixel over sigma**2 with DECam's dark-sky brightness g/r/z = 22.04/20.91/18.46
#   mag/arcsec^2 (legacyzpts, from decstat.pro), i.e. the coadd's effective exposure behind the depth:
#   with DECam's zeropoints 26.610/26.818/26.484 (AB mag of 1 e-/s, same source) it is 230-250 s in g and
#   z and about 110 s in r, the 2-3 passes of 50-100 s that DECaLS takes per band.
_SKY_SIGMA = {"sdss": dict(zip("ugriz", SDSS_SKY_SIGMA))}
_SDSS_E_PER_NMGY = dict(zip("ugriz", SDSS_ELECTRONS_PER_NMGY))
_DEPTHS = {"decals": {"g": 24.7, "r": 23.9, "z": 23.0}}
_DECAM_SKY = {"g": 22.04, "r": 20.91, "z": 18.46}  # mag / arcsec^2
_DECAM_ZEROPOINT_1E = {"g": 26.610, "r": 26.818, "z": 26.484}
_MEDIAN_SEEING = {"sdss": 1.35, "decals": 1.33}  # r-band FWHM, arcsec
# The PSF: a double Gaussian, 0.9 of the light in a core of sigma s and 0.1 in a wing of 2 s, with
# s = FWHM / 2.3548 / 1.05; its noise-equivalent area 1 / sum(PSF**2) = 4 pi s**2 / 0.8845.
_PSF_CORE = 1.05
_PSF_NEA_FACTOR = 0.9 ** 2 + 2 * 0.9 * 0.1 * 2 / 5 + 0.1 ** 2 / 4


def _psf_fwhm(seeing_r, wavelength):
    """FWHM (arcsec) in a band of effective ``wavelength`` for r-band FWHM ``seeing_r`` (Kolmogorov-like)."""
    return seeing_r * (np.asarray(wavelength) / 6200.0) ** -0.2


def _noise_model(survey: str) -> dict:
    """Median sky noise per pixel and electrons per nanomaggy of each band of ``survey``.

    Returns ``{band: (sky_sigma_nmgy_per_px, electrons_per_nmgy)}``; see the comment above for
    the constants and their sources.
    """
    out = {}
    for b, lam in BAND_WAVELENGTHS[survey].items():
        if survey == "sdss":
            out[b] = (_SKY_SIGMA["sdss"][b], _SDSS_E_PER_NMGY[b])
            continue
        scale = PIXEL_SCALES[survey]
        core = _psf_fwhm(_MEDIAN_SEEING[survey], lam) / 2.3548 / scale / _PSF_CORE
        nea = 4 * np.pi * core ** 2 / _PSF_NEA_FACTOR
        sigma = 10 ** (-0.4 * (_DEPTHS[survey][b] - 22.5)) / 5 / np.sqrt(nea)
        sky = 10 ** (-0.4 * (_DECAM_SKY[b] - 22.5)) * scale ** 2
        out[b] = (float(sigma), float(sky / sigma ** 2))
    return out


# SDSS asinh-magnitude softening parameters b (Lupton et al. 1999), as flux / 3631 Jy.
_ASINH_B = {"u": 1.4e-10, "g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}

_CHUNK = 256


def _check_bands(bands, survey):
    if survey not in BAND_WAVELENGTHS:
        raise ValueError(f"survey={survey!r} is not supported; use one of {sorted(BAND_WAVELENGTHS)}.")
    allowed = "".join(BAND_WAVELENGTHS[survey])
    if not isinstance(bands, str) or not bands or any(b not in allowed for b in bands) \
            or len(set(bands)) != len(bands):
        raise ValueError(f"bands={bands!r} is not valid for survey={survey!r}: give a string of "
                         f"distinct band letters from {allowed!r}, e.g. {allowed!r}.")
    return list(bands)


def make_galaxy_survey(n_samples=1000, image_size=64, bands="ugriz", *, survey="sdss",
                       class_weights=(0.3, 0.3, 0.2, 0.2), magnitude_limit=17.77, ebv=None,
                       noise=True, spectra=False, rare_fraction=0.0, seeing=None, sky_noise_scale=1.0,
                       random_state=None):
    """Generate a realistic synthetic galaxy survey: multi-band images and a catalogue.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of galaxies.
    image_size : int, default=64
        Height and width of each cutout in pixels (at least 8).
    bands : str, default="ugriz"
        Band letters, in the channel order wanted (e.g. ``"grz"``, ``"gri"``).
    survey : {"sdss", "decals"}, default="sdss"
        Sets filter curves, pixel scale (0.396 / 0.262 arcsec), seeing, depth and
        extinction coefficients. DECaLS offers only ``g``, ``r``, ``z``.
    class_weights : sequence of 4 floats, default=(0.3, 0.3, 0.2, 0.2)
        Relative frequencies of :data:`MORPHOLOGY_CLASSES`: ``smooth`` (the structured
        star-forming light spread like the disk), ``spiral`` (in two- or three-armed
        logarithmic arms), ``barred`` (in a bar at its own angle and a ring at 1.3-1.8
        half-light radii) and ``disturbed`` (in clumps and a tidal plume). Every other
        property (bulge-to-total, colours, sizes, luminosity, axis ratio) is drawn from the
        same distribution for every class. In spirals and barred galaxies the disk's own
        (older) light is also redistributed in azimuth, as in real disks where arms and
        bars are made of old stars too (arms are seen in near-infrared images of the old
        population, e.g. Rix & Zaritsky 1995, ApJ 447, 82; the amplitudes here are chosen
        to make the pattern visible, not fitted to a sample): spirals put 40-80 % of it,
        beyond half a half-light radius, in broad arms that
        follow the star-forming ones (an azimuthal profile ``((1 + cos(m phase)) / 2)**2``);
        barred galaxies put 60-90 % of it, inside the bar length, along the bar (a von Mises
        profile in ``2 (phi - phi_bar)`` of concentration 4-8: bar axis ratio about
        0.2). Each redistribution keeps the mean around every ellipse of the disk
        plane, so the disk's radial profile, flux and colours are those of a smooth disk;
        only the pattern in the image differs. This makes the arms and bars stand out of
        the survey's noise on 32x32 px SDSS stamps: the median matched-filter
        signal-to-noise of a spiral's (barred galaxy's) difference from the same galaxy
        drawn smooth rose from 40 (68) to 61 (110) in gri. The strengths draw from their
        own random stream, so the catalogue of a seed is the same as without them.
    magnitude_limit : float or None, default=17.77
        Observed r-band limit (SDSS Main Galaxy Sample); ``None`` for none. Absolute
        magnitudes are drawn from the luminosity function truncated at this limit.
    ebv : float, array-like of shape (n_samples,) or None, default=None
        Galactic E(B-V). ``None`` draws it from a lognormal (median ~0.035, capped at 0.5).
        Fluxes are multiplied by ``10**(-0.4 * R_b * ebv)``. All other draws do not
        depend on this value, so the same seed with another ``ebv`` gives the same galaxies.
    noise : bool, default=True
        Add sky and source noise. ``False`` returns the PSF-convolved truth.
    spectra : bool, default=False
        Also return a low-resolution model spectrum of each galaxy: its own template
        mixture at its redshift, through the same extinction, as f_nu in nanomaggies on
        the observed-frame grid :data:`SPECTRUM_WAVELENGTHS` (108 bins of 50 A, 3800-9200 A),
        with Gaussian noise (signal-to-noise 15 at the median flux of an r = 17.77 galaxy,
        rising with the square root of the flux); see ``sklearn_ssl.datasets._survey_extras``.
    rare_fraction : float, default=0.0
        Fraction (at most 0.5) of galaxies turned into galaxy-galaxy strong lenses: a blue
        arc of a lensed star-forming source on an Einstein ring of 1-2.2 arcsec, spanning
        60-140 degrees, with a fainter counter-image, blurred by the galaxy's PSF and with
        25-60 % of the lens galaxy's mean band flux. Lenses are ``smooth`` galaxies when there are enough.
        The catalogue gains a boolean ``strong_lens`` column; the magnitudes include the arcs.
    seeing : float or None, default=None
        Median r-band PSF FWHM in arcsec (observing conditions). Each galaxy's r-band
        FWHM scatters around it by a lognormal factor (sigma 0.15 in ln), other bands scale
        as ``(wavelength / 6200 A)**-0.2``; the catalogue's ``seeing_fwhm_<b>`` columns hold
        the values used. ``None`` uses the survey's (SDSS 1.35, DECaLS 1.2).
    sky_noise_scale : float, default=1.0
        Factor on the sky noise per pixel of every band (depth): 2.0 is a survey 0.75 mag
        shallower (``2.5 log10(2)``), 0.5 one 0.75 mag deeper. The source Poisson noise is
        unchanged; the catalogue's ``sky_sigma_<b>`` columns hold the values used.
    random_state : int, RandomState instance or None, default=None
        Seed; the output is deterministic for a given integer seed.

    Spectra and lenses draw from their own random streams: asking for them changes no
    other galaxy, image or catalogue value of the same seed (the lenses' images gain arcs).
    Likewise ``ebv``, ``seeing`` and ``sky_noise_scale`` change only the observing
    conditions: the same seed gives the same galaxies (and noise pattern) seen through
    another extinction, PSF or depth, e.g. one sample observed by two surveys.

    Returns
    -------
    images : ndarray of shape (n_samples, len(bands), image_size, image_size), float32
        Flux per pixel in nanomaggies.
    catalogue : pandas.DataFrame
        One row per galaxy: ``id``, ``morphology``, ``morphology_class``,
        ``redshift`` (spectroscopic), ``ebv``, ``mag_<b>`` and ``magerr_<b>`` (observed,
        extincted SDSS asinh magnitudes with photometric noise), ``absmag_r``,
        ``half_light_radius_arcsec`` and ``half_light_radius_kpc`` (of the disk),
        ``axis_ratio``, ``position_angle`` (degrees),
        ``sersic_n`` (bulge), ``bulge_to_total``, ``seeing_fwhm_<b>`` (arcsec),
        ``sky_sigma_<b>`` (nanomaggies per pixel); ``strong_lens`` when ``rare_fraction > 0``.
    spectra : ndarray of shape (n_samples, 108), float32
        Only with ``spectra=True``: the model spectra (f_nu, nanomaggies).

    Notes
    -----
    Morphology is in the structure only: the catalogue columns do not separate the classes
    (see ``docs/synthetic_survey.rst`` for the baselines measured with
    ``benchmarks/make_survey.py``), while colours and sizes still carry the redshift.
    """
    bands = _check_bands(bands, survey)
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8 pixels, got {image_size!r}.")
    cw = np.asarray(class_weights, dtype=float)
    if cw.shape != (4,) or np.any(cw < 0) or not np.isfinite(cw).all() or cw.sum() <= 0:
        raise ValueError(f"class_weights must be 4 non-negative numbers with a positive sum "
                         f"({', '.join(MORPHOLOGY_CLASSES)}), got {class_weights!r}.")
    if not isinstance(rare_fraction, (int, float, np.integer, np.floating)) or not 0 <= rare_fraction <= 0.5:
        raise ValueError(f"rare_fraction must be a number in [0, 0.5], got {rare_fraction!r}.")
    for name, value in (("seeing", seeing), ("sky_noise_scale", sky_noise_scale)):
        if value is None and name == "seeing":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    rng = check_random_state(random_state)
    seed_seq = np.random.SeedSequence(rng.randint(2**31 - 1, size=4))
    gen = np.random.default_rng(seed_seq)
    n, nb = int(n_samples), len(bands)
    p = _draw_catalogue(n, gen, cw, magnitude_limit)
    p["n"] = n
    cls, z = p["cls"], p["z"]
    # K-corrections: observed band flux per unit rest-frame r flux, per component (n, 3, nb).
    table = _grid_interp(_band_fluxes(survey, bands), z)  # (n, 3 templates, nb)
    comp_k = np.einsum("nct,ntb->ncb", p["mix"], table)
    rtab = _grid_interp(_band_fluxes(survey, ["r"]), z)
    k_r = -2.5 * np.log10(np.einsum("nc,nct,nt->n", p["frac"], p["mix"], rtab[:, :, 0]))
    upper = np.inf if magnitude_limit is None else magnitude_limit - p["dm"] - k_r
    lo, hi = (-24.0 - p["mean_m"]) / 1.0, np.maximum((upper - p["mean_m"]) / 1.0, -3.0 + 1e-3)
    absmag = p["mean_m"] + stats.truncnorm.rvs(np.minimum(lo, hi - 1e-3), hi, random_state=gen)
    # Sizes: size-luminosity relations (kpc), angular size from D_A.
    lum = -0.4 * (absmag + 21.0)
    re_kpc = 4.0 * 10 ** (0.3 * lum)  # one size-luminosity relation for every class
    re_kpc *= 10 ** gen.normal(0, 0.12, n)
    scale = PIXEL_SCALES[survey]
    re_arcsec = re_kpc / p["da_kpc"] * u.rad.to(u.arcsec)
    re_px = np.clip(re_arcsec / scale, 0.5, image_size / 3)
    q_disk = gen.uniform(0.25, 1.0, n)  # inclination: the same for every class
    k = 6
    p.update(
        re_px=re_px, q_disk=q_disk,
        re_bulge_px=np.maximum(re_px * gen.uniform(0.15, 0.35, n), 0.4),
        n_bulge=gen.uniform(1.5, 4.5, n), q_bulge=gen.uniform(0.6, 1.0, n),
        theta=gen.uniform(0, np.pi, n), dx=gen.uniform(-0.5, 0.5, n), dy=gen.uniform(-0.5, 0.5, n),
        bx=np.zeros(n), by=np.zeros(n),
        arms=gen.choice([2.0, 2.0, 3.0], n), pitch=np.deg2rad(gen.uniform(12, 28, n)),
        arm_phase=gen.uniform(0, 2 * np.pi, n),
        bar_angle=gen.uniform(np.pi / 6, np.pi / 2, n), bar_length=gen.uniform(0.8, 1.3, n),
        ring_radius=gen.uniform(1.3, 1.8, n), bar_weight=gen.uniform(0.4, 0.7, n),
        clump_x=gen.normal(0, 1, (n, k)) * re_px[:, None] * 0.8,
        clump_y=gen.normal(0, 1, (n, k)) * re_px[:, None] * 0.8,
        clump_s=np.maximum(gen.uniform(0.05, 0.15, (n, k)) * re_px[:, None], 0.6),
        clump_w=gen.exponential(1.0, (n, k)), clump_fraction=gen.uniform(0.4, 0.7, n),
        tail_angle=gen.uniform(0, 2 * np.pi, n), tail_distance=gen.uniform(1.5, 2.2, n))
    # Strength of the old disk's arms and bar (own stream: every draw above stays as it was).
    extra = _extra_stream(seed_seq, 2)
    p.update(arm_strength=extra.uniform(0.4, 0.8, n), bar_strength=extra.uniform(0.6, 0.9, n),
             bar_kappa=extra.uniform(4.0, 8.0, n))
    # Extinction, seeing, sky noise per galaxy and band.
    ebv_v = p["ebv_draw"] if ebv is None else np.broadcast_to(np.asarray(ebv, float), (n,)).copy()
    if np.any(ebv_v < 0) or not np.isfinite(ebv_v).all():
        raise ValueError("ebv must be finite and non-negative.")
    rb = np.array([EXTINCTION_COEFFICIENTS[survey][b] for b in bands])
    wl = np.array([BAND_WAVELENGTHS[survey][b] for b in bands])
    seeing_r = (_MEDIAN_SEEING[survey] if seeing is None else float(seeing)) * np.exp(gen.normal(0, 0.15, n))
    # per-band draws are made for all of the survey's bands, so a band subset gives the same galaxies
    sel = [list(BAND_WAVELENGTHS[survey]).index(b) for b in bands]
    nall = len(BAND_WAVELENGTHS[survey])
    fwhm = _psf_fwhm(seeing_r[:, None], wl) * np.exp(gen.normal(0, 0.05, (n, nall))[:, sel])
    p["psf_sigma_px"] = fwhm / 2.3548 / scale / _PSF_CORE  # double Gaussian core sigma
    noise_per_band = _noise_model(survey)
    sky0 = np.array([noise_per_band[b][0] for b in bands])
    sky = float(sky_noise_scale) * sky0 * np.exp(gen.normal(0, 0.2, (n, nall))[:, sel])
    # Component fluxes in nanomaggies (n, 4, nb); the dust lane removes part of the disk light.
    f_tot = 10 ** (-0.4 * (absmag + p["dm"] - 22.5))
    ext = 10 ** (-0.4 * rb[None] * ebv_v[:, None])
    comp = f_tot[:, None, None] * p["frac"][:, :, None] * comp_k * ext[:, None, :]
    tau0 = np.where(p["q_disk"] < 0.35, gen.uniform(0.3, 1.0, n), 0.0)  # dust of nearly edge-on disks
    tau = tau0[:, None] * (wl / 5500.0) ** -1.3
    dust = -(1 - np.exp(-tau)) * comp[:, 1]
    p["comp_flux"] = np.concatenate([comp, dust[:, None]], axis=1)
    # Render in fixed-size chunks, each with its own noise stream (deterministic).
    images = np.empty((n, nb, image_size, image_size), np.float32)
    fy = sp_fft.fftfreq(image_size)[:, None]
    fx = sp_fft.rfftfreq(image_size)[None, :]
    kfreq = (fy ** 2 + fx ** 2).astype(np.float32)
    e_per = np.array([noise_per_band[b][1] for b in bands], np.float32)[:, None, None]
    streams = seed_seq.spawn((n + _CHUNK - 1) // _CHUNK)
    lenses = None
    if rare_fraction > 0:  # own stream: the other draws stay as they are
        lenses = draw_lenses(cls, rare_fraction, scale, image_size, _extra_stream(seed_seq, 0))
        lens_flux = (comp.sum(1) + p["comp_flux"][:, 3])[lenses["index"]]
        arcs = arc_images(lenses, lens_flux, _band_fluxes(survey, bands)[2, -1],
                          fwhm[lenses["index"]] / 2.3548 / scale, image_size)
    for i, start in enumerate(range(0, n, _CHUNK)):
        sl = slice(start, min(start + _CHUNK, n))
        img = _render_chunk(p, sl, image_size, kfreq)
        if lenses is not None:
            here = (lenses["index"] >= sl.start) & (lenses["index"] < sl.stop)
            img[lenses["index"][here] - sl.start] += arcs[here]
        if noise:
            var = sky[sl, :, None, None].astype(np.float32) ** 2 + np.maximum(img, 0) / e_per
            img += np.sqrt(var) * np.random.default_rng(streams[i]).standard_normal(
                img.shape, dtype=np.float32)
        images[sl] = img
    # Catalogue photometry: total flux with photometric noise, SDSS asinh magnitudes.
    flux_b = comp.sum(1) + p["comp_flux"][:, 3]
    if lenses is not None:
        flux_b[lenses["index"]] += arcs.sum(axis=(2, 3))
    area = 4 * np.pi * ((re_px[:, None] ** 2) + (fwhm / 2.3548 / scale) ** 2)
    ferr = np.sqrt(sky ** 2 * area + np.maximum(flux_b, 0) / e_per[:, 0, 0])
    phot = np.random.default_rng(seed_seq.spawn(1)[0]).standard_normal((n, nall))[:, sel]
    fobs = flux_b + ferr * phot
    bsoft = np.array([_ASINH_B.get(b, 1e-10) for b in bands])
    x = fobs * 1e-9 / (2 * bsoft)
    mag = -2.5 / np.log(10) * (np.arcsinh(x) + np.log(bsoft))
    magerr = 2.5 / np.log(10) * ferr * 1e-9 / (2 * bsoft) / np.sqrt(1 + x ** 2)
    cat = {"id": np.arange(n), "morphology": np.array(MORPHOLOGY_CLASSES)[cls],
           "morphology_class": cls, "redshift": z, "ebv": ebv_v}
    cat.update({f"mag_{b}": mag[:, j] for j, b in enumerate(bands)})
    cat.update({f"magerr_{b}": magerr[:, j] for j, b in enumerate(bands)})
    cat.update(absmag_r=absmag, half_light_radius_arcsec=re_px * scale,
               half_light_radius_kpc=re_px * scale / u.rad.to(u.arcsec) * p["da_kpc"],
               axis_ratio=p["q_disk"], position_angle=np.rad2deg(p["theta"]) % 180,
               sersic_n=p["n_bulge"], bulge_to_total=p["frac"][:, 0], red_sequence=p["red"])
    cat.update({f"seeing_fwhm_{b}": fwhm[:, j] for j, b in enumerate(bands)})
    cat.update({f"sky_sigma_{b}": sky[:, j] for j, b in enumerate(bands)})
    if lenses is not None:
        cat["strong_lens"] = np.isin(np.arange(n), lenses["index"])
    if not spectra:
        return images, pd.DataFrame(cat)
    rest_r = _mean_fnu(_TEMPLATES, survey, "r")
    weights = np.einsum("nc,nct->nt", p["frac"], p["mix"])
    disk_weights = p["frac"][:, 1, None] * p["mix"][:, 1]
    allb = list(BAND_WAVELENGTHS[survey])
    spec = model_spectra(_LAM, _TEMPLATES, rest_r, weights, disk_weights, tau0, z, f_tot, ebv_v,
                         [BAND_WAVELENGTHS[survey][b] for b in allb],
                         [EXTINCTION_COEFFICIENTS[survey][b] for b in allb], _extra_stream(seed_seq, 1))
    return images, pd.DataFrame(cat), spec


def _extra_stream(seed_seq, i):
    """A random stream of the optional layers, independent of (and not advancing) the survey's own."""
    return np.random.default_rng(np.random.SeedSequence(seed_seq.entropy, spawn_key=(1 << 20, i)))
