"""Label-free model selection for anomaly detectors: Excess-Mass and Mass-Volume curves.

A scoring function ``s`` ranks observations, larger meaning more normal (scikit-learn's
``score_samples`` convention). Its quality as a ranking of the data distribution ``P``
is measured, without labels, by two curves of its level sets ``{s >= u}``:

* the Mass-Volume (MV) curve (Clémençon & Jakubowicz 2013)
  ``MV_s(alpha) = inf_u { Leb(s >= u) : P(s(X) >= u) >= alpha }``, the volume of the
  smallest level set holding mass ``alpha`` (lower is better);
* the Excess-Mass (EM) curve (Goix, Sabourin & Clémençon 2015)
  ``EM_s(t) = sup_u { P(s(X) >= u) - t Leb(s >= u) }`` (higher is better).

Both are optimal (smallest MV, largest EM, at every point) for the density itself or
any strictly increasing transform of it, and both only depend on the ranking that ``s``
induces, so they are unchanged by strictly increasing transforms of the scores.

Following Goix (2016), ``P`` is replaced by the empirical distribution of the data
``X`` and ``Leb`` by a Monte-Carlo estimate: ``n_uniform`` points are drawn uniformly in
the bounding box ``B = prod_j [min_i X_ij, max_i X_ij]`` of the data, and
``Leb(s >= u) ~= |B| * #{uniform points with s >= u} / n_uniform``. A feature that is
constant on the data (a binary feature that a validation fold happens to hold at one
value) has an interval of zero width: the draws hold it at its value and ``Leb`` and
``|B|`` are the volumes in the other features, i.e. the Lebesgue measure of the slice on
which the data lie. Data on which every feature is constant raise ``ValueError``.

The curves are summarised by their areas over the ranges Goix uses:

* MV: ``alpha`` in ``[0.9, 0.999]``;
* EM: ``t`` in ``[0, t_max]`` with ``t_max = EM_s^{-1}(0.9) = inf{t >= 0 : EM_s(t) <=
  0.9}``, the first ``t`` at which the EM curve of *this* scoring function falls to
  0.9. The range therefore depends on ``s``: a better scoring function keeps
  ``EM_s >= 0.9`` longer and is integrated over a longer range.

:func:`make_em_scorer` and :func:`make_mv_scorer` wrap the areas as scorers
``(estimator, X, y=None) -> float`` for :class:`sklearn.model_selection.GridSearchCV`
and friends, with the sign chosen so that greater is better (the MV area is negated).
They work with any estimator that has ``score_samples``. In dimension larger than about
8 the uniform draws hardly ever fall in the level sets, and Goix recommends averaging
the criteria over random subsets of a few features, refitting the estimator on each
subset; the scorers do this when asked to (``max_features``), see
:func:`feature_subsampled_area`.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

__all__ = ["mass_volume_curve", "excess_mass_curve", "mass_volume_area",
           "excess_mass_area", "feature_subsampled_area", "make_em_scorer",
           "make_mv_scorer", "em_score", "mv_score"]

# Elements of the (thresholds x levels) matrix formed at once in the EM envelope.
_CHUNK = 1 << 22
# Goix's reference code integrates the EM curve on t in [0, 100 / |B|) when it never
# falls to the requested level; the same cap is used here in that (degenerate) case.
_GOIX_T_CAP = 100.0


# ------------------------------------------------------------------ validation helpers
def _scores(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}.")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN.")
    return arr


def _volume(box_volume) -> float:
    vol = float(box_volume)
    if not (np.isfinite(vol) and vol > 0):
        raise ValueError(f"box_volume must be a finite number > 0, got {box_volume!r}.")
    return vol


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _level_sets(scores_data, scores_uniform, box_volume):
    """Sorted scores and the validated inputs shared by both curves."""
    sd = np.sort(_scores(scores_data, "scores_data"))
    su = np.sort(_scores(scores_uniform, "scores_uniform"))
    return sd, su, _volume(box_volume)


def _volume_above(su_sorted, thresholds, box_volume):
    """``|B| * #{uniform scores >= u} / N`` for each threshold ``u`` (vectorised)."""
    n_unif = su_sorted.size
    above = n_unif - np.searchsorted(su_sorted, thresholds, side="left")
    return box_volume * above / n_unif


