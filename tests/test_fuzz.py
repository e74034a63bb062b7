"""Property-based fuzzing of the public estimators and loaders: a correct result or a clear error.

Every outcome must be a result of the right shape and finite values, or a ValueError /
TypeError whose message names a problem that the input really has; never a crash deep
inside torch, numpy or astropy.
"""

import re

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_ssl import (
    ArcsinhScaler,
    FineTunedClassifier,
    ImageReshaper,
    PixelImputer,
    load_cutouts,
)

SHAPES = st.sampled_from([(), (3,), (1, 4, 4), (2, 5, 7), (2, 4), (1, 1, 1, 2), (2, 8, 8)])
DTYPES = st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_, np.complex64])
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


def _array(n, shape, dtype, poison):
    X = np.ones((n, *shape), dtype=dtype) if shape else np.ones(n, dtype=dtype)
    X = X * (np.arange(X.size).reshape(X.shape) % 7 + 1).astype(dtype) if X.size else X
    if poison is not None and X.size and np.issubdtype(X.dtype, np.floating):
        X.flat[0] = poison
    return X


def input_problems(n, shape, dtype, poison=None, *, min_samples=1, labels=None) -> dict:
    """The problems an input has, each with the pattern of a message that names it."""
    problems = {}
    if n < min_samples:
        problems["too few samples"] = rf"Found array with {n} sample\(s\).*minimum of {min_samples}"
    if shape == ():
        problems["1-D"] = "Expected 2D array, got 1D array"
    if len(shape) in (2, 4):  # (n, a, b) or (n, a, b, c, d): neither vectors nor images
        problems["3-D or 5-D"] = r"[Ee]xpect(s|ed) images of shape \(n_samples, n_bands, height, width\)"
    if np.issubdtype(dtype, np.complexfloating):
        problems["complex"] = "Complex data not supported"
    if poison is not None and n and np.issubdtype(dtype, np.floating):
        problems["non-finite"] = "NaN or infinity|contains infinity|contains NaN|no valid pixel"
    if labels == "float":
        problems["continuous labels"] = "Unknown label type: continuous"
    return problems


def outcome(call, problems: dict):
    """The result of ``call``, or None after an error whose message names one of ``problems``."""
    try:
        return call()
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        assert problems, f"valid input refused: {message}"
        assert any(re.search(p, message) for p in problems.values()), (
            f"the error names none of the input's problems ({', '.join(problems)}): {message}")
        return None


@FUZZ
@given(n=st.integers(0, 5), shape=SHAPES, dtype=DTYPES, poison=st.sampled_from([None, np.nan, np.inf]),
       which=st.sampled_from(["scaler", "reshaper", "imputer"]))
def test_preprocessing_transformers(n, shape, dtype, poison, which):
    est = {"scaler": ArcsinhScaler(), "reshaper": ImageReshaper(), "imputer": PixelImputer()}[which]
    X = _array(n, shape, dtype, poison)
    out = outcome(lambda: est.fit_transform(X), input_problems(n, shape, dtype, poison))
    if out is not None:
        assert len(out) == n
        if which != "imputer" or poison is None:
            assert np.isfinite(np.asarray(out, dtype=float)).all() or poison is not None


@FUZZ
@given(n=st.integers(0, 6), shape=SHAPES, dtype=DTYPES, poison=st.sampled_from([None, np.nan]),
       labels=st.sampled_from(["int", "one_class", "float", "str"]))
def test_fine_tuned_classifier(n, shape, dtype, poison, labels):
    X = _array(n, shape, dtype, poison)
    y = {"int": np.arange(n) % 2, "one_class": np.zeros(n, int), "float": np.linspace(0, 1, n),
         "str": np.array(["a", "b"] * 3)[:n]}[labels]
    clf = FineTunedClassifier(None, max_epochs=1, batch_size=4, random_state=0)
    pred = outcome(lambda: clf.fit(X, y).predict(X),
                    input_problems(n, shape, dtype, poison, min_samples=2, labels=labels))
    if pred is not None:
        assert pred.shape == (n,) and set(pred) <= set(y)


@FUZZ
@given(shape=st.sampled_from([(4, 4), (2, 4, 4), (3, 5, 5), (4,), (1, 1, 2, 2)]),
       dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8]),
       corrupt=st.sampled_from([None, "truncate", "garbage", "empty"]))
def test_load_cutouts(tmp_path_factory, shape, dtype, corrupt):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "obj.fits"
    fits.PrimaryHDU(np.ones(shape, dtype=dtype)).writeto(path)
    if corrupt == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif corrupt == "garbage":
        path.write_bytes(b"\x00\x01not a fits file" * 50)
    elif corrupt == "empty":
        path.write_bytes(b"")
    problems = {"corrupt": r"obj\.fits: cannot be read as FITS"} if corrupt else {}
    if len(shape) not in (2, 3):
        problems["not an image"] = r"obj\.fits: cube layout expects a \(C, H, W\) image, got shape"
    result = outcome(lambda: load_cutouts([str(path)]), problems)
    if result is not None:
        images = result[0] if isinstance(result, tuple) else result
        assert images.ndim == 4 and images.dtype == np.float32 and np.isfinite(images).all()
    else:
        assert corrupt is not None or len(shape) != 3
