"""Robustness, round three: the cases the hostile matrix of issue 31 still broke.

Model files that ran code when loaded, divergence fitted silently, a reused checkpoint
folder resuming another data set, and the remaining messages (full disk while
checkpointing, a file as checkpoint_dir, truncated model files, blank catalogue ids,
feature counts of image models, Ctrl-C while the CLI starts). Each test failed on the
code before the fix (main at 5c2d010).
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
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

from sklearn_ssl import (ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor,
                         PhotoZRegressor, cli)
from sklearn_ssl.engine._checkpoint import CHECKPOINT_FILE

ROOT = Path(__file__).resolve().parents[1]


def small(**params):
    return ContrastiveEmbedder(**{**dict(max_epochs=1, batch_size=16, projection_dim=8, random_state=0), **params})


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(32, 2, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(X):
    return small().fit(X)


def error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("sklearn-ssl: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- 1. loading never runs a file's code before its type is known ------------------------------
class Payload:
    """Unpickling it creates the folder ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)


COMPRESSIONS = [0, 3, ("lzma", 3)]


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=["plain", "zlib", "lzma"])
@pytest.mark.parametrize("protocol", range(6))
def test_a_payload_file_is_refused_in_every_protocol_and_compression(tmp_path, protocol, compress):
    marker = tmp_path / "payload-ran"
    joblib.dump(Payload(str(marker)), tmp_path / "evil.joblib", protocol=protocol, compress=compress)
    with pytest.raises(ValueError, match="holds a os.makedirs, not a ContrastiveEmbedder; it was not unpickled"):
        ContrastiveEmbedder.load(tmp_path / "evil.joblib")
    assert not marker.exists()


