"""Data on known low-dimensional manifolds, with the true distance to the manifold.

Three generators for manifold-learning flows, after the experiments of Brehmer &
Cranmer (2020, Sec. 4.1-4.2 and the appendix on the data sets):

- :func:`make_gaussian_on_circle`: a wrapped Gaussian on the unit circle in ``R^2``
  (1-D manifold), with optional radial noise;
- :func:`make_gaussian_on_sphere`: a Gaussian in spherical coordinates on the unit
  sphere in ``R^3`` (2-D manifold), with optional radial noise;
- :func:`make_polynomial_surface`: a mixture of two Gaussians in ``R^2`` mapped onto a
  curved polynomial surface in ``R^3`` (2-D manifold); the width of the second
  component is set by a parameter ``theta`` in ``[-1, 1]``.

Each comes with a distance function (``circle_distance``, ``sphere_distance``,
``polynomial_surface_distance``) that gives the Euclidean distance of any point to the
true manifold, and the circle and the surface with the true log-density on the manifold
(w.r.t. arc length / surface area) at the nearest manifold point.

NumPy only, vectorised over samples; randomness through
:func:`sklearn.utils.check_random_state` (a :class:`numpy.random.Generator` is also
accepted), so an int seed gives the same output on every call.

References
----------
.. [MF] J. Brehmer and K. Cranmer (2020). Flows for simultaneous manifold learning and
   density estimation. NeurIPS 2020; arXiv:2003.13913 (Sec. 4 and appendix: the
   Gaussian on a circle / sphere and the mixture on a polynomial surface).
"""

from __future__ import annotations

import math

import numpy as np

from ._toy import _check_n_samples, _check_real, _check_rng

__all__ = [
    "make_gaussian_on_circle",
    "gaussian_on_circle_log_prob",
    "circle_distance",
    "make_gaussian_on_sphere",
    "sphere_distance",
    "make_polynomial_surface",
    "polynomial_surface_log_prob",
    "polynomial_surface_distance",
]

_TWO_PI = 2.0 * math.pi
_LOG_2PI = math.log(_TWO_PI)


def _check_array(X, n_features):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must be a 2-D array of shape (n_samples, {n_features}), "
                         f"got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError("X must not contain NaN or infinity.")
    return X


def _wrapped_normal_log_prob(angle, loc, scale, n_wraps=4):
    """Log-density of a normal ``N(loc, scale^2)`` wrapped onto ``[0, 2 pi)``."""
    shifts = _TWO_PI * np.arange(-n_wraps, n_wraps + 1)
    t = (np.mod(angle, _TWO_PI)[..., None] + shifts - loc) / scale
    a = -0.5 * t * t
    m = a.max(axis=-1, keepdims=True)
    return (np.log(np.exp(a - m).sum(-1)) + m[..., 0]
            - math.log(scale) - 0.5 * _LOG_2PI)


# ---------------------------------------------------------------------------
# circle
# ---------------------------------------------------------------------------


