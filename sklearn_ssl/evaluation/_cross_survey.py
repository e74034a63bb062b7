"""The cross-survey study: labels from one survey's observing conditions, test images from another's.

Huertas-Company, Sarmiento & Knapen (2023) name two uses where contrastive learning should
pay in astronomy: removing known instrumental effects through the choice of augmentations,
and learning from very few labels. :func:`cross_survey_study` tests both at once on the
synthetic survey: the same galaxies observed under conditions "A" (SDSS-like seeing, depth
and extinction) and "B" (worse seeing, shallower, more extinction), labels only from A,
scores on a held-out split of A and on the same held-out galaxies seen by B, and each
method's *drop* from A to B.

The comparison is kept fair in what needs no labels. The self-supervised encoder is
pretrained on the unlabelled images of both surveys (B's test images included), so every
supervised CNN gets its input normaliser fitted on the same images, and one of them adapts
to B through its batch-norm statistics (AdaBN, :class:`~sklearn_ssl.estimators.BatchNormAdapter`).
Two augmentation sets are run: ``survey`` (:func:`cross_survey_augmentations`, built from
the known A-B difference: an oracle) and ``generic`` (:func:`generic_augmentations`, the
package's default ranges); the pretraining and the supervised CNN are run with each, and
their rows carry the set's name.
"""

from __future__ import annotations

import functools
import json
import numbers
import time

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ._comparison import MIN_REPEATS, comparison_sentence, holm_adjust, paired_comparison
from ._survey_pair import (
    CROSS_SURVEY_CONDITIONS, _conditions, cross_survey_augmentations, generic_augmentations, make_survey_pair,
)

_generic_set = generic_augmentations  # the study's parameter of that name shadows the function

__all__ = ["AUGMENTATION_SETS", "CROSS_SURVEY_CONDITIONS", "CROSS_SURVEY_QUICK", "cross_survey_augmentations",
           "cross_survey_findings", "cross_survey_study", "generic_augmentations", "make_survey_pair",
           "summarize_cross_survey"]

#: The augmentation sets of :func:`cross_survey_study` and the suffix of their rows:
#: ``"generic"`` (:func:`generic_augmentations`, not built from the conditions) and
#: ``"survey"`` (:func:`cross_survey_augmentations`, built from the known A-B difference).
AUGMENTATION_SETS = {"generic": "generic aug.", "survey": "survey aug."}


def _row(method: str, augmentation_set: str) -> str:
    return f"{method} ({AUGMENTATION_SETS[augmentation_set]})"


_SSL_METHODS = ("SSL frozen + logistic", "SSL frozen + kNN", "SSL fine-tuned")
_CNN, _ADABN = "supervised CNN", "supervised CNN + AdaBN"

#: A configuration of :func:`cross_survey_study` small enough for a quick demo (see
#: ``docs/cross_survey.rst`` for its time): redshift tertiles (the task where the conditions
#: matter on this survey), 300 galaxies of 24 px, budgets of 10 and 30 labels, 5 repeats,
#: short pretraining and training, both augmentation sets, no fine-tuned or catalogue row.
CROSS_SURVEY_QUICK = dict(target="redshift", n_samples=300, image_size=24, n_labels=(10, 30), n_repeats=5,
                          pretrain_epochs=5, finetune_steps=30, width=8, catalogue_baselines=False,
                          methods=("SSL frozen + logistic (generic aug.)", "SSL frozen + logistic (survey aug.)",
                                   "SSL frozen + kNN (generic aug.)", "SSL frozen + kNN (survey aug.)",
                                   "supervised CNN", "supervised CNN + AdaBN", "supervised CNN (generic aug.)",
                                   "supervised CNN (survey aug.)", "raw-pixel PCA + logistic"))

#: Rows by role, for the findings: each self-supervised method with each augmentation set;
#: the supervised CNNs (flips and rotations first: the CNN without the survey augmentations).
SSL_ROWS = tuple(_row(m, s) for m in _SSL_METHODS for s in AUGMENTATION_SETS)
SUPERVISED_ROWS = (_CNN, _ADABN, *(_row(_CNN, s) for s in AUGMENTATION_SETS))
_CONSTANT = "constant (majority class)"
#: The scores the study accepts (scikit-learn scorer names; the findings read them as higher-is-better).
_METRICS = ("accuracy", "balanced_accuracy")


