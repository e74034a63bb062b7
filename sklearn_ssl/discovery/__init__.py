"""Discovery in a survey's embeddings: choosing which galaxies to label, anomalies with feedback.

- :func:`select_labels`: the galaxies a query strategy of scikit-activeml (TypiClust,
  ProbCover, CoreSet, uncertainty sampling) asks to label, from their embeddings;
  ``label_efficiency(selection=...)`` scores them. It lives in
  :mod:`sklearn_ssl.evaluation` (whose protocol uses it; evaluation sits below discovery).
- :func:`rerank` (:mod:`sklearn_ssl.discovery.feedback`): anomaly scores re-ranked from a
  few objects a person marked "interesting" or "boring" (Astronomaly's idea).
"""

from ..evaluation import SELECTION_STRATEGIES, select_labels  # noqa: F401
from .feedback import rerank

# select_labels is documented in sklearn_ssl.evaluation, its home; importable from here too
__all__ = ["rerank"]
