"""CrossModalEmbedder: contrastive alignment of images with a second modality (CLIP-style).

Images and a second view of the same objects given as vectors (spectra, catalogue
photometry) are mapped into one shared space where each image lies next to its own
vector, as AstroCLIP (Parker et al. 2024) aligned galaxy images with spectra. By default
both sides train together on CLIP's symmetric InfoNCE with a learnable temperature (Radford
et al. 2021, fig. 3); images without a vector (a NaN row) still learn, by SimCLR's loss
between two augmented views. :data:`ASTROCLIP` holds AstroCLIP's own settings (fixed logit
scale, per-spectrum normalisation, frozen pretrained image encoder, no image-image loss).

The scikit-learn face follows the two-block convention of
:class:`sklearn.cross_decomposition.CCA`: ``fit(X, Y)``, ``transform(X)`` and
``transform(X, Y)``.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_array, check_is_fitted
from skorch.callbacks import ProgressBar
from torch import nn

from ..engine._normalizer import fit_normalizer
from ..utils import HasMethods, Interval, StrOptions
from ..engine._params import lr_schedule_callbacks, resolve_lr, warn_if_set
from ..engine._training import PretrainingNet
from ..augment import resolve_augmentations
from ..engine._disk import float_dtype
from ..engine._estimator import _TRAINING_CONSTRAINTS, ENGINE_PARAMS_DOC, TorchEstimatorMixin
from ..nn.encoders import build_encoder, output_dim
from ..nn.losses import clip_loss, nt_xent

__all__ = ["ASTROCLIP", "CrossModalEmbedder"]

_MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clips the inverse temperature at 100

#: The parameters of :class:`CrossModalEmbedder` that follow AstroCLIP's released training code
#: (github.com/PolymathicAI/AstroCLIP, ``astroclip/models/astroclip.py`` and ``specformer.py``):
#: a fixed logit scale of 15.5 (``temperature=1/15.5``, ``learnable_logit_scale=False``), no
#: image-image loss, each spectrum normalised by its own mean and standard deviation (which join the
#: input as two extra features, as SpecFormer's first token), and a frozen image encoder under a
#: trained projection. Give the pretrained encoder as ``image_encoder`` (a fitted
#: :class:`~sklearn_ssl.ContrastiveEmbedder`, e.g. from ``ContrastiveEmbedder.from_checkpoint``):
#: ``CrossModalEmbedder(image_encoder=FrozenEstimator(embedder), **ASTROCLIP)``.
ASTROCLIP = dict(temperature=1 / 15.5, learn_temperature=False, image_weight=0.0, y_normalize="spectrum",
                 freeze_image_encoder=True)
_SPECTRUM_STD_FLOOR = 1e-12  # a flat spectrum keeps its mean (AstroCLIP clips the std at 0.2 of its own units)


class _FrozenEncoder(nn.Module):
    """An encoder that never trains: no gradients, and kept in eval mode (batch-norm statistics fixed)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.encoder(x)


class _LogitScale(nn.Module):
    """CLIP's learnable log inverse temperature, clipped at log(100)."""

    def __init__(self, temperature: float, learnable: bool):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(math.log(1.0 / temperature)), requires_grad=learnable)

    def forward(self) -> torch.Tensor:
        return self.value.clamp(max=_MAX_LOGIT_SCALE)