def _target(catalogue, target):
    if target == "morphology":
        return catalogue["morphology_class"].to_numpy()
    z = catalogue["redshift"].to_numpy()
    return np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))


def _split(y, test_size, seed):
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def _methods(wanted, embedders, augmentations, *, normalize_on, target_images, width, batch_size, finetune_steps,
             n_pca, n_neighbors, random_state, catalogue):
    """The estimators of the rows in ``wanted``; ``embedders`` and ``augmentations`` map an
    augmentation set to its pretrained embedder and its augmentations."""
    from sklearn.decomposition import PCA
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from ..augment import Compose, RandomFlip, RandomRotation
    from ..estimators import BatchNormAdapter, FineTunedClassifier
    from ..nn.encoders import SmallCNN
    from ._protocol import asinh_flatten

    # max_epochs=1 and min_steps: every network trains for the same number of optimiser steps
    device = next(iter(embedders.values())).device if embedders else "auto"
    ft = dict(max_epochs=1, min_steps=finetune_steps, batch_size=batch_size, device=device, random_state=random_state)
    # a builder, not a module instance: each fit draws the initial weights from its own seed
    # (an instance's weights come from torch's global generator, so results changed between runs);
    # the normaliser is fitted on the unlabelled images of both surveys, as the SSL encoder's
    scratch = dict(encoder=functools.partial(SmallCNN, width=width), normalize="asinh", normalize_on=normalize_on,
                   **ft)

    flips = Compose([RandomFlip(), RandomRotation()])

    def make(name):
        key = _set_of(name)
        if name == _CNN:
            return FineTunedClassifier(None, augmentations=flips, **scratch)
        if name == _ADABN:  # fitted as the row above, then its batch-norm statistics re-estimated on B
            return BatchNormAdapter(FineTunedClassifier(None, augmentations=flips, **scratch),
                                    target_images=target_images)
        if name == "raw-pixel PCA + logistic":
            return make_pipeline(FunctionTransformer(asinh_flatten), StandardScaler(),
                                 PCA(n_components=n_pca, random_state=random_state), LogisticRegression(max_iter=2000))
        if name in catalogue:
            return catalogue[name]
        if name == _row(_CNN, key):
            return FineTunedClassifier(None, augmentations=augmentations[key], **scratch)
        frozen = FrozenEstimator(embedders[key])
        if name == _row("SSL frozen + logistic", key):
            return make_pipeline(frozen, StandardScaler(), LogisticRegression(max_iter=2000))
        if name == _row("SSL frozen + kNN", key):
            return make_pipeline(frozen, KNeighborsClassifier(n_neighbors, weights="distance", metric="cosine"))
        return FineTunedClassifier(frozen, augmentations=augmentations[key], **ft)

    return {name: make(name) for name in wanted}


def _set_of(row: str):
    """The augmentation set of a row (None for the rows without one)."""
    return next((key for key, suffix in AUGMENTATION_SETS.items() if row.endswith(f"({suffix})")), None)


def _n_steps(model) -> float:
    model = getattr(model, "best_estimator_", model)  # a search's refitted model
    net = getattr(getattr(model, "estimator_", model), "net_", None)  # a BatchNormAdapter's fitted network
    return float(sum(len(epoch["batches"]) for epoch in net.history)) if net is not None else np.nan


def _describe(model) -> dict:
    """What a fit reports beside its scores: optimiser steps, the chosen setting and the number of candidates."""
    from ._protocol import _search_result

    return {"n_steps": _n_steps(model), **_search_result(model)}


def _source_model(model):
    """The network a :class:`~sklearn_ssl.estimators.BatchNormAdapter` fitted on A (its statistics as
    learned there), through a search's refitted model: what the AdaBN row is scored with on A."""
    return getattr(model, "best_estimator_", model).estimator_


class _OnSource:
    """A scorer that scores a BatchNormAdapter's network as fitted on the labelled survey (``estimator_``), not
    its copy adapted to the target survey: the inner cross-validation of the AdaBN row holds out labelled images
    of A, which the adapted copy is not meant for (and B's labels are never used)."""

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, estimator, X, y, **kwargs):
        return self.scorer(_source_model(estimator), X, y, **kwargs)


#: The number of neighbours searched by the kNN rows with ``tune=True`` (capped, see :func:`_knn_grid`).
_NEIGHBOURS = (1, 3, 5)


