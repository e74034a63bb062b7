"""Resumable, atomic checkpoints of a contrastive pretraining run.

skorch's own ``Checkpoint`` writes parameters, optimizer and history to separate files
(not atomic as a set) and keeps no RNG state, so a resumed run would not continue the
same random stream. This callback writes one file holding everything a run needs to
continue exactly: every module's weights and buffers (encoder, projection head, MoCo key
encoder and queue, normaliser), the optimizer, the learning-rate schedule position
(via the history), the shuffle and augmentation generators and the history (training draws from no other
random source). It is written to a temporary file and renamed, so a run killed while saving
leaves the previous checkpoint intact; Ctrl-C or SIGTERM arriving during the write is held
until the file is complete.

The file holds only tensors and plain Python types, and is read with
``torch.load(weights_only=True)``: loading a checkpoint never runs code from it.

A checkpoint resumes only the run that wrote it. Its fingerprint holds the estimator's
parameters, the number and shape of the samples, a SHA-256 of a sample of rows
(:func:`data_fingerprint`) and the normaliser's statistics; ``resume`` says what happens when
the folder holds another run's checkpoint (:data:`RESUME_MODES`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ..utils import atomic_path
from ._disk import as_float_tensor, read_rows

CHECKPOINT_FILE = "checkpoint.pt"


class _WriteErrors:
    """A file for ``torch.save`` that remembers the OSError of a failed write: torch's zip writer
    replaces it with "RuntimeError: [enforce fail at inline_container.cc] unexpected pos", which
    never says that the disk is full."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def write(self, data):
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self):
        return self.fh.flush()


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to a temporary file in the target folder, then rename over ``path``.

    A failed write (a full disk: ENOSPC) raises an OSError naming ``path`` and its cause
    ("cannot write ...checkpoint.pt (No space left on device)"); ``path`` is left as it was.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer = _WriteErrors(fh)
        try:
            torch.save(obj, writer)
        except RuntimeError as exc:
            if writer.error is None:
                raise
            raise writer.error from exc


#: What ``resume`` may be: how a checkpoint in ``checkpoint_dir`` is used.
RESUME_MODES = {
    "auto": "resume this run's checkpoint; another run's (other parameters or data) is replaced, with a warning",
    "strict": "resume this run's checkpoint; another run's raises a ValueError and is left as it is",
    "never": "ignore any checkpoint and start afresh (it is replaced at the first saved epoch)",
}

#: Rows hashed by :func:`data_fingerprint` (evenly spaced, first and last included).
FINGERPRINT_ROWS = 64


def data_fingerprint(X) -> dict:
    """What identifies a data set cheaply: ``n``, the sample shape and a SHA-256 of the
    float32 values of up to :data:`FINGERPRINT_ROWS` evenly spaced rows (read one at a time,
    so a memory map or an HDF5 dataset is never loaded)."""
    n = len(X)
    digest = hashlib.sha256()
    for i in sorted({round(k * (n - 1) / max(1, FINGERPRINT_ROWS - 1)) for k in range(min(n, FINGERPRINT_ROWS))}):
        digest.update(as_float_tensor(read_rows(X, slice(i, i + 1))).numpy().tobytes())
    return {"n_samples": n, "input_shape": tuple(int(d) for d in X.shape[1:]), "rows_sha256": digest.hexdigest()}


def _normalizer_stats(net) -> dict:
    normalizer = getattr(net, "normalizer_", None)
    if not isinstance(normalizer, torch.nn.Module):
        return {}
    return {k: v.detach().cpu().double().flatten().tolist() for k, v in normalizer.state_dict().items()}


def check_checkpoint_dir(dirname: str) -> None:
    """Refuse, before any training, a ``checkpoint_dir`` that cannot be a folder: an existing
    file, or a path through one."""
    existing = os.path.abspath(dirname)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "exists and is a file" if existing == os.path.abspath(dirname) else f"is inside the file {existing!r}"
        raise ValueError(f"checkpoint_dir={dirname!r} {where}, not a folder. Give a folder (it is created if "
                         "missing).")


def _differences(saved, current) -> list[str]:
    """What differs between two fingerprints, in words."""
    if not isinstance(saved, dict):
        return ["the checkpoint has no fingerprint"]
    out = []
    params = saved.get("params") or {}
    changed = sorted(k for k in set(params) | set(current.get("params", {}))
                     if params.get(k) != current["params"].get(k))
    if changed:
        out.append("parameters " + ", ".join(f"{k}={current['params'].get(k)} (was {params.get(k)})" for k in changed))
    for key, words in (("n_samples", "number of samples"), ("input_shape", "sample shape")):
        if saved.get(key) != current.get(key):
            out.append(f"{words} {current.get(key)} (was {saved.get(key)})")
    if not out and saved.get("rows_sha256") != current.get("rows_sha256"):
        out.append("other images of the same shape (their sampled rows differ)")
    if not out and saved.get("normalizer") != current.get("normalizer"):
        out.append("other normaliser statistics")
    return out


_KEYS = ("fingerprint", "modules", "optimizer", "history", "shuffle_generator", "augment_generator")


@contextlib.contextmanager
def _interrupts_held():
    """Hold SIGINT/SIGTERM (when Python handles them, in the main thread) while the block runs
    and deliver them once it is done, so that a checkpoint being written is completed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received, previous = [], {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        signum, frame = received[0]
        previous[signum](signum, frame)


def _plain(obj):
    """``obj`` with numpy scalars and arrays turned into Python numbers and lists (for weights_only)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


