"""The fair control of the cross-survey study (issue 27, item 5): what needs no labels is given to
the supervised CNNs too (normaliser statistics from A+B, AdaBN on B), and the augmentations come in
a generic set, not built from the known A-B difference, beside the survey-matched one."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from torch import nn

from sklearn_ssl import BatchNormAdapter, ContrastiveEmbedder, FineTunedClassifier
from sklearn_ssl.augment import GalacticReddening, GaussianNoise, PSFBlur
from sklearn_ssl.engine._normalizer import band_statistics
from sklearn_ssl.estimators._adabn import adapt_batchnorm
from sklearn_ssl.evaluation import (
    AUGMENTATION_SETS, CROSS_SURVEY_QUICK, cross_survey_study, generic_augmentations, make_survey_pair,
)


def bn_first(in_channels=2):
    """A network whose first layer is batch norm: an affine change of its input is undone exactly
    by statistics re-estimated on the changed input."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


@pytest.fixture(scope="module")
def shifted():
    """Survey A, labels, and survey B = 2 A + 1; the BN-first network fitted on A, adapted to B."""
    rng = np.random.default_rng(0)
    xa = rng.normal(size=(48, 2, 8, 8)).astype(np.float32)
    xa[:, 1] += 3.0
    y = (xa[:, 0].mean(axis=(1, 2)) > 0).astype(int)
    xb = 2 * xa + 1
    # the builder, not an instance: the weights are drawn from random_state, not torch's global generator
    cnn = FineTunedClassifier(None, encoder=bn_first, normalize=None, augmentations=None, max_epochs=2,
                              batch_size=16, random_state=0)
    return xa, y, xb, BatchNormAdapter(cnn, target_images=xb).fit(xa, y)


