"""Catalogue features from images: the photometry and morphology astronomers already use.

:class:`GalaxyFeatures` turns image stacks (n, bands, H, W) into the table a survey
pipeline would give: aperture (Kron) magnitudes and colours, half-light radius,
concentration and ellipticity measured by photutils (SExtractor-like dual-image mode:
detection on the sum of the bands, photometry in every band through the same apertures),
and the non-parametric morphology of Conselice (2003) and Lotz et al. (2004)
(concentration, asymmetry, smoothness, Gini, M20) measured by statmorph
(Rodriguez-Gomez et al. 2019). These are the baselines a self-supervised representation
has to beat: see :func:`sklearn_ssl.evaluation.downstream_study`.

Nothing here re-implements a measurement: photutils'
:class:`~photutils.segmentation.SourceCatalog` and statmorph's ``SourceMorphology`` do the
work; this module only picks the central source, runs them per image (in parallel with
joblib) and turns a failure on one image into NaN and a flag instead of an exception.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import StrOptions

__all__ = ["GalaxyFeatures", "MORPHOLOGY_FEATURES", "PHOTOMETRY_SHAPE_FEATURES"]

#: Shape features of the photometry block, after the magnitudes and colours.
PHOTOMETRY_SHAPE_FEATURES = ("half_light_radius", "concentration", "ellipticity", "photometry_flag")
#: Non-parametric morphology (statmorph), then statmorph's quality flag.
MORPHOLOGY_FEATURES = ("cas_concentration", "asymmetry", "smoothness", "gini", "m20", "morphology_flag")
_STATMORPH_NAMES = ("concentration", "asymmetry", "smoothness", "gini", "m20")
_MIN_SIZE = 5  # stamps smaller than this (in either axis) are not measured: NaN + flag
_FAILED_MORPHOLOGY = 4  # statmorph's "catastrophic" flag, also used when it raised or found no source


def _statmorph_class():
    import statmorph

    class _CASGM(statmorph.SourceMorphology):
        """statmorph's measurement, evaluating only C, A, S, Gini and M20.

        ``SourceMorphology.__init__`` evaluates every lazy property, including a Sersic
        fit that takes most of the time; the quantities are lazy, so asking only for
        these five gives the same values about 3x faster.
        """

        def _calculate_morphology(self):
            for name in _STATMORPH_NAMES:
                getattr(self, name)

    return _CASGM


def _central_label(segm, shape):
    """Label of the segment at the stamp centre, else of the segment nearest to it."""
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    label = int(segm.data[int(round(cy)), int(round(cx))])
    if label:
        return label
    ys, xs = np.nonzero(segm.data)
    nearest = np.argmin((ys - cy) ** 2 + (xs - cx) ** 2)
    return int(segm.data[ys[nearest], xs[nearest]])


def _measure(image, detect_with, photometry, morphology, zeropoint, nsigma, npixels):
    """Features of one image (bands, H, W): photometry block then morphology block (NaN on failure)."""
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import SourceCatalog, detect_sources

    nb = image.shape[0]
    n_phot = nb + max(nb - 1, 0) + len(PHOTOMETRY_SHAPE_FEATURES)
    phot = np.full(n_phot, np.nan)
    phot[-1] = 1.0
    morph = np.full(len(MORPHOLOGY_FEATURES), np.nan)
    morph[-1] = _FAILED_MORPHOLOGY
    if min(image.shape[1:]) < _MIN_SIZE:
        return phot, morph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photutils/statmorph/astropy warn on poor sources: the flags say it
        try:
            bands = image.astype(np.float64)
            stats = [sigma_clipped_stats(b, sigma=3.0) for b in bands]
            bands = bands - np.array([s[1] for s in stats])[:, None, None]  # subtract each band's sky
            det = bands.sum(0) if detect_with is None else bands[detect_with]
            _, _, sky_sigma = sigma_clipped_stats(det, sigma=3.0)
            if not np.isfinite(sky_sigma) or sky_sigma <= 0:  # noise-free image: a tiny floor
                sky_sigma = max(1e-6 * float(np.abs(det).max()), np.finfo(float).tiny)
            segm = detect_sources(det, nsigma * sky_sigma, npixels)
        except Exception:  # noqa: BLE001 - any failure on one image becomes NaN + flag
            return phot, morph
        if segm is None:
            return phot, morph
        label = _central_label(segm, det.shape)
        if photometry:
            try:
                det_cat = SourceCatalog(det, segm)
                flux = np.array([SourceCatalog(b, segm, detection_catalog=det_cat).select_label(label).kron_flux
                                 for b in bands], dtype=float).ravel()
                with np.errstate(divide="ignore", invalid="ignore"):
                    mag = np.where(flux > 0, zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
                src = det_cat.select_label(label)
                r20, r50, r80 = (float(np.asarray(src.flux_radius(f).value)) for f in (0.2, 0.5, 0.8))
                ell = float(np.asarray(src.ellipticity.value))
                with np.errstate(divide="ignore", invalid="ignore"):
                    conc = 5.0 * np.log10(r80 / r20)
                phot = np.concatenate([mag, mag[:-1] - mag[1:], [r50, conc, ell, 0.0]])
            except Exception:  # noqa: BLE001
                pass
        if morphology:
            try:
                weight = np.full(det.shape, sky_sigma)
                m = _statmorph_class()(det, segm, label, weightmap=weight, skybox_size=max(4, min(det.shape) // 4),
                                       min_cutout_size=min(det.shape))
                flag = int(m.flag)
                if flag < _FAILED_MORPHOLOGY:
                    morph = np.array([float(getattr(m, q)) for q in _STATMORPH_NAMES] + [flag])
            except Exception:  # noqa: BLE001
                pass
    return phot, morph


def _measure_chunk(images, *args):
    return [_measure(img, *args) for img in images]


class GalaxyFeatures(TransformerMixin, BaseEstimator):
    """Photometry and non-parametric morphology of the central galaxy of each image.

    Per image: each band's sky level (sigma-clipped median) is subtracted; the galaxy is
    detected on the detection image (sum of the bands, or one band) above
    ``nsigma`` times its sigma-clipped noise with :func:`photutils.segmentation.detect_sources`,
    and the segment at (or nearest to) the stamp centre is measured.

    - ``kind="photometry"`` (photutils :class:`~photutils.segmentation.SourceCatalog`,
      dual-image mode): ``mag_<band>`` (Kron aperture of the detection image applied to
      every band; ``zeropoint - 2.5 log10(flux)``, NaN for a non-positive flux), colours
      ``<b1>-<b2>`` of consecutive bands, ``half_light_radius`` (pixels, radius enclosing
      half the segment's flux), ``concentration`` (``5 log10(r80 / r20)`` of the same
      curve), ``ellipticity`` (``1 - b/a`` from the second moments) and
      ``photometry_flag`` (1 where nothing was measured).
    - ``kind="morphology"`` (statmorph ``SourceMorphology`` on the detection image, a
      constant weight map of the sky noise): ``cas_concentration``, ``asymmetry``,
      ``smoothness``, ``gini``, ``m20`` and ``morphology_flag`` (statmorph's flag: 0 good,
      1 suspect, 2 bad; 4 where statmorph failed or found no source, values then NaN).
    - ``kind="all"``: both blocks.

    A failure on one image never stops the catalogue: its features are NaN and its flag
    says so (tree models such as
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier` take NaN as it is).

    Parameters
    ----------
    kind : {"all", "photometry", "morphology"}, default="all"
        Which block(s) of features to compute.
    bands : str, sequence of str or None, default=None
        Band names, one per channel (e.g. ``"ugriz"``), used in the feature names;
        ``None`` names them ``b0``, ``b1``, ...
    detection_band : int, str or None, default=None
        Channel (index or name in ``bands``) used for detection, radii and morphology;
        ``None`` uses the sum of all bands.
    zeropoint : float, default=22.5
        Magnitude zero point: 22.5 for fluxes in nanomaggies (SDSS, DECaLS).
    nsigma : float, default=2.0
        Detection threshold in units of the detection image's sky noise.
    npixels : int, default=5
        Minimum number of connected pixels of a detection.
    image_shape : tuple of 3 ints or None, default=None
        (bands, H, W) of flat input rows; without it a 2-D row of ``d`` values is read as
        a one-band image of one pixel row (such stamps are too small to measure).
    n_jobs : int or None, default=None
        Images measured in parallel by joblib (``-1``: all cores).

    Attributes
    ----------
    n_features_in_ : int
        Number of bands (4-D input) or of values per row (2-D input).
    input_shape_ : tuple
        Per-sample shape seen in fit.
    feature_names_out_ : ndarray of str
        The output columns.

    Examples
    --------
    >>> from sklearn_ssl.datasets import make_galaxy_survey
    >>> X, cat = make_galaxy_survey(4, image_size=32, bands="gri", random_state=0)
    >>> feats = GalaxyFeatures(kind="photometry", bands="gri").fit(X)
    >>> list(feats.get_feature_names_out()[:5])
    ['mag_g', 'mag_r', 'mag_i', 'g-r', 'r-i']
    >>> feats.transform(X).shape
    (4, 9)
    """

    _parameter_constraints: dict = {
        "kind": [StrOptions({"all", "photometry", "morphology"})],
        "bands": [str, list, tuple, None],
        "detection_band": [numbers.Integral, str, None],
        "zeropoint": [numbers.Real],
        "nsigma": [numbers.Real],
        "npixels": [numbers.Integral],
        "image_shape": [tuple, list, None],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, kind="all", bands=None, detection_band=None, zeropoint=22.5, nsigma=2.0, npixels=5,
                 image_shape=None, n_jobs=None):
        self.kind = kind
        self.bands = bands
        self.detection_band = detection_band
        self.zeropoint = zeropoint
        self.nsigma = nsigma
        self.npixels = npixels
        self.image_shape = image_shape
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True  # scikit-learn's name for n-d input: 4-D images
        return tags

    def _images(self, X, reset):
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float64, np.float32])
        if reset:
            self.input_shape_ = X.shape[1:]
        elif X.shape[1:] != self.input_shape_:
            raise ValueError(f"X has per-sample shape {X.shape[1:]}, but GalaxyFeatures was fitted on "
                             f"{self.input_shape_}.")
        if X.ndim == 2:
            if self.image_shape is None:
                return X[:, None, None, :]
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 3 or int(np.prod(shape)) != X.shape[1]:
                raise ValueError(f"image_shape={self.image_shape!r} does not hold the {X.shape[1]} values per row.")
            return X.reshape((len(X),) + shape)
        if X.ndim == 3:  # one band: (n, H, W)
            return X[:, None]
        if X.ndim != 4:
            raise ValueError(f"expected images (n, bands, H, W), got an array of shape {X.shape}.")
        return X

    def _band_names(self, n_bands):
        if self.bands is None:
            return [f"b{i}" for i in range(n_bands)]
        names = list(self.bands)
        if len(names) != n_bands or len(set(names)) != n_bands:
            raise ValueError(f"bands={self.bands!r} must name each of the {n_bands} channels once.")
        return [str(b) for b in names]

    def _detection_index(self, names):
        d = self.detection_band
        if d is None:
            return None
        if isinstance(d, str):
            if d not in names:
                raise ValueError(f"detection_band={d!r} is not one of the bands {names}.")
            return names.index(d)
        if not 0 <= int(d) < len(names):
            raise ValueError(f"detection_band={d} is out of range for {len(names)} bands.")
        return int(d)

    def fit(self, X, y=None):
        """Check the input and settle the output columns (no parameters are learned).

        Parameters
        ----------
        X : array-like of shape (n_samples, bands, H, W), (n_samples, H, W) or (n_samples, n_values)
            Images (flux, sky-subtracted or not).
        y : ignored

        Returns
        -------
        self : GalaxyFeatures
        """
        self._validate_params()
        images = self._images(X, reset=True)
        names = self._band_names(images.shape[1])
        self._detect = self._detection_index(names)
        self.feature_names_out_ = np.asarray(self._names(names), dtype=object)
        return self

    def _names(self, bands):
        out = []
        if self.kind in ("all", "photometry"):
            out += [f"mag_{b}" for b in bands] + [f"{a}-{b}" for a, b in zip(bands[:-1], bands[1:])]
            out += list(PHOTOMETRY_SHAPE_FEATURES)
        if self.kind in ("all", "morphology"):
            out += list(MORPHOLOGY_FEATURES)
        return out

    def transform(self, X):
        """Measure every image.

        Parameters
        ----------
        X : array-like, same layout as in :meth:`fit`

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out), float64
            NaN where a measurement failed (see the flag columns).
        """
        check_is_fitted(self, "feature_names_out_")
        images = self._images(X, reset=False)
        photometry, morphology = self.kind in ("all", "photometry"), self.kind in ("all", "morphology")
        args = (self._detect, photometry, morphology, float(self.zeropoint), float(self.nsigma), int(self.npixels))
        n_chunks = max(1, min(len(images), 8 * effective_n_jobs(self.n_jobs)))
        chunks = np.array_split(np.arange(len(images)), n_chunks)
        parts = Parallel(n_jobs=self.n_jobs)(delayed(_measure_chunk)(images[idx], *args) for idx in chunks if len(idx))
        rows = [np.concatenate(([p] if photometry else []) + ([m] if morphology else []))
                for part in parts for p, m in part]
        return np.asarray(rows, dtype=np.float64).reshape(len(images), len(self.feature_names_out_))

    def get_feature_names_out(self, input_features=None):
        """Output column names (see the class description).

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


def _digest(image) -> bytes:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class _FeatureLookup(TransformerMixin, BaseEstimator):
    """Rows of a feature table measured once for a set of images, found again by image content.

    ``fit(images, table)`` indexes the rows; ``transform(X)`` returns the rows of the images
    in ``X`` (each must be one of the indexed images). Studies wrap the fitted lookup in
    :class:`sklearn.frozen.FrozenEstimator` so that every label budget and repeat reuses one
    measurement of :class:`GalaxyFeatures` instead of measuring its subset again.
    """

    def fit(self, X, table):
        table = np.asarray(table, dtype=np.float64)
        if len(table) != len(X):
            raise ValueError(f"{len(X)} images but {len(table)} feature rows.")
        self.index_ = {_digest(x): i for i, x in enumerate(np.asarray(X))}
        self.table_ = table
        return self

    def transform(self, X):
        check_is_fitted(self, "table_")
        try:
            rows = [self.index_[_digest(x)] for x in np.asarray(X)]
        except KeyError:
            raise ValueError("an image was not among those whose features were measured; measure it with "
                             "GalaxyFeatures first.") from None
        return self.table_[rows]


def _catalogue_baselines(images, task, *, bands=None, random_state=0, n_jobs=None, class_weight=None,
                         features=None):
    """The baselines an astronomer would use instead of a learned representation.

    Measures :class:`GalaxyFeatures` (``kind="all"``) once on ``images`` (or takes the table
    ``features`` measured earlier) and returns estimators that read the images' rows of it:
    photometry + gradient boosting (the classic photo-z / colour classifier), morphology +
    gradient boosting, both, and the constant predictor (majority class / median redshift).

    Returns
    -------
    estimators : dict of str -> estimator
        Cloneable (the lookup is frozen), for :func:`sklearn_ssl.evaluation.label_efficiency`.
    features : ndarray
        The measured table (all columns of ``GalaxyFeatures(kind="all")``).
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    gf = GalaxyFeatures(kind="all", bands=bands, n_jobs=n_jobs).fit(images)
    names = list(gf.get_feature_names_out())
    if features is None:
        features = gf.transform(images)
    lookup = FrozenEstimator(_FeatureLookup().fit(images, features))
    n_phot = len(GalaxyFeatures(kind="photometry", bands=bands).fit(images[:1]).get_feature_names_out())
    blocks = {"photometry": np.arange(n_phot), "morphology": np.arange(n_phot, len(names)),
              "photometry + morphology": np.arange(len(names))}
    # min_samples_leaf=5: scikit-learn's 20 would leave a 20-label budget a single leaf
    if task == "classification":
        model = HistGradientBoostingClassifier(min_samples_leaf=5, class_weight=class_weight,
                                               random_state=random_state)
        constant = ("constant (majority class)", DummyClassifier(strategy="most_frequent"))
    else:
        model = HistGradientBoostingRegressor(min_samples_leaf=5, random_state=random_state)
        constant = ("constant (median redshift)", DummyRegressor(strategy="median"))
    out = {f"{name} + GB": make_pipeline(lookup, FunctionTransformer(_columns, kw_args={"idx": idx}), model)
           for name, idx in blocks.items()}
    out[constant[0]] = constant[1]
    return out, features


def _columns(X, idx):
    return X[:, idx]
