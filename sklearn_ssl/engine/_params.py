"""The training vocabulary shared by the torch estimators: one name, one meaning, one default.

``ContrastiveEmbedder``, ``CrossModalEmbedder`` and the fine-tuners (``FineTunedClassifier``,
``FineTunedRegressor``, ``PhotoZRegressor``) take ``lr`` (a float or ``"auto"``) and
``lr_schedule`` (``"cosine"``, ``"step"`` or None) with the meanings below, and warn when a
parameter is ignored in the configuration given (scikit-learn's way: a ``UserWarning`` that
names the parameter and what to do instead).
"""

from __future__ import annotations

import inspect
import numbers
import os
import sys
import warnings

from skorch.callbacks import LRScheduler

from ..utils import Interval, StrOptions

#: ``lr`` of every torch estimator: a positive float, or "auto" for the estimator's own rule.
LR_CONSTRAINT = [StrOptions({"auto"}), Interval(numbers.Real, 0, None, closed="neither")]
#: ``lr_schedule`` of every torch estimator.
LR_SCHEDULE_CONSTRAINT = [StrOptions({"cosine", "step"}), None]

LR_SCHEDULE_DOC = """lr_schedule : {"cosine", "step"} or None, default="cosine"
        Cosine decay of the learning rate over ``max_epochs``; ``"step"`` divides it by 10
        at 60% and 90% of ``max_epochs`` (Pasquet et al.'s epochs 60 and 90 of 100); None
        keeps it constant."""


def resolve_lr(lr, auto: float) -> float:
    """The learning rate used: ``auto`` when ``lr="auto"``, else ``lr``."""
    return auto if isinstance(lr, str) and lr == "auto" else float(lr)


def lr_schedule_callbacks(schedule: str | None, epochs: int) -> list:
    """skorch callbacks for ``lr_schedule`` over ``epochs`` epochs (none for a constant rate)."""
    if epochs <= 0 or schedule is None:
        return []
    if schedule == "cosine":
        return [("lr_schedule", LRScheduler("CosineAnnealingLR", T_max=epochs))]
    milestones = sorted({max(1, int(0.6 * epochs)), max(1, int(0.9 * epochs))})
    return [("lr_schedule", LRScheduler("MultiStepLR", milestones=milestones, gamma=0.1))]


def warn_ignored(name: str, value, when: str, advice: str) -> None:
    """Warn that ``name=value`` has no effect ``when``...; ``advice`` says what to do instead
    (called by ``warn_if_set`` from an estimator's ``fit``, whose caller the warning points at)."""
    warnings.warn(f"{name}={value!r} is ignored {when}; {advice}.", UserWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this package: the user's call, however deep
    the package's own calls are (Python 3.11 has no ``skip_file_prefixes``)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_set(estimator, name: str, when: str, instead: str) -> None:
    """Warn when ``estimator.name`` differs from its default although ``when`` makes it unused:
    "leave name=default, or ``instead``"."""
    default = inspect.signature(type(estimator)).parameters[name].default
    value = getattr(estimator, name)
    if not (isinstance(value, type(default)) and value == default):  # a module is never its default name
        warn_ignored(name, value, when, f"leave {name}={default!r}, or {instead}")
