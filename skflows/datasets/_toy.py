"""Two-dimensional toy densities for normalizing-flow experiments.

Each toy has a sampler ``make_<name>(n_samples=1000, *, random_state=None,
**shape_params)`` returning an ``(n_samples, 2)`` float64 array and, where the
density is known exactly, a matching ``<name>_log_prob(X, **shape_params)``
returning the log-density in nats. The registry :data:`TOY_DENSITIES` maps
each name to ``(sampler, log_prob or None)``; :func:`make_toy`,
:func:`toy_log_prob` and :func:`toy_entropy` dispatch on the name.

Everything is NumPy only and vectorised over samples. Randomness goes through
:func:`sklearn.utils.check_random_state` (a :class:`numpy.random.Generator`
is also accepted), so an int seed gives the same output on every call and
never touches NumPy's global generator.

Conventions shared by all samplers: mixture components are drawn i.i.d. per
sample (not in fixed equal blocks as in some reference scripts), so the
samples are i.i.d. draws from the density that ``<name>_log_prob`` evaluates.

References
----------
.. [FFJORD] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever and
   D. Duvenaud (2019). FFJORD: Free-form continuous dynamics for scalable
   reversible generative models. ICLR 2019 (2-D toy data: 8 gaussians,
   checkerboard, pinwheel, two moons, circles).
.. [CIF] R. Cornish, A. Caterini, G. Deligiannidis and A. Doucet (2020).
   Relaxing bijectivity constraints with continuously indexed normalising
   flows. ICML 2020, appendix on the 2-D experiments (2uniforms, annulus,
   split-gaussian).
.. [SVAE] M. J. Johnson, D. Duvenaud, A. B. Wiltschko, S. R. Datta and
   R. P. Adams (2016). Composing graphical models with neural networks for
   structured representations and fast inference. NeurIPS 2016 (pinwheel).
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "TOY_DENSITIES",
    "make_toy",
    "toy_log_prob",
    "toy_entropy",
    "make_two_moons",
    "make_eight_gaussians",
    "eight_gaussians_log_prob",
    "make_checkerboard",
    "checkerboard_log_prob",
    "make_pinwheel",
    "pinwheel_log_prob",
    "make_two_circles",
    "two_circles_log_prob",
    "make_gaussian_ring",
    "gaussian_ring_log_prob",
    "make_two_uniforms",
    "two_uniforms_log_prob",
    "make_annulus",
    "annulus_log_prob",
    "make_split_gaussian",
    "split_gaussian_log_prob",
]

_TWO_PI = 2.0 * math.pi
_LOG_2PI = math.log(_TWO_PI)


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _check_rng(random_state):
    """``check_random_state`` that also passes a ``numpy.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


def _check_n_samples(n_samples):
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(
        n_samples, numbers.Integral
    ):
        raise ValueError(f"n_samples must be a non-negative int, got {n_samples!r}.")
    if n_samples < 0:
        raise ValueError(f"n_samples must be a non-negative int, got {n_samples!r}.")
    return int(n_samples)


def _check_real(value, name, *, low=None, low_strict=False, high=None):
    """Return ``value`` as a finite float, checking ``low (<)<= value <= high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if low is not None:
        if (low_strict and value <= low) or (not low_strict and value < low):
            op = ">" if low_strict else ">="
            raise ValueError(f"{name} must be {op} {low}, got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}.")
    return value


def _check_int(value, name, *, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}.")
    return int(value)


def _check_points(X):
    """Return ``X`` as a float64 array of shape (n, 2)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, 2), got shape {X.shape}."
        )
    return X


def _randint(rng, high, size):
    """Uniform integers in ``{0, ..., high - 1}`` from ``rng.uniform``.

    Works the same for ``RandomState`` and ``Generator``.
    """
    idx = (rng.uniform(0.0, 1.0, size=size) * high).astype(np.intp)
    return np.minimum(idx, high - 1)


def _logsumexp(a, axis):
    """Numerically stable ``log(sum(exp(a), axis))`` (all ``-inf`` -> ``-inf``)."""
    a_max = np.max(a, axis=axis, keepdims=True)
    a_max = np.where(np.isfinite(a_max), a_max, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - a_max), axis=axis, keepdims=True)) + a_max
    return np.squeeze(out, axis=axis)


def _log_std_normal_cdf_nonneg(a):
    """``log Phi(a)`` for ``a >= 0`` (standard normal CDF; no cancellation)."""
    return math.log(0.5 * math.erfc(-a / math.sqrt(2.0)))


# ---------------------------------------------------------------------------
# two moons (no exact density)
# ---------------------------------------------------------------------------


def make_two_moons(n_samples=1000, *, random_state=None, noise=0.1):
    """Sample the "two moons" toy: two interleaved noisy half circles.

    Each sample picks one of two unit half circles with probability 1/2, an
    angle ``t ~ U[0, pi]`` and adds isotropic Gaussian noise, in the
    coordinates of :func:`sklearn.datasets.make_moons`: the upper moon is
    ``(cos t, sin t)``, the lower ``(1 - cos t, 1/2 - sin t)``. The result is
    then mapped by ``x -> 2 x + (-1, -0.2)``, the centring used for this toy
    in FFJORD [1]_, so the data lie roughly in ``[-3, 3] x [-2, 2]``.

    There is no ``two_moons_log_prob``: the density is the Gaussian blur of
    the uniform measure on two arcs,
    ``p(x) = 1/2 sum_j (1/pi) int_0^pi N(x; m_j(t), (2 noise)^2 I) dt``, a
    one-dimensional integral with no closed form (it involves the Bessel-type
    integral of ``exp(k cos t)`` over a half period). ``toy_log_prob``
    therefore raises ``NotImplementedError`` for this toy.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise, in the unit-moon
        coordinates (before the factor 2); must be >= 0.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If ``n_samples`` or ``noise`` is invalid.

    References
    ----------
    .. [1] Grathwohl et al. (2019). FFJORD: Free-form continuous dynamics for
       scalable reversible generative models. ICLR 2019.
    """
    n = _check_n_samples(n_samples)
    noise = _check_real(noise, "noise", low=0.0)
    rng = _check_rng(random_state)
    t = rng.uniform(0.0, math.pi, size=n)
    lower = _randint(rng, 2, n).astype(bool)
    base = np.empty((n, 2))
    base[:, 0] = np.where(lower, 1.0 - np.cos(t), np.cos(t))
    base[:, 1] = np.where(lower, 0.5 - np.sin(t), np.sin(t))
    base += noise * rng.standard_normal(size=(n, 2))
    return 2.0 * base + np.array([-1.0, -0.2])


