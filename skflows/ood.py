"""Complexity-corrected outlier scores on top of any density estimator.

A density model's log-likelihood is a poor out-of-distribution score when it tracks
something other than how typical an input is for the data: local pixel statistics, the
input's complexity (simple inputs get high likelihoods; Nalisnick et al. 2019, Serrà
et al. 2020), or the concentration of probability mass away from the mode in high
dimensions. The wrappers here turn any density estimator with ``score_samples``
(a :class:`~skflows.FlowDensity`, :class:`~sklearn.mixture.GaussianMixture`,
:class:`~sklearn.neighbors.KernelDensity`, a fitted model in
:class:`~sklearn.frozen.FrozenEstimator`, ...) into an outlier detector with a corrected
score:

* :class:`DensityDetector`: the log-density itself, uncorrected (the baseline, and a
  way to use a density model without outlier conventions as a detector);
* :class:`LikelihoodRatioDetector`: ``log p(x) - log p_ref(x)`` against a simpler
  reference density (Ren et al. 2019; Schirrmeister et al. 2020);
* :class:`InputComplexityDetector`: ``log p(x) + L(x) ln 2`` with ``L(x)`` the
  compressed length of the quantised input in bits (Serrà et al. 2020);
* :class:`TypicalityDetector`: ``-|log p(x) - mean training log p|`` (Nalisnick et al.
  2019, per-sample typicality).

They follow scikit-learn's outlier-detector conventions (as ``IsolationForest``):
larger ``score_samples`` means more normal, ``offset_`` is the ``100 * contamination``
percentile of the training scores, ``decision_function = score_samples - offset_`` and
``predict`` returns -1 for outliers and +1 for inliers.
"""

from __future__ import annotations

import bz2
import lzma
import math
import numbers
import zlib

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import validate_features
from ._outlier import OutlierScoresMixin
from .density import FlowDensity

__all__ = ["DensityDetector", "LikelihoodRatioDetector", "InputComplexityDetector", "TypicalityDetector"]

_COMPRESSORS = {
    "zlib": lambda data: zlib.compress(data, 9),
    "bz2": lambda data: bz2.compress(data, 9),
    "lzma": lambda data: lzma.compress(data, preset=9),
}


def _fitted_copy(estimator, X, default, name):
    """``estimator`` fitted on ``X``: a :class:`FrozenEstimator` as is (after checking
    that it is fitted on ``X``'s width), anything else cloned and fitted; None gives
    ``default()``."""
    if isinstance(estimator, FrozenEstimator):
        check_is_fitted(estimator.estimator)
        n_in = getattr(estimator.estimator, "n_features_in_", X.shape[1])
        if n_in != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, but the frozen {name} is "
                             f"expecting {n_in} features as input.")
        return estimator
    return (default() if estimator is None else clone(estimator)).fit(X)


class _CorrectedScoreDetector(OutlierMixin, OutlierScoresMixin, BaseEstimator):
    """Shared machinery: validation, the fitted density, the offset (not public).

    Subclasses implement ``_fit_correction(X)`` (fitted quantities of the correction,
    from the validated training rows) and ``_validated_scores(X)``.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "contamination": [Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.requires_fit = True
        if self.estimator is not None:
            tags.non_deterministic = get_tags(self.estimator).non_deterministic
        return tags

    def _validate(self, X, reset: bool):
        """skflows' one validation of ``X`` (:func:`skflows._base.validate_features`)."""
        return validate_features(self, X, reset=reset)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the density estimator (and the correction) on ``X``; set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; float32 stays float32, anything else becomes float64.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, complex, strings, too few rows for the
            wrapped estimators), invalid parameters, or a frozen estimator fitted on
            another number of features.
        """
        X = self._validate(X, reset=True)
        self._compute_dtype = X.dtype.name  # what the wrapped estimators see
        self.estimator_ = _fitted_copy(self.estimator, X, FlowDensity, "estimator")
        self._fit_correction(X)
        self._set_offset(X)
        return self

    def _fit_correction(self, X) -> None:
        """Fitted quantities of the correction (none by default)."""

    def _log_density(self, X) -> np.ndarray:
        """``log p(x)`` of the wrapped estimator, float64, nats."""
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)

    def score_samples(self, X):
        """Corrected outlier score of each row: larger means more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score, with the features seen in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            The corrected score (see the class description for its definition and
            units).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the detector is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        return self._validated_scores(self._validate(X, reset=False))


