"""Collections larger than memory: HDF5 datasets and memmaps read a batch at a time, and
FITS folders / HDF5 files converted once to a .npy memmap (library and ``sklearn-ssl convert``)."""

import os
import warnings

import numpy as np
import pytest

from sklearn_ssl import ContrastiveEmbedder, cli, save_cutouts
from sklearn_ssl.engine import _disk
from sklearn_ssl.engine._disk import DiskRows, is_disk_backed, mapped_hdf5, read_ahead, read_rows
from sklearn_ssl.io.storage import convert_images, ids_path, open_images

h5py = pytest.importorskip("h5py")

KW = dict(max_epochs=1, batch_size=16, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return np.abs(rng.standard_normal((40, 3, 12, 12))).astype("float32")


@pytest.fixture(scope="module")
def files(images, tmp_path_factory):
    d = tmp_path_factory.mktemp("storage")
    np.save(d / "x.npy", images)
    with h5py.File(d / "x.h5", "w") as f:
        f["images"] = images
        f["ids"] = np.arange(1000, 1000 + len(images))
        f["counts"] = (images * 100).astype("int16")
        f.create_dataset("chunked", data=images, chunks=(8, 3, 12, 12), compression="gzip")
    return d


@pytest.fixture(scope="module")
def reference(images):
    model = ContrastiveEmbedder(**KW).fit(images)
    return model, model.transform(images)


@pytest.mark.parametrize("kind", ["memmap", "h5", "h5-chunked"])
def test_fit_and_transform_on_disk_equal_in_memory(files, images, reference, kind):
    """Same seed, same shuffles and augmentation draws: the disk path changes nothing."""
    if kind == "memmap":
        X = np.load(files / "x.npy", mmap_mode="r")
    else:
        X = h5py.File(files / "x.h5", "r")["images" if kind == "h5" else "chunked"]
    model = ContrastiveEmbedder(**KW).fit(X)
    assert model.input_shape_ == (3, 12, 12) and model.n_features_in_ == 3
    np.testing.assert_array_equal(model.transform(X), reference[1])
    np.testing.assert_array_equal(reference[0].transform(X), reference[1])


def test_hdf5_reads_are_bounded_by_the_batch(files, images, monkeypatch):
    """Training epochs and transform read the HDF5 dataset a batch at a time; the only other
    reads are fixed whatever the number of epochs: the finiteness check's chunks of at most
    SCAN_BYTES, the normaliser's strided sample one band at a time, the collapse check's 512
    images at most. (A chunked dataset: a contiguous one is read through a memory map.)"""
    X = h5py.File(files / "x.h5", "r")["chunked"]
    monkeypatch.setattr(_disk, "SCAN_BYTES", 10 * images[0].nbytes)  # the finiteness check: 10 images a read
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, index, *args, **kwargs):
        out = original(self, index, *args, **kwargs)
        reads.append(out.shape)
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    model = ContrastiveEmbedder(**{**KW, "max_epochs": 2}).fit(X)
    scan, bands, batches, collapse = reads[:4], reads[4:7], reads[7:-1], reads[-1]
    assert scan == [(10, 3, 12, 12)] * 4 and bands == [(40, 12, 12)] * 3  # one band of the sample a read
    assert batches == [(16, 3, 12, 12)] * 4 and collapse == (40, 3, 12, 12)  # 40 = 16 + 16 (+ 8 dropped) an epoch
    reads.clear()
    model.transform(X)
    assert [r[0] for r in reads] == [10, 10, 10, 10, 16, 16, 8]  # finiteness chunks, then batches