class _CrossModalNet(PretrainingNet):
    """skorch net aligning an image encoder (``module``) with a vector encoder.

    ``infer`` returns the shared-space embeddings of two augmented views of each image;
    ``get_loss`` embeds the batch's vectors (``y``, NaN rows for unpaired images) and adds
    CLIP's loss on the paired rows to ``image_weight`` times NT-Xent between the views.
    """

    def __init__(self, *args, vector_encoder: nn.Module, n_components: int, temperature: float,
                 learn_temperature: bool, image_weight: float, image_temperature: float, **kwargs):
        self.vector_encoder = vector_encoder
        self.n_components = n_components
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.image_weight = image_weight
        self.image_temperature = image_temperature
        super().__init__(*args, **kwargs)

    def initialize_module(self):
        super().initialize_module()
        self.image_projector_ = nn.Linear(output_dim(self.module_, self.input_shape), self.n_components)
        self.vector_encoder_ = self.vector_encoder
        self.vector_projector_ = nn.Linear(self.vector_encoder.out_features, self.n_components)
        self.logit_scale_ = _LogitScale(self.temperature, self.learn_temperature)
        return self

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast(x.device):
            return self.image_projector_(self.embed(x)).float()

    def embed_vectors(self, y: torch.Tensor) -> torch.Tensor:
        with self._autocast(y.device):
            return self.vector_projector_(self.vector_encoder_(y)).float()

    def infer(self, x, **fit_params):
        if not self.module_.training:
            return self.embed_images(x)
        gen = self._augment_generator(x.device)
        views = [self.normalizer_(self.augmentations_(x, generator=gen)) for _ in range(1 + (self.image_weight > 0))]
        with self._autocast(x.device):
            return tuple(self.image_projector_(self._encode(v)) for v in views)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        paired = ~torch.isnan(y_true).any(dim=1)
        loss = 0.0 * y_pred[0].float().sum()  # a batch without two pairs (image_weight=0) trains nothing
        if int(paired.sum()) >= 2:  # batch norm and a contrastive loss need two pairs
            loss = loss + clip_loss(y_pred[0][paired], self.embed_vectors(y_true[paired]), self.logit_scale_())
        if len(y_pred) == 2:
            loss = loss + self.image_weight * nt_xent(y_pred[0], y_pred[1], self.image_temperature)
        return loss