def _knn_grid(y, inner_cv: int, seed: int) -> dict:
    """The kNN rows' grid for a budget's labels ``y``: :data:`_NEIGHBOURS`, none above the smallest training fold
    of the inner cross-validation (the folds the search will use); three values always, the largest repeated
    where that fold holds fewer than 3 labels."""
    from ._tuning import BudgetCV

    cap = min(len(train) for train, _ in BudgetCV(inner_cv, random_state=seed).split(np.zeros(len(y)), y))
    values = [min(k, cap) for k in _NEIGHBOURS]
    if cap >= len(_NEIGHBOURS) and len(set(values)) < len(values):
        values = [1, cap - 1, cap]
    return {"kneighborsclassifier__n_neighbors": values}


def _grid(name: str, estimator) -> dict | None:
    """The three-setting grid of a row with ``tune=True`` (``STUDY_GRIDS`` of ``_downstream``; None for
    the constant predictor and the kNN rows, whose grid depends on the budget: :func:`_knn_grid`)."""
    from ._downstream import study_grid

    if name == _CONSTANT or name.startswith("SSL frozen + kNN"):
        return None
    if name == _ADABN:  # the wrapped network's learning rate
        return {f"estimator__{key}": values for key, values in study_grid(estimator.estimator).items()}
    grid = study_grid(estimator)
    if grid is None:
        raise RuntimeError(f"no tuning grid for the row {name!r}.")
    return grid


