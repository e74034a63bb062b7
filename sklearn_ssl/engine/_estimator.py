"""The data path shared by every estimator that trains a torch module.

:class:`~sklearn_ssl.ContrastiveEmbedder`, :class:`~sklearn_ssl.CrossModalEmbedder`, the
fine-tuners and :class:`~sklearn_ssl.PhotoZRegressor` inherit :class:`TorchEstimatorMixin`
and so validate, place, convert, seed and stream their data the same way:

- validation: the shape checked once and the non-finite scan done once per call, in
  chunks (:func:`check_images`); integer images, float64 images, memmaps and HDF5/dask
  arrays are never converted or copied whole;
- placement (:func:`_place_data`): float32 images in memory are used in place (or moved
  once to a GPU that holds them); anything else is read and converted to float32 a batch
  at a time, in a background thread when it comes from disk;
- seeding (:meth:`TorchEstimatorMixin._seeded`): weight initialisation draws from
  ``random_state`` under a process-wide lock, on a forked torch generator;
- prediction (:meth:`TorchEstimatorMixin._stream`): batches of ``batch_size`` through the
  model into a preallocated output, so memory is bounded by a batch, not by ``n``.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading
from typing import Any, Callable, Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ._disk import (
    SCAN_BYTES, as_float_tensor, DiskRows, check_lazy_images, count_non_finite, is_disk_backed, is_lazy, mapped_hdf5, read_ahead,
    read_rows,
)
from ..utils import Interval, StrOptions
from ._checkpoint import RESUME_MODES, ResumableCheckpoint, data_fingerprint
from ._params import LR_CONSTRAINT, LR_SCHEDULE_CONSTRAINT, warn_if_set
from ._training import accelerated, silent
from ..augment import GalacticReddening, deredden, ebv_from_extinction


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA device is available; use 'cpu' or 'auto'.")
    try:
        torch.empty(0, device=torch.device(device))  # an unknown or absent device fails here, before any work
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"device={device!r} cannot be used here ({reason}); use 'cpu', 'cuda', 'cuda:N' or "
                         "'auto'.") from None
    return device


def _resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def check_images(estimator, X, *, reset: bool, min_samples: int = 1, allow_disk: bool = False) -> np.ndarray:
    """Validate ``(n, C, H, W)`` images or ``(n, d)`` vectors for ``estimator``.

    Converts to float32 unless the input is float64; integer images are accepted and
    converted. Non-finite values raise a ValueError pointing to the imputer. With
    ``reset=False`` the sample shape must equal the one seen in fit. With
    ``allow_disk=True``, an HDF5 dataset, a dask array or integer images (memmap or not) are checked in
    chunks and returned as is, to be read a batch at a time (never converted whole).
    """
    if not reset:
        _check_rank(estimator, X)
    integer_images = isinstance(X, np.ndarray) and X.dtype.kind in "iub" and X.ndim in (2, 4) and len(X) > 0
    if allow_disk and (is_lazy(X) or integer_images):  # other shapes get validate_data's messages below
        return check_lazy_images(estimator, X, reset=reset, min_samples=min_samples)
    shape = getattr(X, "shape", None)
    if not reset and shape is not None and len(shape) > 2 and tuple(shape[1:]) != estimator.input_shape_:
        _raise_shape_mismatch(estimator, tuple(shape[1:]))
    X = validate_data(
        estimator, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
        ensure_all_finite=False, ensure_min_samples=min_samples,
    )
    if X.ndim not in (2, 4):
        raise ValueError(
            f"Expected images of shape (n_samples, n_bands, height, width) or vectors of shape "
            f"(n_samples, n_features); got an array of shape {X.shape}."
        )
    if 0 in X.shape[1:]:
        raise ValueError(f"Expected at least one band and one pixel per image; got an array of shape {X.shape}.")
    if any(stride < 0 for stride in X.strides):  # e.g. a flipped view, which torch cannot share
        X = np.ascontiguousarray(X)
    n_bad = _count_non_finite(X)
    if n_bad:
        raise ValueError(
            f"Input contains NaN or infinity ({n_bad} values). Fill masked or missing pixels first, "
            "e.g. with sklearn_ssl.PixelImputer in front of the estimator in a Pipeline."
        )
    n_huge = _count_beyond_float32(X)
    if n_huge:
        raise ValueError(
            f"Input contains {n_huge} values beyond float32's range (|x| > {np.finfo(np.float32).max:.3g}); the "
            "model computes in float32. Replace sentinel values with NaN and impute them, or rescale the images."
        )
    if reset:
        estimator.input_shape_ = X.shape[1:]
    elif X.shape[1:] != estimator.input_shape_:
        _raise_shape_mismatch(estimator, X.shape[1:])
    return X


def check_ebv(ebv, n_samples: int, augmentations) -> np.ndarray | None:
    """Validate catalogue E(B-V), one per image, for ``augmentations`` (None passes through).

    A 2-D ``ebv`` of shape ``(n_samples, n_bands)`` is per-band extinction A_b (the ``e_bv`` of
    Hayat et al.'s files: SDSS DR12's ``extinction_ugriz``) and becomes
    ``E(B-V) = mean_b(A_b / R_b)`` (:func:`~sklearn_ssl.augment.ebv_from_extinction`), with
    SDSS DR12's catalogue coefficients when the reddening member uses ``"sdss"``, else with
    its own coefficients.
    Catalogue reddening is used by a :class:`~sklearn_ssl.augment.GalacticReddening`
    member (de-redden, then re-redden) and, at prediction, to de-redden the images with
    its extinction coefficients; without such a member it would be silently unused.
    """
    if ebv is None:
        return None
    if _reddening(augmentations) is None:
        raise ValueError(
            "ebv (catalogue E(B-V) per image) was given, but the augmentations contain no GalacticReddening, "
            "which is what uses it. Use augmentations with GalacticReddening (e.g. the 'sdss' preset) or drop ebv."
        )
    ebv = np.asarray(ebv, dtype=np.float64)
    if ebv.ndim == 2 and len(ebv) == n_samples:  # per-band extinction A_b (Hayat et al.'s "e_bv")
        coefficients = _reddening(augmentations).coefficients
        # SDSS catalogues' A_ugriz were computed with DR12's (SFD98) coefficients, not with the reddening's
        ebv = ebv_from_extinction(ebv, "sdss_dr12" if coefficients == "sdss" else coefficients)
    if ebv.ndim != 1 or len(ebv) != n_samples:
        raise ValueError(f"ebv must be a 1-D array with one E(B-V) per image ({n_samples}), or per-band extinction "
                         f"A_b of shape ({n_samples}, n_bands); got shape {ebv.shape}.")
    if not np.isfinite(ebv).all():
        raise ValueError("ebv contains NaN or infinite values; give every image a finite catalogue E(B-V).")
    return ebv


def _reddening(augmentations) -> GalacticReddening | None:
    """The first GalacticReddening among ``augmentations`` (a Compose or a module), or None."""
    members = getattr(augmentations, "augmentations", [augmentations])
    return next((m for m in members if isinstance(m, GalacticReddening)), None)


def deredden_batch(x: torch.Tensor, ebv: np.ndarray | None, augmentations) -> torch.Tensor:
    """``x`` de-reddened by its catalogue ``ebv`` rows with the augmentations' coefficients."""
    if ebv is None:
        return x
    return deredden(x, torch.as_tensor(ebv, dtype=torch.float32, device=x.device), _reddening(augmentations).coefficients)


