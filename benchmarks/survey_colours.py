"""The synthetic survey's colours and catalogue baselines (issue 30): bimodality at z ~ 0.1,
red fraction by luminosity, noise per band, and what catalogue truth reaches on morphology
and photo-z (the rows of docs/synthetic_survey.rst).

Run: python benchmarks/survey_colours.py [--n 2000] [--size 32]
"""
import argparse

import numpy as np
from astropy.stats import mad_std
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_predict, cross_val_score

from sklearn_ssl.datasets import make_galaxy_survey


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    _, big = make_galaxy_survey(4000, 8, random_state=0)
    c = big[big.redshift.between(0.08, 0.14, inclusive="left")]
    gr, ur = c.mag_g - c.mag_r, c.mag_u - c.mag_r
    print(f"0.08 <= z < 0.14 ({len(c)} of 4000 galaxies): g-r > 0.7 {np.mean(gr > 0.7):.3f}, "
          f"u-r > 2.22 {np.mean(ur > 2.22):.3f}, median g-r {gr.median():.3f}")
    if "red_sequence" in c:
        rs = c.red_sequence.to_numpy()
        print(f"red sequence {rs.mean():.3f}: median g-r {gr[rs].median():.3f}, u-r {ur[rs].median():.3f}, "
              f"B/T {c.bulge_to_total[rs].median():.2f}; blue cloud: g-r {gr[~rs].median():.3f}, "
              f"u-r {ur[~rs].median():.3f}, B/T {c.bulge_to_total[~rs].median():.2f}")
        for lo in (-23, -22, -21, -20):
            m = big.absmag_r.between(lo, lo + 1)
            print(f"  {lo} <= M_r < {lo + 1}: {m.sum()} galaxies, red fraction {big.red_sequence[m].mean():.2f}")
        print("  red fraction by class:", big.groupby("morphology").red_sequence.mean().round(2).to_dict())
    hist, edges = np.histogram(gr, bins=np.arange(0.2, 1.25, 0.05))
    print("g-r histogram:", " ".join(f"{e:.2f}:{h}" for e, h in zip(edges[:-1], hist)))
    for survey, bands in (("sdss", "ugriz"), ("decals", "grz")):
        X, cat = make_galaxy_survey(40, 64, bands, survey=survey, random_state=1, magnitude_limit=None)
        clean, _ = make_galaxy_survey(40, 64, bands, survey=survey, random_state=1, magnitude_limit=None, noise=False)
        out = []
        for j, b in enumerate(bands):
            blank = np.abs(clean[:, j]) < 0.1 * cat[f"sky_sigma_{b}"].to_numpy()[:, None, None]
            out.append(f"{b} {np.median([(X - clean)[i, j][blank[i]].std() for i in range(40) if blank[i].sum() > 100]):.4f}")
        print(f"{survey} blank-sky sigma (median over 40 stamps of 64 px, nmgy/px):", ", ".join(out))

    _, cat = make_galaxy_survey(args.n, args.size, random_state=0)
    mags = cat[[f"mag_{b}" for b in "ugriz"]].to_numpy()
    feats = np.column_stack([mags, mags[:, :-1] - mags[:, 1:],
                             cat[["half_light_radius_arcsec", "axis_ratio", "bulge_to_total", "sersic_n"]]])
    y, z = cat.morphology_class.to_numpy(), cat.redshift.to_numpy()
    acc = cross_val_score(HistGradientBoostingClassifier(random_state=0), feats, y, cv=3).mean()
    zp = cross_val_predict(HistGradientBoostingRegressor(random_state=0), feats, z, cv=3)
    dz = (zp - z) / (1 + z)
    dz0 = (np.median(z) - z) / (1 + z)
    print(f"\nmake_galaxy_survey({args.n}, image_size={args.size}, random_state=0), 3-fold CV:")
    print(f"morphology, catalogue truth + GB: accuracy {acc:.3f}")
    print(f"photo-z, catalogue truth + GB: sigma_MAD {mad_std(dz):.4f}, eta(>0.05) {np.mean(np.abs(dz) > 0.05):.3f}")
    print(f"photo-z, constant median z: sigma_MAD {mad_std(dz0):.4f}")


if __name__ == "__main__":
    main()