def test_normaliser_statistics_of_hdf5_need_about_two_band_samples(tmp_path, monkeypatch):
    """The per-band statistics of an HDF5 dataset equal those of the same array in memory and
    allocate at most 2.5 times one band's sample in float64 (tracemalloc): no copy of the
    sample's other bands (the old path copied the whole float32 sample, then held the band,
    a median copy, a partitioned copy and the trimmed values: about 5.5 band samples here).
    For data on disk the sample is capped at SAMPLE_VALUES_ON_DISK values per band."""
    import tracemalloc

    from sklearn_ssl.engine import _normalizer

    rng = np.random.default_rng(1)
    images = rng.lognormal(size=(600, 3, 16, 16)).astype("float32")
    images[5, 1, 3, 3] = 3e38  # a dominated band: the trimmed path is exercised too
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["images"] = images
    X = h5py.File(tmp_path / "s.h5", "r")["images"]
    for cap, step in [(1 << 21, 1), (100 * 256, 6)]:  # default: all 600 images; capped: 100 of them
        monkeypatch.setattr(_normalizer, "SAMPLE_VALUES_ON_DISK", cap)
        assert _normalizer.sample_step(X) == step and _normalizer.sample_step(images) == 1  # in memory: unchanged
        band_bytes = len(images[::step]) * 16 * 16 * 8
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tracemalloc.start()
            try:
                norm = _normalizer.fit_normalizer(X, "standard")
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            loc, scale = _normalizer.band_statistics(images[::step])
        assert peak <= 2.5 * band_bytes, (peak, band_bytes)
        np.testing.assert_array_equal(norm.loc.numpy(), loc.astype("float32"))
        np.testing.assert_array_equal(norm.scale.numpy(), scale.astype("float32"))


def test_contiguous_hdf5_is_read_through_a_memory_map(files, images, monkeypatch, tmp_path):
    """A contiguous dataset's batches come from a memmap of its bytes (no h5py selection per
    batch), with the same model and embeddings; chunked, compressed datasets stay on h5py."""
    with h5py.File(files / "x.h5", "r") as f:
        mapped = mapped_hdf5(f["images"])
        assert isinstance(mapped, np.memmap) and mapped.shape == images.shape
        np.testing.assert_array_equal(mapped, images)
        chunked = f["chunked"]
        assert mapped_hdf5(chunked) is chunked and mapped_hdf5(images) is images
        assert isinstance(mapped_hdf5(f["counts"]), np.memmap)  # int16: converted per batch
    with h5py.File(tmp_path / "open.h5", "w") as f:  # open for writing: data may not be on disk yet
        f["images"] = images
        assert not isinstance(mapped_hdf5(f["images"]), np.memmap)
    X = h5py.File(files / "x.h5", "r")["images"]
    reads = []
    original = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, i: reads.append(i) or original(self, i))
    model = ContrastiveEmbedder(**KW).fit(X)
    Z = model.transform(X)
    assert not any(isinstance(i, np.ndarray) for i in reads)  # no per-batch index selections
    assert sum(i == slice(0, 16) for i in reads) == 0  # transform batches read through the map
    np.testing.assert_array_equal(Z, ContrastiveEmbedder(**KW).fit(images).transform(images))


def test_integer_hdf5_gives_float32_embeddings_equal_to_in_memory(files, images):
    X = h5py.File(files / "x.h5", "r")["counts"]
    Z = ContrastiveEmbedder(**KW).fit(X).transform(X)
    assert Z.dtype == np.float32
    counts = (images * 100).astype("int16")
    np.testing.assert_array_equal(Z, ContrastiveEmbedder(**KW).fit(counts).transform(counts))


def test_lazy_input_errors_name_the_problem(tmp_path, reference):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        bad = np.ones((6, 3, 12, 12), "float32")
        bad[2, 0, 1, 1] = np.nan
        f["nan"] = bad
        f["small"] = np.ones((6, 3, 8, 8), "float32")
        f["three_d"] = np.ones((6, 12, 12), "float32")
    with h5py.File(tmp_path / "bad.h5", "r") as f:
        with pytest.raises(ValueError, match="NaN or infinity"):
            ContrastiveEmbedder(**KW).fit(f["nan"])
        with pytest.raises(ValueError, match=r"fitted on samples of shape \(3, 12, 12\)"):
            reference[0].transform(f["small"])
        with pytest.raises(ValueError, match="Expected images of shape"):
            ContrastiveEmbedder(**KW).fit(f["three_d"])


def test_read_rows_and_read_ahead(files, images):
    X = h5py.File(files / "x.h5", "r")["images"]
    idx = np.array([9, 2, 30, 3])
    np.testing.assert_array_equal(read_rows(X, idx), images[idx])  # h5py needs increasing indices
    rows = DiskRows(np.load(files / "x.npy", mmap_mode="r"))
    assert is_disk_backed(rows.X) and not is_disk_backed(images)
    assert len(rows) == 40 and rows.index_select(0, __import__("torch").tensor([5, 1])).shape == (2, 3, 12, 12)
    assert list(read_ahead(lambda i: i * i, range(7), depth=3)) == [i * i for i in range(7)]
    gen = read_ahead(lambda i: i, range(100))
    assert next(gen) == 0
    gen.close()  # stopping early ends the thread without error


