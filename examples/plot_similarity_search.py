"""
Similarity search in embedding space
====================================

Contrastive embeddings place similar-looking galaxies close together, so a nearest-neighbour
search on them finds look-alikes of a query galaxy without any label (Stein et al. 2022 used
this to find strong lenses). Embed the synthetic survey with a
:class:`~sklearn_ssl.ContrastiveEmbedder`, index the embeddings with
:class:`~sklearn_ssl.SimilaritySearch` (cosine distance), query one galaxy, compare the
morphology of its neighbours with that of the query, and draw them with
:func:`sklearn_ssl.plotting.plot_similarity_search`.

The figure is saved to ``--out`` (default: a file in a new temporary directory).
"""

import argparse
import functools
import os
import tempfile

import numpy as np

from sklearn_ssl import ContrastiveEmbedder, SimilaritySearch, make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN
from sklearn_ssl.plotting import plot_similarity_search

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=500)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--query", type=int, default=0, help="index of the query galaxy")
parser.add_argument("--out", default=None, help="figure path (default: a temporary directory)")
args = parser.parse_args()

images, catalogue = make_galaxy_survey(args.n_samples, image_size=32, random_state=0)
embedder = ContrastiveEmbedder(encoder=functools.partial(SmallCNN, width=16), max_epochs=args.epochs,
                               batch_size=128, random_state=0).fit(images)
Z = embedder.transform(images)

# %%
# Index all embeddings; ``kneighbors(X=None)`` would exclude each point from its own
# neighbours, but a query by vector returns the query itself first (distance 0).
search = SimilaritySearch(n_neighbors=6).fit(Z)
dist, idx = search.kneighbors(Z[[args.query]], n_neighbors=7)
dist, idx = dist[0, 1:], idx[0, 1:]  # drop the query itself

morph = catalogue["morphology"].to_numpy()
print(f"query #{args.query}: {morph[args.query]}")
for rank, (i, d) in enumerate(zip(idx, dist), 1):
    print(f"  neighbour {rank}: #{i:<4d} cosine distance {d:.3f}  {morph[i]}")
same = np.mean(morph[idx] == morph[args.query])
base = np.mean(morph == morph[args.query])
print(f"{same:.0%} of the neighbours share the query's morphology (survey: {base:.0%})")

# %%
# Over every galaxy: how often does the nearest neighbour share the morphology?
_, nn = search.kneighbors(n_neighbors=1)
print(f"nearest neighbour has the same morphology for {np.mean(morph[nn[:, 0]] == morph):.0%} of galaxies "
      f"(chance: {np.sum(catalogue['morphology'].value_counts(normalize=True) ** 2):.0%})")

fig = plot_similarity_search(images, args.query, idx, "ugriz", distances=dist)
fig.suptitle(f"query: {morph[args.query]}; neighbours: " + ", ".join(morph[idx]), fontsize=7)
out = args.out or os.path.join(tempfile.mkdtemp(prefix="sklearn_ssl_"), "similarity_search.png")
fig.savefig(out, dpi=120)
print("figure saved to", out)
