"""Chains of augmentations: :class:`Compose` applies them in order, fusing geometric runs."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._geometric import _Geometric, _warp


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