# ---------------------------------------------------------------------------
# 8 gaussians
# ---------------------------------------------------------------------------


def _eight_gaussians_params(radius, std):
    radius = _check_real(radius, "radius", low=0.0)
    std = _check_real(std, "std", low=0.0, low_strict=True)
    angles = np.arange(8) * (math.pi / 4.0)
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres, std


def make_eight_gaussians(
    n_samples=1000, *, random_state=None, radius=2.0 * math.sqrt(2.0),
    std=math.sqrt(2.0) / 4.0,
):
    """Sample the "8 gaussians" toy: an equal mixture of 8 isotropic Gaussians.

    The component means are ``radius * (cos(k pi/4), sin(k pi/4))`` for
    ``k = 0, ..., 7`` and every component has covariance ``std**2 * I``. The
    defaults (radius ``4 / sqrt 2``, std ``0.5 / sqrt 2``) reproduce the FFJORD
    toy [1]_, which builds it at radius 4 with std 0.5 and divides by 1.414.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    radius : float, default=2*sqrt(2)
        Distance of the component means from the origin; >= 0.
    std : float, default=sqrt(2)/4
        Standard deviation of each coordinate within a component; > 0.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    eight_gaussians_log_prob : the exact log-density.

    References
    ----------
    .. [1] Grathwohl et al. (2019). FFJORD: Free-form continuous dynamics for
       scalable reversible generative models. ICLR 2019.
    """
    n = _check_n_samples(n_samples)
    centres, std = _eight_gaussians_params(radius, std)
    rng = _check_rng(random_state)
    comp = _randint(rng, 8, n)
    return centres[comp] + std * rng.standard_normal(size=(n, 2))


def eight_gaussians_log_prob(X, *, radius=2.0 * math.sqrt(2.0), std=math.sqrt(2.0) / 4.0):
    """Exact log-density of :func:`make_eight_gaussians`.

    ``log p(x) = log (1/8) sum_k N(x; mu_k, std^2 I)``, evaluated with a
    log-sum-exp, so it stays finite far from the means.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    radius : float, default=2*sqrt(2)
        As in :func:`make_eight_gaussians`.
    std : float, default=sqrt(2)/4
        As in :func:`make_eight_gaussians`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats (with respect to Lebesgue measure on R^2).

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    Grathwohl et al. (2019). FFJORD. ICLR 2019.
    """
    X = _check_points(X)
    centres, std = _eight_gaussians_params(radius, std)
    sq = np.sum((X[:, None, :] - centres[None, :, :]) ** 2, axis=2)
    log_comp = -0.5 * sq / std**2 - _LOG_2PI - 2.0 * math.log(std)
    return _logsumexp(log_comp, axis=1) - math.log(8.0)


# ---------------------------------------------------------------------------
# checkerboard
# ---------------------------------------------------------------------------


def _checkerboard_params(n_cells, cell_size):
    n_cells = _check_int(n_cells, "n_cells", low=1)
    cell_size = _check_real(cell_size, "cell_size", low=0.0, low_strict=True)
    ii, jj = np.meshgrid(np.arange(n_cells), np.arange(n_cells), indexing="ij")
    filled = (ii + jj) % 2 == 0
    return n_cells, cell_size, ii[filled], jj[filled]


def make_checkerboard(n_samples=1000, *, random_state=None, n_cells=4, cell_size=2.0):
    """Sample the checkerboard toy: uniform on alternating squares.

    The board is the square ``[-h, h)^2`` with ``h = n_cells * cell_size / 2``
    cut into ``n_cells x n_cells`` squares of side ``cell_size``; with cells
    indexed ``(i, j)`` from the lower-left corner, the squares with ``i + j``
    even are filled and the density is uniform on their union. The defaults
    (4 x 4 cells of side 2 on ``[-4, 4)^2``, 8 filled) reproduce the FFJORD
    toy [1]_; the density there is ``1/32``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    n_cells : int, default=4
        Number of squares along each side; >= 1.
    cell_size : float, default=2.0
        Side length of a square; > 0.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    checkerboard_log_prob : the exact log-density.

    References
    ----------
    .. [1] Grathwohl et al. (2019). FFJORD: Free-form continuous dynamics for
       scalable reversible generative models. ICLR 2019.
    """
    n = _check_n_samples(n_samples)
    n_cells, cell_size, ci, cj = _checkerboard_params(n_cells, cell_size)
    rng = _check_rng(random_state)
    cell = _randint(rng, ci.size, n)
    u = rng.uniform(0.0, 1.0, size=(n, 2))
    corner = np.stack([ci[cell], cj[cell]], axis=1).astype(np.float64)
    return (corner + u) * cell_size - 0.5 * n_cells * cell_size


