"""The skorch nets behind every torch estimator.

skorch runs the loop, callbacks, history and device moves; this module adds only what
is specific to self-supervised pretraining:

- batches are sliced from a tensor that lives on the training device (no DataLoader,
  no per-sample collation), shuffled with a seeded generator (:class:`DeviceBatches`);
- ``infer`` augments each batch twice on the device and hands the two views to the
  pretraining method (a skorch module, ``method_``; see :mod:`sklearn_ssl.engine._methods`),
  whose output goes to the criterion (training), or returns the encoder's representation
  (evaluation);
- an optional auxiliary criterion learns from partial labels (semi-supervised);
- mixed precision (:class:`MixedPrecision`), normaliser statistics and interrupt handling.
"""

from __future__ import annotations

import re
import sys

import torch
from skorch import NeuralNet
from skorch.callbacks import LRScheduler, PrintLog
from skorch.hf import AccelerateMixin
from torch import nn

from ._batches import DeviceBatches
from ._divergence import StopsOnDivergence
from ._disk import DiskRows
from ..nn.encoders import output_dim
from ._methods import TrainingStep

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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
            if not self.__dict__.pop("_stopped_early", False):  # skorch's EarlyStopping stops by this exception
                self.__dict__["_interrupted"] = exc  # outside skorch's attribute handling
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self.__dict__.pop("_interrupted", None)
        super().partial_fit(X, y, classes=classes, **fit_params)
        interrupted = self.__dict__.pop("_interrupted", None)
        if interrupted is not None:
            raise interrupted
        return self


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
    ``Accelerator`` is given, :func:`accelerated` puts ``AccelerateMixin`` first and its
    mixed precision replaces this one (``precision`` is then "fp32").
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


