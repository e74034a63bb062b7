"""The estimators: the package's public face.

Pretraining (:class:`ContrastiveEmbedder`, :class:`CrossModalEmbedder`), fine-tuning and
supervised baselines (:class:`FineTunedClassifier`, :class:`FineTunedRegressor`), photometric
redshifts (:class:`PhotoZRegressor`), a fitted network adapted to another survey's unlabelled
images (:class:`BatchNormAdapter`, AdaBN) and image preprocessing (:class:`ArcsinhScaler`,
:class:`PixelImputer`, :class:`ImageReshaper`). Each is also exported by :mod:`sklearn_ssl`.
"""

from ._adabn import BatchNormAdapter
from ._crossmodal import ASTROCLIP, CrossModalEmbedder
from ._embedder import ContrastiveEmbedder
from ._finetune import FineTunedClassifier, FineTunedRegressor
from ._photoz import PhotoZRegressor, point_estimates, redshift_bins
from ._preprocessing import ArcsinhScaler, ImageReshaper, PixelImputer

__all__ = ["ASTROCLIP", "BatchNormAdapter", "ContrastiveEmbedder", "CrossModalEmbedder", "FineTunedClassifier",
           "FineTunedRegressor", "PhotoZRegressor", "point_estimates", "redshift_bins", "ArcsinhScaler",
           "ImageReshaper", "PixelImputer"]
