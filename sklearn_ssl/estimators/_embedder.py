"""ContrastiveEmbedder: contrastive self-supervised pretraining as a scikit-learn transformer.

Longer than the package's ~400-line guide because the estimator's own API lives here: a
class docstring for 30 parameters (about 160 lines), fit/transform, save/load and loading
published checkpoints. The machinery is elsewhere: the data path in ``_estimator``, the
skorch nets in ``_training``, the methods in ``_methods``, checkpoints in ``_checkpoint``.
"""

from __future__ import annotations

import copy
import lzma
import numbers
import os
import pickle
import struct
import sys
import warnings
import zlib
from typing import Iterable

import joblib

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import ProgressBar

from ..engine._disk import float_dtype, read_rows
from ..engine._estimator import (
    _TRAINING_CONSTRAINTS, ENGINE_PARAMS_DOC, TorchEstimatorMixin, _resolve_device, check_ebv, deredden_batch,
    inference_batches,
)
from ..utils import atomic_path
from ..engine._params import lr_schedule_callbacks, resolve_lr, warn_if_set
from ..engine._persistence import VersionedState
from ..engine._safe_load import RefusedPickle, describe_error as _describe, load_pickled
from ..nn import load_into_net, read_published
from ..engine._methods import METHODS
from ..engine._normalizer import fit_normalizer
from ..utils import Interval, StrOptions
from ..engine._training import ContrastiveNet, on_terminal
from ..augment import resolve_augmentations
from ..nn.encoders import build_encoder, output_dim
from ..nn.losses import PartialLabelLoss

__all__ = ["ContrastiveEmbedder"]


