"""Reading a model file without running code that the file names.

A model file is a joblib pickle, and unpickling calls whatever functions the file names
(``os.system`` among them). :func:`load_pickled` reads it with an unpickler that

- decompresses it first with joblib's own file handles (zlib, gzip, bz2, lzma, xz, lz4),
  so that compressed and uncompressed files, of every pickle protocol (0 to 5), go through
  the same checks;
- resolves every global the stream names through :func:`allowed_global` before anything is
  called: the first class must be the expected estimator class (so a file holding anything
  else is refused before any of its code runs), and every other global must be on an allow
  list (the containers, numpy and torch tensor rebuilders, the classes of sklearn-ssl,
  torch modules and optimisers, skorch callbacks and scikit-learn estimators) or be named
  by the caller in ``trusted``;
- inspects the nested pickle a skorch net keeps of its modules (``__cuda_dependent_attributes__``)
  opcode by opcode (:func:`check_pickle_bytes`) with the same rules before skorch reads it,
  and reads tensor storages with ``torch.load(weights_only=True)``;
- refuses joblib's object arrays and pre-0.10 files (their contents are read by an unrestricted
  ``pickle.load``), and any stream whose globals cannot be determined from its opcodes.

A class outside the allow list's packages (a user-defined encoder) is accepted when it is a
torch ``nn.Module`` (or scikit-learn estimator) whose module is already imported; nothing is
imported on a file's behalf except modules of sklearn-ssl, torch, skorch, scikit-learn and numpy.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import io
import os
import pickle
import pickletools
import sys
import warnings
from typing import Iterable

import numpy as np
import torch

_CORE_PACKAGES = ("sklearn_ssl", "torch", "skorch", "sklearn", "numpy")

_EXACT = {
    "builtins": {"dict", "list", "tuple", "set", "frozenset", "slice", "complex", "bytearray", "bytes", "int",
                 "float", "str", "bool", "object", "range", "print"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "functools": {"partial"},
    "copyreg": {"_reconstructor", "__newobj__", "__newobj_ex__"},
    "_codecs": {"encode"},
    "numpy": {"dtype", "ndarray", "memmap"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.random._pickle": {"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
    "torch": {"device", "Size"},
    "torch._utils": {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                     "_rebuild_parameter_with_state", "_rebuild_device_tensor_from_numpy"},
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch.nn.parameter": {"Parameter", "Buffer"},
    "torch.storage": {"_load_from_bytes"},
    "torch.torch_version": {"TorchVersion"},
    "skorch.setter": {"optimizer_setter"},
    "skorch.history": {"History"},
    "sklearn_ssl.engine._training": {"silent", "_new_accelerated"},
}
#: Globals that build an object of a class named next: the expected class is looked for after them.
_HELPERS = {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__")}


class RefusedPickle(ValueError):
    """A model file names a global that loading it would call and that is not allowed."""


def _safe_bases() -> tuple:
    from sklearn.base import BaseEstimator
    from skorch import NeuralNet
    from skorch.callbacks import Callback

    return (torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, torch.utils.data.Dataset,
            torch.utils.data.DataLoader, BaseEstimator, NeuralNet, Callback, np.generic, np.dtype,
            np.random.BitGenerator, np.random.Generator, np.random.RandomState)


def _py3_name(module: str, name: str, proto: int) -> tuple[str, str]:
    """Python 2 names written by protocols 0-2 (``copy_reg``, ``__builtin__``), as pickle maps them."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


def _is_core(module: str) -> bool:
    return module.split(".")[0] in _CORE_PACKAGES


def _resolve(module: str, name: str, importable: bool):
    """The object ``module.name`` names, or None; a module is imported only when ``importable``."""
    mod = sys.modules.get(module)
    if mod is None and importable:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return None
    obj = mod
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj


def allowed_global(module: str, name: str, trusted: frozenset = frozenset()):
    """The object a pickle may call for ``module.name``; raises :class:`RefusedPickle` otherwise."""
    key = f"{module}.{name}"
    if key in trusted:
        return _resolve(module, name, importable=True)
    obj = _resolve(module, name, importable=_is_core(module))
    if obj is not None:
        if name in _EXACT.get(module, ()):
            return obj
        if isinstance(obj, torch.dtype) and module == "torch":
            return obj
        if isinstance(obj, type) and (issubclass(obj, _safe_bases()) or module.split(".")[0] == "sklearn_ssl"):
            return obj
    hint = ("import the module that defines it before loading, or " if not _is_core(module)
            and module not in sys.modules else "")
    raise RefusedPickle(
        f"names {key}, which a model file does not need; loading it could run code, so it was not loaded. If you "
        f"trust the file, {hint}pass trusted=[{key!r}]."
    )


