"""Noise after resampling: a view's background noise reaches its target level; SDSS sky noise from its sources."""

import math

import numpy as np
import pytest
import torch

from sklearn_ssl import augment as A
from sklearn_ssl.augment._geometric import _warp
from sklearn_ssl.datasets import make_galaxy_survey


def _white(sigma, n=64, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    sigma = torch.as_tensor(sigma, dtype=torch.float32).view(1, -1, 1, 1)
    return sigma * torch.randn(n, sigma.shape[1], size, size, generator=g)


def _band_std(views):
    return views.transpose(0, 1).reshape(views.shape[1], -1).std(1)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("extra", [[], [A.SizeScale(0.9, 1.1)], [A.PSFBlur(1.0)]], ids=["rotate", "scale", "blur"])
def test_noise_after_resampling_reaches_the_target_level(interpolation, extra):
    known = (0.5, 2.0)
    target = (0.6, 2.0)  # the second band: no noise to add, only the resampling loss to restore
    chain = A.Compose([A.RandomRotation(interpolation=interpolation), *extra, A.JitterCrop(32, 4),
                       A.GaussianNoise(target, known_sigma=known)])
    views = chain(_white(known), generator=torch.Generator().manual_seed(1))
    ratio = _band_std(views) / torch.tensor(target)
    assert torch.allclose(ratio, torch.ones(2), atol=0.1), ratio


def test_resampling_alone_lowers_the_noise_and_the_gain_follows_it():
    x = _white((1.0,), n=128)
    out, gain = _warp(x, [A.RandomRotation()], torch.Generator().manual_seed(0), noise_gain=True)
    measured = out[:, 0, 8:-8, 8:-8].reshape(128, -1).var(1)  # away from the reflected corners
    assert 0.35 < float(gain.mean()) < 0.55  # 4/9 on average for bilinear rotations
    assert float(measured.mean()) == pytest.approx(float(gain.mean()), rel=0.05)


def test_sdss_preset_views_have_the_images_noise_up_to_sqrt2_times_it():
    sky = torch.tensor(A.SDSS_SKY_SIGMA)
    views = A.resolve_augmentations("sdss", (5, 48, 48))(_white(sky), generator=torch.Generator().manual_seed(2))
    # final sigma uniform on [s, sqrt(2) s]: rms = s * sqrt(E[u^2]), u ~ U(1, sqrt(2))
    rms = math.sqrt((2 ** 1.5 - 1) / (3 * (2 ** 0.5 - 1)))
    ratio = _band_std(views) / (sky * rms)
    assert torch.allclose(ratio, torch.ones(5), atol=0.1), ratio


def test_sdss_sky_sigma_is_the_poisson_noise_of_the_published_sky():
    # r band by hand: 20.84 mag/arcsec^2, 0.396"/px, 54.1 s, 1 e-/s at AB 25.62
    sky_nmgy = 10 ** (-0.4 * (20.84 - 22.5)) * 0.396 ** 2
    e_per_nmgy = 54.1 * 10 ** (0.4 * (25.62 - 22.5))
    assert A.SDSS_SKY_SIGMA[2] == pytest.approx(math.sqrt(sky_nmgy * e_per_nmgy) / e_per_nmgy, rel=1e-3)
    assert A.SDSS_SKY_SIGMA[2] == pytest.approx(0.028, abs=0.001)  # not the 0.051 of the 95% completeness limits
    assert np.argmax(A.SDSS_SKY_SIGMA) == 4 and np.argmin(A.SDSS_SKY_SIGMA) == 1  # z noisiest, g deepest


def test_synthetic_sdss_survey_background_matches_sky_sigma():
    noisy, _ = make_galaxy_survey(40, 32, random_state=3)
    truth, _ = make_galaxy_survey(40, 32, random_state=3, noise=False)
    diff, faint = noisy - truth, truth < 0.2 * np.array(A.SDSS_SKY_SIGMA)[None, :, None, None]
    measured = np.array([np.std(diff[:, b][faint[:, b]]) for b in range(5)])
    # per-galaxy sky varies lognormally (0.2 dex-ish) about the median: compare the rms to its expectation
    np.testing.assert_allclose(measured, np.array(A.SDSS_SKY_SIGMA) * math.exp(0.2 ** 2), rtol=0.1)
    assert measured[2] == pytest.approx(0.0275 * math.exp(0.2 ** 2), rel=0.1)  # r: the derived 0.0275 nmgy
