"""Contrastive losses: NT-Xent (SimCLR) and InfoNCE with a queue of negatives (MoCo v2);
the negative-free BYOL and SimSiam losses; CLIP's symmetric InfoNCE for two modalities; the
auxiliary loss of semi-supervised pretraining on partial labels.

The two-view losses take projections (or predictions) of two views of the same batch,
``(n, p)`` each, where row ``i`` of the first and row ``i`` of the second are the positive pair.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["NTXentLoss", "MoCoLoss", "nt_xent", "info_nce", "momentum_update", "gather_with_grad",
           "BYOLLoss", "SimSiamLoss", "byol_loss", "simsiam_loss", "cosine_momentum", "clip_loss", "PartialLabelLoss"]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) outside distributed runs."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(z: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``z`` from every process, keeping gradients to the local part.

    Returns the global batch and the offset of this process's rows in it. Every
    process must pass the same number of rows. Outside a distributed run: ``(z, 0)``.
    """
    rank, world = rank_and_world()
    if world == 1:
        return z, 0
    return _AllGather.apply(z), rank * z.shape[0]


class _AllGather(torch.autograd.Function):
    """all_gather whose backward sums every process's gradient for the local rows."""

    @staticmethod
    def forward(ctx, z):
        ctx.rows = z.shape[0]
        return gather_no_grad(z)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        rank, _ = rank_and_world()
        return grad[rank * ctx.rows:(rank + 1) * ctx.rows]


@torch.no_grad()
def gather_no_grad(z: torch.Tensor) -> torch.Tensor:
    """Concatenate ``z`` from every process, in rank order, without gradients."""
    _, world = rank_and_world()
    if world == 1:
        return z
    parts = [torch.empty_like(z) for _ in range(world)]
    dist.all_gather(parts, z.contiguous())
    return torch.cat(parts)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Normalised temperature-scaled cross entropy over in-batch negatives (SimCLR).

    Each of the ``2n`` projections is classified against the other ``2N - 1`` of the
    global batch; its positive is the other view of the same image. In a distributed
    run (``torch.distributed`` initialised, e.g. by accelerate) the negatives are
    gathered from every process with gradients, each process scores its own anchors,
    and the mean of the processes' losses equals the single-process loss on the
    concatenated batch.

    Parameters
    ----------
    z1, z2 : Tensor of shape (n, p)
        Projections of the two views. They are L2-normalised here.
    temperature : float
        Softmax temperature.

    Returns
    -------
    loss : Tensor
        Scalar mean loss over this process's ``2n`` anchors.
    """
    n = z1.shape[0]
    z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    all1, offset = gather_with_grad(z1)
    all2, _ = gather_with_grad(z2)
    N = all1.shape[0]
    logits = torch.cat([z1, z2]) @ torch.cat([all1, all2]).T / temperature
    local = offset + torch.arange(n, device=z1.device)
    rows = torch.arange(2 * n, device=z1.device)
    logits[rows, torch.cat([local, N + local])] = float("-inf")
    return F.cross_entropy(logits, torch.cat([N + local, local]))


def info_nce(
    q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor, temperature: float = 0.1,
    exclude: torch.Tensor | None = None,
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
    exclude : bool Tensor of shape (n, K) or None
        True where a negative must not count for a query (a key of the query's own
        image: a false negative); those logits are set to ``-inf``.

    Returns
    -------
    loss : Tensor
        Scalar mean loss; the positive sits at index 0 of each row of logits.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1).detach()
    l_pos = (q * k).sum(dim=1, keepdim=True)
    l_neg = q @ negatives.detach().float().T
    if exclude is not None:
        l_neg = l_neg.masked_fill(exclude, float("-inf"))
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
    then enqueues the batch's keys, overwriting the oldest ones. In a distributed run
    the keys of every process are enqueued (in rank order), so all queues stay equal.

    The queue also keeps each key's sample index (``queue_index``, -1 for the random
    initial keys). When the call gets the batch's sample indices, queue entries that
    are keys of a query's own image (stale positives, from an earlier epoch or step)
    are masked out of that query's negatives. The reference (``facebookresearch/moco``,
    ``moco/builder.py``) has no such mask: with 1.28M images and a 65,536-key queue a
    query rarely meets its own key there, whereas on a small data set it does at every step.

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
        self.register_buffer("queue_index", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, q: torch.Tensor, k: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of queries ``q`` against positives ``k`` and the queue; ``index``: the
        batch's sample indices (``(n,)`` long), or None for no masking."""
        exclude = None if index is None else index.view(-1, 1) == self.queue_index.view(1, -1)
        # a copy: enqueue below writes the queue in place before backward runs
        loss = info_nce(q, k, self.queue.clone(), self.temperature, exclude)
        if self.training:  # every process enqueues the global batch's keys
            self.enqueue(gather_no_grad(k), None if index is None else gather_no_grad(index))
        return loss

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, index: torch.Tensor | None = None) -> None:
        """Write ``keys`` (normalised) and their sample ``index`` (-1 if None) over the oldest entries."""
        keys = F.normalize(keys.detach().float(), dim=1)
        index = torch.full((keys.shape[0],), -1, dtype=torch.long, device=keys.device) if index is None else index
        size = self.queue.shape[0]
        keys, index = keys[-size:], index[-size:]
        idx = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_index[idx] = index.to(self.queue_index.device, torch.long)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)


