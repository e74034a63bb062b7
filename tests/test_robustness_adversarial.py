"""Robustness, round two: the cases an adversarial review found (issue 16).

Interrupts and SIGTERM, NaN losses in fine-tuning, sentinel pixels in the statistics,
truncated files, partial outputs, duplicated ids, versions and unsafe loads, misleading
errors, claims in the docs, checks before training. Each test failed on the code before
the fix (bb74f76).
"""

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import joblib
import sklearn
import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError

import sklearn_ssl
from sklearn_ssl import (ContrastiveEmbedder, FineTunedClassifier, PhotoZRegressor, SimilaritySearch, cli,
                         load_cutouts, save_cutouts)
from sklearn_ssl.engine._checkpoint import CHECKPOINT_FILE, load_checkpoint
from sklearn_ssl.io import load_images

ROOT = Path(__file__).resolve().parents[1]


def small(**params):
    return ContrastiveEmbedder(**{**dict(max_epochs=2, batch_size=16, projection_dim=8, random_state=0), **params})


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(32, 2, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(X):
    return small(max_epochs=1).fit(X)


def error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("sklearn-ssl: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- 1. Ctrl-C and SIGTERM stop fit; the CLI exits 130 / 143 and writes no model ---------------
class InterruptInEpoch(Callback):
    def __init__(self, epoch=3):
        self.epoch = epoch

    def on_batch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_fit_raises_after_the_checkpoint_and_leaves_the_embedder_unfitted(X, tmp_path):
    emb = small(max_epochs=3, checkpoint_dir=str(tmp_path), callbacks=[InterruptInEpoch(2)])
    with pytest.raises(KeyboardInterrupt):
        emb.fit(X)
    with pytest.raises(NotFittedError):
        emb.transform(X)
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert len(state["history"]) == 1  # epoch 1 was saved; epoch 2 was interrupted
    resumed = small(max_epochs=3, checkpoint_dir=str(tmp_path)).fit(X)
    assert len(resumed.net_.history) == 3


@pytest.mark.parametrize("cls, y", [(FineTunedClassifier, np.arange(32) % 2),
                                    (PhotoZRegressor, np.linspace(0.05, 0.3, 32))])
def test_interrupted_fine_tuning_raises_and_leaves_the_estimator_unfitted(X, cls, y):
    est = cls(None, max_epochs=3, batch_size=16, callbacks=[InterruptInEpoch(2)], random_state=0)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_pretrain_stopped_by_a_real_signal(tmp_path, X, sig, status):
    np.save(tmp_path / "X.npy", X)
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sklearn_ssl.cli", "pretrain", "--images", "X.npy", "--out", "model.joblib",
         "--max-epochs", "100000", "--batch-size", "16", "--projection-dim", "8", "--device", "cpu", "--quiet",
         "--checkpoint-dir", "ckpt"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        # a shell starts background jobs with SIGINT ignored, and children inherit it (then Python
        # installs no Ctrl-C handler): give the CLI the disposition of a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (ckpt / CHECKPOINT_FILE).exists():  # signal once a first epoch is safely saved
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == (
        f"sklearn-ssl: {'terminated (SIGTERM)' if sig == signal.SIGTERM else 'interrupted (Ctrl-C)'}; no output "
        "was written; the last checkpoint is in ckpt: run the same command again to resume from it")
    assert not (tmp_path / "model.joblib").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "ckpt"]  # no temporary model file
    assert os.listdir(ckpt) == [CHECKPOINT_FILE]
    assert len(torch.load(ckpt / CHECKPOINT_FILE, weights_only=True)["history"]) >= 1


# -- 2. fine-tuners stop on a non-finite loss ----------------------------------------------------
@pytest.mark.parametrize("cls, y", [(FineTunedClassifier, np.arange(32) % 2),
                                    (PhotoZRegressor, np.linspace(0.05, 0.3, 32))])
def test_fine_tuning_with_a_diverging_loss_stops_naming_the_epoch(X, cls, y):
    est = cls(None, lr=1e6, max_epochs=3, batch_size=16, random_state=0)
    with pytest.raises(FloatingPointError, match=r"training loss became nan in epoch \d.*lr=1000000"):
        est.fit(X, y)
    assert not hasattr(est, "net_")


# -- 3. a sentinel pixel does not wipe its band; float64 beyond float32 is an input error -------
def test_sentinel_pixel_does_not_wipe_the_band(X):
    poisoned = X.copy()
    poisoned[3, 0, 2, 2] = 1e30  # finite in float32, but its square overflows
    with pytest.warns(UserWarning, match=r"dominated by a few extreme pixels \(band 0"):
        emb = small(max_epochs=1).fit(poisoned)
    scale = emb.net_.normalizer_.scale.numpy()
    np.testing.assert_allclose(scale, X.std(axis=(0, 2, 3)), rtol=0.05)
    with pytest.warns(UserWarning, match="dominated by a few extreme pixels"):
        clf = FineTunedClassifier(None, max_epochs=1, batch_size=16, random_state=0).fit(poisoned, np.arange(32) % 2)
    np.testing.assert_allclose(clf.net_.module_.normalizer.scale.numpy(), X.std(axis=(0, 2, 3)), rtol=0.05)


def test_ordinary_images_keep_the_plain_standard_deviation(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = small(max_epochs=1).fit(X)
    np.testing.assert_allclose(emb.net_.normalizer_.scale.numpy(), X.astype(np.float64).std(axis=(0, 2, 3)),
                               rtol=1e-6)


def test_float64_beyond_float32_range_is_an_input_error(X):
    huge = X.astype(np.float64)
    huge[0, 0, 0, 0] = 1e300
    with pytest.raises(ValueError, match="1 values beyond float32's range"):
        small(max_epochs=1).fit(huge)


# -- 4. truncated FITS and .npz files: one error naming the file; skip mode skips ----------------
@pytest.fixture
def cutout_folder(tmp_path, X):
    folder = tmp_path / "cutouts"
    paths = save_cutouts(X[:3], folder, bands="gr", ids=["a", "b", "c"])
    with open(paths[1], "r+b") as fh:  # keep the header, cut the data short
        fh.truncate(2880 + 100)
    return folder


def test_truncated_fits_is_named_and_skippable(cutout_folder, tmp_path):
    with pytest.raises(ValueError, match=r"b\.fits: cannot be read as FITS .*truncated"):
        load_cutouts(cutout_folder)
    with pytest.warns(UserWarning, match=r"(?s)skipped 1 of 3.*b\.fits"):
        images, ids = load_cutouts(cutout_folder, on_error="skip")
    assert list(ids) == ["a", "c"] and images.shape == (2, 2, 8, 8)


def test_truncated_npz_is_named_in_the_library_and_the_cli(tmp_path, fitted, X, capsys):
    np.savez(tmp_path / "x.npz", images=X)
    data = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "x.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"x\.npz: cannot be read as images"):
        load_images(tmp_path / "x.npz")
    fitted.save(tmp_path / "m.joblib")
    assert cli.main(["embed", "--model", str(tmp_path / "m.joblib"), "--images", str(tmp_path / "x.npz"),
                     "--out", str(tmp_path / "e.npy")]) == 1
    assert "x.npz: cannot be read as images" in error_line(capsys.readouterr().err)
    assert not (tmp_path / "e.npy").exists()


def test_truncated_fits_folder_in_the_cli_is_one_line(cutout_folder, tmp_path, fitted, capsys):
    fitted.save(tmp_path / "m.joblib")
    assert cli.main(["embed", "--model", str(tmp_path / "m.joblib"), "--images", str(cutout_folder),
                     "--out", str(tmp_path / "e.npy")]) == 1
    assert "b.fits: cannot be read as FITS" in error_line(capsys.readouterr().err)


# -- 5. load_cutouts(out=...) leaves nothing partial ------------------------------------------
def test_load_cutouts_out_leaves_nothing_after_a_failure(cutout_folder, tmp_path):
    out = tmp_path / "images.npy"
    with pytest.raises(ValueError, match="b.fits"):
        load_cutouts(cutout_folder, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cutouts"]


def test_load_cutouts_out_holds_exactly_the_objects_read(cutout_folder, tmp_path, X):
    out = tmp_path / "images.npy"
    with pytest.warns(UserWarning, match="skipped 1"):
        images, ids = load_cutouts(cutout_folder, out=out, on_error="skip")
    on_disk = np.load(out)
    assert on_disk.shape == (2, 2, 8, 8)
    np.testing.assert_array_equal(on_disk, X[[0, 2]])
    np.testing.assert_array_equal(images, on_disk)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cutouts", "images.npy"]


# -- 6. duplicated ids are refused by evaluate ------------------------------------------------
@pytest.mark.parametrize("duplicated", ["catalogue", "embeddings"])
def test_evaluate_refuses_duplicated_ids(tmp_path, duplicated, capsys):
    rng = np.random.default_rng(0)
    ids = np.arange(40)
    emb_ids = np.r_[ids[:-1], 7] if duplicated == "embeddings" else ids
    pd.DataFrame({"id": emb_ids, **{f"emb{j}": rng.normal(size=40) for j in range(4)}}).to_csv(
        tmp_path / "e.csv", index=False)
    cat_ids = np.r_[ids, 7] if duplicated == "catalogue" else ids
    pd.DataFrame({"id": cat_ids, "label": cat_ids % 2}).to_csv(tmp_path / "cat.csv", index=False)
    assert cli.main(["evaluate", "--embeddings", str(tmp_path / "e.csv"), "--catalogue", str(tmp_path / "cat.csv"),
                     "--target", "label"]) == 1
    line = error_line(capsys.readouterr().err)
    assert "duplicated id" in line and "'7'" in line


# -- 7. versions are recorded and checked; an incomplete state is refused ---------------------
def test_saved_model_records_versions_and_warns_on_mismatch(fitted, tmp_path, monkeypatch):
    fitted.save(tmp_path / "m.joblib")
    state = joblib.load(tmp_path / "m.joblib").__getstate__()
    assert state["_sklearn_ssl_versions"] == {
        "sklearn-ssl": sklearn_ssl.__version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ContrastiveEmbedder.load(tmp_path / "m.joblib")
    monkeypatch.setattr(sklearn_ssl, "__version__", "99.0")
    monkeypatch.setattr(torch, "__version__", "0.1")
    with pytest.warns(InconsistentVersionWarning, match=r"saved with sklearn-ssl .* \(now 99.0\), torch .*now 0.1"):
        ContrastiveEmbedder.load(tmp_path / "m.joblib")


def test_incomplete_model_state_is_refused_when_loaded(X, tmp_path):
    emb = small(max_epochs=1).fit(X)
    del emb.embedding_dim_
    joblib.dump(emb, tmp_path / "m.joblib")
    with pytest.raises(ValueError, match=r"Incomplete ContrastiveEmbedder state.*embedding_dim_"):
        ContrastiveEmbedder.load(tmp_path / "m.joblib")


# -- 8. unsafe loads -------------------------------------------------------------------------
class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_a_pickle_payload_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    joblib.dump(Payload(str(marker)), tmp_path / "evil.joblib")
    with pytest.raises(ValueError, match="holds a os.makedirs, not a ContrastiveEmbedder"):
        ContrastiveEmbedder.load(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_checkpoints_are_read_without_running_code(X, tmp_path):
    marker = tmp_path / "payload-ran"
    torch.save({"fingerprint": Payload(str(marker))}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(ValueError, match="Cannot read the checkpoint"):
        small(checkpoint_dir=str(tmp_path)).fit(X)
    assert not marker.exists()


def test_trusted_source_warning_in_docstring_docs_and_cli_help(capsys):
    assert "trusted source" in ContrastiveEmbedder.load.__doc__
    assert "trusted source" in (ROOT / "docs" / "robustness.rst").read_text()
    for command in ("embed", "pretrain"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "trusted" in capsys.readouterr().out


# -- 9. errors name the right cause ----------------------------------------------------------
def test_zero_bands_is_named(X):
    with pytest.raises(ValueError, match="at least one band"):
        small().fit(np.zeros((4, 0, 8, 8), np.float32))


def test_negative_strides_are_copied(X):
    flipped = X[:, :, ::-1]
    a = small(max_epochs=1).fit(flipped)
    b = small(max_epochs=1).fit(np.ascontiguousarray(flipped))
    np.testing.assert_array_equal(a.transform(flipped), b.transform(np.ascontiguousarray(flipped)))


def test_nan_redshift_is_reported_as_nan(X):
    z = np.linspace(0.05, 0.3, 32)
    z[4] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite redshifts"):
        PhotoZRegressor(None, max_epochs=1).fit(X, z)


@pytest.mark.parametrize("content", [[1, 2, 3], {"fingerprint": None}])
def test_checkpoint_that_is_not_a_checkpoint_dict(tmp_path, content):
    torch.save(content, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(ValueError, match="is not a checkpoint written by ContrastiveEmbedder"):
        load_checkpoint(str(tmp_path / CHECKPOINT_FILE), {})


def test_unknown_device_is_a_clear_error(X, tmp_path, capsys):
    with pytest.raises(ValueError, match="device='tpu' cannot be used here"):
        small(device="tpu").fit(X)
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["pretrain", "--images", str(tmp_path / "X.npy"), "--out", str(tmp_path / "m.joblib"),
                     "--device", "tpu", "--quiet"]) == 1
    assert "device='tpu' cannot be used here" in error_line(capsys.readouterr().err)


def test_full_disk_and_read_only_folder_name_the_target(tmp_path, fitted, X, monkeypatch, capsys):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(joblib, "dump", no_space)
    with pytest.raises(OSError, match=r"cannot write .*m\.joblib \(No space left on device\)"):
        fitted.save(tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["pretrain", "--images", str(tmp_path / "X.npy"), "--out", str(tmp_path / "m.joblib"),
                     "--max-epochs", "1", "--batch-size", "16", "--device", "cpu", "--quiet"]) == 1
    line = error_line(capsys.readouterr().err)
    assert line.endswith(f"cannot write {tmp_path / 'm.joblib'} (No space left on device)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]
    monkeypatch.undo()

    def read_only(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, ".m.joblib.x1y2.tmp.joblib"))

    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(PermissionError, match=r"cannot write .*m\.joblib \(Permission denied\)") as info:
        fitted.save(tmp_path / "m.joblib")
    assert ".tmp" not in str(info.value)


def test_save_cutouts_to_a_read_only_folder_names_the_folder(tmp_path, monkeypatch):
    import tempfile

    from sklearn_ssl import save_cutouts

    def read_only(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, ".x1y2.fits.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(PermissionError, match=r"cannot write cutouts to .* \(Permission denied\)") as info:
        save_cutouts(np.ones((2, 3, 8, 8), np.float32), tmp_path, "gri")
    assert str(tmp_path) in str(info.value) and ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_kneighbors_beyond_the_index_is_a_clear_error():
    Z = np.random.default_rng(0).normal(size=(5, 3))
    search = SimilaritySearch(n_neighbors=3).fit(Z)
    with pytest.raises(ValueError, match="n_neighbors=6 but only 5 indexed embeddings"):
        search.kneighbors(Z[:1], n_neighbors=6)
    with pytest.raises(ValueError, match="n_neighbors=5 but only 4 indexed embeddings"):
        search.kneighbors(n_neighbors=5)
    assert search.kneighbors(n_neighbors=4)[1].shape == (5, 4)


# -- 10. the reproducibility claim says what it depends on -------------------------------------
def test_reproducibility_claim_names_the_thread_count():
    text = " ".join((ROOT / "docs" / "robustness.rst").read_text().split())
    assert "torch.set_num_threads" in text and "same number of threads" in text


# -- 11. pretrain checks what it can before training -------------------------------------------
@pytest.mark.parametrize("target", ["out", "checkpoint"])
def test_pretrain_unwritable_target_fails_before_training(tmp_path, X, monkeypatch, capsys, target):
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "locked").mkdir()
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # the tests may run as root, which ignores chmod
        if dir is not None and Path(dir).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, ".x.tmp"))
        return real(*args, dir=dir, **kwargs)

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(ContrastiveEmbedder, "fit", no_training)
    out = tmp_path / ("locked" if target == "out" else ".") / "m.joblib"
    extra = ["--checkpoint-dir", str(tmp_path / "locked" / "ckpt")] if target == "checkpoint" else []
    assert cli.main(["pretrain", "--images", str(tmp_path / "X.npy"), "--out", str(out), "--quiet", *extra]) == 1
    line = error_line(capsys.readouterr().err)
    assert "Permission denied" in line and "locked" in line and ".tmp" not in line


def test_pretrain_non_finite_loss_is_one_line(tmp_path, X, monkeypatch, capsys):
    np.save(tmp_path / "X.npy", X)

    def diverging(self, X, y=None):
        raise FloatingPointError("The contrastive loss became nan in epoch 1.")

    monkeypatch.setattr(ContrastiveEmbedder, "fit", diverging)
    assert cli.main(["pretrain", "--images", str(tmp_path / "X.npy"), "--out", str(tmp_path / "m.joblib"),
                     "--quiet"]) == 1
    assert "became nan in epoch 1" in error_line(capsys.readouterr().err)