def test_adabn_sets_each_layer_to_the_statistics_of_its_input_on_b(shifted):
    xa, _, xb, model = shifted
    encoder = model.target_estimator_.net_.module_.encoder
    first, second = encoder[0], encoder[2]
    np.testing.assert_allclose(first.running_mean, xb.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(first.running_var, xb.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    # the second layer: the statistics of its input over all of B, the first layer already adapted
    with torch.no_grad():
        hidden = encoder[1](encoder[0].eval()(torch.from_numpy(xb))).double().numpy()
    np.testing.assert_allclose(second.running_mean, hidden.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(second.running_var, hidden.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)
    # the model fitted on A keeps the statistics it learned there (B's mean is 2 A + 1, far from them)
    source = model.estimator_.net_.module_.encoder[0]
    assert np.all(np.abs(source.running_mean.numpy() - xb.mean(axis=(0, 2, 3))) > 0.5)
    # no weight changed
    for p, q in zip(model.estimator_.net_.module_.parameters(), model.target_estimator_.net_.module_.parameters()):
        assert torch.equal(p, q)


def test_adabn_undoes_a_known_affine_shift(shifted):
    xa, _, xb, model = shifted
    on_a = adapt_batchnorm(copy.deepcopy(model.estimator_), xa)  # A's statistics, measured the same way
    np.testing.assert_allclose(model.predict_proba(xb), on_a.predict_proba(xa), atol=1e-5)
    np.testing.assert_array_equal(model.predict(xb), on_a.predict(xa))
    # without adaptation the shift changes the outputs (0.066 here, for a network trained 2 epochs)
    assert np.abs(model.estimator_.predict_proba(xb) - on_a.predict_proba(xa)).max() > 0.01


def test_adabn_statistics_do_not_depend_on_the_batch_size(shifted):
    _, _, xb, model = shifted
    small = adapt_batchnorm(copy.deepcopy(model.estimator_), xb, batch_size=5)  # 48 = 9 x 5 + 3
    for a, b in zip(small.net_.module_.modules(), model.target_estimator_.net_.module_.modules()):
        if isinstance(a, nn.BatchNorm2d):
            np.testing.assert_allclose(a.running_mean, b.running_mean, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(a.running_var, b.running_var, rtol=1e-5)


def test_batchnorm_adapter_follows_scikit_learn_conventions(shifted):
    xa, y, xb, model = shifted
    params = model.get_params(deep=False)
    assert set(params) == {"estimator", "target_images", "batch_size"} and params["target_images"] is xb
    twin = clone(model)
    assert not hasattr(twin, "estimator_") and np.array_equal(twin.target_images, xb)
    assert is_classifier(model) and list(model.classes_) == [0, 1] and model.n_features_in_ == 2
    assert model.score(xb, y) == pytest.approx(np.mean(model.predict(xb) == y))
    with pytest.raises(NotFittedError):
        twin.predict(xb)
    with pytest.raises(TypeError, match="FineTunedClassifier"):
        BatchNormAdapter(LogisticRegression(), target_images=xb).fit(xa.reshape(len(xa), -1), y)
    cnn = FineTunedClassifier(None, encoder=bn_first, normalize=None, augmentations=None, max_epochs=1,
                              batch_size=16, random_state=0)
    with pytest.raises(ValueError, match="target_images"):
        BatchNormAdapter(cnn, target_images=xb[:, :1]).fit(xa, y)
    no_bn = FineTunedClassifier(None, encoder=nn.Sequential(nn.Flatten()), normalize=None, augmentations=None,
                                max_epochs=1, batch_size=16, random_state=0)
    with pytest.raises(ValueError, match="no batch-norm layer"):
        BatchNormAdapter(no_bn, target_images=xb).fit(xa, y)


def test_normalize_on_fits_the_normaliser_on_the_given_images():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 2, 8, 8)).astype(np.float32)
    y = np.arange(16) % 2
    unlabelled = rng.normal(3.0, 5.0, size=(40, 2, 8, 8)).astype(np.float32)
    kw = dict(encoder=bn_first, normalize="standard", max_epochs=1, batch_size=8, random_state=0)
    clf = FineTunedClassifier(None, normalize_on=unlabelled, **kw).fit(x, y)
    norm = clf.net_.module_.normalizer
    loc, scale = band_statistics(unlabelled)
    np.testing.assert_allclose(norm.loc, loc, rtol=1e-6)
    np.testing.assert_allclose(norm.scale, scale, rtol=1e-6)
    plain = FineTunedClassifier(None, **kw).fit(x, y).net_.module_.normalizer
    np.testing.assert_allclose(plain.loc, band_statistics(x)[0], rtol=1e-6)  # the default: the training images
    assert clone(clf).normalize_on is not unlabelled and np.array_equal(clone(clf).normalize_on, unlabelled)
    with pytest.raises(ValueError, match="2 bands"):
        FineTunedClassifier(None, normalize_on=unlabelled[:, :1], **kw).fit(x, y)
    emb = ContrastiveEmbedder(encoder=bn_first, max_epochs=1, batch_size=16, projection_dim=8, random_state=0).fit(x)
    with pytest.warns(UserWarning, match="normalize_on=.*ignored with pretrained"):
        FineTunedClassifier(emb, normalize_on=unlabelled, max_epochs=1, batch_size=8).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        FineTunedClassifier(None, normalize_on=unlabelled, **kw).fit(x, y)


def _apply(aug, seed=0):
    x = torch.from_numpy(np.random.default_rng(5).normal(1.0, 0.5, size=(6, 3, 16, 16)).astype(np.float32))
    return aug(x, generator=torch.Generator().manual_seed(seed)).numpy()


def test_generic_augmentations_are_not_built_from_the_conditions():
    kw = dict(n_samples=40, image_size=16, n_labels=(4,), n_repeats=1, catalogue_baselines=False, random_state=0,
              methods=["raw-pixel PCA + logistic"])
    near = cross_survey_study(conditions_b={"seeing": 1.5, "sky_noise_scale": 1.2}, **kw)
    far = cross_survey_study(conditions_b={"seeing": 3.0, "sky_noise_scale": 6.0, "ebv": (0.4, 0.6)}, **kw)
    assert set(near["augmentations"]) == set(AUGMENTATION_SETS)
    np.testing.assert_array_equal(_apply(near["augmentations"]["generic"]), _apply(far["augmentations"]["generic"]))
    assert not np.allclose(_apply(near["augmentations"]["survey"]), _apply(far["augmentations"]["survey"]))
    assert near["embedders"] == {}  # no SSL row chosen: nothing pretrained
    generic = list(generic_augmentations("gri").modules())
    blur = next(m for m in generic if isinstance(m, PSFBlur))
    red = next(m for m in generic if isinstance(m, GalacticReddening))
    noise = next(m for m in generic if isinstance(m, GaussianNoise))
    assert (blur.sigma.low, blur.sigma.high) == (0.0, 1.0) and noise.relative and red.difference
    assert (red.new_ebv.low, red.new_ebv.high) == (0.0, 0.5)


def test_supervised_rows_normalise_with_the_statistics_of_a_and_b():
    out = cross_survey_study(n_samples=40, image_size=16, n_labels=(4,), n_repeats=1, catalogue_baselines=False,
                             pretrain_epochs=1, finetune_steps=1, width=4, batch_size=16, random_state=0,
                             methods=["supervised CNN", "supervised CNN + AdaBN", "supervised CNN (generic aug.)"])
    xa, xb, _, _ = make_survey_pair(40, 16, "gri", random_state=0)
    both = np.concatenate([xa, xb])
    rows = out["estimators"]
    adabn = rows["supervised CNN + AdaBN"]
    for est in (rows["supervised CNN"], rows["supervised CNN (generic aug.)"], adabn.estimator):
        np.testing.assert_array_equal(est.normalize_on, both)
    np.testing.assert_array_equal(adabn.target_images, xb)
    fitted = clone(rows["supervised CNN"]).fit(xa[:8], np.arange(8) % 2)
    loc, scale = band_statistics(both)
    np.testing.assert_allclose(fitted.net_.module_.normalizer.loc, loc, rtol=1e-6)
    np.testing.assert_allclose(fitted.net_.module_.normalizer.scale, scale, rtol=1e-6)
    assert not np.allclose(loc, band_statistics(xa[:8])[0], rtol=1e-3)
    res = out["results"].set_index(["estimator", "test"])["score"]
    # AdaBN is the same fit as the supervised CNN: the same score on A, where it keeps A's statistics
    assert res["supervised CNN + AdaBN", "A"] == res["supervised CNN", "A"]


def test_methods_pretrain_only_the_sets_they_need_and_reuse_given_embedders():
    kw = dict(n_samples=40, image_size=16, n_labels=(4,), n_repeats=1, catalogue_baselines=False, pretrain_epochs=1,
              finetune_steps=1, width=4, batch_size=16, random_state=0)
    first = cross_survey_study(methods=["SSL frozen + logistic (generic aug.)"], **kw)
    assert set(first["embedders"]) == {"generic"}
    again = cross_survey_study(methods=["SSL frozen + kNN (generic aug.)", "SSL frozen + logistic (generic aug.)"],
                               embedder=first["embedders"], **kw)
    assert again["embedders"]["generic"] is first["embedders"]["generic"] and again["timings"]["pretrain"] < 0.5
    assert list(dict.fromkeys(again["results"]["estimator"])) == ["SSL frozen + kNN (generic aug.)",
                                                                  "SSL frozen + logistic (generic aug.)"]
    with pytest.raises(ValueError, match="keys"):
        cross_survey_study(embedder={"oracle": first["embedders"]["generic"]}, **kw)


def test_quick_configuration_runs_both_sets_and_the_controls():
    rows = set(CROSS_SURVEY_QUICK["methods"])
    for suffix in AUGMENTATION_SETS.values():
        assert {f"SSL frozen + logistic ({suffix})", f"supervised CNN ({suffix})"} <= rows
    assert {"supervised CNN", "supervised CNN + AdaBN"} <= rows
