"""Contrastive self-supervised learning for astronomical images, as scikit-learn estimators."""

from .embedder import ContrastiveEmbedder

__version__ = "0.1.0.dev0"

__all__ = ["ContrastiveEmbedder"]
