"""Augmentations on batched tensors, run on the training device.

Every augmentation is a :class:`torch.nn.Module` whose ``forward(x, generator=None)``
takes a batch ``(n, C, H, W)`` (or ``(n, d)`` for vectors), draws its random numbers
per image from ``generator`` (a :class:`torch.Generator` on ``x``'s device, or the
global RNG when None) and returns a batch of the same dtype and device. Augmentations
that change the image size also define ``eval_view(x)``, the deterministic view that
``transform`` uses (e.g. a centre crop), so embeddings see the scale seen in training.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

__all__ = ["Compose", "RandomDihedral", "RandomShift", "GaussianNoise", "resolve_augmentations", "PRESETS"]


def _uniform(n: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=x.device)


class Compose(nn.Module):
    """Apply augmentations in order, passing the same generator to each.

    Parameters
    ----------
    augmentations : sequence of nn.Module
        Augmentations with the ``forward(x, generator=None)`` signature.
    """

    def __init__(self, augmentations: Sequence[nn.Module]):
        super().__init__()
        self.augmentations = nn.ModuleList(augmentations)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for aug in self.augmentations:
            x = aug(x, generator=generator)
        return x

    def eval_view(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic view used at transform time (identity unless a member crops)."""
        for aug in self.augmentations:
            if hasattr(aug, "eval_view"):
                x = aug.eval_view(x)
        return x


class RandomDihedral(nn.Module):
    """Random element of the dihedral group D4 per image: 90-degree rotations and flips.

    Exact (no interpolation) and cheap: three masked whole-batch operations.
    Square images only for the transpose part; non-square images get flips only.
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        draws = _uniform(3 * n, x, generator).view(3, n, 1, 1, 1) < 0.5
        if x.shape[-1] == x.shape[-2]:
            x = torch.where(draws[0], x.transpose(-1, -2), x)
        x = torch.where(draws[1], x.flip(-1), x)
        return torch.where(draws[2], x.flip(-2), x)


class RandomShift(nn.Module):
    """Shift each image by an integer offset in ``[-max_shift, max_shift]`` on each axis.

    Edges are filled by reflection, so no artificial zero border is introduced.

    Parameters
    ----------
    max_shift : int
        Largest shift in pixels.
    """

    def __init__(self, max_shift: int = 2):
        super().__init__()
        self.max_shift = max_shift

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        k = self.max_shift
        if k == 0:
            return x
        n, c, h, w = x.shape
        padded = nn.functional.pad(x, (k, k, k, k), mode="reflect" if k < min(h, w) else "replicate")
        offsets = (_uniform(2 * n, x, generator) * (2 * k + 1)).long().clamp_(max=2 * k).view(2, n)
        rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[batch, chans, rows, cols]


class GaussianNoise(nn.Module):
    """Additive Gaussian noise, sigma drawn per image and band uniformly in ``[0, max_sigma]``.

    Parameters
    ----------
    max_sigma : float
        Largest noise level, in units of each band's standard deviation over the batch
        when ``relative`` is True, else in the data's own units (e.g. nanomaggies).
    relative : bool
        Scale sigma by the per-band standard deviation of the batch.
    """

    def __init__(self, max_sigma: float = 0.1, relative: bool = True):
        super().__init__()
        self.max_sigma = max_sigma
        self.relative = relative

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, c = x.shape[:2]
        shape = (n, c) + (1,) * (x.ndim - 2)
        sigma = self.max_sigma * _uniform(n * c, x, generator).view(shape)
        if self.relative:
            dims = [0] + list(range(2, x.ndim))
            sigma = sigma * x.detach().float().std(dim=dims).view((1, c) + (1,) * (x.ndim - 2))
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + sigma.to(x.dtype) * noise


def _auto(input_shape: tuple[int, ...]) -> nn.Module:
    if len(input_shape) != 3:
        return Compose([GaussianNoise(0.2)])
    shift = max(0, min(4, input_shape[-1] // 16))
    return Compose([RandomDihedral(), RandomShift(shift), GaussianNoise(0.1)])


PRESETS = {"auto": _auto}

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
