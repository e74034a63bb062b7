"""The downstream study: one experiment run with the protocol of :mod:`sklearn_ssl.evaluation`.

:func:`downstream_study` scores a pretrained embedder against a supervised CNN, raw-pixel PCA
and the catalogue features an astronomer would use, for morphology and photometric redshift,
at several label budgets (:func:`~sklearn_ssl.evaluation.label_efficiency` on one held-out
split); :func:`run_downstream_study` first simulates the survey and pretrains the embedder.
Both are re-exported by :mod:`sklearn_ssl.evaluation`, their public home.
"""

from __future__ import annotations

import hashlib
import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._comparison import budget_comparisons, comparison_table, family_findings
from ._label_ratio import best_rival, label_ratio_findings
from ._tuning import tuned
from .metrics import photoz_scorer

__all__ = ["downstream_study", "run_downstream_study", "STUDY_GRIDS", "study_grid"]


#: The redshift metrics of :func:`downstream_study` (photo-z scorers, greater is better) and those that are
#: errors, scored negated and tabulated as the errors themselves (lower is better).
_PHOTOZ_SCORING = {"sigma_mad": "neg_sigma_mad", "bias": "bias", "outlier_fraction": "neg_outlier_fraction"}
_PHOTOZ_ERRORS = ("sigma_mad", "outlier_fraction")

#: Rows of :func:`downstream_study` by role, for its findings.
_SSL_ROWS = {"morphology": ("SSL frozen + logistic", "semi-supervised SSL + logistic"),
             "redshift": ("SSL frozen + ridge", "SSL fine-tuned photo-z head", "semi-supervised SSL + ridge")}
_SUPERVISED_ROWS = {"morphology": ("supervised CNN",), "redshift": ("supervised CNN photo-z head",)}
_CATALOGUE_ROWS = {"morphology": ("photometry + GB", "morphology + GB", "photometry + morphology + GB",
                                  "constant (majority class)"),
                   "redshift": ("photometry + GB", "morphology + GB", "photometry + morphology + GB",
                                "constant (median redshift)")}


#: The grid of each kind of row of :func:`downstream_study` with ``tune=True``: three settings each, so that
#: every row gets the same search (:func:`study_grid`). Networks search the learning rate around their
#: default (1e-3 from scratch, 1e-2 for a head on a pretrained encoder); linear probes the regularisation;
#: gradient boosting its learning rate. The constant predictors have nothing to tune.
STUDY_GRIDS = {
    "logistic": {"logisticregression__C": [0.1, 1.0, 10.0]},
    "ridge": {"ridge__alpha": [0.1, 1.0, 10.0]},
    "network from scratch": {"lr": [3e-4, 1e-3, 3e-3]},
    "network on a pretrained encoder": {"lr": [3e-3, 1e-2, 3e-2]},
    "gradient boosting (classes)": {"histgradientboostingclassifier__learning_rate": [0.03, 0.1, 0.3]},
    "gradient boosting (redshift)": {"histgradientboostingregressor__learning_rate": [0.03, 0.1, 0.3]},
}


