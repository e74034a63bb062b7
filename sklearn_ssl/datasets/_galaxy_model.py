"""The physics of the synthetic survey (:func:`sklearn_ssl.datasets.make_galaxy_survey`).

Rest-frame spectral templates seen through smoothed top-hat filters at every redshift
(K-corrections), the draw of each galaxy's intrinsic parameters (class, redshift, bulge and
disk light, template mixtures, distances from :data:`astropy.cosmology.Planck18`), and the
rendering of bulge + disk + class structure (Sersic profiles, spiral arms, bars and rings,
clumps and tidal plumes) convolved with a double-Gaussian PSF by FFT. The public function,
its parameters, the survey constants, noise and the catalogue stay in ``datasets.py``.
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.cosmology import Planck18
from astropy.modeling.models import Sersic2D
from scipy import fft as sp_fft
from scipy import special, stats


# Filter half-power edges and edge softness (Angstrom): smoothed top-hat approximations.
_FILTER_EDGES = {
    "sdss": {"u": (3250, 3900, 40), "g": (4000, 5450, 60), "r": (5550, 6900, 60),
             "i": (6900, 8250, 60), "z": (8300, 9700, 80)},
    "decals": {"g": (4000, 5500, 60), "r": (5650, 7150, 60), "z": (8500, 10000, 80)},
}


_Z_MIN, _Z_MAX, _Z0 = 0.01, 0.4, 0.071  # p(z) ~ z^2 exp(-(z/z0)^1.5): median ~0.10
_LAM = np.arange(1500.0, 12000.0, 5.0)
_Z_GRID = np.linspace(0.0, 0.45, 181)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _template(slope, d4000, uv, lines, curv=0.0):
    """Rest-frame f_lambda: power law with a 4000 A break, UV drop and emission lines."""
    f = (_LAM / 5500.0) ** slope * np.exp(-curv * np.log(_LAM / 5500.0) ** 2)
    f = f * (1 / d4000 + (1 - 1 / d4000) * _sigmoid((_LAM - 4000.0) / 60.0))
    f = f * np.minimum(_LAM / 3000.0, 1.0) ** uv
    cont = f.copy()
    for lam0, ew in lines:  # equivalent widths in Angstrom, Gaussian lines of sigma 8 A
        f = f + ew * np.interp(lam0, _LAM, cont) * stats.norm.pdf(_LAM, lam0, 8.0)
    return f


# old (E/bulge), intermediate (Sbc disk), star forming (HII regions, irregulars). The intermediate
# and star-forming templates have a stronger break and a flatter slope than before issue 30 (-0.7, 1.6
# and -1.5, 1.25): at z = 0 their u - r was 1.42 and 0.54, bluer than any SDSS galaxy type, which put
# the blue cloud at u - r ~ 1.1 where SDSS has it near 1.8 (Strateva et al. 2001; Baldry et al. 2004).
_TEMPLATES = np.stack([
    _template(0.3, 2.1, 4.0, [], 1.5),
    _template(-0.5, 1.8, 2.0, [(3727, 15), (4861, 5), (6563, 25)], 0.8),
    _template(-1.3, 1.5, 0.8, [(3727, 40), (4861, 15), (5007, 35), (6563, 90)]),
])


def _mean_fnu(f_lam, survey, band):
    """Mean f_nu (in units of f_lambda * A^2) of spectra on ``_LAM`` through a smoothed top-hat filter."""
    lo, hi, soft = _FILTER_EDGES[survey][band]
    t = _sigmoid((_LAM - lo) / soft) * _sigmoid((hi - _LAM) / soft)
    return np.trapezoid(f_lam * _LAM * t, _LAM, axis=-1) / np.trapezoid(t / _LAM, _LAM)


def _band_fluxes(survey, bands):
    """Observed mean f_nu of each template in each band, per unit rest-frame r flux.

    Returns an array (n_templates, n_z_grid, n_bands); -2.5 log10 of it is the
    K-correction from rest-frame r to observed band b.
    """
    def mean_fnu(f_lam, band):
        return _mean_fnu(f_lam, survey, band)

    rest_r = mean_fnu(_TEMPLATES, "r")[:, None]
    out = np.empty((len(_TEMPLATES), len(_Z_GRID), len(bands)))
    for j, z in enumerate(_Z_GRID):
        shifted = np.stack([np.interp(_LAM / (1 + z), _LAM, t) / (1 + z) for t in _TEMPLATES])
        out[:, j, :] = np.stack([mean_fnu(shifted, b) for b in bands], axis=-1) / rest_r
    return out


# Red sequence and blue cloud (SDSS Main Galaxy Sample at z ~ 0.1). The colour bimodality of
# SDSS galaxies (Strateva et al. 2001, AJ 122, 1861: observed u - r separates the two at 2.22) is
# made by two populations with their own luminosity function, structure and stellar populations:
# - red galaxies are brighter on average (Baldry et al. 2004, ApJ 600, 681: the red distribution's
#   M* = -21.5 against the blue one's fainter, steeper function), so the red fraction rises with
#   luminosity; the Gaussian luminosity functions here have means -21.6 (red) and -20.5 (blue),
#   sigma 1 mag;
# - red galaxies are bulge-dominated (bulge-to-total 0.35-0.85) with old stars in bulge and disk
#   (disk 60-100 % old template, the rest intermediate; the class structure half old, half
#   intermediate: passive arms and bars); blue ones disk-dominated (0-0.45) with intermediate and
#   star-forming disks and star-forming class structure;
# - the red share depends on morphology as observed (early types are red, irregular/interacting
#   ones blue): P(red) = 0.6 smooth, 0.35 spiral, 0.45 barred, 0.15 disturbed.
_RED_GIVEN_CLASS = np.array([0.60, 0.35, 0.45, 0.15])
_MEAN_ABSMAG = {"red": -21.6, "blue": -20.5}


def _draw_catalogue(n, rng, class_weights, magnitude_limit):
    """Per-galaxy intrinsic parameters (no band dependence)."""
    w = np.asarray(class_weights, float) / np.sum(class_weights)
    cls = rng.choice(4, size=n, p=w)
    # Redshift: Gamma(3)-like in (z/z0)^1.5, truncated to [0.01, 0.4) by redrawing.
    z = _Z0 * rng.gamma(2.0, size=n) ** (2 / 3)
    bad = (z < _Z_MIN) | (z >= _Z_MAX)
    while bad.any():
        z[bad] = _Z0 * rng.gamma(2.0, size=bad.sum()) ** (2 / 3)
        bad = (z < _Z_MIN) | (z >= _Z_MAX)
    # Population (red sequence or blue cloud), then bulge-to-total (rest-frame r), the disk's share
    # in the class's structure and the template mixtures of each population.
    red = rng.random(n) < _RED_GIVEN_CLASS[cls]
    bt = np.where(red, rng.uniform(0.35, 0.85, n), rng.uniform(0.0, 0.45, n))
    sf_frac = rng.uniform(0.3, 0.6, n)
    bulge_old = np.clip(rng.normal(0.9, 0.08, n), 0, 1)  # bulge: mostly old population
    bulge_old = np.where(red, np.clip(bulge_old + 0.05, 0, 1), bulge_old)
    disk_young = np.where(red, 0.0, rng.uniform(0.0, 0.6, n))
    disk_old = np.where(red, rng.uniform(0.6, 1.0, n), 0.0)
    frac = np.stack([bt, (1 - bt) * (1 - sf_frac), (1 - bt) * sf_frac], 1)  # bulge, disk, structure
    # mix[g, component, template]
    mix = np.zeros((n, 3, 3))
    mix[:, 0, 0], mix[:, 0, 1] = bulge_old, 1 - bulge_old
    mix[:, 1, 0], mix[:, 1, 1], mix[:, 1, 2] = disk_old, 1 - disk_old - disk_young, disk_young
    # structure: half old, half intermediate light (red: passive arms, bars) or star-forming light (blue)
    mix[:, 2, 0], mix[:, 2, 1], mix[:, 2, 2] = 0.5 * red, 0.5 * red, ~red
    # Absolute magnitude: Gaussian luminosity function of each population, truncated at the flux limit.
    mean_m = np.where(red, _MEAN_ABSMAG["red"], _MEAN_ABSMAG["blue"])
    dm = Planck18.distmod(z).to_value(u.mag)
    da_kpc = Planck18.angular_diameter_distance(z).to(u.kpc).value
    return dict(cls=cls, z=z, red=red, frac=frac, mix=mix, mean_m=mean_m, dm=dm, da_kpc=da_kpc,
                ebv_draw=np.minimum(stats.lognorm.rvs(0.67306, 0.001146, 0.03338, size=n,
                                                      random_state=rng), 0.5),
                magnitude_limit=magnitude_limit)


def _grid_interp(table, z):
    """Interpolate table (..., n_z_grid, n_bands) at redshifts z -> (n, ..., n_bands)."""
    pos = np.interp(z, _Z_GRID, np.arange(len(_Z_GRID)))
    lo = np.minimum(pos.astype(int), len(_Z_GRID) - 2)
    t = (pos - lo)[:, None, None]
    return table[:, lo].transpose(1, 0, 2) * (1 - t) + table[:, lo + 1].transpose(1, 0, 2) * t


def _render_chunk(p, sl, size, kfreq):
    """Noise-free, PSF-convolved images for galaxies p[...][sl]: (m, n_bands, size, size)."""
    f32 = np.float32
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(f32) - f32(c)
    m = sl.stop - sl.start
    g = {k: v[sl] for k, v in p.items() if isinstance(v, np.ndarray) and len(v) == p["n"]}

    def col(a):
        return np.asarray(a, f32)[:, None, None]

    x0, y0, th = col(g["dx"]), col(g["dy"]), col(g["theta"])
    radius = size / np.sqrt(np.pi)  # radius of the circle with the stamp's area

    def sersic(amp_re, n, q, xo, yo):
        prof = Sersic2D.evaluate(xx, yy, f32(1.0), col(amp_re), col(n), xo, yo, col(1 - q), th)
        re_c = amp_re * np.sqrt(q)  # circularised; enclosed fraction inside the stamp
        inside = special.gammainc(2 * n, special.gammaincinv(2 * n, 0.5) * (radius / re_c) ** (1 / n))
        return prof * col(inside / prof.sum(axis=(1, 2)))

    comps = np.zeros((m, 4, size, size), f32)  # bulge, disk, star forming, dust lane
    comps[:, 0] = sersic(g["re_bulge_px"], g["n_bulge"], g["q_bulge"], x0 + col(g["bx"]),
                         y0 + col(g["by"]))
    disk = sersic(g["re_px"], np.ones(m), g["q_disk"], x0, y0)
    comps[:, 1] = disk
    ct, st = np.cos(th), np.sin(th)
    xm = (xx - x0) * ct + (yy - y0) * st
    ym = ((yy - y0) * ct - (xx - x0) * st) / col(g["q_disk"])
    r = np.sqrt(xm ** 2 + ym ** 2) + f32(0.5)
    cls = g["cls"]
    re = col(g["re_px"])
    # The class's structure (component 2, star-forming light), each pattern scaled to the
    # disk's flux inside the stamp: only where the light sits differs between classes.
    pattern = disk.copy()  # smooth: spread like the disk
    # The disk's own (old and intermediate) light, in spirals and bars, is redistributed in
    # azimuth at each radius by ``modulation`` (mean 1 around every ellipse of the disk plane):
    # the radial profile, flux and colours stay those of the smooth disk.
    modulation = np.ones_like(disk)
    spiral = cls == 1
    if spiral.any():  # logarithmic two/three-armed spiral pattern riding on the disk
        phase = col(g["arms"]) * (np.arctan2(ym, xm) - np.log(r / re) / col(np.tan(g["pitch"]))
                                  + col(g["arm_phase"]))
        pattern[spiral] = (disk * ((1 + np.cos(phase)) / 2) ** 4)[spiral]
        # the density wave in the old disk: broader arms, outside the bulge
        reach = col(g["arm_strength"]) * (1 - np.exp(-(r / (0.5 * re)) ** 2))
        modulation[spiral] = (1 - reach + reach * ((1 + np.cos(phase)) / 2) ** 2 / f32(0.375))[spiral]
    barred = cls == 2
    if barred.any():  # a bar (elongated, in the disk plane, at its own angle) and a ring
        phi = col(g["bar_angle"])
        a = re * col(g["bar_length"])
        xb, yb = xm * np.cos(phi) + ym * np.sin(phi), ym * np.cos(phi) - xm * np.sin(phi)
        bar = np.exp(-0.5 * ((xb / a) ** 2 + (yb / (0.25 * a)) ** 2))
        ring = np.exp(-0.5 * ((r - re * col(g["ring_radius"])) / (0.2 * re)) ** 2)
        w = col(g["bar_weight"])
        pattern[barred] = (w * bar / bar.sum((1, 2), keepdims=True)
                           + (1 - w) * ring / ring.sum((1, 2), keepdims=True))[barred]
        # the bar's old stars: a non-winding m = 2 mode of the disk inside the bar length
        vm = np.exp(col(g["bar_kappa"]) * (np.cos(2 * (np.arctan2(ym, xm) - phi)) - 1)) / col(
            special.i0e(g["bar_kappa"]))
        reach = col(g["bar_strength"]) / (1 + (r / a) ** 6)
        modulation[barred] = (1 - reach + reach * vm)[barred]
    disturbed = cls == 3
    if disturbed.any():  # star-forming clumps scattered over the disk and a tidal plume
        cx, cy = g["clump_x"][disturbed][:, :, None, None], g["clump_y"][disturbed][:, :, None, None]
        cs = g["clump_s"][disturbed][:, :, None, None]
        cl = (g["clump_w"][disturbed][:, :, None, None]
              * np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / cs ** 2) / cs ** 2).sum(1)
        psi, d = col(g["tail_angle"])[disturbed], (re * col(g["tail_distance"]))[disturbed]
        red = re[disturbed]
        xt = (xx - x0[disturbed]) * np.cos(psi) + (yy - y0[disturbed]) * np.sin(psi) - d
        yt = (yy - y0[disturbed]) * np.cos(psi) - (xx - x0[disturbed]) * np.sin(psi)
        tail = np.exp(-0.5 * ((xt / (0.3 * red)) ** 2 + (yt / red) ** 2))
        w = col(g["clump_fraction"])[disturbed]
        pattern[disturbed] = (w * cl / cl.sum((1, 2), keepdims=True)
                              + (1 - w) * tail / tail.sum((1, 2), keepdims=True))
    comps[:, 2] = pattern * (disk.sum((1, 2)) / np.maximum(pattern.sum((1, 2)), 1e-30))[:, None, None]
    waved = disk * modulation
    comps[:, 1] = waved * (disk.sum((1, 2)) / np.maximum(waved.sum((1, 2)), 1e-30))[:, None, None]
    edge = g["q_disk"] < 0.35
    if edge.any():  # inclined disks of any class: a dust lane along the major axis
        h = col(g["re_px"] * g["q_disk"] * 0.25)[edge]
        comps[edge, 3] = disk[edge] * np.exp(-0.5 * (ym[edge] * col(g["q_disk"])[edge] / h) ** 2)
    # Band fluxes per component (m, 4, n_bands) and PSF transfer functions (m, n_bands, K).
    flux = g["comp_flux"]
    s1 = g["psf_sigma_px"][:, :, None, None]
    k2 = kfreq[None, None]
    otf = 0.9 * np.exp(-2 * np.pi ** 2 * s1 ** 2 * k2) + 0.1 * np.exp(-8 * np.pi ** 2 * s1 ** 2 * k2)
    ft = sp_fft.rfft2(comps, workers=-1)
    img_ft = np.einsum("mchw,mcb->mbhw", ft, flux.astype(np.complex64)) * otf.astype(f32)
    return sp_fft.irfft2(img_ft, s=(size, size), workers=-1).astype(f32)
