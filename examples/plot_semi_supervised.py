"""
Use the labels you have: semi-supervised pretraining
=====================================================

A survey has many images and a few labels. ``ContrastiveEmbedder.fit(X, y)`` takes partial
labels in scikit-learn's semi-supervised convention (``-1`` marks an unlabelled image for
classes, ``NaN`` for a continuous target such as redshift) when ``label_weight > 0``.
Pretrain once on every image with the labels you have, freeze the embedder, and compare a
linear probe on it with one on a purely self-supervised embedder, on the same held-out images.
"""

import argparse

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey

parser = argparse.ArgumentParser(description=((__doc__ or "").strip().splitlines() or [None])[0])
parser.add_argument("--n-samples", type=int, default=1200)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

images, catalogue = make_galaxy_survey(args.n_samples, image_size=32, random_state=0)
y = catalogue["morphology_class"].to_numpy()
train, test = train_test_split(np.arange(len(y)), test_size=args.n_samples // 3, stratify=y, random_state=0)

# only 10% of the training images carry a label; the rest are marked -1
rng = np.random.default_rng(0)
partial = np.full(len(y), -1)
labelled = rng.choice(train, size=len(train) // 10, replace=False)
partial[labelled] = y[labelled]

params = dict(max_epochs=args.epochs, batch_size=128, random_state=0)
self_supervised = ContrastiveEmbedder(**params).fit(images)
semi_supervised = ContrastiveEmbedder(label_weight=1.0, **params).fit(images, partial)

for name, embedder in [("self-supervised", self_supervised), ("semi-supervised", semi_supervised)]:
    probe = make_pipeline(FrozenEstimator(embedder), LogisticRegression(max_iter=2000))
    probe.fit(images[labelled], y[labelled])  # the same few labels for both
    score = balanced_accuracy_score(y[test], probe.predict(images[test]))
    print(f"{name:>16}: balanced accuracy {score:.3f} with {len(labelled)} labels")
