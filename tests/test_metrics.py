import numpy as np
import pandas as pd
import pytest
from astropy.stats import mad_std
from scipy.stats import median_abs_deviation, norm
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score

from sklearn_ssl.evaluation.metrics import (
    PHOTOZ_SCORERS, get_scorer, outlier_fraction, photoz_bias, photoz_report, photoz_residuals,
    photoz_scorer, sigma_mad,
)


def test_hand_computed_values():
    z_true = np.array([0.0, 0.1, 0.2, 0.3])
    z_pred = np.array([0.01, 0.1, 0.26, 0.3 - 0.13])
    dz = np.array([0.01, 0.0, 0.06 / 1.2, -0.13 / 1.3])  # 0.01, 0, 0.05, -0.1
    np.testing.assert_allclose(photoz_residuals(z_true, z_pred), dz)
    assert photoz_bias(z_true, z_pred) == pytest.approx((0.01 + 0 + 0.05 - 0.1) / 4)
    # median(dz) = 0.005; |dz - 0.005| = .005, .005, .045, .105 -> median .025, over Phi^-1(3/4)
    assert sigma_mad(z_true, z_pred) == pytest.approx(0.025 / norm.ppf(0.75), rel=1e-12)
    # |dz| > 0.05 strictly: only -0.1 (0.05 itself is not an outlier, up to rounding)
    assert outlier_fraction(z_true, np.array([0.01, 0.1, 0.2 + 0.05 * 1.2 - 1e-9, 0.17])) == 0.25
    assert outlier_fraction(z_true, z_pred, threshold=0.005) == 0.75
    assert outlier_fraction(z_true, z_pred, threshold=0.15) == 0.0


def test_sigma_mad_matches_astropy_and_scipy(rng):
    z_true = rng.uniform(0, 0.4, 500)
    z_pred = z_true + (1 + z_true) * rng.standard_t(3, 500) * 0.01
    dz = (z_pred - z_true) / (1 + z_true)
    assert sigma_mad(z_true, z_pred) == pytest.approx(mad_std(dz), rel=1e-12, abs=1e-12)
    assert sigma_mad(z_true, z_pred) == pytest.approx(median_abs_deviation(dz, scale="normal"), rel=1e-12)
    assert photoz_report(z_true, z_pred).loc[0, "sigma_mad"] == pytest.approx(mad_std(dz), rel=1e-12, abs=1e-12)


def test_report_is_one_row():
    rep = photoz_report([0.1, 0.2, 0.3], [0.1, 0.2, 0.5], threshold=0.05)
    assert isinstance(rep, pd.DataFrame) and len(rep) == 1
    assert list(rep.columns) == ["n", "bias", "sigma_mad", "outlier_fraction", "rmse"]
    assert rep.loc[0, "n"] == 3
    assert rep.loc[0, "outlier_fraction"] == pytest.approx(1 / 3)


def test_input_errors():
    with pytest.raises(ValueError, match="inconsistent|Found input"):
        sigma_mad([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        photoz_bias([0.1, np.nan], [0.1, 0.2])
    with pytest.raises(ValueError, match="> -1"):
        photoz_bias([-1.0], [0.1])
    with pytest.raises(ValueError, match="threshold"):
        outlier_fraction([0.1], [0.1], threshold=0)


def _toy_photoz(rng, n=200):
    X = rng.normal(size=(n, 3))
    z = np.clip(0.2 + 0.05 * X[:, 0] - 0.03 * X[:, 1], 0.0, 0.39)
    return X, z


@pytest.mark.parametrize("name", [n for n in PHOTOZ_SCORERS if n.startswith("neg_")])
def test_scorer_sign_in_grid_search(rng, name):
    X, z = _toy_photoz(rng)
    # alpha=1e6 shrinks Ridge to (almost) a constant: a much worse photo-z
    kw = {"threshold": 0.01} if name == "neg_outlier_fraction" else {}
    search = GridSearchCV(Ridge(), {"alpha": [1e6, 1e-3]}, scoring=photoz_scorer(name, **kw), cv=3)
    search.fit(X, z)
    if name != "neg_abs_bias":  # both settings are nearly unbiased; the sign is what matters there
        assert search.best_params_ == {"alpha": 1e-3}
    assert search.best_score_ <= 0
    scores = cross_val_score(Ridge(alpha=1e-3), X, z, scoring=get_scorer(name), cv=3)
    assert np.all(scores <= 0)


def test_scorer_value_is_negated_metric(rng):
    X, z = _toy_photoz(rng)
    model = Ridge(alpha=1.0).fit(X, z)
    assert photoz_scorer("sigma_mad")(model, X, z) == pytest.approx(-sigma_mad(z, model.predict(X)))
    assert get_scorer("neg_sigma_mad")(model, X, z) == pytest.approx(-sigma_mad(z, model.predict(X)))
    assert get_scorer("r2")(model, X, z) == pytest.approx(model.score(X, z))
    assert get_scorer(None) is None
    with pytest.raises(ValueError, match="Unknown photo-z scorer"):
        photoz_scorer("bias2")


def test_scorers_match_a_hand_computation():
    """One factory, scikit-learn's sign: errors negated (as neg_mean_squared_error), the bias as it is."""
    z = np.array([0.1, 0.2, 0.3, 0.4])
    X = z[:, None]
    model = DummyRegressor(strategy="constant", constant=0.2).fit(X, z)
    dz = (0.2 - z) / (1 + z)  # 0.0909, 0, -0.0769, -0.1429
    mad = np.median(np.abs(dz - np.median(dz))) / norm.ppf(0.75)
    assert photoz_scorer("neg_sigma_mad")(model, X, z) == pytest.approx(-mad, rel=1e-12)
    assert photoz_scorer("sigma_mad")(model, X, z) == pytest.approx(-mad, rel=1e-12)  # the old name, same sign
    assert photoz_scorer("neg_outlier_fraction")(model, X, z) == -0.75
    assert photoz_scorer("neg_outlier_fraction", threshold=0.1)(model, X, z) == -0.25
    assert photoz_scorer("neg_abs_bias")(model, X, z) == pytest.approx(-abs(dz.mean()))
    assert photoz_scorer("bias")(model, X, z) == pytest.approx(dz.mean()) and dz.mean() < 0
    assert get_scorer("neg_outlier_fraction")(model, X, z) == -0.75
    assert get_scorer("neg_mean_squared_error")(model, X, z) == pytest.approx(-np.mean((0.2 - z) ** 2))
