"""Images put in the band order a model was trained on, or refused (sklearn_ssl.io.to_model_bands)."""

import types

import numpy as np
import pytest

from sklearn_ssl.io import model_bands, to_model_bands

X = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)


def test_same_order_is_left_alone():
    out, note = to_model_bands(X, list("grz"), list("grz"))
    assert out is X and note == ""


def test_other_order_is_reordered_and_said():
    out, note = to_model_bands(X, list("zrg"), list("grz"), source="cutouts/")
    np.testing.assert_array_equal(out, X[:, ::-1])
    assert note == "reordered the bands of cutouts/ from z,r,g to g,r,z, the order the model was trained on"


def test_extra_bands_are_left_out():
    out, note = to_model_bands(X, list("gri"), list("ig"))
    np.testing.assert_array_equal(out, X[:, [2, 0]])
    assert "(left out r)" in note


def test_missing_band_is_refused_naming_both_orders():
    with pytest.raises(ValueError, match=r"trained on bands g,r,z \(in this order\) but x has bands g,r,i: "
                                         r"missing z"):
        to_model_bands(X, list("gri"), list("grz"), source="x")


def test_unknown_image_bands_warn_and_unknown_model_bands_pass():
    with pytest.warns(UserWarning, match="trained on bands g,r,z .* cannot be checked; pass --bands"):
        out, _ = to_model_bands(X, None, list("grz"))
    assert out is X
    assert to_model_bands(X, list("zrg"), None)[0] is X  # a model without bands_: nothing to check
    with pytest.raises(ValueError, match="2 band name"):
        to_model_bands(X, ["g", "r"], None)


def test_models_without_bands_attribute():
    assert model_bands(types.SimpleNamespace()) is None
    assert model_bands(types.SimpleNamespace(bands_=("g", "r"))) == ["g", "r"]
