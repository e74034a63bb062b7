"""What every pretraining method shares: its heads and the interface the training net calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """Two-layer MLP projection head.

    ``batch_norm=True``: Linear-BN-ReLU-Linear (SimCLR, Chen et al. 2020);
    ``batch_norm=False``: Linear-ReLU-Linear, MoCo v2's head as published
    (``facebookresearch/moco``, ``moco/builder.py``, ``mlp=True``).
    """

    def __init__(self, in_features: int, out_features: int = 128, hidden: int | None = None,
                 batch_norm: bool = True):
        super().__init__()
        hidden = hidden or in_features
        norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
        self.net = nn.Sequential(nn.Linear(in_features, hidden), *norm, nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PredictionHead(ProjectionHead):
    """The predictor of BYOL and SimSiam: Linear-BN-ReLU-Linear from and to the projection space.

    BYOL (Grill et al. 2020, sec. 3.3) uses the projector's hidden width; SimSiam
    (facebookresearch/simsiam ``simsiam/builder.py``) a bottleneck of a quarter of the
    projection size (512 for 2048).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__(dim, dim, hidden)


@dataclass
class TrainingStep:
    """What a method may use at one training step besides the two views.

    Attributes
    ----------
    encoder : nn.Module
        The online encoder (momentum networks follow its weights).
    encode : callable
        Runs the online encoder on a normalised batch (compiled and channels-last as the net
        is configured).
    generator : torch.Generator
        The run's augmentation generator, on the batch's device (MoCo draws its key shuffle
        from it).
    index : torch.Tensor or None
        The batch's sample indices when the method asks for them (``uses_index``).
    step, total_steps : int
        Optimisation steps completed before this one, and in the whole run.
    channels_last : bool
        Whether image batches are laid out channels-last for the encoder.
    """

    encoder: nn.Module
    encode: Callable[[torch.Tensor], torch.Tensor]
    generator: torch.Generator
    index: torch.Tensor | None = None
    step: int = 0
    total_steps: int = 0
    channels_last: bool = False


class PretrainingMethod(nn.Module):
    """A self-supervised method: the modules it adds to the encoder and how two augmented
    views of a batch become its criterion's inputs.

    A method is a skorch module of the training net (``net.method_``), built after the
    encoder with the encoder's output width ``dim``; its criterion is the net's
    ``criterion``. Subclasses set the class attributes and implement :meth:`forward`;
    registering one in ``sklearn_ssl.engine._methods.METHODS`` makes it available as
    ``ContrastiveEmbedder(method=name)``.

    Parameters
    ----------
    encoder : nn.Module
        The online encoder, already built (momentum methods copy it; it is not stored).
    dim : int
        Width of the encoder's representation.
    projection_dim : int
        Width of the projection space, where the loss is computed.
    momentum : float
        Momentum (or base decay) of the method's moving-average networks, if any.
    """

    #: The loss module applied to :meth:`forward`'s output.
    criterion: ClassVar[type[nn.Module]]
    #: Whether the batch's sample indices must travel with it (``TrainingStep.index``).
    uses_index: ClassVar[bool] = False
    #: Whether the loss has negatives that keep projections apart (no collapse check needed).
    has_negatives: ClassVar[bool] = True
    #: Whether the method keeps a moving-average network (the embedder's ``momentum`` is used).
    uses_momentum: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module, dim: int, projection_dim: int = 128, momentum: float = 0.99):
        super().__init__()
        self.momentum = momentum

    @classmethod
    def criterion_params(cls, *, projection_dim: int, temperature: float, queue_size: int,
                         n_samples: int) -> dict:
        """Keyword arguments of :attr:`criterion`, from the embedder's parameters."""
        return {}

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, step: TrainingStep) -> tuple:
        """The criterion's inputs for two normalised views ``v1``, ``v2`` of one batch."""
        raise NotImplementedError
