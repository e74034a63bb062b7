"""One engine under every torch estimator (issue 28 item 2): the same vocabulary and behaviour
(precision, compile, checkpoints and resume, interruption leaving no half-fitted estimator)."""

import inspect
import pickle

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
    "embedder": (lambda **kw: ContrastiveEmbedder(projection_dim=8, **{**KW, **kw}), (X,)),
    "crossmodal": (lambda **kw: CrossModalEmbedder(n_components=8, **{**KW, **kw}), (X, Y)),
    "classifier": (lambda **kw: FineTunedClassifier(None, **{**KW, **kw}), (X, y_class)),
    "regressor": (lambda **kw: FineTunedRegressor(None, **{**KW, **kw}), (X, z)),
    "photoz": (lambda **kw: PhotoZRegressor(None, n_bins=8, **{**KW, **kw}), (X, z)),
}
SHARED = ("device", "precision", "compile", "accelerator", "checkpoint_dir", "checkpoint_every", "resume", "lr",
          "lr_schedule", "batch_size", "max_epochs", "weight_decay", "optimizer", "augmentations", "normalize", "verbose",
          "random_state")


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
    assert params["accelerator"].default is None and params["resume"].default == "auto"
    doc = " ".join(type(est).__doc__.split())
    for text in ("accelerator : accelerate.Accelerator or None, default=None",
                 'resume : {"auto", "strict", "never"}, default="auto"'):
        assert text in doc  # the shared text, ENGINE_PARAMS_DOC


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
    est = build(checkpoint_dir=str(tmp_path / "ck"), resume="auto")
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


def _interrupt_after_first_epoch(monkeypatch):
    """Ctrl-C once, after epoch 1's checkpoint; returns the count of epochs each later fit trains."""
    real = ResumableCheckpoint.on_epoch_end
    state = {"interrupted": False, "epochs": 0}

    def on_epoch_end(self, net, **kw):
        real(self, net, **kw)
        state["epochs"] += 1
        if len(net.history) == 1 and not state["interrupted"]:
            state["interrupted"] = True
            raise KeyboardInterrupt

    monkeypatch.setattr(ResumableCheckpoint, "on_epoch_end", on_epoch_end)
    return state


@pytest.mark.parametrize("name", list(BUILDERS))
def test_resume_never_starts_afresh_and_strict_refuses_another_runs_checkpoint(name, tmp_path, monkeypatch):
    build, args = BUILDERS[name]
    straight = _output(build().fit(*args))
    ckpt = tmp_path / "ck"
    state = _interrupt_after_first_epoch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build(checkpoint_dir=str(ckpt)).fit(*args)
    before = (ckpt / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match=r"other parameters or data \(parameters lr=0.01 \(was 'auto'\)"):
        build(checkpoint_dir=str(ckpt), resume="strict", lr=0.01).fit(*args)
    assert (ckpt / "checkpoint.pt").read_bytes() == before  # refused and kept
    state["epochs"] = 0
    est = build(checkpoint_dir=str(ckpt), resume="never").fit(*args)
    assert state["epochs"] == 3  # all three epochs trained again, none taken from the checkpoint
    np.testing.assert_array_equal(_output(est), straight)
    state["epochs"] = 0
    build(checkpoint_dir=str(ckpt), resume="strict").fit(*args)  # the same run: resumed, nothing left to train
    assert state["epochs"] == 0


@pytest.mark.parametrize("name", list(BUILDERS))
def test_accelerator_and_resume_warn_where_they_are_unused(name):
    with pytest.warns(UserWarning, match=r"device='cpu' is ignored with an accelerator"):
        BUILDERS[name][0](accelerator=object())._warn_ignored_params()  # KW sets device="cpu"
    with pytest.warns(UserWarning, match="resume='never' is ignored without checkpoint_dir"):
        BUILDERS[name][0](resume="never")._warn_ignored_params()


class _PrepareSpy:
    """An accelerator whose ``prepare`` records what it wrapped."""

    def __init__(self, accelerator):
        self.accelerator, self.prepared = accelerator, []

    def __call__(self, *objects):
        self.prepared += [type(obj) for obj in objects]
        return self.accelerator.__class__.prepare(self.accelerator, *objects)


@pytest.fixture
def cpu_accelerator(monkeypatch):
    accelerate = pytest.importorskip("accelerate")
    accelerator = accelerate.Accelerator(cpu=True)
    spy = _PrepareSpy(accelerator)
    monkeypatch.setattr(accelerator, "prepare", spy)
    return accelerator, spy


@pytest.mark.parametrize("name", list(BUILDERS))
def test_accelerator_on_the_cpu_gives_the_model_trained_without_one(name, cpu_accelerator):
    """Through accelerate (one CPU process) every estimator trains the same model, bit for bit:
    accelerate's autocast is off, its backward is loss.backward(), its optimizer wrapper steps
    the same optimizer, and batches and draws come from the net's own generators."""
    from sklearn_ssl.engine._training import AcceleratedTraining

    accelerator, spy = cpu_accelerator
    build, args = BUILDERS[name]
    plain = _output(build().fit(*args))
    est = build(accelerator=accelerator, device="auto").fit(*args)
    assert isinstance(est.net_, AcceleratedTraining) and isinstance(est.net_, TrainingNet)
    assert torch.nn.Module in {base for cls in spy.prepared for base in cls.__mro__}  # the model went through it
    assert torch.optim.Optimizer in {base for cls in spy.prepared for base in cls.__mro__}
    np.testing.assert_array_equal(_output(est), plain)
    assert est.device_ == est.net_.device == "cpu"
    assert not accelerator._models and not accelerator._optimizers  # the accelerator keeps nothing of the fit
    again = pickle.loads(pickle.dumps(est))
    assert type(again.net_) is type(est.net_)
    np.testing.assert_array_equal(_output(again), plain)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_accelerated_fit_resumes_with_another_accelerator(name, cpu_accelerator, tmp_path, monkeypatch):
    """A checkpoint written through one Accelerator resumes through another (a restarted job's),
    even with resume="strict": the fingerprint leaves the accelerator out, as it does the device."""
    accelerate = pytest.importorskip("accelerate")
    accelerator, _ = cpu_accelerator
    build, args = BUILDERS[name]
    straight = _output(build().fit(*args))
    state = _interrupt_after_first_epoch(monkeypatch)
    ckpt = str(tmp_path / "ck")
    with pytest.raises(KeyboardInterrupt):
        build(accelerator=accelerator, device="auto", checkpoint_dir=ckpt).fit(*args)
    state["epochs"] = 0
    resumed = build(accelerator=accelerate.Accelerator(cpu=True), device="auto", checkpoint_dir=ckpt,
                    resume="strict").fit(*args)
    assert state["epochs"] == 2 and len(resumed.net_.history) == 3
    np.testing.assert_array_equal(_output(resumed), straight)
