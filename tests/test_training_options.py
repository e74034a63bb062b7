"""Training options checked by what they do: fp16, the step schedule, the head's hidden layer,
optimizer arguments and the checkpoint period."""

import hashlib
import os

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_ssl import ContrastiveEmbedder, FineTunedClassifier, PhotoZRegressor
from sklearn_ssl.datasets import make_galaxy_survey

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def survey():
    X, cat = make_galaxy_survey(32, image_size=8, random_state=0)
    return X, cat["morphology_class"].to_numpy(), cat["redshift"].to_numpy()


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
@pytest.mark.parametrize("device", DEVICES)
def test_fp16_training_learns_and_gives_finite_embeddings(device):
    """fp16 skips the steps whose scaled gradients overflow: the loss must still go down.
    Vectors (an MLP encoder): fp16 convolutions on a CPU are too slow for a unit test."""
    X = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)
    X[:32] += 2.0
    params = dict(max_epochs=3, batch_size=16, projection_dim=16, device=device, random_state=0)
    half = ContrastiveEmbedder(precision="fp16", **params).fit(X)
    loss = half.net_.history[:, "train_loss"]
    assert np.isfinite(loss).all() and loss[-1] < 0.6 * loss[0]
    Z = half.transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all() and Z.std(axis=0).mean() > 0
    full = ContrastiveEmbedder(precision="fp32", **params).fit(X)
    assert not np.allclose(Z, full.transform(X))  # the precision took effect


@pytest.mark.parametrize("make", [
    lambda: ContrastiveEmbedder(max_epochs=10, batch_size=16, projection_dim=16, lr=1e-3),
    lambda: FineTunedClassifier(None, max_epochs=10, batch_size=16, lr=1e-3),
], ids=["embedder", "fine-tuner"])
def test_step_schedule_divides_the_rate_by_ten_at_60_and_90_percent(survey, make):
    X, y, _ = survey
    est = make().set_params(lr_schedule="step", random_state=0)
    est.fit(X, y)
    lrs = est.net_.history[:, "event_lr"]  # the rate each epoch trained with
    np.testing.assert_allclose(lrs, [1e-3] * 6 + [1e-4] * 3 + [1e-5], rtol=1e-9)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-5)


def test_head_hidden_sets_the_width_of_the_heads_hidden_layer(survey):
    X, y, z = survey
    n_classes = len(np.unique(y))
    linear = FineTunedClassifier(None, max_epochs=1, batch_size=16, random_state=0).fit(X, y)
    widths = [(m.in_features, m.out_features) for m in linear.net_.module_.head.modules()
              if isinstance(m, torch.nn.Linear)]
    d = widths[0][0]
    assert widths == [(d, n_classes)]
    hidden = FineTunedClassifier(None, head_hidden=7, max_epochs=1, batch_size=16, random_state=0).fit(X, y)
    widths = [(m.in_features, m.out_features) for m in hidden.net_.module_.head.modules()
              if isinstance(m, torch.nn.Linear)]
    assert widths == [(d, 7), (7, n_classes)]
    assert any(isinstance(m, torch.nn.ReLU) for m in hidden.net_.module_.head.modules())
    photoz = PhotoZRegressor(None, head_hidden=5, n_bins=10, max_epochs=1, batch_size=16, random_state=0).fit(X, z)
    assert photoz.predict_pdf(X).shape == (len(X), 10)  # the prior initialises the last layer of a hidden head
    np.testing.assert_allclose(photoz.net_.module_.head[-1].bias.detach().exp().numpy(), photoz.bin_prior_,
                               rtol=0.02)  # one epoch from it


def test_optimizer_kwargs_reach_the_optimizer(survey):
    X, y, _ = survey
    clf = FineTunedClassifier(None, optimizer=torch.optim.SGD, lr=0.01, weight_decay=0.0,
                              optimizer_kwargs={"momentum": 0.9, "nesterov": True}, max_epochs=1, batch_size=16,
                              random_state=0).fit(X, y)
    opt = clf.net_.optimizer_
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["momentum"] == 0.9 and g["nesterov"] for g in opt.param_groups)
    assert any(s.get("momentum_buffer") is not None for s in opt.state.values())  # momentum was used
    with pytest.raises(TypeError, match="bogus"):
        FineTunedClassifier(None, optimizer_kwargs={"bogus": 1}, max_epochs=1, batch_size=16).fit(X, y)


def test_checkpoint_every_two_writes_after_epochs_two_and_four_and_the_last(survey, tmp_path):
    X = survey[0]
    path = tmp_path / "ckpt" / "checkpoint.pt"

    def digest():
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    class Watch(Callback):  # what the folder holds when each epoch starts
        seen = []

        def on_epoch_begin(self, net, **kwargs):
            Watch.seen.append(digest())

    ContrastiveEmbedder(max_epochs=5, batch_size=16, projection_dim=16, checkpoint_dir=tmp_path / "ckpt",
                        checkpoint_every=2, callbacks=[Watch], random_state=0).fit(X)
    states = Watch.seen + [digest()]  # before epochs 1..5, then after the fit
    assert len(states) == 6 and os.listdir(tmp_path / "ckpt") == ["checkpoint.pt"]
    written_after = [epoch for epoch in range(1, 6) if states[epoch] != states[epoch - 1]]
    assert written_after == [2, 4, 5]  # every second epoch, and the last one (a finished run resumes as done)


def test_every_precision_in_one_process_as_a_grid_search_needs():
    """The package's one precision mechanism (MixedPrecision) takes a new precision at each fit.
    accelerate's Accelerator could not: its state is a process-wide singleton that refuses a
    second mixed_precision, which is why it is used only when the user passes an accelerator."""
    from sklearn.model_selection import GridSearchCV

    X = np.random.default_rng(0).normal(size=(48, 16)).astype(np.float32)
    search = GridSearchCV(ContrastiveEmbedder(max_epochs=1, batch_size=16, projection_dim=8, random_state=0),
                          {"precision": ["fp32", "bf16", "fp16"]}, cv=2,
                          scoring=lambda est, X, y=None: float(np.isfinite(est.transform(X)).all()))
    search.fit(X)
    assert list(search.cv_results_["mean_test_score"]) == [1.0, 1.0, 1.0]
