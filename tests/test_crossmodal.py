"""CrossModalEmbedder: CLIP's loss, CCA's two-block API, NaN rows, and learning on survey spectra."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl import CrossModalEmbedder, make_galaxy_survey
from sklearn_ssl.datasets import SPECTRUM_WAVELENGTHS
from sklearn_ssl.nn.losses import clip_loss


def small(**params):
    return CrossModalEmbedder(**{**dict(max_epochs=2, batch_size=16, n_components=8, random_state=0), **params})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2, 8, 8)).astype(np.float32)
    Y = rng.normal(size=(40, 12)) * 5 + 3
    return X, Y


def test_clip_loss_matches_a_direct_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    scale = torch.tensor(math.log(2.0))
    an = a / a.norm(dim=1, keepdim=True)
    bn = b / b.norm(dim=1, keepdim=True)
    logits = (an @ bn.T).numpy() * 2.0
    rows = -np.mean([logits[i, i] - np.log(np.exp(logits[i]).sum()) for i in range(3)])
    cols = -np.mean([logits[i, i] - np.log(np.exp(logits[:, i]).sum()) for i in range(3)])
    assert clip_loss(a, b, scale).item() == pytest.approx((rows + cols) / 2, rel=1e-6)


@parametrize_with_checks([small()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_two_block_transform_feature_names_and_pandas_output(data):
    X, Y = data
    cm = small().fit(X, Y)
    Zx = cm.transform(X)
    Zx2, Zy = cm.transform(X, Y)
    assert Zx.shape == Zy.shape == (len(X), 8)
    np.testing.assert_array_equal(Zx, Zx2)
    np.testing.assert_allclose(np.linalg.norm(Zx, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(Zy, axis=1), 1, rtol=1e-5)
    assert list(cm.get_feature_names_out()) == [f"crossmodalembedder{i}" for i in range(8)]
    out = clone(cm).set_output(transform="pandas").fit(X, Y).transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(cm.get_feature_names_out())
    np.testing.assert_array_equal(cm.fit_transform(X, Y), cm.transform(X))  # one block, so Pipelines work


def test_Y_is_standardised_with_the_paired_training_rows(data):
    X, Y = data
    Y = Y.copy()
    Y[:10] = np.nan
    cm = small().fit(X, Y)
    np.testing.assert_allclose(cm.y_mean_, Y[10:].mean(axis=0))
    np.testing.assert_allclose(cm.y_scale_, Y[10:].std(axis=0))
    assert cm.n_pairs_ == 30
    _, Zy = cm.transform(X, Y)
    assert np.isnan(Zy[:10]).all() and np.isfinite(Zy[10:]).all()
    # a shifted and rescaled Y trains the same model: only standardised values reach the net
    np.testing.assert_allclose(small().fit(X, 10 * Y - 7).transform(X), cm.transform(X), rtol=1e-5, atol=1e-6)


def test_unpaired_images_train_the_image_side(data):
    X, Y = data
    Y = Y.copy()
    Y[2:] = np.nan  # two pairs: the image side learns almost only from the views
    with_views = small(max_epochs=3).fit(X, Y)
    without = small(max_epochs=3, image_weight=0.0).fit(X, Y)
    assert np.isfinite(with_views.net_.history[:, "train_loss"]).all()
    assert not np.allclose(with_views.transform(X), without.transform(X))


def test_temperature_is_learned_and_can_be_frozen(data):
    X, Y = data
    assert small(max_epochs=3).fit(X, Y).temperature_ != pytest.approx(0.07)
    assert small(max_epochs=3, learn_temperature=False).fit(X, Y).temperature_ == pytest.approx(0.07)


def test_spectrum_normalisation_uses_each_rows_own_mean_and_std(data):
    """AstroCLIP's SpecFormer.preprocess: (row - mean) / std per spectrum; mean and std become two more inputs."""
    X, Y = data
    cm = small(y_normalize="spectrum").fit(X, Y)
    out = cm._check_Y(np.array([[1.0, 2.0, 3.0] + [2.0] * 9]), 1, reset=False)
    row = np.array([1.0, 2.0, 3.0] + [2.0] * 9)
    np.testing.assert_allclose(out[0, :12], (row - row.mean()) / row.std(), rtol=1e-6)
    np.testing.assert_allclose(out[0, 12:], (np.array([row.mean(), row.std()]) - cm.y_mean_[12:]) / cm.y_scale_[12:],
                               rtol=1e-5)
    assert cm.n_features_y_ == 12 and cm.y_mean_.shape == (14,)
    np.testing.assert_array_equal(cm.y_mean_[:12], 0.0)
    # a brighter copy of each spectrum: the same shape input; only the brightness feature moves
    a, b = cm._check_Y(Y, len(Y), reset=False), cm._check_Y(10 * Y, len(Y), reset=False)
    np.testing.assert_allclose(a[:, :12], b[:, :12], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[:, 12:], b[:, 12:])
    with pytest.raises(ValueError, match="Y has 5 features.*fitted with 12"):
        cm.transform(X, Y[:, :5])


