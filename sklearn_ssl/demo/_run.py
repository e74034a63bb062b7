"""The demo behind ``sklearn-ssl demo``: the whole method on the built-in synthetic survey.

:func:`run_demo` simulates a survey, pretrains SimCLR (and, by default, BYOL, SimSiam and an
image-spectrum model), runs the label-efficiency study, the rare-object search and the
cross-survey study, and writes a report folder. Its figures are drawn by
``sklearn_ssl.demo._figures``, its prose and tables by ``sklearn_ssl.demo._report``.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._figures import _demo_figures, _save
from ._report import (
    DEMO_SCOPE, _BANDS, _OTHER_FROZEN, _cross_survey_caption, _method_of, _summary, _summary_text, _write_report,
)
from ._selection import selection_rows
from ..utils import epoch_bar, Steps

__all__ = ["DEMO_SCOPE", "DEMO_SETTINGS", "DEMO_WALL_TIME_S", "run_demo"]

#: Settings of ``sklearn-ssl demo`` (``"default"``), ``--quick`` and ``--full``.
#: ``budgets`` are numbers of labelled galaxies (with ``all_labels``, the whole training split
#: is added); ``epochs`` pretraining epochs. The study is
#: :func:`sklearn_ssl.evaluation.downstream_study`: supervised and fine-tuned CNNs train for at
#: least ``finetune_steps`` optimiser steps at every budget, so small budgets are not
#: under-trained; ``semi_supervised`` adds its rows (one pretraining per budget, repeat and
#: task); ``catalogue_baselines`` the rows of :class:`~sklearn_ssl.GalaxyFeatures` + gradient
#: boosting and the constant predictor; ``n_repeats`` label subsets are drawn per budget
#: (findings need at least 5); ``other_methods`` are pretrained with the same settings and
#: probed frozen next to SimCLR (``"byol"``, ``"simsiam"``, ``"crossmodal"``: images aligned
#: with the training galaxies' spectra); ``rare_fraction`` of the galaxies are strong lenses,
#: searched for without labels; ``cross_survey`` holds the arguments of
#: :func:`sklearn_ssl.evaluation.cross_survey_study` (labels from survey A, tests on A and on
#: B, observed in worse conditions; ``"quick"``: its quick settings; None: skipped);
#: ``n_jobs`` processes run the study's fits and measure the catalogue features (-1: every core);
#: ``tune``: every row is a grid search over three settings inside each budget's labels
#: (``downstream_study(tune=True)``, about 10 times the networks' training time: off in every mode,
#: on with ``run_demo(tune=True)``, ``sklearn-ssl demo --tune``);
#: ``test_bootstrap``: resamples of the test galaxies for each score's ``se_test``.
DEMO_SETTINGS = {
    "quick": dict(n_samples=400, image_size=24, width=8, epochs=6, batch_size=100, test_fraction=0.3,
                  budgets=(30, 100), all_labels=False, finetune_epochs=5, finetune_steps=60, photoz_bins=60,
                  semi_supervised=False, catalogue_baselines=False, n_repeats=1,
                  other_methods=("byol", "simsiam", "crossmodal"), rare_fraction=0.02, cross_survey="quick",
                  n_jobs=-1, tune=False, test_bootstrap=200),
    "default": dict(n_samples=600, image_size=32, width=8, epochs=10, batch_size=128, test_fraction=0.3,
                    budgets=(40, 160), all_labels=False, finetune_epochs=5, finetune_steps=100, photoz_bins=60,
                    semi_supervised=False, catalogue_baselines=True, n_repeats=5,
                    other_methods=("byol", "simsiam", "crossmodal"), rare_fraction=0.02, cross_survey="quick",
                    n_jobs=-1, tune=False, test_bootstrap=200),
    "full": dict(n_samples=1500, image_size=32, width=8, epochs=12, batch_size=128, test_fraction=0.3,
                 budgets=(40, 120, 350), all_labels=True, finetune_epochs=10, finetune_steps=300, photoz_bins=60,
                 semi_supervised=False, catalogue_baselines=True, n_repeats=5,
                 other_methods=("byol", "simsiam", "crossmodal"), rare_fraction=0.02,
                 cross_survey=dict(target="redshift", catalogue_baselines=False), n_jobs=-1, tune=False,
                 test_bootstrap=200),
}

#: Wall time in seconds of ``sklearn-ssl demo`` in each mode on an idle 2-core CPU without
#: GPU, measured with ``/usr/bin/time`` (README, docs/benchmarks.rst give the date and machine).
#: The demo prints it before it starts.
DEMO_WALL_TIME_S = {"quick": 40, "default": 158, "full": 745}

def _flag(mode: str) -> str:
    return "" if mode == "default" else f" --{mode}"


def _expected_time(mode, changed) -> str:
    """The line printed before the demo: how long it takes, and the other modes."""
    def fmt(seconds):
        return f"about {seconds} s" if seconds < 90 else f"about {round(seconds / 60)} minutes"

    text = (f"sklearn-ssl demo{_flag(mode)}: {fmt(DEMO_WALL_TIME_S[mode])} on an idle 2-core CPU "
            "(faster with more cores or a GPU)")
    if changed:
        text += "; --n-samples and --max-epochs change this roughly in proportion"
    others = [f"{what} in {fmt(DEMO_WALL_TIME_S[m])}: sklearn-ssl demo{_flag(m)}"
              for m, what in (("quick", "a first look"), ("full", "the full study")) if m != mode]
    return text + ". " + "; ".join(others)[0].upper() + "; ".join(others)[1:] + "."


def _label_efficiency_runs(cfg, images, catalog, emb, n_test, progress, others=None):
    """Morphology and redshift, every method, every budget: :func:`~sklearn_ssl.evaluation.downstream_study`.

    Returns the long table (task, estimator, n_labels, repeat, metric, score), the test
    predictions of each redshift method at the largest budget and the test indices.
    """
    from ..evaluation import downstream_study

    n_train = len(images) - n_test
    budgets = sorted({b for b in cfg["budgets"] if b < n_train} | ({n_train} if cfg["all_labels"] else set()))
    res = downstream_study(images, catalog, emb, n_labels=budgets, n_repeats=cfg.get("n_repeats", 1),
                           test_size=cfg["test_fraction"], finetune_epochs=cfg["finetune_epochs"],
                           finetune_steps=cfg["finetune_steps"], photoz_bins=cfg["photoz_bins"],
                           semi_supervised=cfg["semi_supervised"],
                           catalogue_baselines=cfg.get("catalogue_baselines", False), other_embedders=others,
                           bands=_BANDS, n_jobs=cfg.get("n_jobs"), memory=cfg.get("cache"),
                           tune=cfg.get("tune", False), test_bootstrap=cfg.get("test_bootstrap", 0),
                           random_state=cfg["random_state"], keep_predictions=True, progress=progress)
    frames = [res[task].assign(task=task) for task in ("morphology", "redshift")]
    for frame in frames:
        frame.attrs = {}  # arrays in attrs break pd.concat
    table = pd.concat(frames, ignore_index=True)
    table["estimator"] = table["estimator"].map(_method_of)
    table = table[["task", "estimator", "n_labels", "repeat", "metric", "score", "fit_time",
                   *[c for c in ("se_test", "params", "n_candidates") if c in table]]]
    preds = {_method_of(name): pred for (name, n, r), pred in res["redshift"].attrs["predictions"].items()
             if n == budgets[-1] and r == 0 and _method_of(name) not in _OTHER_FROZEN}
    return table, preds, res["redshift"].attrs["test_index"]


def _demo_explorer(folder, Z, images, catalog, random_state):
    """The explorer of the demo survey in ``folder`` (PCA map: seconds): what it shows, from its
    ``explorer.json``; None where bokeh is not installed."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    from ..discovery import explore

    explore(Z, images, ids=catalog["id"].to_numpy(), catalogue=catalog, projection="pca", out=folder,
            title="sklearn-ssl demo survey: SimCLR embeddings", random_state=random_state)
    return json.loads((folder / "explorer.json").read_text())