# -- negative-free methods (BYOL, SimSiam) and cross-modal alignment (CLIP) -----------------
def byol_loss(p1: torch.Tensor, p2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """BYOL's symmetrised regression loss between online predictions and target projections.

    ``||p/|p| - t/|t|||^2 = 2 - 2 cos(p, t)`` for each view's prediction against the
    *other* view's target, summed over the two directions and averaged over the batch,
    as ``regression_loss`` in deepmind-research ``byol/utils/helpers.py`` (Grill et al.
    2020, eq. 2 and its symmetrisation). The targets are detached (stop-gradient).

    Parameters
    ----------
    p1, p2 : Tensor of shape (n, p)
        Online predictions of views 1 and 2.
    t1, t2 : Tensor of shape (n, p)
        Target projections of views 1 and 2 (from the momentum network).

    Returns
    -------
    loss : Tensor
        Scalar in [0, 8]; 0 when every prediction points along its target.
    """
    return (2 - 2 * _cosine(p1, t2)).mean() + (2 - 2 * _cosine(p2, t1)).mean()


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """SimSiam's symmetric negative cosine similarity with stop-gradient on the projections.

    ``-(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2``, averaged over the batch, as in
    facebookresearch/simsiam ``main_simsiam.py`` (``loss = -(criterion(p1, z2).mean() +
    criterion(p2, z1).mean()) * 0.5`` with ``z`` detached in ``simsiam/builder.py``).

    Returns
    -------
    loss : Tensor
        Scalar in [-1, 1]; -1 when every prediction points along the other view's projection.
    """
    return -0.5 * (_cosine(p1, z2).mean() + _cosine(p2, z1).mean())


def _cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of ``p`` with the detached ``z`` (the stop-gradient)."""
    return F.cosine_similarity(p.float(), z.detach().float(), dim=1)


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's target decay rate: ``1 - (1 - base) * (cos(pi k / K) + 1) / 2``.

    Rises from ``base`` at step 0 to 1 at step ``K = total_steps`` (Grill et al. 2020,
    sec. 3.2; deepmind-research ``byol/utils/schedules.py``, ``target_ema``).
    """
    if total_steps <= 0:
        return base
    progress = min(max(step / total_steps, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


def clip_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE between paired embeddings of two modalities.

    As the pseudo-code of Radford et al. (2021, fig. 3): ``logits = a_n @ b_n.T *
    exp(t)`` with L2-normalised rows, then the mean of the cross entropies along both
    axes, the positive of row ``i`` being column ``i``.

    Parameters
    ----------
    a, b : Tensor of shape (n, p)
        Embeddings of the two modalities; row ``i`` of each is a pair. Normalised here.
    logit_scale : Tensor (scalar)
        ``t``, the log of the inverse temperature (learnable in CLIP).
    """
    a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
    logits = a @ b.T * logit_scale.float().exp()
    targets = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


class BYOLLoss(nn.Module):
    """BYOL's loss as a module; see :func:`byol_loss`."""

    def forward(self, p1, p2, t1, t2) -> torch.Tensor:
        return byol_loss(p1, p2, t1, t2)


class SimSiamLoss(nn.Module):
    """SimSiam's loss as a module; see :func:`simsiam_loss`."""

    def forward(self, p1, p2, z1, z2) -> torch.Tensor:
        return simsiam_loss(p1, p2, z1, z2)


class PartialLabelLoss(nn.Module):
    """Supervised loss of a linear head on the labelled samples of a batch, for
    semi-supervised pretraining (an auxiliary criterion next to the contrastive one).

    Classes are integers with -1 for unlabelled samples (cross entropy); continuous
    targets are standardised floats with NaN for unlabelled (squared error). A batch
    without labelled samples gives 0.

    Parameters
    ----------
    in_features : int
        Width of the projections the head reads.
    n_outputs : int
        Number of classes, or 1 for a continuous target.
    task : {"classification", "regression"}
    weight : float
        Factor on the loss, relative to the contrastive loss.
    """

    def __init__(self, in_features: int, n_outputs: int = 1, task: str = "classification", weight: float = 1.0):
        super().__init__()
        self.task = task
        self.weight = weight
        self.head = nn.Linear(in_features, n_outputs)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        labelled = y >= 0 if self.task == "classification" else ~torch.isnan(y)
        if not bool(labelled.any()):
            return z.new_zeros(())
        out = self.head(z[labelled].float())
        if self.task == "classification":
            return self.weight * F.cross_entropy(out, y[labelled])
        return self.weight * F.mse_loss(out[:, 0], y[labelled].float())