# ----------------------------------------------------------------------------- curves
def mass_volume_curve(scores_data, scores_uniform, box_volume, alphas):
    """Empirical Mass-Volume curve ``MV_s(alpha)`` of a scoring function.

    ``MV_s(alpha) = Leb{s >= u_alpha}``, where ``u_alpha`` is the largest threshold with
    empirical mass ``P_n(s >= u_alpha) >= alpha``: with the data scores sorted in
    decreasing order ``s_(1) >= ... >= s_(n)``, ``u_alpha = s_(k)`` with
    ``k = ceil(alpha n)`` (the ``(1 - alpha)`` empirical quantile; ``MV_s(0) = 0``). The
    volume is the Monte-Carlo estimate ``|B| * #{j : s(U_j) >= u_alpha} / N`` from ``N``
    uniform draws ``U_j`` in a box ``B`` of volume ``box_volume``. Computed with sorted
    scores and binary search (no loop over thresholds), as in Goix's reference code.

    Parameters
    ----------
    scores_data : array-like of shape (n,)
        Scores ``s(X_i)`` of the data (larger = more normal).
    scores_uniform : array-like of shape (N,)
        Scores ``s(U_j)`` of ``N`` points drawn uniformly in the box ``B``.
    box_volume : float
        Lebesgue measure ``|B|`` of the box (in the units of the data, to the power of
        the dimension).
    alphas : array-like of shape (m,)
        Masses in ``[0, 1]``.

    Returns
    -------
    mv : ndarray of shape (m,), float64
        Estimated volumes ``MV_s(alpha)``, in the units of ``box_volume``;
        non-decreasing in ``alpha``. Smaller is better.

    Raises
    ------
    ValueError
        If the scores are not non-empty 1-D arrays without NaN, ``box_volume`` is not a
        finite positive number, or an ``alpha`` lies outside ``[0, 1]``.

    References
    ----------
    .. [1] S. Clémençon, J. Jakubowicz. Scoring anomalies: a M-estimation formulation.
       AISTATS 2013 (the MV curve).
    .. [2] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152 (the
       Monte-Carlo estimate on the bounding box).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.model_selection import mass_volume_curve
    >>> s_data = np.array([3.0, 2.0, 1.0, 0.0])
    >>> s_unif = np.array([2.5, 1.5, 0.5, -0.5])
    >>> mass_volume_curve(s_data, s_unif, box_volume=8.0, alphas=[0.25, 0.5, 1.0])
    array([0., 2., 6.])
    """
    sd, su, vol = _level_sets(scores_data, scores_uniform, box_volume)
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or not np.all((alphas >= 0) & (alphas <= 1)):
        raise ValueError("alphas must be a 1-D array of masses in [0, 1].")
    n = sd.size
    # k = ceil(alpha n), rounded first so that 0.9 * 10 counts as 9, not 9.000000001.
    k = np.ceil(np.round(alphas * n, 8)).astype(np.int64)
    u = np.where(k > 0, sd[n - np.maximum(k, 1)], np.inf)  # k-th largest data score
    return np.where(k > 0, _volume_above(su, u, vol), 0.0)


def _em_lines(sd, su, vol):
    """Intercepts ``a`` (mass) and slopes ``b`` (volume) of ``EM(t) = max(a - t b)``.

    One line per distinct data score ``u`` (the candidate thresholds: between two data
    scores the mass is constant and the volume only grows as ``u`` decreases), plus the
    line ``0`` (``u = +inf``). Among lines with equal volume only the largest mass is
    kept (the others never attain the maximum).
    """
    u = np.unique(sd)
    mass = (sd.size - np.searchsorted(sd, u, side="left")) / sd.size
    leb = _volume_above(su, u, vol)
    leb = np.concatenate([leb, [0.0]])
    mass = np.concatenate([mass, [0.0]])
    order = np.lexsort((-mass, leb))  # by volume, then by decreasing mass
    leb, mass = leb[order], mass[order]
    first = np.ones(leb.size, dtype=bool)
    first[1:] = leb[1:] != leb[:-1]
    return mass[first], leb[first]


