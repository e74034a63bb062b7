"""Every input path reaches every torch estimator the same way (issue 28, item 1).

float32 in memory is the reference. float64 and uint8 in memory, an ``.npy`` memmap, a
contiguous and a chunked HDF5 dataset and a Dask array must give the model of the same
values in float32, bit for bit, with and without catalogue E(B-V); and the side channels
that travel with a batch's row indices (E(B-V) into the reddening augmentation, MoCo's
own-image mask) must be *used* on every path, which the spies below record.
"""

import numpy as np
import pytest
import torch

from sklearn_ssl import ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor, PhotoZRegressor
from sklearn_ssl.augment import GalacticReddening, RandomRotation
from sklearn_ssl.engine._methods import METHODS

h5py = pytest.importorskip("h5py")
da = pytest.importorskip("dask.array")

N, SHAPE = 24, (5, 8, 8)
SEEN_EBV: list = []


class SpyReddening(GalacticReddening):
    """Records the catalogue E(B-V) each training batch is given (None when it gets none)."""

    def forward(self, x, generator=None, ebv=None, **kw):
        SEEN_EBV.append(None if ebv is None else ebv.detach().cpu().numpy().copy())
        return super().forward(x, generator=generator, ebv=ebv, **kw)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 200, (N, *SHAPE), dtype=np.uint8)  # exact in float32 and float64
    ref = counts.astype(np.float32) / 64.0  # powers of two: float64 and uint8/64 agree exactly
    d = tmp_path_factory.mktemp("paths")
    np.save(d / "x.npy", ref)
    with h5py.File(d / "x.h5", "w") as f:
        f["contiguous"] = ref
        f.create_dataset("chunked", data=ref, chunks=(5, *SHAPE), compression="gzip")
    h5 = h5py.File(d / "x.h5", "r")
    paths = {
        "float32": ref,
        "float64": ref.astype(np.float64),
        "memmap": np.load(d / "x.npy", mmap_mode="r"),
        "hdf5": h5["contiguous"],
        "hdf5-chunked": h5["chunked"],
        "dask": da.from_array(ref, chunks=(7, *SHAPE)),
    }
    y_class = np.arange(N) % 2
    y_z = np.linspace(0.02, 0.3, N)
    spectra = rng.normal(size=(N, 6))
    ebv = (np.arange(N) + 1) / 1000.0  # row i carries (i + 1) / 1000
    yield dict(paths=paths, ref=ref, y_class=y_class, y_z=y_z, spectra=spectra, ebv=ebv, counts=counts)
    h5.close()


def _aug():
    return [SpyReddening("sdss"), RandomRotation()]


KW = dict(max_epochs=2, batch_size=8, random_state=0, device="cpu")
ESTIMATORS = {
    "simclr": lambda: ContrastiveEmbedder(method="simclr", augmentations=_aug(), projection_dim=8, **KW),
    "moco": lambda: ContrastiveEmbedder(method="moco", augmentations=_aug(), projection_dim=8, queue_size=16, **KW),
    "byol": lambda: ContrastiveEmbedder(method="byol", augmentations=_aug(), projection_dim=8, **KW),
    "simsiam": lambda: ContrastiveEmbedder(method="simsiam", augmentations=_aug(), projection_dim=8, **KW),
    "crossmodal": lambda: CrossModalEmbedder(augmentations=_aug(), n_components=8, **KW),
    "finetune-classifier": lambda: FineTunedClassifier(None, augmentations=_aug(), **KW),
    "finetune-regressor": lambda: FineTunedRegressor(None, augmentations=_aug(), **KW),
    "photoz": lambda: PhotoZRegressor(None, n_bins=10, augmentations=_aug(), **KW),
}
TAKES_EBV = {"simclr", "moco", "byol", "simsiam", "finetune-classifier", "finetune-regressor", "photoz"}


def _fit(name, X, data, ebv):
    est = ESTIMATORS[name]()
    kw = {} if ebv is None else {"ebv": ebv}
    if name == "crossmodal":
        return est.fit(X, data["spectra"])
    if name == "finetune-classifier":
        return est.fit(X, data["y_class"], **kw)
    if name in ("finetune-regressor", "photoz"):
        return est.fit(X, data["y_z"], **kw)
    return est.fit(X, **kw)


def _output(est, X):
    with torch.no_grad():
        if hasattr(est, "transform"):
            return est.transform(X)
        return est.predict(X)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("with_ebv", [False, True], ids=["no-ebv", "ebv"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_every_input_path_gives_the_float32_model_bit_for_bit(data, name, with_ebv):
    if with_ebv and name not in TAKES_EBV:
        pytest.skip("the cross-modal embedder takes no catalogue E(B-V)")
    ebv = data["ebv"] if with_ebv else None
    ref = data["ref"]
    SEEN_EBV.clear()
    reference = _output(_fit(name, ref, data, ebv), ref)
    ref_seen = [None if v is None else v.copy() for v in SEEN_EBV]
    if with_ebv:  # E(B-V) reached the augmentation, each batch its own rows
        assert ref_seen and all(v is not None for v in ref_seen)
        assert set(np.rint(np.concatenate(ref_seen) * 1000).astype(int) - 1) <= set(range(N))
    for path, X in data["paths"].items():
        SEEN_EBV.clear()
        model = _fit(name, X, data, ebv)
        assert len(SEEN_EBV) == len(ref_seen), path
        for got, want in zip(SEEN_EBV, ref_seen):
            if want is None:
                assert got is None, f"{path}: E(B-V) appeared where float32 had none"
            else:
                assert got is not None, f"{path}: the catalogue E(B-V) was dropped on this input path"
                np.testing.assert_array_equal(got, want, err_msg=path)
        np.testing.assert_array_equal(_output(model, X), reference, err_msg=f"{name} on {path}")


def test_uint8_counts_train_as_their_float32_values(data):
    """Integer images are converted, not rescaled: uint8 counts give the model of their float32 values."""
    counts = data["counts"]
    want = _output(_fit("simclr", counts.astype(np.float32), data, None), counts.astype(np.float32))
    np.testing.assert_array_equal(_output(_fit("simclr", counts, data, None), counts), want)


@pytest.mark.parametrize("path", ["float32", "memmap", "hdf5-chunked", "dask"])
def test_moco_masks_a_querys_own_image_on_every_path(data, path, monkeypatch):
    """MoCo's loss is given each batch's row indices on every path (its own-image mask)."""
    seen = []
    moco = METHODS["moco"]
    real_forward = moco.forward

    def spy(self, v1, v2, step):
        seen.append(None if step.index is None else step.index.detach().cpu().numpy().copy())
        return real_forward(self, v1, v2, step)

    monkeypatch.setattr(moco, "forward", spy)
    _fit("moco", data["paths"][path], data, None)
    assert seen and all(index is not None for index in seen), "MoCo trained without its batches' indices"
    assert sorted(np.concatenate(seen[:N // 8]).tolist()) == list(range(N))  # first epoch: every row once
