"""The demo report's words: the methods' names and styles, the summary table, the findings and the
prose of each section, written to ``report.md`` and ``report.html`` by :func:`_write_report`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import markdown_to_html, markdown_table
from ._selection import selection_section

#: The bands of the demo's survey.
_BANDS = "ugriz"

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


#: What a report of each mode can and cannot conclude (its "What this run can tell" section),
#: filled in from the run's settings by :func:`scope_text`.
DEMO_SCOPE = {
    "quick": "A first look: every step of the method runs end to end, but on one label subset per budget, "
             "so no comparison is tested (the paired t-test needs 5 repeats) and the numbers can move by "
             "several points between seeds. Networks train for a few epochs only. Nothing here supports a claim "
             "that one method beats another; run `sklearn-ssl demo` for that.",
    "default": "{n_repeats} label subsets at {n_budgets} budgets ({budgets} labels), so each comparison below is a "
               "paired t-test with Holm's correction over the report, on {n_test} test galaxies. {tuning}It cannot "
               "tell how "
               "the methods compare with the whole training split labelled, and its label ratios reach at most "
               "{ratio:g}x. The supervised and fine-tuned CNNs train for {steps} optimiser steps, too few for a CNN "
               "from scratch to fit {largest} labels on this survey: a finding that SSL beats the supervised CNN is "
               "therefore not established here. `sklearn-ssl demo --full` trains them longer, at more budgets up to "
               "the whole training split, on more galaxies.",
    "full": "{n_repeats} label subsets at {n_budgets} budgets up to the whole training split, with {steps} optimiser "
            "steps per CNN: the paired t-tests with Holm's correction below are this survey's full study. {tuning}{steps} "
            "steps are still too few for the supervised CNN to fit several hundred labels, so its rows at the larger "
            "budgets are a lower bound. It is one simulated survey, one pretraining and one test split: the "
            "repeats vary the labelled subset and the networks' seeds, not the pretraining.",
}


def scope_text(cfg: dict) -> str:
    """The "What this run can tell" paragraph of a run with settings ``cfg`` (its mode's :data:`DEMO_SCOPE`)."""
    mode = cfg.get("mode") or ("quick" if cfg.get("quick") else "default")
    n = int(cfg["n_samples"])
    n_test = int(np.ceil(n * cfg["test_fraction"]))
    budgets = sorted(b for b in cfg["budgets"] if b < n - n_test)
    return DEMO_SCOPE[mode].format(
        n_test=n_test, n_repeats=int(cfg.get("n_repeats", 1)), steps=cfg["finetune_steps"], largest=budgets[-1],
        n_budgets=len(budgets) + bool(cfg.get("all_labels")), budgets=" and ".join(map(str, budgets)),
        ratio=budgets[-1] / budgets[0], tuning=_tuning_text(cfg))


def _tuning_text(cfg: dict) -> str:
    """How the run chose each row's settings, and what its repeats vary (a sentence, or empty)."""
    if not cfg.get("tune"):
        return ("Every row keeps its default settings (no search; `sklearn-ssl demo --tune` chooses them inside each "
                "budget's labels, as the study protocol does). ")
    return ("Every row but the constant predictors chose one of three settings (learning rate, regularisation) "
            "by a grid search cross-validated inside each budget's own labels, so the test galaxies scored each "
            "model once; the repeats also vary the networks' seeds. ")


def _method_of(estimator: str) -> str:
    """The short method name of a study row (``"BYOL frozen + logistic"`` -> ``"BYOL frozen"``)."""
    return _METHOD_OF.get(estimator, estimator.rsplit(" + ", 1)[0])


#: Colour and marker of each method in every figure; also the order of the summary's rows.
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


def _findings(table, min_repeats=None, return_comparisons=False):
    """Per task and budget: each SSL method against the best catalogue baseline and the supervised CNN.

    Sentences follow :func:`sklearn_ssl.evaluation.paired_comparison`: a two-sided paired t-test
    over at least 5 repeats; all the comparisons of the report are corrected together with
    Holm's method (:func:`sklearn_ssl.evaluation.family_findings`), and a method "beats" or "is
    behind" another only where the Holm-adjusted p-value is below 0.05; otherwise "not
    distinguishable" or "too few to compare". With ``return_comparisons`` also their table.
    """
    from ..evaluation import MIN_REPEATS, budget_comparisons, comparison_table, family_findings

    groups = []
    for task, metric, up, what in (("morphology", "accuracy", True, "Morphology accuracy"),
                                   ("redshift", "sigma_mad", False, "Photo-z sigma_MAD")):
        sub = table[table.task == task]
        for method in ("SSL frozen", "SSL fine-tuned", "semi-supervised SSL", *_OTHER_FROZEN):
            rivals_of = [(_CATALOGUE_METHODS, "the best catalogue baseline"), (("supervised CNN",), "the supervised CNN")]
            if method in _OTHER_FROZEN:
                rivals_of.append((("SSL frozen",), "SimCLR (SSL frozen)"))
            for rivals, rival in rivals_of:
                groups.append((f"**{what}**, {method} vs {rival}: ",
                               budget_comparisons(sub, metric, method, rivals, higher_is_better=up,
                                                  min_repeats=MIN_REPEATS if min_repeats is None else min_repeats)))
    lines, comparisons = family_findings(groups)
    lines += _ratio_findings(table, MIN_REPEATS if min_repeats is None else min_repeats)
    return (lines, comparison_table(comparisons)) if return_comparisons else lines


def _ratio_findings(table, min_repeats) -> list[str]:
    """The label ratio of each SSL method against the supervised CNN and the best catalogue baseline
    (:func:`sklearn_ssl.evaluation.label_ratio`), with at least ``min_repeats`` repeats."""
    from ..evaluation import best_rival, label_ratio_findings

    lines = []
    for task, metric, up, what in (("morphology", "accuracy", True, "Morphology accuracy"),
                                   ("redshift", "sigma_mad", False, "Photo-z sigma_MAD")):
        sub = table[table.task == task]
        if sub.empty or sub["repeat"].nunique() < min_repeats:
            continue
        catalogue = best_rival(sub, metric, [m for m in _CATALOGUE_METHODS if m != "constant"], higher_is_better=up)
        rivals = [r for r in ("supervised CNN", catalogue) if r is not None]
        lines += label_ratio_findings(sub, metric, ("SSL frozen", "SSL fine-tuned", "semi-supervised SSL"), rivals,
                                      higher_is_better=up, heading=f"**{what}**, ")
    return lines


def _rivals_of(method: str) -> list:
    """The rivals an SSL row is compared with in the findings and the verdict."""
    rivals = [(_CATALOGUE_METHODS, "the best catalogue baseline"), (("supervised CNN",), "the supervised CNN")]
    if method in _OTHER_FROZEN:
        rivals.append((("SSL frozen",), "SimCLR (SSL frozen)"))
    return rivals


def _verdict(table) -> list[str]:
    """The report's two opening lines: where SSL wins, ties and loses (``sklearn_ssl.demo._verdict``)."""
    from ._verdict import comparison_records, verdict_lines

    ssl = ("SSL frozen", "SSL fine-tuned", "semi-supervised SSL", *_OTHER_FROZEN)
    return verdict_lines(comparison_records(table, ssl, _rivals_of))


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
             f"--catalogue {Path(out) / 'catalog.csv'} --target redshift"]
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
            "Frozen SSL: SimCLR pretrained on the unlabelled images of both surveys, with generic augmentations "
            "(generic aug.) or with augmentations spanning their known differences in PSF blur, noise and "
            "reddening (survey aug.); supervised CNN: the same architecture from scratch, normalised with the "
            "statistics of both surveys' images, with flips and rotations only, with each augmentation set, or "
            "adapted to B by re-estimating its batch-norm statistics on B's images (AdaBN), all for the same "
            "number of optimiser steps."
            + (" Dotted line: chance, 1/3 for three equal tertiles." if target == "redshift" else ""))


