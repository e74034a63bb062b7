"""GalaxyFeatures: photutils photometry and statmorph morphology on images with known answers."""

import functools

import joblib
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl import GalaxyFeatures

SIZE = 41
_YY, _XX = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2


def gaussian(sigma_x, sigma_y=None, flux=100.0):
    g = np.exp(-0.5 * (_XX ** 2 / sigma_x ** 2 + _YY ** 2 / (sigma_y or sigma_x) ** 2))
    return flux * g / g.sum()


def two_band(profile, colour=-2.5 * np.log10(4.0)):
    """Band 0 holds 100 nanomaggies, band 1 a quarter as much: colour b0-b1 = -1.505 exactly."""
    return np.stack([profile, profile * 10 ** (0.4 * colour)])


@pytest.fixture(scope="module")
def measured():
    rng = np.random.default_rng(0)
    X = np.stack([two_band(gaussian(3.0)),        # extended, round
                  two_band(gaussian(1.0)),        # a point source through a sigma = 1 px PSF
                  two_band(gaussian(4.0, 2.0)),   # axis ratio 1/2
                  np.zeros((2, SIZE, SIZE))])     # nothing to detect
    X = X + rng.normal(0, 0.01, X.shape)
    feats = GalaxyFeatures(bands="gr").set_output(transform="pandas")
    return feats.fit_transform(X)


@parametrize_with_checks([GalaxyFeatures()])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_gaussian_half_light_radius(measured):
    # a circular Gaussian encloses half its light within sigma * sqrt(2 ln 2)
    assert measured.loc[0, "half_light_radius"] == pytest.approx(3.0 * np.sqrt(2 * np.log(2)), rel=0.03)


def test_point_source_concentration_and_size(measured):
    # an unresolved source is the PSF, a Gaussian: C = 5 log10(r80/r20) = 5 log10(sqrt(ln 5 / ln 1.25)) = 2.145
    expected = 5 * np.log10(np.sqrt(np.log(5) / np.log(1.25)))
    for col in ("concentration", "cas_concentration"):
        assert measured.loc[1, col] == pytest.approx(expected, abs=0.1)
    # pixel-integrated sigma = sqrt(1 + 1/12) px
    assert measured.loc[1, "half_light_radius"] == pytest.approx(np.sqrt(13 / 12 * 2 * np.log(2)), rel=0.05)
    assert measured.loc[1, "half_light_radius"] < measured.loc[0, "half_light_radius"] / 2


def test_magnitudes_colour_and_ellipticity(measured):
    ok = measured.iloc[:3]
    np.testing.assert_allclose(ok["mag_g"], 22.5 - 2.5 * np.log10(100), atol=0.03)  # Kron flux of a Gaussian
    np.testing.assert_allclose(ok["g-r"], -2.5 * np.log10(4.0), atol=0.03)  # same aperture in both bands
    assert measured.loc[2, "ellipticity"] == pytest.approx(0.5, abs=0.03)
    assert measured.loc[0, "ellipticity"] < 0.05
    # 0, or 2 where the 3-Kron-radius aperture (doubled as a mask) leaves too little of the 41-px stamp
    # to measure a sky: the zero level is kept (these stamps have none)
    assert ok["photometry_flag"].isin([0, 2]).all() and (ok["morphology_flag"] == 0).all()
    assert ok.notna().all().all()


def test_failed_image_gives_nan_and_flags_not_an_error(measured):
    blank = measured.iloc[3]
    assert blank["photometry_flag"] == 1 and blank["morphology_flag"] == 4
    assert blank.drop(["photometry_flag", "morphology_flag"]).isna().all()


