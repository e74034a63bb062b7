"""The input normaliser of every estimator that trains a torch module: per-band robust
statistics from a strided sample, read one band at a time (never the whole input)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from ._disk import is_disk_backed


class Standardize(nn.Module):
    """Per-channel ``(x - loc) / scale``, optionally followed by ``asinh``; statistics fixed at fit."""

    def __init__(self, loc: np.ndarray, scale: np.ndarray, asinh: bool = False):
        super().__init__()
        self.asinh = asinh
        self.register_buffer("loc", torch.as_tensor(loc, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = (x - self.loc.view(shape)) / self.scale.view(shape)
        return torch.asinh(x) if self.asinh else x



#: For data on disk, the normaliser's sample holds at most this many pixel values per band
#: (16 MiB in float64): fit's memory beyond the batches stays fixed whatever the image size.
SAMPLE_VALUES_ON_DISK = 1 << 21


def sample_step(X) -> int:
    """Row stride of the normaliser's strided sample of ``X``: 2,048 to 4,095 images (all
    of them below 4,096); for disk-backed data (memmap, HDF5, dask), also at most
    :data:`SAMPLE_VALUES_ON_DISK` pixel values per band, so larger images are strided further."""
    n = int(X.shape[0])
    step = max(1, n // 2048)
    if is_disk_backed(X):
        per_image = max(1, int(np.prod(X.shape[2:])))
        step = max(step, -(-n // max(1, SAMPLE_VALUES_ON_DISK // per_image)))
    return step


def fit_normalizer(X, normalize: str | None, *, sample: bool = True) -> nn.Module:
    """The input normaliser of every estimator that trains a torch module.

    ``normalize=None``: identity; ``"standard"``: per-band ``(x - median) / scale`` from
    :func:`band_statistics` (float64, robust to a few extreme pixels); ``"asinh"``: the
    same, then ``asinh``. With ``sample=True`` the statistics come from a strided sample
    (:func:`sample_step`) read one band at a time: memory maps and HDF5 datasets are never
    loaded whole, and no copy of the sample's other bands is held.
    """
    if normalize is None:
        return nn.Identity()
    loc, scale = band_statistics(X, step=sample_step(X) if sample else 1)
    return Standardize(loc, scale, asinh=normalize == "asinh")


def band_statistics(X, trim: float = 1e-3, dominance: float = 10.0,
                    step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-band median and scale of ``(n, C, ...)`` images (or per-feature, for vectors), in float64.

    The scale is the standard deviation, unless a few extreme pixels dominate it: when
    leaving out the ``trim`` fraction of most extreme values at each end (at least one)
    shrinks it by more than ``dominance``, the trimmed standard deviation is used and a
    ``UserWarning`` names the band. A sentinel such as 1e30 for masked pixels would
    otherwise set the scale (or overflow it to infinity) and wipe out the band.
    Constant bands get scale 1.

    Only every ``step``-th image is used, read one band at a time (``X[::step, band]``;
    ``X`` may be an HDF5 dataset). Memory: about 2.3 times one band's sample in float64
    (the values, then one partitioned or centred temporary, plus masks), never a copy
    of all bands.
    """
    locs, scales, dominated = [], [], []
    for band in range(X.shape[1]):
        loc, scale, trimmed, largest = _one_band(X, band, step, trim)
        if trimmed is not None and not scale <= dominance * trimmed:  # also true for an infinite scale
            dominated.append((band, scale, trimmed, largest))
            scale = trimmed
        locs.append(loc)
        scales.append(scale if np.isfinite(scale) and scale > 0 else 1.0)
    if dominated:
        detail = "; ".join(f"band {b}: std {s:.3g} vs {t:.3g} without them (largest |value| {m:.3g})"
                           for b, s, t, m in dominated)
        warnings.warn(
            f"The spread of {len(dominated)} band(s) is dominated by a few extreme pixels ({detail}); their "
            f"scale is taken without the {trim:.1%} most extreme values at each end. Check for sentinel "
            "values (e.g. 1e30 or -9999 for masked pixels): set them to NaN and impute them "
            "(sklearn_ssl.PixelImputer).",
            UserWarning, stacklevel=3,
        )
    return np.asarray(locs), np.asarray(scales)


def _one_band(X, band: int, step: int, trim: float) -> tuple:
    """Median, standard deviation, trimmed standard deviation (None when too few values) and
    largest ``|value|`` of ``values = X[::step, band]`` as float32, in float64 (``X`` is never written).

    Equal to ``np.median(values)``, ``values.std()`` and the std of the values between the
    ``k``-th smallest and largest, computed with one partitioned copy (freed before the
    trimmed values are gathered) instead of one for the median and one for the bounds, and
    with ``values`` freed before the trimmed std's temporary.
    """
    # the float32 values the model computes on (float64 input is converted a batch at a time
    # for training), then float64 for the statistics: float64 and float32 input normalise alike
    values = np.asarray(np.asarray(X[::step, band], dtype=np.float32), dtype=np.float64).ravel()
    scale, n = values.std(), values.size
    largest = max(abs(values.min()), abs(values.max()))
    k = max(1, int(trim * n))
    if n <= 2 * k + 1:
        return np.median(values), scale, None, largest
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]  # as np.median: the middle one or two
    ordered = np.partition(values, sorted({k, n - 1 - k, *middle}))
    loc = np.mean(ordered[middle[0]:middle[-1] + 1])
    lo, hi = ordered[k], ordered[n - 1 - k]
    del ordered
    keep = values >= lo
    keep &= values <= hi
    trimmed = values[keep]
    del keep, values
    return loc, scale, trimmed.std(), largest
