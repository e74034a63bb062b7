"""Benchmark make_galaxy_survey: speed, and what simple baselines reach on it.

Run: python benchmarks/make_survey.py [--n 10000] [--size 64]
"""
import argparse
import time

import numpy as np
from astropy.stats import mad_std
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ssl.datasets import make_galaxy_survey
from sklearn_ssl.estimators._preprocessing import ArcsinhScaler, ImageReshaper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    n, size = args.n, args.size
    t0 = time.perf_counter()
    noise = np.random.default_rng(0).standard_normal((n, 5, size, size), dtype=np.float32)
    t_ref = time.perf_counter() - t0
    del noise
    t0 = time.perf_counter()
    X, cat = make_galaxy_survey(n, size, "ugriz", random_state=0)
    t_gen = time.perf_counter() - t0
    print(f"| step | seconds |\n|---|---|\n| reference: draw {n}x5x{size}x{size} float32 normals | "
          f"{t_ref:.2f} |\n| make_galaxy_survey({n}, {size}, 'ugriz') | {t_gen:.2f} |")

    y, z = cat["morphology_class"].to_numpy(), cat["redshift"].to_numpy()
    mags = cat[[f"mag_{b}" for b in "ugriz"]].to_numpy()
    colours = np.column_stack([mags[:, :-1] - mags[:, 1:], mags[:, 2]])
    idx_tr, idx_te = train_test_split(np.arange(n), test_size=0.3, random_state=0, stratify=y)
    rows = []
    pix = make_pipeline(ArcsinhScaler(), ImageReshaper(), PCA(64, random_state=0), StandardScaler(),
                        LogisticRegression(max_iter=2000))
    rows.append(("morphology (4 classes), raw-pixel arcsinh + PCA(64) + logistic", "accuracy",
                 pix.fit(X[idx_tr], y[idx_tr]).score(X[idx_te], y[idx_te])))
    col = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    rows.append(("morphology, colours + r mag, logistic", "accuracy",
                 col.fit(colours[idx_tr], y[idx_tr]).score(colours[idx_te], y[idx_te])))
    rows.append(("morphology, majority class", "accuracy", np.mean(y[idx_te] == np.bincount(y[idx_tr]).argmax())))

    def sig(zp):
        dz = (zp - z[idx_te]) / (1 + z[idx_te])
        return mad_std(dz), np.mean(np.abs(dz) > 0.05)

    for name, model in [("linear regression", make_pipeline(StandardScaler(), LinearRegression())),
                        ("gradient boosting", HistGradientBoostingRegressor(random_state=0))]:
        s, eta = sig(model.fit(colours[idx_tr], z[idx_tr]).predict(colours[idx_te]))
        rows.append((f"photo-z, colours + r mag, {name}", "sigma_MAD / eta(>0.05)", f"{s:.4f} / {eta:.3f}"))
    s, eta = sig(np.full(len(idx_te), np.median(z[idx_tr])))
    rows.append(("photo-z, constant median z", "sigma_MAD / eta(>0.05)", f"{s:.4f} / {eta:.3f}"))
    print(f"\nBaselines ({len(idx_tr)} train / {len(idx_te)} test galaxies)\n| task / model | metric | value |\n|---|---|---|")
    for task, metric, v in rows:
        print(f"| {task} | {metric} | {v if isinstance(v, str) else f'{v:.3f}'} |")


if __name__ == "__main__":
    main()
