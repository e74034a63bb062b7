"""
Synthetic galaxies by class and redshift, and synthetic vs real SDSS cutouts
============================================================================


Writes docs/_static/synthetic_survey.png and, when the real Galaxy Zoo images are
present in ../shared/data, docs/_static/synthetic_vs_real.png.
Run from the repository root: python examples/plot_synthetic_survey.py
"""
import os

import numpy as np

from sklearn_ssl.datasets import MORPHOLOGY_CLASSES, make_galaxy_survey
from sklearn_ssl.plotting import make_rgb, plot_galaxy_grid

OUT = os.path.join("docs", "_static")
REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                    "gz_kaggle_spiral_64.npz")
os.makedirs(OUT, exist_ok=True)

images, cat = make_galaxy_survey(1200, 64, "ugriz", random_state=0)
z_bins = [(0.01, 0.04), (0.04, 0.07), (0.07, 0.10), (0.10, 0.14), (0.14, 0.20), (0.20, 0.40)]
idx, titles = [], []
for k, name in enumerate(MORPHOLOGY_CLASSES):
    for lo, hi in z_bins:
        sel = cat.index[(cat.morphology_class == k) & cat.redshift.between(lo, hi, inclusive="left")]
        i = sel[np.argmin(cat.mag_r[sel])] if len(sel) else cat.index[cat.morphology_class == k][0]
        idx.append(i)
        titles.append(f"{name} z={cat.redshift[i]:.2f}")
rgb = make_rgb(images[idx], "ugriz", "gri")
fig = plot_galaxy_grid(rgb, None, titles, n_cols=len(z_bins), panel_size=1.25,
                       suptitle="make_galaxy_survey: gri composites, brightest per class and redshift bin")
fig.savefig(os.path.join(OUT, "synthetic_survey.png"), dpi=56)
print("wrote", os.path.join(OUT, "synthetic_survey.png"))

if os.path.exists(REAL):
    with np.load(REAL) as d:
        real, real_y = d["images"][:400], d["morph_class"][:400]
    real_rgb = np.moveaxis(real, 1, -1).astype(float) / 255.0  # already display RGB
    pick = np.r_[np.flatnonzero(real_y == 1)[:6], np.flatnonzero(real_y == 0)[:6]]
    # synthetic counterparts: the 12 brightest (r) galaxies at 0.06 <= z <= 0.12 (GZ2 targets are bright, low z)
    bright = cat[cat.redshift.between(0.06, 0.12)].sort_values("mag_r").index[:12]
    syn_rgb = make_rgb(images[bright], "ugriz", "gri")
    both = np.concatenate([real_rgb[pick], syn_rgb])
    labels = [f"real {'spiral' if real_y[i] else 'non-spiral'}" for i in pick] + [
        f"synth. {cat.morphology[i]}" for i in bright]
    fig = plot_galaxy_grid(both, None, labels, n_cols=6, panel_size=1.25,
                           suptitle="Real SDSS (Galaxy Zoo, top two rows) vs synthetic (bottom)")
    fig.savefig(os.path.join(OUT, "synthetic_vs_real.png"), dpi=56)
    print("wrote", os.path.join(OUT, "synthetic_vs_real.png"))
else:
    print("real SDSS cutouts not found at", REAL, "- comparison figure skipped")