def test_open_images_and_convert_hdf5(files, images, tmp_path):
    X, ids = open_images(files / "x.h5")
    assert X.shape == images.shape and ids[0] == 1000
    Y, ids2 = convert_images(files / "x.h5", tmp_path / "y.npy", key="chunked", chunk_size=16, progress=False)
    assert isinstance(Y, np.memmap) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y, images)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(np.load(ids_path(tmp_path / "y.npy")), ids)
    with pytest.raises(ValueError, match="no dataset 'nope'"):
        open_images(files / "x.h5", key="nope")


def test_convert_fits_folder_in_chunks_with_skips(images, tmp_path):
    folder = tmp_path / "cutouts"
    save_cutouts(images[:10], folder, bands="gri", ids=[f"g{i:02d}" for i in range(10)])
    (folder / "g03.fits").write_bytes(b"not a fits file")
    out = tmp_path / "c.npy"
    with pytest.warns(UserWarning, match="skipped 1"):
        X, ids = convert_images(folder, out, bands="gri", on_error="skip", chunk_size=4, progress=False)
    keep = [i for i in range(10) if i != 3]
    assert X.shape == (9, 3, 12, 12) and list(ids) == [f"g{i:02d}" for i in keep]
    np.testing.assert_array_equal(X, images[keep])
    np.testing.assert_array_equal(np.load(out), images[keep])  # the header was rewritten to 9 rows
    # the default is to stop at the bad file and leave nothing behind
    with pytest.raises(ValueError, match="g03.fits"):
        convert_images(folder, tmp_path / "d.npy", bands="gri", chunk_size=4, progress=False)
    assert not any(p.name.startswith((".d.npy", "d.")) for p in tmp_path.iterdir())


def test_convert_checks_band_order_across_chunks(images, tmp_path):
    folder = tmp_path / "mixed"
    save_cutouts(images[:3], folder, bands="gri", ids=["a", "b", "c"])
    save_cutouts(images[3:4], folder, bands="rgi", ids=["d"])
    with pytest.raises(ValueError, match="band order"):
        convert_images(folder, tmp_path / "m.npy", chunk_size=2, progress=False)
    assert not (tmp_path / "m.npy").exists()


def test_cli_convert_then_pretrain_and_embed_with_ids(images, tmp_path, capsys):
    save_cutouts(images[:20], tmp_path / "cut", bands="gri", ids=[f"o{i}" for i in range(20)])
    out = tmp_path / "all.npy"
    assert cli.main(["convert", str(tmp_path / "cut"), str(out), "--bands", "gri", "--chunk-size", "8",
                     "--quiet"]) == 0
    assert "converted 20 images" in capsys.readouterr().out
    model = tmp_path / "m.joblib"
    assert cli.main(["pretrain", "--images", str(out), "--out", str(model), "--epochs", "1", "--batch-size", "8",
                     "--device", "cpu", "--quiet"]) == 0
    assert cli.main(["embed", "--model", str(model), "--images", str(out), "--out", str(tmp_path / "z.csv")]) == 0
    import pandas as pd

    assert list(pd.read_csv(tmp_path / "z.csv")["id"][:2]) == ["o0", "o1"]


def test_cli_convert_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["convert", str(tmp_path / "missing"), str(tmp_path / "x.npy"), "--quiet"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["convert", str(tmp_path), str(tmp_path / "x.csv"), "--quiet"]) == 1
    assert "must be a .npy file" in capsys.readouterr().err
    assert cli.main(["convert", str(tmp_path), str(tmp_path / "x.npy"), "--quiet"]) == 1
    assert "contains no FITS files" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.npy")


def test_cli_pretrain_reads_hdf5(files, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert cli.main(["pretrain", "--images", str(files / "x.h5"), "--out", str(tmp_path / "m.joblib"),
                         "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--quiet"]) == 0
    assert cli.main(["embed", "--model", str(tmp_path / "m.joblib"), "--images", str(files / "x.h5"),
                     "--out", str(tmp_path / "z.parquet")]) == 0
    import pandas as pd

    assert pd.read_parquet(tmp_path / "z.parquet")["id"].iloc[0] == 1000
