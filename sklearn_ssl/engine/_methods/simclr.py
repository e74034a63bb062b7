"""SimCLR (Chen et al. 2020): two views, one projection head, NT-Xent against the batch."""

from __future__ import annotations

import torch

from ...nn.losses import NTXentLoss
from ._base import PretrainingMethod, ProjectionHead, TrainingStep


class SimCLR(PretrainingMethod):
    """SimCLR's projection head (Linear-BN-ReLU-Linear) and NT-Xent loss.

    Both views are encoded as one concatenated batch, so BatchNorm normalises them
    together, as in SimCLR's reference code (global BatchNorm over the views).
    """

    criterion = NTXentLoss

    def __init__(self, encoder, dim: int, projection_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder, dim, projection_dim, momentum)
        self.projector = ProjectionHead(dim, projection_dim)

    @classmethod
    def criterion_params(cls, *, temperature, **_) -> dict:
        return {"temperature": temperature}

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, step: TrainingStep) -> tuple:
        return self.projector(step.encode(torch.cat([v1, v2]))).chunk(2)
