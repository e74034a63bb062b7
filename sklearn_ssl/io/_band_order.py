"""Images given to a model in the band order it was trained on, or refused.

A model pretrained on g, r, z and applied to cutouts stored as z, r, g runs without complaint
and embeds the wrong pixels into every feature. The command line stores the band names a
model was trained on as its ``bands_`` attribute (from ``--bands`` or the FITS headers) and,
when embedding, reorders the images' bands to that order, or refuses with both orders named
when the images lack a band. Models saved without ``bands_`` (older files, or models fitted
from Python on bare arrays) are used as before.

"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["model_bands", "to_model_bands"]


def model_bands(model) -> list[str] | None:
    """The band names ``model`` was trained on, in order, or None where they are unknown
    (``bands_`` missing, as in models saved before it existed, or None)."""
    bands = getattr(model, "bands_", None)
    return None if bands is None else [str(b) for b in bands]


def _words(bands: Sequence[str]) -> str:
    return ",".join(map(str, bands))


def to_model_bands(images, image_bands: Sequence[str] | None, trained_bands: Sequence[str] | None,
                   source: str = "the images"):
    """Put the bands of ``images`` in the order ``trained_bands``.

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W)
        Images whose channels are the bands ``image_bands``.
    image_bands : sequence of str or None
        Names of the images' channels, in order (None: unknown).
    trained_bands : sequence of str or None
        Names of the bands the model was trained on, in order (None: unknown).
    source : str
        How the images are named in messages (e.g. their path).

    Returns
    -------
    images : ndarray of shape (n, len(trained_bands), H, W)
        ``images`` itself when nothing needs to change (or nothing can be checked), else its
        channels selected and reordered.
    note : str
        One line saying what was done (``""`` when nothing was).

    Raises
    ------
    ValueError
        ``image_bands`` does not have one name per channel, or lacks a band of ``trained_bands``.

    Warns
    -----
    UserWarning
        The model's bands are known but the images' are not: their order cannot be checked.
    """
    if image_bands is not None and len(image_bands) != images.shape[1]:
        raise ValueError(f"{source}: {len(image_bands)} band name(s) ({_words(image_bands)}) for images with "
                         f"{images.shape[1]} band(s); name each band once, in the stored order.")
    if trained_bands is None:
        return images, ""
    trained_bands = [str(b) for b in trained_bands]
    if image_bands is None:
        warnings.warn(f"the model was trained on bands {_words(trained_bands)} (in this order), but the band "
                      f"names of {source} are unknown, so their order cannot be checked; pass --bands to name "
                      "them (e.g. --bands " + _words(trained_bands) + ").", UserWarning, stacklevel=2)
        return images, ""
    image_bands = [str(b) for b in image_bands]
    if image_bands == trained_bands:
        return images, ""
    missing = [b for b in trained_bands if b not in image_bands]
    if missing:
        raise ValueError(f"the model was trained on bands {_words(trained_bands)} (in this order) but {source} "
                         f"has bands {_words(image_bands)}: missing {_words(missing)}. Embed images with the "
                         "model's bands, or retrain on these.")
    index = [image_bands.index(b) for b in trained_bands]
    note = (f"reordered the bands of {source} from {_words(image_bands)} to {_words(trained_bands)}, the order "
            "the model was trained on")
    if len(index) < len(image_bands):
        note += f" (left out {_words([b for b in image_bands if b not in trained_bands])})"
    return np.take(images, index, axis=1), note
