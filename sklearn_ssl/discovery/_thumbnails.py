"""Cutouts as small colour composites for the explorer (astropy's Lupton et al. 2004 asinh composite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def default_rgb_bands(n_bands: int) -> tuple:
    """Bands shown as red, green, blue, for bands ordered blue to red (as ugriz or grz).

    5 bands (ugriz): i, r, g, as in SDSS's colour images; 3 bands (grz): z, r, g; 4 bands: the
    last, the third and the first; 1 or 2 bands: the first band as grey.
    """
    if n_bands == 5:
        return (3, 2, 1)
    if n_bands >= 3:
        return (n_bands - 1, n_bands // 2, 0) if n_bands > 3 else (2, 1, 0)
    return (0, 0, 0)


class _Composite:
    """Lupton et al. (2004) colour composites with one stretch for the whole survey.

    The sky level of each band is its median pixel, the stretch a tenth of the 99.5th
    percentile of the mean sky-subtracted intensity over (a sample of up to 500) images: the
    galaxies' outskirts and arcs show, their cores saturate little, and one stretch for all
    keeps brightness comparable between thumbnails.
    """

    def __init__(self, images, rgb_bands, Q=8.0, random_state=0):
        n_bands = images.shape[1] if len(images.shape) == 4 else 1
        self.bands = default_rgb_bands(n_bands) if rgb_bands is None else tuple(int(b) for b in rgb_bands)
        if len(self.bands) != 3 or not all(0 <= b < n_bands for b in self.bands):
            raise ValueError(f"rgb_bands must be three band indices in [0, {n_bands}); got {rgb_bands!r}.")
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(len(images), size=min(len(images), 500), replace=False))
        sample = np.nan_to_num(np.asarray(images[rows], dtype=np.float32).reshape(len(rows), n_bands,
                                                                                  *images.shape[-2:]))
        sample = sample[:, list(self.bands)]
        self.minimum = np.median(sample, axis=(0, 2, 3))
        intensity = (sample - self.minimum[None, :, None, None]).mean(axis=1)
        self.stretch = max(float(np.percentile(intensity, 99.5)), 1e-12) / 10.0
        self.Q = Q

    def __call__(self, image) -> np.ndarray:
        from astropy.visualization import make_lupton_rgb

        image = np.nan_to_num(np.asarray(image, dtype=np.float32)).reshape(-1, *image.shape[-2:])
        r, g, b = (image[band] for band in self.bands)
        return make_lupton_rgb(r, g, b, minimum=self.minimum, stretch=self.stretch, Q=self.Q)


def write_thumbnails(folder: Path, images, image_rows, needed, rgb_bands, random_state) -> None:
    """One PNG per embedding row in ``needed``, named by that row: the image ``images[image_rows[row]]``."""
    from PIL import Image

    folder.mkdir()
    composite = _Composite(images, rgb_bands, random_state=random_state)
    for i in needed:
        Image.fromarray(composite(images[image_rows[i]])).save(folder / f"{i}.png", optimize=False)
