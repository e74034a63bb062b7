"""Partial labels in ContrastiveEmbedder.fit: scikit-learn's semi-supervised conventions."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sklearn_ssl import ContrastiveEmbedder


def small(**params):
    return ContrastiveEmbedder(**{**dict(max_epochs=2, batch_size=16, projection_dim=8, random_state=0), **params})


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(48, 2, 8, 8)).astype(np.float32)


def test_all_labels_hidden_equals_self_supervised_fit(X):
    reference = small().fit(X).transform(X)
    hidden_classes = small(label_weight=1.0).fit(X, np.full(len(X), -1))
    hidden_target = small(label_weight=1.0).fit(X, np.full(len(X), np.nan))
    np.testing.assert_array_equal(hidden_classes.transform(X), reference)
    np.testing.assert_array_equal(hidden_target.transform(X), reference)
    assert hidden_classes.label_task_ is None
    # label_weight=0 (the default) ignores y, so Pipelines passing y keep their meaning
    y = np.arange(len(X)) % 3
    np.testing.assert_array_equal(small().fit(X, y).transform(X), reference)


def test_labels_change_the_fit_and_are_recorded(X):
    y = np.where(np.arange(len(X)) % 2, np.arange(len(X)) % 3, -1)
    emb = small(label_weight=1.0).fit(X, y)
    assert emb.label_task_ == "classification"
    np.testing.assert_array_equal(emb.label_classes_, [0, 1, 2])
    assert emb.net_.label_criterion_.head.out_features == 3
    assert not np.array_equal(emb.transform(X), small().fit(X).transform(X))
    z = np.where(np.arange(len(X)) % 2, np.linspace(0.01, 0.39, len(X)), np.nan)
    emb = small(label_weight=1.0, method="moco").fit(X, z)
    assert emb.label_task_ == "regression" and emb.net_.label_criterion_.head.out_features == 1


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([np.nan, -1.0] * 24), "mixes the two conventions"),
        (np.array(["a", "b"] * 24, dtype=object), "encode string classes first"),
        (np.array([0] * 47 + [-1]), "single class"),
        (np.array([np.inf] + [0.1] * 47), "infinite"),
        (np.zeros((48, 2), dtype=int), "1-D array with one label per image"),
        (np.zeros(10, dtype=int), "1-D array with one label per image"),
    ],
)
def test_bad_partial_labels_are_refused(X, y, match):
    with pytest.raises(ValueError, match=match):
        small(label_weight=1.0).fit(X, y)


def faint_dot_task(n=256, size=16, seed=0):
    """Class 1 has a faint dot at the centre; every image has a bright blob somewhere else.

    Contrastive learning alone spends its capacity on the bright, varied blob; the faint
    dot is what the labels are about.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    cx, cy = rng.uniform(-6, 6, (2, n))
    r = np.hypot(xx[None] - cx[:, None, None], yy[None] - cy[:, None, None])
    blob = np.exp(-0.5 * (r / rng.uniform(1.5, 3, n)[:, None, None]) ** 2) * rng.uniform(2, 5, n)[:, None, None]
    dot = np.exp(-0.5 * np.hypot(xx, yy) ** 2)
    X = (blob + y[:, None, None] * dot)[:, None] + rng.normal(0, 0.2, (n, 1, size, size))
    partial = np.where(rng.random(n) < 0.25, y, -1)
    return X.astype(np.float32), y, partial


# two 15-epoch fits: 4 s on 2 idle cores (2026-11-23), so it runs in the default suite
def test_labels_make_the_embedding_separate_what_augmentations_alone_do_not():
    X, y, partial = faint_dot_task()
    unlabelled = partial == -1
    params = dict(max_epochs=15, batch_size=32, random_state=0)
    scores = {}
    for weight in (0.0, 2.0):
        Z = ContrastiveEmbedder(label_weight=weight, **params).fit(X, partial).transform(X)
        probe = LogisticRegression(max_iter=3000)
        scores[weight] = cross_val_score(probe, Z[unlabelled], y[unlabelled], cv=3).mean()
    assert scores[2.0] > scores[0.0] + 0.1, scores
