"""End-to-end evaluation and the demo report behind the ``sklearn-ssl`` command.

:func:`evaluate_embeddings` cross-validates a simple model on embeddings for one catalogue
column (classification, regression or photometric redshift). :func:`run_demo` runs the
whole method on the built-in synthetic survey and writes a report folder.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEMO_SETTINGS", "evaluate_embeddings", "infer_task", "markdown_table", "run_demo"]

_PHOTOZ_NAMES = ("z", "zspec", "z_spec", "specz", "spec_z", "redshift", "z_true")


def infer_task(y, name=None) -> str:
    """Guess the task for target ``y``: ``"classification"``, ``"photoz"`` or ``"regression"``.

    Non-numeric, boolean or integer targets with at most 20 distinct values are classes;
    a float column named like a redshift (``redshift``, ``z``, ``zspec``, ...) is photo-z;
    other numbers are regression.
    """
    y = pd.Series(np.asarray(y))
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= 20:
        return "classification"
    if name is not None and str(name).lower() in _PHOTOZ_NAMES:
        return "photoz"
    return "regression"


def _model(task: str, model: str, random_state):
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "auto":
        model = "logistic" if task == "classification" else "knn"
    if task == "classification":
        choices = {"logistic": lambda: LogisticRegression(max_iter=2000, random_state=random_state),
                   "knn": lambda: KNeighborsClassifier(n_neighbors=15)}
    else:
        choices = {"ridge": lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)),
                   "knn": lambda: KNeighborsRegressor(n_neighbors=15, weights="distance")}
    if model not in choices:
        raise ValueError(f"model={model!r} does not fit task {task!r}; use one of {['auto', *choices]}.")
    return model, make_pipeline(StandardScaler(), choices[model]())


def _scorers(task: str, n_classes: int, threshold: float):
    from sklearn.metrics import make_scorer, mean_squared_error

    from .metrics import outlier_fraction, photoz_bias, sigma_mad

    if task == "classification":
        out = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "f1_macro": "f1_macro"}
        out["roc_auc"] = "roc_auc" if n_classes == 2 else "roc_auc_ovr"
        return out
    out = {"r2": "r2", "rmse": make_scorer(lambda a, b: float(np.sqrt(mean_squared_error(a, b))))}
    if task == "photoz":
        out.update(bias=make_scorer(photoz_bias), sigma_mad=make_scorer(sigma_mad),
                   outlier_fraction=make_scorer(outlier_fraction, threshold=threshold))
    return out


def evaluate_embeddings(Z, y, *, task="auto", model="auto", cv=5, threshold=0.05, name=None,
                        random_state=0, n_jobs=None) -> pd.DataFrame:
    """Cross-validate a simple model on embeddings and report standard metrics.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Embeddings (or any features).
    y : array-like of shape (n_samples,)
        Target: class labels or a number (e.g. spectroscopic redshift).
    task : {"auto", "classification", "regression", "photoz"}, default="auto"
        ``"auto"`` uses :func:`infer_task`. ``"photoz"`` is regression with the photo-z
        metrics of :mod:`sklearn_ssl.metrics` (bias, sigma_MAD, outlier fraction) added.
    model : {"auto", "logistic", "knn", "ridge"}, default="auto"
        Standardised features then logistic regression (classification default), k
        nearest neighbours (k=15; regression default) or ridge regression.
    cv : int, default=5
        Number of (stratified, for classes) shuffled folds.
    threshold : float, default=0.05
        ``|dz|`` above which a photo-z is an outlier.
    name : str or None, default=None
        Target name, used by ``task="auto"`` and in the output.
    random_state : int, default=0
        Seeds the folds (and the logistic regression).
    n_jobs : int or None, default=None
        Folds run in parallel.

    Returns
    -------
    table : pandas.DataFrame
        One row per metric: ``mean`` and ``std`` over the folds for the model, and
        ``baseline`` for a prediction of the training prior (majority class, mean value).
        ``table.attrs`` holds ``task``, ``model``, ``n_samples``, ``cv``.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y)
    if Z.ndim != 2 or len(Z) != len(y):
        raise ValueError(f"need embeddings (n, d) and one target per row; got {Z.shape} and {y.shape}.")
    if task == "auto":
        task = infer_task(y, name)
    if task not in ("classification", "regression", "photoz"):
        raise ValueError(f"task={task!r}: use 'auto', 'classification', 'regression' or 'photoz'.")
    if task != "classification":
        try:
            y = y.astype(np.float64)
        except ValueError as exc:
            raise ValueError(f"task={task!r} needs a numeric target{f' ({name})' if name else ''}: {exc}") from exc
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2, got {cv!r}.")
    if len(y) < 2 * cv:
        raise ValueError(f"{len(y)} labelled rows are too few for {cv}-fold cross-validation.")
    model_name, estimator = _model(task, model, random_state)
    n_classes = len(np.unique(y)) if task == "classification" else 0
    if task == "classification":
        if n_classes < 2:
            raise ValueError(f"the target{f' {name!r}' if name else ''} has a single class; nothing to classify.")
        smallest = pd.Series(y).value_counts().min()
        if smallest < cv:
            raise ValueError(f"the rarest class has {smallest} member(s), fewer than cv={cv} folds; "
                             "lower --cv or drop rare classes.")
        folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
        dummy = DummyClassifier(strategy="prior")
    else:
        folds = KFold(cv, shuffle=True, random_state=random_state)
        dummy = DummyRegressor(strategy="mean")
    scoring = _scorers(task, n_classes, threshold)
    res = cross_validate(estimator, Z, y, cv=folds, scoring=scoring, n_jobs=n_jobs)
    base = cross_validate(dummy, Z, y, cv=folds, scoring=scoring)
    rows = [{"metric": m, "mean": float(np.mean(res[f"test_{m}"])), "std": float(np.std(res[f"test_{m}"])),
             "baseline": float(np.mean(base[f"test_{m}"]))} for m in scoring]
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs.update(task=task, model=model_name, n_samples=int(len(y)), cv=int(cv),
                       target=name, n_classes=n_classes)
    return table


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no extra dependency)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# The demo
# ------------------------------------------------------------------------------------------

