"""One implementation of atomic writes (sklearn_ssl.utils._atomic), used by save, checkpoints and save_cutouts:
a failure or Ctrl-C in the middle of a write leaves neither a partial file nor a temporary one."""

import ast
import os
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from astropy.io import fits

import sklearn_ssl
from sklearn_ssl import ContrastiveEmbedder, save_cutouts
from sklearn_ssl.utils._atomic import atomic_path, atomic_paths
from sklearn_ssl.engine._checkpoint import atomic_torch_save

PACKAGE = Path(sklearn_ssl.__file__).parent
FAILURES = [OSError(28, "No space left on device"), KeyboardInterrupt()]


def half_written(path, exc):
    """A writer that leaves half a file at ``path`` (a path or an open file) and then fails with ``exc``."""
    if hasattr(path, "write"):
        path.write(b"half a file")
    else:
        Path(path).write_bytes(b"half a file")
    raise exc


@pytest.mark.parametrize("exc", FAILURES, ids=["disk-full", "ctrl-c"])
def test_failed_save_leaves_no_file(tmp_path, monkeypatch, exc):
    est = ContrastiveEmbedder()
    est.net_ = None  # what check_is_fitted looks at; the write itself is what fails here
    (tmp_path / "old.joblib").write_bytes(b"previous model")
    monkeypatch.setattr(joblib, "dump", lambda obj, path: half_written(path, exc))
    for name in ("m.joblib", "old.joblib"):
        with pytest.raises(type(exc)):
            est.save(tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == ["old.joblib"]
    assert (tmp_path / "old.joblib").read_bytes() == b"previous model"  # the previous file is kept


@pytest.mark.parametrize("exc", FAILURES, ids=["disk-full", "ctrl-c"])
def test_failed_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch, exc):
    path = tmp_path / "checkpoint.pt"
    atomic_torch_save({"epoch": 1}, str(path))
    monkeypatch.setattr(torch, "save", lambda obj, f: half_written(f, exc))
    with pytest.raises(type(exc)):
        atomic_torch_save({"epoch": 2}, str(path))
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}


@pytest.mark.parametrize("exc", FAILURES, ids=["disk-full", "ctrl-c"])
@pytest.mark.parametrize("layout", ["cube", "files"])
def test_failed_save_cutouts_leaves_no_file(tmp_path, monkeypatch, exc, layout):
    real, calls = fits.HDUList.writeto, []

    def fails_on_the_third(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            half_written(name, exc)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", fails_on_the_third)
    with pytest.raises(type(exc)):
        save_cutouts(np.ones((4, 3, 8, 8), np.float32), tmp_path, "gri", layout=layout)
    assert len(calls) == 3 and os.listdir(tmp_path) == []


def test_written_files_get_ordinary_permissions(tmp_path):
    """mkstemp makes private (0600) files; the targets get what open() would give (umask)."""
    mask = os.umask(0o022)
    try:
        paths = save_cutouts(np.ones((1, 2, 8, 8), np.float32), tmp_path, "gr")
        with atomic_path(tmp_path / "a.npy") as tmp:
            np.save(tmp, np.zeros(3))
    finally:
        os.umask(mask)
    assert {os.stat(p).st_mode & 0o777 for p in [*paths, tmp_path / "a.npy"]} == {0o644}


def test_several_targets_are_written_together_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
            a.write_text("a")
            raise RuntimeError("b failed")
    assert os.listdir(tmp_path) == []
    with pytest.raises(OSError, match=r"cannot write the pair \(No space"):
        with atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"], what="the pair") as (a, b):
            raise OSError(28, "No space left on device")
    with atomic_paths([tmp_path / "a.txt", tmp_path / "b.txt"]) as (a, b):
        a.write_text("a")
        b.write_text("b")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def _package_imports(module: str) -> set[str]:
    """Package modules that ``module`` imports anywhere in its source (function bodies included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())  # module: a path under the package
    return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}


def test_atomic_is_a_leaf_and_the_writers_do_not_go_through_the_cli_files():
    assert _package_imports("utils/_atomic") == set()
    for writer in ("estimators/_embedder", "engine/_checkpoint", "io/cutouts"):
        assert "_files" not in _package_imports(writer), writer  # the old cycle embedder -> _io -> embedder
