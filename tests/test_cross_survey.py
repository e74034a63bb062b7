"""The cross-survey study: observing conditions measured on generated images, the study's output,
the drop and the findings rule."""

import numpy as np
import pandas as pd
import pytest
from astropy.stats import mad_std

from sklearn_ssl.augment import SDSS_SKY_SIGMA, GalacticReddening, GaussianNoise, PSFBlur
from sklearn_ssl.datasets import EXTINCTION_COEFFICIENTS, make_galaxy_survey
from sklearn_ssl.evaluation import (
    CROSS_SURVEY_CONDITIONS, cross_survey_augmentations, cross_survey_findings, cross_survey_study, make_survey_pair,
    summarize_cross_survey,
)

SCALE = 0.396  # SDSS arcsec per pixel


def _psf_fwhm_px(sharp, blurred):
    """Half-maximum FWHM (pixels) of the PSF turning ``sharp`` into ``blurred`` (noise-free images).

    The renderer convolves by FFT, so the transfer function is the ratio of the two images'
    Fourier transforms wherever the sharp one carries signal; its inverse is the PSF
    centred on pixel (0, 0), whose pixels are f(r) of the circular profile.
    """
    fs, fb = np.fft.rfft2(sharp.astype(np.float64)), np.fft.rfft2(blurred.astype(np.float64))
    keep = np.abs(fs) > 1e-4 * np.abs(fs[0, 0])
    psf = np.fft.irfft2(np.where(keep, fb / np.where(keep, fs, 1), 0), s=sharp.shape)
    h, w = sharp.shape
    y, x = np.minimum(np.arange(h), h - np.arange(h))[:, None], np.minimum(np.arange(w), w - np.arange(w))[None]
    r, v = np.hypot(y, x).ravel(), psf.ravel() / psf[0, 0]
    order = np.argsort(r, kind="stable")
    r, v = r[order], v[order]
    i = int(np.argmax(v < 0.5))
    return 2 * (r[i - 1] + (v[i - 1] - 0.5) / (v[i - 1] - v[i]) * (r[i] - r[i - 1]))


def test_seeing_sets_the_psf_fwhm_measured_on_images():
    kw = dict(n_samples=30, image_size=32, bands="r", noise=False, random_state=0)
    sharp, _ = make_galaxy_survey(seeing=1e-3, **kw)  # the same galaxies without seeing
    measured = {}
    for seeing in (CROSS_SURVEY_CONDITIONS["A"]["seeing"], CROSS_SURVEY_CONDITIONS["B"]["seeing"]):
        images, cat = make_galaxy_survey(seeing=seeing, **kw)
        fwhm = np.array([_psf_fwhm_px(a[0], b[0]) for a, b in zip(sharp, images)]) * SCALE
        # each galaxy's PSF is the one its catalogue row states (the double Gaussian's half
        # maximum is 3.5% inside the nominal FWHM), and the median seeing is the parameter
        np.testing.assert_allclose(fwhm / cat["seeing_fwhm_r"].to_numpy(), 0.965, atol=0.02)
        assert 0.88 < np.median(fwhm) / seeing < 1.05
        measured[seeing] = fwhm
    # the same galaxies: each one's PSF widens by the ratio of the two seeings
    np.testing.assert_allclose(measured[2.2] / measured[1.35], 2.2 / 1.35, rtol=0.02)


def test_sky_noise_scale_sets_the_background_noise_measured_on_blank_pixels():
    kw = dict(n_samples=40, image_size=32, bands="gri", random_state=1)
    clean, _ = make_galaxy_survey(noise=False, **kw)
    found, masks = {}, {}
    for scale in (1.0, 3.0):
        images, cat = make_galaxy_survey(sky_noise_scale=scale, **kw)
        for j, band in enumerate("gri"):
            sky = cat[f"sky_sigma_{band}"].to_numpy()[:, None, None]
            blank = clean[:, j] < 0.1 * sky  # pixels where the galaxy adds no measurable flux or noise
            assert blank.sum() > 4000
            pulls = (images[:, j] / sky)[blank]  # noise in units of each image's catalogue sky sigma
            assert np.std(pulls) == pytest.approx(1.0, abs=0.04)
            # the same pixels at both depths (those blank at the shallower one): a mask that widened with
            # the sky took in other galaxies' outskirts in another mixture (3.16x instead of 3x once the
            # survey gained extended, bulge-dominated red galaxies, issue 30)
            same = masks.setdefault(band, blank)
            measured = mad_std((images - clean)[:, j][same])
            found[scale, band] = measured
            # the median sky noise is the SDSS sky noise of the band times the parameter
            assert np.median(sky) == pytest.approx(scale * SDSS_SKY_SIGMA["ugriz".index(band)], rel=0.1)
    for band in "gri":
        assert found[3.0, band] / found[1.0, band] == pytest.approx(3.0, rel=0.05)