def _load_storage(data: bytes):
    """``torch.storage._load_from_bytes`` reading weights only, on the CPU when CUDA is absent."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location=None if torch.cuda.is_available() else "cpu")


_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_MEMO_STORES = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
_UNINSPECTABLE = {"EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"}


def pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """The globals a plain pickle stream names, read from its opcodes without unpickling.

    ``STACK_GLOBAL`` takes its module and name from the two values below it on the stack;
    they are followed through the memo, and a stream where they are not two strings pushed
    just before (the way pickle writes them) is refused as uninspectable.
    """
    found, memo, pending, proto = [], {}, [], 0
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = op.name
            if name == "PROTO":
                proto = arg
            elif name in ("GLOBAL", "INST"):
                found.append(_py3_name(*str(arg).split(" ", 1), proto))
            elif name == "STACK_GLOBAL":
                if len(pending) < 2 or not all(isinstance(v, str) for v in pending[-2:]):
                    raise RefusedPickle("holds a global whose name cannot be read without unpickling")
                found.append((pending[-2], pending[-1]))
            elif name in _UNINSPECTABLE:
                raise RefusedPickle(f"uses the {name} opcode, which cannot be inspected without unpickling")
            if name in _STRINGS:
                pending.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
            elif name in _MEMO_GETS:
                pending.append(memo.get(arg))
            elif name in _MEMO_STORES:
                memo[len(memo) if name == "MEMOIZE" else arg] = pending[-1] if pending else None
            else:
                pending = []
    except RefusedPickle:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt stream
        raise RefusedPickle(f"holds a corrupt pickle stream ({type(exc).__name__}: {exc})") from exc
    return found


def check_pickle_bytes(data: bytes, trusted: frozenset = frozenset()) -> None:
    """Refuse a nested pickle (bytes) naming a global that :func:`allowed_global` refuses."""
    for module, name in pickle_globals(data):
        allowed_global(module, name, trusted)


def _unpickler_class():
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
    from skorch import NeuralNet

    class _AllowListUnpickler(NumpyUnpickler):
        """joblib's unpickler (numpy arrays stored after their wrappers) calling only allowed globals."""

        dispatch = NumpyUnpickler.dispatch.copy()

        def __init__(self, filename, file_handle, expected: type, trusted: frozenset):
            super().__init__(filename, file_handle, True)
            self.expected, self.trusted, self.stored_class = expected, trusted, None

        def find_class(self, module, name):
            module, name = _py3_name(module, name, self.proto)
            if self.stored_class is None and (module, name) not in _HELPERS:
                self.stored_class = f"{module}.{name}"
                obj = _resolve(module, name, importable=_is_core(module))
                if not (isinstance(obj, type) and issubclass(obj, self.expected)):
                    raise RefusedPickle(f"holds a {self.stored_class}, not a {self.expected.__name__}; it was not "
                                        "unpickled")
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                return _load_storage
            return allowed_global(module, name, self.trusted)

        def load_build(self):
            state, inst = self.stack[-1], self.stack[-2]
            if isinstance(inst, NeuralNet):  # skorch unpickles its modules from bytes in __setstate__
                if not isinstance(state, dict):
                    raise RefusedPickle(f"holds a {type(inst).__name__} with a state of type {type(state).__name__}")
                check_pickle_bytes(state.get("__cuda_dependent_attributes__", b""), self.trusted)
                if (state.get("torch_load_kwargs") or {}).get("weights_only", True) is not True:
                    raise RefusedPickle("asks skorch to load tensors with code execution (weights_only=False)")
            elif isinstance(inst, NumpyArrayWrapper) and isinstance(state, dict):
                dtype, subclass = state.get("dtype"), state.get("subclass")
                if not isinstance(dtype, np.dtype) or dtype.hasobject or subclass not in (np.ndarray, np.memmap):
                    raise RefusedPickle("holds a joblib object array, whose items are read by an unrestricted "
                                        "pickle.load")
            NumpyUnpickler.load_build(self)

        dispatch[pickle.BUILD[0]] = load_build

    return _AllowListUnpickler


def describe_error(exc: BaseException) -> str:
    """``"Type: message"``, or the type alone when the message is empty (a bare EOFError)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_pickled(path: str | os.PathLike, expected: type, trusted: Iterable[str] = ()):
    """The object in a joblib or pickle file at ``path``, which must be an ``expected``.

    Raises :class:`RefusedPickle` (a ValueError) naming what is refused, before any global
    it names is called; other failures (a truncated or corrupt file) propagate.
    """
    from joblib.numpy_pickle import _validate_fileobject_and_memmap

    path = os.fspath(path)
    with open(path, "rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # joblib's pre-0.10 notice: refused below
        with _validate_fileobject_and_memmap(fh, path) as (fobj, _):
            if isinstance(fobj, str):
                raise RefusedPickle("was written by joblib < 0.10, whose arrays are read by an unrestricted "
                                    "pickle.load; it was not unpickled")
            return _unpickler_class()(path, fobj, expected, frozenset(trusted)).load()