def test_astroclip_recipe_fixed_logit_scale_and_frozen_pretrained_image_encoder(data):
    from sklearn.exceptions import NotFittedError
    from sklearn.frozen import FrozenEstimator

    from sklearn_ssl import ContrastiveEmbedder
    from sklearn_ssl.estimators import ASTROCLIP

    X, Y = data
    emb = ContrastiveEmbedder(encoder="small", max_epochs=1, batch_size=16, random_state=0).fit(X)
    before = {k: v.clone() for k, v in emb.encoder_.state_dict().items()}
    cm = small(image_encoder=FrozenEstimator(emb), max_epochs=3, **ASTROCLIP).fit(X, Y)
    assert cm.temperature_ == pytest.approx(1 / 15.5) and not cm.net_.logit_scale_.value.requires_grad
    frozen = cm.net_.module_.encoder
    for k, v in frozen.state_dict().items():  # weights and batch-norm statistics as pretrained
        torch.testing.assert_close(v.cpu(), before[k])
    for k, v in emb.encoder_.state_dict().items():  # the embedder itself is untouched
        torch.testing.assert_close(v, before[k])
    assert np.isfinite(cm.net_.history[:, "train_loss"]).all()
    assert cm.net_.history[-1, "train_loss"] < cm.net_.history[0, "train_loss"]  # the projection learns
    assert cm.transform(X).shape == (len(X), 8)
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        small(image_encoder=clone(emb)).fit(X, Y)
    with pytest.raises(ValueError, match="shape"):
        small(image_encoder=emb).fit(X[:, :1], Y)


@pytest.mark.parametrize("encoder", ["mlp", "cnn1d"])
def test_vector_encoders(data, encoder):
    X, Y = data
    cm = small(vector_encoder=encoder).fit(X, Y)
    assert np.isfinite(cm.transform(X, Y)[1]).all()


@pytest.mark.parametrize(
    "Y, match",
    [
        (None, "requires y to be passed"),
        ("partial", "partly NaN"),
        ("nan", "at least 2 are needed"),
        ("short", "same number of rows"),
    ],
)
def test_bad_Y_raises_clear_errors(data, Y, match):
    X, Y0 = data
    Y = {"partial": np.where(np.eye(40, 12, dtype=bool), np.nan, Y0), "nan": np.full_like(Y0, np.nan),
         "short": Y0[:10], None: None}[Y]
    with pytest.raises(ValueError, match=match):
        small().fit(X, Y)


def test_transform_Y_with_other_feature_count_is_refused(data):
    X, Y = data
    with pytest.raises(ValueError, match="Y has 5 features.*fitted with 12"):
        small().fit(X, Y).transform(X, Y[:, :5])


# -- the survey's model spectra ------------------------------------------------------------
def test_survey_spectra_match_the_photometry_and_leave_the_survey_unchanged():
    X0, cat0 = make_galaxy_survey(60, 16, random_state=3)
    X, cat, S = make_galaxy_survey(60, 16, spectra=True, random_state=3)
    np.testing.assert_array_equal(X, X0)
    pd.testing.assert_frame_equal(cat, cat0)
    assert S.shape == (60, len(SPECTRUM_WAVELENGTHS)) and S.dtype == np.float32
    in_r = (SPECTRUM_WAVELENGTHS > 5600) & (SPECTRUM_WAVELENGTHS < 6900)
    ratio = S[:, in_r].mean(axis=1) / 10 ** (-0.4 * (cat["mag_r"] - 22.5))
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    # the 4000 A break moves with redshift: the spectrum is redder above (1+z) 4000 A than below
    S_again = make_galaxy_survey(60, 16, spectra=True, random_state=3)[2]
    np.testing.assert_array_equal(S, S_again)


# -- learning: retrieval and zero-shot photo-z ---------------------------------------------
# measured once (shared 2-core machine): top-1 0.17, top-5 0.56, error / baseline 0.815; about a minute of
# CPU time (250 s on the heavily shared machine), hence slow: run with -m slow
@pytest.mark.slow
def test_images_retrieve_their_spectra_and_zero_shot_photoz_beats_the_median():
    X, cat, S = make_galaxy_survey(500, 8, spectra=True, random_state=0)  # 8 px: colours carry redshift
    z = cat["redshift"].to_numpy()
    X_train, X_test, S_train, S_test, z_train, z_test = train_test_split(X, S, z, test_size=100, random_state=0)
    cm = CrossModalEmbedder(max_epochs=10, batch_size=64, random_state=0).fit(X_train, S_train)
    Z_img, Z_spec = cm.transform(X_test, S_test)
    sim = Z_img @ Z_spec.T
    rank = (sim > np.diag(sim)[:, None]).sum(axis=1)  # how many spectra beat the right one
    top1, top5 = (rank < 1).mean(), (rank < 5).mean()
    assert top1 > 0.05 and top5 > 0.2, (top1, top5)  # chance: 0.01 and 0.05
    knn = KNeighborsRegressor(n_neighbors=10).fit(cm.transform(X_train), z_train)
    error = np.abs(knn.predict(Z_img) - z_test).mean()
    baseline = np.abs(np.median(z_train) - z_test).mean()
    assert error < 0.9 * baseline, (error, baseline)


def test_a_sentinel_pixel_does_not_wipe_an_image_band(data):
    # the same robust per-band statistics as ContrastiveEmbedder and the fine-tuners
    X, Y = data
    poisoned = X.copy()
    poisoned[3, 0, 2, 2] = 1e30
    with pytest.warns(UserWarning, match=r"dominated by a few extreme pixels \(band 0"):
        # no epoch: a 1e30 pixel trained on makes the weights non-finite, which stops training (divergence check)
        model = small(max_epochs=0, normalize="standard").fit(poisoned, Y)
    np.testing.assert_allclose(model.net_.normalizer_.scale.numpy(), X.std(axis=(0, 2, 3)), rtol=0.05)
