"""Contrastive self-supervised learning for astronomical images, as scikit-learn estimators.

The public API is what this module exports, and the subpackages, one per job, lowest layer first:

- ``utils``: atomic writes, parameter constraints, progress (used by every layer);
- ``augment``: batched augmentations on the training device; ``nn``: encoders and losses;
  ``datasets``: the synthetic survey and its physics;
- ``engine``: the training engine under every torch estimator (private);
- ``estimators``: the estimators, all exported here too;
- ``io``: FITS cutouts, collections on disk, conversion, Dask;
- ``evaluation``: protocol, studies, comparison rule, metrics, catalogue features; ``plotting``;
- ``demo``: the demo and its report; ``cli``: the command line on top.

Each imports only from its own layer or lower ones (``tests/test_layout.py`` checks it).
"""

from .datasets import make_galaxy_survey
from .estimators import (
    ArcsinhScaler, ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor, ImageReshaper,
    PhotoZRegressor, PixelImputer,
)
from .evaluation import GalaxyFeatures, SimilaritySearch, label_efficiency
from .io import load_cutouts, read_catalogue, save_cutouts

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
