"""Figures for the docs and reports (matplotlib, Agg backend; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.stats import mad_std

__all__ = ["make_rgb", "plot_galaxy_grid", "plot_augmentations", "plot_cross_survey"]


def _rgb_channels(images, bands, rgb_bands) -> np.ndarray:
    """The three ``rgb_bands`` of flux images (n, C, H, W) or (C, H, W) as (n, H, W, 3), red first."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W) or (C, H, W), got {x.shape}.")
    bands = list(bands)
    if len(bands) != x.shape[1]:
        raise ValueError(f"bands names {len(bands)} channels but images have {x.shape[1]}.")
    missing = [b for b in rgb_bands if b not in bands]
    if len(rgb_bands) != 3 or missing:
        raise ValueError(f"rgb_bands={rgb_bands!r} must be three of the image bands {bands}.")
    bgr = np.stack([np.nan_to_num(x[:, bands.index(b)]) for b in rgb_bands], axis=-1)
    return bgr[..., ::-1]


def _stretch_parameters(rgb, softening=None, scale=None) -> tuple[float, float]:
    """Default ``softening`` (1.5 times the median over the bands of the background noise:
    ``astropy.stats.mad_std`` of the pixels about each image's median) and ``scale`` (99.5th
    percentile of the stretched intensity) of RGB images (n, H, W, 3)."""
    if softening is None:
        noise = mad_std(rgb - np.median(rgb, axis=(1, 2), keepdims=True), axis=(0, 1, 2))
        softening = 1.5 * float(np.median(noise)) or 1e-3
    if scale is None:
        intensity = rgb.mean(-1)
        scale = float(np.percentile(np.arcsinh(np.maximum(intensity, 0) / softening), 99.5)) or 1.0
    return softening, scale


def make_rgb(images, bands, rgb_bands="gri", *, softening=None, scale=None):
    """Arcsinh-stretched RGB composites from multi-band flux images (Lupton et al. 2004).

    Drawn by :func:`astropy.visualization.make_lupton_rgb`: the three bands share one
    stretch of their mean intensity ``I``, ``f(I) = asinh(I / softening) / scale``, so that
    colours are kept, and a pixel brighter than full scale is dimmed as a whole (its colour
    kept) instead of clipped band by band. In astropy's parameters that is ``Q = 10 sinh(scale
    / 10)`` and ``stretch = Q * softening`` (its ``asinh(Q I / stretch) * 0.1 / asinh(0.1 Q)``).

    Parameters
    ----------
    images : array-like of shape (n, C, H, W) or (C, H, W)
        Flux images (e.g. nanomaggies).
    bands : str or sequence of str
        Band name of each of the C channels, e.g. ``"ugriz"``.
    rgb_bands : str, default="gri"
        Three bands mapped to blue, green and red, in that order (``"gri"``: g -> B,
        r -> G, i -> R).
    softening : float or None, default=None
        Arcsinh softening in flux units; ``None`` uses 1.5 times the median per-band
        background noise of the set (``astropy.stats.mad_std`` of the pixels about each
        image's median).
    scale : float or None, default=None
        Stretched intensity shown at full brightness; ``None`` uses the 99.5th percentile
        of the stretched intensity.

    Returns
    -------
    rgb : ndarray of shape (n, H, W, 3), float in [0, 1]
    """
    from astropy.visualization import make_lupton_rgb

    rgb = _rgb_channels(images, bands, rgb_bands)
    softening, scale = _stretch_parameters(rgb, softening, scale)
    q = 10.0 * np.sinh(scale / 10.0)
    n, h, w, _ = rgb.shape
    flat = rgb.reshape(n * h, w, 3)  # one tall 2-D image: astropy maps pixel by pixel, stacks bands as (H, W, 3)
    out = make_lupton_rgb(flat[..., 0], flat[..., 1], flat[..., 2], stretch=q * softening, Q=q,
                          output_dtype=np.float64)
    return np.clip(out.reshape(n, h, w, 3), 0.0, 1.0)


