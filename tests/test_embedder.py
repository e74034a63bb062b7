import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ssl import ContrastiveEmbedder


def fast(**params):
    """An embedder small enough for unit tests."""
    defaults = dict(max_epochs=2, batch_size=16, projection_dim=16, random_state=0)
    return ContrastiveEmbedder(**{**defaults, **params})


def rotation_invariant_classes(n, size=16, seed=0):
    """Blobs, rings and two-armed patterns at random positions, brightness and orientation."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    cx, cy = rng.uniform(-2, 2, (2, n))
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    r = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx) + rng.uniform(0, 2 * np.pi, n)[:, None, None]
    shapes = np.stack([
        np.exp(-0.5 * (r / 2.5) ** 2),
        np.exp(-0.5 * ((r - 5) / 1.0) ** 2),
        np.exp(-0.5 * (r / 4) ** 2) * (1 + np.cos(2 * theta)) / 2,
    ])
    img = shapes[y, np.arange(n)] * rng.uniform(0.5, 2.0, n)[:, None, None]
    X = np.stack([img, 0.5 * img], 1) + rng.normal(0, 0.3, (n, 2, size, size))
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def images():
    return rotation_invariant_classes(96)


@pytest.fixture(scope="module")
def fitted(images):
    return fast().fit(images[0])


FLOAT32_BATCHING = (
    "embeddings are computed in float32 by torch, whose matrix products round differently "
    "(~1e-6) for different batch compositions; the check demands 1e-7"
)


def expected_failed_checks(estimator):
    return {
        "check_methods_subset_invariance": FLOAT32_BATCHING,
    }


@parametrize_with_checks([fast(), fast(method="moco")], expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_fit_transform_shapes_dtype_and_representation_before_head(images, method):
    X, _ = images
    emb = fast(method=method).fit(X)
    Z = emb.transform(X)
    assert Z.shape == (len(X), 128) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert emb.embedding_dim_ == 128 and emb.input_shape_ == (2, 16, 16) and emb.n_features_in_ == 2
    assert emb.transform(X.astype(np.float64)).dtype == np.float64
    with torch.no_grad():
        direct = emb.encoder_(emb.net_.normalizer_(torch.from_numpy(X[:4]))).numpy()
    np.testing.assert_allclose(Z[:4], direct, rtol=1e-4, atol=1e-5)
    assert emb.get_feature_names_out()[0] == "contrastiveembedder0"
    assert len(emb.net_.history) == 2


def test_moco_keeps_momentum_key_encoder_and_capped_queue(images):
    X, _ = images
    emb = fast(method="moco", queue_size=10_000, momentum=0.9).fit(X)
    assert emb.queue_size_ == len(X)  # a longer queue would only repeat images
    assert emb.net_.criterion_.queue.shape == (emb.queue_size_, 16)
    online = dict(emb.net_.module_.named_parameters())
    for name, p in emb.net_.method_.key_encoder.named_parameters():
        assert not p.requires_grad
        assert not torch.equal(p, online[name])  # an average of past weights, not a copy


def test_same_random_state_same_embeddings_and_other_seed_differs(images, fitted):
    X, _ = images
    np.testing.assert_array_equal(fast().fit(X).transform(X), fitted.transform(X))
    assert not np.allclose(fast(random_state=1).fit(X).transform(X), fitted.transform(X))


def test_pickle_joblib_and_clone(images, fitted, tmp_path):
    X, _ = images
    Z = fitted.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(X), Z)
    joblib.dump(fitted, tmp_path / "emb.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "emb.joblib").transform(X), Z)
    cloned = clone(fitted)
    assert not hasattr(cloned, "net_") and cloned.get_params() == fitted.get_params()


def test_set_output_pandas(images, fitted):
    X, _ = images
    df = clone(fitted).set_output(transform="pandas").fit(X).transform(X)
    assert isinstance(df, pd.DataFrame) and df.shape == (len(X), 128)
    assert list(df.columns[:2]) == ["contrastiveembedder0", "contrastiveembedder1"]


def test_pipeline_with_classifier_and_grid_search_over_both_steps(images):
    X, y = images
    pipe = make_pipeline(fast(max_epochs=1), LogisticRegression(max_iter=500))
    grid = GridSearchCV(
        pipe,
        {"contrastiveembedder__temperature": [0.1, 0.5], "logisticregression__C": [0.1, 1.0]},
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.predict(X).shape == (len(X),)


class CountingEmbedder(ContrastiveEmbedder):
    fits = 0

    def fit(self, X, y=None):
        type(self).fits += 1
        return super().fit(X, y)


def test_pipeline_memory_avoids_refitting_the_embedder(images, tmp_path):
    X, y = images
    grid = {"logisticregression__C": [0.1, 1.0, 10.0]}

    def n_fits(memory):
        CountingEmbedder.fits = 0
        steps = [("contrastiveembedder", CountingEmbedder(max_epochs=1, batch_size=16, random_state=0)),
                 ("logisticregression", LogisticRegression(max_iter=500))]
        GridSearchCV(Pipeline(steps, memory=memory), grid, cv=2).fit(X, y)
        return CountingEmbedder.fits

    assert n_fits(None) == 3 * 2 + 1
    assert n_fits(joblib.Memory(tmp_path, verbose=0)) == 2 + 1


def test_frozen_embedder_is_never_refit_in_cross_validation(images, fitted):
    X, y = images
    weights = {k: v.clone() for k, v in fitted.encoder_.state_dict().items()}
    net = fitted.net_
    scores = cross_val_score(make_pipeline(FrozenEstimator(fitted), Ridge()), X, y.astype(float), cv=3)
    assert np.isfinite(scores).all()
    assert fitted.net_ is net
    for k, v in fitted.encoder_.state_dict().items():
        assert torch.equal(v, weights[k])


def test_pretraining_learns_rotation_invariant_structure():
    X, y = rotation_invariant_classes(384)
    probe = LogisticRegression(max_iter=2000)
    params = dict(batch_size=64, temperature=0.2, random_state=0)
    random_init = ContrastiveEmbedder(max_epochs=0, **params).fit(X).transform(X)
    pretrained = ContrastiveEmbedder(max_epochs=10, **params).fit(X).transform(X)
    random_acc = cross_val_score(probe, random_init, y, cv=3).mean()
    pretrained_acc = cross_val_score(probe, pretrained, y, cv=3).mean()
    assert pretrained_acc > random_acc + 0.2, (random_acc, pretrained_acc)
    assert pretrained_acc > 0.85


@pytest.mark.parametrize("encoder", ["resnet18", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 16 * 16, 8))])
def test_other_encoders_train(images, encoder):
    X, _ = images
    emb = fast(encoder=encoder, max_epochs=1).fit(X[:32])
    assert emb.transform(X[:5]).shape == (5, emb.embedding_dim_)


def test_vectors_use_mlp(images):
    X = images[0].reshape(len(images[0]), -1)
    emb = fast().fit(X)
    assert emb.transform(X).shape == (len(X), 64)


def test_bf16_autocast_on_cpu_gives_finite_float32_embeddings(images):
    X, _ = images
    Z = fast(precision="bf16", max_epochs=1).fit(X).transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()


def test_verbose_prints_epoch_table(images, capsys):
    fast(verbose=1, max_epochs=1).fit(images[0][:32])
    assert "train_loss" in capsys.readouterr().out


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((4, 2, 8, 8), np.nan, dtype=np.float32), "NaN or infinity.*PixelImputer"),
        (np.zeros((0, 2, 8, 8), dtype=np.float32), "0 sample"),
        (np.zeros((1, 2, 8, 8), dtype=np.float32), "1 sample"),
        (np.zeros(10, dtype=np.float32), "Expected 2D array"),
        (np.zeros((4, 8, 8), dtype=np.float32), r"Expected images of shape \(n_samples, n_bands"),
    ],
)
def test_bad_input_raises_clear_errors(X, match):
    with pytest.raises(ValueError, match=match):
        fast().fit(X)


def test_transform_with_other_band_count_names_both_shapes(images, fitted):
    with pytest.raises(ValueError, match=r"\(3, 16, 16\).*fitted on samples of shape \(2, 16, 16\)"):
        fitted.transform(np.zeros((2, 3, 16, 16), dtype=np.float32))


def test_unknown_options_are_rejected(images):
    with pytest.raises(ValueError, match="method"):
        fast(method="swav").fit(images[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_cuda_device_is_refused(images):
    with pytest.raises(ValueError, match="no CUDA device"):
        fast(device="cuda").fit(images[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_on_a_cuda_host_trains_there(images):
    emb = fast(device="cuda").fit(images[0])
    assert emb.device_ == "cuda" and np.isfinite(emb.transform(images[0])).all()


def test_integer_images_are_accepted_as_float32(images):
    X = (np.abs(images[0]) * 50).astype(np.uint8)
    emb = fast(max_epochs=1).fit(X)
    assert emb.transform(X).dtype == np.float32


@pytest.mark.slow  # torch.compile builds C++ kernels on the CPU: a minute or more
def test_compiled_encoder_gives_the_same_embeddings_and_pickles(images):
    X, _ = images
    compiled = fast(compile=True, max_epochs=1).fit(X)
    eager = fast(max_epochs=1).fit(X)
    np.testing.assert_allclose(compiled.transform(X), eager.transform(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(compiled)).transform(X), compiled.transform(X),
                               rtol=1e-4, atol=1e-5)