def _em_eval(mass, leb, ts):
    out = np.empty(ts.size)
    step = max(1, _CHUNK // max(1, mass.size))
    for start in range(0, ts.size, step):  # chunks of levels (not a loop over points)
        t = ts[start:start + step, None]
        out[start:start + step] = np.max(mass[None, :] - t * leb[None, :], axis=1)
    return out


def excess_mass_curve(scores_data, scores_uniform, box_volume, ts):
    """Empirical Excess-Mass curve ``EM_s(t)`` of a scoring function.

    ``EM_s(t) = sup_u { P_n(s >= u) - t Leb(s >= u) }`` with ``P_n`` the empirical
    distribution of the data and ``Leb`` the Monte-Carlo volume estimate
    ``|B| * #{j : s(U_j) >= u} / N``. The supremum is attained at a data score (or at
    ``u = +inf``, where it is 0), so it is the upper envelope of one line per distinct
    data score, obtained from sorted scores; ``EM_s(0) = 1`` and the curve is convex and
    non-increasing in ``t``.

    Parameters
    ----------
    scores_data : array-like of shape (n,)
        Scores ``s(X_i)`` of the data (larger = more normal).
    scores_uniform : array-like of shape (N,)
        Scores ``s(U_j)`` of ``N`` points drawn uniformly in the box ``B``.
    box_volume : float
        Lebesgue measure ``|B|`` of the box.
    ts : array-like of shape (m,)
        Levels ``t >= 0``, in units of a density (mass per unit of ``box_volume``).

    Returns
    -------
    em : ndarray of shape (m,), float64
        ``EM_s(t)`` in ``[0, 1]``. Larger is better.

    Raises
    ------
    ValueError
        If the scores are not non-empty 1-D arrays without NaN, ``box_volume`` is not a
        finite positive number, or a level is negative or not finite.

    References
    ----------
    .. [1] N. Goix, A. Sabourin, S. Clémençon. On Anomaly Ranking and Excess-Mass
       Curves. AISTATS 2015 (the EM curve).
    .. [2] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152.

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.model_selection import excess_mass_curve
    >>> s_data = np.array([3.0, 2.0, 1.0, 0.0])
    >>> s_unif = np.array([2.5, 1.5, 0.5, -0.5])
    >>> excess_mass_curve(s_data, s_unif, box_volume=8.0, ts=[0.0, 0.1, 1.0])
    array([1.  , 0.4 , 0.25])
    """
    sd, su, vol = _level_sets(scores_data, scores_uniform, box_volume)
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or not np.all(np.isfinite(ts) & (ts >= 0)):
        raise ValueError("ts must be a 1-D array of finite levels >= 0.")
    mass, leb = _em_lines(sd, su, vol)
    return _em_eval(mass, leb, ts)


# ------------------------------------------------------------------------------ areas
def mass_volume_area(scores_data, scores_uniform, box_volume, *, alpha_min=0.9,
                     alpha_max=0.999):
    """Area under the empirical MV curve over ``[alpha_min, alpha_max]`` (lower is better).

    The empirical MV curve is a step function (constant on each
    ``((k - 1) / n, k / n]``), so the integral is computed exactly, without a grid
    (Goix's code applies the trapezoidal rule on a grid of step ``1e-4``, which converges
    to the same value).

    Parameters
    ----------
    scores_data : array-like of shape (n,)
        Scores of the data (larger = more normal).
    scores_uniform : array-like of shape (N,)
        Scores of ``N`` points drawn uniformly in the box ``B``.
    box_volume : float
        Lebesgue measure ``|B|`` of the box.
    alpha_min, alpha_max : float, default=0.9, 0.999
        Integration range, ``0 <= alpha_min < alpha_max <= 1``; the defaults are
        Goix's (2016).

    Returns
    -------
    area : float
        ``int_{alpha_min}^{alpha_max} MV_s(alpha) d alpha``, in the units of
        ``box_volume``.

    Raises
    ------
    ValueError
        On invalid scores or volume (see :func:`mass_volume_curve`) or an invalid range.

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152 (Sec. 3: the
       range ``[0.9, 0.999]``).
    .. [2] S. Clémençon, J. Jakubowicz. Scoring anomalies: a M-estimation formulation.
       AISTATS 2013.
    """
    sd, su, vol = _level_sets(scores_data, scores_uniform, box_volume)
    alpha_min, alpha_max = float(alpha_min), float(alpha_max)
    if not 0.0 <= alpha_min < alpha_max <= 1.0:
        raise ValueError("Need 0 <= alpha_min < alpha_max <= 1, got "
                         f"alpha_min={alpha_min}, alpha_max={alpha_max}.")
    n = sd.size
    k = np.arange(1, n + 1)
    lo = np.clip((k - 1) / n, alpha_min, alpha_max)
    hi = np.clip(k / n, alpha_min, alpha_max)
    width = hi - lo
    keep = width > 0
    u = sd[n - k[keep]]  # k-th largest score
    return float(np.sum(width[keep] * _volume_above(su, u, vol)))


def excess_mass_area(scores_data, scores_uniform, box_volume, *, em_level=0.9,
                     n_levels=1000, return_t_max=False):
    """Area under the empirical EM curve over ``[0, t_max]`` (higher is better).

    ``t_max = EM_s^{-1}(em_level) = inf{t >= 0 : EM_s(t) <= em_level}`` is Goix's
    (2016) upper limit with ``em_level = 0.9``: it depends on the scoring function. As
    ``EM_s`` is the upper envelope of lines ``a_u - t b_u`` (mass ``a_u``, volume
    ``b_u`` of ``{s >= u}``), ``t_max = max_{u : a_u > em_level} (a_u - em_level) / b_u``
    exactly; the convex curve is then integrated by the trapezoidal rule on
    ``n_levels`` equally spaced levels of ``[0, t_max]`` (Goix uses a fixed grid of
    step ``0.01 / |B|`` and stops one point past the crossing).

    If a level set holding more than ``em_level`` of the data contains no uniform draw,
    the curve never falls to ``em_level``; then a warning is issued and, as in Goix's
    code, the curve is integrated up to ``100 / |B|``. Increase the number of uniform
    draws (or sub-sample the features) when this happens.

    Parameters
    ----------
    scores_data : array-like of shape (n,)
        Scores of the data (larger = more normal).
    scores_uniform : array-like of shape (N,)
        Scores of ``N`` points drawn uniformly in the box ``B``.
    box_volume : float
        Lebesgue measure ``|B|`` of the box.
    em_level : float, default=0.9
        Level in ``(0, 1)`` at which the integration stops.
    n_levels : int, default=1000
        Number of levels ``t`` of the trapezoidal rule (at least 2).
    return_t_max : bool, default=False
        Also return ``t_max``.

    Returns
    -------
    area : float
        ``int_0^{t_max} EM_s(t) dt``, in units of ``1 / box_volume``.
    t_max : float
        The upper limit (only when ``return_t_max``).

    Raises
    ------
    ValueError
        On invalid scores or volume (see :func:`excess_mass_curve`), ``em_level``
        outside ``(0, 1)`` or ``n_levels < 2``.

    Warns
    -----
    RuntimeWarning
        When the EM curve never falls to ``em_level`` (see above).

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152 (Sec. 3: the
       range ``[0, EM_s^{-1}(0.9)]``).
    .. [2] N. Goix, A. Sabourin, S. Clémençon. On Anomaly Ranking and Excess-Mass
       Curves. AISTATS 2015.
    """
    sd, su, vol = _level_sets(scores_data, scores_uniform, box_volume)
    em_level = float(em_level)
    if not 0.0 < em_level < 1.0:
        raise ValueError(f"em_level must lie in (0, 1), got {em_level}.")
    n_levels = _positive_int(n_levels, "n_levels", minimum=2)
    mass, leb = _em_lines(sd, su, vol)
    high = mass > em_level
    if np.any(high & (leb == 0)):
        warnings.warn(
            f"The empirical EM curve never falls to {em_level}: a level set holding more "
            f"than {em_level:g} of the data contains none of the {su.size} uniform draws. "
            f"Integrating up to t = {_GOIX_T_CAP:g} / box_volume as Goix (2016) does; "
            "draw more uniform points or sub-sample the features.",
            RuntimeWarning, stacklevel=2)
        t_max = _GOIX_T_CAP / vol
    else:
        t_max = float(np.max((mass[high] - em_level) / leb[high])) if high.any() else 0.0
    ts = np.linspace(0.0, t_max, n_levels)
    em = _em_eval(mass, leb, ts)
    area = float(np.sum((em[1:] + em[:-1]) * np.diff(ts)) / 2.0)
    return (area, t_max) if return_t_max else area


# ---------------------------------------------------------------------------- scorers
def _check_X(X):
    return check_array(X, dtype=np.float64, ensure_min_samples=2)


def _like_input(U, X):
    """Uniform draws in the container of ``X`` (a DataFrame keeps its column names)."""
    columns = getattr(X, "columns", None)
    if columns is not None:
        import pandas as pd
        return pd.DataFrame(U, columns=columns)
    return U


def _score_samples(estimator, X):
    if not hasattr(estimator, "score_samples"):
        raise TypeError(f"{type(estimator).__name__} has no score_samples method.")
    return np.asarray(estimator.score_samples(X), dtype=np.float64).reshape(-1)


def _box_area(estimator, X, Xa, criterion, n_uniform, rng, area_kwargs):
    """Area of one criterion for a fitted estimator on data ``X`` (its array ``Xa``)."""
    low, high = Xa.min(axis=0), Xa.max(axis=0)
    width = high - low
    varying = width > 0
    if not varying.any():
        raise ValueError("Every feature of X is constant: the data are one point, so the "
                         "Mass-Volume and Excess-Mass criteria are undefined.")
    # A constant feature is held at its value (the draws of a zero-width interval are
    # that value); the volume is the slice's, in the varying features.
    volume = float(np.prod(width[varying]))
    U = rng.uniform(low, high, size=(n_uniform, Xa.shape[1]))
    U[:, ~varying] = low[~varying]
    s_data = _score_samples(estimator, X)
    s_unif = _score_samples(estimator, _like_input(U, X))
    if criterion == "em":
        return excess_mass_area(s_data, s_unif, volume, **area_kwargs)
    return mass_volume_area(s_data, s_unif, volume, **area_kwargs)


def _check_criterion(criterion):
    if criterion not in ("em", "mv"):
        raise ValueError(f"criterion must be 'em' or 'mv', got {criterion!r}.")
    return criterion


def feature_subsampled_area(estimator, X_train, X_test, *, criterion="em",
                            max_features=5, n_subsets=50, n_uniform=100_000,
                            random_state=0, **area_kwargs):
    """EM or MV area averaged over random subsets of features (Goix's high-dim protocol).

    In dimension ``d`` larger than about 8 the Monte-Carlo volumes are unusable (the
    level sets that hold most of the data occupy a vanishing fraction of the bounding
    box). Goix (2016, Sec. 4) then draws ``n_subsets`` random subsets of
    ``max_features`` features, fits a fresh copy of the detector
    (:func:`sklearn.base.clone`, so only its hyper-parameters are used) on
    ``X_train`` restricted to the subset, computes the criterion on ``X_test``
    restricted to the subset (uniform draws in the bounding box of that sub-matrix), and
    averages the areas. When ``d <= max_features`` a single "subset" (all features) is
    used.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``score_samples``
        Template of the detector; cloned (unfitted) for every subset.
    X_train : array-like of shape (n_train, d)
        Data the clones are fitted on.
    X_test : array-like of shape (n_test, d)
        Data the criterion is evaluated on.
    criterion : {"em", "mv"}, default="em"
        Which area: :func:`excess_mass_area` or :func:`mass_volume_area`.
    max_features : int, default=5
        Features per subset (``d'`` in Goix, 2016).
    n_subsets : int, default=50
        Number of random subsets averaged (``m`` in Goix, 2016).
    n_uniform : int, default=100_000
        Uniform draws per subset.
    random_state : int, RandomState instance or None, default=0
        Seeds the subsets and the uniform draws (it does not seed the clones; set the
        estimator's own ``random_state`` for that).
    **area_kwargs
        Passed to the area function (``em_level``, ``n_levels``; or ``alpha_min``,
        ``alpha_max``).

    Returns
    -------
    area : float
        The mean area (EM: higher is better; MV: lower is better, not negated here).

    Raises
    ------
    ValueError
        On an unknown criterion, invalid counts, data with different numbers of
        features or a subset of ``X_test`` whose every feature is constant (a constant
        feature of a subset is held at its value, see the module's notes).
    TypeError
        If the estimator has no ``score_samples``.

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152 (Sec. 4 and
       Algorithm 1: feature sub-sampling and averaging).
    """
    criterion = _check_criterion(criterion)
    max_features = _positive_int(max_features, "max_features")
    n_subsets = _positive_int(n_subsets, "n_subsets")
    n_uniform = _positive_int(n_uniform, "n_uniform")
    Xtr, Xte = _check_X(X_train), _check_X(X_test)
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"X_train has {Xtr.shape[1]} features but X_test has "
                         f"{Xte.shape[1]}.")
    rng = check_random_state(random_state)
    d = Xte.shape[1]
    if d <= max_features:
        n_subsets = 1
    areas = np.empty(n_subsets)
    for i in range(n_subsets):  # one refit per subset
        feats = (np.arange(d) if d <= max_features
                 else np.sort(rng.choice(d, size=max_features, replace=False)))
        est = clone(estimator).fit(Xtr[:, feats])
        areas[i] = _box_area(est, Xte[:, feats], Xte[:, feats], criterion, n_uniform,
                             rng, area_kwargs)
    return float(np.mean(areas))