def study_grid(estimator) -> dict | None:
    """The :data:`STUDY_GRIDS` entry of a row of :func:`downstream_study` (None: nothing to tune)."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, (list, tuple)):
        estimator = estimator[0]
    if isinstance(estimator, _SemiSupervisedProbe):
        return None  # tuned inside, on the embeddings of its labels (see _tuned_semi_supervised)
    params = estimator.get_params()
    if isinstance(estimator, Pipeline):
        steps = dict(estimator.steps)
        for kind, grid in STUDY_GRIDS.items():
            if next(iter(grid)).split("__")[0] in steps:
                return grid
        return None
    if "lr" in params and "pretrained" in params:
        return STUDY_GRIDS["network on a pretrained encoder" if params["pretrained"] is not None
                           else "network from scratch"]
    return None


def _study_findings(results: dict, min_repeats: int = 5, other_rows=None, return_comparisons: bool = False):
    """Per task and budget: each SSL row against the best catalogue baseline and the supervised CNN.

    ``other_rows`` (task -> row names) are further frozen embedders, also compared with the
    main embedder's frozen row. Every comparison is the paired t-test of :func:`paired_comparison`
    (at least ``min_repeats`` repeats), and all of them are corrected together with Holm's method
    (:func:`~sklearn_ssl.evaluation.family_findings`). With ``return_comparisons`` also the table
    of comparisons (:func:`~sklearn_ssl.evaluation.comparison_table`, ``p_value`` and ``p_adjusted``).
    """
    groups = []
    for task, metric, up in (("morphology", "accuracy", True), ("redshift", "sigma_mad", False)):
        res = results[task]
        others = list((other_rows or {}).get(task, ()))
        for method in (*_SSL_ROWS[task], *others):
            if method not in set(res["estimator"]):
                continue
            rivals_of = [(_CATALOGUE_ROWS[task], "the best catalogue baseline"),
                         (_SUPERVISED_ROWS[task], "the supervised CNN")]
            if method in others:
                rivals_of.append(((_SSL_ROWS[task][0],), _SSL_ROWS[task][0]))
            for rivals, what in rivals_of:
                groups.append((f"{task} ({metric}), {method} vs {what}: ",
                               budget_comparisons(res, metric, method, rivals, higher_is_better=up,
                                                  min_repeats=min_repeats)))
    lines, comparisons = family_findings(groups)
    lines += _ratio_findings(results, min_repeats, other_rows)
    return (lines, comparison_table(comparisons)) if return_comparisons else lines


def _ratio_findings(results: dict, min_repeats: int = 5, other_rows=None) -> list[str]:
    """The label ratio (:func:`~sklearn_ssl.evaluation.label_ratio`) of each SSL row against the supervised CNN
    and the best catalogue baseline (by mean over all budgets; not the constant predictor), per task; only with
    at least ``min_repeats`` repeats, which its bootstrap interval resamples."""
    lines = []
    for task, metric, up in (("morphology", "accuracy", True), ("redshift", "sigma_mad", False)):
        res = results[task]
        if res.empty or res["repeat"].nunique() < min_repeats:
            continue
        catalogue = best_rival(res, metric, [r for r in _CATALOGUE_ROWS[task] if not r.startswith("constant")],
                               higher_is_better=up)
        rivals = [r for r in (*_SUPERVISED_ROWS[task], catalogue) if r is not None]
        methods = (*_SSL_ROWS[task], *(other_rows or {}).get(task, ()))
        lines += label_ratio_findings(res, metric, methods, rivals, higher_is_better=up, heading=f"{task} ({metric}), ")
    return lines


def _digests(images) -> list[bytes]:
    """A content hash of each image, to recognise the same image in two arrays."""
    return [hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest() for x in images]


def _training_pool(images, y, test_size, classification: bool, random_state, test_index=None):
    """The images of :func:`~sklearn_ssl.evaluation.label_efficiency`'s training split for ``random_state``
    (an integer) or ``test_index``, never its test images: the unlabelled pool of a :class:`_SemiSupervisedProbe`."""
    from ._protocol import _given_split, held_out_split

    if test_index is not None:
        train, _ = _given_split(test_index, len(y))
    else:
        train, _ = held_out_split(np.asarray(y), test_size, classification, check_random_state(random_state))
    return images[train]


class _SemiSupervisedProbe(BaseEstimator):
    """Pretrain an embedder on a pool of images with only the training labels visible, then probe.

    ``fit(X, y)`` pretrains a clone of ``embedder`` on ``X`` (labelled) followed by the images
    of ``unlabelled`` that are not in ``X`` (compared by content, so every labelled image is
    seen once, with its label), marked ``-1`` for classes and ``NaN`` for continuous targets;
    then fits a clone of ``estimator`` on the embeddings of ``X``. ``unlabelled`` must not
    hold test images (:func:`_training_pool` gives the training split). A classifier or a
    regressor as ``estimator`` is. Used by :func:`downstream_study` and by
    ``benchmarks/real_label_efficiency.py``.
    """

    def __init__(self, embedder, estimator, unlabelled=None):
        self.embedder = embedder
        self.estimator = estimator
        self.unlabelled = unlabelled

    def __sklearn_tags__(self):
        from sklearn.utils import get_tags

        tags, probe = super().__sklearn_tags__(), get_tags(self.estimator)
        tags.estimator_type = probe.estimator_type
        tags.classifier_tags, tags.regressor_tags = probe.classifier_tags, probe.regressor_tags
        return tags

    def fit(self, X, y):
        X, y = np.asarray(X), np.asarray(y)
        pool = np.empty((0, *X.shape[1:]), X.dtype) if self.unlabelled is None else np.asarray(self.unlabelled)
        labelled = set(_digests(X))
        pool = pool[[d not in labelled for d in _digests(pool)]]
        hidden = np.full(len(pool), -1 if y.dtype.kind in "iub" else np.nan, dtype=y.dtype)
        self.embedder_ = clone(self.embedder).fit(np.concatenate([X, pool]), np.concatenate([y, hidden]))
        self.estimator_ = clone(self.estimator).fit(self.embedder_.transform(X), y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        if hasattr(self.estimator_, "best_params_"):  # a search on the embeddings: its choice, as a search's
            self.best_params_, self.cv_results_ = self.estimator_.best_params_, self.estimator_.cv_results_
        return self

    def predict(self, X):
        return self.estimator_.predict(self.embedder_.transform(X))

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self.embedder_.transform(X))


def downstream_study(images, catalogue, embedder, *, n_labels=(20, 50, 100, 300), n_repeats=5, test_size=0.25,
                     finetune_epochs=15, finetune_steps=None, photoz_bins=180, semi_supervised=True,
                     catalogue_baselines=True, other_embedders=None, bands=None, n_jobs=None,
                     memory=None, class_column="morphology_class", redshift_column="redshift", selection="random",
                     tune=True, inner_cv=3, seed_per_repeat=True, test_bootstrap=200, test_index=None,
                     random_state=0, keep_predictions=False, progress=False, verbose=0) -> dict:
    """Label-efficiency study of a pretrained embedder: morphology and photometric redshift.

    Every row is scored by :func:`label_efficiency` on one held-out split:

    - morphology (accuracy): frozen SSL + logistic regression; supervised CNN (the embedder's
      encoder architecture, normaliser and augmentations trained from scratch,
      :class:`~sklearn_ssl.FineTunedClassifier` with ``pretrained=None``);
      raw-pixel PCA (asinh pixels, at most 16 components) + logistic regression;
    - redshift (sigma_MAD, bias, outlier fraction |dz| > 0.05): frozen SSL + ridge
      regression; fine-tuned SSL photo-z head (:class:`~sklearn_ssl.PhotoZRegressor`,
      ``photoz_bins`` bins on [0, 0.4), default learning rates); supervised CNN with the same
      photo-z head from scratch; raw-pixel PCA + ridge regression;
    - with ``semi_supervised=True``, for both tasks: the embedder's settings with
      ``label_weight=1``, pretrained on all images with only each budget's labels visible
      (one pretraining per budget and repeat), then the same linear model;
    - with ``catalogue_baselines=True``, for both tasks, what an astronomer would use
      instead: :class:`~sklearn_ssl.evaluation.features.GalaxyFeatures` (photutils photometry,
      statmorph morphology; measured once on all images) with histogram gradient boosting
      on the photometry (the classic photo-z), on the morphology and on both, and the
      constant predictor (majority class, median redshift);
    - for each of ``other_embedders`` (e.g. BYOL, SimSiam, a
      :class:`~sklearn_ssl.CrossModalEmbedder`), the same frozen probes as the embedder's:
      rows ``"<name> frozen + logistic"`` and ``"<name> frozen + ridge"``.

    With ``tune=True`` (the default) every row but the constant predictors is a
    :class:`~sklearn.model_selection.GridSearchCV` over its three settings of
    :data:`STUDY_GRIDS` (learning rate of the networks, regularisation of the linear probes,
    learning rate of gradient boosting), cross-validated inside each budget's own labels
    (:func:`~sklearn_ssl.evaluation.tuned`); the semi-supervised rows search their probe's
    regularisation on the embeddings of their labels. The test split scores the refitted
    model once; the chosen settings are in the results' ``params`` column.

    ``out["findings"]`` states, per task and budget, whether each SSL row beats the best
    catalogue baseline and the supervised CNN, by the rule of
    :func:`paired_comparison` (a two-sided paired t-test over at least 5 repeats), all the
    comparisons corrected together with Holm's method at 5 %; ``out["comparisons"]`` is
    their table, with ``p_value`` and ``p_adjusted``. With at least 5 repeats the findings
    also give the label ratio of each SSL row against the supervised CNN and the best
    catalogue baseline (:func:`~sklearn_ssl.evaluation.label_ratio`: "SSL at n labels
    matches the rival at r x n labels", with a bootstrap interval over the repeats, and
    whether that interval includes 1).

    Fine-tuned and supervised models train for at least ``finetune_steps`` optimiser steps
    at every budget (``min_steps``; default: ``finetune_epochs`` epochs of the largest
    budget), so small budgets are not under-trained, which would flatter the pretrained rows.

    Parameters
    ----------
    images : ndarray of shape (n_samples, n_bands, height, width)
        Every image. The semi-supervised rows pretrain on the training split only (each
        labelled image once, the others unlabelled; never a test image).
    catalogue : pandas.DataFrame
        One row per image with integer classes in ``class_column`` and redshifts in
        ``redshift_column``.
    embedder : ContrastiveEmbedder or list of ContrastiveEmbedder
        Fitted on ``images`` (without labels); never refitted. A list holds pretrainings of
        the same settings with different seeds: repeat ``r`` of every row built on the
        embedder uses the ``r % len(embedder)``-th, so that the repeats also vary the
        pretraining (the first gives the supervised rows their architecture).
    n_labels : sequence of int
        Label budgets, each at most the training split.
    n_repeats, test_size, random_state, keep_predictions, progress, verbose
        As in :func:`label_efficiency`. With ``semi_supervised=True`` a ``random_state`` that is
        not an integer is first drawn into one, so that the semi-supervised rows know the split.
    finetune_epochs, finetune_steps : int
        Epochs and minimum optimiser steps of every fine-tuned or supervised fit.
    photoz_bins : int, default=180
        Bins of the photo-z head on [0, 0.4).
    semi_supervised : bool, default=True
        Add the semi-supervised rows.
    catalogue_baselines : bool, default=True
        Add the catalogue-feature and constant rows.
    other_embedders : dict of str -> fitted transformer or None, default=None
        Further pretrained embedders, each scored with the frozen probes; their findings
        also compare them with ``embedder``'s frozen row. Never refitted.
    bands : str or None, default=None
        Band names for :class:`~sklearn_ssl.evaluation.features.GalaxyFeatures` (e.g. ``"ugriz"``).
    n_jobs : int or None, default=None
        Processes for the catalogue features (images measured in parallel) and for the fits
        (:func:`label_efficiency`'s ``n_jobs``: each worker's torch then uses one thread).
    memory : str, joblib.Memory or None, default=None
        Cache of the catalogue features (:func:`~sklearn_ssl.evaluation.features.feature_table`):
        a second study of the same images reads them back instead of measuring them again.
    selection : {"random", "typiclust", "probcover", "coreset", "uncertainty"}, default="random"
        How each budget's labels are chosen (:func:`~sklearn_ssl.evaluation.label_efficiency`):
        the strategies see the embedder's embeddings of the training split, and every row
        of a repeat is trained on the same chosen labels. ``"uncertainty"`` applies to
        morphology only; the redshift rows then use random subsets.

    Returns
    -------
    out : dict
        ``"morphology"`` and ``"redshift"``: tidy results of :func:`label_efficiency`;
        ``"morphology_summary"``, ``"redshift_summary"``: :func:`summarize_label_efficiency`;
        ``"findings"``: list of sentences (see above); ``"comparisons"``: their table
        (:func:`~sklearn_ssl.evaluation.comparison_table`);
        ``"figures"``: dict of matplotlib Figures; ``"timings"``: seconds per task (and
        ``"features"``, the catalogue measurement).
    """
    from sklearn.decomposition import PCA
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from ._protocol import asinh_flatten, label_efficiency, summarize_label_efficiency
    from ..estimators import FineTunedClassifier
    from ..estimators import PhotoZRegressor
    from ..plotting import plot_label_efficiency

    pretrainings = list(embedder) if isinstance(embedder, (list, tuple)) else [embedder]
    if not pretrainings:
        raise ValueError("embedder must be a fitted embedder or a non-empty list of them.")
    for emb in pretrainings:
        check_is_fitted(emb, "net_")
    embedder = pretrainings[0]

    def each(build):
        """One row per pretraining (a list where there are several)."""
        rows = [build(emb) for emb in pretrainings]
        return rows if len(rows) > 1 else rows[0]

    steps = finetune_steps or finetune_epochs * max(1, max(n_labels) // embedder.batch_size)
    ft = dict(max_epochs=finetune_epochs, min_steps=steps, batch_size=embedder.batch_size,
              device=embedder.device, random_state=random_state)
    scratch = dict(encoder=embedder.encoder, normalize=embedder.normalize, augmentations=embedder.augmentations)
    # the PCA rows fit on the smallest budget, or on half of it in the folds of the inner search
    n_pca = min(16, max(1, min(n_labels) // 2) if tune else min(n_labels))

    def pixel_pca(model):
        return make_pipeline(FunctionTransformer(asinh_flatten), StandardScaler(),
                             PCA(n_components=n_pca, random_state=random_state), model)

    morph = {"SSL frozen + logistic": each(lambda e: make_pipeline(FrozenEstimator(e), StandardScaler(),
                                                                   LogisticRegression(max_iter=2000)))}
    redshift = {"SSL frozen + ridge": each(lambda e: make_pipeline(FrozenEstimator(e), StandardScaler(),
                                                                 Ridge(alpha=1.0))),
                "SSL fine-tuned photo-z head": each(lambda e: PhotoZRegressor(FrozenEstimator(e), n_bins=photoz_bins,
                                                                              **ft))}
    if semi_supervised:
        if not isinstance(random_state, numbers.Integral):  # the pools below must know label_efficiency's split
            random_state = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        semi = clone(embedder).set_params(label_weight=1.0)  # same settings, labels of each budget visible
        y_class, y_z = catalogue[class_column].to_numpy(), catalogue[redshift_column].to_numpy()

        def probe(model, grid, scoring):
            return tuned(model, grid, scoring=scoring, cv=inner_cv, random_state=random_state) if tune else model

        morph["semi-supervised SSL + logistic"] = _SemiSupervisedProbe(
            semi, probe(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), STUDY_GRIDS["logistic"],
                        "accuracy"),
            unlabelled=_training_pool(images, y_class, test_size, True, random_state, test_index))
        redshift["semi-supervised SSL + ridge"] = _SemiSupervisedProbe(
            semi, probe(make_pipeline(StandardScaler(), Ridge(alpha=1.0)), STUDY_GRIDS["ridge"],
                        photoz_scorer("neg_sigma_mad")),
            unlabelled=_training_pool(images, y_z, test_size, False, random_state, test_index))
    for name, other in (other_embedders or {}).items():
        check_is_fitted(other)
        morph[f"{name} frozen + logistic"] = make_pipeline(FrozenEstimator(other), StandardScaler(),
                                                           LogisticRegression(max_iter=2000))
        redshift[f"{name} frozen + ridge"] = make_pipeline(FrozenEstimator(other), StandardScaler(), Ridge(alpha=1.0))
    morph["supervised CNN"] = FineTunedClassifier(None, **scratch, **ft)
    morph["raw-pixel PCA + logistic"] = pixel_pca(LogisticRegression(max_iter=2000))
    redshift["supervised CNN photo-z head"] = PhotoZRegressor(None, n_bins=photoz_bins, **scratch, **ft)
    redshift["raw-pixel PCA + ridge"] = pixel_pca(Ridge(alpha=1.0))

    timings = {}
    if catalogue_baselines:
        from .features import _catalogue_baselines, feature_table

        t0 = time.perf_counter()
        table = feature_table(images, bands=bands, n_jobs=n_jobs, memory=memory, progress=bool(progress))
        base_morph, _ = _catalogue_baselines(images, "classification", bands=bands, random_state=random_state,
                                             features=table)
        base_z, _ = _catalogue_baselines(images, "regression", bands=bands, random_state=random_state,
                                         features=table)
        timings["features"] = time.perf_counter() - t0
        morph.update(base_morph)
        redshift.update(base_z)

    common = dict(n_labels=list(n_labels), test_size=test_size, n_repeats=n_repeats, random_state=random_state,
                  keep_predictions=keep_predictions, n_jobs=n_jobs, verbose=verbose, inner_cv=inner_cv,
                  seed_per_repeat=seed_per_repeat, test_bootstrap=test_bootstrap, test_index=test_index)
    if selection != "random":
        common["selection_features"] = embedder.transform(images)

    def grids(rows):
        return {name: grid for name, est in rows.items() if (grid := study_grid(est)) is not None} if tune else None

    t0 = time.perf_counter()
    morph_res = label_efficiency(morph, images, catalogue[class_column].to_numpy(), scoring={"accuracy": "accuracy"},
                                 task="classification", selection=selection, param_grids=grids(morph),
                                 **dict(common, progress=progress and "morphology fits"))
    timings["morphology"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    z_res = label_efficiency(redshift, images, catalogue[redshift_column].to_numpy(), scoring=_PHOTOZ_SCORING,
                             task="regression", selection="random" if selection == "uncertainty" else selection,
                             param_grids=grids(redshift),
                             **dict(common, progress=progress and "redshift fits"))
    errors = z_res["metric"].isin(_PHOTOZ_ERRORS)
    z_res.loc[errors, "score"] = -z_res.loc[errors, "score"]  # the negated scores back to errors, as tabulated
    timings["redshift"] = time.perf_counter() - t0
    figures = {
        "morphology_accuracy": plot_label_efficiency(morph_res, "accuracy", title="Morphology"),
        "redshift_sigma_mad": plot_label_efficiency(z_res, "sigma_mad", title="Photo-z",
                                                    ylabel=r"$\sigma_{\rm MAD}$"),
        "redshift_outlier_fraction": plot_label_efficiency(z_res, "outlier_fraction",
                                                           title="Photo-z outliers |dz| > 0.05"),
    }
    findings, comparisons = _study_findings(
        {"morphology": morph_res, "redshift": z_res}, return_comparisons=True,
        other_rows={"morphology": [f"{n} frozen + logistic" for n in other_embedders or {}],
                    "redshift": [f"{n} frozen + ridge" for n in other_embedders or {}]})
    return {"morphology": morph_res, "redshift": z_res, "morphology_summary": summarize_label_efficiency(morph_res),
            "redshift_summary": summarize_label_efficiency(z_res), "findings": findings, "comparisons": comparisons,
            "figures": figures, "timings": timings}


def run_downstream_study(n_samples=600, image_size=32, *, n_labels=(20, 50, 100, 300), n_repeats=5,
                         test_size=0.25, pretrain_epochs=15, finetune_epochs=15, finetune_steps=None,
                         photoz_bins=180, width=16, batch_size=64, semi_supervised=True, catalogue_baselines=True,
                         n_pretrainings=1, tune=True, n_jobs=None, selection="random", random_state=0,
                         verbose=0) -> dict:
    """The label-efficiency study on :func:`sklearn_ssl.datasets.make_galaxy_survey`.

    Simulates ``n_samples`` galaxies, pretrains one :class:`~sklearn_ssl.ContrastiveEmbedder`
    (SimCLR, :class:`~sklearn_ssl.nn.encoders.SmallCNN` of ``width``, asinh normalisation) on
    all of them without labels, ``n_pretrainings`` times with seeds ``random_state``,
    ``random_state + 1``, ... (the repeats cycle through them), then runs
    :func:`downstream_study` (the other parameters are its own).

    Returns
    -------
    out : dict
        What :func:`downstream_study` returns, with ``"timings"`` also holding the survey
        and pretraining times, plus ``"n_samples"`` and ``"embedder"``.
    """
    from ..datasets import make_galaxy_survey
    from ..estimators import ContrastiveEmbedder
    from ..nn.encoders import SmallCNN

    timings = {}
    t0 = time.perf_counter()
    X, cat = make_galaxy_survey(n_samples, image_size=image_size, random_state=random_state)
    timings["survey"] = time.perf_counter() - t0
    keep = (cat["redshift"].to_numpy() >= 0) & (cat["redshift"].to_numpy() < 0.4)  # the photo-z head's range
    X, cat = X[keep], cat[keep].reset_index(drop=True)
    t0 = time.perf_counter()
    embs = [ContrastiveEmbedder(encoder=SmallCNN(in_channels=X.shape[1], width=width), normalize="asinh",
                                max_epochs=pretrain_epochs, batch_size=batch_size, random_state=random_state + i).fit(X)
            for i in range(n_pretrainings)]
    emb = embs if n_pretrainings > 1 else embs[0]
    timings["pretrain"] = time.perf_counter() - t0
    out = downstream_study(X, cat, emb, n_labels=n_labels, tune=tune, n_repeats=n_repeats, test_size=test_size,
                           finetune_epochs=finetune_epochs, finetune_steps=finetune_steps, photoz_bins=photoz_bins,
                           semi_supervised=semi_supervised, catalogue_baselines=catalogue_baselines,
                           bands="ugriz", n_jobs=n_jobs, selection=selection, random_state=random_state,
                           verbose=verbose)
    out["timings"] = {**timings, **out["timings"]}
    return {**out, "n_samples": int(len(X)), "embedder": emb}