def test_kind_selects_the_columns_and_parallel_agrees():
    rng = np.random.default_rng(1)
    X = np.stack([two_band(gaussian(s)) for s in (1.5, 2.5, 3.5)]) + rng.normal(0, 0.01, (3, 2, SIZE, SIZE))
    phot = GalaxyFeatures(kind="photometry").fit(X)
    assert list(phot.get_feature_names_out()) == ["mag_b0", "mag_b1", "b0-b1", "half_light_radius",
                                                  "concentration", "ellipticity", "photometry_flag"]
    morph = GalaxyFeatures(kind="morphology", detection_band=0)
    assert list(morph.fit(X).get_feature_names_out()) == ["cas_concentration", "asymmetry", "smoothness", "gini",
                                                          "m20", "morphology_flag"]
    serial = phot.transform(X)
    with joblib.parallel_config(backend="threading"):  # worker processes take long to start on a busy machine
        np.testing.assert_allclose(GalaxyFeatures(kind="photometry", n_jobs=2).fit(X).transform(X), serial)
    assert np.all(np.diff(serial[:, 3]) > 0)  # half-light radius grows with sigma


def test_bad_settings_and_shapes_are_clear_errors():
    X = np.zeros((2, 3, 16, 16))
    with pytest.raises(ValueError, match="must name each of the 3 channels"):
        GalaxyFeatures(bands="gr").fit(X)
    with pytest.raises(ValueError, match="detection_band='u' is not one of"):
        GalaxyFeatures(bands="gri", detection_band="u").fit(X)
    with pytest.raises(ValueError, match="fitted on"):
        GalaxyFeatures().fit(X).transform(np.zeros((2, 3, 20, 20)))
    with pytest.raises(ValueError, match="kind"):
        GalaxyFeatures(kind="shape").fit(X)