class _CurveScorer:
    """Label-free scorer: the EM area or minus the MV area of ``estimator`` on ``X``.

    Built by :func:`make_em_scorer` and :func:`make_mv_scorer` (see there for the
    options); calling it scores ``X`` and uniform draws in its bounding box with
    ``estimator.score_samples``.

    Parameters
    ----------
    estimator : fitted estimator with ``score_samples``
        The detector (larger scores = more normal).
    X : array-like of shape (n_samples, n_features)
        Validation data (a DataFrame keeps its column names for the uniform draws).
    y : None
        Ignored (scikit-learn's scorer signature).

    Returns
    -------
    score : float
        The EM area (units ``1 / |B|``) or minus the MV area (units ``|B|``); greater
        is better.

    Raises
    ------
    ValueError
        If ``X`` has fewer than 2 rows or every feature of ``X`` is constant (a
        constant feature is held at its value, see the module's notes).
    TypeError
        If the estimator has no ``score_samples``.

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152.
    """

    def __init__(self, criterion, n_uniform, random_state, max_features, n_subsets,
                 subsample_above, fit_fraction, area_kwargs):
        self.criterion = criterion
        self.n_uniform = n_uniform
        self.random_state = random_state
        self.max_features = max_features
        self.n_subsets = n_subsets
        self.subsample_above = subsample_above
        self.fit_fraction = fit_fraction
        self.area_kwargs = area_kwargs

    def __repr__(self):
        name = "make_em_scorer" if self.criterion == "em" else "make_mv_scorer"
        args = [f"n_uniform={self.n_uniform}", f"random_state={self.random_state!r}"]
        if self.max_features is not None:
            args.append(f"max_features={self.max_features}")
        args += [f"{k}={v!r}" for k, v in self.area_kwargs.items()]
        return f"{name}({', '.join(args)})"

    def __call__(self, estimator, X, y=None):
        Xa = _check_X(X)
        rng = check_random_state(self.random_state)
        sign = 1.0 if self.criterion == "em" else -1.0
        if self.max_features is not None and Xa.shape[1] > self.subsample_above:
            perm = rng.permutation(Xa.shape[0])
            n_fit = int(round(self.fit_fraction * Xa.shape[0]))
            if n_fit < 2 or Xa.shape[0] - n_fit < 2:
                raise ValueError("Feature sub-sampling splits X in two parts of at least "
                                 f"2 rows; got {Xa.shape[0]} rows and fit_fraction="
                                 f"{self.fit_fraction}.")
            area = feature_subsampled_area(
                estimator, Xa[perm[:n_fit]], Xa[perm[n_fit:]], criterion=self.criterion,
                max_features=self.max_features, n_subsets=self.n_subsets,
                n_uniform=self.n_uniform, random_state=rng, **self.area_kwargs)
        else:
            area = _box_area(estimator, X, Xa, self.criterion, self.n_uniform, rng,
                             self.area_kwargs)
        return sign * area


