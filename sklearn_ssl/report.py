"""Where the demo and the ``sklearn-ssl evaluate`` workflow used to live; the names stay importable here.

- :func:`~sklearn_ssl.evaluation.evaluate_embeddings` and :func:`~sklearn_ssl.evaluation.infer_task`
  now live in :mod:`sklearn_ssl.evaluation`;
- :func:`~sklearn_ssl.demo.run_demo`, :data:`~sklearn_ssl.demo.DEMO_SETTINGS` and
  :data:`~sklearn_ssl.demo.DEMO_WALL_TIME_S` in :mod:`sklearn_ssl.demo` (its figures in
  ``sklearn_ssl._demo_figures``, its prose in ``sklearn_ssl._demo_report``, its progress
  display in ``sklearn_ssl._progress``);
- :func:`markdown_table` in ``sklearn_ssl._markdown`` (with the Markdown-to-HTML rendering).
"""

from . import _progress
from ._markdown import markdown_table
from .demo import DEMO_SETTINGS, DEMO_WALL_TIME_S, run_demo
from .evaluation import evaluate_embeddings, infer_task

#: Demo models pickled before the move name their progress-bar callback here.
_EpochBarCallback = _progress._EpochBarCallback

__all__ = ["DEMO_SETTINGS", "DEMO_WALL_TIME_S", "evaluate_embeddings", "infer_task", "markdown_table", "run_demo"]