@pytest.mark.parametrize("protocol, compress", [(0, 3), (2, 0), (5, ("lzma", 3))], ids=["0-zlib", "2-plain", "5-lzma"])
def test_a_payload_inside_an_embedder_is_refused(fitted, tmp_path, protocol, compress):
    marker = tmp_path / "payload-ran"
    fitted.extra_ = Payload(str(marker))  # the file starts with a genuine ContrastiveEmbedder
    try:
        joblib.dump(fitted, tmp_path / "evil.joblib", protocol=protocol, compress=compress)
    finally:
        del fitted.extra_
    with pytest.raises(ValueError, match=r"names os.makedirs, which a model file does not need"):
        ContrastiveEmbedder.load(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_a_payload_in_the_nets_own_pickle_is_refused(fitted, tmp_path):
    """skorch keeps the net's modules as a nested pickle (bytes) that its __setstate__ unpickles."""
    marker = tmp_path / "payload-ran"
    fitted.net_.criterion_.extra = Payload(str(marker))  # criterion_ is only in the nested pickle
    try:
        joblib.dump(fitted, tmp_path / "evil.joblib", compress=3)
    finally:
        del fitted.net_.criterion_.extra
    with pytest.raises(ValueError, match=r"names os.makedirs"):
        ContrastiveEmbedder.load(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_a_joblib_object_array_is_refused(fitted, tmp_path):
    """joblib reads the items of an object array with an unrestricted pickle.load."""
    marker = tmp_path / "payload-ran"
    fitted.extra_ = np.array([Payload(str(marker)), None], dtype=object)
    try:
        joblib.dump(fitted, tmp_path / "evil.joblib")
    finally:
        del fitted.extra_
    with pytest.raises(ValueError, match="object array"):
        ContrastiveEmbedder.load(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_the_cli_refuses_a_protocol_0_payload(tmp_path, X, capsys):
    marker = tmp_path / "payload-ran"
    joblib.dump(Payload(str(marker)), tmp_path / "evil.joblib", protocol=0)
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["embed", "--model", str(tmp_path / "evil.joblib"), "--images", str(tmp_path / "X.npy"),
                     "--out", str(tmp_path / "Z.npy")]) == 1
    assert "holds a os.makedirs" in error_line(capsys.readouterr().err)
    assert not marker.exists()


@pytest.mark.parametrize("protocol, compress", [(0, 0), (1, 3), (2, 0), (3, 3), (4, 0), (5, 0), (5, ("lzma", 3))],
                         ids=["0-plain", "1-zlib", "2-plain", "3-zlib", "4-plain", "5-plain", "5-lzma"])
def test_genuine_models_load_in_every_protocol_and_compression(fitted, X, tmp_path, protocol, compress):
    joblib.dump(fitted, tmp_path / "m.joblib", protocol=protocol, compress=compress)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = ContrastiveEmbedder.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


class OwnEncoder(torch.nn.Module):
    """A user-defined encoder: its module (this test module) is imported when the model is loaded."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def test_a_user_defined_encoder_loads_and_a_trusted_global_is_allowed(X, tmp_path):
    emb = small(encoder=OwnEncoder()).fit(X)
    emb.save(tmp_path / "m.joblib")
    np.testing.assert_array_equal(ContrastiveEmbedder.load(tmp_path / "m.joblib").transform(X), emb.transform(X))
    emb.extra_ = os.path.join  # a function the allow list does not know: loads once the user trusts it
    emb.save(tmp_path / "m.joblib")
    with pytest.raises(ValueError, match=r"trusted=\['posixpath.join'\]"):
        ContrastiveEmbedder.load(tmp_path / "m.joblib")
    assert ContrastiveEmbedder.load(tmp_path / "m.joblib", trusted=["posixpath.join"]).extra_ is os.path.join


@pytest.mark.parametrize("compress", [0, 3], ids=["plain", "zlib"])
def test_a_truncated_model_file_is_called_truncated(fitted, X, tmp_path, compress, capsys):
    joblib.dump(fitted, tmp_path / "m.joblib", compress=compress)
    data = (tmp_path / "m.joblib").read_bytes()
    (tmp_path / "m.joblib").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"from '.*m\.joblib': the file is truncated or corrupt, .*\(\w+"):
        ContrastiveEmbedder.load(tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["embed", "--model", str(tmp_path / "m.joblib"), "--images", str(tmp_path / "X.npy"),
                     "--out", str(tmp_path / "Z.npy")]) == 1
    line = error_line(capsys.readouterr().err)
    assert "the file is truncated or corrupt" in line and "()" not in line


# -- 2. divergence stops every torch estimator ------------------------------------------------
DIVERGING = [
    pytest.param(lambda: FineTunedClassifier(None, lr=1e6, max_epochs=3, batch_size=16, random_state=0),
                 np.arange(32) % 2, id="FineTunedClassifier"),
    pytest.param(lambda: FineTunedRegressor(None, lr=1e3, max_epochs=3, batch_size=16, random_state=0),
                 np.linspace(0.01, 0.39, 32), id="FineTunedRegressor"),
    pytest.param(lambda: PhotoZRegressor(None, lr=1e6, n_bins=20, max_epochs=3, batch_size=16, random_state=0),
                 np.linspace(0.05, 0.3, 32), id="PhotoZRegressor"),
    pytest.param(lambda: small(lr=1e6, max_epochs=3), None, id="ContrastiveEmbedder"),
    pytest.param(lambda: CrossModalEmbedder(lr=1e6, max_epochs=3, batch_size=16, random_state=0),
                 np.random.default_rng(1).normal(size=(32, 5)), id="CrossModalEmbedder"),
]


@pytest.mark.parametrize("make, y", DIVERGING)
def test_divergence_stops_fit_naming_epoch_and_lr(X, make, y):
    est = make()
    with pytest.raises(ValueError, match=r"Training diverged in epoch \d: .* \(lr=(1e\+06|1000)\)\. Lower the "
                                         r"learning rate \(e\.g\. lr=\d+\)"):
        est.fit(X, y)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]  # no fitted attribute left
    with pytest.raises(NotFittedError):
        est.transform(X) if hasattr(est, "transform") else est.predict(X)


def test_a_fine_tuned_probe_from_an_embedder_diverging_is_stopped(X, fitted):
    """The issue's ``FineTunedClassifier(emb, lr=1e6)``: 0.69 to 3.3e15 without a word."""
    with pytest.raises(ValueError, match="mean training loss grew to .* over 10000 times its starting value"):
        FineTunedClassifier(fitted, lr=1e6, max_epochs=3, batch_size=16, random_state=0).fit(X, np.arange(32) % 2)


def test_the_divergence_check_is_one_callback_shared_by_every_net(X, fitted):
    from sklearn_ssl.engine._divergence import DivergenceCheck

    fine = FineTunedClassifier(fitted, max_epochs=1, batch_size=16, random_state=0).fit(X, np.arange(32) % 2)
    cross = CrossModalEmbedder(max_epochs=1, batch_size=16, random_state=0).fit(X, np.ones((32, 3)))
    for net in (fitted.net_, fine.net_, cross.net_):
        names = [name for name, _ in net.callbacks_]
        assert isinstance(dict(net.callbacks_)["divergence_check"], DivergenceCheck)
        assert names.index("divergence_check") < names.index("print_log")


def test_ordinary_training_is_not_stopped(X):
    """A loss that falls, or a negative-free loss that starts below zero, is not divergence."""
    small(method="simsiam", max_epochs=2).fit(X[:16])
    FineTunedRegressor(None, max_epochs=2, batch_size=16, random_state=0).fit(X[:16], np.linspace(0, 1, 16))


# -- 3. a checkpoint resumes only the run that wrote it ----------------------------------------
def test_a_reused_checkpoint_dir_with_other_images_starts_afresh_with_a_warning(X, tmp_path):
    A, B = X[:16], (X[16:] + 5.0).astype(np.float32)  # same shape and size, other images (the 4.99)
    small(checkpoint_dir=str(tmp_path)).fit(A)
    with pytest.warns(UserWarning, match=r"other images of the same shape.*starts afresh.*resume='strict'"):
        b = small(checkpoint_dir=str(tmp_path)).fit(B)
    fresh = small().fit(B)
    np.testing.assert_array_equal(b.transform(B), fresh.transform(B))
    assert float(b.net_.normalizer_.loc[0]) == pytest.approx(float(fresh.net_.normalizer_.loc[0]))
    # the checkpoint is now B's: fitting B again resumes it without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = small(checkpoint_dir=str(tmp_path)).fit(B)
    np.testing.assert_array_equal(again.transform(B), fresh.transform(B))


def test_resume_strict_refuses_another_runs_checkpoint_and_keeps_it(X, tmp_path):
    small(max_epochs=2, checkpoint_dir=str(tmp_path)).fit(X)
    before = (tmp_path / CHECKPOINT_FILE).read_bytes()
    other = X[::-1].copy()  # the same images in another order: the sampled rows differ
    with pytest.raises(ValueError, match=r"other parameters or data \(other images of the same shape"):
        small(max_epochs=2, checkpoint_dir=str(tmp_path), resume="strict").fit(other)
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == before
    with pytest.raises(ValueError, match=r"parameters temperature=0.5 \(was 0.1\)"):
        small(max_epochs=2, checkpoint_dir=str(tmp_path), resume="strict", temperature=0.5).fit(X)


def test_resume_never_ignores_the_checkpoint(X, tmp_path):
    small(max_epochs=1, checkpoint_dir=str(tmp_path)).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = small(max_epochs=1, checkpoint_dir=str(tmp_path), resume="never").fit(X)
    assert len(emb.net_.history) == 1
    with pytest.warns(UserWarning, match="resume='never' is ignored without checkpoint_dir"):
        small(max_epochs=1, resume="never").fit(X)


# -- 4. the remaining cases --------------------------------------------------------------------
class _FullDisk:
    """A file whose writes fail with ENOSPC after ``limit`` bytes."""

    def __init__(self, fh, limit):
        self.fh, self.limit, self.written = fh, limit, 0

    def write(self, data):
        self.written += len(data)
        if self.written > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_a_full_disk_while_checkpointing_says_so_and_keeps_the_last_checkpoint(X, tmp_path, monkeypatch, capsys):
    from skorch.callbacks import Callback

    from sklearn_ssl.engine import _checkpoint

    class FillTheDisk(Callback):  # the disk fills up after the first checkpoint
        def on_epoch_begin(self, net, **kwargs):
            if len(net.history) == 2:
                monkeypatch.setattr(_checkpoint, "open", lambda path, mode: _FullDisk(open(path, mode), 100),
                                    raising=False)

    with pytest.raises(OSError, match=r"cannot write .*checkpoint\.pt \(No space left on device\)"):
        small(max_epochs=3, checkpoint_dir=str(tmp_path / "ck"), callbacks=[FillTheDisk()]).fit(X)
    assert os.listdir(tmp_path / "ck") == [CHECKPOINT_FILE]  # no temporary file left
    assert len(torch.load(tmp_path / "ck" / CHECKPOINT_FILE, weights_only=True)["history"]) == 1
    monkeypatch.setattr(_checkpoint, "open", lambda path, mode: _FullDisk(open(path, mode), 100), raising=False)
    np.save(tmp_path / "X.npy", X)
    assert cli.main(["pretrain", "--images", str(tmp_path / "X.npy"), "--out", str(tmp_path / "m.joblib"),
                     "--max-epochs", "1", "--batch-size", "16", "--device", "cpu", "--quiet",
                     "--checkpoint-dir", str(tmp_path / "ck2")]) == 1
    assert "No space left on device" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize("where", ["file", "inside a file"])
def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(X, tmp_path, where):
    (tmp_path / "x").write_text("not a folder")
    folder = tmp_path / "x" if where == "file" else tmp_path / "x" / "ck"

    from skorch.callbacks import Callback

    class Trained(Callback):
        def on_batch_begin(self, net, **kwargs):
            raise AssertionError("training started")

    with pytest.raises(ValueError, match=r"checkpoint_dir=.*(exists and is a file|is inside the file).*not a folder"):
        small(checkpoint_dir=str(folder), callbacks=[Trained()]).fit(X)


@pytest.mark.parametrize("blank", ["", np.nan])
def test_blank_catalogue_ids_are_reported_as_missing(tmp_path, blank, capsys):
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": [f"g{i}" for i in range(40)], **{f"emb{j}": rng.normal(size=40) for j in range(4)}}).to_csv(
        tmp_path / "e.csv", index=False)
    ids = np.array([f"g{i}" for i in range(40)], dtype=object)
    ids[[3, 9]] = blank
    pd.DataFrame({"id": ids, "label": np.arange(40) % 2}).to_csv(tmp_path / "cat.csv", index=False)
    assert cli.main(["evaluate", "--embeddings", str(tmp_path / "e.csv"), "--catalogue", str(tmp_path / "cat.csv"),
                     "--target", "label"]) == 1
    line = error_line(capsys.readouterr().err)
    assert "2 missing (blank) id(s), in data row(s) 4, 10" in line and "duplicated" not in line


def test_read_catalogue_reports_blank_ids_as_missing(tmp_path):
    from sklearn_ssl import read_catalogue

    pd.DataFrame({"id": ["a", None, "c", None]}).to_csv(tmp_path / "cat.csv", index=False)
    with pytest.raises(ValueError, match="2 missing"):
        read_catalogue(tmp_path / "cat.csv", id_column="id")


@pytest.mark.parametrize("as_frame", [False, True], ids=["array", "DataFrame"])
def test_flat_rows_given_to_an_image_model_are_named_as_such(fitted, X, as_frame):
    flat = X.reshape(len(X), -1)
    flat = pd.DataFrame(flat) if as_frame else flat
    with pytest.raises(ValueError, match=r"X has samples of shape \(128,\), but ContrastiveEmbedder was fitted on "
                                         r"images of shape \(2, 8, 8\).*X\.reshape\(-1, 2, 8, 8\).*ImageReshaper"):
        fitted.transform(flat)


def test_ctrl_c_while_the_cli_starts_exits_130_without_a_traceback(tmp_path):
    """SIGINT while torch is being imported (the console script imports sklearn_ssl.cli, then main)."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-c", "import sys; from sklearn_ssl.cli import main; sys.exit(main())",
         "embed", "--model", "m.joblib", "--images", "X.npy", "--out", "Z.npy"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's foreground job
    )
    try:
        seen = []
        for line in proc.stderr:  # -X importtime reports each module as it finishes
            seen.append(line)
            if "torch." in line:  # torch is being imported: signal now
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err = "".join(seen) + err
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("sklearn-ssl: interrupted (Ctrl-C)")