def test_ebv_dims_each_band_by_its_extinction_coefficient():
    kw = dict(n_samples=20, image_size=24, bands="ugriz", noise=False, random_state=2)
    clear, _ = make_galaxy_survey(ebv=0.0, **kw)
    dusty, cat = make_galaxy_survey(ebv=0.3, **kw)
    ratio = dusty.sum(axis=(2, 3)) / clear.sum(axis=(2, 3))
    expected = 10 ** (-0.4 * np.array([EXTINCTION_COEFFICIENTS["sdss"][b] for b in "ugriz"]) * 0.3)
    np.testing.assert_allclose(ratio, np.broadcast_to(expected, ratio.shape), rtol=1e-4)
    assert (cat["ebv"] == 0.3).all()


def test_survey_pair_same_galaxies_under_the_two_conditions():
    xa, xb, ca, cb = make_survey_pair(60, 24, "gri", random_state=0)
    assert xa.shape == xb.shape == (60, 3, 24, 24)
    for column in ("morphology_class", "redshift", "half_light_radius_arcsec"):
        np.testing.assert_array_equal(ca[column], cb[column])
    a, b = CROSS_SURVEY_CONDITIONS["A"], CROSS_SURVEY_CONDITIONS["B"]
    assert ca["ebv"].between(*a["ebv"]).all() and cb["ebv"].between(*b["ebv"]).all()
    np.testing.assert_allclose(cb["seeing_fwhm_r"] / ca["seeing_fwhm_r"], b["seeing"] / a["seeing"])
    np.testing.assert_allclose(cb["sky_sigma_g"] / ca["sky_sigma_g"], b["sky_noise_scale"] / a["sky_noise_scale"])
    # total fluxes (noise averages out over the stamp) follow each galaxy's extinction difference
    rg = EXTINCTION_COEFFICIENTS["sdss"]["g"]
    flux_ratio = xb[:, 0].sum(axis=(1, 2)) / xa[:, 0].sum(axis=(1, 2))
    expected = 10 ** (-0.4 * rg * (cb["ebv"] - ca["ebv"]).to_numpy())
    assert np.median(flux_ratio / expected) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ValueError, match="unknown keys"):
        make_survey_pair(10, 16, conditions_b={"fwhm": 2.0})


@pytest.mark.parametrize("kw, match", [({"seeing": 0.0}, "seeing"), ({"seeing": True}, "seeing"),
                                       ({"sky_noise_scale": -1.0}, "sky_noise_scale"),
                                       ({"sky_noise_scale": float("nan")}, "sky_noise_scale")])
def test_observing_condition_parameters_are_checked(kw, match):
    with pytest.raises(ValueError, match=match):
        make_galaxy_survey(4, image_size=16, **kw)


def test_augmentations_span_the_differences_between_the_surveys():
    _, _, ca, cb = make_survey_pair(60, 24, "gri", random_state=0)
    aug = cross_survey_augmentations(ca, cb, "gri")
    mods = list(aug.modules())
    blur = next(m for m in mods if isinstance(m, PSFBlur))
    noise = next(m for m in mods if isinstance(m, GaussianNoise))
    red = next(m for m in mods if isinstance(m, GalacticReddening))
    psf = [np.median(c["seeing_fwhm_r"]) / 2.3548 / SCALE for c in (ca, cb)]
    assert blur.sigma.high[1] == pytest.approx(np.sqrt(psf[1] ** 2 - psf[0] ** 2))
    sky = [np.median(c["sky_sigma_i"]) for c in (ca, cb)]
    assert noise.sigma.high[2] == pytest.approx(np.sqrt(sky[1] ** 2 - sky[0] ** 2))
    assert red.difference and red.new_ebv.high == pytest.approx(max(cb["ebv"]) - min(ca["ebv"]))
    assert list(red.coefficients) == [EXTINCTION_COEFFICIENTS["sdss"][b] for b in "gri"]


