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
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ..utils import atomic_path

CHECKPOINT_FILE = "checkpoint.pt"


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to a temporary file in the target folder, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


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
    return {name: getattr(net, name + "_") for name in net._modules + net._criteria}


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
        What identifies the run (parameters, data shape); a checkpoint made with another
        fingerprint is refused on resume.
    """

    def __init__(self, dirname: str, every: int = 1, fingerprint: dict | None = None):
        self.dirname = dirname
        self.every = every
        self.fingerprint = fingerprint

    @property
    def path(self) -> str:
        return os.path.join(self.dirname, CHECKPOINT_FILE)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        state = load_checkpoint(self.path, self.fingerprint)
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
            "fingerprint": self.fingerprint,
            "modules": {name: m.state_dict() for name, m in _modules(net).items() if isinstance(m, torch.nn.Module)},
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "shuffle_generator": _generator_state(getattr(net, "shuffle_generator_", None)),
            "augment_generator": _generator_state(getattr(net, "augment_generator_", None)),
        }


def load_checkpoint(path: str, fingerprint: dict) -> dict | None:
    """Read a checkpoint made by :class:`ResumableCheckpoint`, or None if there is none.

    Raises a ValueError naming the file when it is unreadable or belongs to another run.
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
        raise ValueError(
            f"The checkpoint {path!r} was made by a run with other parameters or data "
            f"({state.get('fingerprint')} vs {fingerprint}). Use another checkpoint_dir to start a new run."
        )
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
    device = torch.device(net.device)
    if state["shuffle_generator"] is not None:
        net.shuffle_generator_ = torch.Generator()
        net.shuffle_generator_.set_state(state["shuffle_generator"])
    if state["augment_generator"] is not None:
        net.augment_generator_ = torch.Generator(device=device)
        net.augment_generator_.set_state(state["augment_generator"])
