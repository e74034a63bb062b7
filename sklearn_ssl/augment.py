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
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Uniform", "LogNormal", "Compose", "RandomRotation", "RandomFlip", "RandomDihedral", "SizeScale",
    "RandomShift", "JitterCrop", "CenterCrop", "GaussianNoise", "PSFBlur", "GalacticReddening",
    "redden", "deredden", "EXTINCTION", "SDSS_SKY_SIGMA", "PRESETS", "resolve_augmentations",
]

#: Extinction coefficients R_b = A_b / E(B-V): SDSS ugriz from Schlafly & Finkbeiner (2011,
#: R_V=3.1, as used by Hayat et al.), DECaLS grz as used by Stein et al. (DR9 values).
EXTINCTION = {"sdss": (4.239, 3.303, 2.285, 1.698, 1.263), "decals": (3.214, 2.165, 1.211)}

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


#: SDSS sky noise per pixel (nanomaggies, ugriz), ~(0.041, 0.017, 0.028, 0.044, 0.190): the Poisson
#: noise of the median moon-down sky, ``sqrt(S * E) / E`` with ``S = 10**(-0.4 (mu - 22.5)) * 0.396**2``
#: the sky per pixel in nanomaggies (mu its surface brightness) and
#: ``E = 54.1 s * 10**(0.4 (ZP_1e - 22.5))`` electrons per nanomaggy (ZP_1e the AB magnitude giving
#: 1 e-/s); sources of mu and ZP_1e above. Read noise and dark current are left out: small next to
#: the sky's 300-950 electrons per pixel in g, r, i, z (460 in z), not in u (36), where the value is
#: a lower bound.
SDSS_SKY_SIGMA = tuple(round(_sky_limited_sigma(mu, zp, _SDSS_EXPOSURE_S, _SDSS_PIXEL_ARCSEC), 4)
                       for mu, zp in zip(_SDSS_SKY_BRIGHTNESS, _SDSS_ZEROPOINT_1E))


class Uniform(NamedTuple):
    """Uniform distribution on ``[low, high]``; scalars or per-band sequences."""
    low: object
    high: object


class LogNormal(NamedTuple):
    """``exp(log(scale) + shape * N(0, 1)) + loc``, clipped to ``[0, cap]`` (scipy's lognorm)."""
    shape: object
    loc: object
    scale: object
    cap: object = None


def _per_band(value, c: int, x: torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32, device=x.device).reshape(-1)
    if t.numel() not in (1, c):
        raise ValueError(f"{name} has {t.numel()} per-band values but the batch has {c} bands.")
    return t


def _sample(spec, n: int, c: int, x: torch.Tensor, generator, name: str) -> torch.Tensor:
    """Draw an ``(n, c)`` float32 tensor of per-image, per-band values from ``spec``."""
    if isinstance(spec, Uniform):
        lo, hi = _per_band(spec.low, c, x, name), _per_band(spec.high, c, x, name)
        return lo + (hi - lo) * torch.rand(n, c, generator=generator, device=x.device)
    if isinstance(spec, LogNormal):
        s, loc, scale = (_per_band(v, c, x, name) for v in spec[:3])
        out = (torch.exp(torch.log(scale) + s * torch.randn(n, c, generator=generator, device=x.device)) + loc).clamp(min=0)
        return out if spec.cap is None else torch.minimum(out, _per_band(spec.cap, c, x, name))
    return _per_band(spec, c, x, name).expand(n, c)


def _upper(spec) -> float:
    """An upper bound of ``spec`` (inf when it has none)."""
    if isinstance(spec, Uniform):
        return float(torch.as_tensor(spec.high, dtype=torch.float64).max())
    if isinstance(spec, LogNormal):
        return math.inf if spec.cap is None else float(torch.as_tensor(spec.cap, dtype=torch.float64).max())
    return float(torch.as_tensor(spec, dtype=torch.float64).max())


def _bands(x: torch.Tensor, name: str) -> tuple[int, int]:
    if x.ndim != 4:
        raise ValueError(f"{name} needs images of shape (n, C, H, W); got a batch of shape {tuple(x.shape)}.")
    return x.shape[0], x.shape[1]


