"""Divergence detection shared by every torch estimator's net.

A learning rate far too high does not always produce a NaN loss: a fine-tuner at
``lr=1e6`` reaches losses of 1e13, 1e21, 1e27 with finite numbers, then non-finite
weights, and would predict NaN or a single class without a word. :class:`DivergenceCheck`
is a skorch callback that every net of the package carries among its default callbacks
(through :class:`StopsOnDivergence`), so that training stops with a
:class:`TrainingDivergedError` as soon as one of these holds:

- a training batch's loss, or the network's output for it, is NaN or infinite
  (checked after every batch);
- the mean training loss of an epoch is more than ``growth`` (10^4) times its starting
  value: the loss of the run's first batch, or 1 when that is smaller in magnitude (the
  package's losses are computed on normalised images and standardised targets, so they
  start near 1; a contrastive loss is bounded and never grows that much);
- a weight or buffer of the network is NaN or infinite at the end of an epoch.

The check runs before the checkpoint callback, so a diverged state is never saved as a
checkpoint; the estimators remove their fitted attributes when ``fit`` fails.
"""

from __future__ import annotations

import math

import torch
from skorch.callbacks import Callback

#: How many times its starting value the mean loss of an epoch may reach before training is stopped.
GROWTH = 1e4


class TrainingDivergedError(ValueError, FloatingPointError):
    """Training diverged (a non-finite loss, output or weight, or a loss grown by orders of magnitude).

    A ``ValueError`` (the fit's parameters or data are unsuitable) and, as before, a
    ``FloatingPointError``.
    """


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)


def _all_finite(tensors) -> bool:
    flags = [t.detach().isfinite().all() for t in tensors if t.is_floating_point() and t.numel()]
    return not flags or bool(torch.stack([f.to(flags[0].device) for f in flags]).all())


class DivergenceCheck(Callback):
    """Stop training with a :class:`TrainingDivergedError` naming the epoch, the learning
    rate and what to try, when the loss, the outputs or the weights diverge (module docstring).

    Parameters
    ----------
    growth : float
        Largest allowed ratio of an epoch's mean training loss to its starting value.
    """

    def __init__(self, growth: float = GROWTH):
        self.growth = growth

    def on_train_begin(self, net, **kwargs):
        self.start_ = None
        if len(net.history):  # a resumed run keeps the reference of its first epoch
            batches = net.history[0].get("batches") or [{}]
            self.start_ = batches[0].get("train_loss")

    def on_batch_end(self, net, batch=None, training=False, loss=None, y_pred=None, **kwargs):
        if not training or loss is None:
            return
        value = float(loss.detach().float().item()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            self._stop(net, f"the training loss became {value}")
        if not _all_finite(_tensors(y_pred)):
            self._stop(net, "the network's outputs became NaN or infinite")
        if self.start_ is None:
            self.start_ = value

    def on_epoch_end(self, net, **kwargs):
        losses = [b["train_loss"] for b in net.history[-1].get("batches", []) if "train_loss" in b]
        if losses and self.start_ is not None:
            mean = sum(losses) / len(losses)
            reference = max(abs(self.start_), 1.0)
            if abs(mean) > self.growth * reference:
                self._stop(net, f"the mean training loss grew to {mean:.3g}, over {self.growth:g} times its "
                                f"starting value {self.start_:.3g}")
        for name in net._modules + net._criteria:
            module = getattr(net, name + "_", None)
            if isinstance(module, torch.nn.Module) and not _all_finite(
                    [*module.parameters(), *module.buffers()]):
                self._stop(net, "the network's weights became NaN or infinite")

    @staticmethod
    def _stop(net, what: str):
        precision = getattr(net, "precision", None)
        reduced = precision not in (None, "fp32")
        lr = net.lr
        raise TrainingDivergedError(
            f"Training diverged in epoch {len(net.history)}: {what} (lr={lr:g}). Lower the learning rate "
            f"(e.g. lr={lr / 10:g})"
            + (f", use precision='fp32' (now {precision!r})" if reduced else "")
            + ", or check the input for extreme values; no model was fitted."
        )


class StopsOnDivergence:
    """Mixin for a skorch net: :class:`DivergenceCheck` among its default callbacks, after the
    epoch's loss is recorded and before the epoch is printed (and before any user callback,
    the checkpoint included)."""

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        names = [name for name, _ in callbacks]
        at = names.index("print_log") if "print_log" in names else len(callbacks)
        return callbacks[:at] + [("divergence_check", DivergenceCheck())] + callbacks[at:]