@pytest.mark.slow
def test_survey_morphology_needs_the_image():
    """On make_galaxy_survey, catalogue features reach clearly less than a CNN trained on the same labels."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    from sklearn_ssl.datasets import make_galaxy_survey
    from sklearn_ssl.nn.encoders import SmallCNN
    from sklearn_ssl.estimators._finetune import FineTunedClassifier

    X, cat = make_galaxy_survey(700, image_size=32, random_state=0)
    y = cat["morphology_class"].to_numpy()
    train, test = train_test_split(np.arange(len(y)), test_size=200, stratify=y, random_state=0)
    F = GalaxyFeatures(bands="ugriz").fit_transform(X)
    gb = HistGradientBoostingClassifier(min_samples_leaf=5, random_state=0).fit(F[train], y[train])
    catalogue = float(np.mean(gb.predict(F[test]) == y[test]))
    # up to 200 epochs with early stopping (a fixed 1,000 steps left the training loss at 0.66); the encoder
    # is a builder, so random_state draws its initial weights (an instance's come from torch's global
    # generator, seeded differently in every process: seed 0 then gave 0.555-0.625, docs/synthetic_survey.rst)
    cnn = FineTunedClassifier(None, encoder=functools.partial(SmallCNN, width=16), lr=3e-3, max_epochs=200,
                              early_stopping=True, validation_fraction=0.2, n_iter_no_change=30,
                              batch_size=64, device="cpu", random_state=0).fit(X[train], y[train])
    image = float(np.mean(cnn.predict(X[test]) == y[test]))
    print(f"catalogue features + GB {catalogue:.3f}, supervised CNN {image:.3f} (500 labels, 200 test)")
    assert image > catalogue + 0.05


def test_catalogue_baselines_read_one_measurement_by_image_content():
    from sklearn.base import clone

    from sklearn_ssl.evaluation import label_efficiency
    from sklearn_ssl.evaluation.features import _catalogue_baselines

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2, 8, 8)).astype(np.float32)
    y = np.repeat([0, 1], 30)
    table = rng.normal(size=(60, 13))
    table[:, 0] += 3 * y  # mag_b0 carries the class; the morphology block does not
    models, measured = _catalogue_baselines(X, "classification", features=table)
    assert measured is table
    assert list(models) == ["photometry + GB", "morphology + GB", "photometry + morphology + GB",
                            "constant (majority class)"]
    res = label_efficiency(models, X, y, [40], n_repeats=1, random_state=0)
    acc = res.groupby("estimator").score.mean()
    assert acc["photometry + GB"] > 0.9 and acc["morphology + GB"] < 0.8 and acc["constant (majority class)"] < 0.6
    lookup = clone(models["photometry + GB"]).fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="not among those whose features were measured"):
        lookup.predict(X[:2] + 1)
    regressors, _ = _catalogue_baselines(X, "regression", features=table)
    assert "constant (median redshift)" in regressors


# --- Known answers for the SExtractor-style photometry (issue 30) -------------------------------------------------
# Five bands with SDSS-like colours and unequal noise (u and z the noisiest, as in SDSS); every profile is rendered on
# a grid 8x the stamp, convolved with a Gaussian PSF and normalised there, so the true flux includes the light that
# falls outside the stamp.
# u..z in nanomaggies (r = 16.5 mag: u-g 0.99, g-r 0.51, r-i 0.24, i-z 0.15), bright enough that noise alone moves
# no flux by more than ~1 %: the 3 % tolerance is for biases
_FLUX = np.array([120.0, 300.0, 480.0, 600.0, 690.0])
_NOISE = np.array([0.045, 0.016, 0.024, 0.036, 0.17])  # per-pixel sky sigma, nanomaggies (SDSS-like)


def _profile(size, kind, r_eff=3.0, q=0.7, psf_sigma=1.2, offset=(0.0, 0.0)):
    from astropy.convolution import Gaussian2DKernel, convolve_fft, discretize_model
    from astropy.modeling.models import Gaussian2D, Sersic2D

    big = 8 * size
    x0, y0 = big / 2 - 0.5 + offset[1], big / 2 - 0.5 + offset[0]
    if kind == "gaussian":
        model = Gaussian2D(1.0, x0, y0, r_eff / np.sqrt(2 * np.log(2)), q * r_eff / np.sqrt(2 * np.log(2)), 0.5)
    else:
        model = Sersic2D(1.0, r_eff, float(kind.split("=")[1]), x0, y0, 1 - q, 0.5)
    img = discretize_model(model, (0, big), (0, big), mode="oversample", factor=4)
    img = convolve_fft(img / img.sum(), Gaussian2DKernel(psf_sigma, x_size=31, y_size=31))
    start = big // 2 - size // 2
    return img[start:start + size, start:start + size]


def _five_bands(profile, rng, sky=None):
    image = _FLUX[:, None, None] * profile[None] + rng.normal(0, 1, (5,) + profile.shape) * _NOISE[:, None, None]
    return image if sky is None else image + np.asarray(sky)[:, None, None]


def _true_mags():
    mags = 22.5 - 2.5 * np.log10(_FLUX)
    return mags, mags[:-1] - mags[1:]


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("kind", ["gaussian", "sersic n=1"])
def test_known_fluxes_and_colours_in_every_band(size, kind):
    rng = np.random.default_rng(size)
    X = np.stack([_five_bands(_profile(size, kind, r_eff=r), rng) for r in (1.5, 3.0)])
    F = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    mags, colours = _true_mags()
    flux_ratio = 10 ** (-0.4 * (F[[f"mag_{b}" for b in "ugriz"]].to_numpy() - mags))
    np.testing.assert_allclose(flux_ratio, 1.0, atol=0.03)
    np.testing.assert_allclose(F[["u-g", "g-r", "r-i", "i-z"]].to_numpy() - colours, 0.0, atol=0.03)


def test_de_vaucouleurs_colours_right_and_kron_flux_short_by_the_known_amount():
    # A Sersic n=4 profile holds ~90 % of its light within 2.5 Kron radii (Graham & Driver 2005, PASA 22, 118);
    # on a 64-px stamp the measured Kron radius (first moment within 6 second-moment radii) is a little smaller
    rng = np.random.default_rng(4)
    X = _five_bands(_profile(64, "sersic n=4", r_eff=3.0), rng)[None]
    F = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    mags, colours = _true_mags()
    flux_ratio = 10 ** (-0.4 * (F[[f"mag_{b}" for b in "ugriz"]].to_numpy()[0] - mags))
    assert np.all((flux_ratio > 0.84) & (flux_ratio < 0.95)), flux_ratio
    np.testing.assert_allclose(F[["u-g", "g-r", "r-i", "i-z"]].to_numpy()[0], colours, atol=0.03)


def test_sky_pedestal_is_measured_on_the_masked_sky_and_removed():
    # 64 px around a compact galaxy leave sky far from it: a constant sky in every band must not change the fluxes
    rng = np.random.default_rng(5)
    profile = _profile(64, "sersic n=1", r_eff=2.0)
    sky = [0.3, 0.1, 0.2, 0.3, 1.0]
    X = np.stack([_five_bands(profile, rng), _five_bands(profile, rng, sky=sky)])
    F = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    mags, _ = _true_mags()
    for row in range(2):
        np.testing.assert_allclose(10 ** (-0.4 * (F.loc[row, [f"mag_{b}" for b in "ugriz"]].to_numpy(float) - mags)),
                                   1.0, atol=0.03)
    assert (F.photometry_flag == 0).all()  # the sky was measured on both


def test_sky_of_a_galaxy_that_fills_the_stamp_is_not_its_own_wings():
    # background="auto" leaves the zero level alone (flag 2) when no sky lies beyond 5 Kron radii;
    # "masked" estimates it anyway from the dilated-segment mask, and reads the wings as sky (fainter)
    rng = np.random.default_rng(6)
    X = _five_bands(_profile(32, "sersic n=1", r_eff=6.0), rng)[None]
    auto = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    masked = GalaxyFeatures(kind="photometry", bands="ugriz", background="masked").fit(X)
    masked = masked.set_output(transform="pandas").transform(X)
    assert auto.loc[0, "photometry_flag"] == 2 and masked.loc[0, "photometry_flag"] == 0
    assert masked.loc[0, "mag_r"] > auto.loc[0, "mag_r"] + 0.02


def test_blended_pair_is_deblended_and_the_central_galaxy_measured_alone():
    from sklearn_ssl.evaluation.features import _segment

    rng = np.random.default_rng(7)
    size = 32
    central = _profile(size, "gaussian", r_eff=1.5)  # after the PSF and kernel: sigma 2.2 px; 8 px apart, a saddle
    neighbour = 0.6 * _profile(size, "gaussian", r_eff=1.5, offset=(0.0, 8.0))
    X = _five_bands(central + neighbour, rng)[None]
    settings = GalaxyFeatures(bands="ugriz").fit(X)._settings(5)
    det = (X[0] / _NOISE[:, None, None] ** 2).sum(0) / (1 / _NOISE ** 2).sum()
    det_sigma = 1 / np.sqrt((1 / _NOISE ** 2).sum())
    joined = _segment(det, det_sigma, settings, deblend=False)
    split = _segment(det, det_sigma, settings, deblend=True)
    assert joined.n_labels == 1 and split.n_labels == 2
    F = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    mags, colours = _true_mags()
    # the central segment keeps some of the neighbour's wings (and the 'correct' aperture mask mirrors its own
    # light into the neighbour's pixels): a few per cent, where without deblending the pair is measured as one
    ratio = 10 ** (-0.4 * (F.loc[0, [f"mag_{b}" for b in "ugriz"]].to_numpy(float) - mags))
    assert np.all((ratio > 0.97) & (ratio < 1.1)), ratio
    one = GalaxyFeatures(kind="photometry", bands="ugriz", deblend_contrast=1.0).fit(X).transform(X)
    assert np.all(10 ** (-0.4 * (one[0, :5] - mags)) > 1.4)


def test_detection_weights_the_bands_by_their_noise():
    # a faint galaxy seen in g, r and i with a very noisy z band: the plain sum of the bands is dominated by z's noise
    # and finds nothing, the inverse-variance weighted sum finds and measures it
    rng = np.random.default_rng(8)
    noise = np.array([0.045, 0.016, 0.024, 0.036, 3.0])
    flux = np.array([2.0, 5.0, 8.0, 10.0, 11.5])
    X = np.stack([flux[:, None, None] * _profile(32, "gaussian", r_eff=2.0)[None]
                  + rng.normal(0, 1, (5, 32, 32)) * noise[:, None, None] for _ in range(3)])
    F = GalaxyFeatures(kind="photometry", bands="ugriz").fit(X).set_output(transform="pandas").transform(X)
    assert (F.photometry_flag != 1).all()
    np.testing.assert_allclose(10 ** (-0.4 * (F.mag_r - 22.5)), flux[2], rtol=0.1)


def test_morphology_band_by_name_or_index_with_its_own_error_image():
    rng = np.random.default_rng(9)
    X = np.stack([_five_bands(_profile(32, "sersic n=1", r_eff=2.5), rng) for _ in range(2)])
    by_name = GalaxyFeatures(kind="morphology", bands="ugriz", morphology_band="r").fit_transform(X)
    by_index = GalaxyFeatures(kind="morphology", bands="ugriz", morphology_band=2).fit_transform(X)
    default = GalaxyFeatures(kind="morphology", bands="ugriz").fit_transform(X)  # r when a band is named r
    np.testing.assert_array_equal(by_name, by_index)
    np.testing.assert_array_equal(by_name, default)
    assert np.all(by_name[:, -1] < 4)
    z_band = GalaxyFeatures(kind="morphology", bands="ugriz", morphology_band="z").fit_transform(X)
    assert not np.allclose(z_band[:, :5], by_name[:, :5])  # another band, another (noisier) measurement
    # a gain adds the galaxy's Poisson noise to the error image: statmorph's smoothness (which subtracts the
    # background's contribution) changes, the light distribution (Gini) does not
    with_gain = GalaxyFeatures(kind="morphology", bands="ugriz", gain=[150, 800, 900, 650, 150]).fit_transform(X)
    np.testing.assert_allclose(with_gain[:, 3], by_name[:, 3])
    with pytest.raises(ValueError, match="morphology_band='y' is not one of"):
        GalaxyFeatures(bands="ugriz", morphology_band="y").fit(X)
    with pytest.raises(ValueError, match="gain"):
        GalaxyFeatures(bands="ugriz", gain=[1.0, 2.0]).fit(X)


def test_survey_magnitudes_and_colours_agree_with_the_catalogue():
    """Issue 30's check: on the synthetic SDSS survey at 32 px, r within 0.06 mag of the truth (median), g-r 0.03."""
    from sklearn_ssl.datasets import make_galaxy_survey

    X, cat = make_galaxy_survey(100, image_size=32, random_state=0)
    F = GalaxyFeatures(kind="photometry", bands="ugriz", n_jobs=1).fit(X).set_output(transform="pandas").transform(X)
    dr = np.median(F.mag_r - cat.mag_r)
    dgr = np.median(F["g-r"] - (cat.mag_g - cat.mag_r))
    print(f"median r - true r {dr:+.3f} mag, g-r - true g-r {dgr:+.3f} mag")
    assert abs(dr) < 0.06 and abs(dgr) < 0.03