class DensityDetector(_CorrectedScoreDetector):
    """Any density estimator as a scikit-learn outlier detector: the log-density itself.

    ``score_samples(x) = log p(x)`` (nats) of the wrapped estimator, with scikit-learn's
    outlier conventions on top (``offset_``, ``decision_function``, ``predict``). It
    turns a density model without them, such as a
    :class:`~skflows.FlowMixtureClustering`, a
    :class:`~sklearn.mixture.GaussianMixture` or a
    :class:`~sklearn.neighbors.KernelDensity`, into a detector usable in the same
    pipelines and searches as ``IsolationForest``: the uncorrected baseline of the
    other detectors of this module.

    On the digits task of the user guide (fit on digits 0-4, held-out 0-4 against
    5-9), ``DensityDetector(FlowMixtureClustering(n_components=4,
    init_params="gmm"))``, a mixture of flows started from a Gaussian mixture, is the
    flow detector that skflows recommends (see the :ref:`user guide
    <ood_recommendation>` for the measured table).

    Read more in the :ref:`user guide <ood_recommendation>`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Density estimator with ``fit`` and ``score_samples`` returning log-densities in
        nats. None gives ``FlowDensity()``. It is cloned and fitted on ``X``; wrap a
        fitted estimator in :class:`sklearn.frozen.FrozenEstimator` to use it as is.
    contamination : float in (0, 0.5], default=0.1
        Expected fraction of outliers in the training data; sets ``offset_``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted density estimator.
    offset_ : float
        ``100 * contamination`` percentile of the training log-densities;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string
        names).

    See Also
    --------
    LikelihoodRatioDetector : Corrects the log-density with a reference density.
    InputComplexityDetector : Corrects it with a compressor.
    TypicalityDetector : Two-sided score around the typical log-density.

    References
    ----------
    .. [1] C. M. Bishop. Novelty detection and neural network validation. IEE
       Proceedings - Vision, Image and Signal Processing 141(4), 1994, Sec. 2
       (novelty detection by thresholding a density estimate of the training data).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from skflows import DensityDetector
    >>> X = np.random.RandomState(0).normal(size=(300, 2))
    >>> det = DensityDetector(GaussianMixture(1), contamination=0.05).fit(X)
    >>> det.predict([[0.0, 0.0], [6.0, 6.0]]).tolist()
    [1, -1]
    """

    def __init__(self, estimator=None, contamination=0.1):
        self.estimator = estimator
        self.contamination = contamination

    def _validated_scores(self, X) -> np.ndarray:
        return self._log_density(X)