def make_gaussian_on_circle(n_samples=1000, *, noise=0.01, phase=0.5 * math.pi,
                            width=0.25 * math.pi, random_state=None,
                            return_latent=False):
    """Points on the unit circle with a wrapped-Gaussian angle, plus radial noise.

    The angle is ``phi ~ N(phase, width^2)`` (taken modulo ``2 pi``), the radius is
    ``1 + eps`` with ``eps ~ N(0, noise^2)``, and ``x = r (cos phi, sin phi)``
    (Brehmer & Cranmer 2020, the ``d = 1`` case of their spherical Gaussian data; their
    circle experiment uses ``noise=0.01``, for which the mean distance to the circle is
    ``noise * sqrt(2 / pi) ~= 0.008``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    noise : float >= 0, default=0.01
        Standard deviation of the radial noise (0 puts every point on the circle).
    phase : float, default=pi/2
        Mean angle (radians).
    width : float > 0, default=pi/4
        Standard deviation of the angle (radians).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the draws.
    return_latent : bool, default=False
        Also return the angles.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), float64
        The points.
    phi : ndarray of shape (n_samples,), float64
        Angles in ``[0, 2 pi)`` radians (only if ``return_latent``).

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 0``, ``noise < 0``, ``width <= 0``, a
        parameter is not a finite real number, or ``random_state`` is invalid.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.1 (the Gaussian on
       a circle / sphere, here its one-dimensional case).
    """
    n = _check_n_samples(n_samples)
    noise = _check_real(noise, "noise", low=0.0)
    width = _check_real(width, "width", low=0.0, low_strict=True)
    phase = _check_real(phase, "phase")
    rng = _check_rng(random_state)
    phi = np.mod(phase + width * rng.standard_normal(n), _TWO_PI)
    r = 1.0 + noise * rng.standard_normal(n)
    X = r[:, None] * np.column_stack([np.cos(phi), np.sin(phi)])
    return (X, phi) if return_latent else X


def circle_distance(X):
    """Euclidean distance of each point to the unit circle, ``| ||x|| - 1 |``.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points in the plane.

    Returns
    -------
    distance : ndarray of shape (n_samples,), float64
        Euclidean distance to the circle, in the units of ``X``.

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not of shape ``(n_samples, 2)``, or holds NaN or
        infinity.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.1 (the distance to
       the true manifold as a quality measure of generated samples).
    """
    X = _check_array(X, 2)
    return np.abs(np.linalg.norm(X, axis=1) - 1.0)


def gaussian_on_circle_log_prob(X, *, phase=0.5 * math.pi, width=0.25 * math.pi):
    """Log-density on the unit circle (w.r.t. arc length, nats) at each row's angle.

    The density is evaluated at the nearest circle point of each row, i.e. at its angle.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
    phase, width : float
        As in :func:`make_gaussian_on_circle`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        ``log p(phi)`` in nats, the wrapped-normal log-density of the angle (the circle
        has radius 1, so arc length equals angle).

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not of shape ``(n_samples, 2)`` or holds NaN or
        infinity, or ``width <= 0`` or ``phase`` is not a finite real number.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.1.
    .. [2] K. V. Mardia, P. E. Jupp. Directional Statistics. Wiley 2000, Sec. 3.5
       (the wrapped normal distribution; its density as a sum over windings).
    """
    X = _check_array(X, 2)
    width = _check_real(width, "width", low=0.0, low_strict=True)
    phi = np.arctan2(X[:, 1], X[:, 0])
    return _wrapped_normal_log_prob(phi, _check_real(phase, "phase"), width)


# ---------------------------------------------------------------------------
# sphere
# ---------------------------------------------------------------------------


