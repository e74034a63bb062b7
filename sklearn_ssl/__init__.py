"""Contrastive self-supervised learning for astronomical images, as scikit-learn estimators.

The public API is what this module exports, and the subpackages, one per job, lowest layer first:

- ``utils``: atomic writes, parameter constraints, progress (used by every layer);
- ``augment``: batched augmentations on the training device; ``nn``: encoders and losses;
  ``datasets``: the synthetic survey and its physics;
- ``engine``: the training engine under every torch estimator (private);
- ``estimators``: the estimators, all exported here too;
- ``io``: FITS cutouts, collections on disk, conversion, Dask;
- ``evaluation``: protocol, studies, comparison rule, metrics, catalogue features; ``plotting``;
- ``discovery``: look-alike search (exact or faiss), index files, the explorer;
- ``demo``: the demo and its report; ``cli``: the command line on top.

Each imports only from its own layer or lower ones (``tests/test_layout.py`` checks it).
"""

from __future__ import annotations

import importlib

# Names are imported on first use (PEP 562), so that ``import sklearn_ssl.cli`` is quick and
# the command line handles Ctrl-C while torch and astropy load (exit 130, no traceback).
_EXPORTS = {
    "make_galaxy_survey": "datasets",
    **dict.fromkeys(["ArcsinhScaler", "BatchNormAdapter", "ContrastiveEmbedder", "CrossModalEmbedder",
                     "FineTunedClassifier", "FineTunedRegressor", "ImageReshaper", "PhotoZRegressor",
                     "PixelImputer"], "estimators"),
    **dict.fromkeys(["GalaxyFeatures", "label_efficiency"], "evaluation"),
    "SimilaritySearch": "discovery",
    **dict.fromkeys(["load_cutouts", "read_catalogue", "save_cutouts"], "io"),
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)  # a submodule: sklearn_ssl.augment, ...
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.1.0.dev0"

__all__ = [
    "ContrastiveEmbedder",
    "CrossModalEmbedder",
    "FineTunedClassifier",
    "FineTunedRegressor",
    "PhotoZRegressor",
    "BatchNormAdapter",
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