class LikelihoodRatioDetector(_CorrectedScoreDetector):
    """Outlier scores by the likelihood ratio of a model against a simpler reference.

    ``score_samples(x) = log p(x) - log p_ref(x)`` (nats), the log-likelihood ratio of
    Ren et al. (NeurIPS 2019, Sec. 3, "Likelihood Ratio for OOD Detection") and
    Schirrmeister et al. (NeurIPS 2020, Sec. 4): ``p`` is the density estimator
    (``estimator``, by default a :class:`~skflows.FlowDensity`), ``p_ref`` a simpler
    density (``reference``, by default a single full-covariance Gaussian) fitted on the
    same rows. What both models capture, such as the overall scale and correlation of
    the features or the "background" statistics every input shares, cancels; what
    remains is the evidence for ``x`` that only the richer model sees. A flow assigns
    high likelihood to inputs that are simply smooth or low-variance; a Gaussian does
    too, so the ratio does not reward them.

    Read more in the :ref:`user guide <ood_corrections>`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Density estimator with ``fit`` and ``score_samples`` returning log-densities in
        nats. None gives ``FlowDensity()``. It is cloned and fitted on ``X``; wrap a
        fitted estimator in :class:`sklearn.frozen.FrozenEstimator` to use it as is.
    reference : estimator or None, default=None
        The simpler density, with ``fit`` and ``score_samples`` (log-densities in nats,
        in the same units as ``estimator``'s). None gives
        ``GaussianMixture(n_components=1, covariance_type="full")``, a single Gaussian
        with the training mean and covariance. Cloned and fitted on ``X``; a
        :class:`~sklearn.frozen.FrozenEstimator` is used as is (for example a model of
        a broader, general-domain data set, as in Schirrmeister et al.'s hierarchy of
        distributions).
    contamination : float in (0, 0.5], default=0.1
        Expected fraction of outliers in the training data; sets ``offset_``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted density estimator.
    reference_ : estimator
        The fitted reference density.
    offset_ : float
        ``100 * contamination`` percentile of the training scores;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string
        names).

    See Also
    --------
    InputComplexityDetector : Corrects with a compressor instead of a fitted reference.
    TypicalityDetector : Two-sided score around the typical log-density.

    Notes
    -----
    A constant added to ``log p`` (a model whose normalisation is off by a constant)
    shifts every score and ``offset_`` by that constant: ``decision_function`` and
    ``predict`` are unchanged. A change of units of ``X`` adds the same log-Jacobian to
    both log-densities and cancels in the ratio.

    The ratio helps when the richer model's likelihood is dominated by statistics that
    a simple model also captures (the complexity or smoothness of inputs, the scale of
    features); it hurts when the reference is nearly as good as the model (the ratio is
    then mostly noise) or when the outliers differ from the inliers exactly in what the
    reference captures (far from the mean, in a different covariance), since the
    reference then cancels the signal.

    References
    ----------
    .. [1] J. Ren, P. J. Liu, E. Fertig, J. Snoek, R. Poplin, M. A. DePristo, J. V.
       Dillon, B. Lakshminarayanan. Likelihood Ratios for Out-of-Distribution
       Detection. NeurIPS 2019, Sec. 3 (the likelihood-ratio statistic against a
       background model).
    .. [2] R. T. Schirrmeister, Y. Zhou, T. Ball, D. Zhang. Understanding Anomaly
       Detection with Deep Invertible Networks through Hierarchies of Distributions
       and Features. NeurIPS 2020, Sec. 4 (ratio against a general-distribution model).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from skflows import LikelihoodRatioDetector
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-3, 1, (150, 2)), rng.normal(3, 1, (150, 2))])
    >>> det = LikelihoodRatioDetector(GaussianMixture(2, random_state=0)).fit(X)
    >>> det.score_samples(X[:3]).shape
    (3,)
    >>> # The gap between the clusters is the single Gaussian's mode: an outlier.
    >>> det.predict([[3.0, 3.0], [0.0, 0.0]]).tolist()
    [1, -1]
    """

    _parameter_constraints: dict = {
        **_CorrectedScoreDetector._parameter_constraints,
        "reference": [HasMethods(["fit", "score_samples"]), None],
    }

    def __init__(self, estimator=None, reference=None, contamination=0.1):
        self.estimator = estimator
        self.reference = reference
        self.contamination = contamination

    def _fit_correction(self, X) -> None:
        self.reference_ = _fitted_copy(
            self.reference, X, lambda: GaussianMixture(n_components=1,
                                                       covariance_type="full"),
            "reference")

    def _validated_scores(self, X) -> np.ndarray:
        reference = np.asarray(self.reference_.score_samples(X), dtype=np.float64)
        return self._log_density(X) - reference