def _cross_survey_section(crossed) -> list:
    """Report lines of the cross-survey study: its summary table and its findings."""
    if crossed is None:
        return []
    from ..evaluation import format_mean_se

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


def _explorer_section(explorer) -> list:
    """Report lines pointing to the explorer of the demo survey (or saying how to get one)."""
    md = ["## Explore the survey", ""]
    if explorer is None:
        return md + ["The explorer (a page to look at the embedding: cutouts on hover, look-alikes on a click, "
                     "a lasso selection exported as CSV) needs bokeh: `pip install 'sklearn-ssl[explore]'`, then "
                     "run the demo again or `sklearn-ssl explore` on `embeddings.csv` (docs/explorer.rst).", ""]
    return md + [f"[Open the explorer](explorer/index.html) of the {explorer['n']:,} galaxies: the SimCLR embeddings "
                 "mapped to two dimensions by PCA, coloured by any catalogue column (try `strong_lens`). Hover a "
                 f"galaxy for its cutout; click it for its {explorer['n_neighbors']} look-alikes and its rarity rank; "
                 "draw a lasso around several and export their ids as CSV. It opens from disk, without a server or "
                 "an internet connection. For a UMAP map: `sklearn-ssl explore --embeddings embeddings.csv "
                 "--catalogue catalog.csv --out explorer-umap` (docs/explorer.rst).", ""]


