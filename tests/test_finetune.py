import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.nn.encoders import SmallCNN
from sklearn_ssl.estimators._finetune import FineTunedClassifier, FineTunedRegressor
from sklearn_ssl.evaluation.metrics import photoz_bias, sigma_mad
from sklearn_ssl.estimators._photoz import PhotoZRegressor, redshift_bins

_CHECK_KW = dict(max_epochs=2, batch_size=100, lr=3e-2, random_state=0)
@parametrize_with_checks(
    [FineTunedClassifier(**_CHECK_KW), FineTunedRegressor(**_CHECK_KW),
     # the common checks use targets in roughly [-140, 140]: bins must cover them
     PhotoZRegressor(n_bins=300, z_min=-150, z_max=150, **_CHECK_KW)],
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _blobs(n, rng, size=8):
    """Two-band Gaussian blobs: class = size (1 or 2 px), redshift = log band ratio / 4."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    cls = rng.integers(0, 2, n)
    sig = np.where(cls == 1, 2.0, 1.0) * rng.uniform(0.9, 1.1, n)
    z = rng.uniform(0.02, 0.38, n)
    flux = rng.uniform(1, 3, n)
    prof = np.exp(-(xx**2 + yy**2)[None] / (2 * sig[:, None, None] ** 2))
    prof = prof / prof.sum((1, 2), keepdims=True) * flux[:, None, None]
    X = np.stack([prof, prof * np.exp(4 * z)[:, None, None]], 1) + rng.normal(0, 0.005, (n, 2, size, size))
    return X.astype(np.float32), cls, z


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return _blobs(240, rng), _blobs(160, rng)


@pytest.fixture(scope="module")
def embedder(data):
    (X, _, _), _ = data
    return ContrastiveEmbedder(encoder=SmallCNN(2, width=8), max_epochs=1, batch_size=80, random_state=0).fit(X)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pretrained_is_copied_and_left_untouched(data, embedder):
    (X, c, _), _ = data
    before = _state(embedder.encoder_)
    clf = FineTunedClassifier(embedder, max_epochs=0, random_state=0).fit(X, c)
    assert _same(_state(clf.encoder_), before)  # starts from the pretrained weights
    assert clf.encoder_ is not embedder.encoder_
    assert clf.net_.augmentations_ is not embedder.net_.augmentations_
    assert type(clf.net_.augmentations_) is type(embedder.net_.augmentations_)
    clf.set_params(max_epochs=2).fit(X, c)
    assert not _same(_state(clf.encoder_), before)  # fine-tuned
    assert _same(_state(embedder.encoder_), before)  # the embedder is untouched


def test_frozen_encoder_is_a_probe(data, embedder):
    (X, c, _), _ = data
    before = _state(embedder.encoder_)
    probe = FineTunedClassifier(embedder, freeze_encoder=True, max_epochs=2, random_state=0).fit(X, c)
    assert _same(_state(probe.encoder_), before)  # weights and batch-norm statistics
    assert isinstance(probe.net_.module_.head, torch.nn.Linear)


def test_encoder_learning_rate_group(data, embedder):
    (X, c, _), _ = data
    clf = FineTunedClassifier(embedder, encoder_lr=1e-5, lr=1e-2, lr_schedule=None, max_epochs=1).fit(X, c)
    groups = clf.net_.optimizer_.param_groups
    n_enc = sum(p.numel() for p in clf.encoder_.parameters())
    assert sorted(g["lr"] for g in groups) == [1e-5, 1e-2]
    enc_group = next(g for g in groups if g["lr"] == 1e-5)
    assert sum(p.numel() for p in enc_group["params"]) == n_enc


def test_shape_mismatch_with_pretrained(data, embedder):
    (X, c, _), _ = data
    with pytest.raises(ValueError, match="pretrained embedder was fitted"):
        FineTunedClassifier(embedder).fit(X[:, :, :6, :6], c)


def test_fine_tuning_beats_frozen_probe(data, embedder):
    (X, c, _), (Xt, ct, _) = data
    kw = dict(max_epochs=8, batch_size=40, random_state=0)
    probe = FineTunedClassifier(embedder, freeze_encoder=True, **kw).fit(X, c).score(Xt, ct)
    tuned = FineTunedClassifier(embedder, **kw).fit(X, c).score(Xt, ct)
    assert tuned > probe
    assert tuned > 0.9


def test_supervised_baseline_is_same_class_from_scratch(data):
    (X, c, _), (Xt, ct, _) = data
    base = FineTunedClassifier(None, encoder=SmallCNN(2, width=8), max_epochs=2, random_state=0).fit(X, c)
    assert isinstance(base.encoder_, SmallCNN)
    assert base.predict_proba(Xt).shape == (len(Xt), 2)


def test_photoz_bin_centre_convention():
    edges, centres = redshift_bins(180, 0.0, 0.4)
    assert edges.shape == (181,) and centres.shape == (180,)
    np.testing.assert_allclose(centres[:2], [0.2 / 180, 0.6 / 180])
    np.testing.assert_allclose(centres[-1], 0.4 - 0.2 / 180)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    z = rng.uniform(0, 0.4, 20)
    model = PhotoZRegressor(max_epochs=0, random_state=0).fit(X, z)
    np.testing.assert_allclose(model.bin_centres_, centres)
    head = model.net_.module_.head
    with torch.no_grad():  # a PDF concentrated on bin 17 must predict its centre, not its left edge
        head.weight.zero_()
        head.bias.fill_(-1e4)
        head.bias[17] = 1e4
    np.testing.assert_allclose(model.predict(X), 0.4 * 17.5 / 180, rtol=1e-6)
    pdf = model.predict_pdf(X)
    assert pdf.shape == (20, 180)
    np.testing.assert_allclose(pdf.sum(1), 1.0, rtol=1e-6)
    with torch.no_grad():  # a flat PDF predicts the middle of the range
        head.bias.zero_()
    np.testing.assert_allclose(model.predict(X), 0.2, rtol=1e-6)


@pytest.mark.parametrize("bad", [0.4, -0.01])  # NaN has its own error (test_robustness_adversarial.py)
def test_photoz_targets_out_of_range(bad):
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"outside \[z_min, z_max\)"):
        PhotoZRegressor(max_epochs=0).fit(X, [0.0, 0.1, 0.2, bad])


def test_photoz_point_estimates_have_known_answers():
    from sklearn_ssl.estimators import point_estimates

    edges = np.linspace(0.0, 0.4, 5)  # bins of 0.1, centres 0.05 .. 0.35
    pdf = np.array([[0.1, 0.2, 0.6, 0.1],    # mean 0.22, median 0.2 + 0.2/0.6 * 0.1, mode 0.25
                    [0.5, 0.0, 0.0, 0.5],    # mean 0.2, median 0.1 (end of bin 0), mode 0.05 (first maximum)
                    [0.0, 0.0, 0.0, 1.0]])   # all in the last bin: 0.35, 0.35, 0.35
    np.testing.assert_allclose(point_estimates(pdf, edges, "mean"), [0.22, 0.2, 0.35])
    np.testing.assert_allclose(point_estimates(pdf, edges, "median"), [0.2 + 0.2 / 6, 0.1, 0.35])
    np.testing.assert_allclose(point_estimates(pdf, edges, "mode"), [0.25, 0.05, 0.35])
    with pytest.raises(ValueError, match="edges"):
        point_estimates(pdf, edges[:-1])
    rng = np.random.default_rng(0)
    X, z = rng.normal(size=(20, 3)), rng.uniform(0, 0.4, 20)
    model = PhotoZRegressor(max_epochs=0, point_estimate="median", random_state=0).fit(X, z)
    head = model.net_.module_.head
    with torch.no_grad():  # two equal bins, 10 and 30: mean and median 0.4 * 20.5 / 180 ... differ from the mode
        head.weight.zero_()
        head.bias.fill_(-1e4)
        head.bias[10] = head.bias[30] = 1e4
    np.testing.assert_allclose(model.predict(X), 0.4 * 11 / 180, rtol=1e-6)  # the end of bin 10
    np.testing.assert_allclose(model.set_params(point_estimate="mean").predict(X), 0.4 * 20.5 / 180, rtol=1e-6)
    np.testing.assert_allclose(model.set_params(point_estimate="mode").predict(X), 0.4 * 10.5 / 180, rtol=1e-6)


def test_photoz_out_of_range_clip_puts_targets_in_the_end_bins():
    X = np.zeros((4, 3))
    z = [-0.05, 0.1, 0.4, 0.7]
    model = PhotoZRegressor(max_epochs=0, n_bins=4, out_of_range="clip", random_state=0).fit(X, z)
    assert model.bin_centres_.shape == (4,)
    targets, n_classes, _ = model._prepare_targets(np.array(z))  # the bins the head is trained on
    assert n_classes == 4 and targets.tolist() == [0, 1, 3, 3]
    with pytest.raises(ValueError, match="out_of_range='clip'"):
        PhotoZRegressor(max_epochs=0, n_bins=4).fit(X, [-0.05, 0.1, 0.4, 0.7])


def test_per_band_extinction_is_converted_to_ebv():
    """Hayat et al.'s e_bv input holds SDSS DR12's A_ugriz = R_dr12 * E(B-V) (their
    sdss_dr12_galactic_reddening.py: E(B-V) = mean(A / R_dr12)): a model given it, or the E(B-V),
    predicts the same."""
    from sklearn_ssl.augment import CATALOGUE_EXTINCTION, EXTINCTION, ebv_from_extinction

    ebv = np.array([0.01, 0.05, 0.3])
    a = ebv[:, None] * np.array(CATALOGUE_EXTINCTION["sdss_dr12"])[None]
    np.testing.assert_allclose(ebv_from_extinction(a), ebv)
    np.testing.assert_allclose(ebv_from_extinction(a @ np.diag([4.239, 3.303, 2.285, 1.698, 1.263])
                                                   / np.array(CATALOGUE_EXTINCTION["sdss_dr12"]), "sdss"), ebv)
    b = ebv[:, None] * np.array(EXTINCTION["decals"])[None]
    np.testing.assert_allclose(ebv_from_extinction(b, coefficients="decals"), ebv)
    with pytest.raises(ValueError, match=r"shape \(n_objects, 5\)"):
        ebv_from_extinction(a[:, :3])
    with pytest.raises(ValueError, match="Unknown extinction coefficients"):
        ebv_from_extinction(a, "sdss_dr7")
    rng = np.random.default_rng(0)
    X, z = rng.uniform(0, 1, size=(12, 5, 8, 8)).astype(np.float32), rng.uniform(0, 0.3, 12)
    e = rng.uniform(0, 0.2, 12)
    model = PhotoZRegressor(max_epochs=1, batch_size=6, augmentations="sdss", normalize=None, random_state=0,
                            device="cpu").fit(X, z, ebv=e)
    ext = e[:, None] * np.array(CATALOGUE_EXTINCTION["sdss_dr12"])[None]
    np.testing.assert_allclose(model.predict(X, ebv=ext), model.predict(X, ebv=e), rtol=1e-6)
    assert not np.allclose(model.predict(X), model.predict(X, ebv=e))
    with pytest.raises(ValueError, match="per-band extinction"):
        model.predict(X, ebv=ext[:5])


def test_photoz_head_recovers_redshift(data, embedder):
    (X, _, z), (Xt, _, zt) = data
    model = PhotoZRegressor(embedder, n_bins=40, max_epochs=15, batch_size=40, lr=1e-2, random_state=0)
    pred = model.fit(X, z).predict(Xt)
    assert sigma_mad(zt, pred) < 0.03
    assert abs(photoz_bias(zt, pred)) < 0.02
    assert _same(_state(embedder.encoder_), _state(copy.deepcopy(embedder).encoder_))


def test_reproducible(data):
    (X, _, z), (Xt, _, _) = data
    kw = dict(encoder=SmallCNN(2, width=8), n_bins=20, max_epochs=1, random_state=3)
    a = PhotoZRegressor(**kw).fit(X, z).predict(Xt)
    b = PhotoZRegressor(**kw).fit(X, z).predict(Xt)
    np.testing.assert_array_equal(a, b)


def test_photoz_head_starts_from_training_prior():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    z = rng.normal(0.1, 0.02, 200).clip(0.01, 0.39)
    model = PhotoZRegressor(max_epochs=0, random_state=0).fit(X, z)
    np.testing.assert_allclose(model.bin_prior_.sum(), 1.0)
    # untrained, the prediction is close to the training mean (a flat PDF would give 0.2)
    assert abs(model.predict(X).mean() - z.mean()) < 0.02


@pytest.mark.parametrize("n_bins", [2, 10, 12, 13, 40])
def test_photoz_prior_has_one_value_per_bin_for_any_number_of_bins(n_bins):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    z = rng.uniform(0.01, 0.39, 50)
    model = PhotoZRegressor(n_bins=n_bins, max_epochs=1, random_state=0).fit(X, z)  # < 13 bins used to crash
    assert model.bin_prior_.shape == (n_bins,) and model.predict_pdf(X).shape == (50, n_bins)
    np.testing.assert_allclose(model.bin_prior_.sum(), 1.0)


def test_min_steps_raises_epochs_for_small_training_sets():
    X = np.random.default_rng(0).normal(size=(20, 2, 8, 8)).astype(np.float32)
    y = np.arange(20) % 2
    clf = FineTunedClassifier(None, batch_size=8, max_epochs=1, min_steps=10, random_state=0).fit(X, y)
    steps = sum(len(epoch["batches"]) for epoch in clf.net_.history)
    assert clf.n_epochs_ == 4 and len(clf.net_.history) == 4 and steps == 12  # 3 batches (8, 8, 4) per epoch
    big = FineTunedClassifier(None, batch_size=8, max_epochs=6, min_steps=10, random_state=0).fit(X, y)
    assert big.n_epochs_ == 6  # max_epochs already gives more steps


def test_auto_learning_rates(data, embedder):
    (X, y, _), _ = data
    kw = dict(max_epochs=1, random_state=0)
    pre = FineTunedClassifier(embedder, **kw).fit(X, y)
    assert (pre.lr_, pre.encoder_lr_) == (1e-2, 1e-3)
    groups = pre.net_.optimizer_.param_groups
    assert sorted(g["initial_lr"] for g in groups) == [1e-3, 1e-2]  # encoder group, then the head
    scratch = FineTunedClassifier(None, encoder=SmallCNN(X.shape[1], width=4), **kw).fit(X, y)
    assert (scratch.lr_, scratch.encoder_lr_) == (1e-3, 1e-3)
    assert len(scratch.net_.optimizer_.param_groups) == 1
    explicit = FineTunedClassifier(embedder, lr=3e-3, encoder_lr=None, **kw).fit(X, y)
    assert (explicit.lr_, explicit.encoder_lr_) == (3e-3, 3e-3)


@pytest.mark.parametrize("Estimator, target", [(FineTunedClassifier, 1), (PhotoZRegressor, 2)])
def test_early_stopping_holds_out_rows_and_stops(data, Estimator, target):
    (X, cls, z), _ = data
    X, y = X[:120], (cls, z)[target - 1][:120]
    y = np.random.default_rng(1).permutation(y)  # random labels: the held-out loss soon stops improving
    kw = dict(encoder=SmallCNN(2, width=4), augmentations=None, max_epochs=12, batch_size=64, lr=3e-2, random_state=0)
    if Estimator is PhotoZRegressor:
        kw["n_bins"] = 20
    with pytest.raises(ValueError, match="validation_fraction"):
        Estimator(None, early_stopping=True, validation_fraction=1.5, **kw).fit(X, y)
    est = Estimator(None, early_stopping=True, validation_fraction=0.25, n_iter_no_change=1, **kw).fit(X, y)
    history = est.net_.history
    valid = history[:, "valid_loss"]
    assert len(valid) < 12  # stopped before max_epochs
    assert len(valid) == int(np.argmin(valid)) + 2  # one epoch without improvement (n_iter_no_change=1), then stop
    # a quarter of the rows held out: 90 of the 120 trained on each epoch, 30 scored
    assert sum(b["train_batch_size"] for b in history[0, "batches"] if "train_batch_size" in b) == 90
    assert sum(b["valid_batch_size"] for b in history[0, "batches"] if "valid_batch_size" in b) == 30
    assert est.net_.train_split is None  # the held-out rows are not kept with the fitted model
    assert est.predict(X[:5]).shape == (5,)
