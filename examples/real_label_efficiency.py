"""
Label efficiency on real SDSS galaxies (Galaxy Zoo 2 spiral label)
==================================================================

A thin wrapper around the study script ``benchmarks/real_label_efficiency.py``: SSL
pretraining on all real SDSS gri composites, then frozen SSL + logistic regression,
fine-tuned SSL, a supervised CNN, raw-pixel PCA + logistic regression and the catalogue
baselines (GalaxyFeatures + gradient boosting, constant predictor) on growing label budgets
(ROC AUC and balanced accuracy on a fixed held-out split). See ``docs/real_sdss.rst``.

By default it runs the script's ``--quick`` smoke settings (400 images at 16x16, 1 epoch,
budgets 20 and 50: a check that everything runs, not a result); ``--full`` runs the real
study (hours on a CPU). Other options are passed on to the script (``--epochs 4`` ...).

The data are not shipped with the package: ``--data`` defaults to
``../shared/data/gz_kaggle_spiral_64.npz`` relative to the repository root, and when the
file is missing the example says so and exits cleanly. Outputs (tables, figure, timings) go
to ``--out`` (default: a new temporary directory).
"""

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "gz_kaggle_spiral_64.npz"
SCRIPT = ROOT / "benchmarks" / "real_label_efficiency.py"

parser = argparse.ArgumentParser(description=((__doc__ or "").strip().splitlines() or [None])[0],
                                 epilog="Unknown options are passed to benchmarks/real_label_efficiency.py.")
parser.add_argument("--data", default=str(DEFAULT_DATA), help="path to gz_kaggle_spiral_64.npz")
parser.add_argument("--out", default=None, help="output folder (default: a temporary directory)")
parser.add_argument("--full", action="store_true", help="the full study instead of the --quick smoke run")
args, passthrough = parser.parse_known_args()

if not Path(args.data).is_file():
    print(f"SDSS data not found at {args.data}: this example needs gz_kaggle_spiral_64.npz, which is not "
          "shipped with sklearn-ssl (see docs/real_sdss.rst); pass its path with --data. Skipping.")
    sys.exit(0)
if not SCRIPT.is_file():
    print(f"{SCRIPT} not found: this example runs from a source checkout of sklearn-ssl. Skipping.")
    sys.exit(0)

# %%
# Load the study script as a module and call its ``main`` with command-line arguments: the
# same code path as ``python benchmarks/real_label_efficiency.py ...``.
spec = importlib.util.spec_from_file_location("real_label_efficiency", SCRIPT)
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)

out = args.out or tempfile.mkdtemp(prefix="sklearn_ssl_real_")
argv = ["--data", args.data, "--out", out, *([] if args.full else ["--quick"]), *passthrough]
print("running benchmarks/real_label_efficiency.py", " ".join(argv))
results, summary = study.main(argv)
print(f"results, summary, figure and timings in {out}")