#: Settings of ``sklearn-ssl demo`` (``"default"``) and ``sklearn-ssl demo --quick``.
#: ``budgets`` are numbers of labelled galaxies (the whole training split is always added);
#: ``epochs`` pretraining epochs. The study is :func:`sklearn_ssl.evaluation.downstream_study`:
#: supervised and fine-tuned CNNs train for at least ``finetune_steps`` optimiser steps at
#: every budget, so small budgets are not under-trained; ``semi_supervised`` adds its rows
#: (one pretraining per budget, repeat and task); ``catalogue_baselines`` the rows of
#: :class:`~sklearn_ssl.GalaxyFeatures` + gradient boosting and the constant predictor;
#: ``n_repeats`` label subsets are drawn per budget (findings need at least 5);
#: ``other_methods`` are pretrained with the same settings and probed frozen next to SimCLR
#: (``"byol"``, ``"simsiam"``, ``"crossmodal"``: images aligned with the training galaxies'
#: spectra); ``rare_fraction`` of the galaxies are strong lenses, searched for without labels;
#: ``cross_survey`` holds the arguments of :func:`sklearn_ssl.evaluation.cross_survey_study`
#: (labels from survey A, tests on A and on B, observed in worse conditions; None: skipped).
DEMO_SETTINGS = {
    "default": dict(n_samples=1500, image_size=32, width=8, epochs=12, batch_size=128, test_fraction=0.3,
                    budgets=(40, 120, 350), finetune_epochs=10, finetune_steps=300, photoz_bins=60,
                    semi_supervised=False, catalogue_baselines=True, n_repeats=5,
                    other_methods=("byol", "simsiam", "crossmodal"), rare_fraction=0.02,
                    cross_survey=dict(target="redshift", catalogue_baselines=False)),
    "quick": dict(n_samples=500, image_size=24, width=8, epochs=6, batch_size=100, test_fraction=0.3,
                  budgets=(30, 100), finetune_epochs=5, finetune_steps=150, photoz_bins=60, semi_supervised=False,
                  catalogue_baselines=False, n_repeats=1, other_methods=("byol", "simsiam", "crossmodal"),
                  rare_fraction=0.02, cross_survey="quick"),
}

_BANDS = "ugriz"

#: Wall time in seconds of ``sklearn-ssl demo`` and ``sklearn-ssl demo --quick`` on an idle
#: 2-core CPU without GPU (the development machine), measured 2026-12-02 with every section of the demo (README,
#: docs/benchmarks.rst). The demo prints it before it starts.
DEMO_WALL_TIME_S = {"default": 710, "quick": 37}  # wall seconds, idle 2-core CPU, measured 2026-12-02 (README, docs/benchmarks.rst)


def _expected_time(quick, changed) -> str:
    """The line printed before the demo: how long it takes, and how to get the quick one."""
    def fmt(seconds):
        return f"about {seconds} s" if seconds < 90 else f"about {round(seconds / 60)} minutes"

    name = "quick" if quick else "default"
    text = (f"sklearn-ssl demo{' --quick' if quick else ''}: {fmt(DEMO_WALL_TIME_S[name])} on an idle 2-core CPU "
            "(faster with more cores or a GPU)")
    if changed:
        text += "; --n-samples and --epochs change this roughly in proportion"
    if not quick:
        text += f". For a first look in {fmt(DEMO_WALL_TIME_S['quick'])}: sklearn-ssl demo --quick"
    return text + "."


class _Steps:
    """Numbered step lines on stderr, with the time each step took."""

    def __init__(self, total, progress):
        self.total, self.progress, self.k, self.t0 = total, progress, 0, time.perf_counter()

    def start(self, text):
        self.k += 1
        self._t = time.perf_counter()
        if self.progress:
            print(f"[{self.k}/{self.total}] {text}", file=sys.stderr, flush=True)

    def done(self, text=""):
        if self.progress:
            print(f"      {text + ' ' if text else ''}({time.perf_counter() - self._t:.1f} s)", file=sys.stderr,
                  flush=True)


def _epoch_bar(desc, enabled):
    """A skorch callback showing one tqdm bar over epochs (with the loss); picklable."""
    return _EpochBarCallback(desc=desc, enabled=enabled)


try:
    from skorch.callbacks import Callback as _Callback
except ImportError:  # pragma: no cover - skorch is a dependency
    _Callback = object


