"""Methods without negatives: BYOL (Grill et al. 2020) and SimSiam (Chen & He 2021).

Both add a predictor on the online branch and stop the gradient on the other. Departures
from the references (facebookresearch/simsiam ``builder.py``; BYOL's pseudo-code): the
two-layer projection head of SimCLR/MoCo v2 instead of SimSiam's 3-layer 2048-wide or
BYOL's 4096/256 projector; the estimator's optimizer (AdamW) with one learning rate
instead of SGD (SimSiam) or LARS with warm-up (BYOL); BYOL's moving average taken just
before the target pass with the previous step's decay (the same sequence of targets as
updating after the step) and a base decay of 0.99 (paper: 0.996); the same astronomy
augmentations for both views. Details in ``docs/negative_free.rst``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ...nn.losses import BYOLLoss, SimSiamLoss, cosine_momentum, momentum_update
from ._base import PredictionHead, PretrainingMethod, ProjectionHead, TrainingStep


class SimSiam(PretrainingMethod):
    """SimSiam: projector ending in BatchNorm without affine, bottleneck predictor; the
    targets are the online projections themselves (detached by the loss)."""

    criterion = SimSiamLoss
    has_negatives = False

    def __init__(self, encoder, dim: int, projection_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder, dim, projection_dim, momentum)
        # builder.py ends the projector with BatchNorm1d(dim, affine=False)
        self.projector = nn.Sequential(ProjectionHead(dim, projection_dim), nn.BatchNorm1d(projection_dim, affine=False))
        self.predictor = PredictionHead(projection_dim, max(projection_dim // 4, 2))

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, step: TrainingStep) -> tuple:
        z1, z2 = self.projector(step.encode(v1)), self.projector(step.encode(v2))
        return self.predictor(z1), self.predictor(z2), z1, z2


class BYOL(PretrainingMethod):
    """BYOL: predictor of the projector's hidden width; the targets come from a momentum
    encoder and projector, moved by one step of the exponential moving average (decay
    rising from ``momentum`` to 1 on a cosine schedule) before each target pass."""

    criterion = BYOLLoss
    has_negatives = False
    uses_momentum = True

    def __init__(self, encoder, dim: int, projection_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder, dim, projection_dim, momentum)
        self.projector = ProjectionHead(dim, projection_dim)
        self.predictor = PredictionHead(projection_dim, dim)
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def decay(self, steps_done: int, total_steps: int) -> float:
        """The moving average's decay before step ``steps_done + 1``: the cosine schedule from
        ``momentum`` to 1 at the previous step (the same targets as updating after each step)."""
        return cosine_momentum(self.momentum, max(steps_done - 1, 0), total_steps)

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, step: TrainingStep) -> tuple:
        z1, z2 = self.projector(step.encode(v1)), self.projector(step.encode(v2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            tau = self.decay(step.step, step.total_steps)
            momentum_update(step.encoder, self.target_encoder, tau)
            momentum_update(self.projector, self.target_projector, tau)
            t1 = self.target_projector(self.target_encoder(v1))
            t2 = self.target_projector(self.target_encoder(v2))
        return p1, p2, t1, t2
