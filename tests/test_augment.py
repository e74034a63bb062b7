"""Physics and contract tests of sklearn_ssl.augment (tiny images; the whole file runs in seconds)."""

import math
import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_ssl import ContrastiveEmbedder
from sklearn_ssl.augment import (
    EXTINCTION, PRESETS, CenterCrop, Compose, GalacticReddening, GaussianNoise, JitterCrop, LogNormal, PSFBlur,
    RandomDihedral, RandomFlip, RandomRotation, RandomShift, SizeScale, Uniform, deredden, redden,
    resolve_augmentations,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def gen(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def gaussian_source(n=1, c=1, size=33, sigma=2.0, q=1.0, flux=1.0, dtype=torch.float64):
    """Centred, sampled elliptical Gaussian of total flux ``flux`` (axis ratio q along y)."""
    u = torch.arange(size, dtype=dtype) - (size - 1) / 2
    img = torch.exp(-(u[None, :] ** 2) / (2 * sigma ** 2) - (u[:, None] ** 2) / (2 * (q * sigma) ** 2))
    img = flux * img / img.sum()
    return img.expand(n, c, size, size).clone()


def moments(x):
    """Per-image, per-band flux-weighted centre and second moments (xx, yy, xy) in pixels."""
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    f = x.sum((-2, -1))
    cx, cy = (x * xx).sum((-2, -1)) / f, (x * yy).sum((-2, -1)) / f
    dx, dy = xx - cx[..., None, None], yy - cy[..., None, None]
    mom = [(x * a * b).sum((-2, -1)) / f for a, b in ((dx, dx), (dy, dy), (dx, dy))]
    return cx, cy, *mom


# -- Galactic reddening ----------------------------------------------------------------------------
@pytest.mark.parametrize("preset,bands", [("sdss", 5), ("decals", 3)])
def test_reddening_multiplies_each_band_by_exact_factor(preset, bands):
    x = torch.rand(6, bands, 8, 8, dtype=torch.float64) + 0.5
    aug = GalacticReddening(preset, new_ebv=Uniform(0.0, 0.5))
    y = aug(x, generator=gen(1))
    ratio = (y / x).flatten(2)
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio))  # one factor per image and band
    R = torch.tensor(EXTINCTION[preset], dtype=torch.float64)
    ebv = -2.5 * torch.log10(ratio[..., 0]) / R  # each band implies the same E(B-V) ...
    assert torch.allclose(ebv, ebv[:, :1].expand_as(ebv), atol=1e-10)
    assert (ebv >= 0).all() and (ebv <= 0.5).all() and ebv[:, 0].std() > 0.01  # ... drawn per image
    assert torch.allclose(y, x * 10 ** (-0.4 * R[:, None, None] * ebv[:, :1, None, None]))


def test_reddening_with_catalogue_ebv_dereddens_first():
    x = torch.rand(4, 5, 8, 8, dtype=torch.float64) + 0.1
    cat = torch.tensor([0.0, 0.05, 0.1, 0.3])
    aug = GalacticReddening("sdss", new_ebv=0.2)
    y = aug(x, generator=gen(), ebv=cat)
    R = torch.tensor(EXTINCTION["sdss"], dtype=torch.float64)
    expected = x * 10 ** (-0.4 * R[None, :, None, None] * (0.2 - cat.double())[:, None, None, None])
    assert torch.allclose(y, expected)
    assert torch.allclose(deredden(redden(x, cat, "sdss"), cat, "sdss"), x)
    # Compose passes the side information to the members that accept it
    assert torch.allclose(Compose([RandomFlip(False, False), aug])(x, generator=gen(), ebv=cat), expected)


