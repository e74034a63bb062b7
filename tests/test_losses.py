import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_ssl.nn.losses import MoCoLoss, NTXentLoss, info_nce, momentum_update, nt_xent


def _nt_xent_loop(z1, z2, t):
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        sims = [(z[i] @ z[j]).item() / t for j in range(n2) if j != i]
        denom = sum(math.exp(s) for s in sims)
        total += -((z[i] @ z[pos]).item() / t - math.log(denom))
    return total / n2


def test_nt_xent_aligned_orthogonal_pairs_has_closed_form():
    n, t = 4, 0.5
    z = torch.eye(8)[:n]
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (2 * n - 2)))
    assert nt_xent(z, z.clone(), t).item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_matches_direct_loop_and_aligned_beats_random():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(_nt_xent_loop(z1, z2, 0.5), rel=1e-5)
    aligned = nt_xent(z1, z1 + 0.01 * z2, 0.5).item()
    assert aligned < nt_xent(z1, z2, 0.5).item()
    assert NTXentLoss(0.5)(z1, z2).item() == pytest.approx(nt_xent(z1, z2, 0.5).item())


def test_info_nce_matches_direct_computation():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    neg = F.normalize(torch.randn(7, 4, generator=g), dim=1)
    qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
    expected = np.mean([
        -(qn[i] @ kn[i] / 0.2).item()
        + math.log(math.exp((qn[i] @ kn[i] / 0.2).item()) + sum(math.exp((qn[i] @ m / 0.2).item()) for m in neg))
        for i in range(3)
    ])
    assert info_nce(q, k, neg, 0.2).item() == pytest.approx(expected, rel=1e-5)


def test_moco_queue_is_fifo_and_wraps():
    loss = MoCoLoss(dim=2, queue_size=5, temperature=0.1).train()
    keys = [torch.tensor([[1.0, 0.0]] * 2), torch.tensor([[0.0, 1.0]] * 2), torch.tensor([[-1.0, 0.0]] * 2)]
    for k in keys:
        loss(torch.randn(2, 2), k)
    # batches 1 and 2 fill slots 0-3; batch 3 takes slot 4 then wraps to slot 0
    expected = torch.tensor([[-1.0, 0], [1, 0], [0, 1], [0, 1], [-1, 0]])
    assert torch.equal(loss.queue, expected)
    assert loss.queue_ptr.item() == 1


def test_moco_queue_untouched_in_eval_mode():
    loss = MoCoLoss(dim=3, queue_size=4).eval()
    before = loss.queue.clone()
    loss(torch.randn(2, 3), torch.randn(2, 3))
    assert torch.equal(before, loss.queue)


def test_momentum_update_is_exact_ema():
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    w_o, w_t = online.weight.detach().clone(), target.weight.detach().clone()
    momentum_update(online, target, 0.9)
    assert torch.allclose(target.weight, 0.9 * w_t + 0.1 * w_o)
    assert torch.equal(online.weight, w_o)