def _cache_folder(cache):
    """The catalogue-feature cache of :func:`run_demo` (a folder name or None)."""
    if cache != "auto":
        return None if cache is None else str(cache)
    import os

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "sklearn-ssl")


def _small_cnn(in_channels, width):
    from ..nn.encoders import SmallCNN

    return SmallCNN(in_channels=in_channels, width=width)


def run_demo(out="sklearn-ssl-report", *, mode="default", n_samples=None, epochs=None, device="auto",
             cache="auto", tune=None, random_state=0, progress=True, verbose=True):
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
      t-test of :func:`sklearn_ssl.evaluation.paired_comparison` (Holm-corrected over the report)
      (semi-supervised rows: ``DEMO_SETTINGS[mode]["semi_supervised"] = True``; one
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
    mode : {"default", "quick", "full"}, default="default"
        The settings (:data:`DEMO_SETTINGS`): ``"quick"`` a first look in under a minute on 2
        cores; ``"default"`` the method with tested findings at two label budgets in about
        5 minutes; ``"full"`` the whole multi-budget study (:data:`DEMO_WALL_TIME_S`). The
        report says what each can and cannot conclude (:data:`DEMO_SCOPE`).
    n_samples, epochs : int or None
        Override the number of galaxies and of pretraining epochs.
    tune : bool or None, default=None
        Tune every row of the study by a grid search over three settings inside each
        budget's labels (:func:`~sklearn_ssl.evaluation.downstream_study`'s ``tune``; the
        networks then train about 10 times as long); None keeps the mode's setting (off).
    device : str, default="auto"
        Torch device for every network.
    cache : str, path, None or "auto", default="auto"
        Folder caching the catalogue features (joblib), so that a second run of the same
        survey skips measuring them; ``"auto"``: ``$XDG_CACHE_HOME/sklearn-ssl`` (else
        ``~/.cache/sklearn-ssl``); None: no cache.
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
    from ._methods import OTHER_METHODS, fit_other_embedders, held_out_galaxies, rare_object_search, retrieval
    from ..utils import atomic_dir
    from ..io import embedding_frame
    from ..datasets import make_galaxy_survey
    from ..evaluation import asinh_flatten
    from ..engine._estimator import _resolve_device
    from ..estimators import ContrastiveEmbedder

    if mode not in DEMO_SETTINGS:
        raise ValueError(f"mode must be one of {sorted(DEMO_SETTINGS)}, got {mode!r}.")
    quick = mode == "quick"
    cfg = dict(DEMO_SETTINGS[mode])
    if n_samples is not None:
        cfg["n_samples"] = int(n_samples)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    if tune is not None:
        cfg["tune"] = bool(tune)
    if cfg["n_samples"] < 40:
        raise ValueError(f"n_samples={cfg['n_samples']} is too small for a demo; use at least 40.")
    device = _resolve_device(str(device))
    cfg.update(device=device, random_state=int(random_state), quick=quick, mode=mode,
               cache=_cache_folder(cache) if cfg["catalogue_baselines"] else None)
    out = Path(out)
    timings = {}
    others_wanted = tuple(cfg.get("other_methods", ()))
    rare_fraction = float(cfg.get("rare_fraction", 0.0))
    cross = cfg.get("cross_survey")
    steps = Steps(6 + bool(others_wanted) + (bool(others_wanted) or rare_fraction > 0) + (cross is not None),
                   progress)
    if progress:
        print(_expected_time(mode, n_samples is not None or epochs is not None or bool(tune)), file=sys.stderr,
              flush=True)
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
            callbacks=[epoch_bar("pretraining", progress)],
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
                                         callbacks=lambda desc: [epoch_bar(desc, progress)])
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
                          "raw arcsinh pixels": asinh_flatten(images)}
                rare = rare_object_search(spaces, catalog["strong_lens"].to_numpy())
                rare.to_csv(tmp / "rare_objects.csv", index=False)
            if "CLIP" in others:
                found = retrieval(others["CLIP"], images[held_out], spectra[held_out])
            timings["beyond_simclr"] = time.perf_counter() - t
            steps.done()

        steps.start("choosing which galaxies to label (TypiClust, ProbCover, CoreSet against random labels)")
        t = time.perf_counter()
        chosen = selection_rows(Z, catalog["morphology_class"].to_numpy(), cfg["budgets"],
                                test_fraction=cfg["test_fraction"], n_repeats=cfg.get("n_repeats", 1),
                                random_state=random_state)
        if chosen is not None:
            chosen.to_csv(tmp / "label_selection.csv", index=False)
        timings["label_selection"] = time.perf_counter() - t
        steps.done()

        crossed = None
        if cross is not None:
            from ..evaluation import CROSS_SURVEY_QUICK, cross_survey_study

            kwargs = dict(CROSS_SURVEY_QUICK) if cross == "quick" else dict(cross)
            steps.start(f"cross-survey study (sklearn_ssl.evaluation.cross_survey_study): labels from survey A, "
                        f"tests on A and on B (worse seeing, 3x the sky noise, more extinction), "
                        f"{kwargs.get('n_repeats', 5)} repeats")
            t = time.perf_counter()
            crossed = cross_survey_study(**{"n_jobs": cfg.get("n_jobs"), **kwargs}, random_state=random_state,
                                         progress=progress)
            crossed["settings"], crossed["quick"] = kwargs, cross == "quick"
            crossed["results"].to_csv(tmp / "cross_survey.csv", index=False)
            timings["cross_survey"] = time.perf_counter() - t
            steps.done()

        steps.start("figures")
        t = time.perf_counter()
        figures = _demo_figures(fig_dir, images, catalog, emb, Z, table, preds, test, cfg)
        if crossed is not None:
            from ..plotting import plot_cross_survey

            fig = plot_cross_survey(crossed["results"], titles=("A-test (labels from A)", "B-test (labels from A)"),
                                    chance=1 / 3 if crossed["settings"].get("target") == "redshift" else None)
            figures.append((_save(fig, fig_dir / "cross_survey.png"), "Cross-survey study",
                            _cross_survey_caption(crossed)))
        timings["figures"] = time.perf_counter() - t
        steps.done()

        steps.start(f"writing the report and the explorer to {out}")
        t = time.perf_counter()
        explorer = _demo_explorer(tmp / "explorer", Z, images, catalog, random_state)
        timings["explorer"] = time.perf_counter() - t
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
        _write_report(tmp, cfg, table, summary, figures, timings, out, rare=rare, found=found, crossed=crossed,
                      explorer=explorer, chosen=chosen)
        steps.done()
    if verbose:
        print(_summary_text(summary, cfg, timings, out))
    return {"label_efficiency": table, "summary": summary, "settings": cfg, "timings": timings, "out": out,
            "rare_objects": rare, "retrieval": found, "label_selection": chosen,
            "cross_survey": None if crossed is None else {k: crossed[k] for k in ("results", "summary", "findings")}}
