"""Colour composites: astropy's Lupton et al. (2004) mapping with the documented stretch."""

import numpy as np
import pytest
from astropy.stats import mad_std

from sklearn_ssl.plotting import make_rgb


def _images(n=4, size=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.05, size=(n, 5, size, size))
    yy, xx = np.mgrid[:size, :size] - size / 2
    x += np.exp(-(xx**2 + yy**2) / 6.0) * np.array([0.5, 1.0, 2.0, 3.0, 3.5])[None, :, None, None]
    return x


def test_composite_is_the_documented_asinh_stretch_with_colours_kept_when_saturated():
    x = _images()
    rgb_bands = x[:, [3, 2, 1]].transpose(0, 2, 3, 1)  # i, r, g -> red, green, blue
    softening, scale = 0.1, 2.0
    out = make_rgb(x, "ugriz", softening=softening, scale=scale)
    assert out.shape == (4, 12, 12, 3) and out.min() >= 0 and out.max() <= 1
    intensity = rgb_bands.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(intensity > 0, rgb_bands * np.arcsinh(intensity / softening) / intensity, 0) / scale
    expected = np.clip(expected, 0, None)
    saturated = expected.max(-1) > 1
    assert saturated.any() and (~saturated).any()
    np.testing.assert_allclose(out[~saturated], expected[~saturated], atol=1e-12)
    # a saturated pixel is dimmed as a whole: its brightest band at 1, the band ratios kept
    top = expected[saturated]
    np.testing.assert_allclose(out[saturated], top / top.max(-1, keepdims=True), atol=1e-12)


def test_default_softening_is_astropy_mad_std_of_the_background():
    x = _images()
    rgb_bands = x[:, [3, 2, 1]].transpose(0, 2, 3, 1)
    noise = mad_std(rgb_bands - np.median(rgb_bands, axis=(1, 2), keepdims=True), axis=(0, 1, 2))
    softening = 1.5 * float(np.median(noise))
    np.testing.assert_allclose(make_rgb(x, "ugriz"), make_rgb(x, "ugriz", softening=softening), atol=1e-12)
    with pytest.raises(ValueError, match="rgb_bands"):
        make_rgb(x, "ugriz", rgb_bands="gry")
