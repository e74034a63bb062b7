"""Random parameters of the augmentations: fixed, :class:`Uniform` or :class:`LogNormal`, per band.

A parameter is a number or per-band sequence (fixed), a :class:`Uniform` ``(low, high)`` or a
:class:`LogNormal` ``(shape, loc, scale, cap)`` (scipy's parametrisation, as fitted by Stein et
al.); every field may be per band. :func:`_sample` draws one value per image and band from the
generator on the batch's device.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


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