class _EpochBarCallback(_Callback):
    """One tqdm bar over epochs, showing the training loss (stderr).

    tqdm places it below any bar already open (e.g. the study's bar over fits, when the
    semi-supervised rows refit clones of the embedder) and keeps it only if it is the top bar.
    """

    def __init__(self, desc="training", enabled=True):
        self.desc, self.enabled = desc, enabled

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        # disable=None: tqdm shows the bar only on a terminal, never in a redirected log
        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch", leave=None, file=sys.stderr,
                         disable=None if self.enabled else True, dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        self.bar_.set_postfix(loss=f"{net.history[-1, 'train_loss']:.3f}", refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        del self.bar_  # a tqdm bar holds the terminal: keep the fitted model picklable


#: The study's estimators under one name per method, for the figures and the summary.
_METHOD_OF = {
    "SSL frozen + logistic": "SSL frozen", "SSL frozen + ridge": "SSL frozen",
    "SSL fine-tuned photo-z head": "SSL fine-tuned",
    "semi-supervised SSL + logistic": "semi-supervised SSL", "semi-supervised SSL + ridge": "semi-supervised SSL",
    "supervised CNN": "supervised CNN", "supervised CNN photo-z head": "supervised CNN",
    "raw-pixel PCA + logistic": "raw-pixel PCA", "raw-pixel PCA + ridge": "raw-pixel PCA",
    "photometry + GB": "photometry + GB", "morphology + GB": "morphology + GB",
    "photometry + morphology + GB": "photometry + morphology + GB",
    "constant (majority class)": "constant", "constant (median redshift)": "constant",
}
#: The frozen probes of the methods beyond SimCLR (rows of the "beyond SimCLR" section).
_OTHER_FROZEN = ("BYOL frozen", "SimSiam frozen", "CLIP frozen")
#: The catalogue baselines of the demo (method names), for the findings.
_CATALOGUE_METHODS = ("photometry + GB", "morphology + GB", "photometry + morphology + GB", "constant")


def _method_of(estimator: str) -> str:
    """The short method name of a study row (``"BYOL frozen + logistic"`` -> ``"BYOL frozen"``)."""
    return _METHOD_OF.get(estimator, estimator.rsplit(" + ", 1)[0])


def _label_efficiency_runs(cfg, images, catalog, emb, n_test, progress, others=None):
    """Morphology and redshift, every method, every budget: :func:`~sklearn_ssl.evaluation.downstream_study`.

    Returns the long table (task, estimator, n_labels, repeat, metric, score), the test
    predictions of each redshift method at the largest budget and the test indices.
    """
    from .evaluation import downstream_study

    n_train = len(images) - n_test
    budgets = sorted({b for b in cfg["budgets"] if b < n_train} | {n_train})
    res = downstream_study(images, catalog, emb, n_labels=budgets, n_repeats=cfg.get("n_repeats", 1),
                           test_size=cfg["test_fraction"], finetune_epochs=cfg["finetune_epochs"],
                           finetune_steps=cfg["finetune_steps"], photoz_bins=cfg["photoz_bins"],
                           semi_supervised=cfg["semi_supervised"],
                           catalogue_baselines=cfg.get("catalogue_baselines", False), other_embedders=others,
                           bands=_BANDS,
                           random_state=cfg["random_state"], keep_predictions=True, progress=progress)
    frames = [res[task].assign(task=task) for task in ("morphology", "redshift")]
    for frame in frames:
        frame.attrs = {}  # arrays in attrs break pd.concat
    table = pd.concat(frames, ignore_index=True)
    table["estimator"] = table["estimator"].map(_method_of)
    table = table[["task", "estimator", "n_labels", "repeat", "metric", "score", "fit_time"]]
    preds = {_method_of(name): pred for (name, n, r), pred in res["redshift"].attrs["predictions"].items()
             if n == budgets[-1] and r == 0 and _method_of(name) not in _OTHER_FROZEN}
    return table, preds, res["redshift"].attrs["test_index"]


def _small_cnn(in_channels, width):
    from .encoders import SmallCNN

    return SmallCNN(in_channels=in_channels, width=width)


def run_demo(out="sklearn-ssl-report", *, quick=False, n_samples=None, epochs=None, device="auto",
             random_state=0, progress=True, verbose=True):
    """Run the method end to end on the synthetic survey and write a report folder.

    Simulates a survey (:func:`sklearn_ssl.datasets.make_galaxy_survey`), pretrains a
    :class:`~sklearn_ssl.ContrastiveEmbedder` (SimCLR) on all images without labels, then
    runs :func:`sklearn_ssl.evaluation.downstream_study` at several label budgets on a
    held-out test set:

    - morphology (4 classes, accuracy): logistic regression on the frozen SSL embeddings
      and on raw-pixel PCA features, and a supervised CNN of the same architecture trained
      from scratch on the labels;
    - redshift (sigma_MAD, outlier fraction, bias): ridge regression on the frozen SSL
      embeddings and on the pixel PCA, the supervised CNN with the binned photo-z head,
      and the pretrained encoder fine-tuned with that head;
    - (default settings) the catalogue baselines: :class:`~sklearn_ssl.GalaxyFeatures`
      (photutils photometry, statmorph morphology) + gradient boosting, and the constant
      predictor; 5 label subsets per budget, so that the findings can apply the paired
      two-standard-error rule of :func:`sklearn_ssl.evaluation.paired_comparison`
      (semi-supervised rows: ``DEMO_SETTINGS["default"]["semi_supervised"] = True``; one
      pretraining per budget, repeat and task, so off by default);
    - beyond SimCLR: BYOL, SimSiam and a CLIP-style :class:`~sklearn_ssl.CrossModalEmbedder`
      (images aligned with the spectra of the training galaxies) pretrained with the same
      settings and probed frozen like SimCLR; image-to-spectrum retrieval among the held-out
      galaxies; and a rare-object search: 2 % of the galaxies are strong lenses, ranked by
      :meth:`~sklearn_ssl.SimilaritySearch.score_samples` in each embedding and in raw pixels.

    Parameters
    ----------
    out : str or path, default="sklearn-ssl-report"
        Report folder. Written atomically: built in a temporary folder and moved into
        place at the end. An existing folder is replaced only if it is a previous report.
    quick : bool, default=False
        Small settings (:data:`DEMO_SETTINGS` ``["quick"]``), under a minute on 2 cores.
    n_samples, epochs : int or None
        Override the number of galaxies and of pretraining epochs.
    device : str, default="auto"
        Torch device for every network.
    random_state : int, default=0
        Seed of the survey, the split and every model.
    progress : bool, default=True
        Step lines and progress bars on stderr.
    verbose : bool, default=True
        Print the summary table on stdout.

    Returns
    -------
    results : dict
        ``"label_efficiency"`` (tidy DataFrame in the format of
        :func:`sklearn_ssl.evaluation.label_efficiency` plus a ``task`` column: task,
        estimator, n_labels, repeat, metric, score),
        ``"summary"`` (DataFrame at the largest budget), ``"settings"`` (dict),
        ``"timings"`` (seconds per step), ``"out"`` (Path of the report),
        ``"rare_objects"`` (DataFrame: precision of each embedding's most abnormal 1 % and 5 %,
        ROC AUC) and ``"retrieval"`` (dict: image-to-spectrum top-1/top-5 rates and chance).
    """
    from ._demo_methods import OTHER_METHODS, fit_other_embedders, held_out_galaxies, rare_object_search, retrieval
    from ._io import atomic_dir, embedding_frame
    from .datasets import make_galaxy_survey
    from .evaluation import _asinh_flatten
    from .embedder import ContrastiveEmbedder, _resolve_device

    cfg = dict(DEMO_SETTINGS["quick" if quick else "default"])
    if n_samples is not None:
        cfg["n_samples"] = int(n_samples)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    if cfg["n_samples"] < 40:
        raise ValueError(f"n_samples={cfg['n_samples']} is too small for a demo; use at least 40.")
    device = _resolve_device(str(device))
    cfg.update(device=device, random_state=int(random_state), quick=bool(quick))
    out = Path(out)
    timings = {}
    others_wanted = tuple(cfg.get("other_methods", ()))
    rare_fraction = float(cfg.get("rare_fraction", 0.0))
    cross = cfg.get("cross_survey")
    steps = _Steps(5 + bool(others_wanted) + (bool(others_wanted) or rare_fraction > 0) + (cross is not None),
                   progress)
    if progress:
        print(_expected_time(quick, n_samples is not None or epochs is not None), file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    with atomic_dir(out) as tmp:
        fig_dir = tmp / "figures"
        fig_dir.mkdir()

        n, size = cfg["n_samples"], cfg["image_size"]
        steps.start(f"simulating {n} galaxies ({_BANDS}, {size}x{size} px) with make_galaxy_survey")
        t = time.perf_counter()
        survey = make_galaxy_survey(n, image_size=size, bands=_BANDS, spectra="crossmodal" in others_wanted,
                                    rare_fraction=rare_fraction, random_state=random_state)
        images, catalog, spectra = survey if len(survey) == 3 else (*survey, None)
        timings["simulate"] = time.perf_counter() - t
        steps.done()

        steps.start(f"pretraining SimCLR on {n} unlabelled images for {cfg['epochs']} epochs on {device}")
        t = time.perf_counter()
        encoder = functools.partial(_small_cnn, width=cfg["width"])
        emb = ContrastiveEmbedder(
            encoder=encoder, method="simclr", max_epochs=cfg["epochs"],
            batch_size=cfg["batch_size"], lr=2e-3, device=device, random_state=random_state,
            callbacks=[_epoch_bar("pretraining", progress)],
        ).fit(images)
        Z = emb.transform(images)
        timings["pretrain"] = time.perf_counter() - t
        steps.done()

        held_out = held_out_galaxies(catalog, cfg["test_fraction"], random_state)
        others = {}
        if others_wanted:
            names = ", ".join(OTHER_METHODS[m] for m in others_wanted)
            steps.start(f"pretraining {names} with the same settings (CLIP: spectra of the "
                        f"{int((~held_out).sum())} training galaxies only)")
            t = time.perf_counter()
            others = fit_other_embedders(images, spectra, held_out, cfg, encoder,
                                         callbacks=lambda desc: [_epoch_bar(desc, progress)])
            timings["pretrain_other_methods"] = time.perf_counter() - t
            steps.done()

        n_test = int(np.ceil(cfg["test_fraction"] * n))  # train_test_split's rounding
        steps.start(f"label efficiency (sklearn_ssl.evaluation.downstream_study): morphology and redshift, "
                    f"{n_test} test galaxies")
        t = time.perf_counter()
        table, preds, test = _label_efficiency_runs(cfg, images, catalog, emb, n_test, progress, others)
        timings["label_efficiency"] = time.perf_counter() - t
        steps.done()

        rare, found = None, None
        if others or rare_fraction > 0:
            steps.start("rare-object search in every embedding" + (", image-to-spectrum retrieval" if "CLIP" in others
                                                                     else ""))
            t = time.perf_counter()
            if rare_fraction > 0:
                spaces = {"SimCLR": Z, **{name: model.transform(images) for name, model in others.items()},
                          "raw arcsinh pixels": _asinh_flatten(images)}
                rare = rare_object_search(spaces, catalog["strong_lens"].to_numpy())
                rare.to_csv(tmp / "rare_objects.csv", index=False)
            if "CLIP" in others:
                found = retrieval(others["CLIP"], images[held_out], spectra[held_out])
            timings["beyond_simclr"] = time.perf_counter() - t
            steps.done()

        crossed = None
        if cross is not None:
            from .evaluation import CROSS_SURVEY_QUICK, cross_survey_study

            kwargs = dict(CROSS_SURVEY_QUICK) if cross == "quick" else dict(cross)
            steps.start(f"cross-survey study (sklearn_ssl.evaluation.cross_survey_study): labels from survey A, "
                        f"tests on A and on B (worse seeing, 3x the sky noise, more extinction), "
                        f"{kwargs.get('n_repeats', 5)} repeats")
            t = time.perf_counter()
            crossed = cross_survey_study(**kwargs, random_state=random_state)
            crossed["settings"], crossed["quick"] = kwargs, cross == "quick"
            crossed["results"].to_csv(tmp / "cross_survey.csv", index=False)
            timings["cross_survey"] = time.perf_counter() - t
            steps.done()

        steps.start("figures")
        t = time.perf_counter()
        figures = _demo_figures(fig_dir, images, catalog, emb, Z, table, preds, test, cfg)
        if crossed is not None:
            from .plotting import plot_cross_survey

            fig = plot_cross_survey(crossed["results"], titles=("A-test (labels from A)", "B-test (labels from A)"))
            figures.append((_save(fig, fig_dir / "cross_survey.png"), "Cross-survey study",
                            _cross_survey_caption(crossed)))
        timings["figures"] = time.perf_counter() - t
        steps.done()

        steps.start(f"writing the report to {out}")
        summary = _summary(table)
        timings["total"] = time.perf_counter() - t_start
        table.to_csv(tmp / "label_efficiency.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        catalog.to_csv(tmp / "catalog.csv", index=False)
        embedding_frame(Z, catalog["id"].to_numpy()).to_csv(tmp / "embeddings.csv", index=False,
                                                            float_format="%.6g")
        emb.save(tmp / "model.joblib")
        settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
        (tmp / "settings.json").write_text(json.dumps({"settings": settings, "timings_s": timings,
                                                       "retrieval": found}, indent=1))
        _write_report(tmp, cfg, table, summary, figures, timings, out, rare=rare, found=found, crossed=crossed)
        steps.done()
    if verbose:
        print(_summary_text(summary, cfg, timings, out))
    return {"label_efficiency": table, "summary": summary, "settings": cfg, "timings": timings, "out": out,
            "rare_objects": rare, "retrieval": found,
            "cross_survey": None if crossed is None else {k: crossed[k] for k in ("results", "summary", "findings")}}


_METHOD_STYLE = {
    "SSL frozen": dict(color="#1f77b4", marker="o"),
    "SSL fine-tuned": dict(color="#17becf", marker="D"),
    "semi-supervised SSL": dict(color="#9467bd", marker="v"),
    "supervised CNN": dict(color="#d62728", marker="s"),
    "BYOL frozen": dict(color="#aec7e8", marker="o"),
    "SimSiam frozen": dict(color="#98df8a", marker="o"),
    "CLIP frozen": dict(color="#e377c2", marker="o"),
    "raw-pixel PCA": dict(color="#7f7f7f", marker="^"),
    "photometry + GB": dict(color="#ff7f0e", marker="P"),
    "morphology + GB": dict(color="#2ca02c", marker="X"),
    "photometry + morphology + GB": dict(color="#8c564b", marker="*"),
    "constant": dict(color="#bcbd22", marker="_"),
}
_METRIC_LABEL = {"accuracy": "accuracy", "sigma_mad": "sigma_MAD", "outlier_fraction": "outlier fraction",
                 "bias": "bias"}


def _save(fig, path):
    fig.savefig(path, dpi=110)
    return path.name


def _plot_training_loss(history, batch_size):
    from matplotlib.figure import Figure

    loss = np.asarray([h["train_loss"] for h in history], dtype=float)
    fig = Figure(figsize=(5.2, 3.4))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(loss) + 1), loss, marker="o", ms=3, color="#1f77b4", label="training loss")
    chance = np.log(2 * batch_size - 1)
    ax.axhline(chance, color="0.5", ls="--", lw=1, label=f"untrained level ln(2B-1) = {chance:.2f}")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("NT-Xent loss (nats)")
    ax.set_title(f"SimCLR pretraining (batch B = {batch_size}, no labels)", fontsize=10)
    ax.set_ylim(0, chance * 1.08)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plot_embedding_map(Z, classes, redshift, title):
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    pca = PCA(2, random_state=0).fit(StandardScaler().fit_transform(Z))
    xy = pca.transform(StandardScaler().fit_transform(Z))
    var = 100 * pca.explained_variance_ratio_
    fig = Figure(figsize=(10, 4.3))
    ax1, ax2 = fig.subplots(1, 2)
    palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    for k, name in enumerate(pd.unique(classes)):
        sel = classes == name
        ax1.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, color=palette[k % len(palette)], label=str(name),
                    linewidths=0)
    ax1.legend(title="morphology (not used in training)", fontsize=8, title_fontsize=8, markerscale=2.5)
    ax1.set_title("coloured by morphology", fontsize=10)
    order = np.argsort(redshift)
    sc = ax2.scatter(xy[order, 0], xy[order, 1], c=redshift[order], s=6, cmap="viridis", linewidths=0)
    fig.colorbar(sc, ax=ax2, label="spectroscopic redshift z")
    ax2.set_title("coloured by redshift", fontsize=10)
    lo, hi = np.percentile(xy, [0.5, 99.5], axis=0)
    pad = 0.08 * (hi - lo)
    for ax in (ax1, ax2):
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])  # a few outliers would squeeze the rest
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_xlabel(f"PC 1 of the embeddings ({var[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC 2 ({var[1]:.0f}%)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _plot_label_efficiency(table, chance_accuracy):
    from matplotlib.figure import Figure

    from .plotting import plot_label_efficiency

    panels = [("morphology", "accuracy", "morphology (4 classes): test accuracy", True),
              ("redshift", "sigma_mad", "photo-z: sigma_MAD of dz/(1+z)", False),
              ("redshift", "outlier_fraction", "photo-z: outlier fraction |dz| > 0.05", False)]
    fig = Figure(figsize=(13, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    legend = {}
    for ax, (task, metric, title, up) in zip(axes, panels):
        sub = table[table.task == task]
        ax.set_prop_cycle(color=[_METHOD_STYLE.get(m, {}).get("color", "k") for m in pd.unique(sub.estimator)])
        plot_label_efficiency(sub, metric, ax=ax, title=title,
                              ylabel=_METRIC_LABEL[metric] + ("  (higher is better)" if up else "  (lower is better)"))
        if metric == "accuracy":
            lo, hi = ax.get_ylim()
            if chance_accuracy >= lo - 0.15 * (hi - lo):  # near the curves: draw it
                ax.axhline(chance_accuracy, color="0.6", ls=":", lw=1, label="majority class")
            else:  # far below: a line would squash the curves into the top of the panel
                ax.text(0.98, 0.03, f"majority class: {chance_accuracy:.2f} (below this axis)", ha="right",
                        va="bottom", transform=ax.transAxes, fontsize=7.5, color="0.4")
        ax.set_xlabel("labelled training galaxies")
        ax.get_legend().remove()
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    # one legend for the three panels, below them: inside a panel it covers curves
    fig.legend(list(legend.values()), list(legend.keys()), loc="outside lower center", ncol=len(legend),
               fontsize=8, frameon=False)
    return fig


def _plot_photoz(z_true, preds, n_labels, threshold=0.05):
    from matplotlib.figure import Figure

    from .metrics import outlier_fraction, photoz_bias, sigma_mad

    methods = [m for m in _METHOD_STYLE if m in preds]
    # constrained layout makes room for every label (same limits on both axes, nearly square panels)
    fig = Figure(figsize=(3.5 * len(methods), 4.1), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods), sharey=True))
    hi = float(np.quantile(z_true, 0.995)) * 1.15
    all_zp = np.concatenate([np.asarray(preds[m], dtype=float) for m in methods])
    lo = min(0.0, float(np.nanmin(all_zp)) - 0.02 * hi)  # predictions below 0 stay in view
    hi = max(hi, float(np.nanquantile(all_zp, 0.995)) * 1.05)
    grid = np.linspace(lo, hi, 50)
    for ax, method in zip(axes, methods):
        zp = preds[method]
        ax.scatter(z_true, zp, s=5, alpha=0.5, color=_METHOD_STYLE[method]["color"], linewidths=0)
        ax.plot(grid, grid, color="k", lw=0.8)
        for sign in (-1, 1):
            ax.plot(grid, grid + sign * threshold * (1 + grid), color="0.5", ls="--", lw=0.8)
        text = (f"sigma_MAD = {sigma_mad(z_true, zp):.4f}\nbias = {photoz_bias(z_true, zp):+.4f}\n"
                f"outliers (|dz|>{threshold}) = {100 * outlier_fraction(z_true, zp, threshold):.1f}%")
        ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=8,
                bbox=dict(boxstyle="round", fc="white", ec="0.8"))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("spectroscopic redshift z_spec")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("photometric redshift z_phot")
    fig.suptitle(f"Test-set photo-z with {n_labels} labelled training galaxies "
                 f"(dashed: |dz| = {threshold}(1+z))", fontsize=10)
    return fig


