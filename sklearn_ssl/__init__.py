"""Contrastive self-supervised learning for astronomical images, as scikit-learn estimators.

The public API is what this module exports; the submodules ``augment``, ``encoders``,
``losses``, ``crossmodal``, ``datasets``, ``features``, ``cutouts``, ``preprocessing``, ``metrics``,
``evaluation``, ``photoz``, ``plotting``, ``storage`` (collections on disk) and ``distributed``
(embedding on a Dask cluster) are public too.
"""

from __future__ import annotations

import importlib

# Names are imported on first use (PEP 562), so that ``import sklearn_ssl.cli`` is quick and
# the command line handles Ctrl-C while torch and astropy load (exit 130, no traceback).
_EXPORTS = {
    "load_cutouts": "cutouts", "read_catalogue": "cutouts", "save_cutouts": "cutouts",
    "CrossModalEmbedder": "crossmodal",
    "make_galaxy_survey": "datasets",
    "ContrastiveEmbedder": "embedder",
    "SimilaritySearch": "evaluation", "label_efficiency": "evaluation",
    "GalaxyFeatures": "features",
    "FineTunedClassifier": "finetune", "FineTunedRegressor": "finetune",
    "PhotoZRegressor": "photoz",
    "ArcsinhScaler": "preprocessing", "ImageReshaper": "preprocessing", "PixelImputer": "preprocessing",
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