def test_feature_table_is_cached_and_independent_of_n_jobs(tmp_path, monkeypatch):
    """The demo's catalogue features: measured once, read back from the joblib cache (whatever n_jobs),
    the same values as GalaxyFeatures itself."""
    from sklearn_ssl.datasets import make_galaxy_survey
    from sklearn_ssl.evaluation import features
    from sklearn_ssl.evaluation.features import feature_table

    images, _ = make_galaxy_survey(12, image_size=24, bands="gri", random_state=0)
    calls = []
    transform = GalaxyFeatures.transform
    monkeypatch.setattr(GalaxyFeatures, "transform", lambda self, X: calls.append(len(X)) or transform(self, X))
    first = feature_table(images, bands="gri", memory=tmp_path)
    assert sum(calls) == 12
    np.testing.assert_array_equal(first, GalaxyFeatures(bands="gri").fit_transform(images), strict=True)
    calls.clear()
    again = feature_table(images, bands="gri", n_jobs=2, memory=str(tmp_path))
    assert calls == []  # read back: n_jobs is not part of the key
    np.testing.assert_array_equal(again, first)
    other = feature_table(images[:6], bands="gri", memory=tmp_path)  # other images: measured
    assert sum(calls) == 6 and np.array_equal(other, first[:6], equal_nan=True)
    assert features.feature_table is feature_table
