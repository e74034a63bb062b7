"""BYOL and SimSiam: losses against direct computations, the momentum target, resume, labels, collapse."""

import math
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl.engine._methods import METHODS as METHOD_CLASSES
from sklearn_ssl.engine._methods import PredictionHead, PretrainingMethod, ProjectionHead, SimSiam
from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.nn.losses import byol_loss, cosine_momentum, simsiam_loss
from test_embedder import expected_failed_checks, rotation_invariant_classes

METHODS = ["byol", "simsiam"]


def small(**params):
    return ContrastiveEmbedder(**{**dict(max_epochs=2, batch_size=16, projection_dim=8, random_state=0), **params})


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(48, 2, 8, 8)).astype(np.float32)


# -- losses on hand-made inputs --------------------------------------------------------------
P1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
P2 = torch.tensor([[0.0, 3.0], [1.0, 1.0]])
T1 = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
T2 = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
# row-wise cosines: cos(P1, T2) = (1/sqrt2, -1); cos(P2, T1) = (0, 1/sqrt2)
R = 1 / math.sqrt(2)


def test_byol_loss_is_the_symmetrised_normalised_squared_error():
    expected = np.mean([2 - 2 * R, 2 + 2]) + np.mean([2 - 0, 2 - 2 * R])
    assert byol_loss(P1, P2, T1, T2).item() == pytest.approx(expected, rel=1e-6)
    # the same as ||p/|p| - t/|t|||^2 computed directly
    direct = sum(((a / a.norm(dim=1, keepdim=True) - b / b.norm(dim=1, keepdim=True)) ** 2).sum(1).mean()
                 for a, b in [(P1, T2), (P2, T1)])
    assert byol_loss(P1, P2, T1, T2).item() == pytest.approx(direct.item(), rel=1e-6)


def test_simsiam_loss_is_the_symmetric_negative_cosine():
    expected = -0.5 * (np.mean([R, -1]) + np.mean([0, R]))
    assert simsiam_loss(P1, P2, T1, T2).item() == pytest.approx(expected, rel=1e-6)
    assert simsiam_loss(P1, P1, P1, P1).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("loss", [byol_loss, simsiam_loss])
def test_targets_receive_no_gradient(loss):
    p1, p2, t1, t2 = (t.clone().requires_grad_(True) for t in (P1, P2, T1, T2))
    loss(p1, p2, t1, t2).backward()
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert t1.grad is None and t2.grad is None


def test_cosine_momentum_rises_from_base_to_one():
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 0, 0) == 0.99


# -- the estimator ---------------------------------------------------------------------------
@parametrize_with_checks([small(method=m) for m in METHODS], expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_byol_has_a_predictor_and_a_momentum_target_that_lags_the_online_network(X):
    emb = small(method="byol", max_epochs=3, momentum=0.9).fit(X)
    net = emb.net_
    assert isinstance(net.method_.predictor, PredictionHead)
    assert not any(p.requires_grad for p in net.method_.target_encoder.parameters())
    online = dict(net.module_.named_parameters())
    moved = [not torch.equal(p, online[n]) for n, p in net.method_.target_encoder.named_parameters()]
    assert any(moved)  # a moving average, not a copy
    assert emb.transform(X).shape == (len(X), emb.embedding_dim_)
    # cosine schedule over 3 epochs x 3 batches: the last update (before step 9) used step 8's decay
    assert net.steps_per_epoch_ == 3
    assert net.method_.decay(net._steps_done(), net.max_epochs * net.steps_per_epoch_) == pytest.approx(
        cosine_momentum(0.9, 7, 9))


def test_simsiam_has_a_predictor_no_momentum_network_and_normalised_projections(X):
    net = small(method="simsiam").fit(X).net_
    assert isinstance(net.method_.predictor, PredictionHead)
    assert not hasattr(net.method_, "target_encoder") and not hasattr(net.method_, "key_encoder")
    assert isinstance(net.method_.projector[-1], torch.nn.BatchNorm1d) and not net.method_.projector[-1].affine


class StopAtEpoch(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 3:
            raise RuntimeError("stopped on purpose")


@pytest.mark.parametrize("method", METHODS)
def test_interrupted_fit_resumes_to_the_uninterrupted_result(X, tmp_path, method):
    params = dict(method=method, max_epochs=4)
    with pytest.raises(RuntimeError, match="on purpose"):
        small(checkpoint_dir=str(tmp_path), callbacks=[StopAtEpoch], **params).fit(X)
    resumed = small(checkpoint_dir=str(tmp_path), **params).fit(X)
    reference = small(**params).fit(X)
    np.testing.assert_allclose(resumed.net_.history[:, "train_loss"], reference.net_.history[:, "train_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(resumed.transform(X), reference.transform(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_partial_labels_train_a_head_next_to_the_negative_free_loss(X, method):
    y = np.where(np.arange(len(X)) % 2, np.arange(len(X)) % 3, -1)
    emb = small(method=method, label_weight=1.0).fit(X, y)
    assert emb.label_task_ == "classification" and emb.net_.label_criterion_.head.out_features == 3
    assert not np.array_equal(emb.transform(X), small(method=method).fit(X).transform(X))


@pytest.mark.parametrize("method", METHODS)
def test_bf16_autocast_gives_finite_embeddings(X, method):
    Z = small(method=method, precision="bf16").fit(X).transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()


# -- collapse --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(128, 16)) + 3 * rng.integers(0, 3, 128)[:, None] * np.eye(16)[:1]).astype(np.float32)


class _SimSiamWithoutPredictor(SimSiam):
    """SimSiam stripped of its predictor (and of the projector's output batch norm)."""

    def __init__(self, encoder, dim, projection_dim=128, momentum=0.99):
        PretrainingMethod.__init__(self, encoder, dim, projection_dim, momentum)
        self.projector = ProjectionHead(dim, projection_dim)
        self.predictor = torch.nn.Identity()


def test_collapse_warning_fires_for_simsiam_without_predictor_and_not_with_it(vectors, monkeypatch):
    params = dict(method="simsiam", max_epochs=10, lr=1e-2, batch_size=32, projection_dim=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        small(**params).fit(vectors)
        small(**{**params, "method": "byol"}).fit(vectors)
    monkeypatch.setitem(METHOD_CLASSES, "simsiam", _SimSiamWithoutPredictor)  # a method is one registry entry
    with pytest.warns(RuntimeWarning, match="projections of all samples point the same way"):
        small(**params).fit(vectors)


# -- learning --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_pretraining_learns_rotation_invariant_structure(method):
    X, y = rotation_invariant_classes(384)
    probe = LogisticRegression(max_iter=2000)
    params = dict(method=method, batch_size=64, random_state=0)
    random_init = ContrastiveEmbedder(max_epochs=0, **params).fit(X).transform(X)
    pretrained = ContrastiveEmbedder(max_epochs=10, **params).fit(X).transform(X)
    random_acc = cross_val_score(probe, random_init, y, cv=3).mean()
    pretrained_acc = cross_val_score(probe, pretrained, y, cv=3).mean()
    assert pretrained_acc > random_acc + 0.2, (random_acc, pretrained_acc)