class InputComplexityDetector(_CorrectedScoreDetector):
    """Outlier scores corrected for input complexity by a lossless compressor.

    ``score_samples(x) = log p(x) + L(x) ln 2`` (nats), where ``L(x)`` is the length in
    bits of the row ``x``, quantised to bytes, after lossless compression with a
    standard-library compressor. It is the negative of the OOD score of Serrà et al.
    (ICLR 2020), ``S(x) = -log2 p(x) - L(x)`` in bits, converted to nats
    (``score_samples = -S(x) ln 2``): a log-likelihood ratio of the model against a
    universal, data-agnostic model ``p_0(x) = 2^{-L(x)}`` (the compressor's code
    lengths). Inputs that any compressor finds simple (flat, smooth, repetitive) get
    high likelihoods from every density model; the correction removes that advantage.

    Read more in the :ref:`user guide <ood_corrections>`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Density estimator with ``fit`` and ``score_samples`` returning log-densities in
        nats. None gives ``FlowDensity()``. It is cloned and fitted on ``X``; wrap a
        fitted estimator in :class:`sklearn.frozen.FrozenEstimator` to use it as is.
    compressor : {"zlib", "bz2", "lzma"}, default="zlib"
        Lossless compressor of the standard library, at its highest level (zlib
        level 9, bz2 level 9, lzma preset 9); Serrà et al. use image codecs (PNG,
        JPEG2000, FLIF) and find the choice of compressor matters little.
    n_levels : int in [2, 256], default=256
        Quantisation levels per value: each value becomes one byte (see Notes).
    scaling : {"global", "feature"}, default="global"
        Range of the quantisation: ``"global"`` uses the minimum and maximum over all
        training values (one intensity scale for every feature, as the pixels of an
        image share theirs: equal values stay equal bytes, which compressors exploit);
        ``"feature"`` uses each feature's own training minimum and maximum (for
        features in different units).
    contamination : float in (0, 0.5], default=0.1
        Expected fraction of outliers in the training data; sets ``offset_``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted density estimator.
    data_min_ : ndarray of shape (n_features_in_,)
        Lower end of each feature's quantisation range (all equal with
        ``scaling="global"``).
    data_max_ : ndarray of shape (n_features_in_,)
        Upper end of each feature's quantisation range.
    offset_ : float
        ``100 * contamination`` percentile of the training scores;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string
        names).

    See Also
    --------
    LikelihoodRatioDetector : Corrects with a fitted reference density instead.
    TypicalityDetector : Two-sided score around the typical log-density.

    Notes
    -----
    **Quantisation.** Value ``x_j`` becomes the byte ``q_j = min(floor((x_j - lo_j) /
    (hi_j - lo_j) * n_levels), n_levels - 1)``, clipped at 0, with ``[lo_j, hi_j]`` the
    training range (``data_min_``, ``data_max_``; a range of width 0 counts as width
    1): ``n_levels`` equal bins over the training range, values outside it in the end
    bins. The row's bytes, in feature order, are compressed alone; ``L(x)`` is
    8 times the compressed length in bytes (:meth:`input_complexity`). The quantised
    row is the input of the compressor only: the density model scores ``x`` itself.

    **Units and sign.** ``log p(x)`` is in nats, ``L(x)`` in bits; the score is
    ``log p(x) + L(x) ln 2`` in nats, larger for more normal rows (scikit-learn's
    convention; Serrà et al.'s ``S`` is larger for outliers). The compressor's framing
    (headers, checksums: a constant number of bytes per row for a given compressor)
    adds the same constant to every score and moves ``offset_`` with it.

    The correction helps when outliers are *simpler* than the data (a flat or
    low-variance input, a sparse row) and the model gives them high likelihood for it,
    the failure Serrà et al. describe for images; it has no effect when every row
    compresses to the same length (a few features, or values without redundancy), and
    can hurt when the outliers are more *complex* than the data in a way the model
    already penalises (the correction then raises their scores). It is meant for
    inputs with many values on a shared scale (images, spectra, signals).

    References
    ----------
    .. [1] J. Serrà, D. Álvarez, V. Gómez, O. Slizovskaia, J. F. Núñez, J. Luque.
       Input Complexity and Out-of-Distribution Detection with Likelihood-Based
       Generative Models. ICLR 2020, Sec. 4 (the score ``S(x) = -l_M(x) - L(x)`` and
       its reading as a likelihood ratio against a universal compressor).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.mixture import GaussianMixture
    >>> from skflows import InputComplexityDetector
    >>> X, _ = load_digits(return_X_y=True)
    >>> det = InputComplexityDetector(GaussianMixture(2, covariance_type="diag",
    ...                                               random_state=0)).fit(X[:500])
    >>> det.input_complexity(X[:2])  # bits
    array([...])
    >>> det.score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_CorrectedScoreDetector._parameter_constraints,
        "compressor": [StrOptions(set(_COMPRESSORS))],
        "n_levels": [Interval(numbers.Integral, 2, 256, closed="both")],
        "scaling": [StrOptions({"global", "feature"})],
    }

    def __init__(self, estimator=None, compressor="zlib", n_levels=256, scaling="global",
                 contamination=0.1):
        self.estimator = estimator
        self.compressor = compressor
        self.n_levels = n_levels
        self.scaling = scaling
        self.contamination = contamination

    def _fit_correction(self, X) -> None:
        X = np.asarray(X, dtype=np.float64)
        if self.scaling == "global":
            lo, hi = np.full(X.shape[1], X.min()), np.full(X.shape[1], X.max())
        else:
            lo, hi = X.min(axis=0), X.max(axis=0)
        self.data_min_, self.data_max_ = lo, hi

    def _quantise(self, X) -> np.ndarray:
        """Bytes of the rows: ``(n, n_features)`` uint8, C-ordered."""
        width = self.data_max_ - self.data_min_
        width = np.where(width > 0, width, 1.0)
        levels = np.floor((np.asarray(X, dtype=np.float64) - self.data_min_) / width
                          * self.n_levels)
        return np.ascontiguousarray(np.clip(levels, 0, self.n_levels - 1), dtype=np.uint8)

    def _complexity(self, X) -> np.ndarray:
        compress = _COMPRESSORS[self.compressor]
        Q = self._quantise(X)
        # One compression per row: compressors take one byte string at a time.
        return 8.0 * np.array([len(compress(row.tobytes())) for row in Q], dtype=np.float64)

    def input_complexity(self, X):
        """Compressed length ``L(x)`` of each quantised row, in bits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, with the features seen in ``fit``.

        Returns
        -------
        bits : ndarray of shape (n_samples,), float64
            8 times the length in bytes of the row's quantised bytes after compression
            with ``compressor`` (framing bytes included).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the detector is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        return self._complexity(self._validate(X, reset=False))

    def _validated_scores(self, X) -> np.ndarray:
        return self._log_density(X) + math.log(2.0) * self._complexity(X)