def _write_report(folder, cfg, table, summary, figures, timings, out, *, rare=None, found=None, crossed=None,
                  explorer=None, chosen=None):
    from .. import __version__

    from ..evaluation import format_mean_se

    stats = table.groupby(["task", "metric", "estimator", "n_labels"], sort=False).score.agg(["mean", "std", "count"])
    stats["cell"] = [format_mean_se(m, s / np.sqrt(c), 4) for m, s, c in zip(stats["mean"], stats["std"], stats["count"])]
    curve = stats["cell"].unstack("n_labels").reset_index().rename(columns={"estimator": "method"})
    curve.columns = [str(c) if not isinstance(c, (int, np.integer)) else f"n={c}" for c in curve.columns]
    findings, comparisons = _findings(table, return_comparisons=True)
    comparisons.to_csv(Path(folder) / "comparisons.csv", index=False)
    setup = (f"{cfg['n_samples']} simulated galaxies (SDSS-like ugriz, {cfg['image_size']}x{cfg['image_size']} px), "
             f"{int(np.ceil(cfg['n_samples'] * cfg['test_fraction']))} held out for testing. Encoder: SmallCNN "
             f"(width {cfg['width']}), SimCLR, {cfg['epochs']} epochs, batch {cfg['batch_size']}, on {cfg['device']}. "
             f"Label budgets: {', '.join(map(str, sorted(table.n_labels.unique())))}; "
             f"{int(table.repeat.nunique())} random label subset(s) per budget (seed {cfg['random_state']}), the same "
             f"for every method within a repeat; tables give the mean ± standard error over them. A finding says "
             f"that one method beats another only where a two-sided paired t-test over at least 5 repeats gives "
             f"p < 0.05 after Holm's correction over all the findings of this report (`comparisons.csv`: "
             f"`p_value`, `p_adjusted`). "
             f"The supervised and fine-tuned CNNs train for at least {cfg['finetune_steps']} optimiser steps "
             f"at every budget{'' if cfg['finetune_steps'] >= 300 else ', a short budget that favours the pretrained embeddings (`--full` uses 300)'}."
             + ("" if cfg["finetune_steps"] >= 1000 else
                " On this survey that is too few for a CNN trained from scratch to fit several hundred labels "
                "(training loss about 0.74 after 600 steps at 500 labels; 1,000 steps reach 0.72-0.78 accuracy "
                "there, docs/synthetic_survey.rst): read the supervised CNN's rows at the larger budgets as a "
                "lower bound, and a finding that SSL beats it there as not established."))
    mode = cfg.get("mode", "quick" if cfg.get("quick") else "default")
    scope = scope_text(cfg)
    first, second = _verdict(table)
    md = ["# sklearn-ssl demo report", "", first, "", second, "",
          f"Contrastive self-supervised pretraining (SimCLR, as in Hayat et al. 2021) on a synthetic galaxy survey, "
          f"compared with a supervised CNN, a raw-pixel baseline and the catalogue features an "
          f"astronomer would use (photometry and morphology + gradient boosting) at several label budgets. "
          f"sklearn-ssl {__version__}; {timings['total']:.0f} s in all.", "",
          "## What this run can tell", "", scope, "",
          "## Setup", "", setup, "",
          "## Summary at the largest label budget", "", summary, "",
          "Accuracy: higher is better; sigma_MAD, outlier fraction and |bias|: lower is better.", "",
          "## Findings (computed from the table below)", ""] + [f"- {f}" for f in findings] + [
          "", "## Full label-efficiency table", "", curve, ""] + _beyond_simclr_section(table, cfg, rare, found) \
        + _cross_survey_section(crossed) + _explorer_section(explorer) + selection_section(chosen)
    for name, title, caption in figures:
        md += [f"## {title}", "", f"![{title}](figures/{name})", "", caption, ""]
    md += ["## Reproduce", "", "```bash",
           f"sklearn-ssl demo{'' if mode == 'default' else ' --' + mode} --n-samples {cfg['n_samples']} "
           f"--max-epochs {cfg['epochs']} --seed {cfg['random_state']} --out {out}",
           f"sklearn-ssl evaluate --embeddings {out}/embeddings.csv --catalogue {out}/catalog.csv --target morphology",
           "```", "",
           "Files: `label_efficiency.csv` (every number above), `summary.csv`, `comparisons.csv` (every finding's "
           "paired difference, t, `p_value` and Holm's `p_adjusted`), `catalog.csv` (the simulated "
           "catalogue), `embeddings.csv` (SSL embeddings with ids), `model.joblib` (the pretrained embedder, "
           "for `sklearn-ssl embed`), `settings.json` (settings, timings, retrieval rates)"
           + (", `rare_objects.csv` (the rare-object search)" if rare is not None else "")
           + (", `cross_survey.csv` (the cross-survey study)" if crossed is not None else "")
           + (", `explorer/` (the explorer: `index.html`, the cutouts in `thumbs/`, `map.csv`)" if explorer else "")
           + (", `label_selection.csv` (labels chosen by a strategy or at random)" if chosen is not None else "")
           + ".", ""]
    # tables stay DataFrames until here: Markdown for report.md, HTML rows and cells for report.html
    (folder / "report.md").write_text("\n".join(markdown_table(x) if isinstance(x, pd.DataFrame) else x
                                                for x in md))
    (folder / "report.html").write_text(markdown_to_html(md, "sklearn-ssl demo report"))
