"""Contrastive self-supervised learning for astronomical images, as scikit-learn estimators.

The public API is what this module exports; the submodules ``augment``, ``encoders``,
``losses``, ``crossmodal``, ``datasets``, ``features``, ``cutouts``, ``preprocessing``, ``metrics``,
``evaluation``, ``photoz``, ``plotting``, ``storage`` (collections on disk) and ``distributed``
(embedding on a Dask cluster) are public too.
"""

from .cutouts import load_cutouts, read_catalogue, save_cutouts
from .crossmodal import CrossModalEmbedder
from .datasets import make_galaxy_survey
from .embedder import ContrastiveEmbedder
from .evaluation import SimilaritySearch, label_efficiency
from .features import GalaxyFeatures
from .finetune import FineTunedClassifier, FineTunedRegressor
from .photoz import PhotoZRegressor
from .preprocessing import ArcsinhScaler, ImageReshaper, PixelImputer

__version__ = "0.1.0.dev0"

__all__ = [
    "ContrastiveEmbedder",
    "CrossModalEmbedder",
    "FineTunedClassifier",
    "FineTunedRegressor",
    "PhotoZRegressor",
    "GalaxyFeatures",
    "label_efficiency",
    "SimilaritySearch",
    "make_galaxy_survey",
    "load_cutouts",
    "save_cutouts",
    "read_catalogue",
    "ArcsinhScaler",
    "PixelImputer",
    "ImageReshaper",
]
