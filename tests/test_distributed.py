"""Contrastive losses across processes: two CPU processes (gloo) equal one process on the whole batch."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_ssl.nn.losses import MoCoLoss, nt_xent

WORLD = 2


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)


def _worker(rank, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        z1, z2, k = _data()
        part = slice(rank * 4, (rank + 1) * 4)
        a, b = z1[part].clone().requires_grad_(), z2[part].clone().requires_grad_()
        loss = nt_xent(a, b, 0.3)
        loss.backward()
        moco = MoCoLoss(dim=5, queue_size=16, temperature=0.3).train()
        moco.queue.copy_(torch.nn.functional.normalize(torch.ones(16, 5), dim=1))
        q_loss = moco(z1[part], k[part])
        keys, seen = _shuffled_keys(rank)
        torch.save(
            {"loss": loss.item(), "grad1": a.grad, "grad2": b.grad, "moco": q_loss.item(), "queue": moco.queue.clone(),
             "keys": keys, "seen": seen},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def _shuffled_keys(rank):
    """MoCo's key pass on 8 images per process, with a key encoder that records the ids it sees."""
    from types import SimpleNamespace

    from sklearn_ssl.engine._methods import MoCo

    seen = []

    def encoder(x):
        seen.extend(x[:, 0].long().tolist())
        return 2 * x

    ids = torch.arange(8.0) + 8 * rank
    stub = SimpleNamespace(key_encoder=encoder, key_projector=lambda z: z)
    keys = MoCo.keys(stub, ids[:, None], torch.Generator().manual_seed(rank))
    return keys, seen


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]


def test_nt_xent_across_processes_equals_single_process_on_concatenated_batch(results):
    z1, z2, _ = _data()
    a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    full = nt_xent(a, b, 0.3)
    full.backward()
    assert sum(r["loss"] for r in results) / WORLD == pytest.approx(full.item(), rel=1e-6)
    # all_gather's backward sums every process's gradient into the local rows, so each process
    # holds WORLD x the full-batch gradient of its rows; DDP's mean over processes restores it.
    grad1 = torch.cat([r["grad1"] for r in results]) / WORLD
    grad2 = torch.cat([r["grad2"] for r in results]) / WORLD
    torch.testing.assert_close(grad1, a.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad2, b.grad, rtol=1e-5, atol=1e-7)


def test_moco_across_processes_equals_single_process_and_queues_agree(results):
    z1, _, k = _data()
    moco = MoCoLoss(dim=5, queue_size=16, temperature=0.3).train()
    moco.queue.copy_(torch.nn.functional.normalize(torch.ones(16, 5), dim=1))
    full = moco(z1, k)
    assert sum(r["moco"] for r in results) / WORLD == pytest.approx(full.item(), rel=1e-6)
    for r in results:
        torch.testing.assert_close(r["queue"], moco.queue)


def test_keys_are_shuffled_across_processes_and_come_back_in_order(results):
    """As MoCo's _batch_shuffle_ddp: each process encodes a share of the permuted global batch."""
    for rank, r in enumerate(results):
        own = torch.arange(8.0) + 8 * rank
        torch.testing.assert_close(r["keys"][:, 0], 2 * own)  # un-shuffled: the keys of its own images
        assert len(r["seen"]) == 8 and set(r["seen"]) != set(own.long().tolist())
    assert sorted(results[0]["seen"] + results[1]["seen"]) == list(range(16))


def test_two_process_accelerate_pretraining_keeps_replicas_identical(tmp_path):
    """accelerate + DDP on two CPU processes reading one memory-mapped .npy file (each its own
    share of every epoch, read from disk): both replicas end with the same weights."""
    pytest.importorskip("accelerate")
    import socket
    import subprocess
    import sys

    import numpy as np

    from sklearn_ssl.datasets import make_galaxy_survey

    np.save(tmp_path / "images.npy", make_galaxy_survey(96, image_size=16, random_state=0)[0])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "accelerate_pretrain.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), example, "--cpu", "--images", str(tmp_path / "images.npy"),
           "--epochs", "2", "--batch-size", "16", "--method", "moco", "--embeddings", str(tmp_path / "z")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes" in proc.stdout
    z0, z1 = np.load(tmp_path / "z.rank0.npy"), np.load(tmp_path / "z.rank1.npy")
    np.testing.assert_array_equal(z0, z1)
