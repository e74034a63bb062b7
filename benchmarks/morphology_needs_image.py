"""Does the synthetic survey's morphology need the image? Catalogue features against a CNN.

The measurement behind ``tests/test_features.py::test_survey_morphology_needs_the_image``,
over several seeds: 700 galaxies of ``make_galaxy_survey`` (ugriz, 32 px), 500 labels and
200 test galaxies (stratified); :class:`~sklearn_ssl.GalaxyFeatures` with gradient boosting
(defaults, ``min_samples_leaf=5``; and "tuned", its learning rate among 0.03 / 0.1 / 0.3 by
3-fold cross-validation on the 500 labels) against a supervised ``SmallCNN`` (width 16,
learning rate 3e-3, up to 200 epochs, early stopping on 20 % of its labels). Each seed is the
survey's, the split's and the networks'. Accuracies are also given on the red-sequence and
blue-cloud test galaxies (the catalogue's ``red_sequence``).

    python benchmarks/morphology_needs_image.py --seeds 0 1 2 --out benchmarks/results/morphology_needs_image

Writes ``rows.csv`` (one row per seed) and ``meta.json``; ``benchmarks/tables.py`` renders
the table of docs/synthetic_survey.rst from them. About 6 minutes per seed on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from tables import write_meta  # noqa: E402


def measure(seed: int) -> dict:
    """The accuracies of one seed (see the module docstring)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GridSearchCV, train_test_split

    from sklearn_ssl import GalaxyFeatures
    from sklearn_ssl.datasets import make_galaxy_survey
    from sklearn_ssl.estimators._finetune import FineTunedClassifier
    from sklearn_ssl.nn.encoders import SmallCNN

    t0 = time.perf_counter()
    X, cat = make_galaxy_survey(700, image_size=32, random_state=seed)
    y = cat["morphology_class"].to_numpy()
    red = cat["red_sequence"].to_numpy().astype(bool)
    train, test = train_test_split(np.arange(len(y)), test_size=200, stratify=y, random_state=seed)
    F = GalaxyFeatures(bands="ugriz").fit_transform(X)
    gb = HistGradientBoostingClassifier(min_samples_leaf=5, random_state=seed).fit(F[train], y[train])
    tuned = GridSearchCV(HistGradientBoostingClassifier(min_samples_leaf=5, random_state=seed),
                         {"learning_rate": [0.03, 0.1, 0.3]}, cv=3).fit(F[train], y[train])
    cnn = FineTunedClassifier(None, encoder=functools.partial(SmallCNN, width=16), lr=3e-3, max_epochs=200,
                              early_stopping=True, validation_fraction=0.2, n_iter_no_change=30,
                              batch_size=64, device="cpu", random_state=seed).fit(X[train], y[train])
    answers = {"gb": gb.predict(F[test]), "gb_tuned": tuned.predict(F[test]), "cnn": cnn.predict(X[test])}
    row = {"seed": seed, "n_test_red": int(red[test].sum()), "n_test_blue": int((~red[test]).sum())}
    for name, pred in answers.items():
        hit = pred == y[test]
        row[name] = float(hit.mean())
        row[f"{name}_red"], row[f"{name}_blue"] = float(hit[red[test]].mean()), float(hit[~red[test]].mean())
    row["gb_tuned_learning_rate"] = tuned.best_params_["learning_rate"]
    row["cnn_epochs"] = len(cnn.net_.history)
    row["cnn_train_accuracy"] = float(np.mean(cnn.predict(X[train]) == y[train]))
    row["seconds"] = time.perf_counter() - t0
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/results/morphology_needs_image")
    args = parser.parse_args(argv)
    rows = []
    for seed in args.seeds:
        print(f"seed {seed}: features, gradient boosting, then the CNN (about 6 minutes on 2 cores)", flush=True)
        rows.append(measure(seed))
        print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()),
              flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "rows.csv.tmp", index=False)
    (out / "rows.csv.tmp").replace(out / "rows.csv")
    write_meta(out, argv=[sys.argv[0], *(sys.argv[1:] if argv is None else argv)], args=vars(args))
    print(pd.DataFrame(rows)[["seed", "gb", "gb_tuned", "cnn", "cnn_epochs", "cnn_train_accuracy"]].to_string(
        index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