class TrainingNet(StopsOnDivergence, ReraiseInterrupt, MixedPrecision, NeuralNet):
    """The skorch net under every torch estimator (pretraining and fine-tuning alike).

    What all of them share, written once: batches sliced on the device with their row
    indices on every input path (:class:`DeviceBatches`), a seeded shuffle and a seeded
    augmentation generator per device, the catalogue E(B-V) side channel into the
    augmentations, only trainable parameters handed to the optimiser, the model run
    compiled and channels-last when asked, precision (:class:`MixedPrecision`),
    interruption (:class:`ReraiseInterrupt`), divergence detection (:class:`StopsOnDivergence`), and a loop that
    trains up to ``max_epochs`` in all, so that a run resumed from a checkpoint finishes
    the same schedule.

    Parameters (besides skorch's)
    -----------------------------
    augmentations : nn.Module
        Batched augmentations (``eval_view`` gives the deterministic view, if defined).
    precision : {"fp32", "bf16", "fp16"}
    compile, channels_last : bool
        ``torch.compile`` the model; lay image batches out channels-last.
    seed : int
        Seeds the shuffle and augmentation generators.
    """

    #: Whether held-out batches carry their targets (a supervised net's validation loss needs them).
    scores_validation = False

    #: Drop a final smaller training batch (contrastive losses depend on the batch size).
    drop_last_in_training = False

    def __init__(self, *args, augmentations: nn.Module, precision: str = "fp32", compile: bool = False,
                 channels_last: bool = False, seed: int = 0, **kwargs):
        # set before NeuralNet.__init__: skorch refuses torch modules assigned later
        self.augmentations = augmentations
        self.precision = precision
        self.compile = compile
        self.channels_last = channels_last
        self.seed = seed
        super().__init__(*args, **kwargs)

    def initialize_module(self):
        super().initialize_module()
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
    def _process(self) -> tuple[int, int, torch.device]:
        """This process's rank, the number of processes and the training device."""
        return 0, 1, torch.device(self.device)

    def _uses_index(self) -> bool:
        """Whether training batches carry their sample indices."""
        return getattr(self, "catalogue_ebv", None) is not None

    def get_iterator(self, dataset, training=False):
        X = dataset.X
        if not isinstance(X, (torch.Tensor, DiskRows)):
            raise TypeError(f"{type(self).__name__} expects a tensor on the training device or a DiskRows collection.")
        if training and getattr(self, "shuffle_generator_", None) is None:
            self.shuffle_generator_ = torch.Generator().manual_seed(self.seed)
        rank, world, device = self._process()
        batches = DeviceBatches(
            X, min(self.batch_size, len(X) // world), training, getattr(self, "shuffle_generator_", None),
            device=device, rank=rank, world=world, y=dataset.y if training or self.scores_validation else None,
            drop_last=training and self.drop_last_in_training,  # see DeviceBatches
            with_index=training and self._uses_index(),
        )
        if training:
            self.steps_per_epoch_ = len(batches)  # BYOL's momentum schedule counts steps
        return batches

    def _augment_generator(self, device: torch.device) -> torch.Generator:
        gen = getattr(self, "augment_generator_", None)
        if gen is None or gen.device != device:
            rank = self._process()[0]  # own draws for each process's shard
            gen = torch.Generator(device=device).manual_seed(self.seed + 1 + rank)
            self.augment_generator_ = gen
        return gen

    def _augment(self, x: torch.Tensor, index: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """One augmented view of a training batch; rows carry their catalogue E(B-V), if any."""
        ebv = getattr(self, "catalogue_ebv", None)  # set by the estimator's fit for its duration
        side = {} if ebv is None or index is None else {"ebv": ebv[index]}
        return self.augmentations_(x, generator=generator, **side)

    def _eval_view(self, x: torch.Tensor) -> torch.Tensor:
        return self.augmentations_.eval_view(x) if hasattr(self.augmentations_, "eval_view") else x

    # -- forward ---------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """The model on a batch, compiled and channels-last when asked."""
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


class PretrainingNet(TrainingNet):
    """:class:`TrainingNet` for self-supervised pretraining on augmented views of images.

    Shared by the contrastive and the cross-modal nets: adds the per-band normaliser applied
    after the augmentations, the deterministic embedding of ``transform`` and equal training
    batches (``drop_last``).

    Parameters (besides :class:`TrainingNet`'s)
    -------------------------------------------
    input_shape : tuple
        Shape of one sample.
    normalizer : nn.Module
        The normaliser applied after the augmentations.
    """

    drop_last_in_training = True

    def __init__(self, *args, input_shape: tuple[int, ...], normalizer: nn.Module, **kwargs):
        self.input_shape = tuple(input_shape)
        self.normalizer = normalizer
        super().__init__(*args, **kwargs)

    def initialize_module(self):
        super().initialize_module()
        self.normalizer_ = self.normalizer
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Representation of a batch: deterministic view, normalise, encode."""
        x = self._eval_view(x)
        with self._autocast(x.device):
            return self._encode(self.normalizer_(x)).float()


class ContrastiveNet(PretrainingNet):
    """Two-view self-supervised pretraining, each concern a skorch component.

    ``module`` is the encoder; ``method`` a :class:`~sklearn_ssl.engine._methods.PretrainingMethod`
    class, built after the encoder as the module ``method_`` (its heads and momentum
    networks; ``method__projection_dim``, ``method__momentum``); ``criterion`` is the
    method's loss; ``label_criterion`` an optional auxiliary criterion on partial labels
    (:class:`~sklearn_ssl.nn.losses.PartialLabelLoss`, ``label_criterion__*``); resuming is
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
        v1 = self.normalizer_(self._augment(x, index, gen))
        v2 = self.normalizer_(self._augment(x, index, gen))
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
        return loss


class AcceleratedTraining(AccelerateMixin):
    """Mixin that trains any :class:`TrainingNet` through Hugging Face accelerate (one device,
    several GPUs or nodes); :func:`accelerated` puts it in front of a net class.

    ``AccelerateMixin`` comes first so that its autocast, backward and optimizer steps
    replace the net's own precision handling (:class:`MixedPrecision`; ``precision`` is then
    "fp32" and the ``Accelerator``'s ``mixed_precision`` decides). Batches, shuffles and
    augmentation draws follow the accelerator's process (rank) and device. After training,
    modules and optimizers are unwrapped and ``device`` is the accelerator's, so that the
    fitted net predicts, moves and pickles like one trained without an accelerator.
    """

    def _process(self) -> tuple[int, int, torch.device]:
        return self.accelerator.process_index, self.accelerator.num_processes, self.accelerator.device

    def _initialize_accelerator(self):
        """As skorch's, but only modules with trainable weights are wrapped (DDP refuses the
        others: MoCo's key encoder, the criterion's queue, normaliser, augmentations); those
        are only moved to the accelerator's device."""
        if self._wrapped_with_accelerator:
            return self
        device = self.accelerator.device
        prepared = self.__dict__.setdefault("_prepared", [])  # outside skorch's attribute handling
        for kind, names in (("criterion", self._criteria), ("module", self._modules)):
            with self._current_init_context(kind):
                for name in names:
                    module = getattr(self, name + "_")
                    if not isinstance(module, nn.Module):
                        continue
                    trainable = any(p.requires_grad for p in module.parameters())
                    if trainable:
                        prepared += [module, self.accelerator.prepare(module)]
                    setattr(self, name + "_", prepared[-1] if trainable else module.to(device))
        with self._current_init_context("optimizer"):
            for name in self._optimizers:
                prepared += [getattr(self, name + "_"), self.accelerator.prepare(getattr(self, name + "_"))]
                setattr(self, name + "_", prepared[-1])
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
        result = super().on_train_end(net, X=X, y=y, **kwargs)
        # accelerate's optimizer wrapper does not pickle once a learning-rate scheduler has patched
        # its step: the net and its schedulers keep the torch optimizer inside it
        for name in self._optimizers:
            wrapper = getattr(self, name + "_")
            inner = getattr(wrapper, "optimizer", wrapper)
            setattr(self, name + "_", inner)
            for _, callback in self.callbacks_:
                scheduler = getattr(callback, "lr_scheduler_", None)
                if scheduler is not None and getattr(scheduler, "optimizer", None) is wrapper:
                    scheduler.optimizer = inner
        self.device = str(self.accelerator.device)  # prediction and pickles use the device that trained
        self._release_from_accelerator()
        return result

    def _release_from_accelerator(self) -> None:
        """Take this net's modules and optimizers out of the accelerator's lists of prepared
        objects: the accelerator would otherwise keep every fit's model alive (a grid search
        holds them all) and could no longer be pickled with the estimator. Only the objects
        this net prepared are removed; the user's stay."""
        ours = {id(obj) for obj in self.__dict__.pop("_prepared", [])}
        for attr in ("_models", "_optimizers", "_schedulers", "_dataloaders"):
            kept = getattr(self.accelerator, attr, None)
            if isinstance(kept, list):
                kept[:] = [obj for obj in kept if id(obj) not in ours]

    def __reduce__(self):
        # the class is made at run time (accelerated(NetClass)): pickle the plain class it extends
        return _new_accelerated, (self._plain_class,), self.__getstate__()


_ACCELERATED: dict[type, type] = {}


def accelerated(net_cls: type) -> type:
    """``net_cls`` (a :class:`TrainingNet` subclass) trained through accelerate: the same net
    with :class:`AcceleratedTraining` in front, made once per class. Its constructor takes
    skorch's ``accelerator=`` (and ``device=None``: the accelerator places the model)."""
    if issubclass(net_cls, AcceleratedTraining):
        return net_cls
    if net_cls not in _ACCELERATED:
        name = "Accelerated" + net_cls.__name__.lstrip("_")
        _ACCELERATED[net_cls] = type(name, (AcceleratedTraining, net_cls), {
            "__module__": net_cls.__module__, "__qualname__": name, "_plain_class": net_cls,
            "__doc__": f":class:`{net_cls.__name__}` trained through accelerate (:class:`AcceleratedTraining`).",
        })
    return _ACCELERATED[net_cls]


def _new_accelerated(net_cls: type):
    """An empty instance of ``accelerated(net_cls)``, for unpickling (its state is set next)."""
    cls = accelerated(net_cls)
    return cls.__new__(cls)


#: The accelerated contrastive net, under the name that models pickled before :func:`accelerated` refer to.
AcceleratedContrastiveNet = accelerated(ContrastiveNet)


def silent(*args, **kwargs) -> None:
    """A print sink that prints nothing (accelerate's print ignores ``verbose``)."""