def checkerboard_log_prob(X, *, n_cells=4, cell_size=2.0):
    """Exact log-density of :func:`make_checkerboard`.

    Equal to ``-log(n_filled * cell_size**2)`` on the filled squares (half-open,
    ``[a, a + cell_size)`` in each coordinate) and ``-inf`` elsewhere, where
    ``n_filled = ceil(n_cells**2 / 2)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    n_cells : int, default=4
        As in :func:`make_checkerboard`.
    cell_size : float, default=2.0
        As in :func:`make_checkerboard`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats; ``-inf`` outside the support (NaN stays NaN).

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    Grathwohl et al. (2019). FFJORD. ICLR 2019.
    """
    X = _check_points(X)
    n_cells, cell_size, ci, _ = _checkerboard_params(n_cells, cell_size)
    half = 0.5 * n_cells * cell_size
    inside = np.all((X >= -half) & (X < half), axis=1)
    with np.errstate(invalid="ignore"):
        idx = np.floor((np.where(np.isfinite(X), X, 0.0) + half) / cell_size)
    idx = np.clip(idx, 0, n_cells - 1).astype(np.int64)
    filled = inside & ((idx[:, 0] + idx[:, 1]) % 2 == 0)
    out = np.where(filled, -math.log(ci.size * cell_size**2), -np.inf)
    out[np.isnan(X).any(axis=1)] = np.nan
    return out


def _checkerboard_entropy(*, n_cells=4, cell_size=2.0):
    n_cells, cell_size, ci, _ = _checkerboard_params(n_cells, cell_size)
    return math.log(ci.size * cell_size**2)


# ---------------------------------------------------------------------------
# pinwheel
# ---------------------------------------------------------------------------

# A point of the pinwheel has finitely many preimages, but their number grows
# like rate * exp(|x| / scale); past this many per point we refuse (the
# density there is astronomically small, yet unbounded near fold curves, so no
# cheap exact answer exists).
_PINWHEEL_MAX_PREIMAGES = 2**20
_PINWHEEL_CHUNK = 2**21


def _pinwheel_params(n_arms, radial_std, tangential_std, rate, scale):
    n_arms = _check_int(n_arms, "n_arms", low=1)
    radial_std = _check_real(radial_std, "radial_std", low=0.0, low_strict=True)
    tangential_std = _check_real(
        tangential_std, "tangential_std", low=0.0, low_strict=True
    )
    rate = _check_real(rate, "rate", low=0.0)
    scale = _check_real(scale, "scale", low=0.0, low_strict=True)
    return n_arms, radial_std, tangential_std, rate, scale


def make_pinwheel(
    n_samples=1000, *, random_state=None, n_arms=5, radial_std=0.3,
    tangential_std=0.1, rate=0.25, scale=2.0, return_labels=False,
):
    """Sample the pinwheel toy: Gaussian blobs swirled into curved arms.

    Generative process (Johnson et al. 2016 [1]_, FFJORD defaults [2]_): draw
    an arm ``k`` uniformly from ``{0, ..., n_arms - 1}`` and
    ``z = (a, b)`` with ``a ~ N(1, radial_std^2)``, ``b ~ N(0,
    tangential_std^2)``; rotate ``z`` counter-clockwise by
    ``theta = 2 pi k / n_arms + rate * exp(a)`` and multiply by ``scale``::

        x = scale * R(theta) z.

    (The reference scripts apply the transposed rotation, which gives the
    mirror image; the two are equivalent as benchmarks.)

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    n_arms : int, default=5
        Number of arms; >= 1.
    radial_std : float, default=0.3
        Standard deviation of ``a`` (along the arm); > 0.
    tangential_std : float, default=0.1
        Standard deviation of ``b`` (across the arm); > 0.
    rate : float, default=0.25
        Swirl strength; >= 0 (0 gives straight arms).
    scale : float, default=2.0
        Overall scale factor; > 0.
    return_labels : bool, default=False
        Also return the arm of each sample (the clustering ground truth of the
        variational mixture of flows experiments, Pires & Figueiredo 2020, which
        use ``n_arms=5, radial_std=0.3, tangential_std=0.05, rate=0.4``).

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.
    labels : ndarray of shape (n_samples,), dtype int64
        Arm index in ``0..n_arms-1`` (only if ``return_labels`` is True).

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    pinwheel_log_prob : the exact log-density (by enumerating preimages).

    References
    ----------
    .. [1] Johnson et al. (2016). Composing graphical models with neural
       networks for structured representations and fast inference.
       NeurIPS 2016.
    .. [2] Grathwohl et al. (2019). FFJORD: Free-form continuous dynamics for
       scalable reversible generative models. ICLR 2019.
    """
    n = _check_n_samples(n_samples)
    n_arms, radial_std, tangential_std, rate, scale = _pinwheel_params(
        n_arms, radial_std, tangential_std, rate, scale
    )
    rng = _check_rng(random_state)
    arm = _randint(rng, n_arms, n)
    eps = rng.standard_normal(size=(n, 2))
    a = 1.0 + radial_std * eps[:, 0]
    b = tangential_std * eps[:, 1]
    theta = _TWO_PI * arm / n_arms + rate * np.exp(a)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    X = scale * np.stack([a * cos_t - b * sin_t, a * sin_t + b * cos_t], axis=1)
    if return_labels:
        return X, np.asarray(arm, dtype=np.int64)
    return X


