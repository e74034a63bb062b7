"""The demo's "beyond SimCLR" section: BYOL, SimSiam and image-spectrum (CLIP-style) pretraining,
image-to-spectrum retrieval, and a rare-object (strong-lens) search in every embedding.

Each embedder is pretrained with the demo's SimCLR settings (encoder, epochs, batch size,
augmentations), so that the frozen-probe rows of :func:`sklearn_ssl.evaluation.downstream_study`
compare the methods and nothing else. The cross-modal embedder sees the spectra of the
training galaxies only: a test galaxy's spectrum carries its redshift, so pairing it during
pretraining would leak the test target into the embedding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Method key -> name used in the demo's tables (rows read "<name> frozen").
OTHER_METHODS = {"byol": "BYOL", "simsiam": "SimSiam", "crossmodal": "CLIP"}


def held_out_galaxies(catalog: pd.DataFrame, test_fraction: float, random_state: int) -> np.ndarray:
    """Boolean mask of the galaxies held out by either task of the demo's study.

    :func:`~sklearn_ssl.evaluation.label_efficiency` draws the morphology split stratified
    by class and the redshift split without stratification, each from ``random_state``,
    with :func:`~sklearn_ssl.evaluation.held_out_split`, called here the same way.
    """
    from ..evaluation import held_out_split

    mask = np.zeros(len(catalog), dtype=bool)
    for y, classification in ((catalog["morphology_class"].to_numpy(), True), (catalog["redshift"].to_numpy(), False)):
        mask[held_out_split(y, test_fraction, classification, np.random.RandomState(random_state))[1]] = True
    return mask


def fit_other_embedders(images, spectra, held_out, cfg, encoder, callbacks=lambda desc: []) -> dict:
    """Pretrain every method of ``cfg["other_methods"]`` with the demo's settings.

    Parameters
    ----------
    images : ndarray of shape (n, bands, H, W)
    spectra : ndarray of shape (n, n_wavelengths)
        Spectra of every galaxy; those of ``held_out`` galaxies are hidden (NaN rows).
    held_out : ndarray of bool, shape (n,)
    cfg : dict
        The demo settings (``epochs``, ``batch_size``, ``device``, ``random_state``).
    encoder : callable
        Builds the image encoder (the SimCLR run's).
    callbacks : callable
        ``desc -> list`` of skorch callbacks (the demo's progress bar) for the
        :class:`~sklearn_ssl.ContrastiveEmbedder` runs (:class:`~sklearn_ssl.CrossModalEmbedder`
        takes no callbacks).

    Returns
    -------
    embedders : dict of str -> fitted estimator
        Keyed by the names of :data:`OTHER_METHODS`.
    """
    from ..estimators import CrossModalEmbedder
    from ..estimators import ContrastiveEmbedder

    common = dict(max_epochs=cfg["epochs"], batch_size=cfg["batch_size"], device=cfg["device"],
                  random_state=cfg["random_state"])
    out = {}
    for method in cfg.get("other_methods", ()):
        name = OTHER_METHODS[method]
        if method == "crossmodal":
            paired = np.where(held_out[:, None], np.nan, spectra).astype(np.float32)
            out[name] = CrossModalEmbedder(image_encoder=encoder, lr=2e-3, **common).fit(images, paired)
        else:
            out[name] = ContrastiveEmbedder(encoder=encoder, method=method, lr=2e-3,
                                            callbacks=callbacks(f"pretraining {name}"), **common).fit(images)
    return out


def retrieval(model, images, spectra) -> dict:
    """Image-to-spectrum retrieval among ``images``: top-1 and top-5 rates and their chance levels."""
    Z_image, Z_spectrum = model.transform(images, spectra)
    similarity = Z_image @ Z_spectrum.T
    rank = (similarity > np.diag(similarity)[:, None]).sum(axis=1)
    n = len(images)
    return {"n": n, "top1": float(np.mean(rank < 1)), "top5": float(np.mean(rank < 5)),
            "chance_top1": 1 / n, "chance_top5": min(5, n) / n}


def rare_object_search(embeddings: dict, is_rare, fractions=(0.01, 0.05), n_neighbors=10) -> pd.DataFrame:
    """Rank every galaxy by :meth:`~sklearn_ssl.SimilaritySearch.score_samples` in each embedding.

    Parameters
    ----------
    embeddings : dict of str -> ndarray of shape (n, d)
        Representations of the same galaxies (include a raw-pixel one as the reference).
    is_rare : ndarray of bool, shape (n,)
        The injected rare objects (never used for the ranking).
    fractions : sequence of float
        Shares of the ranking, from the most abnormal, whose precision is reported.

    Returns
    -------
    table : DataFrame
        One row per embedding: precision (share of rare objects) among the most abnormal
        ``fraction`` of the survey, and the ROC AUC of the score for the rare class.
    """
    from sklearn.metrics import roc_auc_score

    from ..evaluation import SimilaritySearch

    is_rare = np.asarray(is_rare, dtype=bool)
    rows = []
    for name, Z in embeddings.items():
        scores = SimilaritySearch(n_neighbors=n_neighbors).fit(Z).score_samples()
        order = np.argsort(scores, kind="stable")
        row = {"embedding": name}
        for f in fractions:
            k = max(1, int(round(f * len(scores))))
            row[f"precision at top {f:.0%} ({k})"] = float(is_rare[order[:k]].mean())
        row["ROC AUC"] = float(roc_auc_score(is_rare, -scores)) if 0 < is_rare.sum() < len(is_rare) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)

