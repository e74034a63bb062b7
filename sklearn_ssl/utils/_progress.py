"""Progress display of the demo: numbered step lines and a tqdm bar over training epochs (stderr)."""

from __future__ import annotations

import sys
import time


class Steps:
    """Numbered step lines on stderr, with the time each step took."""

    def __init__(self, total, progress):
        self.total, self.progress, self.k, self.t0 = total, progress, 0, time.perf_counter()

    def start(self, text):
        self.k += 1
        self._t = time.perf_counter()
        if self.progress:
            print(f"[{self.k}/{self.total}] {text}", file=sys.stderr, flush=True)

    def done(self, text=""):
        if self.progress:
            print(f"      {text + ' ' if text else ''}({time.perf_counter() - self._t:.1f} s)", file=sys.stderr,
                  flush=True)


def epoch_bar(desc, enabled):
    """A skorch callback showing one tqdm bar over epochs (with the loss); picklable."""
    return EpochBar(desc=desc, enabled=enabled)


try:
    from skorch.callbacks import Callback as _Callback
except ImportError:  # pragma: no cover - skorch is a dependency
    _Callback = object


class EpochBar(_Callback):
    """One tqdm bar over epochs, showing the training loss (stderr).

    tqdm places it below any bar already open (e.g. the study's bar over fits, when the
    semi-supervised rows refit clones of the embedder) and keeps it only if it is the top bar.
    """

    def __init__(self, desc="training", enabled=True):
        self.desc, self.enabled = desc, enabled

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        # disable=None: tqdm shows the bar only on a terminal, never in a redirected log
        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch", leave=None, file=sys.stderr,
                         disable=None if self.enabled else True, dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        self.bar_.set_postfix(loss=f"{net.history[-1, 'train_loss']:.3f}", refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        del self.bar_  # a tqdm bar holds the terminal: keep the fitted model picklable