def _monotone_root(func, lo, hi, *, xtol=1e-13, max_iter=200):
    """Vectorised safeguarded Newton for increasing ``f`` on ``[lo, hi]``.

    ``func(x, idx)`` returns ``(f, df)`` at ``x`` for the problems ``idx``;
    each ``f`` is increasing on its bracket with ``f(lo) <= 0 <= f(hi)``.
    Newton steps that leave the current bracket are replaced by bisection,
    so every problem converges; iterations loop over steps, not problems.
    """
    lo = np.array(lo, dtype=np.float64)
    hi = np.array(hi, dtype=np.float64)
    x = 0.5 * (lo + hi)
    active = np.arange(x.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa, la, ha = x[active], lo[active], hi[active]
        f, df = func(xa, active)
        neg = f < 0
        la = np.where(neg, xa, la)
        ha = np.where(neg, ha, xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = xa - f / df
        use_newton = np.isfinite(newton) & (newton > la) & (newton < ha)
        x_new = np.where(use_newton, newton, 0.5 * (la + ha))
        done = (f == 0) | (np.abs(x_new - xa) <= xtol) | (ha - la <= xtol)
        x[active] = np.where(f == 0, xa, x_new)
        lo[active], hi[active] = la, ha
        active = active[~done]
    return x


def _grouped_logsumexp(group, values, n_groups):
    """``out[g] = log sum_{i: group[i] == g} exp(values[i])``."""
    peak = np.full(n_groups, -np.inf)
    np.maximum.at(peak, group, values)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.zeros(n_groups)
    with np.errstate(invalid="ignore"):
        np.add.at(total, group, np.exp(values - safe_peak[group]))
    with np.errstate(divide="ignore"):
        return np.log(total) + safe_peak


def pinwheel_log_prob(
    X, *, n_arms=5, radial_std=0.3, tangential_std=0.1, rate=0.25, scale=2.0
):
    """Exact log-density of :func:`make_pinwheel`, by enumerating preimages.

    Write ``z = rho (cos alpha, sin alpha)`` in polar coordinates. For arm
    ``k`` the map ``z -> x / scale`` keeps the radius ``rho`` and sends the
    angle ``alpha`` to ``2 pi k / n_arms + g(alpha)`` with ``g(alpha) = alpha
    + rate exp(rho cos alpha)``; in the area element ``rho d rho d alpha``
    its Jacobian determinant is therefore
    ``g'(alpha) = 1 - rate rho sin(alpha) exp(rho cos alpha)``. The map is
    *not* injective: for ``rate rho max_alpha sin(alpha) exp(rho cos alpha)
    > 1`` the angle folds back, and a point can have several preimages. Hence
    (change of variables summed over preimages, arms folded in)::

        p(x) = 1 / (n_arms scale^2) * sum_{alpha : g(alpha) in psi + (2 pi / n_arms) Z}
               N2(rho cos alpha, rho sin alpha) / |g'(alpha)|,

    with ``rho = |x| / scale``, ``psi`` the polar angle of ``x`` and ``N2``
    the density of ``z``. The preimages are found exactly: ``g`` has at most
    two critical points on ``(0, pi)`` (where ``sin(alpha) exp(rho cos
    alpha)`` crosses ``1 / (rate rho)``), which split the circle into
    monotone pieces; every target value in each piece is solved by a
    bracketed Newton/bisection iteration to about ``1e-13`` rad. The result is
    exact up to floating-point rounding. Along the fold curves
    (``g'(alpha) = 0``) the density is infinite but integrable (caustics);
    with the default parameters the Gaussian density of ``z`` is below
    ``2e-7`` at every fold point, so the caustics carry negligible mass.

    The number of preimages grows like ``rate exp(rho) n_arms / pi``, so the
    cost grows with ``|x| / scale``; points needing more than 2**20 preimages
    (``|x| / scale`` above about 15 for the default parameters, where the
    Gaussian density of every preimage is below ``exp(-1000)``) raise
    ``ValueError`` rather than return an inexact value.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    n_arms : int, default=5
        As in :func:`make_pinwheel`.
    radial_std : float, default=0.3
        As in :func:`make_pinwheel`.
    tangential_std : float, default=0.1
        As in :func:`make_pinwheel`.
    rate : float, default=0.25
        As in :func:`make_pinwheel`.
    scale : float, default=2.0
        As in :func:`make_pinwheel`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats; ``-inf`` at infinite points, NaN at NaN points,
        ``+inf`` exactly on a fold curve.

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2), a parameter is invalid, or a point
        lies so far out that it has more than 2**20 preimages.

    References
    ----------
    Johnson et al. (2016). NeurIPS 2016. Grathwohl et al. (2019). FFJORD.
    ICLR 2019.
    """
    X = _check_points(X)
    n_arms, radial_std, tangential_std, rate, scale = _pinwheel_params(
        n_arms, radial_std, tangential_std, rate, scale
    )
    n = X.shape[0]
    out = np.empty(n)
    is_nan = np.isnan(X).any(axis=1)
    finite = np.isfinite(X).all(axis=1)
    out[~finite] = -np.inf
    out[is_nan] = np.nan
    pts = np.flatnonzero(finite)
    if pts.size == 0:
        return out
    Xf = X[pts] / scale
    rho = np.hypot(Xf[:, 0], Xf[:, 1])
    psi = np.arctan2(Xf[:, 1], Xf[:, 0])
    m = pts.size
    delta = _TWO_PI / n_arms
    c = rate

    def g(alpha, r):
        with np.errstate(over="ignore"):
            return alpha + c * np.exp(r * np.cos(alpha))

    # Critical points of g on (0, pi): h(alpha) = log(c rho sin a) + rho cos a
    # is increasing then decreasing with its maximum at alpha_star.
    cos_star = 2.0 * rho / (1.0 + np.sqrt(1.0 + 4.0 * rho**2))
    alpha_star = np.arccos(cos_star)
    with np.errstate(divide="ignore"):
        h_star = np.log(c * rho * np.sin(alpha_star)) + rho * cos_star
    fold = h_star > 0
    alpha1 = alpha_star.copy()
    alpha2 = alpha_star.copy()
    if np.any(fold):
        fi = np.flatnonzero(fold)
        rf = rho[fi]

        def h_rising(a, idx):
            r = rf[idx]
            return (np.log(c * r * np.sin(a)) + r * np.cos(a),
                    1.0 / np.tan(a) - r * np.sin(a))

        def h_falling(a, idx):
            f, df = h_rising(a, idx)
            return -f, -df

        alpha1[fi] = _monotone_root(h_rising, np.zeros(fi.size), alpha_star[fi])
        alpha2[fi] = _monotone_root(h_falling, alpha_star[fi], np.full(fi.size, math.pi))

    # Monotone pieces partitioning [-pi, pi): (start, end, increasing).
    pieces = [
        (np.full(m, -math.pi), alpha1, True),
        (alpha1, alpha2, False),
        (alpha2, np.full(m, math.pi), True),
    ]
    plans = []
    total = np.zeros(m)
    for start, end, increasing in pieces:
        g_start, g_end = g(start, rho), g(end, rho)
        with np.errstate(invalid="ignore", over="ignore"):
            if increasing:  # targets in [g_start, g_end)
                first = np.ceil((g_start - psi) / delta)
                count = np.ceil((g_end - psi) / delta) - first
            else:  # targets in (g_end, g_start]
                first = np.floor((g_end - psi) / delta) + 1.0
                count = np.floor((g_start - psi) / delta) - first + 1.0
        count = np.where(np.isnan(count), np.inf, np.maximum(count, 0.0))
        total += count
        plans.append((start, end, increasing, first, count))

    too_far = ~(total <= _PINWHEEL_MAX_PREIMAGES)
    if np.any(too_far):
        worst = float(np.max(rho[too_far]) * scale)
        raise ValueError(
            "pinwheel_log_prob: some points lie too far out (|x| up to "
            f"{worst:.4g}) and would need more than {_PINWHEEL_MAX_PREIMAGES} "
            "preimages each to evaluate the density exactly; the density "
            "there is negligibly small (every preimage has Gaussian density "
            "below exp(-1000) for the default parameters). Evaluate only "
            "points closer to the origin."
        )

    log_norm = (
        -_LOG_2PI - math.log(radial_std) - math.log(tangential_std)
        - math.log(n_arms) - 2.0 * math.log(scale)
    )
    plans = [
        (start, end, inc, first, count.astype(np.int64))
        for start, end, inc, first, count in plans
    ]
    cum_total = np.cumsum(total.astype(np.int64))
    logp = np.empty(m)
    begin = 0
    while begin < m:
        base = cum_total[begin - 1] if begin > 0 else 0
        stop = int(np.searchsorted(cum_total, base + _PINWHEEL_CHUNK, side="right"))
        stop = max(stop, begin + 1)
        groups, terms = [], []
        for start, end, increasing, first, count in plans:
            cnt = count[begin:stop]
            n_roots = int(cnt.sum())
            if n_roots == 0:
                continue
            owner = np.repeat(np.arange(begin, stop), cnt)
            offsets = np.cumsum(cnt) - cnt
            j = np.arange(n_roots) - np.repeat(offsets, cnt)
            target = psi[owner] + delta * (first[owner] + j)
            r = rho[owner]
            sign = 1.0 if increasing else -1.0

            def fun(a, idx, r=r, target=target, sign=sign):
                with np.errstate(over="ignore", invalid="ignore"):
                    e = np.exp(r[idx] * np.cos(a))
                    return (sign * (a + c * e - target[idx]),
                            sign * (1.0 - c * r[idx] * np.sin(a) * e))

            alpha = _monotone_root(fun, start[owner], end[owner])
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                e = np.exp(r * np.cos(alpha))
                jac = np.abs(1.0 - c * r * np.sin(alpha) * e)
                za = r * np.cos(alpha)
                zb = r * np.sin(alpha)
                term = (
                    -0.5 * ((za - 1.0) / radial_std) ** 2
                    - 0.5 * (zb / tangential_std) ** 2
                    - np.log(jac)
                )
            groups.append(owner - begin)
            terms.append(term)
        logp[begin:stop] = _grouped_logsumexp(
            np.concatenate(groups), np.concatenate(terms), stop - begin
        )
        begin = stop
    out[pts] = logp + log_norm
    return out


# ---------------------------------------------------------------------------
# radial mixtures: two circles and the gaussian ring
# ---------------------------------------------------------------------------


def _radial_params(radii, std):
    radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    if radii.ndim != 1 or radii.size == 0:
        raise ValueError("radii must be a non-empty 1-D sequence of floats.")
    if not np.all(np.isfinite(radii)) or np.any(radii < 0):
        raise ValueError(f"radii must be finite and >= 0, got {radii!r}.")
    std = _check_real(std, "std", low=0.0, low_strict=True)
    return radii, std


def _sample_radial(rng, n, radii, std, return_component=False):
    """Angle uniform; radius from an equal mixture of N(R_k, std^2) cut at r > 0."""
    comp = _randint(rng, radii.size, n)
    r = radii[comp] + std * rng.standard_normal(size=n)
    # Rejection for the truncation at r > 0: loops over rounds, not samples;
    # each round keeps a draw with probability Phi(R_k / std) >= 1/2.
    redo = np.flatnonzero(r <= 0)
    while redo.size:
        r[redo] = radii[comp[redo]] + std * rng.standard_normal(size=redo.size)
        redo = redo[r[redo] <= 0]
    theta = rng.uniform(0.0, _TWO_PI, size=n)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    if return_component:
        return X, np.asarray(comp, dtype=np.int64)
    return X


def _radial_log_prob(X, radii, std):
    """``log p_r(r) - log(2 pi r)`` for the radial mixture of ``_sample_radial``."""
    r = np.hypot(X[:, 0], X[:, 1])
    log_trunc = np.array([_log_std_normal_cdf_nonneg(R / std) for R in radii])
    log_comp = (
        -0.5 * ((r[:, None] - radii[None, :]) / std) ** 2
        - 0.5 * _LOG_2PI - math.log(std) - log_trunc[None, :]
    )
    log_pr = _logsumexp(log_comp, axis=1) - math.log(radii.size)
    with np.errstate(divide="ignore"):
        return log_pr - _LOG_2PI - np.log(r)


def make_two_circles(n_samples=1000, *, random_state=None, radii=(1.5, 3.0), std=0.2,
                     return_labels=False):
    """Sample the "two circles" toy: two concentric noisy rings.

    Each sample picks a ring ``k`` with probability ``1/len(radii)``, an angle
    uniform on ``[0, 2 pi)`` and a radius ``r ~ N(radii[k], std^2)``
    truncated to ``r > 0`` (drawn exactly, by rejection), and returns
    ``r (cos angle, sin angle)``. The noise is radial, unlike
    :func:`sklearn.datasets.make_circles` (which adds Cartesian noise and has
    no closed-form density); the defaults mimic the scaled ``make_circles``
    toy of FFJORD [1]_ (radii 1.5 and 3).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    radii : sequence of float, default=(1.5, 3.0)
        Ring radii (any number of rings, equal weights); each >= 0.
    std : float, default=0.2
        Standard deviation of the radius before truncation; > 0.
    return_labels : bool, default=False
        Also return the ring of each sample (the clustering ground truth).

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.
    labels : ndarray of shape (n_samples,), dtype int64
        Index into ``radii`` of each sample's ring (only if ``return_labels`` is
        True).

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    two_circles_log_prob : the exact log-density.

    References
    ----------
    .. [1] Grathwohl et al. (2019). FFJORD: Free-form continuous dynamics for
       scalable reversible generative models. ICLR 2019.
    """
    n = _check_n_samples(n_samples)
    radii, std = _radial_params(radii, std)
    rng = _check_rng(random_state)
    return _sample_radial(rng, n, radii, std, return_component=bool(return_labels))


def two_circles_log_prob(X, *, radii=(1.5, 3.0), std=0.2):
    """Exact log-density of :func:`make_two_circles`.

    In polar coordinates the angle is uniform and independent of the radius,
    so the Cartesian density is ``p(x) = p_r(|x|) / (2 pi |x|)`` with
    ``p_r(r) = (1/K) sum_k phi((r - R_k)/std) / (std Phi(R_k/std))`` for
    ``r > 0`` (each radial normal truncated exactly at ``r > 0``; ``phi``,
    ``Phi`` are the standard normal pdf and cdf). At the origin the density
    is ``+inf`` (an integrable ``1/r`` singularity whose mass is negligible
    unless a radius is close to 0).

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    radii : sequence of float, default=(1.5, 3.0)
        As in :func:`make_two_circles`.
    std : float, default=0.2
        As in :func:`make_two_circles`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats.

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    Grathwohl et al. (2019). FFJORD. ICLR 2019.
    """
    X = _check_points(X)
    radii, std = _radial_params(radii, std)
    return _radial_log_prob(X, radii, std)


def make_gaussian_ring(n_samples=1000, *, random_state=None, radius=2.0, std=0.2):
    """Sample a Gaussian ring: a Gaussian profile across a circle.

    Of the two usual readings of "a Gaussian on a circle" this is the ring
    (the other, a mixture of Gaussians placed on a circle, is
    :func:`make_eight_gaussians`): the angle is uniform on ``[0, 2 pi)`` and
    the radius is ``N(radius, std^2)`` truncated exactly to ``r > 0``. It is
    :func:`make_two_circles` with a single radius.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    radius : float, default=2.0
        Radius of the ring; >= 0.
    std : float, default=0.2
        Standard deviation of the radius before truncation; > 0.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    gaussian_ring_log_prob : the exact log-density.

    References
    ----------
    .. [1] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud.
       FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative
       Models. ICLR 2019 (2-D toy densities; their "circles" toy has two rings, this
       is the one-ring case of :func:`make_two_circles`, with a radial noise model of
       this project's own).
    """
    n = _check_n_samples(n_samples)
    radii, std = _radial_params(_check_real(radius, "radius", low=0.0), std)
    rng = _check_rng(random_state)
    return _sample_radial(rng, n, radii, std)


def gaussian_ring_log_prob(X, *, radius=2.0, std=0.2):
    """Exact log-density of :func:`make_gaussian_ring`.

    ``p(x) = phi((r - radius)/std) / (std Phi(radius/std) 2 pi r)`` with
    ``r = |x| > 0`` (truncated radial normal over the circumference
    ``2 pi r``); ``+inf`` at the origin (integrable ``1/r`` singularity).

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    radius : float, default=2.0
        As in :func:`make_gaussian_ring`.
    std : float, default=0.2
        As in :func:`make_gaussian_ring`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats.

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    .. [1] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud.
       FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative
       Models. ICLR 2019 (the ring toys).
    .. [2] N. L. Johnson, S. Kotz, N. Balakrishnan. Continuous Univariate
       Distributions, Vol. 1, 2nd ed. Wiley 1994, Ch. 13 (normal distributions; the
       truncated normal density ``phi((r - mu)/s) / (s Phi(mu/s))`` on ``r > 0``).
    """
    X = _check_points(X)
    radii, std = _radial_params(_check_real(radius, "radius", low=0.0), std)
    return _radial_log_prob(X, radii, std)


# ---------------------------------------------------------------------------
# CIF toys: 2uniforms, annulus, split-gaussian
# ---------------------------------------------------------------------------


def make_two_uniforms(n_samples=1000, *, random_state=None):
    """Sample "2uniforms": two disjoint uniform rectangles.

    ``x1`` is uniform on ``[-2, -1]`` or on ``[1, 2]`` with probability 1/2
    each and ``x2`` is independently uniform on ``[-1, 1]``; the density is
    ``1/4`` on the support (area 4), the entropy ``log 4`` nats, which is the
    optimal expected negative log-likelihood. A flow (a homeomorphism of
    ``R^2``) cannot map a Gaussian onto the two disconnected pieces exactly,
    which is why CIF [1]_ uses this toy.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If ``n_samples`` is invalid.

    See Also
    --------
    two_uniforms_log_prob : the exact log-density.

    References
    ----------
    .. [1] Cornish, Caterini, Deligiannidis and Doucet (2020). Relaxing
       bijectivity constraints with continuously indexed normalising flows.
       ICML 2020, appendix (2-D experiments).
    """
    n = _check_n_samples(n_samples)
    rng = _check_rng(random_state)
    side = np.where(_randint(rng, 2, n) == 1, 1.0, -1.0)
    u = rng.uniform(0.0, 1.0, size=(n, 2))
    return np.stack([side * (1.0 + u[:, 0]), 2.0 * u[:, 1] - 1.0], axis=1)


def two_uniforms_log_prob(X):
    """Exact log-density of :func:`make_two_uniforms`.

    ``log(1/4)`` on ``{1 <= |x1| <= 2, |x2| <= 1}`` and ``-inf`` elsewhere.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats; ``-inf`` outside the support (NaN stays NaN).

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2).

    References
    ----------
    Cornish et al. (2020). CIF. ICML 2020, appendix.
    """
    X = _check_points(X)
    a1, a2 = np.abs(X[:, 0]), np.abs(X[:, 1])
    inside = (a1 >= 1.0) & (a1 <= 2.0) & (a2 <= 1.0)
    out = np.where(inside, -math.log(4.0), -np.inf)
    out[np.isnan(X).any(axis=1)] = np.nan
    return out


def _two_uniforms_entropy():
    return math.log(4.0)


def _annulus_params(inner_radius, outer_radius):
    inner = _check_real(inner_radius, "inner_radius", low=0.0)
    outer = _check_real(outer_radius, "outer_radius", low=0.0, low_strict=True)
    if not inner < outer:
        raise ValueError(
            f"inner_radius must be < outer_radius, got {inner!r} >= {outer!r}."
        )
    return inner, outer


def make_annulus(n_samples=1000, *, random_state=None, inner_radius=1.0, outer_radius=2.0):
    """Sample the annulus toy: uniform on ``inner_radius <= |x| <= outer_radius``.

    The angle is uniform and the squared radius uniform on
    ``[inner_radius^2, outer_radius^2]``. With the CIF defaults [1]_ (radii 1
    and 2) the density is ``1 / (3 pi)`` and the entropy, the optimal
    expected negative log-likelihood, is ``log(3 pi)`` nats; the hole is a
    topological obstacle for a single flow.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    inner_radius : float, default=1.0
        Inner radius; >= 0.
    outer_radius : float, default=2.0
        Outer radius; > inner_radius.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    annulus_log_prob : the exact log-density.

    References
    ----------
    .. [1] Cornish, Caterini, Deligiannidis and Doucet (2020). Relaxing
       bijectivity constraints with continuously indexed normalising flows.
       ICML 2020, appendix (2-D experiments).
    """
    n = _check_n_samples(n_samples)
    inner, outer = _annulus_params(inner_radius, outer_radius)
    rng = _check_rng(random_state)
    u = rng.uniform(0.0, 1.0, size=(n, 2))
    r = np.sqrt(inner**2 + u[:, 0] * (outer**2 - inner**2))
    theta = _TWO_PI * u[:, 1]
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def annulus_log_prob(X, *, inner_radius=1.0, outer_radius=2.0):
    """Exact log-density of :func:`make_annulus`.

    ``-log(pi (outer_radius^2 - inner_radius^2))`` on the closed annulus and
    ``-inf`` elsewhere.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    inner_radius : float, default=1.0
        As in :func:`make_annulus`.
    outer_radius : float, default=2.0
        As in :func:`make_annulus`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats; ``-inf`` outside the support (NaN stays NaN).

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    Cornish et al. (2020). CIF. ICML 2020, appendix.
    """
    X = _check_points(X)
    inner, outer = _annulus_params(inner_radius, outer_radius)
    r2 = X[:, 0] ** 2 + X[:, 1] ** 2
    # a relative slack of a few ulps keeps sampled boundary points inside
    inside = (r2 >= inner**2 * (1.0 - 1e-15)) & (r2 <= outer**2 * (1.0 + 1e-15))
    out = np.where(inside, -math.log(math.pi * (outer**2 - inner**2)), -np.inf)
    out[np.isnan(X).any(axis=1)] = np.nan
    return out


def _annulus_entropy(*, inner_radius=1.0, outer_radius=2.0):
    inner, outer = _annulus_params(inner_radius, outer_radius)
    return math.log(math.pi * (outer**2 - inner**2))


def make_split_gaussian(n_samples=1000, *, random_state=None, shift=2.0):
    """Sample the split-Gaussian toy: a unit Gaussian torn along ``x1 = 0``.

    ``x1 ~ N(0, 1)``; given ``x1``, ``x2 ~ N(+shift, 1)`` if ``x1 >= 0`` and
    ``N(-shift, 1)`` otherwise. The density is discontinuous across
    ``x1 = 0``; its entropy, the optimal expected negative log-likelihood, is
    ``log(2 pi e)`` nats whatever the shift (CIF [1]_).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    shift : float, default=2.0
        Offset of the two half-Gaussians in ``x2``.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    See Also
    --------
    split_gaussian_log_prob : the exact log-density.

    References
    ----------
    .. [1] Cornish, Caterini, Deligiannidis and Doucet (2020). Relaxing
       bijectivity constraints with continuously indexed normalising flows.
       ICML 2020, appendix (2-D experiments).
    """
    n = _check_n_samples(n_samples)
    shift = _check_real(shift, "shift")
    rng = _check_rng(random_state)
    X = rng.standard_normal(size=(n, 2))
    X[:, 1] += np.where(X[:, 0] >= 0, shift, -shift)
    return X


def split_gaussian_log_prob(X, *, shift=2.0):
    """Exact log-density of :func:`make_split_gaussian`.

    ``log p(x) = log N(x1; 0, 1) + log N(x2; s(x1), 1)`` with
    ``s(x1) = shift`` for ``x1 >= 0`` and ``-shift`` otherwise.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    shift : float, default=2.0
        As in :func:`make_split_gaussian`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats.

    Raises
    ------
    ValueError
        If ``X`` is not of shape (n, 2) or a parameter is invalid.

    References
    ----------
    Cornish et al. (2020). CIF. ICML 2020, appendix.
    """
    X = _check_points(X)
    shift = _check_real(shift, "shift")
    mean2 = np.where(X[:, 0] >= 0, shift, -shift)
    return -_LOG_2PI - 0.5 * X[:, 0] ** 2 - 0.5 * (X[:, 1] - mean2) ** 2


def _split_gaussian_entropy(*, shift=2.0):
    _check_real(shift, "shift")
    return 1.0 + _LOG_2PI


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

#: name -> (sampler, exact log-density or None)
TOY_DENSITIES = {
    "two_moons": (make_two_moons, None),
    "eight_gaussians": (make_eight_gaussians, eight_gaussians_log_prob),
    "checkerboard": (make_checkerboard, checkerboard_log_prob),
    "pinwheel": (make_pinwheel, pinwheel_log_prob),
    "two_circles": (make_two_circles, two_circles_log_prob),
    "gaussian_ring": (make_gaussian_ring, gaussian_ring_log_prob),
    "two_uniforms": (make_two_uniforms, two_uniforms_log_prob),
    "annulus": (make_annulus, annulus_log_prob),
    "split_gaussian": (make_split_gaussian, split_gaussian_log_prob),
}

_TOY_ENTROPIES = {
    "checkerboard": _checkerboard_entropy,
    "two_uniforms": _two_uniforms_entropy,
    "annulus": _annulus_entropy,
    "split_gaussian": _split_gaussian_entropy,
}

_ALIASES = {
    "moons": "two_moons",
    "2moons": "two_moons",
    "8gaussians": "eight_gaussians",
    "2uniforms": "two_uniforms",
    "circles": "two_circles",
    "2circles": "two_circles",
    "ring": "gaussian_ring",
}


def _resolve(name):
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {name!r}.")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in TOY_DENSITIES:
        raise ValueError(
            f"Unknown toy density {name!r}; choose one of {sorted(TOY_DENSITIES)} "
            f"(aliases: {sorted(_ALIASES)})."
        )
    return key


def make_toy(name, n_samples=1000, *, random_state=None, **params):
    """Sample a toy density by name.

    Parameters
    ----------
    name : str
        A key of :data:`TOY_DENSITIES` (``"two_moons"``, ``"eight_gaussians"``,
        ``"checkerboard"``, ``"pinwheel"``, ``"two_circles"``,
        ``"gaussian_ring"``, ``"two_uniforms"``, ``"annulus"``,
        ``"split_gaussian"``) or an alias (``"moons"``, ``"8gaussians"``,
        ``"2uniforms"``, ``"circles"``, ``"ring"``, ...); case, ``-`` and
        spaces are normalised.
    n_samples : int, default=1000
        Number of points.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; an int gives reproducible output.
    **params
        Shape parameters of the toy's sampler.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.

    Raises
    ------
    ValueError
        If the name is unknown or a parameter is invalid.
    TypeError
        If a parameter is not accepted by the toy.

    References
    ----------
    .. [1] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud.
       FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative
       Models. ICLR 2019 (eight gaussians, checkerboard, pinwheel, two moons,
       circles).
    .. [2] R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet. Relaxing Bijectivity
       Constraints with Continuously Indexed Normalising Flows. ICML 2020, appendix on
       the 2-D experiments (two uniforms, annulus, split gaussian).
    .. [3] M. J. Johnson, D. Duvenaud, A. B. Wiltschko, S. R. Datta, R. P. Adams.
       Composing Graphical Models with Neural Networks for Structured Representations
       and Fast Inference. NeurIPS 2016 (the pinwheel data).

    Examples
    --------
    >>> from skflows.datasets import make_toy
    >>> make_toy("8gaussians", 5, random_state=0).shape
    (5, 2)
    """
    sampler, _ = TOY_DENSITIES[_resolve(name)]
    return sampler(n_samples, random_state=random_state, **params)


def toy_log_prob(name, X, **params):
    """Exact log-density (nats) of a toy density by name.

    Parameters
    ----------
    name : str
        Toy name or alias, as in :func:`make_toy`.
    X : array-like of shape (n_samples, 2)
        Points at which to evaluate the density.
    **params
        Shape parameters; must match those used to sample.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), dtype float64
        Log-density in nats.

    Raises
    ------
    NotImplementedError
        If the toy has no exact density (``"two_moons"``).
    ValueError
        If the name is unknown, ``X`` is not of shape (n, 2) or a parameter
        is invalid.

    References
    ----------
    .. [1] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud.
       FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative
       Models. ICLR 2019 (the 2-D toys).
    .. [2] R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet. Relaxing Bijectivity
       Constraints with Continuously Indexed Normalising Flows. ICML 2020, appendix on
       the 2-D experiments (two uniforms, annulus, split gaussian).
    """
    key = _resolve(name)
    _, log_prob = TOY_DENSITIES[key]
    if log_prob is None:
        raise NotImplementedError(
            f"The toy density {key!r} has no closed-form density, so no exact "
            "log-probability is available; see the sampler's docstring."
        )
    return log_prob(X, **params)


def toy_entropy(name, **params):
    """Exact differential entropy (nats) of a toy density, where closed-form.

    The entropy ``H = -E[log p(X)]`` is the smallest expected negative
    log-likelihood any model can reach, so it is the reference value for a
    fitted model's test NLL. Known in closed form for ``"two_uniforms"``
    (``log 4``), ``"annulus"`` (``log(pi (R^2 - r^2))``, ``log(3 pi)`` by
    default), ``"split_gaussian"`` (``log(2 pi e)``) and ``"checkerboard"``
    (``log(n_filled cell_size^2)``, ``log 32`` by default). No estimate is
    returned for the others.

    Parameters
    ----------
    name : str
        Toy name or alias, as in :func:`make_toy`.
    **params
        Shape parameters of the toy.

    Returns
    -------
    entropy : float
        Differential entropy in nats.

    Raises
    ------
    NotImplementedError
        If the toy's entropy has no closed form.
    ValueError
        If the name is unknown or a parameter is invalid.

    References
    ----------
    Cornish et al. (2020). CIF. ICML 2020, appendix (optimal NLLs of the
    2uniforms, annulus and split-gaussian toys).
    """
    key = _resolve(name)
    if key not in _TOY_ENTROPIES:
        raise NotImplementedError(
            f"The entropy of the toy density {key!r} has no closed form; "
            f"closed forms exist for {sorted(_TOY_ENTROPIES)}."
        )
    return float(_TOY_ENTROPIES[key](**params))
