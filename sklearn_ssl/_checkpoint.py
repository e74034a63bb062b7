"""Resumable, atomic checkpoints of a contrastive pretraining run.

skorch's own ``Checkpoint`` writes parameters, optimizer and history to separate files
(not atomic as a set) and keeps no RNG state, so a resumed run would not continue the
same random stream. This callback writes one file holding everything a run needs to
continue exactly: every module's weights and buffers (encoder, projection head, MoCo key
encoder and queue, normaliser), the optimizer, the learning-rate schedule position
(via the history), the shuffle and augmentation generators and the history (training draws from no other
random source). It is written to a temporary file and renamed, so a run killed while saving
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os

import torch
from skorch.callbacks import Callback
from skorch.history import History

from ._io import atomic_path

CHECKPOINT_FILE = "checkpoint.pt"


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` to a temporary file in the target folder, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _modules(net):
    return {name: getattr(net, name + "_") for name in net._modules + net._criteria}


def _generator_state(gen):
    return None if gen is None else gen.get_state()


class ResumableCheckpoint(Callback):
    """Save the whole training state every ``every`` epochs (and after the last).

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

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            os.makedirs(self.dirname, exist_ok=True)
            atomic_torch_save(self.state(net), self.path)

    def state(self, net) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "modules": {name: m.state_dict() for name, m in _modules(net).items() if isinstance(m, torch.nn.Module)},
            "optimizer": net.optimizer_.state_dict(),
            "history": net.history.to_list(),
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
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise ValueError(
            f"Cannot read the checkpoint {path!r} ({exc}). Delete it to start afresh, or use another checkpoint_dir."
        ) from exc
    if state.get("fingerprint") != fingerprint:
        raise ValueError(
            f"The checkpoint {path!r} was made by a run with other parameters or data "
            f"({state.get('fingerprint')} vs {fingerprint}). Use another checkpoint_dir to start a new run."
        )
    return state


def restore(net, state: dict) -> None:
    """Load a checkpoint's state into an initialised net (on its device)."""
    modules = _modules(net)
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
