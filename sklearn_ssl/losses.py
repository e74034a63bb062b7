"""Contrastive losses: NT-Xent (SimCLR) and InfoNCE with a queue of negatives (MoCo v2).

Both take projections of two views of the same batch, ``(n, p)`` each, where row
``i`` of the first and row ``i`` of the second are the positive pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NTXentLoss", "MoCoLoss", "nt_xent", "info_nce", "momentum_update"]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Normalised temperature-scaled cross entropy over in-batch negatives (SimCLR).

    Each of the ``2n`` projections is classified against the other ``2n - 1``;
    its positive is the other view of the same image.

    Parameters
    ----------
    z1, z2 : Tensor of shape (n, p)
        Projections of the two views. They are L2-normalised here.
    temperature : float
        Softmax temperature.

    Returns
    -------
    loss : Tensor
        Scalar mean loss over the ``2n`` anchors.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def info_nce(
    q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    """InfoNCE with one positive key per query and a shared set of negatives (MoCo).

    Parameters
    ----------
    q : Tensor of shape (n, p)
        Query projections (gradients flow through these).
    k : Tensor of shape (n, p)
        Positive keys, one per query (treated as constants).
    negatives : Tensor of shape (K, p)
        Negative keys, already L2-normalised.
    temperature : float
        Softmax temperature.

    Returns
    -------
    loss : Tensor
        Scalar mean loss; the positive sits at index 0 of each row of logits.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1).detach()
    l_pos = (q * k).sum(dim=1, keepdim=True)
    l_neg = q @ negatives.detach().float().T
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    targets = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """Exponential moving average of ``online``'s weights into ``target``.

    ``target = momentum * target + (1 - momentum) * online`` for every parameter;
    buffers (e.g. batch-norm statistics) are copied.
    """
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        p_t.mul_(momentum).add_(p_o.detach(), alpha=1.0 - momentum)
    for b_t, b_o in zip(target.buffers(), online.buffers()):
        b_t.copy_(b_o)


class NTXentLoss(nn.Module):
    """SimCLR's NT-Xent loss as a module; see :func:`nt_xent`."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, self.temperature)


class MoCoLoss(nn.Module):
    """MoCo v2 InfoNCE loss holding the first-in first-out queue of negative keys.

    In training mode, each call computes the loss against the current queue and
    then enqueues the batch's keys, overwriting the oldest ones.

    Parameters
    ----------
    dim : int
        Projection dimension.
    queue_size : int
        Number of negative keys kept.
    temperature : float
        Softmax temperature.
    """

    def __init__(self, dim: int = 128, queue_size: int = 4096, temperature: float = 0.1):
        super().__init__()
        self.temperature = temperature
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        # a copy: enqueue below writes the queue in place before backward runs
        loss = info_nce(q, k, self.queue.clone(), self.temperature)
        if self.training:
            self.enqueue(k)
        return loss

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (normalised) over the oldest entries of the queue."""
        keys = F.normalize(keys.detach().float(), dim=1)
        size = self.queue.shape[0]
        keys = keys[-size:]
        idx = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)