class CrossModalEmbedder(TorchEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    __doc__ = ("""Align images with a second modality (spectra, photometry) in a shared embedding space.

    ``fit(X, Y)`` trains an image encoder and a vector encoder together so that the
    embedding of each image and that of its own row of ``Y`` are close, and those of
    different objects far apart: CLIP's symmetric InfoNCE (Radford et al. 2021) on
    L2-normalised embeddings with a learnable temperature (AstroCLIP, Parker et al. 2024,
    used the same loss for galaxy images and spectra with a fixed one; see below). Rows of ``Y`` that are entirely NaN mark
    images without a second modality: those still train the image side, by NT-Xent
    between two augmented views (weight ``image_weight``, which also applies to the
    paired images).

    Follows :class:`sklearn.cross_decomposition.CCA`: ``transform(X)`` returns the
    images' embeddings in the shared space, ``transform(X, Y)`` both blocks. Zero-shot
    use: a :class:`~sklearn.neighbors.KNeighborsRegressor` on image embeddings of objects
    with known redshifts predicts redshifts of new images from their neighbours.

    Departures from CLIP: the image side sees augmented views (CLIP used a random crop
    only); the vector side is not augmented; ``fit_transform`` returns only the image
    embedding (CCA's returns both blocks when ``Y`` is given), so the estimator works as
    a step of a :class:`~sklearn.pipeline.Pipeline`.

    The defaults are CLIP's, not AstroCLIP's. AstroCLIP's released code (PolymathicAI/AstroCLIP,
    ``astroclip/models/astroclip.py``, ``specformer.py``) fixes the logit scale at 15.5,
    normalises each spectrum by its own mean and standard deviation, trains heads on frozen
    pretrained encoders and has no image-image loss: :data:`ASTROCLIP` holds those settings
    (``CrossModalEmbedder(image_encoder=FrozenEstimator(embedder), **ASTROCLIP)``). What still
    departs from AstroCLIP then: its encoders (an AstroDINO ViT and a SpecFormer transformer, each
    with a cross-attention head and MLP) against the package's CNNs and a linear projection; its
    spectrum backbone is frozen too, here the vector encoder trains; its 1024-d space
    (``n_components``); its optimiser settings (lr 1e-4, weight decay 0.05, cosine to 5e-7 over
    100 epochs).

    Parameters
    ----------
    image_encoder : str, torch.nn.Module, class, callable or fitted ContrastiveEmbedder, default="auto"
        As ``encoder`` of :class:`~sklearn_ssl.ContrastiveEmbedder`: ``"auto"``,
        ``"small"``, ``"resnet18"``, ... or any module mapping images to ``(n, d)``; or a
        fitted :class:`~sklearn_ssl.ContrastiveEmbedder` (also one read with
        ``from_checkpoint``), or a ``sklearn.frozen.FrozenEstimator`` of one to survive
        ``clone``: a copy of its encoder and its own normaliser are used.
    vector_encoder : str, torch.nn.Module, class or callable, default="auto"
        ``"auto"`` or ``"mlp"`` (a multi-layer perceptron, for photometry or spectra),
        ``"cnn1d"`` (:class:`~sklearn_ssl.nn.encoders.SpectrumCNN`, for spectra), or any
        module mapping ``(n, n_features_Y)`` to ``(n, d)`` (a class or factory is
        called with ``in_features=`` when it accepts it).
    n_components : int, default=32
        Dimension of the shared space.
    temperature : float, default=0.07
        Initial softmax temperature of the cross-modal loss (CLIP's initial value).
    learn_temperature : bool, default=True
        Learn the temperature (its inverse is capped at 100, as in CLIP).
    image_weight : float, default=1.0
        Weight of the image-image NT-Xent loss between two augmented views of every
        image (paired or not); 0 trains the image side on the pairs alone.
    image_temperature : float, default=0.1
        Temperature of that image-image loss (warns that it is ignored with ``image_weight=0``).
    freeze_image_encoder : bool, default=False
        Keep the image encoder's weights (and batch-norm statistics) as given; only the
        projection to the shared space and the vector side train, as AstroCLIP trains heads on
        frozen pretrained backbones.
    y_normalize : {"column", "spectrum"}, default="column"
        ``"column"``: ``Y`` standardised per column with its paired training rows (overall
        brightness then dominates a spectrum's input). ``"spectrum"``: each row by its own
        mean and standard deviation, which join the input as two more features
        (standardised per column), as AstroCLIP's SpecFormer does.
    augmentations : str, nn.Module or list of nn.Module, default="auto"
        Image augmentations, as in :class:`~sklearn_ssl.ContrastiveEmbedder`.
    normalize : {"asinh", "standard"} or None, default="asinh"
        Per-band image scaling with training statistics, as in
        :class:`~sklearn_ssl.ContrastiveEmbedder`. ``Y`` is always standardised per
        column with the means and standard deviations of its paired training rows.
    batch_size, max_epochs, lr, weight_decay, optimizer, lr_schedule, device
        As in :class:`~sklearn_ssl.ContrastiveEmbedder`, with the same defaults (``lr="auto"``
        is 1e-3; the value used is ``lr_``).""" + ENGINE_PARAMS_DOC + """
    verbose, random_state
        As in :class:`~sklearn_ssl.ContrastiveEmbedder`.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net (history in ``net_.history``).
    input_shape_ : tuple of int
        Shape of one training image.
    n_features_in_ : int
        Number of bands (images) or features (vectors) of ``X``.
    y_mean_, y_scale_ : ndarray of shape (n_features_Y,) or (n_features_Y + 2,)
        Standardisation of ``Y`` (with ``y_normalize="spectrum"``: of the per-row normalised
        values, 0 and 1, and of each row's mean and standard deviation), from the paired
        training rows.
    n_features_y_ : int
        Number of columns of ``Y``.
    n_pairs_ : int
        Number of paired training samples.
    temperature_ : float
        The learned temperature.
    lr_ : float
        The learning rate used.
    device_ : str
        Device the model was trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ssl import CrossModalEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(32, 2, 16, 16)).astype("float32")
    >>> Y = rng.normal(size=(32, 10))
    >>> cm = CrossModalEmbedder(max_epochs=1, batch_size=16, random_state=0).fit(X, Y)
    >>> cm.transform(X).shape
    (32, 32)
    >>> [Z.shape for Z in cm.transform(X, Y)]
    [(32, 32), (32, 32)]
""")

    _parameter_constraints: dict = {
        "image_encoder": [str, torch.nn.Module, callable, HasMethods(["transform"])],
        "freeze_image_encoder": ["boolean"],
        "y_normalize": [StrOptions({"column", "spectrum"})],
        "vector_encoder": [str, torch.nn.Module, callable],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "learn_temperature": ["boolean"],
        "image_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "image_temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        **_TRAINING_CONSTRAINTS,
    }

    def __init__(self, image_encoder="auto", vector_encoder="auto", n_components=32, temperature=0.07,
                 learn_temperature=True, image_weight=1.0, image_temperature=0.1, freeze_image_encoder=False,
                 y_normalize="column", augmentations="auto", normalize="asinh", batch_size=256, max_epochs=50,
                 lr="auto", weight_decay=1e-4, optimizer=torch.optim.AdamW, lr_schedule="cosine", device="auto",
                 precision="auto", compile=False, accelerator=None, checkpoint_dir=None, checkpoint_every=1,
                 resume="auto", verbose=0, random_state=None):
        self.image_encoder = image_encoder
        self.vector_encoder = vector_encoder
        self.n_components = n_components
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.image_weight = image_weight
        self.image_temperature = image_temperature
        self.freeze_image_encoder = freeze_image_encoder
        self.y_normalize = y_normalize
        self.augmentations = augmentations
        self.normalize = normalize
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
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, Y):
        """Train both encoders on images ``X`` and their second modality ``Y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, height, width) or (n_samples, n_features)
            Images (or vectors). At least 2 samples.
        Y : array-like of shape (n_samples, n_features_Y) or (n_samples,)
            The second modality, one row per image; a row of NaN marks an image without
            one. At least two rows must be paired.

        Returns
        -------
        self : CrossModalEmbedder
        """
        self._validate_params()
        self._warn_ignored_params()
        X = self._check_images(X, reset=True, min_samples=2)
        Y = self._check_Y(Y, len(X), reset=True)
        device = self._training_device()
        self._fit_net(lambda seed: self._build_net(X, Y, device, seed), X, torch.as_tensor(Y, dtype=torch.float32),
                      device=device)
        self.temperature_ = float(1.0 / self.net_.logit_scale_().detach().exp())
        self._n_features_out = self.n_components
        return self

    def _warn_ignored_params(self) -> None:
        """A parameter that this configuration does not use warns instead of being dropped silently."""
        self._warn_ignored_engine_params()
        if self.image_weight == 0:
            warn_if_set(self, "image_temperature", "with image_weight=0 (no image-image loss)", "set image_weight > 0")
        if hasattr(self.image_encoder, "transform"):
            warn_if_set(self, "normalize", "with a fitted embedder as image_encoder, whose own normaliser is used",
                        "pass an encoder name or module to train one here")

    def _check_Y(self, Y, n_samples: int, reset: bool) -> np.ndarray:
        """Validate ``Y`` (NaN rows allowed) and standardise it with the training statistics."""
        if Y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: give the "
                             "second modality Y, one row per image (NaN rows for images without one).")
        Y = check_array(Y, ensure_2d=False, ensure_all_finite="allow-nan", dtype=np.float64, input_name="Y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if len(Y) != n_samples:
            raise ValueError(f"X and Y must have the same number of rows; got {n_samples} images and {len(Y)} "
                             "rows of Y.")
        missing = np.isnan(Y)
        partial = missing.any(axis=1) & ~missing.all(axis=1)
        if partial.any():
            raise ValueError(
                f"{int(partial.sum())} rows of Y are partly NaN; a row must be complete or entirely NaN (an image "
                "without a second modality). Impute the missing entries first, e.g. with sklearn.impute.SimpleImputer."
            )
        paired = ~missing.any(axis=1)
        if not reset and Y.shape[1] != self.n_features_y_:
            raise ValueError(f"Y has {Y.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_y_}.")
        if self.y_normalize == "spectrum":  # AstroCLIP (SpecFormer.preprocess): each row by its own mean and std
            mean, std = Y.mean(axis=1, keepdims=True), Y.std(axis=1, keepdims=True)
            Y = np.concatenate([(Y - mean) / np.maximum(std, _SPECTRUM_STD_FLOOR), mean, std], axis=1)
        if reset:
            self.n_features_y_ = Y.shape[1] - 2 * (self.y_normalize == "spectrum")
            if paired.sum() < 2:
                raise ValueError(f"Y has {int(paired.sum())} paired rows; at least 2 are needed to align the two "
                                 "modalities (NaN rows mark images without a second modality).")
            self.n_pairs_ = int(paired.sum())
            self.y_mean_ = Y[paired].mean(axis=0)
            scale = Y[paired].std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
            if self.y_normalize == "spectrum":  # only the two summary features are standardised per column
                self.y_mean_[:-2], self.y_scale_[:-2] = 0.0, 1.0
        return ((Y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _build_net(self, X: np.ndarray, Y: np.ndarray, device: str, seed: int) -> _CrossModalNet:
        input_shape = X.shape[1:]
        vector_encoder = build_encoder("mlp" if self.vector_encoder == "auto" else self.vector_encoder, Y.shape[1:])
        if not isinstance(getattr(vector_encoder, "out_features", None), int):
            vector_encoder.out_features = output_dim(vector_encoder, Y.shape[1:])
        callbacks = lr_schedule_callbacks(self.lr_schedule, self.max_epochs)
        self.lr_ = resolve_lr(self.lr, 1e-3)
        if self.verbose:
            callbacks.append(ProgressBar())
        image_encoder, normalizer = self._image_side(X)
        callbacks += self._checkpoint_callbacks(X)  # last: it saves what the others recorded
        return self._make_net(
            _CrossModalNet,
            _FrozenEncoder(image_encoder) if self.freeze_image_encoder else image_encoder,
            criterion=nn.Identity,  # the loss lives in get_loss: it needs the vector encoder
            optimizer=self.optimizer, optimizer__weight_decay=self.weight_decay, lr=self.lr_,
            max_epochs=self.max_epochs, batch_size=min(self.batch_size, len(X)), train_split=None,
            callbacks=callbacks, verbose=self.verbose, device=device,
            input_shape=input_shape,
            augmentations=resolve_augmentations(self.augmentations, input_shape),
            normalizer=normalizer,
            channels_last=device.startswith("cuda") and len(input_shape) == 3,
            seed=seed,
            vector_encoder=vector_encoder, n_components=self.n_components, temperature=self.temperature,
            learn_temperature=self.learn_temperature, image_weight=self.image_weight,
            image_temperature=self.image_temperature,
        )

    def _image_side(self, X: np.ndarray) -> tuple[nn.Module, nn.Module]:
        """The image encoder and normaliser: a copy of a fitted embedder's (``image_encoder`` an
        embedder, or a FrozenEstimator of one), or built and fitted here."""
        if not hasattr(self.image_encoder, "transform"):
            return build_encoder(self.image_encoder, X.shape[1:]), fit_normalizer(X, self.normalize)
        emb = getattr(self.image_encoder, "estimator", self.image_encoder)
        if not hasattr(emb, "encoder_"):
            raise NotFittedError(
                "image_encoder must be a fitted ContrastiveEmbedder when an estimator is given. scikit-learn's clone "
                "(cross-validation, GridSearchCV) returns an unfitted copy: pass "
                "image_encoder=sklearn.frozen.FrozenEstimator(embedder) to keep the fitted one.")
        if tuple(emb.input_shape_) != tuple(X.shape[1:]):
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but the image_encoder embedder was fitted on "
                             f"samples of shape {tuple(emb.input_shape_)}. Use images with the same bands and size.")
        net = getattr(emb, "net_", None)
        return copy.deepcopy(emb.encoder_).cpu(), copy.deepcopy(getattr(net, "normalizer_", nn.Identity())).cpu()

    def transform(self, X, Y=None):
        """Embed images (and, if given, their second modality) in the shared space.

        Parameters
        ----------
        X : array-like of the same sample shape as in fit
        Y : array-like of shape (n_samples, n_features_Y) or None
            Rows of NaN give rows of NaN.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
            L2-normalised image embeddings, in X's float dtype.
        Y_embedded : ndarray of shape (n_samples, n_components)
            Only when ``Y`` is given: L2-normalised embeddings of ``Y``.
        """
        check_is_fitted(self, "net_")
        X = self._check_images(X, reset=False)
        Zx = self._embed(X, self.net_.embed_images).astype(float_dtype(X), copy=False)
        if Y is None:
            return Zx
        Y = self._check_Y(Y, len(X), reset=False)
        Zy = np.full((len(Y), self.n_components), np.nan, dtype=float_dtype(X))
        paired = ~np.isnan(Y).any(axis=1)
        Zy[paired] = self._embed(Y[paired], self.net_.embed_vectors)
        return Zx, Zy

    def _embed(self, A: np.ndarray, embed) -> np.ndarray:
        self.net_._set_training(False)
        out = self._stream(A, lambda batch, start: nn.functional.normalize(embed(batch), dim=1), self.net_.batch_size)
        if not np.isfinite(out).all():
            raise ValueError("The encoders produced NaN or infinite embeddings; refit with a lower lr or "
                             "precision='fp32'.")
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags


