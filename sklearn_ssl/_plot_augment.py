"""Figure of galaxies and their augmented views (to be merged into :mod:`sklearn_ssl.plotting`)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from .augment import resolve_augmentations
from .plotting import make_rgb

__all__ = ["plot_augmentations"]


def plot_augmentations(images, augmentations="auto", bands="ugriz", *, rgb_bands="gri", n_views=5,
                       random_state=0, panel_size=1.2, titles=None, fig=None):
    """Grid of galaxies (rows) and random augmented views of each (columns).

    The first column is the deterministic view that ``transform`` embeds
    (``eval_view``, e.g. the centre crop); the others are independent draws. All panels
    share one arcsinh stretch (softening and scale from the first column), so that
    changes of colour (reddening), noise and PSF are visible.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W)
        Flux images, in the units the augmentations expect (e.g. nanomaggies).
    augmentations : str, nn.Module or list of nn.Module, default="auto"
        Anything ``ContrastiveEmbedder(augmentations=...)`` accepts.
    bands : str or sequence of str, default="ugriz"
        Band name of each channel.
    rgb_bands : str, default="gri"
        Bands shown as blue, green and red.
    n_views : int, default=5
        Augmented views per galaxy.
    random_state : int, default=0
        Seed of the augmentation draws.
    panel_size : float, default=1.2
        Panel size in inches.
    titles : sequence of str or None
        One label per galaxy (row).
    fig : matplotlib Figure or SubFigure or None
        Where to draw; a new Agg-backed Figure when None.

    Returns
    -------
    fig : matplotlib.figure.Figure or SubFigure
    """
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    aug = resolve_augmentations(augmentations, tuple(x.shape[1:]))
    gen = torch.Generator().manual_seed(int(random_state))
    with torch.no_grad():
        ref = aug.eval_view(x)
        views = [aug(x, generator=gen) for _ in range(n_views)]
    ref_np = ref.numpy()
    sel = [list(bands).index(b) for b in rgb_bands]
    mad = 1.4826 * np.median(np.abs(ref_np[:, sel] - np.median(ref_np[:, sel], axis=(2, 3), keepdims=True)))
    softening = 1.5 * float(mad) or 1e-3
    intensity = ref_np[:, sel].mean(1)
    scale = float(np.percentile(np.arcsinh(np.maximum(intensity, 0) / softening), 99.5)) or 1.0
    panels = [make_rgb(v.numpy(), bands, rgb_bands, softening=softening, scale=scale) for v in [ref] + views]
    n = x.shape[0]
    own = fig is None
    if own:
        fig = Figure(figsize=(panel_size * (n_views + 1), panel_size * n + 0.3))
    axes = fig.subplots(n, n_views + 1, squeeze=False, gridspec_kw={"wspace": 0.04, "hspace": 0.04})
    for i in range(n):
        for j, rgb in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(rgb[i], origin="lower", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("eval view" if j == 0 else f"view {j}", fontsize=8)
        if titles is not None:
            axes[i, 0].set_ylabel(str(titles[i]), fontsize=7)
    if own:
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.01, top=1 - 0.3 / fig.get_figheight())
    return fig