def _demo_figures(fig_dir, images, catalog, emb, Z, table, preds, test, cfg):
    """Write every PNG; returns a list of (file name, title, caption)."""
    try:
        from .plotting import plot_augmentations
    except ImportError:  # until it moves into plotting.py
        from .plotting import plot_augmentations
    from .plotting import plot_galaxy_grid

    figs = []
    rng = np.random.default_rng(cfg["random_state"])
    classes = catalog["morphology"].to_numpy()
    names = list(pd.unique(classes))
    per = 6
    pick = np.concatenate([rng.choice(np.flatnonzero(classes == c), min(per, int((classes == c).sum())),
                                      replace=False) for c in names])
    pick = pick[np.lexsort((catalog["redshift"].to_numpy()[pick], [names.index(c) for c in classes[pick]]))]
    fig = plot_galaxy_grid(images[pick], _BANDS, [f"z={z:.3f}" for z in catalog["redshift"].to_numpy()[pick]],
                           n_cols=per, panel_size=1.25, row_labels=names,
                           suptitle=f"Synthetic survey: {len(images)} galaxies, gri composites "
                                    f"({cfg['image_size']}x{cfg['image_size']} px, 0.396\"/px)")
    figs.append((_save(fig, fig_dir / "galaxies.png"), "The data",
                 "A few simulated galaxies per morphology class (rows), sorted by redshift; arcsinh-stretched "
                 "g, r, i composites. The catalogue also holds each galaxy's spectroscopic redshift."))

    sel = pick[:: max(1, len(pick) // 4)][:4]
    fig = plot_augmentations(images[sel], emb.augmentations, bands=_BANDS, n_views=5,
                             random_state=cfg["random_state"], titles=[f"{classes[i]}" for i in sel])
    figs.append((_save(fig, fig_dir / "augmentations.png"), "Augmentations",
                 "Each row: one galaxy (first column, the view that transform embeds) and five random views "
                 "drawn by the 'auto' preset (flips, rotation, small shift, noise). Two views of the same "
                 "galaxy are a positive pair: the representation learns to ignore exactly these changes."))

    fig = _plot_training_loss(emb.net_.history, min(cfg["batch_size"], len(images)))
    figs.append((_save(fig, fig_dir / "training_loss.png"), "Pretraining",
                 "Contrastive (NT-Xent) loss per epoch. The dashed line is the loss of an encoder that cannot "
                 "tell galaxies apart; the lower the curve, the better two views of one galaxy are matched "
                 "among the batch."))

    fig = _plot_embedding_map(Z, classes, catalog["redshift"].to_numpy(),
                              "Embeddings of all galaxies, first two principal components")
    figs.append((_save(fig, fig_dir / "embedding_map.png"), "What the embeddings hold",
                 "The learned representation of every galaxy, projected on its first two principal "
                 "components. No label was used to learn it: galaxies of one morphology, and of similar "
                 "redshift, lie together on their own."))

    chance = float(catalog["morphology"].iloc[test].value_counts(normalize=True).max())
    fig = _plot_label_efficiency(table, chance)
    figs.append((_save(fig, fig_dir / "label_efficiency.png"), "Label efficiency",
                 "Test metrics against the number of labelled galaxies (mean over the label subsets drawn per "
                 "budget, same test set; sklearn_ssl.evaluation.downstream_study). SSL frozen: the pretrained encoder, frozen, "
                 "with logistic regression (morphology) or ridge regression (redshift); SSL fine-tuned: the "
                 "encoder fine-tuned with the binned photo-z head; semi-supervised SSL (default settings): "
                 "pretrained again with the budget's labels visible, then frozen. Supervised CNN: the same "
                 "architecture and augmentations trained from scratch on the labels only. Raw-pixel PCA: PCA "
                 "of the arcsinh-stretched pixels with the same linear models. Photometry / morphology + GB "
                 "(default settings): sklearn_ssl.GalaxyFeatures (photutils Kron magnitudes, colours, size, "
                 "concentration, ellipticity; statmorph C, A, S, Gini, M20) with histogram gradient boosting; "
                 "constant: the majority class or the median redshift."))

    n_max = int(table.n_labels.max())
    z_test = catalog["redshift"].to_numpy()[test]
    fig = _plot_photoz(z_test, preds, n_max)
    figs.append((_save(fig, fig_dir / "photoz.png"), "Photometric redshifts",
                 f"z_phot against z_spec on the test set for each method trained with {n_max} labels. "
                 "dz = (z_phot - z_spec)/(1 + z_spec); sigma_MAD = 1.4826 median|dz - median(dz)|; "
                 "bias = mean(dz); outliers have |dz| > 0.05." + _levelling_off_note(z_test, preds, cfg)))
    return figs


def _levelling_off_note(z_true, preds, cfg) -> str:
    """A caption sentence for methods whose predictions level off at high redshift, and why.

    Flagged: the median z_phot of the 10% of test galaxies with the highest z_spec falls short
    of their median z_spec by more than 0.03.
    """
    top = z_true >= np.quantile(z_true, 0.9)
    z_med = float(np.median(z_true[top]))
    short = {m: float(np.median(np.asarray(zp)[top])) for m, zp in preds.items()
             if z_med - float(np.median(np.asarray(zp)[top])) > 0.03}
    if not short:
        return ""
    names = ", ".join(f"{m} ({v:.3f})" for m, v in short.items())
    text = (f" Predictions level off at high redshift: for the 10% of test galaxies with the highest z_spec "
            f"(above {np.quantile(z_true, 0.9):.2f}, median {z_med:.3f}) the median z_phot is only {names}.")
    if any(m in short for m in ("supervised CNN", "SSL fine-tuned")):
        text += (f" The CNNs here train for {cfg['finetune_steps']} optimiser steps, which is too few for the "
                 "binned photo-z head: it still pulls the rare high-redshift galaxies toward the bulk of the "
                 "training set. It is under-training, not the head's range (its bins reach z = 0.4) nor overfitting: "
                 "in a check with the default settings (one seed, on a shared 2-core machine), the supervised CNN's "
                 "predictions on its own training galaxies levelled off the same way; four times the steps (1,200) "
                 "lowered its test sigma_MAD from 0.022 to 0.016 and raised the level to about 0.18, and a learning "
                 "rate 3x higher at the same 300 steps gave 0.017. The demo keeps 300 steps to stay short.")
    return text


def _summary(table) -> pd.DataFrame:
    n_max = table.n_labels.max()
    wide = table[table.n_labels == n_max].pivot_table(index="estimator", columns=["task", "metric"],
                                                        values="score", sort=False)
    cols = [("morphology", "accuracy"), ("redshift", "sigma_mad"), ("redshift", "outlier_fraction"),
            ("redshift", "bias")]
    wide = wide.reindex(columns=[c for c in cols if c in wide.columns])
    wide.columns = ["morphology accuracy", "photo-z sigma_MAD", "photo-z outlier fraction", "photo-z bias"][
        :len(wide.columns)]
    order = [m for m in _METHOD_STYLE if m in wide.index]
    return wide.reindex(order).reset_index().rename(columns={"estimator": f"method ({n_max} labels)"})


def _findings(table, min_repeats=None) -> list[str]:
    """Per task and budget: each SSL method against the best catalogue baseline and the supervised CNN.

    Sentences follow :func:`sklearn_ssl.evaluation.paired_comparison`: a method "beats" or
    "is behind" another only where the paired difference exceeds two standard errors with at
    least 5 repeats; otherwise "not distinguishable" or "too few to compare".
    """
    from ._comparison import MIN_REPEATS, budget_findings

    lines = []
    for task, metric, up, what in (("morphology", "accuracy", True, "Morphology accuracy"),
                                   ("redshift", "sigma_mad", False, "Photo-z sigma_MAD")):
        sub = table[table.task == task]
        for method in ("SSL frozen", "SSL fine-tuned", "semi-supervised SSL", *_OTHER_FROZEN):
            rivals_of = [(_CATALOGUE_METHODS, "the best catalogue baseline"), (("supervised CNN",), "the supervised CNN")]
            if method in _OTHER_FROZEN:
                rivals_of.append((("SSL frozen",), "SimCLR (SSL frozen)"))
            for rivals, rival in rivals_of:
                found = budget_findings(sub, metric, method, rivals, higher_is_better=up,
                                        min_repeats=MIN_REPEATS if min_repeats is None else min_repeats)
                if found:
                    lines.append(f"**{what}**, {method} vs {rival}: " + " ".join(found))
    return lines


def _fmt_table(frame):
    """Four decimals; a blank where there is no number (as in the report), never ``nan``."""
    return frame.map(lambda v: ("" if np.isnan(v) else f"{v:.4f}") if isinstance(v, float) else v)


def _summary_text(summary, cfg, timings, out) -> str:
    lines = [f"\nsklearn-ssl demo: {cfg['n_samples']} synthetic galaxies, {cfg['epochs']} pretraining epochs, "
             f"{timings['total']:.0f} s on {cfg['device']}",
             _fmt_table(summary).to_string(index=False),
             "(accuracy: higher is better; sigma_MAD, outlier fraction, |bias|: lower is better)",
             f"report: {Path(out) / 'report.html'} (also report.md); "
             f"try: sklearn-ssl evaluate --embeddings {Path(out) / 'embeddings.csv'} "
             f"--catalog {Path(out) / 'catalog.csv'} --target redshift"]
    return "\n".join(lines)


def _beyond_simclr_section(table, cfg, rare, found) -> list:
    """Report lines of the BYOL / SimSiam / CLIP rows, the retrieval and the rare-object search."""
    present = [m for m in _OTHER_FROZEN if m in set(table.estimator)]
    if not present and rare is None:
        return []
    md = ["## Beyond SimCLR: BYOL, SimSiam, image-spectrum alignment, rare objects", ""]
    if present:
        md += [f"{', '.join(present)}: the same encoder, augmentations, epochs and batch size as SimCLR, pretrained "
               "on the same unlabelled images (BYOL: predictor and momentum target; SimSiam: predictor and "
               "stop-gradient; CLIP: sklearn_ssl.CrossModalEmbedder aligning each image with its spectrum, "
               "symmetric InfoNCE with a learned temperature, spectra of the training galaxies only, so that no test "
               "redshift reaches the embedding), then frozen and probed like SimCLR (logistic regression for "
               "morphology, ridge regression for redshift). Their rows are in the tables above; the findings "
               "compare each with SimCLR under the same paired rule.", ""]
    if found is not None:
        md += [f"**Image-to-spectrum retrieval** among the {found['n']} galaxies whose spectra were held out of "
               f"pretraining: the own spectrum ranks first for {found['top1']:.1%} of the images (chance "
               f"{found['chance_top1']:.1%}) and within the top five for {found['top5']:.1%} (chance "
               f"{found['chance_top5']:.1%}).", ""]
    if rare is not None:
        n_rare = int(round(cfg["rare_fraction"] * cfg["n_samples"]))
        md += [f"**Rare-object search.** {cfg['rare_fraction']:.0%} of the galaxies (about {n_rare}) are strong lenses "
               "(an arc of a lensed blue source around a smooth galaxy). No label is used: every galaxy is ranked by "
               "sklearn_ssl.SimilaritySearch.score_samples (minus the mean cosine distance to its 10 nearest "
               "neighbours) in each embedding and in the arcsinh-stretched pixels; the table gives the share of "
               f"lenses among the most abnormal galaxies (base rate {cfg['rare_fraction']:.0%}) and the ROC AUC of "
               "the score (0.5: no better than chance). One run, no repeats: indicative only.", "", rare, ""]
    return md


def _cross_survey_caption(crossed) -> str:
    target = crossed["settings"].get("target", "morphology")
    what = "redshift tertiles (three classes of the spectroscopic redshift)" if target == "redshift" else \
        "the four morphology classes"
    return (f"Labels from survey A only; test images from A (left) and from B (right), the same held-out galaxies "
            f"observed in worse conditions. Task: {what}. Mean and standard deviation over the label subsets. "
            "Frozen SSL: SimCLR pretrained on the unlabelled images of both surveys with augmentations spanning "
            "their differences (PSF blur, noise, reddening); supervised CNN: the same architecture from scratch, "
            "with and without those augmentations, for the same number of optimiser steps.")


def _cross_survey_section(crossed) -> list:
    """Report lines of the cross-survey study: its summary table and its findings."""
    if crossed is None:
        return []
    from ._comparison import format_mean_se

    summ = crossed["summary"]
    table = pd.DataFrame({
        "method": summ["estimator"], "labels": summ["n_labels"],
        "A-test": [format_mean_se(m, s, 3) for m, s in zip(summ["mean_A"], summ["se_A"])],
        "B-test": [format_mean_se(m, s, 3) for m, s in zip(summ["mean_B"], summ["se_B"])],
        "drop A - B": [format_mean_se(m, s, 3) for m, s in zip(summ["drop"], summ["se_drop"])],
    })
    kw = crossed["settings"]

    def conditions(c):
        ebv = c["ebv"]
        ebv = f"{ebv[0]}-{ebv[1]}" if isinstance(ebv, (tuple, list)) else f"{ebv}"
        return f"seeing {c['seeing']}\", sky noise x{c['sky_noise_scale']}, E(B-V) {ebv}"

    text = (f"Survey A: {conditions(crossed['conditions']['A'])}; survey B: {conditions(crossed['conditions']['B'])}. "
            "Labels come from A only; every method is "
            f"scored on A's and B's images of the same held-out galaxies ({kw.get('metric', 'accuracy')}), and its "
            f"drop A - B is the paired difference. {kw.get('n_repeats', 5)} label subsets per budget; findings by the "
            "paired two-standard-error rule.")
    if crossed.get("quick"):
        text += (" These are the quick settings: short pretraining and training, so the networks have barely "
                 "learned; the default demo and docs/cross_survey.rst run the measured configuration.")
    return (["## Cross-survey study: labels from one survey, images from another", "", text, "", table, "",
             "Findings (computed from the table):", ""] + [f"- {f}" for f in crossed["findings"]] + [""])


def _write_report(folder, cfg, table, summary, figures, timings, out, *, rare=None, found=None, crossed=None):
    from . import __version__

    from ._comparison import format_mean_se

    stats = table.groupby(["task", "metric", "estimator", "n_labels"], sort=False).score.agg(["mean", "std", "count"])
    stats["cell"] = [format_mean_se(m, s / np.sqrt(c), 4) for m, s, c in zip(stats["mean"], stats["std"], stats["count"])]
    curve = stats["cell"].unstack("n_labels").reset_index().rename(columns={"estimator": "method"})
    curve.columns = [str(c) if not isinstance(c, (int, np.integer)) else f"n={c}" for c in curve.columns]
    findings = _findings(table)
    setup = (f"{cfg['n_samples']} simulated galaxies (SDSS-like ugriz, {cfg['image_size']}x{cfg['image_size']} px), "
             f"{int(np.ceil(cfg['n_samples'] * cfg['test_fraction']))} held out for testing. Encoder: SmallCNN "
             f"(width {cfg['width']}), SimCLR, {cfg['epochs']} epochs, batch {cfg['batch_size']}, on {cfg['device']}. "
             f"Label budgets: {', '.join(map(str, sorted(table.n_labels.unique())))}; "
             f"{int(table.repeat.nunique())} random label subset(s) per budget (seed {cfg['random_state']}), the same "
             f"for every method within a repeat; tables give the mean ± standard error over them. A finding says "
             f"that one method beats another only where their paired difference exceeds two standard errors "
             f"with at least 5 repeats. "
             f"The supervised and fine-tuned CNNs train for at least {cfg['finetune_steps']} optimiser steps "
             f"at every budget{'' if cfg['finetune_steps'] >= 300 else ', a short budget that favours the pretrained embeddings (the default demo uses 300)'}."
             + ("" if cfg["finetune_steps"] >= 1000 else
                " On this survey that is too few for a CNN trained from scratch to fit several hundred labels "
                "(training loss about 0.74 after 600 steps at 500 labels; 1,000 steps reach 0.72-0.78 accuracy "
                "there, docs/synthetic_survey.rst): read the supervised CNN's rows at the larger budgets as a "
                "lower bound, and a finding that SSL beats it there as not established."))
    md = ["# sklearn-ssl demo report", "",
          f"Contrastive self-supervised pretraining (SimCLR, as in Hayat et al. 2021) on a synthetic galaxy survey, "
          f"compared with a supervised CNN, a raw-pixel baseline and the catalogue features an "
          f"astronomer would use (photometry and morphology + gradient boosting) at several label budgets. "
          f"sklearn-ssl {__version__}; {timings['total']:.0f} s in all.", "",
          "## Setup", "", setup, "",
          "## Summary at the largest label budget", "", summary, "",
          "Accuracy: higher is better; sigma_MAD, outlier fraction and |bias|: lower is better.", "",
          "## Findings (computed from the table below)", ""] + [f"- {f}" for f in findings] + [
          "", "## Full label-efficiency table", "", curve, ""] + _beyond_simclr_section(table, cfg, rare, found) \
        + _cross_survey_section(crossed)
    for name, title, caption in figures:
        md += [f"## {title}", "", f"![{title}](figures/{name})", "", caption, ""]
    md += ["## Reproduce", "", "```bash",
           f"sklearn-ssl demo{' --quick' if cfg['quick'] else ''} --n-samples {cfg['n_samples']} "
           f"--epochs {cfg['epochs']} --seed {cfg['random_state']} --out {out}",
           f"sklearn-ssl evaluate --embeddings {out}/embeddings.csv --catalog {out}/catalog.csv --target morphology",
           "```", "",
           "Files: `label_efficiency.csv` (every number above), `summary.csv`, `catalog.csv` (the simulated "
           "catalogue), `embeddings.csv` (SSL embeddings with ids), `model.joblib` (the pretrained embedder, "
           "for `sklearn-ssl embed`), `settings.json` (settings, timings, retrieval rates)"
           + (", `rare_objects.csv` (the rare-object search)" if rare is not None else "")
           + (", `cross_survey.csv` (the cross-survey study)" if crossed is not None else "") + ".", ""]
    # tables stay DataFrames until here: Markdown for report.md, HTML rows and cells for report.html
    (folder / "report.md").write_text("\n".join(markdown_table(x) if isinstance(x, pd.DataFrame) else x
                                                for x in md))
    (folder / "report.html").write_text(_markdown_to_html(md, "sklearn-ssl demo report"))


def _html_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """``frame`` as an HTML table: one ``<th>`` per column, one ``<tr>`` of ``<td>`` per row."""
    import html

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _markdown_to_html(lines, title) -> str:
    """The tiny Markdown subset written by :func:`_write_report`, as self-contained HTML.

    ``lines`` holds text lines and DataFrames; a DataFrame becomes an HTML table
    (:func:`_html_table`), never a Markdown table to re-parse.
    """
    import html
    import re

    lines = [part for x in lines for part in ([x] if isinstance(x, pd.DataFrame) else str(x).split("\n"))]

    def inline(text):
        text = html.escape(text, quote=False)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", text)

    body, i = [], 0
    while i < len(lines):
        line = lines[i]
        if isinstance(line, pd.DataFrame):
            body.append(_html_table(line))
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
            continue
        m = re.match(r"!\[(.*)\]\((.*)\)", line)
        if line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<ul><li>{inline(line[2:])}</li></ul>")
        elif m:
            body.append(f'<p><img src="{html.escape(m.group(2))}" alt="{html.escape(m.group(1))}"></p>')
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
        i += 1
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;"
             "padding:.25em .6em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}"
             "code{background:#f3f3f3;padding:0 .2em}ul{margin:.2em 0}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