class TypicalityDetector(_CorrectedScoreDetector):
    """Outlier scores by the distance of the log-density from its typical value.

    ``score_samples(x) = -|log p(x) - m|`` (nats), with ``m`` the mean log-density of
    the training rows (``mean_log_density_``, an estimate of minus the entropy of the
    data). It is the per-sample (``M = 1``) version of the typicality test of Nalisnick
    et al. (2019, Sec. 3): in high dimensions almost all probability mass lies in the
    typical set, where ``log p(x)`` is close to ``-H``; inputs with a log-density far
    *above* it (near the mode, or simple inputs that a model rates too highly) are as
    atypical as those far below. Larger scores are more normal; the score is two-sided
    and symmetric around ``m``.

    Read more in the :ref:`user guide <ood_corrections>`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Density estimator with ``fit`` and ``score_samples`` returning log-densities in
        nats. None gives ``FlowDensity()``. It is cloned and fitted on ``X``; wrap a
        fitted estimator in :class:`sklearn.frozen.FrozenEstimator` to use it as is,
        which also makes ``m`` a *held-out* estimate: ``fit(X_holdout)`` then only
        averages the frozen model's log-density over ``X_holdout``.
    contamination : float in (0, 0.5], default=0.1
        Expected fraction of outliers in the training data; sets ``offset_``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted density estimator.
    mean_log_density_ : float
        ``m``: mean log-density (nats) of the rows given to ``fit`` under
        ``estimator_``.
    offset_ : float
        ``100 * contamination`` percentile of the training scores;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string
        names).

    See Also
    --------
    LikelihoodRatioDetector : Corrects with a fitted reference density.
    InputComplexityDetector : Corrects with a compressor.

    Notes
    -----
    ``m`` comes from the rows the estimator was fitted on, where a flexible model's
    log-density is optimistic (it overfits them), so held-out inliers sit slightly
    below ``m`` on average; with a frozen, prefitted estimator ``m`` comes from the
    rows given to ``fit`` instead (held-out, see ``estimator``). A constant added to
    ``log p`` moves ``m`` by the same constant: the score is unchanged.

    Typicality helps when outliers get *too high* a likelihood (the failure of deep
    generative models on simple inputs, Nalisnick et al.) and in high dimensions, where
    typical inliers are far from the mode; it hurts in low dimensions or when the
    inlier log-densities spread widely (a multimodal or heavy-tailed density), since
    it then calls the inliers of the densest regions atypical.

    References
    ----------
    .. [1] E. Nalisnick, A. Matsukawa, Y. W. Teh, B. Lakshminarayanan. Detecting
       Out-of-Distribution Inputs to Deep Generative Models Using Typicality.
       arXiv:1906.02994, 2019, Sec. 3 (the typicality test; here with one input,
       ``M = 1``, and the training mean as the entropy estimate).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from skflows import TypicalityDetector
    >>> X = np.random.RandomState(0).normal(size=(500, 20))
    >>> det = TypicalityDetector(GaussianMixture(1)).fit(X)
    >>> det.predict(np.zeros((1, 20))).tolist()  # the mode is atypical in 20-D
    [-1]
    """

    def __init__(self, estimator=None, contamination=0.1):
        self.estimator = estimator
        self.contamination = contamination

    def _fit_correction(self, X) -> None:
        self.mean_log_density_ = float(np.mean(self._log_density(X)))

    def _validated_scores(self, X) -> np.ndarray:
        return -np.abs(self._log_density(X) - self.mean_log_density_)
