"""What a saved model carries besides its weights: library versions, completeness, a safe first look.

Models are pickles (joblib). Unpickling runs code named in the file, so a model file must
come from a trusted source; what this module adds is limited to honest failures:

- the versions of sklearn-ssl, torch and scikit-learn are stored in the pickled state and a
  model loaded under other versions warns with :class:`InconsistentVersionWarning` (a
  subclass of scikit-learn's, so one filter catches both);
- a fitted state missing attributes (a damaged or hand-edited file) is refused when loaded,
  not later in ``transform`` with an AttributeError;
- :func:`pickled_class` reads the class of the pickled object from the opcode stream without
  executing anything, so that :meth:`ContrastiveEmbedder.load` can refuse a file holding
  something else before unpickling it.
"""

from __future__ import annotations

import pickletools
import sys
import warnings

import sklearn
import torch
from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

_VERSIONS_KEY = "_sklearn_ssl_versions"


class InconsistentVersionWarning(_SklearnVersionWarning):
    """A model is loaded with versions of sklearn-ssl, torch or scikit-learn other than those
    that saved it: results may differ, or loading may break in subtle ways."""

    def __init__(self, *, estimator_name: str, differences: dict):
        self.estimator_name = estimator_name
        self.differences = differences
        self.original_sklearn_version, self.current_sklearn_version = differences.get("scikit-learn", (None, None))

    def __str__(self) -> str:
        changes = ", ".join(f"{name} {old} (now {new})" for name, (old, new) in self.differences.items())
        return (
            f"This {self.estimator_name} was saved with {changes}. It may give other results or fail; "
            "refit it with the installed versions, or install the ones it was saved with."
        )


def current_versions() -> dict:
    from .. import __version__

    return {"sklearn-ssl": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__}


class VersionedState:
    """Mixin for estimators: pickles record library versions and are checked when loaded.

    ``_required_fitted`` names the attributes a fitted state must hold; a state with some
    fitted attributes but not all of them raises a ValueError.
    """

    _required_fitted: tuple = ()

    def __getstate__(self):
        state = super().__getstate__()
        if any(k.endswith("_") and not k.startswith("_") for k in state):  # only fitted models
            state = {**state, _VERSIONS_KEY: current_versions()}
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop(_VERSIONS_KEY, None)
        fitted = [k for k in state if k.endswith("_") and not k.startswith("_")]
        name = type(self).__name__
        if fitted:
            missing = [k for k in self._required_fitted if k not in state]
            if missing:
                raise ValueError(
                    f"Incomplete {name} state: the fitted attributes {missing} are missing. The file is "
                    "damaged or was not written by save(); refit the model."
                )
            current = current_versions()
            saved = saved or {}
            differences = {k: (saved.get(k, "unknown"), v) for k, v in current.items() if saved.get(k) != v}
            if "_sklearn_version" in state:  # scikit-learn's own __setstate__ warns about its version
                differences.pop("scikit-learn", None)
            if differences:
                warnings.warn(InconsistentVersionWarning(estimator_name=name, differences=differences), stacklevel=2)
        super().__setstate__(state)


_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def pickled_class(path) -> str | None:
    """``"module.QualName"`` of the first global a pickle file refers to, read without unpickling.

    For an object pickled by ``pickle``/``joblib`` (protocol 2+) that is the object's class.
    None when the file is not an uncompressed pickle (e.g. a compressed joblib file): the
    caller then cannot check before loading. Raises ValueError when the stream is corrupt.
    """
    with open(path, "rb") as fh:
        if fh.read(1) != b"\x80":  # PROTO opcode: an uncompressed pickle of protocol 2+
            return None
        fh.seek(0)
        strings: list = []
        try:
            for op, arg, _ in pickletools.genops(fh):
                if op.name in ("GLOBAL", "INST"):
                    return str(arg).replace(" ", ".")
                if op.name == "STACK_GLOBAL":
                    return ".".join(strings[-2:])
                if op.name in _STRINGS:
                    strings.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
        except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt stream
            raise ValueError(f"corrupt pickle stream ({exc})") from exc
    return None


def is_subclass_name(name: str, cls: type) -> bool:
    """Whether ``"module.QualName"`` is ``cls`` or a subclass of it, judged only from modules that
    are imported already (nothing is imported, so nothing from the file runs)."""
    module, _, qualname = name.rpartition(".")
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return isinstance(obj, type) and issubclass(obj, cls)
