"""Anomaly ranking with feedback on the demo survey's strong lenses (issue 29, item 3).

For each seed: simulates the demo survey (:data:`sklearn_ssl.demo.DEMO_SETTINGS` ``["full"]``: 1,500
galaxies, 32x32 px, ugriz, 2 % strong lenses), pretrains the demo's SimCLR embedder on all
images without labels, ranks every galaxy by :meth:`SimilaritySearch.score_samples
<sklearn_ssl.SimilaritySearch.score_samples>` (10 neighbours, lower = more abnormal), then
gives 20 labels of feedback, a lens marked "interesting" and anything else "boring", read
from the catalogue's ``strong_lens`` column as a person would judge the images:

- ``top 20 at once``: the 20 most abnormal galaxies are labelled, then
  :func:`sklearn_ssl.discovery.rerank` re-ranks the survey once;
- ``4 rounds of 5``: the 5 first galaxies of the current ranking not yet labelled are
  labelled, the survey re-ranked, four times (Astronomaly's loop).

Precision among the top 1 % (15 galaxies) is counted over the galaxies **not labelled**
(those already inspected are out of both rankings), for the ranking before feedback and
after; ``before (all)`` is the usual precision at the top 1 % of the whole survey.

    nice -n 10 python benchmarks/anomaly_feedback.py --seeds 0,1,2,3,4 --out benchmarks/results/anomaly_feedback
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import torch

from sklearn_ssl import ContrastiveEmbedder, SimilaritySearch, make_galaxy_survey
from sklearn_ssl.demo import DEMO_SETTINGS
from sklearn_ssl.demo._run import _small_cnn
from sklearn_ssl.discovery import rerank
from sklearn_ssl.evaluation import paired_comparison


def precision_unlabelled(scores, is_lens, labelled, k):
    """Share of lenses among the ``k`` lowest ``scores`` of the galaxies not in ``labelled``."""
    order = np.argsort(scores, kind="stable")
    order = order[~np.isin(order, labelled)]
    return float(is_lens[order[:k]].mean())


def feedback_runs(Z, is_lens, n_labels=20, rounds=4, top=0.01, n_neighbors=10):
    """Precision before and after feedback, for both protocols (see the module)."""
    scores = SimilaritySearch(n_neighbors=n_neighbors).fit(Z).score_samples()
    k = max(1, int(round(top * len(scores))))
    out = {"precision before (all)": float(is_lens[np.argsort(scores, kind="stable")[:k]].mean()), "k": k}
    # one batch: the n_labels most abnormal
    labelled = np.argsort(scores, kind="stable")[:n_labels]
    new = rerank(scores, Z, interesting=labelled[is_lens[labelled]], boring=labelled[~is_lens[labelled]])
    out["top 20 at once: lenses among the 20 labelled"] = int(is_lens[labelled].sum())
    out["top 20 at once: before"] = precision_unlabelled(scores, is_lens, labelled, k)
    out["top 20 at once: after"] = precision_unlabelled(new, is_lens, labelled, k)
    # rounds: label the first unlabelled galaxies of the current ranking, re-rank, repeat
    labelled, current = np.empty(0, dtype=int), scores
    for _ in range(rounds):
        order = np.argsort(current, kind="stable")
        labelled = np.concatenate([labelled, order[~np.isin(order, labelled)][:n_labels // rounds]])
        current = rerank(scores, Z, interesting=labelled[is_lens[labelled]], boring=labelled[~is_lens[labelled]])
    out[f"{rounds} rounds: lenses among the 20 labelled"] = int(is_lens[labelled].sum())
    out[f"{rounds} rounds: before"] = precision_unlabelled(scores, is_lens, labelled, k)
    out[f"{rounds} rounds: after"] = precision_unlabelled(current, is_lens, labelled, k)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--n-samples", type=int, default=None, help="default: the demo's")
    p.add_argument("--epochs", type=int, default=None, help="default: the demo's")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/anomaly_feedback")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = dict(DEMO_SETTINGS["full"])  # the survey of its stored runs: 1,500 galaxies (the former default)
    n, epochs = args.n_samples or cfg["n_samples"], args.epochs or cfg["epochs"]
    os.makedirs(args.out, exist_ok=True)
    rows, timings = [], {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        t0 = time.perf_counter()
        X, cat = make_galaxy_survey(n, image_size=cfg["image_size"], bands="ugriz", rare_fraction=cfg["rare_fraction"],
                                    random_state=seed)
        emb = ContrastiveEmbedder(encoder=functools.partial(_small_cnn, width=cfg["width"]), method="simclr",
                                  max_epochs=epochs, batch_size=cfg["batch_size"], lr=2e-3, device="cpu",
                                  random_state=seed).fit(X)
        Z = emb.transform(X)
        timings[f"seed {seed} pretrain_s"] = time.perf_counter() - t0
        is_lens = cat["strong_lens"].to_numpy()
        row = {"seed": seed, "n_galaxies": n, "n_lenses": int(is_lens.sum()), **feedback_runs(Z, is_lens)}
        raw = np.arcsinh(X.reshape(len(X), -1) / 0.1)
        row["raw pixels: precision before (all)"] = feedback_runs(raw, is_lens)["precision before (all)"]
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(args.out, "rows.csv"), index=False)
    comps = {name: paired_comparison(table[f"{name}: after"], table[f"{name}: before"])
             for name in ("top 20 at once", "4 rounds")}
    try:
        commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    meta = {"command": "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:])),
            "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, no GPU",
            "torch_threads": torch.get_num_threads(), "n_samples": n, "epochs": epochs, "timings": timings,
            "comparisons (after vs before, paired over seeds)": comps,
            "mean": table.drop(columns=["seed"]).mean().to_dict()}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=float)
    print(table.drop(columns=["seed"]).mean().to_string())
    print(json.dumps(comps, indent=1, default=float))


if __name__ == "__main__":
    main()
