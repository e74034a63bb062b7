"""The private data path: device-resident and streamed batches, sharding across processes."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_ssl._training import DeviceBatches


def _batches(**kwargs):
    X = torch.arange(50, dtype=torch.float32).view(25, 2)
    return [b for b, _ in DeviceBatches(X, 8, **kwargs)]


def test_streamed_batches_equal_resident_batches():
    resident = _batches(shuffle=True, generator=torch.Generator().manual_seed(3))
    streamed = _batches(shuffle=True, generator=torch.Generator().manual_seed(3), stream=True)
    assert len(resident) == len(streamed) == 3  # 25 = 8 + 8 + 8 + 1: the single one is dropped
    for a, b in zip(resident, streamed):
        assert torch.equal(a, b)


def test_each_epoch_is_a_permutation_and_single_leftover_is_dropped():
    X = torch.arange(17, dtype=torch.float32)[:, None]
    gen = torch.Generator().manual_seed(0)
    epochs = [torch.cat([b for b, _ in DeviceBatches(X, 8, True, gen)]) for _ in range(2)]
    for seen in epochs:
        assert len(seen) == 16 and len(set(seen[:, 0].tolist())) == 16  # 17 = 8 + 8 + 1: the 1 waits
    assert not torch.equal(epochs[0], epochs[1])
    ordered = torch.cat([b for b, _ in DeviceBatches(X, 8, False, None)])
    assert torch.equal(ordered, X)  # evaluation keeps every sample, in order


def test_contrastive_training_drops_the_small_last_batch():
    """Pretraining batches all have batch_size images (the loss scale depends on it); transform keeps all."""
    from sklearn_ssl import ContrastiveEmbedder

    X = torch.arange(20, dtype=torch.float32)[:, None]
    batches = [len(b) for b, _ in DeviceBatches(X, 8, True, torch.Generator().manual_seed(0), drop_last=True)]
    assert batches == [8, 8]  # 20 = 8 + 8 + 4: the 4 are left out of this epoch
    images = np.random.default_rng(0).normal(size=(20, 2, 8, 8)).astype(np.float32)
    emb = ContrastiveEmbedder(max_epochs=2, batch_size=8, random_state=0).fit(images)
    sizes = [b["train_batch_size"] for epoch in emb.net_.history for b in epoch["batches"]]
    assert sizes == [8, 8, 8, 8]
    assert emb.transform(images).shape[0] == 20


def test_processes_get_disjoint_equal_shards_of_the_same_permutation():
    X = torch.arange(21, dtype=torch.float32)[:, None]
    shards = [
        torch.cat([b for b, _ in DeviceBatches(X, 4, True, torch.Generator().manual_seed(1), rank=r, world=2)])
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 10  # 21 // 2 each, in batches of 4, 4 and 2
    assert not set(shards[0][:, 0].tolist()) & set(shards[1][:, 0].tolist())


def test_memmap_training_data_is_not_loaded_whole(tmp_path):
    from sklearn_ssl import ContrastiveEmbedder

    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(40, 2, 8, 8))
    X[:] = np.random.default_rng(0).normal(size=X.shape)
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    emb = ContrastiveEmbedder(max_epochs=1, batch_size=8, random_state=0).fit(X)
    Z = emb.transform(X)
    np.testing.assert_array_equal(Z, emb.transform(np.asarray(X)))


@pytest.mark.parametrize("shape", [(5, 3, 7, 7), (6, 2, 8, 8), (2, 1, 1, 1), (9, 4), (999, 2, 5, 5)])
def test_band_statistics_equal_the_direct_formulas(shape):
    """One partitioned copy per band gives exactly np.median, std and the trimmed std of the
    direct computation (odd and even sizes, too few values to trim, a dominated band)."""
    from sklearn_ssl._training import band_statistics

    rng = np.random.default_rng(0)
    X = rng.lognormal(size=shape) * rng.choice([-1, 1], size=shape)
    X.flat[rng.integers(X.size, size=2)] = 1e30 if X.size > 50 else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loc, scale = band_statistics(X)
    for band in range(shape[1]):
        values = X[:, band].ravel()
        k = max(1, int(1e-3 * values.size))
        expected = values.std()
        if values.size > 2 * k + 1:
            lo, hi = np.sort(values)[[k, values.size - 1 - k]]
            trimmed = values[(values >= lo) & (values <= hi)].std()
            expected = trimmed if not expected <= 10 * trimmed else expected
        assert loc[band] == np.median(values) and scale[band] == expected