def test_reddening_lognormal_and_difference():
    spec = LogNormal(0.67306, 0.001146, 0.03338, cap=1.0)
    x = torch.ones(4000, 3, 1, 1)
    y = GalacticReddening("decals", spec)(x, generator=gen())
    ebv = -2.5 * torch.log10(y[:, 0, 0, 0]) / EXTINCTION["decals"][0]
    assert 0 <= ebv.min() and ebv.max() <= 1.0 + 1e-5
    assert abs(ebv.median().item() - (0.03338 + 0.001146)) < 0.003  # lognormal median = scale + loc
    y = GalacticReddening("decals", spec, difference=True)(x, generator=gen())
    assert (y < 1).any() and (y > 1).any()  # differences of two draws can brighten


def test_band_count_mismatch_names_both_counts():
    with pytest.raises(ValueError, match=r"5 per-band values.*3 bands"):
        GalacticReddening("sdss")(torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"2 per-band values.*3 bands"):
        GaussianNoise(Uniform(0, (0.1, 0.2)))(torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"5 bands.*\(3, 16, 16\)"):
        resolve_augmentations("sdss", (3, 16, 16))
    with pytest.raises(ValueError, match=r"3 bands.*\(5, 16, 16\)"):
        resolve_augmentations("decals", (5, 16, 16))
    with pytest.raises(ValueError, match="at least 24 px"):
        JitterCrop(16, 4)(torch.ones(1, 1, 20, 20))


# -- geometry --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fuse,interpolation,rtol", [(True, "bilinear", 8e-3), (False, "bicubic", 2.5e-3)])
def test_rotation_keeps_flux_and_randomises_orientation(fuse, interpolation, rtol):
    x = gaussian_source(n=200, c=2, size=33, sigma=3.0, q=0.4, flux=10.0, dtype=torch.float32)
    y = Compose([RandomRotation(interpolation=interpolation)], fuse=fuse)(x, generator=gen(3))
    assert torch.allclose(y.sum((-2, -1)), torch.full((200, 2), 10.0), rtol=rtol)  # minor-axis sigma 1.2 px
    cx, cy, xx, yy, xy = moments(y.double())
    assert torch.allclose(cx, torch.tensor(16.0, dtype=torch.float64), atol=1e-3)  # still centred
    assert (xx + yy).max() - (xx + yy).min() < 0.6  # size kept, up to interpolation smoothing (~0.5 px^2)
    phi = 0.5 * torch.atan2(2 * xy[:, 0], xx[:, 0] - yy[:, 0])  # position angle: uniform on the circle
    assert abs(torch.cos(2 * phi).mean()) < 0.15 and abs(torch.sin(2 * phi).mean()) < 0.15
    assert torch.allclose(y[:, 0], y[:, 1])  # same angle for every band of an image


def test_flips_and_dihedral_are_exact_permutations():
    x = torch.rand(64, 2, 6, 6)
    for aug in (RandomFlip(), RandomDihedral()):
        for y in (aug(x, generator=gen()), Compose([aug, RandomShift(0)])(x, generator=gen())):
            assert torch.allclose(y.flatten(1).sort(1).values, x.flatten(1).sort(1).values, atol=1e-6)
    y = RandomDihedral()(x, generator=gen())
    assert len({tuple(torch.round(y[i, 0, 0] * 1e4).tolist()) for i in range(64)}) > 1
    assert torch.equal(RandomFlip(False, False)(x, generator=gen()), x)
    a, b = RandomFlip()(x, generator=gen()), Compose([RandomFlip(), RandomShift(0)])(x, generator=gen())
    assert torch.allclose(a, b, atol=1e-6)  # exact and fused paths draw the same flips


def test_size_scale_magnifies_within_range():
    x = gaussian_source(n=100, size=41, sigma=3.0, dtype=torch.float32)
    y = SizeScale(0.9, 1.1, interpolation="bicubic")(x, generator=gen())
    _, _, xx, yy, _ = moments(y.double())
    s = ((xx + yy) / 18.0).sqrt()[:, 0]  # sigma ratio after/before
    assert s.min() > 0.9 - 0.01 and s.max() < 1.1 + 0.01 and s.std() > 0.03
    assert torch.allclose(y[:, 0, 20, 20], x[:, 0, 20, 20])  # surface brightness kept at the centre ...
    assert torch.allclose(y.sum((-2, -1))[:, 0].double(), s ** 2, rtol=0.03)  # ... so flux grows as area


