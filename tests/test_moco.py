"""MoCo v2 as published: shuffled BatchNorm for keys, MoCo v2's head, no false negatives in the queue."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skorch.callbacks import Callback
from torch import nn

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.nn.losses import MoCoLoss

from test_embedder import fast, rotation_invariant_classes

_SEEN: dict = {}


class _RecordBatchNormGroups(Callback):
    """Forward pre-hooks on the first BatchNorm of the query and key encoders: which images each
    call normalises together (the encoder below feeds images to it unchanged; pixel 0 is the id)."""

    def on_train_begin(self, net, **kwargs):
        for name, encoder in (("module_", net.module_), ("key_encoder_", net.method_.key_encoder)):
            _SEEN[name] = []
            bn = next(m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d))
            bn.register_forward_pre_hook(
                lambda mod, args, log=_SEEN[name]: log.append(frozenset(args[0][:, 0, 0, 0].round().long().tolist()))
                if mod.training else None)


class _BatchNormFirst(nn.Module):
    def __init__(self, in_channels=2):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, 8, 3), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        return self.net(x)


def test_keys_are_never_normalised_with_their_querys_batch():
    X = np.random.default_rng(0).normal(size=(64, 2, 8, 8)).astype(np.float32)
    X[:, 0, 0, 0] = np.arange(64)  # an id per image
    fast(method="moco", encoder=_BatchNormFirst, augmentations=None, normalize=None, batch_size=32,
         max_epochs=2, callbacks=[_RecordBatchNormGroups]).fit(X)
    queries, keys = _SEEN["module_"], _SEEN["key_encoder_"]
    assert len(queries) == 4 and all(len(q) == 32 for q in queries)  # 2 epochs x 2 batches
    assert len(keys) >= 2 * len(queries)  # at least two BatchNorm groups per key batch
    step = len(keys) // len(queries)
    for i, batch in enumerate(queries):
        groups = keys[i * step:(i + 1) * step]
        assert frozenset().union(*groups) == batch and sum(map(len, groups)) == len(batch)
        assert all(len(g) < len(batch) for g in groups)
    # the groups are random, not the same halves of the batch every time
    assert len({g for g in keys}) > step


def test_moco_head_has_no_batchnorm_and_simclr_head_has():
    X, _ = rotation_invariant_classes(32)
    moco, simclr = fast(method="moco", max_epochs=1).fit(X), fast(max_epochs=1).fit(X)
    layers = [type(m) for m in moco.net_.method_.projector.modules()]
    assert nn.BatchNorm1d not in layers and layers.count(nn.Linear) == 2 and nn.ReLU in layers
    assert nn.BatchNorm1d in [type(m) for m in simclr.net_.method_.projector.modules()]


def test_queue_masks_the_querys_own_image():
    dim = 3
    loss = MoCoLoss(dim=dim, queue_size=4, temperature=0.5).eval()
    e = torch.eye(dim)
    loss.queue.copy_(torch.stack([e[0], e[1], e[2], -e[0]]))
    loss.queue_index.copy_(torch.tensor([7, 8, 9, -1]))
    q = torch.stack([e[0], e[1]])  # images 7 and 8: their own stale keys sit in the queue
    k = torch.stack([e[0], e[1]])
    got = loss(q, k, torch.tensor([7, 8])).item()
    # image 7 sees the negatives of images 8, 9 and the initial key; image 8 those of 7, 9, -1
    t = 0.5
    row7 = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 1 + 1 + math.exp(-1 / t)))
    row8 = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 1 + 1 + 1))
    assert got == pytest.approx((row7 + row8) / 2, rel=1e-6)
    unmasked = loss(q, k).item()  # the old behaviour: the own key counts as a negative
    assert unmasked > got + 0.1


def test_enqueue_keeps_sample_indices_and_wraps():
    loss = MoCoLoss(dim=2, queue_size=3).train()
    loss(torch.randn(2, 2), torch.randn(2, 2), torch.tensor([4, 5]))
    loss(torch.randn(2, 2), torch.randn(2, 2), torch.tensor([6, 7]))
    assert loss.queue_index.tolist() == [7, 5, 6]
    assert loss.queue_ptr.item() == 1


def test_small_data_set_queue_holds_each_image_once_and_all_are_masked():
    """n <= batch_size: the queue is the previous step's keys of the same images; each query's own is masked."""
    X, _ = rotation_invariant_classes(24)
    emb = fast(method="moco", batch_size=32, max_epochs=3).fit(X)
    assert emb.queue_size_ == 24
    assert sorted(emb.net_.criterion_.queue_index.tolist()) == list(range(24))


def _probe_accuracy(method, seed):
    from sklearn.linear_model import LogisticRegression

    X, y = rotation_invariant_classes(160, seed=seed)
    emb = ContrastiveEmbedder(method=method, max_epochs=8, batch_size=32, projection_dim=16, lr=3e-3,
                              random_state=seed).fit(X[:128])
    Z = emb.transform(X)
    return LogisticRegression(max_iter=2000).fit(Z[:96], y[:96]).score(Z[96:], y[96:])


@pytest.mark.slow  # six fits: ~1 min on an idle 2-core machine, 5 min on a loaded one
def test_moco_learns_as_well_as_simclr_within_the_repeat_spread():
    moco = np.array([_probe_accuracy("moco", s) for s in range(3)])
    simclr = np.array([_probe_accuracy("simclr", s) for s in range(3)])
    spread = max(moco.std(ddof=1), simclr.std(ddof=1))
    assert moco.mean() > 0.5  # three classes: chance is 1/3
    assert moco.mean() >= simclr.mean() - max(spread, 0.02), (moco, simclr)