# -- composition and the fused affine warp ---------------------------------------------------------
class Compose(nn.Module):
    """Apply augmentations in order, passing the same generator to each.

    Consecutive geometric augmentations are fused into one resampling (``fuse=True``).
    Keyword side information (e.g. ``ebv=`` catalogue reddening per image) is passed to
    the members that accept it.

    Compose also follows what the chain does to the noise already in the images: the
    factor by which each image's and band's white-noise variance has been multiplied so
    far (bilinear or bicubic resampling lowers it, by 4/9 on average for a rotation;
    a PSF blur by the sum of its squared kernel weights; reddening by the square of
    its flux factor). Members that declare ``tracks_noise = True`` (:class:`PSFBlur`,
    :class:`GalacticReddening`, :class:`GaussianNoise`) take and return it, so that a
    :class:`GaussianNoise` with ``known_sigma`` placed after the resampling steps
    brings every view's noise to its target level. Other members are assumed to leave
    the noise variance as it is.
    """

    def __init__(self, augmentations: Sequence[nn.Module], fuse: bool = True):
        super().__init__()
        self.augmentations = nn.ModuleList(augmentations)
        self.fuse = fuse

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, **side) -> torch.Tensor:
        group: list = []
        gain = torch.ones(x.shape[:2], device=x.device) if x.ndim >= 2 else None  # noise variance factor
        for aug in list(self.augmentations) + [None]:
            if self.fuse and isinstance(aug, _Geometric) and x.ndim == 4:
                group.append(aug)
                continue
            if group:
                if len(group) == 1 and type(group[0]).forward is not _Geometric.forward:
                    x = group[0](x, generator=generator)  # an exact gather: the noise is unchanged
                else:
                    x, factor = _warp(x, group, generator, noise_gain=True)
                    gain = gain * factor[:, None]
                group = []
            if aug is not None:
                kw = {k: v for k, v in side.items() if k in getattr(aug, "side_information", ())}
                if getattr(aug, "tracks_noise", False) and gain is not None:
                    x, gain = aug(x, generator=generator, noise_gain=gain, **kw)
                else:
                    x = aug(x, generator=generator, **kw)
        return x

    def eval_view(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic view used at transform time (identity unless a member crops)."""
        for aug in self.augmentations:
            if hasattr(aug, "eval_view"):
                x = aug.eval_view(x)
        return x


class _Geometric(nn.Module):
    """Base of affine augmentations: ``_affine`` maps output pixel coordinates (centred) to input ones."""

    def _affine(self, n, hw, x, generator):  # -> (M (n,2,2), t (n,2), out_hw)
        raise NotImplementedError

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _bands(x, type(self).__name__)
        return _warp(x, [self], generator)


def _interpolation_gain(frac: torch.Tensor, mode: str) -> torch.Tensor:
    """Sum of squared interpolation weights at fractional offsets ``frac`` (one axis): the factor
    by which resampling multiplies the variance of white noise."""
    if mode == "bilinear":
        return (1 - frac) ** 2 + frac ** 2
    a = -0.75  # torch's bicubic (Keys) kernel
    near = lambda t: ((a + 2) * t - (a + 3)) * t * t + 1  # noqa: E731  |t| <= 1
    far = lambda t: ((a * t - 5 * a) * t + 8 * a) * t - 4 * a  # noqa: E731  1 < |t| < 2
    return far(1 + frac) ** 2 + near(frac) ** 2 + near(1 - frac) ** 2 + far(2 - frac) ** 2


def _warp(x: torch.Tensor, mods: Sequence[_Geometric], generator, noise_gain: bool = False):
    """Compose the members' affine maps and resample ``x`` once (reflection at the borders).

    Bicubic when any member asks for it, else bilinear. With ``noise_gain=True`` also
    returns, per image, the mean over output pixels of the factor by which the
    interpolation multiplies white-noise variance (1 for integer shifts, flips and crops).
    """
    n = x.shape[0]
    hw = tuple(x.shape[-2:])
    A = torch.eye(2, device=x.device).expand(n, 2, 2)
    b = torch.zeros(n, 2, device=x.device)
    for mod in mods:
        M, t, hw = mod._affine(n, hw, x, generator)
        b = b + (A @ t.unsqueeze(-1)).squeeze(-1)
        A = A @ M
    (h_in, w_in), (h, w) = x.shape[-2:], hw
    s_in = torch.tensor([2.0 / w_in, 2.0 / h_in], device=x.device)  # pixel (x, y) -> normalised
    s_out = torch.tensor([w / 2.0, h / 2.0], device=x.device)
    theta = torch.cat([s_in[:, None] * A * s_out[None, :], (s_in * b)[..., None]], dim=-1)
    grid = F.affine_grid(theta.to(x.dtype), [n, x.shape[1], h, w], align_corners=False)
    mode = "bicubic" if any(getattr(m, "interpolation", "") == "bicubic" for m in mods) else "bilinear"
    out = F.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)
    if not noise_gain:
        return out
    with torch.no_grad():
        pix = (grid.float() + 1) * torch.tensor([w_in, h_in], device=x.device) / 2 - 0.5  # input pixel coords
        frac = pix - pix.floor()
        gain = _interpolation_gain(frac[..., 0], mode) * _interpolation_gain(frac[..., 1], mode)
    return out, gain.mean(dim=(1, 2))


def _integer_shift(n, k, x, generator) -> torch.Tensor:
    return (torch.rand(n, 2, generator=generator, device=x.device) * (2 * k + 1)).floor().clamp(max=2 * k) - k


class RandomRotation(_Geometric):
    """Rotate each image by a continuous angle uniform in ``[0, degrees)`` about its centre.

    The corners that a rotation brings in are filled by reflection of the stamp. To avoid
    them altogether, follow with a :class:`JitterCrop` whose crop fits in the rotated
    stamp (Hayat et al.: rotate a 107 px stamp, crop 64 px). ``interpolation`` is
    ``"bilinear"`` or ``"bicubic"``; the total flux of a source well inside the stamp is
    kept to 0.7% (bilinear) or 0.25% (bicubic) for a source of 1.2 px sigma, better for
    wider ones (see the tests).
    """

    def __init__(self, degrees: float = 360.0, interpolation: str = "bilinear"):
        super().__init__()
        self.degrees, self.interpolation = degrees, interpolation

    def _affine(self, n, hw, x, generator):
        a = torch.rand(n, generator=generator, device=x.device) * math.radians(self.degrees)
        c, s = torch.cos(a), torch.sin(a)
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2), torch.zeros(n, 2, device=x.device), hw


class RandomFlip(_Geometric):
    """Flip each image left-right and/or up-down, each with probability 1/2."""

    def __init__(self, horizontal: bool = True, vertical: bool = True):
        super().__init__()
        self.horizontal, self.vertical = horizontal, vertical

    def _affine(self, n, hw, x, generator):
        enabled = torch.tensor([self.horizontal, self.vertical], device=x.device)
        signs = 1 - 2 * ((torch.rand(n, 2, generator=generator, device=x.device) < 0.5) & enabled).float()
        return torch.diag_embed(signs), torch.zeros(n, 2, device=x.device), hw

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        flip = torch.rand(x.shape[0], 2, generator=generator, device=x.device) < 0.5
        view = (-1, 1, 1, 1)
        x = torch.where(flip[:, 0].view(view), x.flip(-1), x) if self.horizontal else x
        return torch.where(flip[:, 1].view(view), x.flip(-2), x) if self.vertical else x


class RandomDihedral(_Geometric):
    """Random element of the dihedral group D4 per image: 90-degree rotations and flips.

    Exact (no interpolation) and cheap. Non-square images get flips only.
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        draws = (torch.rand(3 * n, generator=generator, device=x.device) < 0.5).view(3, n, 1, 1, 1)
        if x.shape[-1] == x.shape[-2]:
            x = torch.where(draws[0], x.transpose(-1, -2), x)
        x = torch.where(draws[1], x.flip(-1), x)
        return torch.where(draws[2], x.flip(-2), x)

    def _affine(self, n, hw, x, generator):
        d = (torch.rand(3, n, generator=generator, device=x.device) < 0.5).float()
        d[0] *= float(hw[0] == hw[1])
        eye, swap = torch.eye(2, device=x.device), torch.tensor([[0.0, 1.0], [1.0, 0.0]], device=x.device)
        M = torch.where(d[0, :, None, None] > 0, swap, eye)
        return M @ torch.diag_embed(1 - 2 * d[1:].T), torch.zeros(n, 2, device=x.device), hw


class SizeScale(_Geometric):
    """Magnify each image by a factor uniform in ``[min_scale, max_scale]`` (Stein et al.: 0.9-1.1).

    Surface brightness is kept (as in Stein et al.'s rescaling), so the total flux of a
    resolved source scales with the area, ``scale**2``.
    """

    def __init__(self, min_scale: float = 0.9, max_scale: float = 1.1, interpolation: str = "bilinear"):
        super().__init__()
        self.min_scale, self.max_scale, self.interpolation = min_scale, max_scale, interpolation

    def _affine(self, n, hw, x, generator):
        s = self.min_scale + (self.max_scale - self.min_scale) * torch.rand(n, generator=generator, device=x.device)
        return torch.eye(2, device=x.device) / s[:, None, None], torch.zeros(n, 2, device=x.device), hw


class RandomShift(_Geometric):
    """Shift each image by an integer offset in ``[-max_shift, max_shift]`` per axis (same size).

    Edges are filled by reflection, so no artificial zero border is introduced.
    """

    def __init__(self, max_shift: int = 2):
        super().__init__()
        self.max_shift = max_shift

    def _affine(self, n, hw, x, generator):
        return torch.eye(2, device=x.device).expand(n, 2, 2), _integer_shift(n, self.max_shift, x, generator), hw

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        k = self.max_shift
        if k == 0:
            return x
        n, c, h, w = x.shape
        padded = F.pad(x, (k, k, k, k), mode="reflect" if k < min(h, w) else "replicate")
        off = (_integer_shift(n, k, x, generator) + k).long().T
        return _gather_crop(padded, off[1], off[0], h, w)


def _gather_crop(x, rows0, cols0, h, w):
    """Crop ``x[i, :, rows0[i]:rows0[i]+h, cols0[i]:cols0[i]+w]`` for every image in one gather."""
    n, c = x.shape[:2]
    rows = (rows0[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (cols0[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    return x[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


class JitterCrop(_Geometric):
    """Shift the centre by an integer in ``[-max_shift, max_shift]`` per axis, then crop ``size`` px.

    ``eval_view`` is the centre crop (the view ``transform`` embeds). The crop starts at
    ``(H - size) // 2`` and needs ``size + 2 * max_shift <= H`` (and W).
    """

    def __init__(self, size: int = 64, max_shift: int = 7):
        super().__init__()
        self.size, self.max_shift = size, max_shift

    def _check(self, hw):
        if self.size + 2 * self.max_shift > min(hw):
            raise ValueError(f"JitterCrop(size={self.size}, max_shift={self.max_shift}) needs images of at least "
                             f"{self.size + 2 * self.max_shift} px; got {hw[0]}x{hw[1]}.")
        return [(d - self.size) // 2 for d in hw]

    def _affine(self, n, hw, x, generator):
        r0, c0 = self._check(hw)
        t = torch.tensor([c0 - (hw[1] - 1) / 2 + (self.size - 1) / 2, r0 - (hw[0] - 1) / 2 + (self.size - 1) / 2],
                         device=x.device)
        return torch.eye(2, device=x.device).expand(n, 2, 2), t + _integer_shift(n, self.max_shift, x, generator), \
            (self.size, self.size)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r0, c0 = self._check(tuple(x.shape[-2:]))
        off = _integer_shift(x.shape[0], self.max_shift, x, generator).long()
        return _gather_crop(x, r0 + off[:, 1], c0 + off[:, 0], self.size, self.size)

    def eval_view(self, x: torch.Tensor) -> torch.Tensor:
        r0, c0 = self._check(tuple(x.shape[-2:]))
        return x[..., r0:r0 + self.size, c0:c0 + self.size]


class CenterCrop(nn.Module):
    """Crop the central ``size`` x ``size`` pixels (deterministic; forward equals ``eval_view``)."""

    def __init__(self, size: int = 64):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.eval_view(x)

    def eval_view(self, x: torch.Tensor) -> torch.Tensor:
        return JitterCrop(self.size, 0).eval_view(x)


# -- photometric augmentations ---------------------------------------------------------------------
def _quadrature(target: torch.Tensor, known) -> torch.Tensor:
    return target if known is None else (target ** 2 - known ** 2).clamp(min=0).sqrt()


class GaussianNoise(nn.Module):
    """Add Gaussian noise, independent per pixel, with sigma drawn per image and band.

    Parameters
    ----------
    sigma : float, sequence, Uniform or LogNormal, default=Uniform(0, 0.1)
        Noise level (a bare number is a fixed sigma). With ``known_sigma`` it is the
        *final* noise level, and only ``sqrt(max(sigma**2 - known**2, 0))`` is added.
    relative : bool, default=False
        Sigma in units of each band's standard deviation over the batch (scale-free,
        for data of unknown units) instead of the data's own flux units.
    known_sigma : None, float, sequence, Uniform or LogNormal, default=None
        Noise already in the images, per band (a distribution when it is only known
        statistically, as in Stein et al.). Inside a :class:`Compose`, what earlier
        members did to that noise (resampling, blur, reddening) is taken into account,
        so the view's noise reaches ``sigma``: put the noise after those steps.
    """

    tracks_noise = True

    def __init__(self, sigma=Uniform(0.0, 0.1), relative: bool = False, known_sigma=None):
        super().__init__()
        self.sigma, self.relative, self.known_sigma = sigma, relative, known_sigma

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, noise_gain=None):
        """Add the noise; with ``noise_gain`` (``(n, C)``, from :class:`Compose`) also return the new gain."""
        n, c = x.shape[:2]
        target = _sample(self.sigma, n, c, x, generator, "GaussianNoise sigma")
        known = None if self.known_sigma is None else _sample(self.known_sigma, n, c, x, generator, "known_sigma")
        present = None if known is None else known * (1.0 if noise_gain is None else noise_gain.sqrt())
        sigma = _quadrature(target, present)
        if self.relative:
            sigma = sigma * x.detach().float().std(dim=[0] + list(range(2, x.ndim)))
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        out = x + sigma.view((n, c) + (1,) * (x.ndim - 2)).to(x.dtype) * noise
        if noise_gain is None:
            return out
        if known is None:  # the images' own noise is unknown: nothing to follow
            return out, noise_gain
        return out, (present ** 2 + sigma ** 2) / known.clamp(min=1e-30) ** 2


def _gauss_fft(x: torch.Tensor, sigma: torch.Tensor, pad: int) -> torch.Tensor:
    """Convolve every (image, band) with its own Gaussian (sigma ``(n, C)``, px) by FFT, reflect-padded."""
    h, w = x.shape[-2:]
    xp = F.pad(x, (pad,) * 4, mode="reflect") if pad else x
    hp, wp = xp.shape[-2:]
    # transfer function of the *sampled* Gaussian: the continuous one plus its first aliases
    s2 = -2 * math.pi ** 2 * sigma.to(xp.dtype if xp.dtype == torch.float64 else torch.float32)[..., None] ** 2

    def transfer(f):
        t = sum(torch.exp(s2 * (f + k) ** 2) for k in (-1, 0, 1))
        return t / t[..., :1]

    xp = xp if xp.dtype == torch.float64 else xp.float()
    fy = transfer(torch.fft.fftfreq(hp, device=x.device, dtype=s2.dtype))[..., :, None]
    fx = transfer(torch.fft.rfftfreq(wp, device=x.device, dtype=s2.dtype))[..., None, :]
    spec = torch.fft.rfft2(xp) * (fy * fx)
    return torch.fft.irfft2(spec, s=(hp, wp))[..., pad:pad + h, pad:pad + w].to(x.dtype)


def _gauss_kernel(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussians, one row per entry of ``sigma``, on ``[-radius, radius]``."""
    u = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    k = torch.exp(-u ** 2 / (2 * sigma.reshape(-1, 1).float().clamp(min=1e-6) ** 2))
    return k / k.sum(1, keepdim=True)


def _gauss_conv(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Same as :func:`_gauss_fft` with a separable, truncated, normalised kernel (grouped conv)."""
    n, c, h, w = x.shape
    k = _gauss_kernel(sigma, radius).to(x.dtype)
    xp = F.pad(x, (radius,) * 4, mode="reflect").reshape(1, n * c, h + 2 * radius, w + 2 * radius)
    xp = F.conv2d(xp, k[:, None, None, :], groups=n * c)
    return F.conv2d(xp, k[:, None, :, None], groups=n * c).reshape(n, c, h, w)


class PSFBlur(nn.Module):
    """Convolve each image and band with a Gaussian PSF of its own width (in pixels).

    Parameters
    ----------
    sigma : float, sequence, Uniform or LogNormal
        Target Gaussian PSF sigma in pixels (FWHM / 2.3548 / pixel scale).
    known_sigma : None, float, sequence, Uniform or LogNormal, default=None
        PSF already in the images; only the quadrature difference
        ``sqrt(max(sigma**2 - known**2, 0))`` is applied (Gaussians add in quadrature).
    method : {"conv", "fft"}, default="conv"
        Separable grouped convolution (one kernel per image and band) truncated at
        ``4 * max(sigma)``, or a batched FFT with the sampled Gaussian's transfer
        function. Both reflect the borders and agree to 1e-5; on a 2-core CPU the
        convolution was 1.5-3x faster (``benchmarks/augment.py``).
    """

    tracks_noise = True

    def __init__(self, sigma=Uniform(0.0, 1.0), known_sigma=None, method: str = "conv"):
        super().__init__()
        self.sigma, self.known_sigma, self.method = sigma, known_sigma, method

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, noise_gain=None):
        """Blur; with ``noise_gain`` (from :class:`Compose`) also return it times the blur's
        white-noise variance factor (the squared 2-D kernel weights' sum)."""
        n, c = _bands(x, "PSFBlur")
        sigma = _sample(self.sigma, n, c, x, generator, "PSFBlur sigma")
        known = None if self.known_sigma is None else _sample(self.known_sigma, n, c, x, generator, "known_sigma")
        sigma = _quadrature(sigma, known)
        bound = _upper(self.sigma)
        pad = min(min(x.shape[-2:]) - 1, math.ceil(4 * bound) if math.isfinite(bound) else min(x.shape[-2:]) // 2)
        out = _gauss_conv(x, sigma, max(pad, 1)) if self.method == "conv" else _gauss_fft(x, sigma, pad)
        if noise_gain is None:
            return out
        k2 = (_gauss_kernel(sigma, max(pad, 1)) ** 2).sum(1).view(n, c)
        return out, noise_gain * k2 ** 2


def redden(x: torch.Tensor, ebv, coefficients="sdss") -> torch.Tensor:
    """Apply Galactic extinction: band b times ``10**(-0.4 * R_b * ebv)``, ``ebv`` per image or scalar.

    ``coefficients`` is a key of :data:`EXTINCTION` or a per-band sequence of R_b.
    """
    n, c = _bands(x, "redden")
    R = _per_band(EXTINCTION.get(coefficients, coefficients) if isinstance(coefficients, str) else coefficients,
                  c, x, "extinction coefficients")
    ebv = torch.as_tensor(ebv, dtype=torch.float32, device=x.device).reshape(-1, 1)
    return x * torch.pow(10.0, -0.4 * R * ebv).to(x.dtype)[..., None, None]


def deredden(x: torch.Tensor, ebv, coefficients="sdss") -> torch.Tensor:
    """Undo Galactic extinction of catalogue ``ebv`` (per image): the inverse of :func:`redden`."""
    return redden(x, -torch.as_tensor(ebv, dtype=torch.float32), coefficients)


class GalacticReddening(nn.Module):
    """Redden each image by a random Galactic E(B-V): band b times ``10**(-0.4 * R_b * E)``.

    Parameters
    ----------
    coefficients : {"sdss", "decals"} or sequence of float, default="sdss"
        Extinction coefficients R_b (see :data:`EXTINCTION`), one per band.
    new_ebv : float, Uniform or LogNormal, default=Uniform(0, 0.5)
        E(B-V) to apply (Hayat et al.: uniform on [0, 0.5]; Stein et al.:
        ``LogNormal(0.67306, 0.001146, 0.03338, cap=1.0)``).
    difference : bool, default=False
        When no catalogue E(B-V) is given, treat the images' unknown reddening as a draw
        from ``new_ebv`` and apply the difference of two draws (Stein et al.).

    ``forward(x, generator=None, ebv=None)``: with ``ebv`` (catalogue E(B-V), one per
    image) the images are first de-reddened, then re-reddened with the new value.
    """

    side_information = ("ebv",)
    tracks_noise = True

    def __init__(self, coefficients="sdss", new_ebv=Uniform(0.0, 0.5), difference: bool = False):
        super().__init__()
        self.coefficients, self.new_ebv, self.difference = coefficients, new_ebv, difference

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, ebv=None, noise_gain=None):
        n, c = _bands(x, "GalacticReddening")
        e = _sample(self.new_ebv, n, 1, x, generator, "new_ebv")[:, 0]
        if ebv is not None:
            e = e - torch.as_tensor(ebv, dtype=torch.float32, device=x.device).reshape(-1)
        elif self.difference:
            e = e - _sample(self.new_ebv, n, 1, x, generator, "new_ebv")[:, 0]
        out = redden(x, e, self.coefficients)
        if noise_gain is None:
            return out
        return out, noise_gain * redden(torch.ones(n, c, 1, 1, device=x.device), e, self.coefficients)[..., 0, 0] ** 2


# -- presets ---------------------------------------------------------------------------------------
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


#: Preset name -> factory of the sample shape ``(C, H, W)``.
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
