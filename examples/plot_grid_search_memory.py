"""
Grid search without retraining the embedder: ``Pipeline(memory=...)``
=====================================================================

``GridSearchCV`` over ``ContrastiveEmbedder -> LogisticRegression`` clones and refits the
whole pipeline for every candidate and fold. When only the downstream model's
hyperparameters vary (here the logistic regression's ``C``), the embedder sees the same
training images with the same parameters for every candidate of a fold, so its fit can be
cached: ``Pipeline(memory=joblib.Memory(tempdir))`` stores each fitted transformer keyed by
its parameters and its input, and the pretraining runs **once per fold** (plus once for the
final refit) instead of once per candidate and fold.

A subclass of :class:`~sklearn_ssl.ContrastiveEmbedder` counts its real fits (a cache hit
does not call ``fit``). Running the same search again on the same cache costs no
pretraining at all. ``--compare`` also runs the search without a cache (slower).

(To pretrain once on *all* images, labels unseen, and never refit inside cross-validation,
see ``plot_frozen_pretrain_once.py``: that is a different, unsupervised protocol.)
"""

import argparse
import functools
import tempfile
import time

import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl import ContrastiveEmbedder, make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=300)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--compare", action="store_true", help="also run the search without a cache")
args = parser.parse_args()


# %%
# An embedder that counts how often it is really trained (a class attribute, so that it
# survives ``clone``; the subclass keeps the parent's ``__init__`` and parameters).
class CountingEmbedder(ContrastiveEmbedder):
    n_fits = 0

    def fit(self, X, y=None, **fit_params):
        type(self).n_fits += 1
        return super().fit(X, y, **fit_params)


images, catalogue = make_galaxy_survey(args.n_samples, image_size=32, random_state=0)
y = catalogue["morphology_class"].to_numpy()

embedder = CountingEmbedder(encoder=functools.partial(SmallCNN, width=8), max_epochs=args.epochs,
                            batch_size=128, random_state=0)
param_grid = {"logreg__C": [0.01, 0.1, 1.0]}
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
n_candidates, n_folds = len(param_grid["logreg__C"]), cv.get_n_splits()


def run_search(memory):
    pipe = Pipeline([("embed", embedder), ("scale", StandardScaler()),
                     ("logreg", LogisticRegression(max_iter=2000))], memory=memory)
    CountingEmbedder.n_fits = 0
    t0 = time.perf_counter()
    search = GridSearchCV(pipe, param_grid, cv=cv).fit(images, y)
    return search, CountingEmbedder.n_fits, time.perf_counter() - t0


# %%
# With a cache: one pretraining per fold, shared by the three values of ``C``, plus the refit.
with tempfile.TemporaryDirectory() as cachedir:
    memory = joblib.Memory(cachedir, verbose=0)
    search, n_fits, seconds = run_search(memory)
    print(f"with memory:    {n_fits} embedder fits for {n_candidates} candidates x {n_folds} folds "
          f"(+1 refit) in {seconds:.0f} s")
    print(f"  without a cache it would be {n_candidates * n_folds + 1} fits")
    print(f"  best C = {search.best_params_['logreg__C']}, CV accuracy {search.best_score_:.3f} "
          f"(majority class: {catalogue['morphology_class'].value_counts(normalize=True).max():.3f})")
    for c, score in zip(search.cv_results_["param_logreg__C"], search.cv_results_["mean_test_score"]):
        print(f"    C={c:<5} accuracy {score:.3f}")

    # %%
    # The same search again (e.g. after changing the scoring or printing): all cache hits.
    _, n_fits_again, seconds_again = run_search(memory)
    print(f"same search again on the same cache: {n_fits_again} embedder fits in {seconds_again:.1f} s")
    assert n_fits == n_folds + 1 and n_fits_again == 0

# %%
# Without a cache (``--compare``): one pretraining per candidate and fold.
if args.compare:
    _, n_fits_plain, seconds_plain = run_search(None)
    print(f"without memory: {n_fits_plain} embedder fits in {seconds_plain:.0f} s")
