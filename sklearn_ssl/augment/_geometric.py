"""Geometric augmentations, fused into one affine resampling when they follow each other.

Each :class:`_Geometric` member maps output pixel coordinates to input ones (``_affine``);
:func:`_warp` composes the maps of consecutive members and resamples the batch once
(``grid_sample``, bilinear or bicubic, reflection at the borders), only computing the
output (cropped) pixels. Members that are exact gathers on their own (flips, D4, integer
shifts, crops) have a cheaper ``forward`` used when they are not fused.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._sampling import _bands


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
