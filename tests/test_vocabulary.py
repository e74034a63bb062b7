"""One API vocabulary: the torch estimators share names, meanings and defaults, and a parameter
that a configuration does not use warns instead of being dropped silently."""

import inspect
import re
import warnings

import numpy as np
import pytest
import torch

from sklearn_ssl import (
    ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor, PhotoZRegressor,
)

ESTIMATORS = [ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor, PhotoZRegressor]
CONTRASTIVE = {ContrastiveEmbedder, CrossModalEmbedder}


def defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls).parameters.items()}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_shared_parameters_have_one_default(cls):
    d = defaults(cls)
    assert (d["lr"], d["lr_schedule"], d["device"], d["verbose"], d["random_state"]) == (
        "auto", "cosine", "auto", 0, None)
    assert (d["batch_size"], d["max_epochs"]) == ((256, 50) if cls in CONTRASTIVE else (64, 30))
    if "precision" in d:
        assert d["precision"] == "auto"
    assert "verbosity" not in d and "n_epochs" not in d and "epochs" not in d


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_shared_parameters_accept_the_same_values(cls):
    for name, good, bad in (("lr", ["auto", 0.1], ["fast", 0.0]), ("lr_schedule", ["cosine", "step", None], ["poly"])):
        for value in good:
            cls(**{name: value})._validate_params()
        for value in bad:
            with pytest.raises(ValueError, match=f"'{name}' parameter of {cls.__name__} must be"):
                cls(**{name: value})._validate_params()


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_where_a_default_differs_the_docstring_says_why(cls):
    doc = " ".join(cls.__doc__.split())
    assert 'lr_schedule : {"cosine", "step"} or None' in doc or "lr_schedule, " in doc
    if cls not in CONTRASTIVE:
        assert "Smaller than ``ContrastiveEmbedder``'s 256" in doc and "Fewer than ``ContrastiveEmbedder``'s 50" in doc


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(32, 2, 8, 8)).astype(np.float32), np.arange(32) % 2


@pytest.fixture(scope="module")
def embedder(images):
    return ContrastiveEmbedder(max_epochs=1, batch_size=16, projection_dim=8, random_state=0).fit(images[0])


def quiet_fit(est, X, y=None):
    """Fit, failing on any UserWarning (the default configurations warn about nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return est.fit(X) if y is None else est.fit(X, y)


@pytest.mark.parametrize("params, name", [
    (dict(encoder="small"), "encoder='small'"),
    (dict(encoder=torch.nn.Identity()), "encoder=Identity()"),
    (dict(normalize="standard"), "normalize='standard'"),
    (dict(normalize=None), "normalize=None"),
    (dict(freeze_encoder=True, encoder_lr=1e-4), "encoder_lr=0.0001"),
])
def test_fine_tuner_warns_about_what_its_configuration_ignores(images, embedder, params, name):
    X, y = images
    pretrained = None if "encoder_lr" in params else embedder
    clf = FineTunedClassifier(pretrained, max_epochs=1, batch_size=16, random_state=0, **params)
    with pytest.warns(UserWarning, match=re.escape(name) + " is ignored .*; leave ") as record:
        clf.fit(X, y)
    assert record[0].filename == __file__
    assert clf.predict(X).shape == (len(X),)  # a warning, not an error: the fit is done


def test_fine_tuner_defaults_warn_about_nothing(images, embedder):
    X, y = images
    quiet_fit(FineTunedClassifier(embedder, max_epochs=1, batch_size=16), X, y)
    quiet_fit(FineTunedClassifier(embedder, freeze_encoder=True, max_epochs=1, batch_size=16), X, y)
    quiet_fit(FineTunedClassifier(None, encoder="small", normalize="standard", max_epochs=1, batch_size=16), X, y)


ONE_IMAGE = np.zeros((1, 2, 8, 8), np.float32)  # refused after the parameter checks: no training needed


@pytest.mark.parametrize("params, message", [
    (dict(accelerator=object(), device="cpu"), r"device='cpu' is ignored with an accelerator.*Accelerator\(cpu=True\)"),
    (dict(accelerator=object(), precision="bf16"), r"precision='bf16' is ignored with an accelerator.*mixed_precision"),
    (dict(accelerator=object(), compile=True), "compile=True is ignored with an accelerator.*; leave compile=False"),
    (dict(checkpoint_every=2), "checkpoint_every=2 is ignored without checkpoint_dir"),
    (dict(init_layout="stein2022"), "init_layout='stein2022' is ignored without init"),
    (dict(queue_size=64), "queue_size=64 is ignored with method='simclr', whose loss does not use it"),
    (dict(method="byol", temperature=0.5), "temperature=0.5 is ignored with method='byol'"),
    (dict(momentum=0.9), "momentum=0.9 is ignored with method='simclr', which keeps no moving-average network"),
    (dict(method="simsiam", momentum=0.9), "momentum=0.9 is ignored with method='simsiam'"),
])
def test_embedder_warns_about_what_its_configuration_ignores(params, message):
    with pytest.warns(UserWarning, match=message) as record, pytest.raises(ValueError, match="minimum of 2"):
        ContrastiveEmbedder(**params).fit(ONE_IMAGE)
    assert record[0].filename == __file__  # the warning points at the user's call


@pytest.mark.parametrize("params", [dict(accelerator=object()), dict(method="moco", queue_size=64, momentum=0.9),
                                    dict(method="byol", momentum=0.9), dict(checkpoint_dir="ckpt", checkpoint_every=3),
                                    dict(temperature=0.2)])
def test_embedder_settings_that_are_used_warn_about_nothing(params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(ValueError, match="minimum of 2"):
            ContrastiveEmbedder(**params).fit(ONE_IMAGE)


def test_cross_modal_warns_about_an_image_temperature_without_image_loss():
    with pytest.warns(UserWarning, match=r"image_temperature=0.5 is ignored with image_weight=0.*image_weight > 0") \
            as record, pytest.raises(ValueError, match="minimum of 2"):
        CrossModalEmbedder(image_weight=0, image_temperature=0.5).fit(ONE_IMAGE, np.zeros((1, 3)))
    assert record[0].filename == __file__


@pytest.mark.parametrize("cls", [ContrastiveEmbedder, CrossModalEmbedder])
def test_lr_auto_is_the_former_default(images, cls):
    X, _ = images
    args = (X, np.random.default_rng(1).normal(size=(len(X), 3))) if cls is CrossModalEmbedder else (X,)
    auto = cls(max_epochs=1, batch_size=16, random_state=0).fit(*args)
    explicit = cls(lr=1e-3, max_epochs=1, batch_size=16, random_state=0).fit(*args)
    assert auto.lr_ == explicit.lr_ == 1e-3
    np.testing.assert_array_equal(auto.transform(X), explicit.transform(X))
