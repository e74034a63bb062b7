"""Discovery in a survey's embeddings: choosing which galaxies to label, anomalies with feedback.

- :func:`select_labels`: the galaxies a query strategy of scikit-activeml (TypiClust,
  ProbCover, CoreSet, uncertainty sampling) asks to label, from their embeddings;
  ``label_efficiency(selection=...)`` scores them. It lives in
  :mod:`sklearn_ssl.evaluation` (whose protocol uses it; evaluation sits below discovery).
- :func:`rerank` (:mod:`sklearn_ssl.discovery.feedback`): anomaly scores re-ranked from a
  few objects a person marked "interesting" or "boring" (Astronomaly's idea).
"""

from .feedback import rerank
from ..evaluation import SELECTION_STRATEGIES, select_labels

__all__ = ["SELECTION_STRATEGIES", "rerank", "select_labels"]