def make_gaussian_on_sphere(n_samples=1000, *, noise=0.01, phases=(0.5 * math.pi,
                                                                     0.5 * math.pi),
                            widths=(0.25 * math.pi, 0.25 * math.pi), random_state=None,
                            return_latent=False):
    """Points on the unit sphere in ``R^3`` from Gaussian angles, plus radial noise.

    Angles ``(a, b) ~ N(phases, diag(widths)^2)``; the point is
    ``r (cos a, sin a cos b, sin a sin b)`` with radius ``r = 1 + eps``,
    ``eps ~ N(0, noise^2)`` (the ``d = 2`` case of the spherical Gaussian data of
    Brehmer & Cranmer 2020). With the default phases the mass sits around
    ``(0, 0, 1)``.

    Parameters
    ----------
    n_samples : int, default=1000
    noise : float >= 0, default=0.01
        Standard deviation of the radial noise.
    phases : pair of float, default=(pi/2, pi/2)
        Means of the two angles (radians).
    widths : pair of float > 0, default=(pi/4, pi/4)
        Standard deviations of the two angles (radians).
    random_state : int, RandomState, Generator or None, default=None
    return_latent : bool, default=False
        Also return the angles.

    Returns
    -------
    X : ndarray of shape (n_samples, 3), float64
        The points.
    angles : ndarray of shape (n_samples, 2), float64
        The two angles in radians (only if ``return_latent``).

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 0``, ``noise`` is negative or not finite,
        ``phases`` or ``widths`` is not a pair (``widths`` positive), or
        ``random_state`` is invalid.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.1 (the Gaussian on
       a sphere, here its two-dimensional case).
    """
    n = _check_n_samples(n_samples)
    noise = _check_real(noise, "noise", low=0.0)
    phases = np.asarray(phases, dtype=np.float64)
    widths = np.asarray(widths, dtype=np.float64)
    if phases.shape != (2,) or widths.shape != (2,) or not (widths > 0).all():
        raise ValueError("phases and widths must be pairs of numbers, widths positive; "
                         f"got phases={phases!r}, widths={widths!r}.")
    rng = _check_rng(random_state)
    angles = phases + widths * rng.standard_normal((n, 2))
    r = 1.0 + noise * rng.standard_normal(n)
    a, b = angles[:, 0], angles[:, 1]
    X = r[:, None] * np.column_stack([np.cos(a), np.sin(a) * np.cos(b),
                                      np.sin(a) * np.sin(b)])
    return (X, angles) if return_latent else X


def sphere_distance(X):
    """Euclidean distance of each point to the unit sphere, ``| ||x|| - 1 |``.

    Parameters
    ----------
    X : array-like of shape (n_samples, 3)
        Points in space.

    Returns
    -------
    distance : ndarray of shape (n_samples,), float64
        Euclidean distance to the sphere, in the units of ``X``.

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not of shape ``(n_samples, 3)``, or holds NaN or
        infinity.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.1 (the distance to
       the true manifold as a quality measure of generated samples).
    """
    X = _check_array(X, 3)
    return np.abs(np.linalg.norm(X, axis=1) - 1.0)


# ---------------------------------------------------------------------------
# polynomial surface
# ---------------------------------------------------------------------------

# Exponents (p, q) of the monomials z0^p z1^q up to total degree 5, in the order of
# sklearn's PolynomialFeatures for two inputs.
_POWERS = np.array([(d - k, k) for d in range(6) for k in range(d + 1)])
# Our constants, drawn once (numpy RandomState(2020)) with the recipe of Brehmer &
# Cranmer (2020): coefficient of total degree d ~ N(0, d^-6) (std d^-3, 1 for d = 0),
# a random rotation (here from a random unit quaternion), exponential suppression 0.1.
# The paper's own constants are not published in text form, so the surface differs.
_COEFFS = np.array([-1.7688, 0.0756, -1.1306, -0.0814, -0.1116, -0.1593, -0.0023, 0.0024,
                    0.0152, -0.0212, -0.0125, 0.0205, 0.0199, -0.019, 0.0049, -0.0116,
                    -0.003, -0.0062, 0.0031, 0.0005, 0.0167])
_QUATERNION = np.array([0.0801, -0.0923, -0.9793, -0.1614])
_SUPPRESSION = 0.1


def _rotation():
    w, x, y, z = _QUATERNION / np.linalg.norm(_QUATERNION)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


_ROTATION = _rotation()


def _height(z):
    """Surface height ``phi(z)`` and its gradient, shapes (n,) and (n, 2)."""
    z0, z1 = z[:, 0:1], z[:, 1:2]
    p, q = _POWERS[:, 0], _POWERS[:, 1]
    mono = z0 ** p * z1 ** q
    poly = mono @ _COEFFS
    d0 = np.where(p > 0, p * z0 ** np.maximum(p - 1, 0) * z1 ** q, 0.0) @ _COEFFS
    d1 = np.where(q > 0, q * z0 ** p * z1 ** np.maximum(q - 1, 0), 0.0) @ _COEFFS
    damp = np.exp(-_SUPPRESSION * (z * z).sum(1))
    height = poly * damp
    grad = np.column_stack([d0, d1]) * damp[:, None] - 2.0 * _SUPPRESSION * z * height[:, None]
    return height, grad


