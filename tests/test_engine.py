"""One engine under every torch estimator (issue 28 item 2): the same vocabulary and behaviour
(precision, compile, checkpoints and resume, interruption leaving no half-fitted estimator)."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.utils.validation import check_is_fitted
from sklearn.exceptions import NotFittedError

from sklearn_ssl import ContrastiveEmbedder, CrossModalEmbedder, FineTunedClassifier, FineTunedRegressor, PhotoZRegressor
from sklearn_ssl.engine._checkpoint import ResumableCheckpoint
from sklearn_ssl.engine._training import TrainingNet

rng = np.random.default_rng(0)
X = rng.gamma(2.0, 1.0, (24, 3, 8, 8)).astype(np.float32)
Y = rng.normal(size=(24, 5))
y_class = np.arange(24) % 2
z = np.linspace(0.02, 0.3, 24)
KW = dict(max_epochs=3, batch_size=8, random_state=0, device="cpu")

BUILDERS = {
    "embedder": (lambda **kw: ContrastiveEmbedder(projection_dim=8, **KW, **kw), (X,)),
    "crossmodal": (lambda **kw: CrossModalEmbedder(n_components=8, **KW, **kw), (X, Y)),
    "classifier": (lambda **kw: FineTunedClassifier(None, **KW, **kw), (X, y_class)),
    "regressor": (lambda **kw: FineTunedRegressor(None, **KW, **kw), (X, z)),
    "photoz": (lambda **kw: PhotoZRegressor(None, n_bins=8, **KW, **kw), (X, z)),
}
SHARED = ("device", "precision", "compile", "checkpoint_dir", "checkpoint_every", "lr", "lr_schedule", "batch_size",
          "max_epochs", "weight_decay", "optimizer", "augmentations", "normalize", "verbose", "random_state")


def _output(est):
    with torch.no_grad():
        for method in ("transform", "predict_proba", "predict"):
            if hasattr(est, method):
                return getattr(est, method)(X)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_torch_estimator_speaks_the_shared_vocabulary(name):
    est = BUILDERS[name][0]()
    params = inspect.signature(type(est).__init__).parameters
    assert set(SHARED) <= set(params), set(SHARED) - set(params)
    assert params["precision"].default == "auto" and params["compile"].default is False
    assert params["checkpoint_dir"].default is None and params["checkpoint_every"].default == 1


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_torch_estimator_trains_on_the_one_net(name):
    build, args = BUILDERS[name]
    est = build().fit(*args)
    assert isinstance(est.net_, TrainingNet)
    assert len(est.net_.history) == est.net_.max_epochs
    assert est.net_.shuffle_generator_ is None and est.net_.augment_generator_ is None  # nothing of the fit kept


@pytest.mark.parametrize("name", list(BUILDERS))
def test_bf16_precision_reaches_every_net(name):
    build, args = BUILDERS[name]
    est = build(precision="bf16").fit(*args)
    assert est.net_.precision == "bf16"
    out = _output(est)
    assert np.isfinite(out).all()
    assert not np.array_equal(out, _output(build().fit(*args)))  # bf16 arithmetic, not fp32


@pytest.mark.parametrize("name", list(BUILDERS))
def test_interrupted_fit_resumes_to_the_uninterrupted_model(name, tmp_path, monkeypatch):
    """Ctrl-C after epoch 1's checkpoint leaves the estimator unfitted; the same fit again
    resumes from the checkpoint and ends with the uninterrupted run's model, bit for bit."""
    build, args = BUILDERS[name]
    straight = _output(build().fit(*args))
    real = ResumableCheckpoint.on_epoch_end
    state = {"interrupted": False}

    def interrupt_once(self, net, **kw):
        real(self, net, **kw)
        if len(net.history) == 1 and not state["interrupted"]:
            state["interrupted"] = True
            raise KeyboardInterrupt

    monkeypatch.setattr(ResumableCheckpoint, "on_epoch_end", interrupt_once)
    est = build(checkpoint_dir=str(tmp_path / "ck"))
    with pytest.raises(KeyboardInterrupt):
        est.fit(*args)
    with pytest.raises(NotFittedError):
        check_is_fitted(est, "net_")
    assert (tmp_path / "ck" / "checkpoint.pt").exists()
    resumed = est.fit(*args)
    assert len(resumed.net_.history) == 3
    np.testing.assert_array_equal(_output(resumed), straight)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_checkpoint_every_without_a_folder_warns(name):
    with pytest.warns(UserWarning, match="checkpoint_every=2 is ignored without checkpoint_dir"):
        BUILDERS[name][0](checkpoint_every=2)._warn_ignored_params()