def _scorer(criterion, n_uniform, random_state, max_features, n_subsets,
            subsample_above, fit_fraction, area_kwargs):
    _positive_int(n_uniform, "n_uniform")
    if max_features is not None:
        _positive_int(max_features, "max_features")
        _positive_int(n_subsets, "n_subsets")
        _positive_int(subsample_above, "subsample_above", minimum=0)
        if not 0.0 < float(fit_fraction) < 1.0:
            raise ValueError(f"fit_fraction must lie in (0, 1), got {fit_fraction}.")
    return _CurveScorer(criterion, n_uniform, random_state, max_features, n_subsets,
                        subsample_above, float(fit_fraction), area_kwargs)


def make_em_scorer(*, n_uniform=100_000, random_state=0, em_level=0.9, n_levels=1000,
                   max_features=None, n_subsets=50, subsample_above=8,
                   fit_fraction=0.5):
    """Scorer ``(estimator, X, y=None) -> EM area`` for label-free model selection.

    Returns a callable for ``GridSearchCV(..., scoring=make_em_scorer())`` (or
    ``cross_val_score``): the area under the empirical Excess-Mass curve of
    ``estimator.score_samples`` on ``X``, over ``[0, EM_s^{-1}(em_level)]``
    (:func:`excess_mass_area`). Greater is better.

    The scorer draws ``n_uniform`` points uniformly in the bounding box of the ``X`` it
    is given, scores the data and the draws with ``estimator.score_samples`` (larger =
    more normal: scikit-learn's density estimators,
    :class:`~sklearn.ensemble.IsolationForest`, ``LocalOutlierFactor(novelty=True)``,
    skflows' estimators) and returns the area. With an int ``random_state`` (the
    default) every call on the same ``X`` uses the same draws, so the candidates of a
    grid search are compared on common random numbers.

    Feature sub-sampling (Goix, 2016, Sec. 4) applies when ``max_features`` is an int
    and ``X`` has more than ``subsample_above`` features (Goix: more than 8). The
    scorer then ignores the *fitted state* of the estimator: it splits ``X`` at random
    into a part (``fit_fraction`` of the rows) on which clones of the estimator are
    refitted on ``n_subsets`` random subsets of ``max_features`` features, and a part
    on which they are evaluated (:func:`feature_subsampled_area`). In a cross-validation
    the clones are thus fitted on part of the validation fold, i.e. on fewer rows than
    the estimator was, which matters for hyper-parameters that depend on the sample
    size (a kernel bandwidth). It costs ``n_subsets`` fits per call.

    Parameters
    ----------
    n_uniform : int, default=100_000
        Uniform draws in the bounding box (Goix uses 100 000).
    random_state : int, RandomState instance or None, default=0
        Seeds the uniform draws (and the row split and feature subsets).
    em_level : float, default=0.9
        The integration stops where the EM curve falls to this level.
    n_levels : int, default=1000
        Levels of the trapezoidal rule on ``[0, t_max]``.
    max_features : int or None, default=None
        Features per random subset; None disables feature sub-sampling (Goix: 5).
    n_subsets : int, default=50
        Random subsets averaged when sub-sampling (Goix: 50).
    subsample_above : int, default=8
        Sub-sample only when ``X`` has more features than this.
    fit_fraction : float, default=0.5
        Fraction of the rows of ``X`` the clones are fitted on when sub-sampling.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, the EM area in units of
        ``1 / |B|`` (``|B|`` the volume of the bounding box of ``X``); ``y`` is ignored.

    Raises
    ------
    ValueError
        On invalid counts or fractions. The scorer raises ``ValueError`` when every
        feature of ``X`` is constant (a constant feature is held at its value and the
        volume is measured in the others) and ``TypeError`` when the estimator has no
        ``score_samples``.

    See Also
    --------
    make_mv_scorer, em_score, excess_mass_area

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152.
    .. [2] N. Goix, A. Sabourin, S. Clémençon. On Anomaly Ranking and Excess-Mass
       Curves. AISTATS 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.neighbors import KernelDensity
    >>> from skflows.model_selection import make_em_scorer
    >>> X = np.random.RandomState(0).normal(size=(300, 2))
    >>> search = GridSearchCV(KernelDensity(), {"bandwidth": [0.01, 0.5]},
    ...                       scoring=make_em_scorer(n_uniform=10_000), cv=3).fit(X)
    >>> search.best_params_
    {'bandwidth': 0.5}
    """
    return _scorer("em", n_uniform, random_state, max_features, n_subsets,
                   subsample_above, fit_fraction,
                   {"em_level": float(em_level), "n_levels": int(n_levels)})


