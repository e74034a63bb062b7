"""Adaptive batch normalisation (AdaBN): a network fitted on one survey, its batch-norm
statistics re-estimated on another survey's unlabelled images.

Li, Wang, Shi, Liu & Hou (2016), "Revisiting Batch Normalization For Practical Domain
Adaptation" (arXiv:1603.04779): the weights learned on the source domain are kept, and every
batch-norm layer normalises with the mean and variance of its input over the *target*
domain's images. No label and no gradient is needed, only forward passes.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..engine._estimator import inference_batches
from ..utils import HasMethods, Interval
from ._finetune import _BaseFineTuner

__all__ = ["BatchNormAdapter"]


def _fitted_has(name):
    """``available_if`` check: the wrapped estimator (fitted or not) has ``name``."""
    def check(self):
        return hasattr(getattr(self, "target_estimator_", self.estimator), name)

    return check


class BatchNormAdapter(MetaEstimatorMixin, BaseEstimator):
    """A network fitted on labelled images of one survey, adapted to another by AdaBN.

    ``fit(X, y)`` fits a clone of ``estimator`` on the labelled (source) images, then copies
    it and re-estimates every batch-norm layer's running mean and variance on
    ``target_images``, unlabelled images of the survey the model will be applied to (Li et
    al. 2016, "Revisiting Batch Normalization For Practical Domain Adaptation"). The weights
    are unchanged; no label and no gradient is used. ``predict`` and the other prediction
    methods use the adapted copy (``target_estimator_``): apply it to images of the target
    survey. The unadapted model, for images of the source survey, is ``estimator_``.

    Each layer's statistics are the mean and (unbiased) variance of its input over all the
    target images, in float64, with the layers before it already adapted (Li et al.'s
    Algorithm 1): one pass over the images per batch-norm layer, in eval mode (no
    augmentation, no dropout; the deterministic view of the images, as ``predict`` sees them).

    Parameters
    ----------
    estimator : FineTunedClassifier, FineTunedRegressor or PhotoZRegressor
        Unfitted; cloned at ``fit``. Its network must have batch-norm layers that track
        running statistics (the package's encoders do).
    target_images : array-like of shape (n_images, n_bands, height, width)
        Unlabelled images of the target survey (read a batch at a time: a memory map or
        HDF5 dataset is never loaded whole). Kept as a parameter, so copied by ``clone``.
    batch_size : int, default=256
        Images per forward pass of the re-estimation (the statistics do not depend on it).

    Attributes
    ----------
    estimator_ : estimator
        The clone fitted on the labelled images, batch-norm statistics as trained.
    target_estimator_ : estimator
        A copy of ``estimator_`` with the target statistics; used by ``predict``.
    classes_ : ndarray
        The classes, for a classifier.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ssl import FineTunedClassifier
    >>> from sklearn_ssl.estimators import BatchNormAdapter
    >>> rng = np.random.default_rng(0)
    >>> Xa = rng.normal(size=(32, 3, 16, 16)).astype("float32")
    >>> y = np.arange(32) % 2
    >>> Xb = 2 * Xa + 1                                          # the same images, rescaled
    >>> cnn = FineTunedClassifier(None, encoder="small", max_epochs=1, random_state=0)
    >>> model = BatchNormAdapter(cnn, target_images=Xb).fit(Xa, y)
    >>> model.predict(Xb).shape                                  # B's images, B's statistics
    (32,)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "target_images": ["array-like"],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, estimator, target_images, *, batch_size=256):
        self.estimator = estimator
        self.target_images = target_images
        self.batch_size = batch_size

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` on ``(X, y)``, then adapt a copy to ``target_images``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, height, width)
            Labelled images of the source survey.
        y : array-like of shape (n_samples,)
        **fit_params
            Passed to the estimator's ``fit`` (e.g. ``ebv``).

        Returns
        -------
        self
        """
        self._validate_params()
        if not isinstance(self.estimator, _BaseFineTuner):
            raise TypeError(f"BatchNormAdapter adapts the networks of FineTunedClassifier, FineTunedRegressor or "
                            f"PhotoZRegressor; got {type(self.estimator).__name__}.")
        fitted = clone(self.estimator).fit(X, y, **fit_params)
        adapted = copy.deepcopy(fitted)
        adapt_batchnorm(adapted, self.target_images, batch_size=self.batch_size)
        self.estimator_, self.target_estimator_ = fitted, adapted
        self.n_features_in_ = fitted.n_features_in_
        if hasattr(fitted, "classes_"):
            self.classes_ = fitted.classes_
        return self

    @available_if(_fitted_has("predict"))
    def predict(self, X, **params):
        """Predictions of the adapted model (``X``: images of the target survey)."""
        check_is_fitted(self)
        return self.target_estimator_.predict(X, **params)

    @available_if(_fitted_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Class probabilities of the adapted model."""
        check_is_fitted(self)
        return self.target_estimator_.predict_proba(X, **params)

    @available_if(_fitted_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """Log class probabilities of the adapted model."""
        check_is_fitted(self)
        return self.target_estimator_.predict_log_proba(X, **params)

    def score(self, X, y, sample_weight=None):
        """The adapted model's ``score`` (accuracy or R^2) on images of the target survey."""
        check_is_fitted(self)
        return self.target_estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags, tags.regressor_tags = inner.classifier_tags, inner.regressor_tags
        tags.input_tags.three_d_array = True
        tags.non_deterministic = inner.non_deterministic
        return tags


class _Moments:
    """Per-channel count, mean and sum of squared deviations, merged batch by batch (Chan et al.) in float64."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    def update(self, x: torch.Tensor) -> None:
        values = x.detach().to(torch.float64).transpose(0, 1).reshape(x.shape[1], -1)
        n_b = values.shape[1]
        mean_b = values.mean(dim=1)
        m2_b = ((values - mean_b[:, None]) ** 2).sum(dim=1)
        if self.mean is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n


def adapt_batchnorm(model, images, *, batch_size: int = 256):
    """Re-estimate, in place, the batch-norm statistics of a fitted fine-tuner on ``images`` (AdaBN).

    Every batch-norm layer that tracks running statistics gets the mean and unbiased
    variance of its input over all ``images`` (deterministic view, eval mode, no gradient),
    the layers before it (in forward order) having been adapted first: one pass over
    ``images`` per layer. Returns ``model``.
    """
    check_is_fitted(model, "net_")
    net = model.net_
    module = net.module_
    layers = [m for m in module.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers:
        raise ValueError(f"{type(model).__name__}'s network has no batch-norm layer with running statistics: "
                         "there is nothing to adapt.")
    if not hasattr(images, "shape") or not hasattr(images, "__getitem__"):
        images = np.asarray(images, dtype=np.float32)
    expected = tuple(model.input_shape_)
    if tuple(images.shape[1:]) != expected or len(images) < 2:
        raise ValueError(f"target_images must be at least 2 images of shape (n, {', '.join(map(str, expected))}) "
                         f"as the training images; got shape {tuple(images.shape)}.")
    device = torch.device(model.device_)
    module.train(False)
    order, seen, done = [], set(), set()
    while len(done) < len(layers):
        moments = {id(layer): _Moments() for layer in layers if id(layer) not in done}

        def hook(layer, args):
            if id(layer) not in seen:
                seen.add(id(layer))
                order.append(layer)
            if id(layer) in moments:
                moments[id(layer)].update(args[0])

        handles = [layer.register_forward_pre_hook(hook) for layer in layers]
        try:
            with torch.no_grad():
                for _, xb in inference_batches(images, batch_size, device):
                    x = net._eval_view(xb)
                    if net.channels_last and x.ndim == 4:
                        x = x.contiguous(memory_format=torch.channels_last)
                    with net._autocast(device):
                        module(x)
        finally:
            for handle in handles:
                handle.remove()
        unused = [layer for layer in layers if id(layer) not in seen]
        if unused:
            raise ValueError(f"{len(unused)} batch-norm layer(s) of the network are not used in its forward pass.")
        # the first layer not yet adapted, in forward order, saw only adapted layers before it
        layer = next(m for m in order if id(m) not in done)
        stats = moments[id(layer)]
        layer.running_mean.copy_(stats.mean.to(layer.running_mean.dtype))
        layer.running_var.copy_((stats.m2 / max(stats.n - 1, 1)).to(layer.running_var.dtype))
        done.add(id(layer))
    return model
