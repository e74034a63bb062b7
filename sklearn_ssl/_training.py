"""The private skorch net behind :class:`~sklearn_ssl.ContrastiveEmbedder`.

skorch runs the loop, callbacks, history and device moves; this module adds only what
is specific to contrastive pretraining:

- batches are sliced from a tensor that lives on the training device (no DataLoader,
  no per-sample collation), shuffled with a seeded generator;
- ``infer`` augments each batch twice on the device and returns the two views'
  projections (training) or the encoder's representation (evaluation);
- ``get_loss`` hands the pair to the contrastive criterion;
- for MoCo, a momentum key encoder and projector are extra skorch modules;
- for the negative-free methods (BYOL, SimSiam), a predictor head and, for BYOL, a
  momentum target encoder and projector (see :meth:`ContrastiveNet._infer_negative_free`).
"""

from __future__ import annotations

import copy
import math
import re
import sys

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import LRScheduler, PrintLog
from skorch.hf import AccelerateMixin
from torch import nn

from .encoders import output_dim
from .losses import cosine_momentum, momentum_update

_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Methods that learn without negatives: a predictor on the online branch, stop-gradient on the other.
NEGATIVE_FREE = ("byol", "simsiam")


class ProjectionHead(nn.Module):
    """Two-layer MLP projection head (SimCLR / MoCo v2): Linear-BN-ReLU-Linear."""

    def __init__(self, in_features: int, out_features: int = 128, hidden: int | None = None):
        super().__init__()
        hidden = hidden or in_features
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PredictionHead(ProjectionHead):
    """The predictor of BYOL and SimSiam: Linear-BN-ReLU-Linear from and to the projection space.

    BYOL (Grill et al. 2020, sec. 3.3) uses the projector's hidden width; SimSiam
    (facebookresearch/simsiam ``simsiam/builder.py``) a bottleneck of a quarter of the
    projection size (512 for 2048).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__(dim, dim, hidden)


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


class DeviceBatches:
    """Iterate over ``(X[idx], y[idx])`` batches on ``device``, optionally shuffled by a generator.

    ``X`` either lives on ``device`` already (the fast path: batches are index
    operations on the device) or on the host, possibly memory-mapped, in which case
    each batch is gathered on the host, staged in pinned memory when the target is a
    GPU and copied without blocking, one batch ahead of the one being trained on.
    ``y`` (optional, e.g. partial labels) is small and always kept on ``device``.

    In training, a final batch of a single sample is dropped (batch norm and
    contrastive losses need at least two); it changes with every epoch's shuffle.
    ``drop_last=True`` drops any final smaller batch, as contrastive pretraining does
    (SimCLR, MoCo): a contrastive loss depends on the batch size (its chance level is
    ``ln(2B - 1)``), so a small last batch would mix a different quantity into the epoch's
    loss; with shuffling the left-out samples change from epoch to epoch.
    With ``world > 1`` (distributed training) each process takes its own equal share
    of the epoch's permutation, so all processes run the same number of equal batches.
    """

    def __init__(
        self, X: torch.Tensor, batch_size: int, shuffle: bool, generator: torch.Generator | None,
        device: torch.device | str | None = None, rank: int = 0, world: int = 1, stream: bool | None = None,
        y: torch.Tensor | None = None, drop_last: bool = False,
    ):
        self.X, self.batch_size, self.shuffle, self.generator = X, batch_size, shuffle, generator
        self.drop_last = drop_last
        self.device = torch.device(device) if device is not None else X.device
        self.rank, self.world = rank, world
        self.stream = (X.device != self.device) if stream is None else stream
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

    def _x(self, idx) -> torch.Tensor:
        if not self.stream:
            return self.X[idx if isinstance(idx, slice) else idx.to(self.device)]
        batch = self.X[idx] if isinstance(idx, slice) else self.X.index_select(0, idx)
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch.to(self.device)

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


class ContrastiveNet(NeuralNet):
    """skorch net for two-view contrastive pretraining (SimCLR or MoCo v2).

    ``module`` is the encoder; ``criterion`` is the contrastive loss. Extra
    parameters are stored on the net and used in ``initialize_module``.
    """

    def __init__(
        self,
        *args,
        input_shape: tuple[int, ...],
        augmentations: nn.Module,
        normalizer: nn.Module,
        method: str = "simclr",
        projection_dim: int = 128,
        momentum: float = 0.99,
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool = False,
        label_task: str | None = None,
        n_label_outputs: int = 1,
        label_weight: float = 0.0,
        seed: int = 0,
        **kwargs,
    ):
        # set before NeuralNet.__init__: skorch refuses torch modules assigned later
        self.input_shape = tuple(input_shape)
        self.augmentations = augmentations
        self.normalizer = normalizer
        self.method = method
        self.projection_dim = projection_dim
        self.momentum = momentum
        self.precision = precision
        self.compile = compile
        self.channels_last = channels_last
        self.label_task = label_task
        self.n_label_outputs = n_label_outputs
        self.label_weight = label_weight
        self.seed = seed
        super().__init__(*args, **kwargs)

    # -- modules ---------------------------------------------------------------
    def initialize_module(self):
        super().initialize_module()
        self.normalizer_ = self.normalizer
        self.augmentations_ = self.augmentations
        dim = output_dim(self.module_, self.input_shape)
        self.projector_ = ProjectionHead(dim, self.projection_dim)
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        if self.method == "moco":
            self.key_encoder_ = copy.deepcopy(self.module_).requires_grad_(False)
            self.key_projector_ = copy.deepcopy(self.projector_).requires_grad_(False)
        if self.method in NEGATIVE_FREE:
            self._initialize_negative_free(dim)
        if self.label_task is not None:  # created last: the self-supervised parts draw the same weights
            self.label_head_ = nn.Linear(self.projection_dim, self.n_label_outputs)
        return self

    @property
    def _default_callbacks(self):
        return [(name, TerminalPrintLog() if name == "print_log" else cb) for name, cb in super()._default_callbacks]

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    # -- data ------------------------------------------------------------------
    def get_iterator(self, dataset, training=False):
        X = dataset.X
        if not isinstance(X, torch.Tensor):
            raise TypeError("ContrastiveNet expects a tensor on the training device.")
        if training and getattr(self, "shuffle_generator_", None) is None:
            self.shuffle_generator_ = torch.Generator().manual_seed(self.seed)
        accelerator = getattr(self, "accelerator", None)
        rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
        device = accelerator.device if accelerator else self.device
        batches = DeviceBatches(
            X, min(self.batch_size, len(X) // world), training, getattr(self, "shuffle_generator_", None),
            device=device, rank=rank, world=world, y=dataset.y if training else None,
            drop_last=training,  # equal batches: one loss scale per epoch (see DeviceBatches)
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
    def _autocast(self, device: torch.device):
        dtype = _AUTOCAST[self.precision]
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

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

    def infer(self, x, **fit_params):
        if not self.module_.training:
            return self.embed(x)
        gen = self._augment_generator(x.device)
        v1 = self.normalizer_(self.augmentations_(x, generator=gen))
        v2 = self.normalizer_(self.augmentations_(x, generator=gen))
        if self.method in NEGATIVE_FREE:
            return self._infer_negative_free(v1, v2)
        with self._autocast(x.device):
            z1 = self.projector_(self._encode(v1))
            if self.method == "moco":
                with torch.no_grad():
                    momentum_update(self.module_, self.key_encoder_, self.momentum)
                    momentum_update(self.projector_, self.key_projector_, self.momentum)
                    z2 = self.key_projector_(self.key_encoder_(v2))
            else:
                z2 = self.projector_(self._encode(v2))
        return z1, z2

    # -- negative-free methods ---------------------------------------------------
    def _initialize_negative_free(self, dim: int) -> None:
        """Predictor (both methods), output batch norm of the projector (SimSiam) and the
        momentum target encoder and projector (BYOL)."""
        p = self.projection_dim
        if self.method == "simsiam":  # builder.py ends the projector with BatchNorm1d(dim, affine=False)
            self.projector_ = nn.Sequential(self.projector_, nn.BatchNorm1d(p, affine=False))
        self.predictor_ = PredictionHead(p, dim if self.method == "byol" else max(p // 4, 2))
        if self.method == "byol":
            self.target_encoder_ = copy.deepcopy(self.module_).requires_grad_(False)
            self.target_projector_ = copy.deepcopy(self.projector_).requires_grad_(False)

    def _target_momentum(self) -> float:
        """BYOL's cosine schedule from ``momentum`` to 1 over the run, at the step just taken."""
        steps = sum(len(epoch["batches"]) for epoch in self.history) - 1  # the current batch is recorded
        per_epoch = getattr(self, "steps_per_epoch_", None) or 1
        return cosine_momentum(self.momentum, max(steps - 1, 0), self.max_epochs * per_epoch)

    def _infer_negative_free(self, v1: torch.Tensor, v2: torch.Tensor) -> tuple:
        """Online predictions and (stop-gradient) targets of two views: ``(p1, p2, t1, t2)``.

        SimSiam: the targets are the online projections themselves (detached by the loss).
        BYOL: the targets come from the momentum network, first moved by one step of the
        exponential moving average with the cosine-scheduled decay.
        """
        with self._autocast(v1.device):
            z1, z2 = self.projector_(self._encode(v1)), self.projector_(self._encode(v2))
            p1, p2 = self.predictor_(z1), self.predictor_(z2)
            if self.method == "simsiam":
                return p1, p2, z1, z2
            with torch.no_grad():
                tau = self._target_momentum()
                momentum_update(self.module_, self.target_encoder_, tau)
                momentum_update(self.projector_, self.target_projector_, tau)
                t1 = self.target_projector_(self.target_encoder_(v1))
                t2 = self.target_projector_(self.target_encoder_(v2))
        return p1, p2, t1, t2

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, tuple):
            raise RuntimeError("contrastive loss needs the two views' projections (training mode).")
        loss = self.criterion_(*y_pred)
        if training and self.label_task is not None and y_true is not None:
            loss = loss + self.label_weight * self._label_loss(y_pred[0], y_true)
        if training and not math.isfinite(loss.item()):
            epoch = len(self.history)
            raise FloatingPointError(
                f"The contrastive loss became {loss.item()} in epoch {epoch}. Likely causes: a learning "
                f"rate too high (lr={self.lr}), reduced precision overflow (precision={self.precision!r}), "
                "or non-finite pixels. Lower lr, use precision='fp32', or check the input."
            )
        return loss

    def _label_loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Supervised loss of the label head over the batch's labelled samples (0 if none).

        Classes are integers with -1 for unlabelled (cross entropy); continuous targets
        are standardised floats with NaN for unlabelled (squared error).
        """
        labelled = y >= 0 if self.label_task == "classification" else ~torch.isnan(y)
        if not bool(labelled.any()):
            return z.new_zeros(())
        out = self.label_head_(z[labelled].float())
        if self.label_task == "classification":
            return nn.functional.cross_entropy(out, y[labelled])
        return nn.functional.mse_loss(out[:, 0], y[labelled].float())

    # -- fp16 loss scaling (AccelerateMixin, when mixed in first, replaces both) --
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
