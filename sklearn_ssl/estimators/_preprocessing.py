"""Image-aware (n, C, H, W) preprocessing transformers.

All three accept 4-D image stacks (n_samples, n_bands, height, width) and plain 2-D
(n_samples, n_features) arrays; a 2-D array is treated as n_features one-pixel bands,
so per-band statistics become per-feature statistics. For 4-D input ``n_features_in_``
is the number of bands and ``input_shape_`` the (C, H, W) seen in fit.
"""

from __future__ import annotations

import numbers

import numpy as np
from astropy.stats import mad_std
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import Interval, StrOptions

__all__ = ["ArcsinhScaler", "ImageReshaper", "PixelImputer"]

_FLOATS = [np.float64, np.float32]


class _ImageMixin:
    """Validation shared by the image transformers."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True  # what scikit-learn calls n-d input: 4-D images
        return tags

    def _validate(self, X, reset, allow_nan=False):
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=_FLOATS,
                          ensure_all_finite="allow-nan" if allow_nan else True)
        if X.ndim not in (2, 4):
            raise ValueError(f"{type(self).__name__} expects images of shape (n_samples, n_bands, "
                             f"height, width) or a 2-D (n_samples, n_features) array; got a "
                             f"{X.ndim}-D array of shape {X.shape}. Add a band axis with X[:, None].")
        shape = X.shape[1:]
        if reset:
            self.input_shape_ = shape
        elif shape[1:] != self.input_shape_[1:]:
            raise ValueError(f"X has per-sample shape {shape} but {type(self).__name__} was fitted "
                             f"on {self.input_shape_}; crop or resample the images to that size.")
        return X

    @staticmethod
    def _as4d(X):
        return X if X.ndim == 4 else X[:, :, None, None]


class ArcsinhScaler(OneToOneFeatureMixin, _ImageMixin, TransformerMixin, BaseEstimator):
    """Per-band arcsinh stretch with background and noise level learned in fit.

    ``X_out = arcsinh((X - center_) / softening_)`` per band, where ``center_`` is the
    band's median pixel value and ``softening_ = softening * noise_`` with ``noise_`` the
    band's robust noise (``astropy.stats.mad_std`` over all pixels of the training set).
    Faint pixels (a few noise levels) are scaled nearly linearly, bright cores
    logarithmically, so a network sees sky noise and galaxy cores on one scale.
    NaN pixels are ignored in fit and passed through.

    Parameters
    ----------
    softening : float, default=1.0
        Softening in units of the fitted noise level of each band.
    center : bool, default=True
        Subtract the per-band median (sky background) before the stretch.

    Attributes
    ----------
    center_ : ndarray of shape (n_bands,)
        Subtracted background per band (zeros if ``center=False``).
    noise_ : ndarray of shape (n_bands,)
        Robust noise estimate per band (1 where it is zero, e.g. a constant band).
    softening_ : ndarray of shape (n_bands,)
        ``softening * noise_``.
    input_shape_ : tuple
        Per-sample shape seen in fit.
    n_features_in_ : int
        Number of bands (4-D input) or features (2-D input).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ssl import ArcsinhScaler
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)
    >>> ArcsinhScaler().fit_transform(X).shape
    (4, 3, 8, 8)
    """

    _parameter_constraints = {
        "softening": [Interval(numbers.Real, 0, None, closed="neither")],
        "center": ["boolean"],
    }

    def __init__(self, softening=1.0, center=True):
        self.softening = softening
        self.center = center

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y=None):
        """Learn per-band background and noise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, H, W) or (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : ArcsinhScaler
        """
        self._validate_params()
        X = self._as4d(self._validate(X, reset=True, allow_nan=True))
        bands = np.moveaxis(X, 1, 0).reshape(X.shape[1], -1).astype(np.float64)
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                center = np.nanmedian(bands, axis=1) if self.center else np.zeros(len(bands))
                noise = mad_std(bands, axis=1, ignore_nan=True)
        center = np.nan_to_num(center)
        noise = np.where(np.isfinite(noise) & (noise > 0), noise, 1.0)
        self.center_, self.noise_ = center, noise
        self.softening_ = self.softening * noise
        return self

    def _params(self, X):
        shape = (1, -1) + (1,) * (X.ndim - 2)
        return (self.center_.astype(X.dtype).reshape(shape),
                self.softening_.astype(X.dtype).reshape(shape))

    def transform(self, X):
        """Apply the stretch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, H, W) or (n_samples, n_features)

        Returns
        -------
        X_out : ndarray of the same shape and float dtype
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, allow_nan=True)
        c, s = self._params(X)
        return np.arcsinh((X - c) / s)

    def inverse_transform(self, X):
        """Undo the stretch: ``sinh(X) * softening_ + center_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, H, W) or (n_samples, n_features)

        Returns
        -------
        X_orig : ndarray of the same shape
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, allow_nan=True)
        c, s = self._params(X)
        return np.sinh(X) * s + c


class PixelImputer(OneToOneFeatureMixin, _ImageMixin, TransformerMixin, BaseEstimator):
    """Fill missing (NaN or masked) pixels band by band.

    Parameters
    ----------
    missing_values : float, default=np.nan
        Pixel value that marks a missing pixel (e.g. ``np.nan``, ``0`` or ``-999``).
        Masked entries of a ``numpy.ma.MaskedArray`` are missing too.
    strategy : {"median", "mean", "constant", "local"}, default="median"
        ``"median"``/``"mean"``: the band's statistic over all valid training pixels;
        ``"constant"``: ``fill_value``; ``"local"``: the median of the valid pixels of the
        same band of the same image (the fitted band median where an image band has none).
    fill_value : float, default=0.0
        Used with ``strategy="constant"``.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_bands,)
        Fill value per band.
    input_shape_ : tuple
        Per-sample shape seen in fit.
    n_features_in_ : int
        Number of bands (4-D input) or features (2-D input).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ssl import PixelImputer
    >>> X = np.ones((2, 1, 4, 4)); X[0, 0, 1, 1] = np.nan
    >>> float(PixelImputer().fit_transform(X)[0, 0, 1, 1])
    1.0
    """

    _parameter_constraints = {
        "missing_values": [numbers.Real],
        "strategy": [StrOptions({"median", "mean", "constant", "local"})],
        "fill_value": [numbers.Real],
    }

    def __init__(self, missing_values=np.nan, strategy="median", fill_value=0.0):
        self.missing_values = missing_values
        self.strategy = strategy
        self.fill_value = fill_value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _mask(self, X):
        if np.ma.isMaskedArray(X):
            X = X.astype(np.float64).filled(np.nan) if self._nan_missing() else \
                X.filled(self.missing_values)
        return X

    def _nan_missing(self):
        return isinstance(self.missing_values, numbers.Real) and np.isnan(self.missing_values)

    def _missing(self, X):
        return np.isnan(X) if self._nan_missing() else (X == self.missing_values) | np.isnan(X)

    def fit(self, X, y=None):
        """Learn the per-band fill values.

        Parameters
        ----------
        X : array-like or masked array of shape (n_samples, n_bands, H, W) or (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : PixelImputer
        """
        self._validate_params()
        X = self._as4d(self._validate(self._mask(X), reset=True, allow_nan=True))
        bands = np.moveaxis(X, 1, 0).reshape(X.shape[1], -1).astype(np.float64)
        valid = ~self._missing(bands)
        if self.strategy == "constant":
            self.statistics_ = np.full(len(bands), float(self.fill_value))
            return self
        empty = np.flatnonzero(~valid.any(axis=1))
        if empty.size:
            raise ValueError(f"band(s)/feature(s) {empty.tolist()} have no valid pixel in the "
                             "training data; drop them or use strategy='constant'.")
        data = np.where(valid, bands, np.nan)
        self.statistics_ = np.nanmean(data, 1) if self.strategy == "mean" else np.nanmedian(data, 1)
        return self

    def transform(self, X):
        """Replace missing pixels.

        Parameters
        ----------
        X : array-like or masked array of shape (n_samples, n_bands, H, W) or (n_samples, n_features)

        Returns
        -------
        X_out : ndarray of the same shape, without missing pixels
        """
        check_is_fitted(self)
        X = self._validate(self._mask(X), reset=False, allow_nan=True)
        X4 = self._as4d(X).copy()
        miss = self._missing(X4)
        fill = np.broadcast_to(self.statistics_.astype(X.dtype)[None, :, None, None], X4.shape)
        if self.strategy == "local" and X.ndim == 4:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                local = np.nanmedian(np.where(miss, np.nan, X4), axis=(2, 3), keepdims=True)
            fill = np.where(np.isnan(local), fill, local.astype(X.dtype))
        X4[miss] = np.broadcast_to(fill, X4.shape)[miss]
        return X4.reshape(X.shape)


class ImageReshaper(_ImageMixin, TransformerMixin, BaseEstimator):
    """Reshape between image stacks (n, C, H, W) and flat rows (n, C*H*W).

    Puts classic scikit-learn models (PCA, logistic regression, ...) in the same
    :class:`~sklearn.pipeline.Pipeline` as the image transformers.

    Parameters
    ----------
    image_shape : tuple of 3 ints or None, default=None
        (C, H, W). Required when the input is flat and must be turned into images
        (``transform`` of 2-D input); optional otherwise (then checked).

    Attributes
    ----------
    input_shape_ : tuple
        Per-sample shape seen in fit.
    image_shape_ : tuple or None
        (C, H, W) of the image side.
    n_features_in_ : int
        Number of bands (4-D input) or features (2-D input).

    Notes
    -----
    4-D input is flattened; 2-D input is reshaped to ``image_shape`` if given, else
    passed through unchanged. ``inverse_transform`` goes the other way.
    """

    _parameter_constraints = {"image_shape": [tuple, list, None]}

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # reshaping is indifferent to missing pixels
        return tags

    def fit(self, X, y=None):
        """Record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W) or (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : ImageReshaper
        """
        self._validate_params()
        X = self._validate(X, reset=True, allow_nan=True)
        shape = None if self.image_shape is None else tuple(int(s) for s in self.image_shape)
        if shape is not None and (len(shape) != 3 or min(shape) < 1):
            raise ValueError(f"image_shape must be (C, H, W) of positive ints, got {self.image_shape!r}.")
        if X.ndim == 4:
            if shape is not None and shape != X.shape[1:]:
                raise ValueError(f"images have shape {X.shape[1:]} but image_shape={shape}.")
            shape = X.shape[1:]
        elif shape is not None and int(np.prod(shape)) != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, which cannot be reshaped to "
                             f"image_shape={shape} ({int(np.prod(shape))} pixels).")
        self.image_shape_ = shape
        self._n_features_out = int(np.prod(X.shape[1:])) if X.ndim == 4 else X.shape[1]
        return self

    def transform(self, X):
        """Flatten images, or unflatten rows when fitted on flat data with ``image_shape``.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W) or (n_samples, n_features)

        Returns
        -------
        X_out : ndarray of shape (n_samples, C*H*W) or (n_samples, C, H, W)
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, allow_nan=True)
        if X.ndim == 4:
            return X.reshape(len(X), -1)
        if self.image_shape_ is not None:
            return X.reshape((len(X),) + self.image_shape_)
        return X

    def inverse_transform(self, X):
        """Reverse :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, C*H*W) or (n_samples, C, H, W)

        Returns
        -------
        X_orig : ndarray in the fitted input's layout
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if len(self.input_shape_) == 3:
            if X.ndim != 2 or X.shape[1] != self._n_features_out:
                raise ValueError(f"expected flat rows of {self._n_features_out} values, got shape "
                                 f"{X.shape}.")
            return X.reshape((len(X),) + self.input_shape_)
        if self.image_shape_ is not None:
            return X.reshape(len(X), -1)
        return X

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``c{band}_y{row}_x{col}`` for flattened images.

        Parameters
        ----------
        input_features : array-like of str or None
            Input names (2-D pass-through only).

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        if len(self.input_shape_) == 3:
            c, h, w = self.input_shape_
            return np.array([f"c{i}_y{j}_x{k}" for i in range(c) for j in range(h) for k in range(w)],
                            dtype=object)
        if self.image_shape_ is not None:
            raise ValueError("the output is 4-D images; it has no 2-D feature names.")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
