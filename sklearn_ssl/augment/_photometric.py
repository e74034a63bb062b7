"""Photometric augmentations: Gaussian noise, PSF blur and Galactic reddening, per image and band.

Each draws its parameters per image and band (:mod:`._sampling`) and, with ``noise_gain``
(given by :class:`~sklearn_ssl.augment.Compose`), also returns what it did to the
variance of the noise already in the images (``tracks_noise = True``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._sampling import Uniform, _bands, _per_band, _sample, _upper

# documented where it is exported: sklearn_ssl/augment/__init__.py
EXTINCTION = {"sdss": (4.239, 3.303, 2.285, 1.698, 1.263), "decals": (3.214, 2.165, 1.211)}


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
        for data of unknown units) instead of the data's own flux units. ``known_sigma``
        stays in flux units: the target is converted to flux before the known noise is
        subtracted in quadrature.
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
        if self.relative:  # target in units of each band's spread; the known noise is in flux units
            target = target * x.detach().float().std(dim=[0] + list(range(2, x.ndim)))
        sigma = _quadrature(target, present)
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


# R_b = A_b / E(B-V) with which SDSS DR12's catalogue ``extinction_ugriz`` (SFD98) was computed, as
# Hayat et al.'s utils/sdss_dr12_galactic_reddening.py (R_dr12) holds them.
CATALOGUE_EXTINCTION = {"sdss_dr12": (5.155, 3.793, 2.751, 2.086, 1.479)}


def ebv_from_extinction(extinction, coefficients="sdss_dr12") -> np.ndarray:
    """E(B-V) per object from its per-band Galactic extinction: ``mean_b(A_b / R_b)``.

    Hayat et al.'s SDSS files hold, as their ``e_bv`` input, SDSS DR12's per-band extinction
    ``extinction_ugriz`` in magnitudes; their ``utils/sdss_dr12_galactic_reddening.py`` turns
    it into E(B-V) as ``mean(A / R_dr12)`` with the coefficients DR12 used (SFD98:
    u 5.155, g 3.793, r 2.751, i 2.086, z 1.479), then reddens with Schlafly & Finkbeiner's
    (:data:`EXTINCTION`). Dividing DR12's A_b by the latter instead would overestimate
    E(B-V) by about 19 %.

    Parameters
    ----------
    extinction : array-like of shape (n_objects, n_bands)
        A_b in magnitudes, bands in the order of ``coefficients``.
    coefficients : {"sdss_dr12", "sdss", "decals"} or sequence of float, default="sdss_dr12"
        R_b = A_b / E(B-V) with which ``extinction`` was computed: SDSS DR12's catalogue
        coefficients, or those of :data:`EXTINCTION`, or one value per band.

    Returns
    -------
    ebv : ndarray of shape (n_objects,)
    """
    table = {**EXTINCTION, **CATALOGUE_EXTINCTION}
    if isinstance(coefficients, str) and coefficients not in table:
        raise ValueError(f"Unknown extinction coefficients {coefficients!r}; use one of {sorted(table)} or one R_b "
                         "per band.")
    r = np.asarray(table[coefficients] if isinstance(coefficients, str) else coefficients, dtype=np.float64)
    a = np.asarray(extinction, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != len(r):
        raise ValueError(f"Per-band extinction must have shape (n_objects, {len(r)}) for {len(r)} extinction "
                         f"coefficients; got shape {a.shape}. Give A_b in the coefficients' band order.")
    if not np.isfinite(a).all():
        raise ValueError("Per-band extinction contains NaN or infinite values; give every object finite A_b.")
    return (a / r).mean(axis=1)


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