def make_mv_scorer(*, n_uniform=100_000, random_state=0, alpha_min=0.9, alpha_max=0.999,
                   max_features=None, n_subsets=50, subsample_above=8,
                   fit_fraction=0.5):
    """Scorer ``(estimator, X, y=None) -> -(MV area)`` for label-free model selection.

    Returns a callable for ``GridSearchCV(..., scoring=make_mv_scorer())``: minus the
    area under the empirical Mass-Volume curve of ``estimator.score_samples`` on ``X``
    over ``[alpha_min, alpha_max]`` (:func:`mass_volume_area`). The MV area is better
    when smaller; it is negated so that greater is better, as scikit-learn's model
    selection maximises.

    The scorer draws ``n_uniform`` points uniformly in the bounding box of the ``X`` it
    is given, scores the data and the draws with ``estimator.score_samples`` and returns
    the negated area; the draws, the feature sub-sampling (``max_features``,
    ``n_subsets``, ``subsample_above``, ``fit_fraction``) and the seeding work as in
    :func:`make_em_scorer`.

    Parameters
    ----------
    n_uniform : int, default=100_000
        Uniform draws in the bounding box.
    random_state : int, RandomState instance or None, default=0
        Seeds the uniform draws (and the row split and feature subsets).
    alpha_min, alpha_max : float, default=0.9, 0.999
        Integration range of the masses (Goix's).
    max_features : int or None, default=None
        Features per random subset; None disables feature sub-sampling (Goix: 5).
    n_subsets : int, default=50
        Random subsets averaged when sub-sampling (Goix: 50).
    subsample_above : int, default=8
        Sub-sample only when ``X`` has more features than this.
    fit_fraction : float, default=0.5
        Fraction of the rows of ``X`` the clones are fitted on when sub-sampling.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, minus the MV area in units of
        ``|B|`` (the volume of the bounding box of ``X``); ``y`` is ignored.

    Raises
    ------
    ValueError
        On invalid counts, fractions or masses. The scorer raises ``ValueError`` when
        every feature of ``X`` is constant (a constant feature is held at its value) and
        ``TypeError`` when the estimator has no ``score_samples``.

    See Also
    --------
    make_em_scorer, mv_score, mass_volume_area

    References
    ----------
    .. [1] N. Goix. How to Evaluate the Quality of Unsupervised Anomaly Detection
       Algorithms? ICML Anomaly Detection Workshop 2016, arXiv:1607.01152.
    .. [2] S. Clémençon, J. Jakubowicz. Scoring anomalies: a M-estimation formulation.
       AISTATS 2013.
    """
    alpha_min, alpha_max = float(alpha_min), float(alpha_max)
    if not 0.0 <= alpha_min < alpha_max <= 1.0:
        raise ValueError("Need 0 <= alpha_min < alpha_max <= 1, got "
                         f"alpha_min={alpha_min}, alpha_max={alpha_max}.")
    return _scorer("mv", n_uniform, random_state, max_features, n_subsets,
                   subsample_above, fit_fraction,
                   {"alpha_min": alpha_min, "alpha_max": alpha_max})


#: Ready-made EM scorer (``make_em_scorer()`` with its defaults: 100 000 uniform draws,
#: seed 0, no feature sub-sampling). Greater is better.
em_score = make_em_scorer()
#: Ready-made MV scorer (``make_mv_scorer()`` with its defaults), returning minus the
#: MV area. Greater is better.
mv_score = make_mv_scorer()
