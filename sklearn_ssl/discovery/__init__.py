"""Discovery in a survey's embeddings: look at it, search it, choose what to label.

:func:`explore` writes a self-contained explorer (a web page that opens from disk): a 2-D map
of the embeddings coloured by any catalogue column, the cutout on hover, the look-alikes and
rarity rank of a clicked galaxy, and a lasso selection exported as CSV.
"""

from ._explorer import explore

__all__ = ["explore"]