def _component_params(theta):
    theta = _check_real(theta, "theta", low=-1.0, high=1.0)
    width = 0.2 + 0.8 * (0.5 + 0.5 * theta)
    # (weight, mean, std) of the two latent components.
    return [(0.6, np.array([1.0, -1.0]), 2.0), (0.4, np.array([-1.0, 1.0]), width)]


def _latent_log_prob(z, theta):
    terms = []
    for weight, mean, std in _component_params(theta):
        t = (z - mean) / std
        terms.append(math.log(weight) - 0.5 * (t * t).sum(1) - 2.0 * math.log(std) - _LOG_2PI)
    terms = np.stack(terms, axis=1)
    m = terms.max(axis=1, keepdims=True)
    return np.log(np.exp(terms - m).sum(1)) + m[:, 0]


def make_polynomial_surface(n_samples=1000, *, theta=0.0, noise=0.0, random_state=None,
                            return_latent=False):
    """A mixture of two Gaussians on a curved 2-D polynomial surface in ``R^3``.

    Latent ``z in R^2`` from ``0.6 N((1, -1), 2^2 I) + 0.4 N((-1, 1), w^2 I)`` with
    ``w = 0.2 + 0.8 (0.5 + 0.5 theta)``; the point is ``x = R (z_0, z_1, phi(z))`` with
    ``phi(z) = sum_{p+q<=5} c_pq z_0^p z_1^q exp(-0.1 |z|^2)`` and a fixed rotation
    ``R`` (the "mixture on a polynomial surface" of Brehmer & Cranmer 2020, Sec. 4.2,
    with our own draw of the constants ``c`` and ``R``, fixed in the source).

    Parameters
    ----------
    n_samples : int, default=1000
    theta : float in [-1, 1], default=0.0
        Sets the width ``w`` of the second mixture component (0.2 at -1, 1.0 at 1).
    noise : float >= 0, default=0.0
        Standard deviation of isotropic Gaussian noise added in ``R^3`` (0: exactly on
        the surface, as in the paper).
    random_state : int, RandomState, Generator or None, default=None
    return_latent : bool, default=False
        Also return ``z``.

    Returns
    -------
    X : ndarray of shape (n_samples, 3), float64
        The points.
    z : ndarray of shape (n_samples, 2), float64
        The latent coordinates (only if ``return_latent``).

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 0``, ``theta`` is outside ``[-1, 1]``,
        ``noise`` is negative, a parameter is not a finite real number, or
        ``random_state`` is invalid.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.2 and the appendix
       on the data sets (the mixture on a polynomial surface; the constants here are
       this project's own draw).
    """
    n = _check_n_samples(n_samples)
    noise = _check_real(noise, "noise", low=0.0)
    (w0, m0, s0), (_, m1, s1) = _component_params(theta)
    rng = _check_rng(random_state)
    second = rng.uniform(0.0, 1.0, size=n) >= w0
    eps = rng.standard_normal((n, 2))
    z = np.where(second[:, None], m1 + s1 * eps, m0 + s0 * eps)
    height, _ = _height(z)
    X = np.column_stack([z, height]) @ _ROTATION.T
    if noise > 0:
        X = X + noise * rng.standard_normal((n, 3))
    return (X, z) if return_latent else X


