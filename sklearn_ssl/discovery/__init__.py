"""Discovery in survey embeddings: look-alikes and rare objects at survey scale.

- :class:`SimilaritySearch`: nearest neighbours and a k-nearest-neighbour rarity score,
  exact (scikit-learn) or with a faiss index (HNSW, IVF-PQ) built out of core from the
  embeddings files ``sklearn-ssl embed`` writes;
- :func:`save_index`, :func:`load_index`: one file with the index and its object ids
  (``sklearn-ssl index`` and ``sklearn-ssl search`` on the command line).

faiss is optional: ``pip install 'sklearn-ssl[search]'``. See :doc:`/search_at_scale`.
"""

from ._index import ALGORITHMS
from ._search import SimilaritySearch
from ._store import INDEX_SUFFIXES, load_index, save_index

__all__ = ["SimilaritySearch", "save_index", "load_index", "ALGORITHMS", "INDEX_SUFFIXES"]
