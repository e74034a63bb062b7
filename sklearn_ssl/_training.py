"""The private skorch net behind :class:`~sklearn_ssl.ContrastiveEmbedder`.

skorch runs the loop, callbacks, history and device moves; this module adds only what
is specific to self-supervised pretraining:

- batches are sliced from a tensor that lives on the training device (no DataLoader,
  no per-sample collation), shuffled with a seeded generator (:class:`DeviceBatches`);
- ``infer`` augments each batch twice on the device and hands the two views to the
  pretraining method (a skorch module, ``method_``; see :mod:`sklearn_ssl._methods`),
  whose output goes to the criterion (training), or returns the encoder's representation
  (evaluation);
- an optional auxiliary criterion learns from partial labels (semi-supervised);
- mixed precision (:class:`MixedPrecision`), normaliser statistics and interrupt handling.
"""

from __future__ import annotations

import math
import re
import sys
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import LRScheduler, PrintLog
from skorch.hf import AccelerateMixin
from torch import nn

from ._disk import DiskRows, is_disk_backed, read_ahead
from .encoders import output_dim
from ._methods import TrainingStep

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Standardize(nn.Module):
    """Per-channel ``(x - loc) / scale``, optionally followed by ``asinh``; statistics fixed at fit."""

    def __init__(self, loc: np.ndarray, scale: np.ndarray, asinh: bool = False):
        super().__init__()
        self.asinh = asinh
        self.register_buffer("loc", torch.as_tensor(loc, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = (x - self.loc.view(shape)) / self.scale.view(shape)
        return torch.asinh(x) if self.asinh else x



#: For data on disk, the normaliser's sample holds at most this many pixel values per band
#: (16 MiB in float64): fit's memory beyond the batches stays fixed whatever the image size.
SAMPLE_VALUES_ON_DISK = 1 << 21


def sample_step(X) -> int:
    """Row stride of the normaliser's strided sample of ``X``: 2,048 to 4,095 images (all
    of them below 4,096); for disk-backed data (memmap, HDF5, dask), also at most
    :data:`SAMPLE_VALUES_ON_DISK` pixel values per band, so larger images are strided further."""
    n = int(X.shape[0])
    step = max(1, n // 2048)
    if is_disk_backed(X):
        per_image = max(1, int(np.prod(X.shape[2:])))
        step = max(step, -(-n // max(1, SAMPLE_VALUES_ON_DISK // per_image)))
    return step


def fit_normalizer(X, normalize: str | None, *, sample: bool = True) -> nn.Module:
    """The input normaliser of every estimator that trains a torch module.

    ``normalize=None``: identity; ``"standard"``: per-band ``(x - median) / scale`` from
    :func:`band_statistics` (float64, robust to a few extreme pixels); ``"asinh"``: the
    same, then ``asinh``. With ``sample=True`` the statistics come from a strided sample
    (:func:`sample_step`) read one band at a time: memory maps and HDF5 datasets are never
    loaded whole, and no copy of the sample's other bands is held.
    """
    if normalize is None:
        return nn.Identity()
    loc, scale = band_statistics(X, step=sample_step(X) if sample else 1)
    return Standardize(loc, scale, asinh=normalize == "asinh")


def band_statistics(X, trim: float = 1e-3, dominance: float = 10.0,
                    step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-band median and scale of ``(n, C, ...)`` images (or per-feature, for vectors), in float64.

    The scale is the standard deviation, unless a few extreme pixels dominate it: when
    leaving out the ``trim`` fraction of most extreme values at each end (at least one)
    shrinks it by more than ``dominance``, the trimmed standard deviation is used and a
    ``UserWarning`` names the band. A sentinel such as 1e30 for masked pixels would
    otherwise set the scale (or overflow it to infinity) and wipe out the band.
    Constant bands get scale 1.

    Only every ``step``-th image is used, read one band at a time (``X[::step, band]``;
    ``X`` may be an HDF5 dataset). Memory: about 2.3 times one band's sample in float64
    (the values, then one partitioned or centred temporary, plus masks), never a copy
    of all bands.
    """
    locs, scales, dominated = [], [], []
    for band in range(X.shape[1]):
        loc, scale, trimmed, largest = _one_band(X, band, step, trim)
        if trimmed is not None and not scale <= dominance * trimmed:  # also true for an infinite scale
            dominated.append((band, scale, trimmed, largest))
            scale = trimmed
        locs.append(loc)
        scales.append(scale if np.isfinite(scale) and scale > 0 else 1.0)
    if dominated:
        detail = "; ".join(f"band {b}: std {s:.3g} vs {t:.3g} without them (largest |value| {m:.3g})"
                           for b, s, t, m in dominated)
        warnings.warn(
            f"The spread of {len(dominated)} band(s) is dominated by a few extreme pixels ({detail}); their "
            f"scale is taken without the {trim:.1%} most extreme values at each end. Check for sentinel "
            "values (e.g. 1e30 or -9999 for masked pixels): set them to NaN and impute them "
            "(sklearn_ssl.PixelImputer).",
            UserWarning, stacklevel=3,
        )
    return np.asarray(locs), np.asarray(scales)


def _one_band(X, band: int, step: int, trim: float) -> tuple:
    """Median, standard deviation, trimmed standard deviation (None when too few values) and
    largest ``|value|`` of ``values = X[::step, band]`` as float32, in float64 (``X`` is never written).

    Equal to ``np.median(values)``, ``values.std()`` and the std of the values between the
    ``k``-th smallest and largest, computed with one partitioned copy (freed before the
    trimmed values are gathered) instead of one for the median and one for the bounds, and
    with ``values`` freed before the trimmed std's temporary.
    """
    # the float32 values the model computes on (float64 input is converted a batch at a time
    # for training), then float64 for the statistics: float64 and float32 input normalise alike
    values = np.asarray(np.asarray(X[::step, band], dtype=np.float32), dtype=np.float64).ravel()
    scale, n = values.std(), values.size
    largest = max(abs(values.min()), abs(values.max()))
    k = max(1, int(trim * n))
    if n <= 2 * k + 1:
        return np.median(values), scale, None, largest
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]  # as np.median: the middle one or two
    ordered = np.partition(values, sorted({k, n - 1 - k, *middle}))
    loc = np.mean(ordered[middle[0]:middle[-1] + 1])
    lo, hi = ordered[k], ordered[n - 1 - k]
    del ordered
    keep = values >= lo
    keep &= values <= hi
    trimmed = values[keep]
    del keep, values
    return loc, scale, trimmed.std(), largest


def check_finite_loss(net, loss: torch.Tensor, what: str) -> None:
    """Stop training with a FloatingPointError naming the epoch when ``loss`` is NaN or infinite."""
    value = loss.item()
    if not math.isfinite(value):
        precision = getattr(net, "precision", None)
        reduced = precision is not None  # the fine-tuners always train in fp32
        raise FloatingPointError(
            f"The {what} loss became {value} in epoch {len(net.history)}. Likely causes: a learning "
            f"rate too high (lr={net.lr}), "
            + (f"reduced precision overflow (precision={precision!r}), " if reduced else "")
            + "or extreme pixel values. Lower lr"
            + (", use precision='fp32'" if reduced else "") + ", or check the input."
        )


class ReraiseInterrupt:
    """Mixin for a skorch net: Ctrl-C (or SIGTERM turned into KeyboardInterrupt) stops ``fit``.

    skorch's ``partial_fit`` catches ``KeyboardInterrupt`` and returns as if training had
    finished. Here the interruption still ends the loop and runs ``on_train_end``, then
    propagates, so that callers never mistake an interrupted run for a finished one.
    Checkpoints written at the end of completed epochs are kept.
    """

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            self.__dict__["_interrupted"] = exc  # outside skorch's attribute handling
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self.__dict__.pop("_interrupted", None)
        super().partial_fit(X, y, classes=classes, **fit_params)
        interrupted = self.__dict__.pop("_interrupted", None)
        if interrupted is not None:
            raise interrupted
        return self


class DeviceBatches:
    """Iterate over ``(X[idx], y[idx])`` batches on ``device``, optionally shuffled by a generator.

    ``X`` either lives on ``device`` already (the fast path: batches are index
    operations on the device) or on the host, in which case each batch is gathered on
    the host, staged in pinned memory when the target is a GPU and copied without
    blocking, one batch ahead of the one being trained on. A disk-backed collection
    (:class:`~sklearn_ssl._disk.DiskRows`: a memmap or an HDF5 dataset) is read in a
    background thread two batches ahead, so that disk reads overlap with training.
    ``y`` (optional, e.g. partial labels) is small and always kept on ``device``.

    In training, a final batch of a single sample is dropped (batch norm and
    contrastive losses need at least two); it changes with every epoch's shuffle.
    ``drop_last=True`` drops any final smaller batch, as contrastive pretraining does
    (SimCLR, MoCo): a contrastive loss depends on the batch size (its chance level is
    ``ln(2B - 1)``), so a small last batch would mix a different quantity into the epoch's
    loss; with shuffling the left-out samples change from epoch to epoch.
    With ``world > 1`` (distributed training) each process takes its own equal share
    of the epoch's permutation, so all processes run the same number of equal batches.
    With ``with_index=True`` each batch's images come as ``(X[idx], idx)``, the rows'
    indices in ``X`` as a tensor on ``device`` (MoCo's queue remembers whose keys it holds).
    """

    def __init__(
        self, X: torch.Tensor, batch_size: int, shuffle: bool, generator: torch.Generator | None,
        device: torch.device | str | None = None, rank: int = 0, world: int = 1, stream: bool | None = None,
        y: torch.Tensor | None = None, drop_last: bool = False, with_index: bool = False,
    ):
        self.X, self.batch_size, self.shuffle, self.generator = X, batch_size, shuffle, generator
        self.drop_last, self.with_index = drop_last, with_index
        self.device = torch.device(device) if device is not None else X.device
        self.rank, self.world = rank, world
        self.stream = (isinstance(X, DiskRows) or X.device != self.device) if stream is None else stream
        self.y = None if y is None else y.to(self.device)

    def _n(self) -> int:
        return len(self.X) // self.world

    def __len__(self) -> int:
        full, rest = divmod(self._n(), self.batch_size)
        if self.drop_last and full:
            return full
        return full + (rest > 1 or (rest == 1 and not self.shuffle))

    def _indices(self) -> list:
        """One index (a slice, or a tensor of rows on the host) per batch."""
        n = self._n()
        slices = [slice(i * self.batch_size, min(n, (i + 1) * self.batch_size)) for i in range(len(self))]
        if not self.shuffle and self.world == 1:
            return slices
        order = torch.randperm(len(self.X), generator=self.generator) if self.shuffle else torch.arange(len(self.X))
        order = order[self.rank * n:(self.rank + 1) * n]
        return [order[sl] for sl in slices]

    def _x(self, idx):
        x = self._rows(idx)
        if not self.with_index:
            return x
        rows = torch.arange(idx.start, idx.stop) if isinstance(idx, slice) else idx
        return x, rows.to(self.device)

    def _rows(self, idx) -> torch.Tensor:
        if not self.stream:
            return self.X[idx if isinstance(idx, slice) else idx.to(self.device)]
        return self._to_device(self._read(idx)[1])

    def _read(self, idx) -> tuple:
        """The batch's rows gathered on the host (pinned when the target is a GPU)."""
        batch = self.X[idx] if isinstance(idx, slice) else self.X.index_select(0, idx)
        return idx, batch.pin_memory() if self.device.type == "cuda" else batch

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.to(self.device, non_blocking=self.device.type == "cuda")

    def _y(self, idx) -> torch.Tensor | None:
        if self.y is None:
            return None
        return self.y[idx if isinstance(idx, slice) else idx.to(self.device)]

    def __iter__(self):
        indices = self._indices()
        if not self.stream:
            for idx in indices:
                yield self._x(idx), self._y(idx)
            return
        if isinstance(self.X, DiskRows):  # read from disk in a background thread, two batches ahead
            for idx, batch in read_ahead(self._read, indices):
                yield self._to_device(batch), self._y(idx)
            return
        pending = None
        for idx in indices:  # stage batch i+1 while batch i is being used
            staged = self._x(idx), self._y(idx)
            if pending is not None:
                yield pending
            pending = staged
        if pending is not None:
            yield pending


def on_terminal(stream) -> bool:
    """Whether ``stream`` is shown live (a terminal or a notebook), not a file or a pipe.

    Progress bars and colour codes go only there: in a redirected log they are noise.
    """
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class TerminalPrintLog(PrintLog):
    """skorch's epoch table; its colour codes (best values) only when stdout is a terminal."""

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        return text if not isinstance(text, str) or on_terminal(sys.stdout) else _ANSI.sub("", text)


class MixedPrecision:
    """Mixin for a skorch net: autocast to ``precision`` and, for fp16, scale the loss.

    The one precision mechanism of the package's nets (contrastive, cross-modal). It
    mirrors skorch's ``AccelerateMixin`` hooks (``train_step_single`` runs forward and
    backward, ``_step_optimizer`` steps through the scaler) with ``torch.autocast`` and
    ``torch.amp.GradScaler``, the same torch calls accelerate makes. Accelerate's own
    ``Accelerator`` is not used for this: its state is a process-wide singleton that
    refuses a second precision in the same process (``ValueError: AcceleratorState has
    already been initialized and cannot be changed``, accelerate 1.15), which a
    scikit-learn estimator cannot accept (``GridSearchCV`` over ``precision``, two
    embedders in one session), and accelerate is an optional extra. When an
    ``Accelerator`` is given, :class:`AcceleratedContrastiveNet` puts ``AccelerateMixin``
    first and its mixed precision replaces this one (``precision`` is then "fp32").
    """

    def _autocast(self, device: torch.device):
        dtype = _AUTOCAST[self.precision]
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def _grad_scaler(self):
        if self.precision != "fp16":
            return None
        if getattr(self, "grad_scaler_", None) is None:
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self.grad_scaler_

    def train_step_single(self, batch, **fit_params):
        scaler = self._grad_scaler()
        if scaler is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        scaler = self._grad_scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()


class PretrainingNet(ReraiseInterrupt, MixedPrecision, NeuralNet):
    """skorch net for self-supervised pretraining on augmented views of images.

    Shared by the contrastive and the cross-modal nets: batches sliced on the device
    (:class:`DeviceBatches`) with a seeded shuffle, a seeded augmentation generator per
    device, the encoder (compiled, channels-last), the deterministic embedding of
    ``transform``, precision (:class:`MixedPrecision`) and a loop that trains up to
    ``max_epochs`` in all, so that a run resumed from a checkpoint finishes the same schedule.

    Parameters (besides skorch's)
    -----------------------------
    input_shape : tuple
        Shape of one sample.
    augmentations, normalizer : nn.Module
        Batched augmentations and the normaliser applied after them.
    precision : {"fp32", "bf16", "fp16"}
    compile, channels_last : bool
        ``torch.compile`` the encoder; lay image batches out channels-last.
    seed : int
        Seeds the shuffle and augmentation generators.
    """

    def __init__(self, *args, input_shape: tuple[int, ...], augmentations: nn.Module, normalizer: nn.Module,
                 precision: str = "fp32", compile: bool = False, channels_last: bool = False, seed: int = 0,
                 **kwargs):
        # set before NeuralNet.__init__: skorch refuses torch modules assigned later
        self.input_shape = tuple(input_shape)
        self.augmentations = augmentations
        self.normalizer = normalizer
        self.precision = precision
        self.compile = compile
        self.channels_last = channels_last
        self.seed = seed
        super().__init__(*args, **kwargs)

    def initialize_module(self):
        super().initialize_module()
        self.normalizer_ = self.normalizer
        self.augmentations_ = self.augmentations
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    @property
    def _default_callbacks(self):
        return [(name, TerminalPrintLog() if name == "print_log" else cb) for name, cb in super()._default_callbacks]

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """Train until the history holds ``max_epochs`` epochs (all of them in a fresh run)."""
        if epochs is None:
            epochs = max(self.max_epochs - len(self.history), 0)
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    # -- data ------------------------------------------------------------------
    def _uses_index(self) -> bool:
        """Whether training batches carry their sample indices."""
        return getattr(self, "catalogue_ebv", None) is not None

    def get_iterator(self, dataset, training=False):
        X = dataset.X
        if not isinstance(X, (torch.Tensor, DiskRows)):
            raise TypeError(f"{type(self).__name__} expects a tensor on the training device or a DiskRows collection.")
        if training and getattr(self, "shuffle_generator_", None) is None:
            self.shuffle_generator_ = torch.Generator().manual_seed(self.seed)
        accelerator = getattr(self, "accelerator", None)
        rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
        device = accelerator.device if accelerator else self.device
        batches = DeviceBatches(
            X, min(self.batch_size, len(X) // world), training, getattr(self, "shuffle_generator_", None),
            device=device, rank=rank, world=world, y=dataset.y if training else None,
            drop_last=training,  # equal batches: one loss scale per epoch (see DeviceBatches)
            with_index=training and self._uses_index(),
        )
        if training:
            self.steps_per_epoch_ = len(batches)  # BYOL's momentum schedule counts steps
        return batches

    def _augment_generator(self, device: torch.device) -> torch.Generator:
        gen = getattr(self, "augment_generator_", None)
        if gen is None or gen.device != device:
            accelerator = getattr(self, "accelerator", None)
            rank = accelerator.process_index if accelerator else 0  # own draws for each process's shard
            gen = torch.Generator(device=device).manual_seed(self.seed + 1 + rank)
            self.augment_generator_ = gen
        return gen

    # -- forward ---------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder on a normalised batch, compiled and channels-last when asked."""
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if not self.compile:
            return self.module_(x)
        compiled = self.__dict__.get("_compiled")  # kept out of skorch's attribute tracking and pickles
        if compiled is None:
            compiled = self.__dict__["_compiled"] = torch.compile(self.module_)
        return compiled(x)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled", None)
        return state

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Representation of a batch: deterministic view, normalise, encode."""
        x = self.augmentations_.eval_view(x) if hasattr(self.augmentations_, "eval_view") else x
        with self._autocast(x.device):
            return self._encode(self.normalizer_(x)).float()


class ContrastiveNet(PretrainingNet):
    """Two-view self-supervised pretraining, each concern a skorch component.

    ``module`` is the encoder; ``method`` a :class:`~sklearn_ssl._methods.PretrainingMethod`
    class, built after the encoder as the module ``method_`` (its heads and momentum
    networks; ``method__projection_dim``, ``method__momentum``); ``criterion`` is the
    method's loss; ``label_criterion`` an optional auxiliary criterion on partial labels
    (:class:`~sklearn_ssl.losses.PartialLabelLoss`, ``label_criterion__*``); resuming is
    the ``ResumableCheckpoint`` callback's ``on_train_begin``; precision is
    :class:`MixedPrecision`. Other parameters: :class:`PretrainingNet`.
    """

    def __init__(self, *args, method: type, label_criterion: type | None = None, **kwargs):
        self.method = method
        self.label_criterion = label_criterion
        super().__init__(*args, **kwargs)

    def initialize_module(self):
        super().initialize_module()
        self.method_ = self.method(self.module_, output_dim(self.module_, self.input_shape),
                                   **self.get_params_for("method"))
        return self

    def initialize_criterion(self):
        super().initialize_criterion()
        if self.label_criterion is not None:  # after the method: its heads draw the same weights
            self.label_criterion_ = self.initialized_instance(self.label_criterion,
                                                              self.get_params_for("label_criterion"))
        return self

    def _uses_index(self) -> bool:
        return self.method.uses_index or super()._uses_index()

    def _steps_done(self) -> int:
        """Optimisation steps completed before the current one (its batch is already recorded)."""
        return sum(len(epoch["batches"]) for epoch in self.history) - 1

    def infer(self, x, **fit_params):
        x, index = x if isinstance(x, tuple) else (x, None)
        if not self.module_.training:
            return self.embed(x)
        gen = self._augment_generator(x.device)
        ebv = getattr(self, "catalogue_ebv", None)  # set by ContrastiveEmbedder.fit for its duration
        side = {} if ebv is None or index is None else {"ebv": ebv[index]}
        v1 = self.normalizer_(self.augmentations_(x, generator=gen, **side))
        v2 = self.normalizer_(self.augmentations_(x, generator=gen, **side))
        step = TrainingStep(
            encoder=self.module_, encode=self._encode, generator=gen,
            index=index if self.method.uses_index else None, step=self._steps_done(),
            total_steps=self.max_epochs * (getattr(self, "steps_per_epoch_", None) or 1),
            channels_last=self.channels_last,
        )
        with self._autocast(x.device):
            return self.method_(v1, v2, step)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, tuple):
            raise RuntimeError("contrastive loss needs the two views' projections (training mode).")
        loss = self.criterion_(*y_pred)
        if training and getattr(self, "label_criterion_", None) is not None and y_true is not None:
            loss = loss + self.label_criterion_(y_pred[0], y_true)
        if training:
            check_finite_loss(self, loss, "contrastive")
        return loss


class AcceleratedContrastiveNet(AccelerateMixin, ContrastiveNet):
    """:class:`ContrastiveNet` trained through Hugging Face accelerate (multi-GPU, multi-node).

    ``AccelerateMixin`` comes first so that its autocast, backward and optimizer steps
    replace the net's own precision handling.
    """

    def _initialize_accelerator(self):
        """As skorch's, but only modules with trainable weights are wrapped (DDP refuses the
        others: MoCo's key encoder, the criterion's queue, normaliser, augmentations); those
        are only moved to the accelerator's device."""
        if self._wrapped_with_accelerator:
            return self
        device = self.accelerator.device
        for kind, names in (("criterion", self._criteria), ("module", self._modules)):
            with self._current_init_context(kind):
                for name in names:
                    module = getattr(self, name + "_")
                    if not isinstance(module, nn.Module):
                        continue
                    trainable = any(p.requires_grad for p in module.parameters())
                    setattr(self, name + "_", self.accelerator.prepare(module) if trainable else module.to(device))
        with self._current_init_context("optimizer"):
            for name in self._optimizers:
                setattr(self, name + "_", self.accelerator.prepare(getattr(self, name + "_")))
        for _, callback in self.callbacks_:
            if isinstance(callback, LRScheduler):
                callback.policy_ = self.accelerator.prepare(callback.policy_)
        self._wrapped_with_accelerator = True
        return self


    def on_train_end(self, net, X=None, y=None, **kwargs):
        # DDP keeps weights equal but batch-norm statistics are per process: take rank 0's
        if self.accelerator.num_processes > 1:
            for name in self._modules + self._criteria:
                module = getattr(self, name + "_")
                for buffer in module.buffers() if isinstance(module, nn.Module) else ():
                    torch.distributed.broadcast(buffer, src=0)
        return super().on_train_end(net, X=X, y=y, **kwargs)


def silent(*args, **kwargs) -> None:
    """A print sink that prints nothing (accelerate's print ignores ``verbose``)."""
