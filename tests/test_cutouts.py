import os

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from sklearn_ssl.io import cutouts
from sklearn_ssl.io.cutouts import load_cutouts, read_catalogue, save_cutouts


@pytest.fixture
def cube(rng):
    return rng.normal(size=(3, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("layout", ["cube", "hdus", "files"])
def test_round_trip_all_layouts(tmp_path, cube, layout):
    paths = save_cutouts(cube, tmp_path, "gri", ids=["a", "b", "c"], layout=layout)
    x, ids = load_cutouts(paths, layout=layout)
    assert x.dtype == np.float32 and x.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(x, cube)
    assert ids.tolist() == ["a", "b", "c"]
    x, _ = load_cutouts(paths, bands="ig", layout=layout)  # reorder / select by header keyword
    np.testing.assert_array_equal(x, cube[:, [2, 0]])


@pytest.mark.parametrize("layout", ["cube", "hdus", "files"])
def test_folder_round_trip_every_layout(tmp_path, cube, layout):
    """Whatever save_cutouts writes, a folder read with the default layout='auto' gives back."""
    save_cutouts(cube, tmp_path, ["HSC-G", "HSC-R", "F150W"], ids=["a", "b_2", "c"], layout=layout)
    x, ids = load_cutouts(tmp_path)
    np.testing.assert_array_equal(x, cube)  # 3 objects of 3 bands, in the written order
    assert ids.tolist() == ["a", "b_2", "c"]
    x, _ = load_cutouts(tmp_path, bands=["F150W", "HSC-G"])
    np.testing.assert_array_equal(x, cube[:, [2, 0]])
    x, ids = load_cutouts(sorted(tmp_path.iterdir()))  # the same files as a flat list
    np.testing.assert_array_equal(x, cube)


def test_folder_layout_read_past_a_broken_first_file(tmp_path, cube):
    save_cutouts(cube, tmp_path, "gri", ids=["b", "c", "d"], layout="files")
    (tmp_path / "a_g.fits").write_text("truncated")  # sorts first
    with pytest.warns(UserWarning, match="a_g.fits"):
        x, ids = load_cutouts(tmp_path, on_error="skip")
    np.testing.assert_array_equal(x, cube)  # still 3 objects of 3 bands
    assert ids.tolist() == ["b", "c", "d"]


def test_cube_layout_refuses_a_file_per_band_file(tmp_path, cube):
    paths = save_cutouts(cube, tmp_path, "gri", layout="hdus")
    with pytest.raises(ValueError, match="holds 3 image HDUs .*layout='hdus'"):
        load_cutouts(paths, layout="cube")


def test_ambiguous_folder_is_an_error(tmp_path, cube):
    # 2-D files named <id>_<band>.fits without a FILTER keyword: per-band files or single-band images?
    for i in range(2):
        for j, b in enumerate("gri"):
            fits.PrimaryHDU(cube[i, j]).writeto(tmp_path / f"{i}_{b}.fits")
    with pytest.raises(ValueError, match="look like one file per band.*no 'FILTER' keyword"):
        load_cutouts(tmp_path)
    x, _ = load_cutouts(tmp_path, layout="cube")  # the user can say what they are
    assert x.shape == (6, 1, 8, 8)


def test_single_band_folder_and_unordered_band_files(tmp_path, cube):
    for i in range(3):  # single-band survey: 2-D images named like galaxy_001.fits
        fits.PrimaryHDU(cube[i, 0], fits.Header({"FILTER": "r"})).writeto(tmp_path / f"galaxy_{i:03d}.fits")
    x, ids = load_cutouts(tmp_path)
    np.testing.assert_array_equal(x, cube[:, :1])
    assert ids.tolist() == ["galaxy_000", "galaxy_001", "galaxy_002"]
    old = tmp_path / "old"
    old.mkdir()
    for i in range(2):  # per-band files written without the BANDS order
        for j, b in enumerate("gri"):
            fits.PrimaryHDU(cube[i, j], fits.Header({"FILTER": b})).writeto(old / f"{i}_{b}.fits")
    with pytest.raises(ValueError, match="do not record the band order.*--bands"):
        load_cutouts(old)
    x, ids = load_cutouts(old, bands="gri")
    np.testing.assert_array_equal(x, cube[:2])
    assert ids.tolist() == ["0", "1"]


def test_directory_and_memmap_output(tmp_path, cube):
    save_cutouts(cube, tmp_path / "d", "gri")
    x, ids = load_cutouts(tmp_path / "d", out=tmp_path / "big.npy")
    assert isinstance(x, np.memmap) or isinstance(x.base, np.memmap)
    np.testing.assert_array_equal(np.load(tmp_path / "big.npy", mmap_mode="r"), cube)
    assert ids.tolist() == ["0", "1", "2"]


def test_unnamed_bands_use_given_order(tmp_path, cube):
    fits.PrimaryHDU(cube[0]).writeto(tmp_path / "x.fits")
    x, ids = load_cutouts([tmp_path / "x.fits"], bands="gri")
    np.testing.assert_array_equal(x[0], cube[0])
    assert ids.tolist() == ["x"]
    with pytest.raises(ValueError, match=r"x.fits: holds 3 band\(s\) without band names"):
        load_cutouts([tmp_path / "x.fits"], bands="gr")


def test_unreadable_file_named(tmp_path, cube):
    paths = save_cutouts(cube, tmp_path, "gri")
    bad = tmp_path / "broken.fits"
    bad.write_text("not a fits file")
    with pytest.raises(ValueError, match=r"broken.fits: cannot be read as FITS"):
        load_cutouts(paths + [str(bad)])
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 object\(s\):\n  .*broken.fits"):
        x, ids, skipped = load_cutouts(paths + [str(bad)], on_error="skip", return_skipped=True)
    assert x.shape == (3, 3, 8, 8) and skipped[0][0] == str(bad)


def test_missing_band_named(tmp_path, cube):
    paths = save_cutouts(cube, tmp_path, "gri", layout="hdus")
    with pytest.raises(ValueError, match=r"0.fits: missing band\(s\) \['z'\] \(found \['g', 'r', 'i'\]\)"):
        load_cutouts(paths, bands="grz", layout="hdus")


def test_size_mismatch_named(tmp_path, cube):
    p1 = save_cutouts(cube, tmp_path, "gri", ids=["a", "b", "c"])
    p2 = save_cutouts(cube[:1, :, :6, :6], tmp_path, "gri", ids=["small"])
    with pytest.raises(ValueError, match=r"small.fits: cutout shape \(3, 6, 6\).*differs from \(3, 8, 8\)"):
        load_cutouts(p1 + p2)
    with pytest.warns(UserWarning, match="small.fits"):
        x, ids = load_cutouts(p1 + p2, on_error="skip")
    assert ids.tolist() == ["a", "b", "c"]


def test_band_size_mismatch_between_files(tmp_path, cube):
    paths = save_cutouts(cube[:1], tmp_path, "gr" "i", layout="files")
    fits.PrimaryHDU(np.zeros((5, 5), np.float32), fits.Header({"FILTER": "i"})).writeto(
        paths[0][2], overwrite=True)
    with pytest.raises(ValueError, match=r"0_g.fits, .*0_i.fits: bands have different sizes"):
        load_cutouts(paths, layout="files")


def test_argument_errors(tmp_path, cube):
    with pytest.raises(ValueError, match="layout='stack' is not one of"):
        load_cutouts([tmp_path], layout="stack")
    with pytest.raises(ValueError, match="on_error='ignore' must be"):
        load_cutouts([tmp_path], on_error="ignore")
    with pytest.raises(ValueError, match="contains no .fits files"):
        load_cutouts(tmp_path)
    with pytest.raises(ValueError, match="one sequence of per-band files per object"):
        load_cutouts(["a.fits", ["b_g.fits"]], layout="files")
    with pytest.raises(ValueError, match=r"images must have shape \(n, C, H, W\)"):
        save_cutouts(cube[0], tmp_path, "gri")
    with pytest.raises(ValueError, match="must name each of the 3 channels once"):
        save_cutouts(cube, tmp_path, "gr")
    with pytest.raises(ValueError, match="ids must be unique and use only"):
        save_cutouts(cube, tmp_path, "gri", ids=["a", "b/c", "d"])


def test_existing_files_refused_and_no_partial_output(tmp_path, cube, monkeypatch):
    save_cutouts(cube, tmp_path, "gri")
    with pytest.raises(ValueError, match=r"0.fits: already exists \(3 target file\(s\) do\)"):
        save_cutouts(cube, tmp_path, "gri")
    out = tmp_path / "new"
    calls = {"n": 0}
    real = fits.HDUList.writeto

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(fits.HDUList, "writeto", flaky)
    with pytest.raises(OSError, match="disk full"):
        save_cutouts(cube, out, "gri")
    assert os.listdir(out) == []  # neither finished nor temporary files are left


def test_read_catalogue_csv_and_fits(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "z": [0.1, 0.2]})
    df.to_csv(tmp_path / "c.csv", index=False)
    pd.testing.assert_frame_equal(read_catalogue(tmp_path / "c.csv", id_column="id"), df)
    Table.from_pandas(df).write(tmp_path / "c.fits")
    got = read_catalogue(tmp_path / "c.fits")
    assert got["z"].tolist() == [0.1, 0.2]
    with pytest.raises(ValueError, match=r"c.csv: no column 'objid'"):
        read_catalogue(tmp_path / "c.csv", id_column="objid")
    pd.DataFrame({"id": [1, 1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match="duplicated ids"):
        read_catalogue(tmp_path / "d.csv", id_column="id")
    (tmp_path / "bad.fits").write_text("nope")
    with pytest.raises(ValueError, match="bad.fits: cannot be read as a catalogue"):
        read_catalogue(tmp_path / "bad.fits")


def test_module_exports():
    assert set(cutouts.__all__) == {"load_cutouts", "save_cutouts", "read_catalogue"}