def cross_survey_study(survey_a=None, survey_b=None, *, target="morphology", n_samples=480, image_size=32,
                       bands="gri", conditions_a=None, conditions_b=None, embedder=None, augmentations=None,
                       generic_augmentations=None, n_labels=(10, 30, 100), n_repeats=5, test_size=0.25,
                       pretrain_epochs=15, finetune_steps=100, width=8, batch_size=64, catalogue_baselines=True,
                       methods=None, metric="accuracy", tune=False, inner_cv=3, test_bootstrap=0, seed_per_repeat=False,
                       n_jobs=None, random_state=0, progress=False, verbose=0) -> dict:
    """Labels from survey A only, test images from A and from B: who keeps their score?

    Two augmentation sets (:data:`AUGMENTATION_SETS`) are compared: ``survey``, spanning the
    known A-B difference (:func:`cross_survey_augmentations`, an oracle), and ``generic``,
    built without it (:func:`generic_augmentations`). For each set needed by the chosen
    rows, a SimCLR :class:`~sklearn_ssl.ContrastiveEmbedder`
    (:class:`~sklearn_ssl.nn.encoders.SmallCNN`, asinh normalisation) is pretrained on the
    unlabelled images of both surveys with that set. Then, for every label budget and
    repeat, one stratified subset of A's training split is drawn and every row is fitted on it:

    - ``SSL frozen + logistic``, ``SSL frozen + kNN`` (cosine, distance-weighted) on the
      frozen embedding, and ``SSL fine-tuned`` (:class:`~sklearn_ssl.FineTunedClassifier`
      with the set's augmentations), each once per set: ``SSL frozen + logistic (generic
      aug.)``, ``SSL frozen + logistic (survey aug.)``, ...;
    - the same SmallCNN trained from scratch, its asinh normaliser fitted on the unlabelled
      images of A and B (``normalize_on``, as the embedder's): ``supervised CNN`` (flips and
      rotations), ``supervised CNN + AdaBN`` (the same fit, then its batch-norm statistics
      re-estimated on B's unlabelled images by
      :class:`~sklearn_ssl.estimators.BatchNormAdapter`: scored on A with the statistics
      learned on A, on B with B's), ``supervised CNN (generic aug.)`` and ``supervised CNN
      (survey aug.)``; all with the fine-tuned model's number of optimiser steps
      (``finetune_steps``);
    - ``raw-pixel PCA + logistic`` and, with ``catalogue_baselines``, ``photometry +
      morphology + GB`` (:class:`~sklearn_ssl.GalaxyFeatures` and gradient boosting) and
      the constant predictor.

    Each is scored (``metric``) on A's held-out split and on B's; for the generated pair
    these are the same galaxies, so the drop A - B is due to the conditions alone. What
    needs no labels is given to every network alike: B's unlabelled images (its test
    images included) enter the pretraining, the supervised CNNs' normaliser and AdaBN.

    With ``tune=False`` (the default) every row is fitted with the settings above. With
    ``tune=True`` each row's settings are chosen as in
    :func:`~sklearn_ssl.evaluation.label_efficiency` with ``param_grids``: every row but the
    constant predictor becomes a :class:`~sklearn.model_selection.GridSearchCV` over three
    settings (:func:`~sklearn_ssl.evaluation.tuned`), cross-validated on ``metric`` inside
    the budget's own labels of A (:class:`~sklearn_ssl.evaluation.BudgetCV`, at most
    ``inner_cv`` folds, seeded per budget and repeat) and refitted on all of them; the test
    splits of A and B are used once, to score the refitted model, and B's labels never
    enter a choice. The grids are those of
    :func:`~sklearn_ssl.evaluation.downstream_study` (``STUDY_GRIDS``): ``lr`` 3e-4, 1e-3,
    3e-3 for the supervised CNNs and 3e-3, 1e-2, 3e-2 for ``SSL fine-tuned``;
    ``logisticregression__C`` 0.1, 1, 10 for the logistic probes and ``raw-pixel PCA +
    logistic`` (whose PCA then keeps at most half the smallest budget's components, so that
    the inner training folds fit them); the gradient boosting's learning rate 0.03, 0.1, 0.3;
    for the kNN rows 1, 3 and 5 neighbours, capped at the smallest inner training fold (the
    largest value repeated where that fold holds fewer than 3 labels, so that every row has
    3 candidates). ``supervised CNN + AdaBN`` searches its network's ``estimator__lr`` (the
    supervised CNN's grid), each candidate scored on the held-out fold with the network as
    fitted on A, not with B's statistics.

    Parameters
    ----------
    survey_a, survey_b : tuple (images, labels) or None, default=None
        Take the two surveys instead of generating them (then ``augmentations`` or
        ``embedder`` is required). Both are split with the same seed and ``test_size``:
        when they hold the same galaxies in the same order with the same labels, the
        held-out galaxies are the same.
    target : {"morphology", "redshift"}, default="morphology"
        Classes of the generated pair: the four morphology classes, or the redshift
        tertiles (three classes of the spectroscopic redshift: a photometric-redshift
        classification, where colours, hence extinction, matter). Ignored for given surveys.
    n_samples, image_size, bands, conditions_a, conditions_b
        The generated pair (:func:`make_survey_pair`, survey ``"sdss"``); ``bands`` also
        gives the extinction coefficients of the generic augmentations.
    embedder : fitted ContrastiveEmbedder, dict or None, default=None
        Pretrained embedders by augmentation set (``{"generic": ..., "survey": ...}``; a
        single embedder is the ``"survey"`` one), used instead of pretraining; a set
        without one is pretrained when a chosen row needs it.
    augmentations : augmentation spec or None, default=None
        The ``survey`` set (pretraining, fine-tuning and ``supervised CNN (survey aug.)``);
        None derives it from the generated surveys' catalogues
        (:func:`cross_survey_augmentations`).
    generic_augmentations : augmentation spec or None, default=None
        The ``generic`` set; None is :func:`generic_augmentations` of ``bands``.
    n_labels : sequence of int, default=(10, 30, 100)
        Label budgets (each at least the number of classes).
    n_repeats : int, default=5
        Label subsets per budget, shared by every method (paired repeats).
    test_size : float, default=0.25
    pretrain_epochs, width, batch_size
        Pretraining epochs, SmallCNN width and batch size (also of the networks fitted on labels).
    finetune_steps : int, default=100
        Optimiser steps of every network fitted on labels.
    catalogue_baselines : bool, default=True
        Add the catalogue-feature and constant rows (measuring the features takes most
        of the time on small configurations).
    methods : sequence of str or None, default=None
        Fit only these rows (names as above), in this order; None fits all. Only the
        embedders of the chosen SSL rows are pretrained.
    metric : {"accuracy", "balanced_accuracy"}, default="accuracy"
        Score of the predictions (balanced accuracy, the mean recall per class, for
        imbalanced classes). Also what the searches of ``tune=True`` maximise.
    tune : bool, default=False
        Choose every row's settings by a grid search inside each budget's labels (see
        above); False fits the rows as they are (fast: the demo's quick study).
    inner_cv : int, default=3
        Folds of the inner cross-validation of ``tune=True`` (fewer where the rarest class of
        a budget has fewer labels; at least 2).
    test_bootstrap : int, default=0
        With a positive number, the standard error of each score due to the test set's own
        sampling: the standard deviation of the score over that many bootstrap resamples of
        the test objects (:func:`~sklearn_ssl.evaluation.bootstrap_scores`), in the
        ``se_test`` column. 0: none.
    seed_per_repeat : bool, default=False
        Give every fit of a repeat and budget its own seed (all rows of that repeat and
        budget the same one, :func:`~sklearn_ssl.evaluation.with_seed`), so that the
        repeats vary the networks' initial weights (and the other rows' seeds) as well as
        the label subset; the pretrained embedders are kept. False: every fit uses
        ``random_state`` (the stored studies' setting).
    n_jobs : int or None
        Processes measuring the images' :class:`~sklearn_ssl.GalaxyFeatures` and running the
        fits (as in :func:`~sklearn_ssl.evaluation.label_efficiency`: each worker's torch
        then uses one thread).
    random_state : int, default=0
    progress : bool, default=False
        Progress over the fits on stderr: a bar on a terminal, a line per fit in a log.
    verbose : int, default=0
        Print one line per fit.

    Returns
    -------
    out : dict
        ``"results"``: tidy DataFrame with columns ``estimator``, ``n_labels``,
        ``repeat``, ``test`` (``"A"`` or ``"B"``), ``metric``, ``score``, ``fit_time``
        (seconds), ``n_steps`` (optimiser steps of network fits, else NaN), ``params``
        (the setting chosen by ``tune=True``, as JSON; empty for an untuned fit) and
        ``n_candidates`` (the settings searched: 3 for a tuned row, 1 untuned); with
        ``test_bootstrap`` also ``se_test``; ``"summary"``: :func:`summarize_cross_survey`;
        ``"findings"``: sentences by the rule of
        :func:`~sklearn_ssl.evaluation.paired_comparison` (where SSL wins, ties or loses on
        each test set and in its drop); ``"timings"``: seconds per stage;
        ``"conditions"``: the two surveys' conditions; ``"augmentations"``: the two sets
        by name; ``"embedders"``: the pretrained embedders by set; ``"estimators"``: the
        (unfitted) estimator of each row, as cloned for every fit (with ``tune=True``, the
        estimator each search starts from).

    Notes
    -----
    The fast configuration :data:`CROSS_SURVEY_QUICK` (``cross_survey_study(**CROSS_SURVEY_QUICK)``)
    suits a quick demo.
    """
    from ..estimators import ContrastiveEmbedder
    from ..nn.encoders import SmallCNN

    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}.")
    if target not in ("morphology", "redshift"):
        raise ValueError(f"target must be 'morphology' or 'redshift', got {target!r}.")
    if not (isinstance(test_bootstrap, numbers.Integral) and test_bootstrap >= 0):
        raise ValueError(f"test_bootstrap must be a non-negative integer, got {test_bootstrap!r}.")
    timings = {}
    t0 = time.perf_counter()
    if (survey_a is None) != (survey_b is None):
        raise ValueError("give both survey_a and survey_b, or neither (to generate them).")
    embedders = dict(embedder) if isinstance(embedder, dict) else ({} if embedder is None else {"survey": embedder})
    if set(embedders) - set(AUGMENTATION_SETS):
        raise ValueError(f"embedder: a dict's keys must be among {sorted(AUGMENTATION_SETS)}, got {sorted(embedders)}.")
    if survey_a is None:
        xa, xb, ca, cb = make_survey_pair(n_samples, image_size, bands, conditions_a=conditions_a,
                                          conditions_b=conditions_b, random_state=random_state)
        ya, yb = _target(ca, target), _target(cb, target)
        conditions = {"A": _conditions("A", conditions_a), "B": _conditions("B", conditions_b)}
        if augmentations is None:
            augmentations = cross_survey_augmentations(ca, cb, bands)
    else:
        (xa, ya), (xb, yb) = survey_a, survey_b
        xa, xb, ya, yb = (np.asarray(v) for v in (xa, xb, ya, yb))
        if xa.ndim != 4 or xa.shape[1:] != xb.shape[1:] or len(xa) != len(ya) or len(xb) != len(yb):
            raise ValueError(f"survey_a and survey_b must be (images, labels) with images of the same shape "
                             f"(n, bands, H, W); got images {xa.shape} and {xb.shape}, labels {ya.shape} and "
                             f"{yb.shape}.")
        if augmentations is None and "survey" not in embedders:
            raise ValueError("with survey_a and survey_b given, pass augmentations= (what differs between the "
                             "surveys) or a fitted embedder=.")
        conditions = {"A": None, "B": None}
    sets = {"generic": _generic_set(bands) if generic_augmentations is None else generic_augmentations,
            "survey": augmentations}
    rows = [*SSL_ROWS, *SUPERVISED_ROWS, "raw-pixel PCA + logistic"]
    rows += ["photometry + morphology + GB", _CONSTANT] if catalogue_baselines else []
    unknown = [m for m in (methods or []) if m not in rows]
    if unknown or (methods is not None and not methods):
        raise ValueError(f"methods={methods!r}: choose a non-empty list among {rows}.")
    wanted = list(dict.fromkeys(methods)) if methods is not None else rows
    budgets = [int(n) for n in np.atleast_1d(n_labels)]
    n_classes = len(np.unique(ya))
    if min(budgets) < n_classes:
        raise ValueError(f"n_labels={budgets}: every budget must hold each of the {n_classes} classes once.")
    timings["survey"] = time.perf_counter() - t0

    rng = check_random_state(random_state)
    split_seed = int(rng.randint(np.iinfo(np.int32).max))
    train_a, test_a = _split(ya, test_size, split_seed)
    _, test_b = _split(yb, test_size, split_seed)
    if max(budgets) > len(train_a):
        raise ValueError(f"n_labels {max(budgets)} exceeds the {len(train_a)} images of A's training split.")
    unlabelled = np.concatenate([xa, xb])  # what needs no labels: pretraining and the CNNs' normaliser
    t0 = time.perf_counter()
    for key in AUGMENTATION_SETS:  # only the embedders that a chosen SSL row needs
        if key not in embedders and any(row in SSL_ROWS and _set_of(row) == key for row in wanted):
            embedders[key] = ContrastiveEmbedder(
                encoder=functools.partial(SmallCNN, width=width), normalize="asinh", augmentations=sets[key],
                max_epochs=pretrain_epochs, batch_size=batch_size, random_state=random_state).fit(unlabelled)
    timings["pretrain"] = time.perf_counter() - t0
    if sets["survey"] is None:
        sets["survey"] = "auto"  # the embedder's own, copied by the fine-tuner
    catalogue = {}
    if catalogue_baselines and {"photometry + morphology + GB", _CONSTANT} & set(wanted):
        from .features import _catalogue_baselines

        t0 = time.perf_counter()
        measured = np.concatenate([xa, xb[test_b]])
        base, _ = _catalogue_baselines(measured, "classification", bands=bands if survey_a is None else None,
                                       random_state=random_state, n_jobs=n_jobs)
        catalogue = {k: base[k] for k in ("photometry + morphology + GB", _CONSTANT)}
        timings["features"] = time.perf_counter() - t0
    # tuned, the PCA keeps at most half the smallest budget's components: the inner training folds must fit them
    estimators = _methods(wanted, embedders, sets, normalize_on=unlabelled, target_images=xb, width=width,
                          batch_size=batch_size, finetune_steps=finetune_steps,
                          n_pca=min(16, max(1, min(budgets) // 2) if tune else min(budgets)),
                          n_neighbors=min(5, min(budgets)), random_state=random_state, catalogue=catalogue)
    grids = {name: _grid(name, est) for name, est in estimators.items()} if tune else {}

    from ._protocol import _subset, fit_in_parallel, with_seed
    from ._tuning import tuned
    from ..utils import WorkProgress

    seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    # drawn after the subsets' seeds, so that the subsets are those of an untuned study with the same seed
    fold_seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets)))
    # only drawn when asked for, so that every other seed is that of a study without them
    init_seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(budgets))) if seed_per_repeat else None
    tests = {"A": (xa[test_a], ya[test_a]), "B": (xb[test_b], yb[test_b])}
    # AdaBN: A's test images through the network as fitted on A, B's through its copy with B's statistics
    adapted = {"A": (*tests["A"], _source_model), "B": tests["B"]}
    scorers = {metric: check_scoring(scoring=metric)}
    tasks = []
    for r in range(n_repeats):
        for b, n in enumerate(budgets):
            sub = train_a[_subset(ya[train_a], n, True, np.random.RandomState(seeds[r, b]))]
            for name, est in estimators.items():
                if seed_per_repeat:
                    est = with_seed(est, int(init_seeds[r, b]))
                if tune and name != _CONSTANT:  # a search inside this budget's labels of A only
                    seed = int(fold_seeds[r, b])
                    grid = _knn_grid(ya[sub], inner_cv, seed) if grids[name] is None else grids[name]
                    scoring = _OnSource(scorers[metric]) if name == _ADABN else scorers[metric]
                    est = tuned(est, grid, scoring=scoring, cv=inner_cv, random_state=seed)
                tasks.append((name, n, r, sub, est))
    boot = [(test_bootstrap, int(s)) for s in rng.randint(np.iinfo(np.int32).max, size=len(tasks))]
    bar = WorkProgress(len(tasks), "cross-survey fits", enabled=bool(progress))
    t0 = time.perf_counter()
    fits = fit_in_parallel(((est, xa[sub], ya[sub], adapted if name == _ADABN else tests, scorers, False, _describe,
                             False, boot[i]) for i, (name, n, r, sub, est) in enumerate(tasks)), n_jobs)
    records = []
    for (name, n, r, _, _), (scores, fit_time, _, info) in zip(tasks, fits):
        params = json.dumps(info["params"], sort_keys=True, default=str) if info["params"] else ""
        for test in tests:
            records.append({"estimator": name, "n_labels": n, "repeat": r, "test": test, "metric": metric,
                            "score": scores[test][metric], "fit_time": fit_time, "n_steps": info["n_steps"],
                            "params": params, "n_candidates": info["n_candidates"],
                            **({"se_test": info["se_test"][test][metric]} if test_bootstrap else {})})
        bar.update(f"{name}, {n} labels, repeat {r + 1}/{n_repeats}", fit_time)
        if verbose:
            print(f"[cross_survey_study] {name}, {n} labels, repeat {r}: A {records[-2]['score']:.3f}, "
                  f"B {records[-1]['score']:.3f} ({fit_time:.1f} s)" + (f" {params}" if params else ""), flush=True)
    bar.close()
    timings["fits"] = time.perf_counter() - t0
    columns = ["estimator", "n_labels", "repeat", "test", "metric", "score", "fit_time", "n_steps", "params",
               "n_candidates"]
    results = pd.DataFrame(records, columns=columns + (["se_test"] if test_bootstrap else []))
    return {"results": results, "summary": summarize_cross_survey(results, metric),
            "findings": cross_survey_findings(results, metric), "timings": timings, "conditions": conditions,
            "augmentations": sets, "embedders": embedders, "estimators": estimators}