def plot_galaxy_grid(images, bands, titles: Sequence[str] | None = None, *, n_cols=None,
                     rgb_bands="gri", panel_size=1.3, row_labels=None, suptitle=None, **rgb_kws):
    """Plot a grid of galaxies as arcsinh-stretched colour composites.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W)
        Flux images (channel-first), or already-made RGB images of shape (n, H, W, 3)
        in [0, 1] when ``bands is None``.
    bands : str, sequence of str or None
        Band name of each channel; ``None`` if ``images`` are RGB already.
    titles : sequence of str or None, default=None
        One small title per panel.
    n_cols : int or None, default=None
        Columns of the grid (default: ``ceil(sqrt(n))``).
    rgb_bands : str, default="gri"
        Bands mapped to blue, green, red.
    panel_size : float, default=1.3
        Panel size in inches.
    row_labels : sequence of str or None, default=None
        Labels written left of each row.
    suptitle : str or None, default=None
        Figure title.
    **rgb_kws
        Passed to :func:`make_rgb` (``softening``, ``scale``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure  # Agg canvas; no pyplot state, no display

    if bands is None:
        rgb = np.clip(np.asarray(images, dtype=float), 0, 1)
        if rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise ValueError(f"with bands=None images must be RGB (n, H, W, 3), got {rgb.shape}.")
    else:
        rgb = make_rgb(images, bands, rgb_bands, **rgb_kws)
    n = len(rgb)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images.")
    n_cols = int(n_cols or np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    fig = Figure(figsize=(panel_size * n_cols, panel_size * n_rows * 1.12))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_axis_off()
            continue
        ax.imshow(rgb[k], origin="lower", interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[k], fontsize=7, pad=2)
        if row_labels is not None and k % n_cols == 0 and k // n_cols < len(row_labels):
            ax.set_ylabel(row_labels[k // n_cols], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig


# -- downstream evaluation figures (label efficiency, similarity search) ----------------
__all__ += ["plot_label_efficiency", "plot_similarity_search"]


def plot_label_efficiency(results, metric=None, *, ax=None, title=None, ylabel=None):
    """Score vs number of labels (log x), mean and standard deviation over repeats.

    Error bars (standard deviation over repeats) are drawn only where a budget has more
    than one repeat; a single draw is shown as a plain line.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`sklearn_ssl.evaluation.label_efficiency` (columns ``estimator``,
        ``n_labels``, ``repeat``, ``score`` and optionally ``metric``).
    metric : str or None, default=None
        Metric to plot when ``results`` holds several; default: the first one.
    ax : matplotlib Axes or None, default=None
        Draw into this Axes; a new Figure is made otherwise.
    title, ylabel : str or None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    df = results
    if "metric" in df.columns:
        metric = metric if metric is not None else df["metric"].iloc[0]
        df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"no rows to plot (metric={metric!r}).")
    own = ax is None
    if own:
        fig = Figure(figsize=(5.0, 3.6))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for name, grp in df.groupby("estimator", sort=False):
        stats = grp.groupby("n_labels")["score"].agg(["mean", "std", "count"])
        if (stats["count"] > 1).any():  # error bars only where there is a spread to show
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].where(stats["count"] > 1, 0.0), marker="o",
                        ms=4, capsize=3, label=name)
        else:  # one draw per budget: no error bar to draw
            ax.plot(stats.index, stats["mean"], marker="o", ms=4, label=name)
    ax.set_xscale("log")
    budgets = sorted(df["n_labels"].unique())
    ax.set_xticks(budgets, [str(n) for n in budgets])  # the budgets, not crowded 2x10^1-style labels
    ax.set_xticks([], minor=True)
    ax.set_xlabel("number of labels")
    ax.set_ylabel(ylabel or (metric or "score"))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    if own:  # a figure passed in keeps its own layout
        fig.tight_layout()
    return fig


def plot_cross_survey(results, metric=None, *, titles=("A-test (labels from A)", "B-test (labels from A)"),
                      ylabel=None, chance=None):
    """Score vs number of labels on survey A's test images and on survey B's, side by side.

    Parameters
    ----------
    results : pandas.DataFrame
        ``out["results"]`` of :func:`sklearn_ssl.evaluation.cross_survey_study`
        (columns ``estimator``, ``n_labels``, ``repeat``, ``test``, ``metric``, ``score``).
    metric : str or None, default=None
        Metric to plot; default: the first in ``results``.
    titles : pair of str
        Titles of the A and B panels.
    ylabel : str or None, default=None
        Defaults to ``metric``.
    chance : float or None, default=None
        Score of a guess (e.g. 1/3 for three balanced classes), drawn as a dotted line in both
        panels; None draws none.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two panels sharing the y axis, drawn by :func:`plot_label_efficiency` (mean and
        standard deviation over repeats), with one legend below them, outside the curves.
    """
    from matplotlib.figure import Figure

    if "test" not in results.columns or not {"A", "B"} <= set(results["test"]):
        raise ValueError("results need a 'test' column with scores on test sets 'A' and 'B' "
                         "(the output of cross_survey_study).")
    if metric is None and "metric" in results.columns:
        metric = results["metric"].iloc[0]
    fig = Figure(figsize=(10.0, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, test, title in zip(axes, ("A", "B"), titles):
        plot_label_efficiency(results[results["test"] == test], metric, ax=ax, title=title, ylabel=ylabel)
        if chance is not None:
            ax.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.2f})")
        ax.get_legend().remove()  # one legend for both panels, below them: inside a panel it covers curves
    axes[1].set_ylabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    return fig


def plot_similarity_search(images, query_index, neighbor_indices, bands, *, distances=None, rgb_bands="gri",
                           panel_size=1.3, **rgb_kws):
    """A query galaxy followed by its nearest neighbours in embedding space (Stein et al. 2022).

    Parameters
    ----------
    images : array-like of shape (n, C, H, W)
        Flux images of the indexed set.
    query_index : int
        Index of the query image in ``images``.
    neighbor_indices : array-like of int
        Indices of its neighbours, nearest first (e.g. ``SimilaritySearch.kneighbors`` output).
    bands : str or sequence of str
        Band names of the channels; three of them (``rgb_bands``) make the colour composite.
    distances : array-like of float or None
        Distances of the neighbours, written in the panel titles.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    idx = [int(query_index)] + [int(i) for i in np.ravel(neighbor_indices)]
    titles = ["query"] + [f"#{k + 1}" + ("" if distances is None else f" d={float(d):.3f}")
                          for k, d in enumerate(np.ravel(distances) if distances is not None else [None] * (len(idx) - 1))]
    return plot_galaxy_grid(np.asarray(images)[idx], bands, titles, n_cols=len(idx), rgb_bands=rgb_bands,
                            panel_size=panel_size, **rgb_kws)


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
    import torch
    from matplotlib.figure import Figure

    from .augment import resolve_augmentations

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    aug = resolve_augmentations(augmentations, tuple(x.shape[1:]))
    gen = torch.Generator().manual_seed(int(random_state))
    with torch.no_grad():
        ref = aug.eval_view(x)
        views = [aug(x, generator=gen) for _ in range(n_views)]
    softening, scale = _stretch_parameters(_rgb_channels(ref.numpy(), bands, rgb_bands))
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
