"""Optional layers of the synthetic survey: model spectra and a rare class (strong-lens arcs).

Used by :func:`sklearn_ssl.datasets.make_galaxy_survey` (``spectra=True``,
``rare_fraction=...``). Both draw from their own random streams, so asking for them
leaves every other draw of the survey, and hence its images and catalogue, unchanged.
"""

from __future__ import annotations

import numpy as np

#: Observed-frame wavelength grid (bin centres, Angstrom) of the low-resolution model
#: spectra: 108 bins of 50 A from 3800 to 9200 A (resolution R ~ 80-180, SDSS's range).
SPECTRUM_WAVELENGTHS = np.arange(3800.0, 9200.0, 50.0) + 25.0
_FINE = np.arange(3800.0, 9200.0, 5.0) + 2.5  # 10 fine samples per bin
_CHUNK = 1024


def model_spectra(lam, templates, rest_r, weights, disk_weights, tau0, z, f_tot, ebv, band_wavelengths,
                  band_extinction, rng) -> np.ndarray:
    """Noisy low-resolution f_nu spectra (nanomaggies) of galaxies, from their own SED model.

    Each galaxy's spectrum is its template mixture (bulge, disk, star-forming parts),
    redshifted (``f_lambda(lambda / (1 + z)) / (1 + z)``), converted to f_nu and scaled so that
    its mean through a filter equals the galaxy's band flux in the images; the edge-on dust
    lane and Galactic extinction (the band coefficients interpolated in wavelength) are
    applied; it is averaged into the bins of :data:`SPECTRUM_WAVELENGTHS`, and Gaussian noise
    is added with a signal-to-noise ratio at the median flux of 15 at r = 17.77, rising as
    the square root of the flux (clipped to 3-60).

    Parameters
    ----------
    lam, templates, rest_r
        The survey's rest-frame wavelength grid, templates ``(3, len(lam))`` (f_lambda) and
        their mean f_nu in the rest-frame r band.
    weights, disk_weights : ndarray of shape (n, 3)
        Template weights of the whole galaxy and of its disk alone (rest-frame r light).
    tau0 : ndarray of shape (n,)
        Dust-lane optical depth at 5500 A (0 for non-edge-on galaxies).
    z, f_tot, ebv : ndarray of shape (n,)
        Redshift, rest-frame r flux (nanomaggies), Galactic E(B-V).
    band_wavelengths, band_extinction : sequence of float
        Effective wavelengths and A/E(B-V) of the survey's bands, for the extinction curve.
    rng : numpy.random.Generator
    """
    n = len(z)
    order = np.argsort(band_wavelengths)
    r_lambda = np.interp(_FINE, np.asarray(band_wavelengths)[order], np.asarray(band_extinction)[order])
    extinction = 10 ** (-0.4 * r_lambda[None] * ebv[:, None])
    dust_curve = (_FINE / 5500.0) ** -1.3
    out = np.empty((n, len(SPECTRUM_WAVELENGTHS)), np.float32)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        rest = _FINE[None] / (1 + z[sl, None])
        # f_nu per unit rest-frame r flux, for each template: f_lambda(rest) / (1+z) * lambda^2 / rest_r
        fnu = np.stack([np.interp(rest, lam, t) for t in templates], 1) / (1 + z[sl, None, None])
        fnu = fnu * _FINE ** 2 / np.asarray(rest_r)[None, :, None]
        total = np.einsum("nt,ntl->nl", weights[sl], fnu)
        disk = np.einsum("nt,ntl->nl", disk_weights[sl], fnu)
        total = total - disk * (1 - np.exp(-tau0[sl, None] * dust_curve[None]))
        spec = f_tot[sl, None] * total * extinction[sl]
        out[sl] = spec.reshape(len(spec), -1, 10).mean(axis=2)
    f_ref = 10 ** (-0.4 * (17.77 - 22.5))
    snr = np.clip(15.0 * np.sqrt(f_tot / f_ref), 3.0, 60.0)
    sigma = np.median(np.abs(out), axis=1) / snr
    return (out + sigma[:, None] * rng.standard_normal(out.shape)).astype(np.float32)


def draw_lenses(cls, rate: float, pixel_scale: float, image_size: int, rng) -> dict:
    """Pick the galaxies that become strong lenses and draw their arcs' geometry.

    Lenses are ``smooth`` galaxies (class 0: no arms, bar or clumps, the nearest to the
    massive early types that lens most often) when there are enough,
    else any galaxies: ``max(1, round(rate * n))`` of them. Each gets an Einstein radius of
    1-2.2 arcsec, an arc of the lensed source spanning 60-140 degrees of the ring, and a
    fainter counter-image on the opposite side.
    """
    n = len(cls)
    k = max(1, int(round(rate * n)))
    pool = np.flatnonzero(cls == 0)
    pool = pool if len(pool) >= k else np.arange(n)
    idx = np.sort(rng.choice(pool, size=k, replace=False))
    theta_e = np.minimum(rng.uniform(1.0, 2.2, k) / pixel_scale, image_size / 3)
    return dict(
        index=idx, theta_e=theta_e, phi=rng.uniform(0, 2 * np.pi, k),
        half_width=np.deg2rad(rng.uniform(30, 70, k)),
        source_sigma=rng.uniform(0.25, 0.5, k) / pixel_scale,
        flux_ratio=rng.uniform(0.25, 0.6, k),
    )


def arc_images(lenses: dict, galaxy_flux: np.ndarray, colour: np.ndarray, psf_sigma_px: np.ndarray,
               size: int) -> np.ndarray:
    """PSF-blurred arcs and counter-images of the lensed sources: ``(k, n_bands, size, size)``.

    Parameters
    ----------
    lenses : dict
        From :func:`draw_lenses`.
    galaxy_flux : ndarray of shape (k, n_bands)
        The lens galaxies' band fluxes; an arc's mean band flux is ``flux_ratio`` times theirs.
    colour : ndarray of shape (n_bands,)
        The source's relative band fluxes (a blue star-forming spectrum).
    psf_sigma_px : ndarray of shape (k, n_bands)
        PSF core widths, added in quadrature to the source's width.
    """
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size] - c
    r, phi = np.hypot(xx, yy)[None], np.arctan2(yy, xx)[None]
    k = len(lenses["index"])
    width = np.sqrt(lenses["source_sigma"][:, None] ** 2 + psf_sigma_px ** 2)[:, :, None, None]  # (k, nb, 1, 1)
    col = lambda a: a[:, None, None]  # noqa: E731
    dphi = np.angle(np.exp(1j * (phi - col(lenses["phi"]))))
    along = np.exp(-0.5 * (dphi / col(lenses["half_width"] / 2)) ** 2)[:, None]
    arc = np.exp(-0.5 * ((r - col(lenses["theta_e"]))[:, None] / width) ** 2) * along
    cx, cy = -0.5 * lenses["theta_e"] * np.cos(lenses["phi"]), -0.5 * lenses["theta_e"] * np.sin(lenses["phi"])
    counter = np.exp(-0.5 * (((xx[None] - col(cx)) ** 2 + (yy[None] - col(cy)) ** 2)[:, None] / width ** 2))
    arc = arc / arc.sum(axis=(2, 3), keepdims=True) + 0.3 * counter / counter.sum(axis=(2, 3), keepdims=True)
    flux = lenses["flux_ratio"][:, None] * galaxy_flux.mean(axis=1, keepdims=True) * colour[None] / colour.mean()
    return (arc * flux[:, :, None, None]).astype(np.float32).reshape(k, -1, size, size)
