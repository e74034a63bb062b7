"""Progress display of long runs, on stderr: a tqdm bar on a terminal, lines in a log.

A bar redrawn in place is useless in a redirected log (a batch job, ``nohup``, CI), and
a log without lines says nothing for minutes. So every progress display here shows a tqdm
bar when stderr is a terminal and prints plain lines when it is not: numbered step lines
(:class:`Steps`), one line per unit of work with the estimated time left
(:class:`WorkProgress`), and epoch lines at most every ``LOG_EVERY_S`` seconds
(:class:`EpochBar`). ``enabled=False`` silences all of them.
"""

from __future__ import annotations

import sys
import time

#: Seconds between two epoch lines in a log (a fit's first and last epochs always print).
LOG_EVERY_S = 10.0


def _on_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _duration(seconds: float) -> str:
    """``"42 s"`` or ``"3.5 min"``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Steps:
    """Numbered step lines on stderr, with the time each step took."""

    def __init__(self, total, progress):
        self.total, self.progress, self.k, self.t0 = total, progress, 0, time.perf_counter()

    def start(self, text):
        self.k += 1
        self._t = time.perf_counter()
        if self.progress:
            _log(f"[{self.k}/{self.total}] {text}")

    def done(self, text=""):
        if self.progress:
            _log(f"      {text + ' ' if text else ''}({time.perf_counter() - self._t:.1f} s)")


class WorkProgress:
    """Progress over ``total`` units of work (fits, chunks of images).

    On a terminal: a tqdm bar. Otherwise one line per unit,
    ``"<desc> 7/60: <what> (3.2 s; 1.4 min elapsed, about 10 min left)"``; the estimate is
    the mean time per unit so far times the units left.

    Parameters
    ----------
    total : int
        Units of work.
    desc : str
        What the units are part of (the line's prefix, the bar's label).
    enabled : bool, default=True
        False shows nothing.
    unit : str, default="fit"
        The unit's name on the bar.
    """

    def __init__(self, total: int, desc: str, enabled: bool = True, unit: str = "fit"):
        self.total, self.desc, self.enabled, self.k = int(total), desc, bool(enabled), 0
        self.t0 = time.perf_counter()
        self.bar = None
        if self.enabled and _on_terminal():
            from tqdm.auto import tqdm  # installed with skorch

            self.bar = tqdm(total=self.total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} " + unit + "s [{elapsed}<{remaining}]")

    def update(self, what: str, seconds: float, n: int = 1) -> None:
        """``n`` units done: ``what`` they were and the ``seconds`` they took."""
        self.k += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            elapsed = time.perf_counter() - self.t0
            left = elapsed / self.k * (self.total - self.k)
            tail = f"about {_duration(left)} left" if self.k < self.total else "done"
            _log(f"      {self.desc} {self.k}/{self.total}: {what} ({seconds:.1f} s; "
                 f"{_duration(elapsed)} elapsed, {tail})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def epoch_bar(desc, enabled):
    """A skorch callback showing one tqdm bar over epochs (with the loss); picklable."""
    return EpochBar(desc=desc, enabled=enabled)


try:
    from skorch.callbacks import Callback as _Callback
except ImportError:  # pragma: no cover - skorch is a dependency
    _Callback = object


class EpochBar(_Callback):
    """One tqdm bar over epochs, showing the training loss (stderr); lines in a log.

    On a terminal, tqdm places the bar below any bar already open (e.g. the study's bar over
    fits) and keeps it only if it is the top bar. When stderr is not a terminal, it prints
    ``"<desc>: epoch 3/12, loss 4.512 (2.1 s)"`` for the first and last epochs and at most
    every :data:`LOG_EVERY_S` seconds in between.
    """

    def __init__(self, desc="training", enabled=True):
        self.desc, self.enabled = desc, enabled

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.log_ = bool(self.enabled) and not _on_terminal()
        self.t0_ = self.last_ = time.perf_counter()
        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch", leave=None, file=sys.stderr,
                         disable=self.log_ or not self.enabled, dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        self.bar_.set_postfix(loss=f"{loss:.3f}", refresh=False)
        self.bar_.update(1)
        if self.log_:
            epoch, now = len(net.history), time.perf_counter()
            if epoch in (1, net.max_epochs) or now - self.last_ >= LOG_EVERY_S:
                self.last_ = now
                _log(f"      {self.desc}: epoch {epoch}/{net.max_epochs}, loss {loss:.3f} "
                     f"({_duration(now - self.t0_)})")

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        del self.bar_  # a tqdm bar holds the terminal: keep the fitted model picklable
