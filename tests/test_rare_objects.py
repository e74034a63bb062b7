"""Rare-object search: SimilaritySearch.score_samples and the survey's injected strong lenses."""

import numpy as np
import pytest

from sklearn_ssl import SimilaritySearch, make_galaxy_survey


def test_score_samples_is_minus_the_mean_distance_to_the_nearest_neighbours():
    Z = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [10.0, 10.0]])
    search = SimilaritySearch(n_neighbors=2, metric="euclidean").fit(Z)
    # queries: distances to the two nearest indexed points, computed by hand
    queries = np.array([[0.0, 0.0], [20.0, 10.0]])
    np.testing.assert_allclose(search.score_samples(queries), [-(0 + 1) / 2, -(10 + np.hypot(19, 9)) / 2])
    # the indexed points themselves: each without itself; the isolated one scores lowest
    scores = search.score_samples()
    np.testing.assert_allclose(scores[:4], -1.0)
    assert scores[4] == pytest.approx(-(np.hypot(9, 9) + np.hypot(9, 10)) / 2)
    assert np.argmin(scores) == 4  # the lower, the more abnormal (LocalOutlierFactor's convention)


def test_score_samples_refuses_other_feature_counts():
    search = SimilaritySearch().fit(np.random.default_rng(0).normal(size=(20, 4)))
    with pytest.raises(ValueError, match="features"):
        search.score_samples(np.zeros((2, 3)))


def test_rare_fraction_injects_lenses_without_changing_other_galaxies():
    X0, cat0 = make_galaxy_survey(200, 16, random_state=5)
    X, cat = make_galaxy_survey(200, 16, rare_fraction=0.02, random_state=5)
    lens = cat["strong_lens"].to_numpy()
    assert lens.sum() == 4 and (cat.loc[lens, "morphology"] == "smooth").all()  # hosts: the class without disk structure
    np.testing.assert_array_equal(X[~lens], X0[~lens])
    assert list(cat.columns) == [*cat0.columns, "strong_lens"]
    for col in ("redshift", "morphology_class", "mag_r"):
        np.testing.assert_array_equal(cat.loc[~lens, col], cat0.loc[~lens, col])
    # the arcs add flux, most in the blue bands: a lensed blue star-forming source
    gained = (X[lens] - X0[lens]).sum(axis=(2, 3))
    assert (gained > 0).all()
    assert (cat0.loc[lens, "mag_g"] - cat.loc[lens, "mag_g"] > cat0.loc[lens, "mag_i"] - cat.loc[lens, "mag_i"]).all()
    assert "strong_lens" not in cat0.columns


@pytest.mark.parametrize("rate", [-0.1, 0.6, "a"])
def test_bad_rare_fraction_is_refused(rate):
    with pytest.raises(ValueError, match="rare_fraction"):
        make_galaxy_survey(10, 8, rare_fraction=rate, random_state=0)
