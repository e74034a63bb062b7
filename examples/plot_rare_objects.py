"""
Rare-object search: strong lenses in a survey, ranked without labels
====================================================================

Self-supervised embeddings put look-alike galaxies together, so objects unlike any other lie
far from their nearest neighbours. :meth:`~sklearn_ssl.SimilaritySearch.score_samples` turns
that into a score (minus the mean distance to the ``n_neighbors`` nearest embeddings; the
lower, the more abnormal, as scikit-learn's
:meth:`~sklearn.neighbors.LocalOutlierFactor.score_samples`). The synthetic survey injects a
rare class with ``rare_fraction``: smooth galaxies lensing a blue background galaxy into
an arc. Rank the whole survey by the score and count the lenses among the most abnormal 1 %;
compare with the same ranking on raw (arcsinh-stretched) pixels and with the base rate.
"""

import argparse
import functools

import numpy as np

from sklearn_ssl import ContrastiveEmbedder, SimilaritySearch, make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=3000)
parser.add_argument("--image-size", type=int, default=24)
parser.add_argument("--rare-fraction", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--method", default="simclr", help="simclr, moco, byol or simsiam")
args = parser.parse_args()

images, catalogue = make_galaxy_survey(args.n_samples, args.image_size, rare_fraction=args.rare_fraction,
                                       random_state=0)
lens = catalogue["strong_lens"].to_numpy()
embedder = ContrastiveEmbedder(encoder=functools.partial(SmallCNN, width=16), method=args.method,
                               max_epochs=args.epochs, batch_size=128, random_state=0).fit(images)


def precision_at_top(scores, fraction=0.01):
    """Share of true lenses among the ``fraction`` lowest-scoring (most abnormal) objects."""
    top = np.argsort(scores)[: max(1, int(round(fraction * len(scores))))]
    return lens[top].mean(), len(top)


# %%
# Score every galaxy against the rest of the survey (``score_samples()`` with no argument
# leaves each galaxy out of its own neighbours).
rows = {
    f"{args.method} embedding": embedder.transform(images),
    "raw arcsinh pixels": np.arcsinh(images / 0.1).reshape(len(images), -1),
}
print(f"{lens.sum()} lenses among {len(lens)} galaxies (base rate {lens.mean():.1%})")
for name, Z in rows.items():
    scores = SimilaritySearch(n_neighbors=10).fit(Z).score_samples()
    precision, k = precision_at_top(scores)
    print(f"{name:>22}: precision at the top 1% ({k} galaxies): {precision:.1%}")