METHODS = ["SSL frozen + logistic (generic aug.)", "SSL frozen + logistic (survey aug.)",
           "SSL frozen + kNN (generic aug.)", "SSL frozen + kNN (survey aug.)", "SSL fine-tuned (generic aug.)",
           "SSL fine-tuned (survey aug.)", "supervised CNN", "supervised CNN + AdaBN", "supervised CNN (generic aug.)",
           "supervised CNN (survey aug.)", "raw-pixel PCA + logistic"]
NETWORKS = [m for m in METHODS if "fine-tuned" in m or "CNN" in m]
TINY = dict(image_size=16, pretrain_epochs=1, finetune_steps=2, width=4, batch_size=16, random_state=0)


def test_study_tiny_configuration_output():
    out = cross_survey_study(n_samples=40, n_labels=(4, 6), n_repeats=2, catalogue_baselines=False, **TINY)
    res = out["results"]
    assert list(res.columns) == ["estimator", "n_labels", "repeat", "test", "metric", "score", "fit_time", "n_steps",
                                 "params", "n_candidates"]
    assert res["params"].eq("").all() and res["n_candidates"].eq(1).all()  # untuned (tune=False): no search
    assert list(dict.fromkeys(res["estimator"])) == METHODS
    assert len(res) == len(METHODS) * 2 * 2 * 2  # budgets x repeats x test sets
    assert set(res["test"]) == {"A", "B"} and res["score"].between(0, 1).all()
    networks = res[res["estimator"].isin(NETWORKS)]
    assert networks.groupby(["n_labels", "repeat"])["n_steps"].nunique().eq(1).all()  # same optimiser steps
    assert (networks["n_steps"] >= 2).all()
    assert res.loc[res["estimator"].str.startswith("SSL frozen + kNN"), "n_steps"].isna().all()
    # AdaBN re-estimates the statistics of the supervised CNN's very fit: its scores on A are that CNN's
    on_a = res[res["test"] == "A"].pivot_table(index=["n_labels", "repeat"], columns="estimator", values="score")
    assert on_a["supervised CNN + AdaBN"].equals(on_a["supervised CNN"])
    assert set(out["embedders"]) == {"generic", "survey"}
    summary = out["summary"]
    assert list(summary.columns) == ["estimator", "n_labels", "mean_A", "se_A", "mean_B", "se_B", "drop", "se_drop",
                                     "n_repeats"]
    assert len(summary) == len(METHODS) * 2 and (summary["n_repeats"] == 2).all()
    assert all(isinstance(s, str) for s in out["findings"]) and "too few to compare" in out["findings"][1]
    assert set(out["timings"]) == {"survey", "pretrain", "fits"}
    assert out["conditions"]["B"] == CROSS_SURVEY_CONDITIONS["B"]


def test_study_is_reproducible_whatever_the_global_torch_generator():
    import torch

    kw = dict(n_samples=40, n_labels=(6,), n_repeats=1, catalogue_baselines=False,
              methods=("SSL frozen + logistic (survey aug.)", "supervised CNN + AdaBN"), **TINY)
    torch.manual_seed(1)
    first = cross_survey_study(**kw)["results"]
    torch.manual_seed(2)  # another state of the global generator: module instances would differ
    second = cross_survey_study(**kw)["results"]
    np.testing.assert_array_equal(first["score"], second["score"])


def test_study_catalogue_rows_score_both_surveys():
    rows = ["supervised CNN", "photometry + morphology + GB", "constant (majority class)"]
    out = cross_survey_study(n_samples=32, n_labels=(4,), n_repeats=1, target="redshift", methods=rows, **TINY)
    res = out["results"]
    assert list(dict.fromkeys(res["estimator"])) == rows
    assert len(res) == len(rows) * 2 and "features" in out["timings"]
    assert res["n_labels"].eq(4).all() and res["score"].between(0, 1).all()


def test_study_takes_given_surveys_and_balanced_accuracy():
    xa, xb, ca, cb = make_survey_pair(40, 16, "gri", random_state=3)
    y = ca["morphology_class"].to_numpy()
    aug = cross_survey_augmentations(ca, cb, "gri")
    out = cross_survey_study((xa, y), (xb, y), augmentations=aug, n_labels=(4,), n_repeats=1,
                             methods=["SSL frozen + logistic (survey aug.)", "supervised CNN"],
                             metric="balanced_accuracy", catalogue_baselines=False,
                             **{k: v for k, v in TINY.items() if k != "image_size"})
    res = out["results"]
    assert set(res["metric"]) == {"balanced_accuracy"} and list(dict.fromkeys(res["estimator"])) == [
        "SSL frozen + logistic (survey aug.)", "supervised CNN"]
    assert out["augmentations"]["survey"] is aug and set(out["embedders"]) == {"survey"}
    assert out["conditions"] == {"A": None, "B": None} and out["summary"]["n_repeats"].eq(1).all()


