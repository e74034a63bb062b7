"""Survey presets (``"sdss"``, ``"decals"``, ``"auto"``) and how an ``augmentations`` argument
becomes a :class:`~sklearn_ssl.augment.Compose`; the survey constants behind them."""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from torch import nn

from ._compose import Compose
from ._geometric import JitterCrop, RandomFlip, RandomRotation, RandomShift, SizeScale
from ._photometric import GalacticReddening, GaussianNoise, PSFBlur
from ._sampling import LogNormal, Uniform

# SDSS imaging constants behind SDSS_SKY_SIGMA, per band ugriz:
# - median sky brightness of moon-down fields, mag/arcsec^2 (SDSS DR17 imaging data-quality page,
#   "Seeing and Sky Brightness", https://www.sdss4.org/dr17/imaging/other_info/; r 20.84, the DR7
#   page's DR1 median is 20.86);
# - AB magnitude giving 1 electron per second (speclite's sdss2010 filter responses at airmass 1.3,
#   as tabulated with their sources in LSSTDESC surveycodex, surveycodex/data/SDSS.yaml);
# - drift-scan exposure 54.1 s per band (Xin et al. 2018, AJ 156, 222, sec. 2) and 0.396"/px.
_SDSS_SKY_BRIGHTNESS = (22.01, 21.84, 20.84, 20.16, 18.96)
_SDSS_ZEROPOINT_1E = (23.58, 25.73, 25.62, 25.28, 23.30)
_SDSS_EXPOSURE_S, _SDSS_PIXEL_ARCSEC = 54.1, 0.396


def _sky_limited_sigma(sky_mag_arcsec2, zeropoint_1e, exposure_s, pixel_arcsec) -> float:
    """Per-pixel noise (nanomaggies) of a sky-limited image: sqrt(sky electrons) / (electrons per nmgy)."""
    sky_nmgy = 10 ** (-0.4 * (sky_mag_arcsec2 - 22.5)) * pixel_arcsec ** 2  # sky per pixel, nmgy
    e_per_nmgy = exposure_s * 10 ** (0.4 * (zeropoint_1e - 22.5))  # m = 22.5 is 1 nmgy
    return math.sqrt(sky_nmgy * e_per_nmgy) / e_per_nmgy


# documented where it is exported: sklearn_ssl/augment/__init__.py
SDSS_SKY_SIGMA = tuple(round(_sky_limited_sigma(mu, zp, _SDSS_EXPOSURE_S, _SDSS_PIXEL_ARCSEC), 4)
                       for mu, zp in zip(_SDSS_SKY_BRIGHTNESS, _SDSS_ZEROPOINT_1E))
# documented where it is exported: sklearn_ssl/augment/__init__.py
SDSS_ELECTRONS_PER_NMGY = tuple(round(_SDSS_EXPOSURE_S * 10 ** (0.4 * (zp - 22.5)), 1) for zp in _SDSS_ZEROPOINT_1E)
# documented where it is exported: sklearn_ssl/augment/__init__.py
SDSS_SKY_BRIGHTNESS = _SDSS_SKY_BRIGHTNESS


def _crop(input_shape, size: int, shift: int = 7) -> JitterCrop:
    """Hayat/Stein jitter-crop scaled to small stamps: shift min(7, H//8), crop min(size, H - 2 shift)."""
    k = min(shift, min(input_shape[-2:]) // 8)
    return JitterCrop(min(size, min(input_shape[-2:]) - 2 * k), k)


def _need(input_shape, bands: int, name: str):
    if len(input_shape) != 3 or input_shape[0] != bands:
        raise ValueError(f"The {name!r} augmentation preset needs images with {bands} bands (n, {bands}, H, W); "
                         f"got samples of shape {tuple(input_shape)}.")


def _sdss(input_shape) -> Compose:
    _need(input_shape, 5, "sdss")
    # the view's noise ends between the survey's own level and sqrt(2) times it (the quadrature sum of
    # the image's noise and up to as much again), whatever the rotation and reddening did to it
    sky = torch.tensor(SDSS_SKY_SIGMA)
    return Compose([GalacticReddening("sdss", Uniform(0.0, 0.5)), RandomRotation(), _crop(input_shape, 64),
                    GaussianNoise(Uniform(tuple(sky.tolist()), tuple((sky * math.sqrt(2)).tolist())),
                                  known_sigma=SDSS_SKY_SIGMA)])


_DECALS_PSF = LogNormal((0.2109966, 0.3008485, 0.3471172), (1.0807153, 1.2394326, 1.1928363),
                        (1.3153171, 0.9164757, 0.8233702), cap=(5.0, 4.5, 4.25))
_DECALS_NOISE = LogNormal((0.2264926, 0.2431146, 0.1334844), (-0.0006735, -0.0023663, -0.0143416),
                          (0.0037602, 0.0067417, 0.0260779), cap=(0.013, 0.018, 0.061))


def _decals(input_shape) -> Compose:
    _need(input_shape, 3, "decals")
    return Compose([GalacticReddening("decals", LogNormal(0.67306, 0.001146, 0.03338, cap=1.0), difference=True),
                    RandomFlip(), RandomRotation(), SizeScale(0.9, 1.1), _crop(input_shape, 96),
                    PSFBlur(_DECALS_PSF, known_sigma=_DECALS_PSF), GaussianNoise(_DECALS_NOISE, known_sigma=_DECALS_NOISE)])


def _auto(input_shape) -> Compose:
    if len(input_shape) != 3:
        return Compose([GaussianNoise(Uniform(0.0, 0.2), relative=True)])
    shift = max(0, min(4, input_shape[-1] // 16))
    return Compose([RandomFlip(), RandomRotation(), RandomShift(shift), GaussianNoise(Uniform(0.0, 0.1), relative=True)])


# documented where it is exported: sklearn_ssl/augment/__init__.py
PRESETS = {"auto": _auto, "sdss": _sdss, "decals": _decals}

AugmentationSpec = Union[None, str, nn.Module, Sequence[nn.Module]]


def resolve_augmentations(spec: AugmentationSpec, input_shape: tuple[int, ...]) -> Compose:
    """Turn an ``augmentations`` argument into a :class:`Compose` for samples of ``input_shape``.

    Parameters
    ----------
    spec : None, str, nn.Module or sequence of nn.Module
        A preset name (see :data:`PRESETS`), one augmentation module, a list of them,
        or None for no augmentation (only useful for testing).
    input_shape : tuple of int
        Shape of one sample, ``(C, H, W)`` or ``(d,)``.
    """
    if spec is None:
        return Compose([])
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"Unknown augmentation preset {spec!r}; choose one of {sorted(PRESETS)}.")
        return PRESETS[spec](input_shape)
    if isinstance(spec, Compose):
        return spec
    if isinstance(spec, nn.Module):
        return Compose([spec])
    if isinstance(spec, (list, tuple)) and all(isinstance(a, nn.Module) for a in spec):
        return Compose(list(spec))
    raise TypeError(
        "augmentations must be a preset name, an nn.Module or a list of nn.Module; "
        f"got {type(spec).__name__}."
    )