def _modules(net):
    """The net's modules and criteria, unwrapped from DDP (an accelerator's several processes),
    so that a checkpoint's keys do not depend on how many processes wrote or read it."""
    out = {}
    for name in net._modules + net._criteria:
        module = getattr(net, name + "_")
        out[name] = module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module
    return out


def _generator_state(gen):
    return None if gen is None else gen.get_state()


class ResumableCheckpoint(Callback):
    """Save the whole training state every ``every`` epochs (and after the last), and resume
    from it when training begins.

    As skorch's ``LoadInitState``, ``on_train_begin`` loads the checkpoint in ``dirname``
    (if there is one, and only if its fingerprint matches) into the initialised net; the
    net then trains the epochs that remain up to ``max_epochs``. Place it after the other
    callbacks: it saves what they recorded at the end of an epoch (the learning-rate
    schedule's step), and after restoring it replays ``on_train_begin`` to the callbacks
    before it, so that they set themselves up from the restored history and optimizer
    (skorch's ``LRScheduler`` derives its position from them).

    Parameters
    ----------
    dirname : str
        Folder of the checkpoint; created if missing.
    every : int
        Save after every ``every``-th epoch.
    fingerprint : dict
        What identifies the run (parameters, :func:`data_fingerprint`); the normaliser's
        statistics are added when training begins.
    resume : {"auto", "strict", "never"}
        What to do with a checkpoint in ``dirname`` (:data:`RESUME_MODES`).
    """

    def __init__(self, dirname: str, every: int = 1, fingerprint: dict | None = None, resume: str = "auto"):
        self.dirname = dirname
        self.every = every
        self.fingerprint = fingerprint
        self.resume = resume

    @property
    def path(self) -> str:
        return os.path.join(self.dirname, CHECKPOINT_FILE)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        check_checkpoint_dir(self.dirname)
        self.fingerprint_ = {**(self.fingerprint or {}), "normalizer": _normalizer_stats(net)}
        state = None if self.resume == "never" else load_checkpoint(self.path, self.fingerprint_, self.resume)
        if state is None:
            return
        restore(net, state)
        for _, callback in net.callbacks_:
            if callback is self:
                break
            callback.on_train_begin(net, X=X, y=y, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            os.makedirs(self.dirname, exist_ok=True)
            with _interrupts_held():
                atomic_torch_save(self.state(net), self.path)

    def state(self, net) -> dict:
        return {
            "fingerprint": getattr(self, "fingerprint_", self.fingerprint),
            "modules": {name: m.state_dict() for name, m in _modules(net).items() if isinstance(m, torch.nn.Module)},
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "shuffle_generator": _generator_state(getattr(net, "shuffle_generator_", None)),
            "augment_generator": _generator_state(getattr(net, "augment_generator_", None)),
        }


def load_checkpoint(path: str, fingerprint: dict, resume: str = "strict") -> dict | None:
    """Read a checkpoint made by :class:`ResumableCheckpoint`, or None if there is none.

    Raises a ValueError naming the file when it is unreadable. One that belongs to another
    run (its fingerprint differs) raises a ValueError saying what differs with
    ``resume="strict"``; with ``"auto"`` it warns the same and returns None (start afresh).
    """
    if not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except Exception as exc:  # a truncated or foreign file
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) < 300 else detail[:297] + "..."
        raise ValueError(
            f"Cannot read the checkpoint {path!r} ({detail}). Delete it to start afresh, or use another "
            "checkpoint_dir."
        ) from exc
    missing = [k for k in _KEYS if k not in state] if isinstance(state, dict) else list(_KEYS)
    if missing:
        raise ValueError(
            f"{path!r} is not a checkpoint written by ContrastiveEmbedder (it holds a {type(state).__name__} "
            f"without {missing}). Delete it to start afresh, or use another checkpoint_dir."
        )
    if state.get("fingerprint") != fingerprint:
        what = "; ".join(_differences(state.get("fingerprint"), fingerprint)) or "another fingerprint"
        if resume == "strict":
            raise ValueError(
                f"The checkpoint {path!r} was made by a run with other parameters or data ({what}). Use another "
                "checkpoint_dir to start a new run, or resume='auto' to replace it."
            )
        warnings.warn(
            f"The checkpoint {path!r} was made by a run with other parameters or data ({what}): training starts "
            "afresh and replaces it at the first saved epoch. Use another checkpoint_dir to keep it, or "
            "resume='strict' to refuse instead.", UserWarning, stacklevel=2)
        return None
    return state


def restore(net, state: dict) -> None:
    """Load a checkpoint's state into an initialised net (on its device)."""
    modules = _modules(net)
    stored = {name for name, m in modules.items() if isinstance(m, torch.nn.Module)}
    if set(state["modules"]) != stored:
        raise ValueError(
            f"The checkpoint holds the modules {sorted(state['modules'])}, this run has {sorted(stored)}: it was "
            "written by another version of sklearn-ssl. Delete it to start afresh, or use another checkpoint_dir."
        )
    for name, sd in state["modules"].items():
        modules[name].load_state_dict(sd)
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history_ = History(state["history"])
    # with an accelerator, net.device is None while training: the accelerator's device is the net's
    device = net._process()[2] if hasattr(net, "_process") else torch.device(net.device)
    if state["shuffle_generator"] is not None:
        net.shuffle_generator_ = torch.Generator()
        net.shuffle_generator_.set_state(state["shuffle_generator"])
    if state["augment_generator"] is not None:
        net.augment_generator_ = torch.Generator(device=device)
        net.augment_generator_.set_state(state["augment_generator"])