def _partial_labels(y, n_samples: int) -> dict | None:
    """Parse semi-supervised labels: integer classes with -1 unlabelled, or floats with NaN.

    Returns None when no sample is labelled (the fit is then purely self-supervised),
    else the task, the encoded labels as a tensor, and the head's output size.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y must be a 1-D array with one label per image ({n_samples}); got shape {y.shape}.")
    if y.dtype.kind in "iub":
        labelled = y != -1
        if not labelled.any():
            return None
        classes, codes = np.unique(y[labelled], return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"The labelled samples hold a single class ({classes[0]}); a class head needs at least two. "
                "Label more classes, or use label_weight=0."
            )
        encoded = np.full(n_samples, -1, dtype=np.int64)
        encoded[labelled] = codes
        return {"task": "classification", "y": torch.from_numpy(encoded), "n_outputs": len(classes),
                "classes": classes}
    if y.dtype.kind == "f":
        missing = np.isnan(y)
        if missing.any() and (y == -1).any():
            raise ValueError(
                "y mixes the two conventions for unlabelled samples: NaN (continuous targets) and -1 "
                "(classes). Use integer classes with -1, or a float target with NaN."
            )
        if np.isinf(y).any():
            raise ValueError("y contains infinite values; mark unlabelled samples with NaN.")
        if missing.all():
            return None
        loc, scale = np.mean(y[~missing]), np.std(y[~missing])
        standardised = (y - loc) / (scale if scale > 0 else 1.0)
        return {"task": "regression", "y": torch.from_numpy(standardised.astype(np.float32)), "n_outputs": 1}
    raise ValueError(
        f"y of dtype {y.dtype} cannot be used as partial labels: use integer classes with -1 for unlabelled "
        "samples (encode string classes first, e.g. with sklearn.preprocessing.LabelEncoder), or a float "
        "target with NaN for unlabelled samples."
    )



class ContrastiveEmbedder(TorchEstimatorMixin, VersionedState, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          BaseEstimator):
    __doc__ = ("""Learn image representations by contrastive self-supervised pretraining.

    ``fit`` pretrains an encoder so that two augmented views of the same galaxy map to
    nearby points and views of different galaxies to distant ones (SimCLR or MoCo v2,
    as in Hayat et al. 2021). ``transform`` returns the encoder's representation
    (before the projection head), to be fed to any scikit-learn model.

    Parameters
    ----------
    encoder : str, torch.nn.Module, class or callable, default="auto"
        ``"auto"`` (``"small"`` for images, ``"mlp"`` for vectors), ``"small"``,
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` (n-band input, stride-1 stem, no
        max-pool), ``"mlp"``, or any module mapping a batch to ``(n, d)``: an instance
        (copied, never trained in place, starting from the weights it holds, which
        ``random_state`` does not set: they came from torch's global generator, seeded
        differently in every process), or a class / factory called with
        ``in_channels=n_bands`` when it accepts it (its weights drawn from ``random_state``:
        pass one for reproducible fits). With ``init``, ``"auto"`` is the
        checkpoint's own architecture (other names are refused: they cannot tell the
        stem); a module instance must take the checkpoint's weights and stem.
    init : str, PathLike or None, default=None
        A published checkpoint to start from (see :meth:`from_checkpoint` and
        :doc:`/published_models`): ``fit`` builds the encoder, loads its weights (and
        the MoCo key encoder and projection head where the file has them) and then
        trains ``max_epochs`` more epochs on X: continued pretraining, or with
        ``max_epochs=0`` just the published model. Read with
        ``torch.load(weights_only=True)``.
    init_layout : {"auto", "hayat2021", "stein2022", "torchvision"}, default="auto"
        Layout of the ``init`` file; ``"auto"`` recognises it from its keys.
    method : {"simclr", "moco", "byol", "simsiam"}, default="simclr"
        SimCLR (NT-Xent with in-batch negatives; both views through the encoder as one
        batch), MoCo v2 (momentum key encoder with shuffled BatchNorm, a queue of
        negatives, Linear-ReLU-Linear projection head), or a negative-free method: BYOL
        (a predictor on the online branch regresses the projection of a momentum target
        network, whose decay rises from ``momentum`` to 1 on a cosine schedule) or
        SimSiam (a predictor and a stop-gradient on the other view's projection, no
        momentum network). See :ref:`negative-free` for how they depart from the
        references.
    projection_dim : int, default=128
        Output size of the projection head used by the loss.
    temperature : float, default=0.1
        Softmax temperature of the contrastive loss (SimCLR, MoCo).
    queue_size : int, default=4096
        MoCo only: number of negative keys. The queue remembers each key's image, and a
        query's own image is masked out of its negatives (no stale copy of the positive
        acts as a negative). Capped at ``n_samples``, since a longer queue would only
        hold older keys of the same images; the value used is ``queue_size_``.
    momentum : float, default=0.99
        MoCo: momentum of the key encoder's moving average. BYOL: the base decay of the
        target network, raised to 1 over the run (the BYOL paper uses 0.996 for
        ImageNet-length runs; short runs need the lower default to move the target).
    augmentations : str, nn.Module or list of nn.Module, default="auto"
        A preset name from :data:`sklearn_ssl.augment.PRESETS`, one augmentation or a
        list of them (see :mod:`sklearn_ssl.augment`), applied on the training device.
    normalize : {"asinh", "standard"} or None, default="asinh"
        Per-band scaling applied after augmentation, with statistics from the
        training set: ``"standard"`` is ``(x - median) / std``; ``"asinh"`` applies
        ``asinh`` to that (an arcsinh stretch, suited to flux images with bright cores
        and faint wings); None feeds the data unchanged.
    label_weight : float, default=0.0
        Weight of the labelled part of the loss when ``fit`` gets partial labels ``y``
        (scikit-learn's semi-supervised convention: integer classes with ``-1`` for
        unlabelled samples, or a continuous target such as redshift with ``NaN`` for
        unlabelled ones). A linear head on the projection (on the prediction for BYOL
        and SimSiam) is trained on the labelled samples of each batch (cross entropy for
        classes, squared error on the standardised target otherwise), added to the
        contrastive loss. 0 ignores ``y``:
        pure self-supervision, so Pipelines passing ``y`` keep their meaning.
    batch_size : int, default=256
        Images per training and embedding batch (capped at the number of samples).
    max_epochs : int, default=50
        Passes over the training data.
    lr : float or "auto", default="auto"
        Learning rate of the optimizer; ``"auto"`` is 1e-3. The value used is ``lr_``.
    weight_decay : float, default=1e-4
        Weight decay of the optimizer.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Optimizer class, called with ``lr`` and ``weight_decay``.
    lr_schedule : {"cosine", "step"} or None, default="cosine"
        Cosine decay of the learning rate over ``max_epochs``; ``"step"`` divides it by 10
        at 60% and 90% of ``max_epochs`` (Pasquet et al.'s epochs 60 and 90 of 100); None
        keeps it constant.
    device : str, default="auto"
        ``"auto"`` trains on CUDA when available, else on the CPU; or any torch device.""" + ENGINE_PARAMS_DOC + """
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (e.g. ``Checkpoint``, ``EarlyStopping``), passed to the
        internal net. Classes are preferred to instances (instances are copied).
    verbose : int, default=0
        0 is silent; 1 prints a progress bar and a table of the loss per epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and augmentation draws: the same value
        gives identical embeddings on the CPU.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net (history in ``net_.history``).
    lr_ : float
        The learning rate used (``"auto"`` resolved).
    encoder_ : torch.nn.Module
        The trained encoder (``net_.module_``).
    input_shape_ : tuple of int
        Shape of one training sample.
    bands_ : list of str or None
        Names of the bands (channels) trained on, in order, where known: set by
        ``sklearn-ssl pretrain`` from ``--bands`` or the FITS headers (None: unknown), and
        used by ``sklearn-ssl embed`` to put images in this order. Not set by ``fit`` (it sees
        only an array); absent from models saved before it existed, which load as before.
    n_features_in_ : int
        Number of bands (images) or features (vectors) seen in fit.
    embedding_dim_ : int
        Size of the representation returned by ``transform``.
    queue_size_ : int or None
        Queue size used by MoCo (None for the other methods).
    device_ : str
        Device the model was trained on.
    init_source_ : dict or None
        With ``init``: where the weights came from (path, layout, sha256,
        architecture) and which parts were loaded (``loaded``).
    expected_input_ : dict or None
        With ``init``: the input the published model expects (bands, image size, pixel
        scale, flux units, the authors' normalisation), as far as their code states it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ssl import ContrastiveEmbedder
    >>> X = np.random.default_rng(0).normal(size=(32, 3, 16, 16)).astype("float32")
    >>> emb = ContrastiveEmbedder(max_epochs=1, batch_size=16, random_state=0).fit(X)
    >>> emb.transform(X).shape
    (32, 128)
""")

    _parameter_constraints: dict = {
        "encoder": [str, torch.nn.Module, callable],
        "init": [str, os.PathLike, None],
        "init_layout": [StrOptions({"auto", "hayat2021", "stein2022", "torchvision"})],
        "method": [StrOptions(set(METHODS))],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "queue_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "label_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "callbacks": [list, None],
        **_TRAINING_CONSTRAINTS,
    }

    def __init__(
        self,
        encoder="auto",
        init=None,
        init_layout="auto",
        method="simclr",
        projection_dim=128,
        temperature=0.1,
        queue_size=4096,
        momentum=0.99,
        augmentations="auto",
        normalize="asinh",
        label_weight=0.0,
        batch_size=256,
        max_epochs=50,
        lr="auto",
        weight_decay=1e-4,
        optimizer=torch.optim.AdamW,
        lr_schedule="cosine",
        device="auto",
        precision="auto",
        compile=False,
        accelerator=None,
        callbacks=None,
        checkpoint_dir=None,
        checkpoint_every=1,
        resume="auto",
        verbose=0,
        random_state=None,
    ):
        self.encoder = encoder
        self.init = init
        self.init_layout = init_layout
        self.method = method
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.queue_size = queue_size
        self.momentum = momentum
        self.augmentations = augmentations
        self.normalize = normalize
        self.label_weight = label_weight
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.device = device
        self.precision = precision
        self.compile = compile
        self.accelerator = accelerator
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y=None, ebv=None):
        """Pretrain the encoder on unlabelled images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, height, width) or (n_samples, n_features)
            Training images (or vectors). At least 2 samples.
        y : array-like of shape (n_samples,) or None
            Ignored unless ``label_weight > 0``; then partial labels: integer classes with
            ``-1`` for unlabelled samples, or a float target with ``NaN`` for unlabelled.
        ebv : array-like of shape (n_samples,) or None
            Catalogue E(B-V) of each image: the ``GalacticReddening`` augmentation
            de-reddens each image by it before re-reddening (Hayat et al.). Sample-aligned
            metadata: in a Pipeline or cross-validation, enable scikit-learn's metadata
            routing and request it (``set_fit_request(ebv=True)``), so that every fold
            gets its own rows.

        Returns
        -------
        self : ContrastiveEmbedder
        """
        self._validate_params()
        self._warn_ignored_params()
        X = self._check_images(X, reset=True, min_samples=2)
        published = self.__dict__.pop("_published", None) or (
            None if self.init is None else read_published(self.init, self.init_layout))
        if published is not None:
            published.check_bands(X.shape[1])
        labels = _partial_labels(y, len(X)) if self.label_weight > 0 and y is not None else None
        device = self._training_device()

        def prepare(net):  # continued pretraining starts from the published weights
            self.init_source_ = self.expected_input_ = None
            if published is not None:
                self.init_source_ = {**published.source(), "loaded": load_into_net(net, published)}
                self.expected_input_ = published.expected_input()

        # trains up to max_epochs in all; a checkpoint in checkpoint_dir is resumed at on_train_begin
        self._fit_net(lambda seed: self._build_net(X, device, seed, labels, published), X,
                      None if labels is None else labels["y"], device=device, ebv=ebv, prepare=prepare)
        self.label_task_ = None if labels is None else labels["task"]
        self.label_classes_ = None if labels is None else labels.get("classes")
        self.encoder_ = self.net_.module_
        self.embedding_dim_ = self._n_features_out = output_dim(self.encoder_, self.input_shape_)
        self._warn_if_collapsed(X)
        return self

    _required_fitted = ("net_", "encoder_", "input_shape_", "n_features_in_", "embedding_dim_", "device_")

    def _warn_ignored_params(self) -> None:
        """A parameter that this configuration does not use warns instead of being dropped silently."""
        self._warn_ignored_engine_params()
        if self.init is None:
            warn_if_set(self, "init_layout", "without init", "pass init, the published checkpoint to start from")
        used = METHODS[self.method].criterion_params(projection_dim=self.projection_dim, temperature=self.temperature,
                                                     queue_size=self.queue_size, n_samples=2)
        for name in ("temperature", "queue_size"):  # what the method's loss takes, as its registry says
            if name not in used:
                warn_if_set(self, name, f"with method={self.method!r}, whose loss does not use it",
                            "choose a method whose loss does")
        if not METHODS[self.method].uses_momentum:
            warn_if_set(self, "momentum", f"with method={self.method!r}, which keeps no moving-average network",
                        "use method='moco' or 'byol'")

    def _warn_if_collapsed(self, X: np.ndarray) -> None:
        """Warn when the representation barely varies across samples (a collapsed encoder)."""
        if self.max_epochs == 0:
            return
        Z = self._embed(read_rows(X, slice(0, min(len(X), 512)))).astype(np.float64)
        spread = Z.std(axis=0).mean()
        size = np.abs(Z).mean()
        if spread <= 1e-4 * max(size, 1e-12):
            warnings.warn(
                f"The learned representation has collapsed: its spread across samples ({spread:.2e}) is "
                f"negligible next to its size ({size:.2e}). Embeddings will not separate galaxies; try a "
                "higher temperature, a lower learning rate, weaker augmentations or more varied data.",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        if METHODS[self.method].has_negatives:  # negatives keep projections apart by construction
            return
        spread = self._projection_spread(X[: min(len(X), 512)])
        if spread < 0.05:
            warnings.warn(
                f"The learned representation has collapsed: the projections of all samples point the same way "
                f"(angular spread {spread:.2e}, where 1 is uniform and 0 a single direction), so the loss no "
                "longer tells galaxies apart. Negative-free methods need their predictor and stop-gradient; "
                "try a lower learning rate, fewer epochs or method='simclr'.",
                RuntimeWarning,
                stacklevel=3,
            )

    def _projection_spread(self, X: np.ndarray) -> float:
        """``1 - |mean of the L2-normalised projections|^2``: their total variance, 0 when all
        point one way (the collapse that SimSiam's paper monitors, its sec. 4.1).

        The projector runs on batch statistics, as the loss saw it (its state is restored
        afterwards): with running averages, an encoder early in training maps every image
        to nearly the same direction without having collapsed.
        """
        net = self.net_
        net._set_training(False)
        projector = net.method_.projector
        state = copy.deepcopy(projector.state_dict())
        try:
            with torch.inference_mode():
                h = torch.cat([net.embed(xb) for _, xb in inference_batches(X, net.batch_size, self.device_)])
                projector.train()
                z = torch.nn.functional.normalize(projector(h).float(), dim=1)
        finally:
            projector.load_state_dict(state)
            projector.eval()
        return float(1.0 - z.mean(dim=0).square().sum())

    def _build_net(self, X, device: str, seed: int, labels: dict | None,
                   published=None) -> ContrastiveNet:
        input_shape = X.shape[1:]
        batch = min(self.batch_size, len(X))
        if published is not None and isinstance(self.encoder, str):
            if self.encoder != "auto":  # a name cannot say which stem the checkpoint was trained with
                raise ValueError(f"With init, use encoder='auto' (the checkpoint's {published.source()['architecture']}"
                                 f", {published.stem} stem) or a module instance; got encoder={self.encoder!r}.")
            encoder = published.build_encoder()
        else:
            encoder = build_encoder(self.encoder, input_shape)
        augmentations = copy.deepcopy(resolve_augmentations(self.augmentations, input_shape))
        method = METHODS[self.method]
        criterion_params = method.criterion_params(projection_dim=self.projection_dim, temperature=self.temperature,
                                                   queue_size=self.queue_size, n_samples=len(X))
        self.queue_size_ = criterion_params.get("queue_size")
        callbacks = [copy.deepcopy(cb) if not isinstance(cb, type) else cb for cb in (self.callbacks or [])]
        callbacks += lr_schedule_callbacks(self.lr_schedule, self.max_epochs)
        self.lr_ = resolve_lr(self.lr, 1e-3)
        if self.verbose and on_terminal(sys.stderr):  # per-batch bars never go into a redirected log
            callbacks.append(ProgressBar())
        callbacks += self._checkpoint_callbacks(X)  # last: it saves what the others recorded
        label_criterion = {} if labels is None else {
            "label_criterion": PartialLabelLoss, "label_criterion__in_features": self.projection_dim,
            "label_criterion__n_outputs": labels["n_outputs"], "label_criterion__task": labels["task"],
            "label_criterion__weight": self.label_weight,
        }
        return self._make_net(
            ContrastiveNet,
            encoder,
            device=device,
            criterion=method.criterion,
            **{f"criterion__{k}": v for k, v in criterion_params.items()},
            optimizer=self.optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr_,
            max_epochs=self.max_epochs,
            batch_size=batch,
            train_split=None,
            callbacks=callbacks,
            verbose=self.verbose,
            input_shape=input_shape,
            augmentations=augmentations,
            normalizer=fit_normalizer(X, self.normalize),
            method=method,
            method__projection_dim=self.projection_dim,
            method__momentum=self.momentum,
            **label_criterion,
            channels_last=device.startswith("cuda") and len(input_shape) == 3,
            seed=seed,
        )

    def transform(self, X, ebv=None):
        """Embed images with the trained encoder, in batches of ``batch_size``.

        Parameters
        ----------
        X : array-like of the same sample shape as in fit
        ebv : array-like of shape (n_samples,) or None
            Catalogue E(B-V) of each image: the images are de-reddened by it (with the
            ``GalacticReddening`` augmentation's coefficients) before embedding. Request
            it with ``set_transform_request(ebv=True)`` under metadata routing.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_embedding_dims)
            Representations before the projection head, in X's float dtype.
        """
        check_is_fitted(self, "net_")
        X = self._check_images(X, reset=False)
        return self._embed(X, check_ebv(ebv, len(X), self.net_.augmentations_))

    def fit_transform(self, X, y=None, ebv=None):
        """``fit(X, y, ebv=ebv).transform(X, ebv=ebv)``: the catalogue E(B-V) describes the
        images, so both steps use it (request it for both fit and transform)."""
        if ebv is None:  # the plain calls, so that subclasses overriding fit(X, y) keep working
            return self.fit(X, y).transform(X)
        return self.fit(X, y, ebv=ebv).transform(X, ebv=ebv)

    def _embed(self, X, ebv: np.ndarray | None = None) -> np.ndarray:
        net = self.net_
        net._set_training(False)
        step = net.batch_size

        def embed(xb, start):
            return net.embed(deredden_batch(xb, None if ebv is None else ebv[start:start + step], net.augmentations_))

        out = self._stream(X, embed, step, dtype=float_dtype(X))
        if not np.isfinite(out).all():
            raise ValueError(
                "The encoder produced NaN or infinite embeddings; the model's weights are not finite. "
                "Refit with a lower lr or precision='fp32'."
            )
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted embedder (parameters and weights) to ``path``, atomically.

        The file is a joblib pickle; :meth:`load` reads it on any device. It records the
        versions of sklearn-ssl, torch and scikit-learn, and loading it under other versions
        warns. A user-defined encoder class must be importable where the file is loaded.
        """
        check_is_fitted(self, "net_")
        with atomic_path(os.fspath(path)) as tmp:
            joblib.dump(self, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, *,
             trusted: Iterable[str] = ()) -> "ContrastiveEmbedder":
        """Read an embedder written by :meth:`save` (or joblib/pickle).

        .. warning::
           A model file is a pickle: unpickling can execute arbitrary code. Load only files
           from a trusted source. Before anything in the file is called, the stored class is
           checked (a file holding anything else is refused without being run) and every
           function or class the file names must be one a model needs (containers, numpy
           and torch tensors, the classes of sklearn-ssl, torch modules and optimisers,
           skorch callbacks, scikit-learn estimators); compressed files and every pickle
           protocol are checked alike. A user-defined encoder class is accepted once its
           module is imported; anything else is refused unless named in ``trusted``.

        A model saved with other versions of sklearn-ssl, torch or scikit-learn loads with an
        :class:`~sklearn.exceptions.InconsistentVersionWarning`; a damaged state missing
        fitted attributes, a truncated or corrupt file raise a ValueError.

        Parameters
        ----------
        path : str or PathLike
            The file.
        device : str or None
            Device for ``transform``; None keeps the training device when it exists here
            and falls back to the CPU otherwise (a model trained on CUDA loads on a
            CPU-only machine).
        trusted : iterable of str
            ``"module.Name"`` globals the file may call besides those a model needs
            (e.g. a function of your own stored in a parameter); only for files you trust.
        """
        where = os.fspath(path)
        try:
            obj = load_pickled(where, cls, trusted)  # calls nothing the allow list refuses
        except FileNotFoundError:
            raise
        except RefusedPickle as exc:
            raise RefusedPickle(f"{where!r} {str(exc).rstrip('.')}.") from None
        except (EOFError, pickle.UnpicklingError, IndexError, zlib.error, lzma.LZMAError, struct.error, OSError,
                UnicodeDecodeError) as exc:  # what a stream cut short or garbled raises
            raise ValueError(f"Cannot read a fitted embedder from {where!r}: the file is truncated or corrupt, it "
                             f"ends or breaks before the model is complete ({_describe(exc)}). Save the model "
                             "again, or copy the file again.") from exc
        except Exception as exc:
            raise ValueError(f"Cannot read a fitted embedder from {where!r}: {_describe(exc)}") from exc
        if not isinstance(obj, cls):
            raise ValueError(f"{where!r} holds a {type(obj).__name__}, not a {cls.__name__}.")
        if device is not None:
            obj.to(device)
        return obj

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, layout: str = "auto", *,
                        input_shape: tuple[int, int, int] | None = None, **params) -> "ContrastiveEmbedder":
        """A fitted embedder from a published self-supervised checkpoint.

        ``transform`` returns the published encoder's representation (global pooling,
        before the projection head), so the result goes straight into a Pipeline,
        :class:`~sklearn.frozen.FrozenEstimator` or
        :class:`~sklearn_ssl.SimilaritySearch`. See :doc:`/published_models`.

        Parameters
        ----------
        path : str or PathLike
            The checkpoint, read with ``torch.load(weights_only=True)``; a file that
            needs code execution is refused.
        layout : {"auto", "hayat2021", "stein2022", "torchvision"}, default="auto"
            ``"hayat2021"``: mahayat/ssl-sky-surveys (``models/resnet.py``,
            ``utils/load_trained_model.py``): DDP ``module.`` prefixes, MoCo
            ``encoder_q.``/``encoder_k.``, 5-band ResNet-50 with a stride-1 stem and no
            max-pool. ``"stein2022"``: georgestein/ssl-legacysurvey
            (``ssl_legacysurvey/moco/moco2_module.py``): a Lightning checkpoint of
            torchvision ResNets (stride-2 stem with max-pool) on z, r, g channels.
            ``"torchvision"``: a plain torchvision ResNet state dict. ``"auto"``
            recognises them from keys and shapes.
        input_shape : tuple (bands, height, width) or None
            Sample shape ``transform`` accepts; None is the authors' training crop
            (5x64x64 for hayat2021, 3x96x96 for stein2022) and is required for
            ``"torchvision"``. ``clone(est).fit(X)`` adopts X's shape instead.
        **params
            Other :class:`ContrastiveEmbedder` parameters. Defaults here:
            ``init=path``, ``init_layout`` the detected layout, ``normalize=None`` (the
            input must be preprocessed as the authors did, see ``expected_input_``),
            ``max_epochs=0`` (so that a refit in a Pipeline or a search reloads the
            same model), ``method="moco"`` for MoCo checkpoints and ``projection_dim``
            from the MoCo v2 head. Set ``max_epochs`` (and e.g. ``augmentations``)
            and call ``fit`` on your images to continue pretraining from these weights.

        Returns
        -------
        embedder : ContrastiveEmbedder
            Fitted; ``init_source_`` records path, layout and sha256 of the weights.
        """
        published = read_published(path, layout)
        shape = tuple(input_shape) if input_shape is not None else published.default_input_shape
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"input_shape=(bands, height, width) is required for a {published.layout!r} checkpoint "
                f"(got {input_shape!r}): its file does not say what image size the model was trained on."
            )
        defaults = {"init": os.fspath(path), "init_layout": published.layout, "normalize": None, "max_epochs": 0,
                    "method": "moco" if published.moco else "simclr",
                    "projection_dim": published.projection_dim or 128}
        est = cls(**{**defaults, **params})
        if est.normalize is not None:
            raise ValueError(
                f"normalize={est.normalize!r} needs statistics of your images, which from_checkpoint does not "
                "see: preprocess as the authors did (expected_input_), or use "
                "ContrastiveEmbedder(init=path, normalize=...).fit(X)."
            )
        published.check_bands(shape[0])
        epochs, est.max_epochs = est.max_epochs, 0
        est._published = published  # read once: fit takes it instead of reading the file again
        try:
            est.fit(np.zeros((2, *shape), dtype=np.float32))
        finally:
            est.max_epochs = epochs
            est.__dict__.pop("_published", None)
        est.net_.batch_size = est.batch_size  # fit on two placeholder samples capped it at 2
        est.queue_size_ = None  # no queue was used: the weights are the published ones
        return est

    def to(self, device: str) -> "ContrastiveEmbedder":
        """Move the fitted model to ``device`` for ``transform``; returns self."""
        check_is_fitted(self, "net_")
        device = _resolve_device(str(device))
        for name in self.net_._modules + self.net_._criteria:
            module = getattr(self.net_, name + "_")
            if isinstance(module, torch.nn.Module):
                module.to(device)
        self.net_.device = device
        self.device_ = device
        return self

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:  # skorch maps a CUDA-trained net to the CPU when CUDA is absent
            self.device_ = str(self.net_.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