_GLOBAL_RNG_LOCK = threading.Lock()


def _forget_fit(estimator) -> None:
    """Remove every fitted attribute, so that an interrupted or failed fit leaves ``estimator``
    unfitted (``check_is_fitted`` raises) instead of half-trained."""
    for name in [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]:
        delattr(estimator, name)


def _count_non_finite(X: np.ndarray, chunk_bytes: int = SCAN_BYTES) -> int:
    """Number of NaN/inf values, checked in chunks so memory-mapped input is never loaded whole."""
    step = max(1, chunk_bytes // max(1, X[:1].nbytes))
    return sum(count_non_finite(X[i:i + step]) for i in range(0, len(X), step))


def _count_beyond_float32(X: np.ndarray, chunk_bytes: int = SCAN_BYTES) -> int:
    """Number of finite float64 values that float32 (the model's precision) would turn into infinity."""
    if X.dtype != np.float64:
        return 0
    limit = np.finfo(np.float32).max
    step = max(1, chunk_bytes // max(1, X[:1].nbytes))
    return sum(int((np.abs(X[i:i + step]) > limit).sum()) for i in range(0, len(X), step))


def _place_data(X, device: str) -> torch.Tensor | DiskRows:
    """The training data as the net reads it, never converted or copied whole on the host.

    Float32 images in memory are used in place (shared with ``X``); on a GPU whose free
    memory holds twice the float32 images, they are moved there once (float64 converted on
    the way, a chunk at a time). Anything else (float64 or integer images on the host, a
    memmap, an HDF5 dataset) stays where it is and is read and converted to float32 a batch
    at a time (:class:`~sklearn_ssl.engine._disk.DiskRows`).
    """
    in_memory = isinstance(X, np.ndarray) and not is_disk_backed(X)
    if device.startswith("cuda") and in_memory and X.dtype.kind == "f":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        if X.shape[0] * int(np.prod(X.shape[1:])) * 4 < free // 2:
            return _to_device_in_chunks(X, device)
    if in_memory and X.dtype == np.float32:
        return as_float_tensor(X)
    return DiskRows(X)


def _to_device_in_chunks(X: np.ndarray, device, chunk_bytes: int = SCAN_BYTES) -> torch.Tensor:
    """``X`` as one float32 tensor on ``device``, converted and copied ``chunk_bytes`` of input at
    a time (a float32 array is shared, not copied, on the host)."""
    if X.dtype == np.float32:
        return as_float_tensor(X).to(device)
    out = torch.empty(X.shape, dtype=torch.float32, device=device)
    step = max(1, chunk_bytes // max(1, X[:1].nbytes))
    for i in range(0, len(X), step):
        out[i:i + step] = as_float_tensor(X[i:i + step]).to(device)
    return out


def _check_rank(estimator, X) -> None:
    """Images given to a model fitted on vectors, or vectors (flat rows, a DataFrame) to a model
    fitted on images: say so in terms of samples, not of scikit-learn's "features" (which, for
    images, counts the bands)."""
    fitted = tuple(getattr(estimator, "input_shape_", ()) or ())
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) < 2 or not fitted or (len(shape) == 4) == (len(fitted) == 3):
        return
    sample = tuple(int(d) for d in shape[1:])
    name = type(estimator).__name__
    if len(fitted) == 3:
        size = int(np.prod(fitted))
        fix = (f"reshape them with X.reshape(-1, {', '.join(map(str, fitted))})" if int(np.prod(sample)) == size
               else f"give images of {fitted[0]} bands of {fitted[1]}x{fitted[2]} pixels")
        raise ValueError(
            f"X has samples of shape {sample}, but {name} was fitted on images of shape {fitted} (bands, height, "
            f"width), {size} values each: {fix}, or put sklearn_ssl.preprocessing.ImageReshaper"
            f"(image_shape={fitted}) in front of it in a Pipeline.")
    raise ValueError(f"X has samples of shape {sample}, but {name} was fitted on vectors of {fitted[0]} features; "
                     "give it rows of that length.")


def _raise_shape_mismatch(estimator, shape: tuple) -> None:
    raise ValueError(
        f"X has samples of shape {shape}, but {type(estimator).__name__} was fitted on samples of "
        f"shape {estimator.input_shape_} (bands, height, width). Use images with the same bands and size."
    )


#: Constraints of the training parameters shared by the contrastive estimators (same names, same meaning).
_TRAINING_CONSTRAINTS: dict = {
    "augmentations": [None, str, torch.nn.Module, list, tuple],
    "normalize": [StrOptions({"standard", "asinh"}), None],
    "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
    "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
    "lr": LR_CONSTRAINT,
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
    "optimizer": [type],
    "lr_schedule": LR_SCHEDULE_CONSTRAINT,
    "device": [str, torch.device],
    "precision": [StrOptions({"auto", "fp32", "bf16", "fp16"})],
    "compile": ["boolean"],
    "accelerator": [None, object],  # an accelerate.Accelerator (accelerate is an optional extra)
    "checkpoint_dir": [str, os.PathLike, None],
    "checkpoint_every": [Interval(numbers.Integral, 1, None, closed="left")],
    "resume": [StrOptions(set(RESUME_MODES))],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
}

#: The docstring of the training parameters every torch estimator shares.
ENGINE_PARAMS_DOC = """
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        Autocast precision of the network; ``"auto"`` is bf16 on a CUDA device that
        supports it and fp32 otherwise. fp16 scales the loss (``torch.amp.GradScaler``).
    compile : bool, default=False
        Compile the network with :func:`torch.compile` (pays on GPUs for long runs; the
        first epoch is slower while it compiles). Not with ``accelerator``.
    accelerator : accelerate.Accelerator or None, default=None
        Train through skorch's ``AccelerateMixin`` (``pip install accelerate``; several GPUs
        or nodes with ``accelerate launch``: each process trains on its share of every
        epoch, and contrastive losses gather their negatives across processes). The accelerator then places the model and sets the precision: ``device``,
        ``precision`` and ``compile`` other than their defaults warn that they are ignored
        (set them on the ``Accelerator``). ``Accelerator(cpu=True)`` in one process gives the
        same model as training without one.
    checkpoint_dir : str or None, default=None
        Folder for a resumable checkpoint (weights, optimizer, RNG states, history), written
        atomically every ``checkpoint_every`` epochs and after the last; a fit with the same
        parameters and data resumes from it and gives the uninterrupted run's model. The
        checkpoint's fingerprint (parameters, sample count and shape, a hash of sampled rows,
        normaliser statistics) says which run wrote it; see ``resume``.
    checkpoint_every : int, default=1
        Epochs between checkpoints (warns when set without ``checkpoint_dir``).
    resume : {"auto", "strict", "never"}, default="auto"
        What a checkpoint already in ``checkpoint_dir`` is used for. ``"auto"``: resume it
        when it was made by this run (same fingerprint); a checkpoint of another run (other
        data or parameters) is not resumed: training starts afresh with a warning saying
        what differs, and replaces it at the first saved epoch. ``"strict"``: resume this
        run's checkpoint; another run's raises a ValueError and is kept. ``"never"``: start
        afresh whatever the folder holds. Warns when set without ``checkpoint_dir``."""


def inference_batches(X, step: int, device) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, X[start:start + step])`` as float32 tensors on ``device``, converted a batch at
    a time; rows on disk (memmap, HDF5) are read in a background thread two batches ahead."""
    starts = range(0, len(X), step)
    if is_disk_backed(X) or not (isinstance(X, np.ndarray) and X.dtype == np.float32):
        rows = mapped_hdf5(X)
        batches = read_ahead(lambda i: as_float_tensor(read_rows(rows, slice(i, i + step))), starts)
    else:
        batches = (as_float_tensor(X[i:i + step]) for i in starts)
    for start, xb in zip(starts, batches):
        yield start, xb.to(device, non_blocking=True)


class TorchEstimatorMixin:
    """Validation, placement, seeding and batched prediction for an estimator that trains a
    torch module. The estimator provides ``random_state`` and, once fitted, ``device_``."""

    def _check_images(self, X, *, reset: bool, min_samples: int = 1):
        return check_images(self, X, reset=reset, min_samples=min_samples, allow_disk=True)

    def _draw_seed(self) -> int:
        """The run's torch seed, drawn once per fit from ``random_state``."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    @contextlib.contextmanager
    def _seeded(self, seed: int, device: str):
        """Weight initialisation from ``seed`` alone: torch's global generator is seeded on a
        forked state, under a lock, so that fits in concurrent threads (joblib or Dask thread
        workers) cannot interleave their draws. Training itself draws only from the net's own
        generators."""
        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _fingerprint(self, X) -> dict:
        """What identifies a training run, for refusing to resume a foreign checkpoint."""
        # where and how the run is watched or placed, not what it computes (an accelerator's repr
        # is its address, which a restarted process cannot repeat)
        ignored = {"callbacks", "checkpoint_dir", "checkpoint_every", "resume", "verbose", "device", "accelerator"}
        params = {k: repr(v) for k, v in self.get_params(deep=False).items() if k not in ignored}
        return {"params": params, **data_fingerprint(X)}  # n, shape and a hash of sampled rows

    def _checkpoint_callbacks(self, X) -> list:
        """The resumable checkpoint, when ``checkpoint_dir`` is set; append it last (it saves
        what the other callbacks recorded at the end of an epoch)."""
        if getattr(self, "checkpoint_dir", None) is None:
            return []
        return [("resumable_checkpoint", ResumableCheckpoint(os.fspath(self.checkpoint_dir), self.checkpoint_every,
                                                             self._fingerprint(X), getattr(self, "resume", "auto")))]

    def _warn_ignored_engine_params(self) -> None:
        """The shared training vocabulary: a setting the configuration does not use warns."""
        if getattr(self, "accelerator", None) is not None:
            when = "with an accelerator, which places the model and sets the precision"
            warn_if_set(self, "device", when, "place it with Accelerator(cpu=True) or accelerate launch")
            warn_if_set(self, "precision", when, "set Accelerator(mixed_precision=...)")
            warn_if_set(self, "compile", when, "set Accelerator(dynamo_backend=...)")
        if getattr(self, "checkpoint_dir", None) is None and hasattr(self, "checkpoint_every"):
            warn_if_set(self, "checkpoint_every", "without checkpoint_dir", "set checkpoint_dir to a folder")
        if getattr(self, "checkpoint_dir", None) is None and hasattr(self, "resume"):
            warn_if_set(self, "resume", "without checkpoint_dir", "set checkpoint_dir to a folder")

    def _training_device(self) -> str:
        """The device training runs on: the accelerator's, or ``device`` resolved."""
        if getattr(self, "accelerator", None) is not None:
            return str(self.accelerator.device)
        return _resolve_device(str(self.device))

    def _make_net(self, net_cls: type, *args, device: str, **kwargs):
        """The estimator's skorch net, a ``net_cls`` (a ``TrainingNet`` subclass), trained as the
        shared vocabulary says: on ``device`` with ``precision`` and ``compile``, or, with an
        ``accelerator``, as :func:`~sklearn_ssl.engine._training.accelerated` ``(net_cls)``,
        placed by the accelerator (``device=None``), in its mixed precision, uncompiled, its
        epoch table printed by ``accelerator.print`` (once, by the main process)."""
        accelerator = getattr(self, "accelerator", None)
        if accelerator is None:
            return net_cls(*args, device=device, precision=_resolve_precision(self.precision, device),
                           compile=self.compile, **kwargs)
        return accelerated(net_cls)(
            *args, accelerator=accelerator, device=None, precision="fp32", compile=False,
            callbacks__print_log__sink=accelerator.print if self.verbose else silent, **kwargs)

    def _fit_net(self, build: Callable[[int], Any], X, y=None, *, device: str, ebv=None,
                 prepare: Callable[[Any], None] | None = None):
        """The one fit routine of every torch estimator: seed, build, place the data, train, clean up.

        ``build(seed)`` returns the skorch net (initialised here, its weights drawn from
        ``seed`` alone); ``prepare(net)`` runs before training (e.g. loading published
        weights). ``X`` is placed on ``device`` by :func:`_place_data` (in place, streamed
        from the host or read from disk a batch at a time), ``ebv`` checked and handed to the
        augmentations row by row. Training runs up to the net's ``max_epochs`` (a checkpoint
        callback may resume it); any exception or interruption (Ctrl-C, SIGTERM, a
        non-finite loss) leaves the estimator unfitted. Sets ``net_`` and ``device_``.
        """
        seed = self._draw_seed()
        with self._seeded(seed, device):
            net = build(seed).initialize()
        if prepare is not None:
            prepare(net)
        ebv = check_ebv(ebv, len(X), net.augmentations_)
        net.catalogue_ebv = None if ebv is None else torch.as_tensor(ebv, dtype=torch.float32, device=device)
        self.net_ = net
        try:
            net.partial_fit(_place_data(X, device), y)
        except BaseException:
            _forget_fit(self)
            raise
        finally:  # the generators and E(B-V) belong to this fit only
            net.shuffle_generator_ = net.augment_generator_ = net.catalogue_ebv = None
        self.device_ = device
        return net

    def _stream(self, X, model: Callable[[torch.Tensor, int], torch.Tensor], step: int,
                dtype=np.float32) -> np.ndarray:
        """``model(batch, start)`` over ``X`` in batches of ``step``, under inference mode, into
        one ``(n, ...)`` array allocated at the first batch: memory grows with a batch and the
        output, not with the images."""
        out = None
        with torch.inference_mode():
            for start, xb in inference_batches(X, step, torch.device(self.device_)):
                result = model(xb, start).float().cpu().numpy()
                if out is None:
                    out = np.empty((len(X), *result.shape[1:]), dtype=dtype)
                out[start:start + len(xb)] = result
        return out