def _paired_drops(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per estimator, budget and repeat: the scores on A and B and ``drop = A - B``."""
    sub = results[results["metric"] == metric]
    wide = sub.pivot_table(index=["estimator", "n_labels", "repeat"], columns="test", values="score",
                           sort=False).reset_index()
    missing = {"A", "B"} - set(wide.columns)
    if missing:
        raise ValueError(f"results have no scores on test set(s) {sorted(missing)}.")
    wide["drop"] = wide["A"] - wide["B"]
    return wide


def summarize_cross_survey(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean and standard error over repeats of the scores on A, on B and of the drop A - B.

    Parameters
    ----------
    results : pandas.DataFrame
        ``out["results"]`` of :func:`cross_survey_study` (columns ``estimator``,
        ``n_labels``, ``repeat``, ``test``, ``metric``, ``score``).
    metric : str, default="accuracy"

    Returns
    -------
    summary : pandas.DataFrame
        One row per estimator and budget: ``mean_A``, ``se_A``, ``mean_B``, ``se_B``,
        ``drop`` (mean of the paired differences A - B), ``se_drop`` and ``n_repeats``.
        Standard errors are ``std(ddof=1) / sqrt(n_repeats)`` (NaN for one repeat). Where
        the results have ``se_test`` (``cross_survey_study(test_bootstrap=...)``) also
        ``se_test_A`` and ``se_test_B``, its mean over the repeats: the standard error that
        each test set's own sampling adds to a score.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"estimator": "m", "n_labels": 10, "repeat": [0, 0, 1, 1], "test": list("ABAB"),
    ...                     "metric": "accuracy", "score": [0.9, 0.6, 0.8, 0.6]})
    >>> summarize_cross_survey(res)[["mean_A", "mean_B", "drop"]].round(3).values.tolist()
    [[0.85, 0.6, 0.25]]
    """
    wide = _paired_drops(results, metric)
    g = wide.groupby(["estimator", "n_labels"], sort=False)
    out = g[["A", "B", "drop"]].mean().rename(columns={"A": "mean_A", "B": "mean_B"})
    se = g[["A", "B", "drop"]].std(ddof=1).div(np.sqrt(g.size()), axis=0)
    out["se_A"], out["se_B"], out["se_drop"] = se["A"], se["B"], se["drop"]
    out["n_repeats"] = g.size()
    columns = ["estimator", "n_labels", "mean_A", "se_A", "mean_B", "se_B", "drop", "se_drop", "n_repeats"]
    if "se_test" in results:  # the test sets' own sampling error, the same test objects in every repeat
        sub = results[results["metric"] == metric]
        se_test = sub.groupby(["estimator", "n_labels", "test"], sort=False)["se_test"].mean().unstack("test")
        out["se_test_A"], out["se_test_B"] = se_test["A"], se_test["B"]
        columns += ["se_test_A", "se_test_B"]
    return out.reset_index()[columns]


def cross_survey_findings(results: pd.DataFrame, metric: str = "accuracy", *, ssl_rows=SSL_ROWS,
                          supervised_rows=SUPERVISED_ROWS, min_repeats: int = MIN_REPEATS, digits: int = 3) -> list[str]:
    """Where self-supervision wins, ties or loses: on B's test set, on A's, and in the drop A - B.

    Per test set, SSL row and budget, the SSL row is compared with the best other row (by
    mean); on B's test set, also with the first of ``supervised_rows`` (the supervised CNN
    trained without the survey augmentations); per SSL row and budget, its drop is compared
    with the smaller drop of the supervised CNNs (a drop says little on its own: a model at chance level has none, so
    read it with the score on A). Every comparison follows
    :func:`~sklearn_ssl.evaluation.paired_comparison` (a two-sided paired t-test over at
    least ``min_repeats`` repeats), and all of them are corrected together with Holm's method
    (:func:`~sklearn_ssl.evaluation.holm_adjust`): a verdict only where the adjusted p-value
    is below 0.05. The first line counts the verdicts.
    """
    wide = _paired_drops(results, metric)
    present = list(dict.fromkeys(wide["estimator"]))
    ssl = [m for m in ssl_rows if m in present]
    others = [m for m in present if m not in ssl_rows]
    comparisons = []
    families = (("B", "B-test", True, others), ("B", "B-test vs CNN without survey augmentations", True,
                                                  list(supervised_rows[:1])),
                ("A", "A-test", True, others), ("drop", "drop A-B", False, list(supervised_rows)))
    for column, label, up, rivals in families:
        if not ssl or not rivals:
            continue
        for method in ssl:
            for n in sorted(wide["n_labels"].unique()):
                at = wide[wide["n_labels"] == n].pivot_table(index="repeat", columns="estimator", values=column)
                here = [m for m in rivals if m in at.columns]
                if method not in at.columns or not here:
                    continue
                means = at[here].mean()
                best = means.idxmax() if up else means.idxmin()
                pair = at[[method, best]].dropna()
                res = paired_comparison(pair[method], pair[best], higher_is_better=up, min_repeats=min_repeats)
                comparisons.append(dict(res, label=label, n_labels=int(n), where=f"{label}, {n} labels",
                                        a=method if column != "drop" else f"{method} (drop)",
                                        b=best if column != "drop" else f"{best} (drop)"))
    lines, tally = [], {}
    for res in holm_adjust(comparisons):  # the study's comparisons are one family
        word = {"better": "wins", "worse": "loses", "not distinguishable": "ties"}.get(res["verdict"], "untested")
        tally.setdefault(res["label"], {}).setdefault(word, 0)
        tally[res["label"]][word] += 1
        lines.append(f"{res['where']}: " + comparison_sentence(res["a"], res["b"], res, digits))
    counts = "; ".join(f"{label}: " + ", ".join(f"{word} {k}" for word, k in sorted(t.items()))
                       for label, t in tally.items())
    head = (f"SSL rows per budget against the best other row, on B also against the CNN without survey "
            f"augmentations, and their drop against the supervised CNNs' ({counts}; a smaller drop wins; "
            f"paired t-tests, Holm-corrected together at 5 %)"
            if counts else "No SSL row and rival to compare.")
    return [head] + lines
