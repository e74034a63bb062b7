"""Catalogue E(B-V) through fit / transform and the fine-tuners, routed per fold by scikit-learn."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

import sklearn_ssl.estimators._embedder as embedder_module
from sklearn_ssl import ContrastiveEmbedder, FineTunedClassifier
from sklearn_ssl.augment import GalacticReddening, RandomRotation, deredden

_SEEN: list = []


class _SpyReddening(GalacticReddening):
    """GalacticReddening that records the catalogue E(B-V) rows it is given."""

    def forward(self, x, generator=None, ebv=None, **kw):
        _SEEN.append(None if ebv is None else ebv.detach().cpu().numpy().copy())
        return super().forward(x, generator=generator, ebv=ebv, **kw)


def _data(n=30):
    rng = np.random.default_rng(0)
    X = rng.normal(1.0, 0.3, (n, 5, 8, 8)).astype(np.float32)
    y = np.arange(n) % 2
    ebv = (np.arange(n) + 1) / 1000.0  # row i carries (i + 1) / 1000
    return X, y, ebv


def _rows(values):
    return set(np.rint(np.concatenate(values) * 1000).astype(int) - 1)


def _embedder(**kw):
    # batches of 10 divide every training set here (30 rows, folds of 20): no row is left out
    return ContrastiveEmbedder(augmentations=[_SpyReddening("sdss"), RandomRotation()], max_epochs=2,
                               batch_size=10, projection_dim=8, random_state=0, **kw)


def test_fit_passes_each_batch_its_own_ebv_rows():
    X, _, ebv = _data()
    _SEEN.clear()
    _embedder().fit(X, ebv=ebv)
    assert _SEEN and all(v is not None for v in _SEEN)
    assert _rows(_SEEN) == set(range(30))


def test_transform_de_reddens_by_the_catalogue_ebv():
    X, _, ebv = _data()
    emb = _embedder().fit(X)
    expected = emb.transform(deredden(torch.from_numpy(X), torch.as_tensor(ebv, dtype=torch.float32)).numpy())
    np.testing.assert_allclose(emb.transform(X, ebv=ebv), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(emb.transform(X), expected)


def test_bad_ebv_is_refused_clearly():
    X, _, ebv = _data()
    with pytest.raises(ValueError, match="one E\\(B-V\\) per image"):
        _embedder().fit(X, ebv=ebv[:5])
    with pytest.raises(ValueError, match="NaN"):
        _embedder().fit(X, ebv=np.full(30, np.nan))
    with pytest.raises(ValueError, match="no GalacticReddening"):
        ContrastiveEmbedder(augmentations="auto", max_epochs=1, batch_size=8).fit(X, ebv=ebv)


def test_pipeline_in_grid_search_routes_each_fold_its_own_rows(monkeypatch):
    X, y, ebv = _data()
    transformed = []
    real = embedder_module.deredden_batch
    monkeypatch.setattr(embedder_module, "deredden_batch",
                        lambda x, e, aug: transformed.append(None if e is None else np.asarray(e)) or real(x, e, aug))
    folds = list(KFold(3).split(X))
    with sklearn.config_context(enable_metadata_routing=True):
        emb = _embedder().set_fit_request(ebv=True).set_transform_request(ebv=True)
        pipe = Pipeline([("emb", emb), ("clf", LogisticRegression())])
        search = GridSearchCV(pipe, {"clf__C": [1.0]}, cv=KFold(3), refit=False)
        _SEEN.clear()
        transformed.clear()
        search.fit(X, y, ebv=ebv)
    # three fits; each fit's augmentation calls saw only (and nearly all of) its training rows
    per_fit = len(_SEEN) // 3
    for k, (train, test) in enumerate(folds):
        assert _rows(_SEEN[k * per_fit:(k + 1) * per_fit]) == set(train)
    # transform calls (training rows in fit_transform, then the held-out rows for scoring) get theirs
    rows = [set(np.rint(e * 1000).astype(int) - 1) for e in transformed if e is not None]
    assert rows and all(any(r <= set(tr) or r <= set(te) for tr, te in folds) for r in rows)
    assert set().union(*rows) == set(range(30))


def test_fine_tuner_takes_ebv_in_fit_and_predict():
    X, y, ebv = _data()
    _SEEN.clear()
    clf = FineTunedClassifier(encoder="small", augmentations=[_SpyReddening("sdss")], max_epochs=1, batch_size=10,
                              random_state=0).fit(X, y, ebv=ebv)
    assert _SEEN and _rows(_SEEN) <= set(range(30))
    assert clf.predict_proba(X, ebv=ebv).shape == (30, 2)
    assert not np.allclose(clf.predict_proba(X, ebv=ebv), clf.predict_proba(X))
    with sklearn.config_context(enable_metadata_routing=True):
        assert clf.set_fit_request(ebv=True).get_metadata_routing().fit.requests["ebv"] is True
