"""
Photometric redshifts: fine-tune a pretrained encoder vs train from scratch
===========================================================================

:class:`~sklearn_ssl.PhotoZRegressor` predicts a redshift PDF over bins (Pasquet et al.
2019) from the images. Given a pretrained :class:`~sklearn_ssl.ContrastiveEmbedder`
(wrapped in ``FrozenEstimator`` so that cloning keeps its weights) it copies the encoder and
fine-tunes it with the new head; with ``pretrained=None`` the same architecture is trained
from scratch (the supervised CNN baseline). Both get the same few labelled galaxies and
the same number of optimiser steps; :func:`sklearn_ssl.evaluation.metrics.photoz_report` scores them on held-out
galaxies (``dz = (z_phot - z_spec) / (1 + z_spec)``: bias, sigma_MAD, outliers with
``|dz| > 0.05``).

The z_phot vs z_spec figure is saved to ``--out`` (default: a new temporary directory).
Small sizes so that it runs on a CPU: the numbers are illustrative, not a benchmark.
"""

import argparse
import functools
import os
import tempfile

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split

from sklearn_ssl import ContrastiveEmbedder, PhotoZRegressor, make_galaxy_survey
from sklearn_ssl.nn.encoders import SmallCNN
from sklearn_ssl.evaluation.metrics import photoz_report

parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--n-samples", type=int, default=600)
parser.add_argument("--pretrain-epochs", type=int, default=5)
parser.add_argument("--finetune-epochs", type=int, default=5)
parser.add_argument("--min-steps", type=int, default=300,
                    help="at least this many optimiser steps for each model (a few hundred labels are "
                         "only ~7 batches per epoch)")
parser.add_argument("--out", default=None, help="figure path (default: a temporary directory)")
args = parser.parse_args()

images, catalogue = make_galaxy_survey(args.n_samples, image_size=32, random_state=0)
z = catalogue["redshift"].to_numpy()
keep = (z >= 0) & (z < 0.4)  # the redshift bins cover [0, 0.4)
images, z = images[keep], z[keep]
train, test = train_test_split(np.arange(len(z)), test_size=0.3, random_state=0)

# %%
# Pretrain on all images (no redshifts), then fine-tune and train from scratch on the
# training split only.
encoder = functools.partial(SmallCNN, width=16)
embedder = ContrastiveEmbedder(encoder=encoder, max_epochs=args.pretrain_epochs, batch_size=128,
                               random_state=0).fit(images)
# 60 bins of 0.0067 in z: with a few hundred training redshifts the default 180 bins are
# mostly empty. ``min_steps`` keeps the small training set from being under-trained.
common = dict(max_epochs=args.finetune_epochs, min_steps=args.min_steps, n_bins=60, batch_size=64, random_state=0)
models = {
    "fine-tuned SSL": PhotoZRegressor(FrozenEstimator(embedder), **common),  # head lr 1e-2, encoder 1e-3
    "from scratch": PhotoZRegressor(None, encoder=encoder, **common),
}
predictions, reports = {}, []
for name, model in models.items():
    model.fit(images[train], z[train])
    predictions[name] = model.predict(images[test])
    reports.append(photoz_report(z[test], predictions[name]).assign(model=name))
reports.append(photoz_report(z[test], np.full(len(test), np.median(z[train]))).assign(model="median z (baseline)"))
report = pd.concat(reports).set_index("model")
print(f"{len(train)} training redshifts, {len(test)} test galaxies")
print(report.to_string(float_format=lambda v: f"{v:.4f}"))

# %%
# z_phot vs z_spec, with the |dz| = 0.05 outlier limits.
from matplotlib.figure import Figure  # noqa: E402  (Agg canvas, no display)

fig = Figure(figsize=(8, 4))
axes = fig.subplots(1, 2, sharex=True, sharey=True)
grid = np.linspace(0, 0.4, 2)
for ax, (name, zp) in zip(axes, predictions.items()):
    ax.scatter(z[test], zp, s=6, alpha=0.6)
    ax.plot(grid, grid, "k-", lw=0.8)
    for sign in (-1, 1):
        ax.plot(grid, grid + sign * 0.05 * (1 + grid), "k--", lw=0.6)
    r = report.loc[name]
    ax.set_title(f"{name}: sigma_MAD {r['sigma_mad']:.3f}, outliers {r['outlier_fraction']:.0%}", fontsize=9)
    ax.set_xlabel("z_spec")
    ax.set_xlim(0, 0.35)
    ax.set_ylim(0, 0.35)
axes[0].set_ylabel("z_phot")
fig.tight_layout()
out = args.out or os.path.join(tempfile.mkdtemp(prefix="sklearn_ssl_"), "photoz.png")
fig.savefig(out, dpi=120)
print("figure saved to", out)
