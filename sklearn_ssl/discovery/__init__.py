"""Discovery in a survey's embeddings: search it, look at it, choose what to label.

- :class:`SimilaritySearch`: nearest neighbours and a k-nearest-neighbour rarity score,
  exact (scikit-learn) or with a faiss index (HNSW, IVF-PQ) built out of core from the
  embeddings files ``sklearn-ssl embed`` writes; :func:`save_index`, :func:`load_index`:
  one file with the index and its object ids (``sklearn-ssl index`` / ``sklearn-ssl search``).
  faiss is optional: ``pip install 'sklearn-ssl[search]'``. See :doc:`/search_at_scale`.
- :func:`explore` writes a self-contained explorer (a web page that opens from disk): a 2-D map
  of the embeddings coloured by any catalogue column, the cutout on hover, the look-alikes and
  rarity rank of a clicked galaxy, and a lasso selection exported as CSV.

:func:`rerank`
(:mod:`sklearn_ssl.discovery.feedback`) re-ranks anomaly scores from a few objects a person
marked "interesting" or "boring" (Astronomaly's idea). :func:`select_labels`, the galaxies a
query strategy of scikit-activeml asks to label, lives in :mod:`sklearn_ssl.evaluation`
(``label_efficiency(selection=...)`` uses it; evaluation sits below discovery) and is
importable from here too.
"""

from ..evaluation import SELECTION_STRATEGIES, select_labels  # noqa: F401
from ._explorer import explore
from ._index import ALGORITHMS
from ._search import SimilaritySearch
from ._store import INDEX_SUFFIXES, load_index, save_index
from .feedback import rerank

__all__ = ["SimilaritySearch", "save_index", "load_index", "ALGORITHMS", "INDEX_SUFFIXES", "explore", "rerank"]
