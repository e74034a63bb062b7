"""
Pretrain once, evaluate many times: ``FrozenEstimator``
=======================================================

Self-supervised pretraining needs no labels, so it can use **all** images once, before
any train/test split. Wrapping the fitted embedder in
:class:`sklearn.frozen.FrozenEstimator` then lets ``cross_val_score`` (or
``GridSearchCV``, ``label_efficiency``) refit only the downstream model: here a logistic
regression for morphology and a ridge regression for redshift, on the same embeddings.

The pitfall it avoids: cross-validation ``clone()``\\ s the estimator before every fit, and
``clone`` of a plain fitted embedder is an *unfitted* copy with the same parameters. Inside
a pipeline the copy is retrained on every training fold (slow, and not the protocol you
meant); used on its own, ``transform`` raises ``NotFittedError``. ``clone`` of a
``FrozenEstimator`` returns the fitted embedder itself, and its ``fit`` does nothing.
"""

import argparse
import functools

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=400)
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()

images, catalogue = make_galaxy_survey(args.n_samples, image_size=32, random_state=0)
morphology = catalogue["morphology_class"].to_numpy()
redshift = catalogue["redshift"].to_numpy()

# %%
# Pretrain once on all images, no labels.
embedder = ContrastiveEmbedder(encoder=functools.partial(SmallCNN, width=16), max_epochs=args.epochs,
                               batch_size=128, random_state=0).fit(images)
print(f"pretrained on {len(images)} images, final contrastive loss "
      f"{embedder.net_.history[-1, 'train_loss']:.3f}")

# %%
# The pitfall: ``clone`` forgets the fit; ``FrozenEstimator`` keeps it.
try:
    clone(embedder).transform(images[:5])
except NotFittedError as exc:
    print("clone(embedder).transform ->", type(exc).__name__, "(a plain embedder is refitted inside CV)")
frozen = FrozenEstimator(embedder)
print("clone(FrozenEstimator(embedder)).transform ->", clone(frozen).transform(images[:5]).shape)

# %%
# Cross-validate the downstream models only; the embedder is never retrained.
classifier = make_pipeline(frozen, StandardScaler(), LogisticRegression(max_iter=2000))
acc = cross_val_score(classifier, images, morphology, cv=StratifiedKFold(3, shuffle=True, random_state=0))
print(f"morphology accuracy, 3-fold CV: {acc.mean():.3f} +- {acc.std():.3f} "
      f"(majority class: {catalogue['morphology_class'].value_counts(normalize=True).max():.3f})")

regressor = make_pipeline(frozen, StandardScaler(), Ridge(alpha=10.0))
r2 = cross_val_score(regressor, images, redshift, cv=KFold(3, shuffle=True, random_state=0), scoring="r2")
print(f"redshift R^2, 3-fold CV: {r2.mean():.3f} +- {r2.std():.3f} (0 = predicting the mean)")
