"""
Galaxies and their augmented views under the "sdss" and "decals" presets
========================================================================


Saves ``docs/_static/augmentations.png``: synthetic SDSS ugriz galaxies (top,
"sdss" preset: reddening, continuous rotation, jitter-crop, noise) and DECaLS grz
galaxies (bottom, "decals" preset: also flips, size scale and PSF blur), shown as
arcsinh-stretched RGB composites, one stretch per block. The first column is the
centre-cropped view that ``transform`` embeds.

    python examples/plot_augmentations.py [output.png]
"""

import sys
from pathlib import Path

from matplotlib.figure import Figure

from sklearn_ssl.plotting import plot_augmentations
from sklearn_ssl.datasets import make_galaxy_survey

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "docs" / "_static" / "augmentations.png")

sdss, cat = make_galaxy_survey(4, image_size=64, bands="ugriz", survey="sdss", random_state=3)
decals, cat_d = make_galaxy_survey(3, image_size=64, bands="grz", survey="decals", random_state=4)

fig = Figure(figsize=(6.4, 8.0))
top, bottom = fig.subfigures(2, 1, height_ratios=[4.3, 3.3])
plot_augmentations(sdss, "sdss", "ugriz", rgb_bands="gri", n_views=5, titles=cat["morphology"], fig=top)
plot_augmentations(decals, "decals", "grz", rgb_bands="grz", n_views=5, titles=cat_d["morphology"], fig=bottom)
top.suptitle('"sdss" preset (ugriz; RGB = i, r, g)', fontsize=9)
bottom.suptitle('"decals" preset (grz; RGB = z, r, g)', fontsize=9)
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=72, pil_kwargs={"optimize": True})
print(f"saved {out} ({out.stat().st_size // 1024} KB)")
