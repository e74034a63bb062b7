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
    with pytest.warns(UserWarning, match=re.escape(name) + " is ignored .*; leave "):
        clf.fit(X, y)
    assert clf.predict(X).shape == (len(X),)  # a warning, not an error: the fit is done


def test_fine_tuner_defaults_warn_about_nothing(images, embedder):
    X, y = images
    quiet_fit(FineTunedClassifier(embedder, max_epochs=1, batch_size=16), X, y)
    quiet_fit(FineTunedClassifier(embedder, freeze_encoder=True, max_epochs=1, batch_size=16), X, y)
    quiet_fit(FineTunedClassifier(None, encoder="small", normalize="standard", max_epochs=1, batch_size=16), X, y)


class _Stop(Exception):
    """Raised by the stand-in accelerator once fit asks it for its device: the checks ran before."""


class _StandInAccelerator:
    @property
    def device(self):
        raise _Stop


@pytest.mark.parametrize("params, advice", [
    (dict(device="cpu"), "leave device='auto' and use the accelerator's device"),
    (dict(precision="bf16"), r"leave precision='auto' and use Accelerator\(mixed_precision=...\)"),
    (dict(compile=True), "leave compile=False"),
])
def test_embedder_warns_that_an_accelerator_overrides_device_precision_compile(images, params, advice):
    emb = ContrastiveEmbedder(accelerator=_StandInAccelerator(), max_epochs=1, **params)
    with pytest.warns(UserWarning, match=f"is ignored with an accelerator.*{advice}"), pytest.raises(_Stop):
        emb.fit(images[0])


def test_embedder_with_accelerator_and_default_device_warns_about_nothing(images):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(_Stop):
            ContrastiveEmbedder(accelerator=_StandInAccelerator(), max_epochs=1).fit(images[0])


def test_checkpoint_every_without_checkpoint_dir_warns(images):
    with pytest.warns(UserWarning, match="checkpoint_every=2 is ignored without checkpoint_dir"):
        ContrastiveEmbedder(checkpoint_every=2, max_epochs=1, batch_size=16, projection_dim=8).fit(images[0])


@pytest.mark.parametrize("cls", [ContrastiveEmbedder, CrossModalEmbedder])
def test_lr_auto_is_the_former_default(images, cls):
    X, _ = images
    args = (X, np.random.default_rng(1).normal(size=(len(X), 3))) if cls is CrossModalEmbedder else (X,)
    auto = cls(max_epochs=1, batch_size=16, random_state=0).fit(*args)
    explicit = cls(lr=1e-3, max_epochs=1, batch_size=16, random_state=0).fit(*args)
    assert auto.lr_ == explicit.lr_ == 1e-3
    np.testing.assert_array_equal(auto.transform(X), explicit.transform(X))