def test_jitter_crop_integer_shifts_and_centre_view():
    x = torch.arange(2 * 20 * 20, dtype=torch.float32).view(1, 2, 20, 20).expand(300, 2, 20, 20)
    aug = JitterCrop(size=10, max_shift=3)
    y = aug(x, generator=gen())
    assert y.shape == (300, 2, 10, 10)
    r0 = (y[:, 0, 0, 0] // 20).long() - 5
    c0 = (y[:, 0, 0, 0] % 20).long() - 5
    assert r0.min() == -3 and r0.max() == 3 and c0.min() == -3 and c0.max() == 3  # all shifts reachable
    for i in range(0, 300, 37):
        assert torch.equal(y[i], x[i, :, 5 + r0[i]:15 + r0[i], 5 + c0[i]:15 + c0[i]])
    assert torch.equal(aug.eval_view(x[:1]), x[:1, :, 5:15, 5:15])
    assert torch.equal(CenterCrop(10)(x[:1]), aug.eval_view(x[:1]))
    fused = Compose([aug, RandomShift(0)])(x, generator=gen())  # affine path: same pixels
    assert torch.allclose(fused, y, rtol=1e-5, atol=1e-4)
    assert torch.equal(Compose([RandomRotation(), aug]).eval_view(x), aug.eval_view(x))


def test_fused_warp_matches_sequential():
    x = torch.rand(8, 3, 24, 24)
    augs = [RandomRotation(), JitterCrop(12, 2)]
    a = Compose(augs, fuse=True)(x, generator=gen(5))
    b = Compose(augs, fuse=False)(x, generator=gen(5))
    assert a.shape == b.shape == (8, 3, 12, 12)
    assert torch.allclose(a, b, atol=1e-5)


# -- noise -----------------------------------------------------------------------------------------
def test_noise_has_requested_per_band_sigma():
    x = torch.zeros(64, 3, 32, 32)
    y = GaussianNoise((0.1, 0.2, 0.3))(x, generator=gen())
    assert torch.allclose(y.std((0, 2, 3)), torch.tensor([0.1, 0.2, 0.3]), rtol=0.02)
    assert abs(y.mean()) < 2e-3
    y = GaussianNoise(Uniform(0.0, 0.5))(x, generator=gen())
    s = y.std((2, 3))  # per image and band: spread over the range
    assert s.min() < 0.1 and s.max() > 0.4 and s.max() < 0.52


def test_noise_quadrature_gives_requested_final_sigma():
    existing = torch.tensor([0.05, 0.1, 0.2]).view(1, 3, 1, 1)
    x = existing * torch.randn(64, 3, 32, 32, generator=gen(1))
    y = GaussianNoise((0.13, 0.25, 0.2), known_sigma=(0.05, 0.1, 0.2))(x, generator=gen(2))
    assert torch.allclose(y.std((0, 2, 3)), torch.tensor([0.13, 0.25, 0.2]), rtol=0.02)
    assert torch.equal(y[:, 2], x[:, 2])  # already at the target: nothing added


def test_relative_noise_with_known_sigma_mixes_no_units():
    """relative=True: the target is a fraction of each band's spread, known_sigma in flux units. Images of
    spread 10 with known noise 3 asked for a final 0.5 x spread (= 5) get sqrt(25 - 9) = 4 added; the old
    code subtracted 3 from 0.5 before scaling (nothing added)."""
    x = 10 * torch.randn(256, 2, 16, 16, generator=gen(1))
    y = GaussianNoise(0.5, relative=True, known_sigma=3.0)(x, generator=gen(2))
    added = (y - x).std((0, 2, 3))
    assert torch.allclose(added, torch.tensor([4.0, 4.0]), rtol=0.02), added


def test_relative_noise_and_auto_preset_are_scale_free():
    x = torch.rand(8, 3, 16, 16)
    aug = resolve_augmentations("auto", (3, 16, 16))
    a, b = aug(x, generator=gen()), aug(1000 * x, generator=gen())
    assert torch.allclose(1000 * a, b, rtol=1e-4, atol=1e-3)
    v = torch.rand(16, 7)
    assert resolve_augmentations("auto", (7,))(v, generator=gen()).shape == v.shape


# -- PSF -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fft", "conv"])
def test_psf_blur_of_point_source_has_requested_width(method):
    x = torch.zeros(2, 3, 41, 41, dtype=torch.float64)
    x[..., 20, 20] = 1.0
    y = PSFBlur((1.0, 2.0, 3.0), method=method)(x, generator=gen())
    assert PSFBlur().method == "conv"
    cx, cy, xx, yy, xy = moments(y)
    assert torch.allclose(y.sum((-2, -1)), torch.ones(2, 3, dtype=torch.float64), atol=1e-6)  # flux kept
    assert torch.allclose(xx.sqrt(), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), rtol=0.01)
    assert torch.allclose(yy, xx) and xy.abs().max() < 1e-8 and torch.allclose(cx, torch.tensor(20.0).double())