def _nearest_surface_point(X, n_iter=50):
    """Latent ``z`` of the nearest surface point to each row (Gauss-Newton from the
    vertical foot point, with step halving), and the Euclidean distance."""
    y = X @ _ROTATION  # rotated frame: rows R^T x
    target, c = y[:, :2], y[:, 2]
    z = target.copy()

    def objective(z):
        h, g = _height(z)
        r = np.column_stack([z - target, h - c])
        return (r * r).sum(1), r, g

    f, r, g = objective(z)
    for _ in range(n_iter):
        # J = [[I], [grad^T]] (3 x 2); J^T J = I + g g^T; J^T r = r_z + r_h g.
        jtr = r[:, :2] + r[:, 2:3] * g
        gg = (g * g).sum(1, keepdims=True)
        # (I + g g^T)^{-1} v = v - g (g.v) / (1 + |g|^2)
        step = -(jtr - g * (g * jtr).sum(1, keepdims=True) / (1.0 + gg))
        if np.abs(step).max() <= 1e-12 * (1.0 + np.abs(z).max()):
            break
        t = np.ones((len(z), 1))
        for _ in range(30):
            f_new, r_new, g_new = objective(z + t * step)
            worse = f_new > f
            if not worse.any():
                break
            t = np.where(worse[:, None], 0.5 * t, t)
        accept = f_new <= f
        z = np.where(accept[:, None], z + t * step, z)
        f = np.where(accept, f_new, f)
        r = np.where(accept[:, None], r_new, r)
        g = np.where(accept[:, None], g_new, g)
    return z, np.sqrt(f)


def polynomial_surface_distance(X, *, method="euclidean"):
    """Distance of each point to the polynomial surface of :func:`make_polynomial_surface`.

    Parameters
    ----------
    X : array-like of shape (n_samples, 3)
    method : {"euclidean", "vertical"}, default="euclidean"
        ``"euclidean"``: distance to the nearest surface point (Gauss-Newton from the
        vertical foot point, converged to machine precision for points near the
        surface). ``"vertical"``: ``|y_2 - phi(y_0, y_1)|`` for ``y = R^T x``, the
        offset along the surface's height axis used by the reference code of Brehmer &
        Cranmer (an upper bound of the Euclidean distance).

    Returns
    -------
    distance : ndarray of shape (n_samples,), float64
        Distance to the surface, in the units of ``X``.

    Raises
    ------
    ValueError
        For an unknown ``method`` or malformed ``X``.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.2 (distance to the
       true surface as a sample-quality measure; the vertical offset of their code).
    .. [2] J. Nocedal, S. J. Wright. Numerical Optimization, 2nd ed. Springer 2006,
       Sec. 10.3 (the Gauss-Newton method for nonlinear least squares).
    """
    X = _check_array(X, 3)
    if method == "vertical":
        y = X @ _ROTATION
        return np.abs(y[:, 2] - _height(y[:, :2])[0])
    if method != "euclidean":
        raise ValueError(f"method must be 'euclidean' or 'vertical', got {method!r}.")
    return _nearest_surface_point(X)[1]


def polynomial_surface_log_prob(X, *, theta=0.0):
    """True log-density on the surface (w.r.t. surface area, nats) near each row.

    The density is evaluated at the nearest surface point of each row.

    ``log p_z(z) - 1/2 log(1 + |grad phi(z)|^2)``: the latent mixture density divided by
    the area element of the chart ``z -> R (z, phi(z))``.

    Parameters
    ----------
    X : array-like of shape (n_samples, 3)
    theta : float in [-1, 1], default=0.0
        As in :func:`make_polynomial_surface`.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        Log-density in nats w.r.t. the area on the surface, in the units of ``X``.

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not of shape ``(n_samples, 3)`` or holds NaN or
        infinity, or ``theta`` is outside ``[-1, 1]``.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 4.2.
    .. [2] M. P. do Carmo. Differential Geometry of Curves and Surfaces. Prentice-Hall
       1976, Sec. 2-5 (the area element ``sqrt(1 + |grad phi|^2)`` of a graph surface).
    """
    X = _check_array(X, 3)
    z, _ = _nearest_surface_point(X)
    _, grad = _height(z)
    return _latent_log_prob(z, theta) - 0.5 * np.log1p((grad * grad).sum(1))