def test_study_checks_its_input():
    x = np.zeros((20, 3, 16, 16), np.float32)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="augmentations"):
        cross_survey_study((x, y), (x, y))
    with pytest.raises(ValueError, match="both"):
        cross_survey_study((x, y), None)
    with pytest.raises(ValueError, match="metric"):
        cross_survey_study(metric="roc_auc")
    with pytest.raises(ValueError, match="target"):
        cross_survey_study(target="colour")
    with pytest.raises(ValueError, match="methods="):
        cross_survey_study(n_samples=40, image_size=16, methods=["SSL frozen + SVM"])
    with pytest.raises(ValueError, match="methods="):
        cross_survey_study(n_samples=40, image_size=16, methods=["constant (majority class)"],
                           catalogue_baselines=False)
    with pytest.raises(ValueError, match="each of the 4 classes"):
        cross_survey_study(n_samples=40, image_size=16, n_labels=(3,))


def _results(a, b, name="m", n_labels=10):
    rows = [dict(estimator=name, n_labels=n_labels, repeat=r, test=t, metric="accuracy", score=s)
            for r, (sa, sb) in enumerate(zip(a, b)) for t, s in (("A", sa), ("B", sb))]
    return pd.DataFrame(rows)


def test_drop_on_known_numbers():
    res = _results([0.9, 0.8, 0.7], [0.6, 0.6, 0.4])
    s = summarize_cross_survey(res).iloc[0]
    assert s["mean_A"] == pytest.approx(0.8) and s["se_A"] == pytest.approx(0.1 / np.sqrt(3))
    assert s["mean_B"] == pytest.approx(0.5333333) and s["drop"] == pytest.approx(0.2666667)
    drops = np.array([0.3, 0.2, 0.3])
    assert s["se_drop"] == pytest.approx(drops.std(ddof=1) / np.sqrt(3)) and s["n_repeats"] == 3
    with pytest.raises(ValueError, match="test set"):
        summarize_cross_survey(res[res["test"] == "A"])


def test_findings_follow_the_paired_rule():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.6, 5)
    res = pd.concat([
        _results(base + 0.20, base + 0.19, "SSL frozen + logistic (survey aug.)"),  # keeps its score on B
        _results(base + 0.25, base + 0.05 + 0.01 * rng.standard_normal(5), "supervised CNN"),  # loses 0.2
        _results(base + 0.25, base + 0.06 + 0.01 * rng.standard_normal(5), "supervised CNN (survey aug.)"),
    ])
    lines = cross_survey_findings(res)
    b_line = next(line for line in lines if line.startswith("B-test"))
    a_line = next(line for line in lines if line.startswith("A-test"))
    d_line = next(line for line in lines if line.startswith("drop"))
    assert "SSL frozen + logistic (survey aug.) (0.7" in b_line and " beats " in b_line
    assert " is behind " in a_line
    assert " beats " in d_line and "(drop)" in d_line
    assert "B-test: wins 1" in lines[0] and "A-test: loses 1" in lines[0] and "drop A-B: wins 1" in lines[0]
    few = cross_survey_findings(res[res["repeat"] < 3])
    assert all("too few to compare" in line for line in few[1:])


def test_plot_cross_survey_draws_a_and_b_side_by_side():
    from sklearn_ssl.plotting import plot_cross_survey

    res = pd.concat([_results([0.8, 0.7], [0.5, 0.6], name, n) for name in ("SSL", "CNN") for n in (10, 30)])
    fig = plot_cross_survey(res)
    axes = fig.get_axes()
    assert len(axes) == 2 and axes[0].get_title().startswith("A-test") and axes[1].get_title().startswith("B-test")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["SSL", "CNN"]  # one legend below both panels
    assert axes[0].get_ylim() == axes[1].get_ylim()  # one y scale for both surveys
    with pytest.raises(ValueError, match="'test' column"):
        plot_cross_survey(res.drop(columns="test"))