@pytest.mark.parametrize("method", ["fft", "conv"])
def test_psf_quadrature_difference(method):
    x = gaussian_source(n=1, c=2, size=41, sigma=1.5)
    y = PSFBlur((2.5, 1.0), known_sigma=1.5, method=method)(x, generator=gen())
    _, _, xx, _, _ = moments(y)
    assert torch.allclose(xx.sqrt()[0], torch.tensor([2.5, 1.5], dtype=torch.float64), rtol=0.01)
    assert torch.allclose(y[:, 1], x[:, 1], atol=1e-8)  # target below the known PSF: untouched


def test_psf_per_image_widths_follow_distribution_and_methods_agree():
    x = torch.zeros(50, 1, 33, 33, dtype=torch.float64)
    x[..., 16, 16] = 1.0
    a = PSFBlur(Uniform(1.0, 3.0))(x, generator=gen(4))
    b = PSFBlur(Uniform(1.0, 3.0), method="conv")(x, generator=gen(4))
    assert torch.allclose(a, b, atol=5e-6)
    s = moments(a)[2].sqrt()[:, 0]
    assert s.min() > 0.99 and s.max() < 3.01 and s.std() > 0.3


# -- contract: reproducibility, dtype, device ------------------------------------------------------
@pytest.mark.parametrize("name,shape", [("auto", (3, 16, 16)), ("sdss", (5, 24, 24)), ("decals", (3, 24, 24))])
def test_presets_reproducible_dtype_and_device(name, shape):
    aug = resolve_augmentations(name, shape)
    x = torch.rand(4, *shape) + 0.1
    a, b, c = aug(x, generator=gen(7)), aug(x, generator=gen(7)), aug(x, generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == x.dtype and aug(x.double(), generator=gen()).dtype == torch.float64
    assert aug.eval_view(x).shape == a.shape
    assert torch.isfinite(a).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name,shape", [("auto", (3, 16, 16)), ("sdss", (5, 24, 24)), ("decals", (3, 24, 24))])
def test_cpu_and_cuda_agree(name, shape):
    # The generators differ across devices, so compare the deterministic parts with fixed parameters
    aug = Compose([GalacticReddening(EXTINCTION["sdss"][:shape[0]], 0.1), RandomFlip(False, False),
                   JitterCrop(shape[-1] - 4, 0), PSFBlur(1.5), PSFBlur(1.5, method="conv")])
    x = torch.rand(4, *shape)
    assert torch.allclose(aug(x, generator=gen()), aug(x.cuda(), generator=gen(0, "cuda")).cpu(), atol=1e-5)
    y = resolve_augmentations(name, shape)(x.cuda(), generator=gen(0, "cuda"))
    assert y.is_cuda and y.dtype == x.dtype


# -- the embedder ----------------------------------------------------------------------------------
def survey(n, bands, size=32, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.lognormal(-3, 0.5, size=(n, bands, size, size)).astype(np.float32)
    X[:, :, size // 2 - 3:size // 2 + 3, size // 2 - 3:size // 2 + 3] += rng.uniform(1, 5, (n, bands, 1, 1))
    return X


@pytest.mark.parametrize("preset,bands,size", [("sdss", 5, 32), ("decals", 3, 16)])
def test_embedder_pretrains_with_survey_preset(preset, bands, size):
    X = survey(16, bands, size)
    emb = ContrastiveEmbedder(augmentations=preset, max_epochs=1, batch_size=8, random_state=0, device="cpu").fit(X)
    Z = emb.transform(X)
    assert Z.shape == (16, emb.embedding_dim_) and np.isfinite(Z).all()
    assert np.isfinite(emb.net_.history[-1, "train_loss"])
    with pytest.raises(ValueError, match="5 bands" if preset == "sdss" else "3 bands"):
        ContrastiveEmbedder(augmentations=preset, max_epochs=1, batch_size=8).fit(survey(8, 4, 16))


def tiny_encoder(in_channels=5):
    return torch.nn.Sequential(torch.nn.Conv2d(in_channels, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten())


def test_gridsearch_over_presets_and_pickle_of_composed_list():
    X, y = survey(16, 5, 16), np.repeat([0, 1], 8)
    small = {"encoder": tiny_encoder, "projection_dim": 8, "max_epochs": 1, "batch_size": 8, "random_state": 0,
             "device": "cpu"}
    pipe = make_pipeline(ContrastiveEmbedder(**small),
                         LogisticRegression(max_iter=200))
    search = GridSearchCV(pipe, {"contrastiveembedder__augmentations": ["auto", "sdss"]}, cv=2,
                          refit=False).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    augs = [RandomRotation(), JitterCrop(12, 2), GaussianNoise(Uniform(0, 0.05)), PSFBlur(LogNormal(0.2, 0.5, 0.5, 2))]
    emb = ContrastiveEmbedder(augmentations=augs, **small)
    twin = clone(emb)
    assert twin.augmentations is not augs and type(twin.augmentations[1]) is JitterCrop
    emb.fit(X)
    assert augs[1].size == 12 and emb.net_.augmentations_.augmentations[1] is not augs[1]  # copied, not shared
    back = pickle.loads(pickle.dumps(emb))
    np.testing.assert_allclose(back.transform(X), emb.transform(X), rtol=1e-5, atol=1e-6)
    assert set(PRESETS) >= {"auto", "sdss", "decals"}


def test_plot_augmentations_returns_figure():
    from sklearn_ssl.plotting import plot_augmentations

    fig = plot_augmentations(survey(2, 5, 16), "sdss", "ugriz", n_views=2, titles=["a", "b"])
    assert len(fig.axes) == 2 * 3


def test_pickles_made_before_the_package_split_still_load():
    """Before augment/ was a package every class lived in ``sklearn_ssl.augment``; a pickle naming
    that path (as fitted estimators saved then do) loads and draws the same views."""
    aug = resolve_augmentations("decals", (3, 32, 32))
    old = re.sub(rb"sklearn_ssl\.augment\._\w+", b"sklearn_ssl.augment", pickle.dumps(aug, protocol=0))
    assert b"augment._" not in old
    x = torch.rand(2, 3, 32, 32, generator=gen(1))
    assert torch.equal(pickle.loads(old)(x, generator=gen(0)), aug(x, generator=gen(0)))
