"""Samplers for the tails of a standard-normal latent and for (extended) simplices.

A normalizing flow maps data to a latent ``z ~ N(0, I_d)``, whose tails are known
exactly: the norm ``||z||`` follows the chi distribution with ``d`` degrees of freedom,
and the largest norm among ``n`` independent latents has the distribution function
``F_chi(r)^n``. The samplers below draw latents from precisely described regions of that
space (shells at a chosen radius, points as extreme as the most extreme of ``n_ref``
draws), and convex or affine combinations of given vertices (Dirichlet weights). Mapped
back through a flow they give plausible-but-atypical synthetic outliers, see
:class:`skflows.FlowOutlierGenerator`.

Every function draws from a :class:`numpy.random.RandomState` built with
:func:`sklearn.utils.check_random_state` and returns float64 arrays.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats
from scipy.special import gammaln
from sklearn.utils import check_random_state

__all__ = ["uniform_directions", "chi_quantile", "gaussian_shell", "gaussian_shell_log_prob",
           "gaussian_extremes", "gaussian_extremes_log_prob", "standard_normal_log_prob",
           "dirichlet_mixtures"]


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _interval(value, name: str, low: float, high: float, closed_high: bool):
    """A scalar or a sorted pair inside ``[low, high]`` (or ``[low, high)``)."""
    pair = np.atleast_1d(np.asarray(value, dtype=np.float64))
    ok_high = (pair <= high) if closed_high else (pair < high)
    if pair.ndim != 1 or pair.size not in (1, 2) or not np.all(np.isfinite(pair)) \
            or not np.all((pair >= low) & ok_high) or (pair.size == 2 and pair[0] > pair[1]):
        bound = "]" if closed_high else ")"
        raise ValueError(f"{name} must be a number in [{low}, {high}{bound} or a pair "
                         f"(low, high) with low <= high in that range, got {value!r}.")
    return float(pair[0]), float(pair[-1])


def uniform_directions(n_samples, n_features, random_state=None):
    """Unit vectors uniformly distributed on the sphere ``S^{d-1}``.

    Normalised standard-normal draws ``g / ||g||`` (the normal law is rotation
    invariant, so the direction is uniform and independent of the norm).

    Parameters
    ----------
    n_samples : int
        Number of directions.
    n_features : int
        Dimension ``d``; for ``d = 1`` the directions are random signs.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (an int gives the same output on every call; None uses numpy's
        global generator, as scikit-learn does).

    Returns
    -------
    V : ndarray of shape (n_samples, n_features), float64
        Rows of unit Euclidean norm.

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 0``, ``n_features`` not an int ``>= 1``, or
        ``random_state`` cannot seed a :class:`numpy.random.RandomState`.

    References
    ----------
    .. [1] M. E. Muller. A Note on a Method for Generating Points Uniformly on
       N-Dimensional Spheres. Communications of the ACM 2(4), 1959 (normalised Gaussian
       vectors are uniform on the sphere).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.sampling import uniform_directions
    >>> V = uniform_directions(4, 3, random_state=0)
    >>> bool(np.allclose(np.linalg.norm(V, axis=1), 1.0))
    True
    """
    n_samples = _positive_int(n_samples, "n_samples", 0)
    n_features = _positive_int(n_features, "n_features")
    rng = check_random_state(random_state)
    g = rng.standard_normal((n_samples, n_features))
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    # A zero draw has probability zero; guard anyway with an arbitrary axis.
    zero = norm[:, 0] == 0
    g[zero, 0], norm[zero] = 1.0, 1.0
    return g / norm


def chi_quantile(q, n_features):
    """Quantile of the norm of a standard normal vector in ``d`` dimensions.

    ``||z||`` for ``z ~ N(0, I_d)`` follows the chi distribution with ``d`` degrees of
    freedom (mean ``sqrt(2) Gamma((d+1)/2) / Gamma(d/2) ~ sqrt(d - 1/2)``, standard
    deviation close to ``1/sqrt(2)`` for large ``d``). Upper quantiles are computed
    from the survival function, ``chi.isf(1 - q)``, which keeps their precision.

    Parameters
    ----------
    q : float or array-like
        Probabilities in ``[0, 1]``.
    n_features : int
        Dimension ``d``.

    Returns
    -------
    r : float or ndarray, float64
        ``r`` with ``P(||z|| <= r) = q`` (latent units; ``0`` at ``q = 0``, ``inf`` at
        ``q = 1``), a float for a scalar ``q``, else an array of the shape of ``q``.

    Raises
    ------
    ValueError
        If ``n_features`` is not an int ``>= 1``, or ``q`` is not numeric or has an
        entry outside ``[0, 1]`` (NaN included).

    References
    ----------
    .. [1] N. L. Johnson, S. Kotz, N. Balakrishnan. Continuous Univariate Distributions,
       Vol. 1, 2nd ed., Wiley 1994, Ch. 18 (the chi distribution, the law of the norm
       of a standard normal vector).

    Examples
    --------
    >>> from skflows.sampling import chi_quantile
    >>> round(chi_quantile(0.5, 1), 4)  # median of |z| for z ~ N(0, 1)
    0.6745
    """
    n_features = _positive_int(n_features, "n_features")
    q = np.asarray(q, dtype=np.float64)
    if not np.all((q >= 0.0) & (q <= 1.0)):
        raise ValueError(f"q must hold probabilities in [0, 1], got {q!r}.")
    r = np.where(q > 0.5, stats.chi.isf(1.0 - q, n_features), stats.chi.ppf(q, n_features))
    return float(r) if r.ndim == 0 else r


def _shell_radii(n_features: int, radius, quantile) -> tuple[float, float]:
    """Inner and outer radius of a shell given by radii or chi probabilities."""
    if (radius is None) == (quantile is None):
        raise ValueError("Give exactly one of radius and quantile.")
    if radius is not None:
        return _interval(radius, "radius", 0.0, np.inf, closed_high=False)
    q_low, q_high = _interval(quantile, "quantile", 0.0, 1.0, closed_high=False)
    if q_low <= 0.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}.")
    return chi_quantile(q_low, n_features), chi_quantile(q_high, n_features)


def _log_sphere_area(n_features: int) -> float:
    """``log`` of the area of the unit sphere ``S^{d-1}``: ``2 pi^{d/2} / Gamma(d/2)``."""
    return float(np.log(2.0) + 0.5 * n_features * np.log(np.pi) - gammaln(0.5 * n_features))


def _as_points(Z) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"Z must be a 2-D array of shape (n_samples, n_features), got "
                         f"shape {Z.shape}.")
    return Z


def standard_normal_log_prob(Z):
    """Log-density of ``N(0, I_d)`` at the rows of ``Z``, in nats.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Points at which to evaluate the density.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        ``-||z||^2 / 2 - (d / 2) log(2 pi)``, in nats.

    Raises
    ------
    ValueError
        If ``Z`` is not numeric or not 2-D.

    References
    ----------
    .. [1] C. M. Bishop. Pattern Recognition and Machine Learning. Springer 2006,
       Sec. 2.3, Eq. 2.43 (the multivariate Gaussian density; here ``mu = 0``,
       ``Sigma = I``).
    """
    Z = _as_points(Z)
    return -0.5 * np.einsum("ij,ij->i", Z, Z) - 0.5 * Z.shape[1] * np.log(2.0 * np.pi)


def gaussian_shell(n_samples, n_features, *, radius=None, quantile=None, random_state=None):
    """Points on a spherical shell of a standard-normal latent space.

    Each point is ``z = r v`` with ``v`` uniform on the unit sphere and an independent
    radius ``r``:

    * ``radius=r`` (or ``quantile=q``): every point has norm exactly ``r`` (or
      ``r = F_chi_d^{-1}(q)``, the ``q``-quantile of the norm of ``N(0, I_d)``, so that a
      fraction ``q`` of standard-normal draws lie inside the shell);
    * a pair ``(low, high)``: ``r`` is uniform on ``[low, high]`` (or on
      ``[F^{-1}(q_low), F^{-1}(q_high)]``), a thick shell. Radii are uniform in radius,
      not in probability, so the ratio of the shell's radial density to the chi density
      grows with ``r`` (a discriminator trained against the shell then scores points
      monotonically by their radius).

    In high dimension the standard-normal mass concentrates near ``||z|| ~ sqrt(d)``
    (the typical set): outer shells (``q`` near 1) hold atypically large latents and
    inner shells (``q`` near 0) atypically small ones, which have a *higher* density
    than any typical point (Nalisnick et al., ICLR 2019, Sec. 5).

    Parameters
    ----------
    n_samples : int
        Number of points.
    n_features : int
        Dimension ``d`` of the latent space.
    radius : float or (float, float), optional
        Radius, or bounds of a uniform radius, ``>= 0``.
    quantile : float or (float, float), optional
        Chi-distribution probability (or bounds) in ``(0, 1)`` giving the radius.
        Exactly one of ``radius`` and ``quantile`` must be given.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (an int gives the same output on every call; None uses numpy's
        global generator, as scikit-learn does).

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    ValueError
        If neither or both of ``radius`` and ``quantile`` are given, or they are out of
        range.

    References
    ----------
    .. [1] E. Nalisnick, A. Matsukawa, Y. W. Teh, D. Gorur, B. Lakshminarayanan. Do Deep
       Generative Models Know What They Don't Know? ICLR 2019 (Sec. 5, typicality).
    .. [2] N. L. Johnson, S. Kotz, N. Balakrishnan. Continuous Univariate Distributions,
       Vol. 1, 2nd ed., Wiley 1994, Ch. 18 (chi distribution).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.sampling import gaussian_shell, chi_quantile
    >>> Z = gaussian_shell(5, 3, quantile=0.99, random_state=0)
    >>> bool(np.allclose(np.linalg.norm(Z, axis=1), chi_quantile(0.99, 3)))
    True
    """
    n_samples = _positive_int(n_samples, "n_samples", 0)
    n_features = _positive_int(n_features, "n_features")
    low, high = _shell_radii(n_features, radius, quantile)
    rng = check_random_state(random_state)
    directions = uniform_directions(n_samples, n_features, rng)
    r = low + (high - low) * rng.random_sample(n_samples) if high > low \
        else np.full(n_samples, low)
    return directions * r[:, None]


def gaussian_shell_log_prob(Z, *, radius=None, quantile=None):
    """Log-density, in nats, of the thick-shell law of :func:`gaussian_shell`.

    With radii uniform on ``[a, b]`` and uniform directions, the density at ``z`` is
    ``1 / ((b - a) |S^{d-1}| ||z||^{d-1})`` for ``a <= ||z|| <= b`` and 0 elsewhere
    (``|S^{d-1}| = 2 pi^{d/2} / Gamma(d/2)`` is the area of the unit sphere).

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Points at which to evaluate the density.
    radius, quantile : (float, float)
        The bounds given to :func:`gaussian_shell` (exactly one of them; a pair with
        ``low < high``: a thin shell has no density).

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        ``-inf`` outside the shell.

    Raises
    ------
    ValueError
        For a thin shell (a single radius or quantile) or invalid bounds, or if ``Z``
        is not a numeric 2-D array.

    References
    ----------
    .. [1] K.-T. Fang, S. Kotz, K. W. Ng. Symmetric Multivariate and Related
       Distributions. Chapman & Hall, 1990, Ch. 2 (spherical laws: a uniform direction
       independent of the radius, and the density ``p_R(r) / (|S^{d-1}| r^(d-1))``
       they induce).
    .. [2] N. L. Johnson, S. Kotz, N. Balakrishnan. Continuous Univariate Distributions,
       Vol. 1, 2nd ed., Wiley 1994, Ch. 18 (chi quantiles for ``quantile`` bounds).
    """
    Z = _as_points(Z)
    d = Z.shape[1]
    low, high = _shell_radii(d, radius, quantile)
    if not high > low:
        raise ValueError("A thin shell (a single radius) has no density; give a pair "
                         "(low, high) with low < high.")
    r = np.linalg.norm(Z, axis=1)
    inside = (r >= low) & (r <= high)
    with np.errstate(divide="ignore"):
        log_q = -np.log(high - low) - _log_sphere_area(d) - (d - 1) * np.log(r)
    return np.where(inside, log_q, -np.inf)


def gaussian_extremes(n_samples, n_features, *, n_ref, method="exact", random_state=None):
    """Latent points as extreme as the most extreme of ``n_ref`` standard-normal draws.

    Each point is ``z = R v`` with ``v`` uniform on the unit sphere and ``R``
    distributed as the largest norm among ``n_ref`` independent ``N(0, I_d)`` vectors,
    ``P(R <= r) = F_chi_d(r)^n_ref``:

    * ``method="exact"`` samples this law by inversion,
      ``R = F^{-1}(U^{1/n_ref})`` with ``U`` uniform, computed as
      ``chi.isf(-expm1(log(U) / n_ref))`` so that ``1 - U^{1/n_ref}`` keeps its
      precision for large ``n_ref``;
    * ``method="gumbel"`` uses the extreme-value limit ``R ~ b + a G`` with ``G`` a
      standard Gumbel variable and the von Mises constants of the chi law,
      ``b = F^{-1}(1 - 1/n_ref)`` and ``a = 1 / (n_ref f(b))`` (``f`` the chi density;
      Embrechts, Kluppelberg & Mikosch 1997, Sec. 3.3.3), clipped at 0. The limit is
      approached slowly (the error in the upper quantiles decays like ``1 / log n_ref``),
      so for the sizes of real data sets the exact law is preferable; the Gumbel form is
      offered for comparison with the extreme-value literature.

    Parameters
    ----------
    n_samples : int
        Number of points.
    n_features : int
        Dimension ``d``.
    n_ref : int
        Size of the reference sample whose maximum norm is imitated (typically the
        number of training points; larger values give more extreme points). ``>= 1``
        for ``"exact"``, ``>= 2`` for ``"gumbel"``.
    method : {"exact", "gumbel"}, default="exact"
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (an int gives the same output on every call; None uses numpy's
        global generator, as scikit-learn does).

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    ValueError
        For an unknown ``method`` or ``n_ref`` out of range.

    References
    ----------
    .. [1] P. Embrechts, C. Kluppelberg, T. Mikosch. Modelling Extremal Events.
       Springer 1997, Sec. 3.3 (maximum domain of attraction of the Gumbel law,
       normalising constants).
    .. [2] H. A. David, H. N. Nagaraja. Order Statistics, 3rd ed., Wiley 2003, Sec. 2.1
       (distribution of the sample maximum, ``F^n``).

    Examples
    --------
    >>> from skflows.sampling import gaussian_extremes
    >>> gaussian_extremes(4, 2, n_ref=1000, random_state=0).shape
    (4, 2)
    """
    n_samples = _positive_int(n_samples, "n_samples", 0)
    n_features = _positive_int(n_features, "n_features")
    if method not in ("exact", "gumbel"):
        raise ValueError(f"method must be 'exact' or 'gumbel', got {method!r}.")
    n_ref = _positive_int(n_ref, "n_ref", 1 if method == "exact" else 2)
    rng = check_random_state(random_state)
    directions = uniform_directions(n_samples, n_features, rng)
    u = rng.random_sample(n_samples)  # in [0, 1)
    if method == "exact":
        with np.errstate(divide="ignore"):
            tail = -np.expm1(np.log(u) / n_ref)  # 1 - U^(1/n_ref), in (0, 1]
        r = stats.chi.isf(tail, n_features)
    else:
        b = stats.chi.isf(1.0 / n_ref, n_features)
        a = 1.0 / (n_ref * stats.chi.pdf(b, n_features))
        u = np.clip(u, np.finfo(np.float64).tiny, None)
        r = np.maximum(b - a * np.log(-np.log(u)), 0.0)
    return directions * r[:, None]


def gaussian_extremes_log_prob(Z, *, n_ref):
    """Log-density, in nats, of the exact law of :func:`gaussian_extremes`.

    The radius has density ``n_ref F(r)^(n_ref - 1) f(r)`` (``F``, ``f`` the chi
    distribution function and density) and the direction is uniform, so the density at
    ``z`` is ``n_ref F(||z||)^(n_ref - 1) N(z; 0, I_d)``: the standard normal density
    reweighted towards large norms.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Points at which to evaluate the density.
    n_ref : int
        The reference sample size given to :func:`gaussian_extremes`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        Log-density in nats (the density of the exact law; the ``"gumbel"``
        approximation has none here).

    Raises
    ------
    ValueError
        If ``Z`` is not a numeric 2-D array or ``n_ref`` is not an int ``>= 1``.

    References
    ----------
    .. [1] H. A. David, H. N. Nagaraja. Order Statistics, 3rd ed., Wiley 2003, Sec. 2.1
       (the maximum of ``n`` draws has distribution function ``F^n`` and density
       ``n F^(n-1) f``).
    .. [2] K.-T. Fang, S. Kotz, K. W. Ng. Symmetric Multivariate and Related
       Distributions. Chapman & Hall, 1990, Ch. 2 (spherical laws: a uniform direction
       independent of the radius, and the density ``p_R(r) / (|S^{d-1}| r^(d-1))``
       they induce).
    """
    Z = _as_points(Z)
    n_ref = _positive_int(n_ref, "n_ref")
    r = np.linalg.norm(Z, axis=1)
    with np.errstate(divide="ignore"):
        log_cdf = stats.chi.logcdf(r, Z.shape[1])
    tail = (n_ref - 1) * log_cdf if n_ref > 1 else np.zeros_like(r)
    return np.log(n_ref) + tail + standard_normal_log_prob(Z)


def _log_gamma_variates(shape: np.ndarray, size, rng) -> np.ndarray:
    """``log`` of Gamma(shape, 1) draws, accurate for small shapes.

    For ``shape < 1`` a Gamma(shape) variate is ``Gamma(shape + 1) * U^(1/shape)``
    (Marsaglia & Tsang 2000, Sec. 6), so its logarithm never underflows.
    """
    small = shape < 1.0
    boosted = np.where(small, shape + 1.0, shape)
    log_g = np.log(rng.standard_gamma(np.broadcast_to(boosted, size)))
    u = rng.random_sample(size)
    with np.errstate(divide="ignore"):
        log_u = np.log(np.clip(u, np.finfo(np.float64).tiny, None))
    return log_g + np.where(small, log_u / shape, 0.0)


def dirichlet_mixtures(n_samples, vertices, concentration=1.0, *, expansion=0.0,
                       return_weights=False, random_state=None):
    """Random combinations ``x = a^T V`` of vertices with Dirichlet weights.

    The weights ``w ~ Dirichlet(alpha)`` lie in the simplex (non-negative, summing to 1).
    With ``expansion = e > 0`` they are pushed away from the simplex's barycentre,
    ``a = (1 + e) w - e / k``: still summing to 1 (an *affine* combination), but with
    negative entries near the faces, so the points ``a^T V`` leave the convex hull of
    the vertices (a vertex ``e_j`` becomes ``(1 + e) e_j - e / k``, the extrapolation
    used for archetype-based outliers). ``E[a] = (1 + e) alpha / sum(alpha) - e / k``.

    ``alpha < 1`` concentrates the weights near the vertices and edges (Keller et al.
    use 0.7 to generate extreme archetypal samples), ``alpha = 1`` is uniform on the
    simplex and ``alpha > 1`` favours its centre.

    Parameters
    ----------
    n_samples : int
        Number of points.
    vertices : array-like of shape (n_vertices, n_features)
        The vertices ``V`` (``k = n_vertices``); pass ``numpy.eye(k)`` to get the
        weights themselves.
    concentration : float or array-like of shape (n_vertices,), default=1.0
        Dirichlet parameter ``alpha`` (a scalar gives the symmetric law), ``> 0``.
    expansion : float, default=0.0
        Extrapolation ``e >= 0`` beyond the simplex.
    return_weights : bool, default=False
        Also return the (affine) weights ``a``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (an int gives the same output on every call; None uses numpy's
        global generator, as scikit-learn does).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    A : ndarray of shape (n_samples, n_vertices), float64
        Only if ``return_weights``: the rows sum to 1.

    Raises
    ------
    ValueError
        If ``vertices`` is not a finite 2-D array, ``concentration`` is not positive (or
        has the wrong length) or ``expansion`` is negative.

    References
    ----------
    .. [1] S. M. Keller, M. Samarin, F. Arend Torres, M. Wieser, V. Roth. Learning
       Extremal Representations with Deep Archetypal Analysis. IJCV 129, 2021
       (arXiv:1901.10799), Sec. 3 (Dirichlet sampling in the archetype simplex).
    .. [2] G. Marsaglia, W. W. Tsang. A Simple Method for Generating Gamma Variables.
       ACM TOMS 26(3), 2000 (Gamma draws; small-shape boost in Sec. 6).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.sampling import dirichlet_mixtures
    >>> X = dirichlet_mixtures(3, np.eye(3), 0.7, random_state=0)
    >>> bool(np.allclose(X.sum(axis=1), 1.0))
    True
    """
    n_samples = _positive_int(n_samples, "n_samples", 0)
    V = np.asarray(vertices, dtype=np.float64)
    if V.ndim != 2 or V.shape[0] < 1 or V.shape[1] < 1 or not np.all(np.isfinite(V)):
        raise ValueError("vertices must be a finite 2-D array of shape "
                         f"(n_vertices, n_features), got shape {V.shape}.")
    k = V.shape[0]
    alpha = np.asarray(concentration, dtype=np.float64)
    if alpha.ndim == 0:
        alpha = np.full(k, float(alpha))
    if alpha.shape != (k,) or not np.all(np.isfinite(alpha)) or not np.all(alpha > 0):
        raise ValueError(f"concentration must be a positive number or {k} positive "
                         f"numbers, got {concentration!r}.")
    if not np.isfinite(expansion) or expansion < 0:
        raise ValueError(f"expansion must be a finite number >= 0, got {expansion!r}.")
    rng = check_random_state(random_state)
    log_g = _log_gamma_variates(alpha, (n_samples, k), rng)
    log_g -= log_g.max(axis=1, keepdims=True) if n_samples else 0.0
    w = np.exp(log_g)
    w /= w.sum(axis=1, keepdims=True)
    A = (1.0 + expansion) * w - expansion / k
    X = A @ V
    return (X, A) if return_weights else X

