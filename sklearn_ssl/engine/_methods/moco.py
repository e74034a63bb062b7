"""MoCo v2 (He et al. 2020; Chen et al. 2020b): a momentum key encoder and a queue of negatives."""

from __future__ import annotations

import copy

import torch

from ...nn.losses import MoCoLoss, rank_and_world, gather_no_grad, momentum_update
from ._base import PretrainingMethod, ProjectionHead, TrainingStep

#: Images per BatchNorm group of MoCo's key pass on one process: the per-GPU batch of
#: He et al. (2020), 256 images on 8 GPUs.
KEY_GROUP = 32


class MoCo(PretrainingMethod):
    """MoCo v2: query encoder and head trained, key encoder and head a momentum average.

    Follows ``facebookresearch/moco`` (``moco/builder.py``, ``main_moco.py`` with
    ``--mlp``): the key encoder and head are updated by momentum before each key pass,
    keys are computed with shuffled BatchNorm (:meth:`keys`), InfoNCE against the positive
    key and a FIFO queue of the global batch's keys (:class:`~sklearn_ssl.nn.losses.MoCoLoss`),
    head Linear-ReLU-Linear. Departures from that code:

    - the queue stores each key's sample index and masks a query's own image out of its
      negatives, and its size is capped at the number of samples; the reference has
      neither (with 1.28M images a stale own key is rare there) and asserts that the
      queue size is a multiple of the batch (here the pointer wraps);
    - on one process, split BatchNorm for the keys and whole-batch BatchNorm for the
      queries (see :meth:`keys`); the reference normalises queries per GPU;
    - the momentum update also copies buffers (BatchNorm running statistics) into the
      key encoder; these are unused, since the key encoder always runs in train mode;
    - the optimiser, schedule and augmentations are the embedder's parameters
      (AdamW by default; the reference uses SGD, lr 0.03, momentum 0.9).
    """

    criterion = MoCoLoss
    uses_index = True
    uses_momentum = True

    def __init__(self, encoder, dim: int, projection_dim: int = 128, momentum: float = 0.99):
        super().__init__(encoder, dim, projection_dim, momentum)
        self.projector = ProjectionHead(dim, projection_dim, batch_norm=False)
        self.key_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.key_projector = copy.deepcopy(self.projector).requires_grad_(False)

    @classmethod
    def criterion_params(cls, *, projection_dim, temperature, queue_size, n_samples) -> dict:
        return {"dim": projection_dim, "queue_size": int(min(queue_size, n_samples)), "temperature": temperature}

    def forward(self, v1: torch.Tensor, v2: torch.Tensor, step: TrainingStep) -> tuple:
        z1 = self.projector(step.encode(v1))
        with torch.no_grad():
            momentum_update(step.encoder, self.key_encoder, self.momentum)
            momentum_update(self.projector, self.key_projector, self.momentum)
            z2 = self.keys(v2, step.generator, step.channels_last)
        return z1, z2, step.index

    @torch.no_grad()
    def keys(self, x: torch.Tensor, generator: torch.Generator, channels_last: bool = False) -> torch.Tensor:
        """MoCo keys with shuffled BatchNorm (He et al. 2020, sec. 3.3).

        A key must not be normalised with the statistics of its own query's batch, or
        the model can match batches instead of images. Following
        ``facebookresearch/moco`` ``moco/builder.py`` (``_batch_shuffle_ddp`` /
        ``_batch_unshuffle_ddp``): in a distributed run the key images of all processes
        are gathered, permuted (rank 0's permutation, broadcast), each process encodes
        its share of the permuted global batch, and the keys are gathered back and
        un-permuted. On one process the key batch is permuted, split into
        ``clamp(n // KEY_GROUP, 2, n // 2)`` sub-batches that the key encoder sees one at a
        time (so BatchNorm normalises each separately: split, or "ghost", BatchNorm as in
        MoCo's single-GPU recipe), concatenated and un-permuted.

        Departures from the reference: the queries are normalised over the whole local
        batch (the reference's per-GPU batch is 32 images); the single-process split runs
        the key encoder once per sub-batch, instead of reshaping the batch into channels
        (MoCo's ``SplitBatchNorm`` demo), so that any user encoder is split, whatever
        its normalisation layers; a batch of fewer than 4 images is encoded whole, since a
        sub-batch of one image breaks BatchNorm1d (e.g. the MLP encoder).
        """
        def encode(batch):
            if channels_last and batch.ndim == 4:
                batch = batch.contiguous(memory_format=torch.channels_last)
            return self.key_projector(self.key_encoder(batch))

        n = x.shape[0]
        rank, world = rank_and_world()
        if world > 1:
            x_all = gather_no_grad(x)
            perm = torch.randperm(len(x_all), generator=generator, device=x.device)
            torch.distributed.broadcast(perm, src=0)
            keys = gather_no_grad(encode(x_all[perm[rank * n:(rank + 1) * n]]))
            return keys[torch.argsort(perm)][rank * n:(rank + 1) * n]
        groups = min(max(2, n // KEY_GROUP), n // 2)
        if groups < 2:
            return encode(x)
        perm = torch.randperm(n, generator=generator, device=x.device)
        keys = torch.cat([encode(part) for part in x[perm].tensor_split(groups)])
        return keys[torch.argsort(perm)]
