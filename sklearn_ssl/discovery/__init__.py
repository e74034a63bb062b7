"""Discovery in a survey's embeddings: look at it, search it, choose what to label.

:func:`explore` writes a self-contained explorer (a web page that opens from disk): a 2-D map
of the embeddings coloured by any catalogue column, the cutout on hover, the look-alikes and
rarity rank of a clicked galaxy, and a lasso selection exported as CSV. :func:`rerank`
(:mod:`sklearn_ssl.discovery.feedback`) re-ranks anomaly scores from a few objects a person
marked "interesting" or "boring" (Astronomaly's idea). :func:`select_labels`, the galaxies a
query strategy of scikit-activeml asks to label, lives in :mod:`sklearn_ssl.evaluation`
(``label_efficiency(selection=...)`` uses it; evaluation sits below discovery) and is
importable from here too.
"""

from ..evaluation import SELECTION_STRATEGIES, select_labels  # noqa: F401
from ._explorer import explore
from .feedback import rerank

__all__ = ["explore", "rerank"]
