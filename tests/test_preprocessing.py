import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl.estimators._preprocessing import ArcsinhScaler, ImageReshaper, PixelImputer


@parametrize_with_checks([ArcsinhScaler(), PixelImputer(), PixelImputer(strategy="local"), ImageReshaper()])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


@pytest.fixture
def images(rng):
    x = rng.normal(0.0, 0.05, size=(6, 3, 10, 12)).astype(np.float32)
    x[:, :, 4:6, 5:7] += np.array([1.0, 5.0, 20.0], np.float32)[:, None, None]
    return x


def test_arcsinh_scaler_learns_per_band_noise_and_round_trips(images):
    sc = ArcsinhScaler(softening=2.0).fit(images)
    assert sc.n_features_in_ == 3 and sc.input_shape_ == (3, 10, 12)
    np.testing.assert_allclose(sc.noise_, 0.05, rtol=0.3)
    np.testing.assert_allclose(sc.softening_, 2.0 * sc.noise_)
    out = sc.transform(images)
    assert out.shape == images.shape and out.dtype == np.float32
    np.testing.assert_allclose(sc.inverse_transform(out), images, atol=1e-5)
    # stretched: a bright pixel 400 noise units up maps to ~arcsinh(200)
    assert out[:, 2].max() < 7


def test_arcsinh_scaler_shape_mismatch_names_both_shapes(images):
    sc = ArcsinhScaler().fit(images)
    with pytest.raises(ValueError, match=r"per-sample shape \(3, 8, 8\).*fitted on \(3, 10, 12\)"):
        sc.transform(images[:, :, :8, :8])
    with pytest.raises(ValueError, match="3-D array"):
        ArcsinhScaler().fit(images[:, 0])


def test_pixel_imputer_fills_nan_and_masked(images):
    x = images.copy()
    x[0, 1, 2, 3] = np.nan
    imp = PixelImputer().fit(x)
    out = imp.transform(x)
    assert not np.isnan(out).any()
    assert out[0, 1, 2, 3] == pytest.approx(np.nanmedian(x[:, 1]), abs=1e-6)
    masked = np.ma.MaskedArray(images, mask=np.zeros_like(images, bool))
    masked.mask[1, 2, 0, 0] = True
    out = PixelImputer(strategy="local").fit(masked).transform(masked)
    assert out[1, 2, 0, 0] == pytest.approx(np.median(np.delete(images[1, 2].ravel(), 0)), abs=1e-6)


def test_pixel_imputer_sentinel_and_empty_band(images):
    x = images.copy()
    x[:, 0, 0, 0] = -999
    out = PixelImputer(missing_values=-999, strategy="constant", fill_value=0).fit_transform(x)
    assert (out[:, 0, 0, 0] == 0).all()
    x[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"band\(s\)/feature\(s\) \[2\] have no valid pixel"):
        PixelImputer().fit(x)


def test_reshaper_round_trip_and_pipeline(images, rng):
    r = ImageReshaper().fit(images)
    flat = r.transform(images)
    assert flat.shape == (6, 360)
    np.testing.assert_array_equal(r.inverse_transform(flat), images)
    assert r.get_feature_names_out()[:2].tolist() == ["c0_y0_x0", "c0_y0_x1"]
    back = ImageReshaper(image_shape=(3, 10, 12)).fit(flat)
    np.testing.assert_array_equal(back.transform(flat), images)
    with pytest.raises(ValueError, match="cannot be reshaped"):
        ImageReshaper(image_shape=(3, 5, 5)).fit(flat)
    y = np.array([0, 1] * 3)
    pipe = make_pipeline(PixelImputer(), ArcsinhScaler(), ImageReshaper(), PCA(3), LogisticRegression())
    assert pipe.fit(images, y).predict(images).shape == (6,)


def test_set_output_pandas_on_flat_output(images):
    df = ImageReshaper().set_output(transform="pandas").fit_transform(images)
    assert isinstance(df, pd.DataFrame) and df.shape == (6, 360)
    x2 = pd.DataFrame(images[:, :, 0, 0], columns=["u", "g", "r"])
    out = ArcsinhScaler().set_output(transform="pandas").fit_transform(x2)
    assert list(out.columns) == ["u", "g", "r"]
