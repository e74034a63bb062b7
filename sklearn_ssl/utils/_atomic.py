"""Atomic writes: every file the package writes appears complete under its name, or not at all.

A writer is given hidden temporary paths next to its targets (same folder, so the final
:func:`os.replace` is a rename on one file system) and the temporaries are moved onto
the targets only once the writer returned; on any exception, KeyboardInterrupt
included, they are removed and the exception is re-raised, naming the target rather than
the temporary file. Saving an estimator, checkpoints, ``save_cutouts``, ``load_cutouts(out=)``,
the command line's outputs and the report folder all go through here.

A leaf module: it imports nothing from the package, so any module may use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_paths", "atomic_dir"]


def file_suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else path.suffix.lower()


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _naming(exc: OSError, what) -> OSError:
    """``exc`` reworded to name ``what`` (a target) rather than the hidden temporary file it was about."""
    if not isinstance(exc, OSError) or exc.errno is None:
        return exc
    return OSError(exc.errno, f"cannot write {what} ({exc.strerror or exc})")


def _default_mode(directory=False) -> int:
    """Permissions a plain open()/mkdir() would give (mkstemp/mkdtemp make private ones)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


@contextlib.contextmanager
def atomic_paths(targets, what=None):
    """Yield one temporary path per target (next to it); move each onto its target on success only.

    Parameters
    ----------
    targets : sequence of str or path
        The files to write. Each temporary keeps its target's suffix (some writers look
        at it).
    what : str or None
        How an OSError names the output (``"cannot write <what> (...)"``); default the
        target, or the folder when there are several targets.

    All temporaries are written before any is renamed, so a failure while writing leaves
    every target as it was; the renames themselves are not one transaction.
    """
    targets = [Path(t) for t in targets]
    if what is None:
        what = targets[0] if len(targets) == 1 else _folder(targets[0]) if targets else "."
    temps: list[str] = []
    try:
        for target in targets:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + file_suffix(target),
                                       dir=_folder(target))
            os.close(fd)
            temps.append(tmp)
    except BaseException as exc:
        _remove(temps)
        if isinstance(exc, OSError):  # e.g. a read-only folder: name the target, not the temporary file
            raise _naming(exc, what) from exc
        raise
    try:
        yield [Path(tmp) for tmp in temps]
        mode = _default_mode()
        for tmp in temps:
            os.chmod(tmp, mode)
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
    except BaseException as exc:
        _remove(temps)
        if isinstance(exc, OSError) and exc.errno is not None and (
                exc.filename is None or os.fspath(exc.filename) in temps):
            raise _naming(exc, what) from exc  # e.g. ENOSPC while writing
        raise


def _remove(paths) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.remove(path)


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path next to ``target``; move it onto ``target`` on success only.

    The temporary file keeps ``target``'s suffix. On any exception, including
    KeyboardInterrupt, the temporary file is removed and the exception re-raised;
    ``target`` is then untouched.
    """
    with atomic_paths([target]) as (tmp,):
        yield tmp


_REPORT_MARKER = ".sklearn-ssl-report"


@contextlib.contextmanager
def atomic_dir(target):
    """Yield a temporary folder next to ``target``; it replaces ``target`` on success only.

    An existing ``target`` is replaced only if it is a previous report (it holds the
    marker file written here); any other existing path raises before work starts.
    """
    target = Path(target)
    parent = _folder(target)
    if not parent.is_dir():
        raise FileNotFoundError(f"{target}: the output folder {parent} does not exist.")
    if target.exists() and not (target / _REPORT_MARKER).exists():
        raise ValueError(f"{target}: exists and is not a sklearn-ssl report; choose another --out "
                         "or remove it.")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:  # e.g. a read-only folder: name the target, not the temporary folder
        raise _naming(exc, target) from exc
    try:
        yield tmp
        (tmp / _REPORT_MARKER).write_text("written by sklearn-ssl; safe to replace\n")
        for path in [tmp, *tmp.rglob("*")]:
            os.chmod(path, _default_mode(path.is_dir()))
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "r")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
