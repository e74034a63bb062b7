"""The private data path: device-resident and streamed batches, sharding across processes."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_ssl.engine._batches import DeviceBatches


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
    direct computation on the float32 values the model sees, in float64 (odd and even sizes,
    too few values to trim, a dominated band)."""
    from sklearn_ssl.engine._normalizer import band_statistics

    rng = np.random.default_rng(0)
    X = rng.lognormal(size=shape) * rng.choice([-1, 1], size=shape)
    X.flat[rng.integers(X.size, size=2)] = 1e30 if X.size > 50 else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loc, scale = band_statistics(X)
    for band in range(shape[1]):
        values = X[:, band].ravel().astype(np.float32).astype(np.float64)
        k = max(1, int(1e-3 * values.size))
        expected = values.std()
        if values.size > 2 * k + 1:
            lo, hi = np.sort(values)[[k, values.size - 1 - k]]
            trimmed = values[(values >= lo) & (values <= hi)].std()
            expected = trimmed if not expected <= 10 * trimmed else expected
        assert loc[band] == np.median(values) and scale[band] == expected


@pytest.mark.parametrize("estimator", ["embedder", "regressor"])
def test_float64_images_train_exactly_as_their_float32_values(estimator):
    """float64 input is converted to float32 a batch at a time, never whole, and the normaliser
    sees the same float32 values: the fitted model is the one float32 input gives, bit for bit
    (a 1e-9 difference in the normaliser moves AdamW's first steps by up to lr)."""
    from sklearn_ssl import ContrastiveEmbedder, FineTunedRegressor

    X32 = np.random.default_rng(0).normal(size=(40, 2, 8, 8)).astype(np.float32) * 3.3 + 0.1
    y = np.linspace(0.0, 1.0, 40)
    if estimator == "embedder":
        make = lambda: ContrastiveEmbedder(max_epochs=2, batch_size=16, projection_dim=8, random_state=0)  # noqa: E731
        a = make().fit(X32).transform(X32)
        b = make().fit(X32.astype(np.float64)).transform(X32.astype(np.float64))
    else:
        make = lambda: FineTunedRegressor(encoder="small", max_epochs=2, batch_size=16, random_state=0)  # noqa: E731
        a = make().fit(X32, y).predict(X32)
        b = make().fit(X32.astype(np.float64), y).predict(X32.astype(np.float64))
    np.testing.assert_array_equal(a.astype(np.float32), b.astype(np.float32))
