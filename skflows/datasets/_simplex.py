"""Data with known archetypes: points in a simplex, and a curved (warped) triangle.

Archetypal analysis describes every point as a convex combination of a few extreme
points, the archetypes. These generators draw the combination weights from a Dirichlet
law, so the true archetypes and the true weights of every point are known:

* :func:`make_simplex` -- points ``x = a^T V`` inside the simplex spanned by ``k``
  vertices ``V`` (a regular simplex by default, or any vertices), optionally with
  Gaussian noise. Linear archetypal analysis can recover ``V`` exactly.
* :func:`make_warped_triangle` -- a triangle sent through a smooth bijection of the
  plane, ``y_1 = sinh(x_1)``, ``y_2 = x_2 + bend * x_1^2``: its edges become curves,
  so the data are no longer a convex combination of their corners in the input space,
  but they are in the coordinates before the warp. :func:`warp_triangle` applies the
  map, and :func:`warped_triangle_barycentric` inverts it exactly and returns the
  barycentric coordinates of any point with respect to the (unwarped) triangle: a point
  lies in the data's support if and only if all of them are non-negative.

Randomness goes through :func:`sklearn.utils.check_random_state`; an int seed gives
the same output on every call and never touches NumPy's global generator.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_simplex", "make_warped_triangle", "warp_triangle",
           "warped_triangle_barycentric", "warped_triangle_boundary", "regular_simplex"]

#: Corners of the base triangle of :func:`make_warped_triangle` (equilateral, side 2).
TRIANGLE = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, np.sqrt(3.0)]])


def _check_int(value, name, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    return int(value)


def _check_nonnegative(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def _check_bend(bend):
    if isinstance(bend, (bool, np.bool_)) or not isinstance(bend, numbers.Real) \
            or not np.isfinite(bend):
        raise ValueError(f"bend must be a finite number, got {bend!r}.")
    return float(bend)


def _concentration(concentration, k):
    alpha = np.asarray(concentration, dtype=np.float64)
    if alpha.ndim == 0:
        alpha = np.full(k, float(alpha))
    if alpha.shape != (k,) or not np.all(np.isfinite(alpha)) or not np.all(alpha > 0):
        raise ValueError(f"concentration must be a positive number or {k} positive "
                         f"numbers, got {concentration!r}.")
    return alpha


def regular_simplex(n_vertices):
    """Vertices of a regular simplex centred at the origin, with unit norm.

    The ``k`` vertices live in ``R^(k-1)``; every pair has the dot product
    ``-1 / (k - 1)``, so all edges have the same length ``sqrt(2 k / (k - 1))``.
    They are the rows of the (transposed) Helmert basis of the sum-zero subspace of
    ``R^k``, rescaled to unit norm.

    Parameters
    ----------
    n_vertices : int
        Number of vertices ``k >= 1`` (``k = 1`` gives one point in ``R^0``).

    Returns
    -------
    V : ndarray of shape (n_vertices, n_vertices - 1), float64
        One vertex per row, each of unit Euclidean norm, summing to the zero vector.

    Raises
    ------
    ValueError
        If ``n_vertices`` is not an int ``>= 1``.

    References
    ----------
    .. [1] H. O. Lancaster. The Helmert Matrices. The American Mathematical Monthly
       72(1), 1965 (the orthonormal Helmert basis of the sum-zero subspace).
    .. [2] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994
       (the archetype simplex this generator serves; the construction of test
       simplices from Helmert rows is this project's own).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.datasets import regular_simplex
    >>> V = regular_simplex(3)
    >>> V.shape, bool(np.allclose(V @ V.T, [[1, -0.5, -0.5], [-0.5, 1, -0.5], [-0.5, -0.5, 1]]))
    ((3, 2), True)
    """
    k = _check_int(n_vertices, "n_vertices", 1)
    helmert = np.zeros((k - 1, k))
    for i in range(1, k):
        helmert[i - 1, :i] = 1.0
        helmert[i - 1, i] = -float(i)
        helmert[i - 1] /= np.sqrt(i * (i + 1.0))
    if k == 1:
        return helmert.T.copy()
    return helmert.T / np.sqrt(1.0 - 1.0 / k)


def make_simplex(n_samples=1000, *, n_archetypes=3, n_features=None, archetypes=None,
                 concentration=1.0, noise=0.0, random_state=None):
    """Points inside a simplex with known vertices (archetypes) and weights.

    Each row is ``x_i = a_i^T V + e_i`` with weights ``a_i ~ Dirichlet(alpha)`` (non-
    negative, summing to 1), vertices ``V`` (the archetypes) and Gaussian noise
    ``e_i ~ N(0, noise^2 I)``. With ``noise=0`` the data lie exactly in the simplex.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    n_archetypes : int, default=3
        Number of vertices ``k`` (ignored when ``archetypes`` is given).
    n_features : int or None, default=None
        Dimension ``d`` of the points; None means ``k - 1`` (the simplex then fills the
        space, the setting in which a normalizing flow can model the data without
        noise). Ignored when ``archetypes`` is given.
    archetypes : array-like of shape (n_archetypes, n_features), default=None
        The vertices. None: the regular simplex of :func:`regular_simplex` when
        ``d = k - 1``, otherwise ``k`` standard-normal draws (in general position almost
        surely). With ``d >= k`` and ``noise=0`` the points lie on a
        ``(k-1)``-dimensional affine subspace, which has no density in ``R^d``.
    concentration : float or array-like of shape (n_archetypes,), default=1.0
        Dirichlet parameter ``alpha``: 1 is uniform on the simplex, ``< 1`` pushes the
        points towards the vertices and edges, ``> 1`` towards the centre.
    noise : float, default=0.0
        Standard deviation of the isotropic Gaussian noise (units of ``V``).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        The points.
    coefficients : ndarray of shape (n_samples, n_archetypes), float64
        The weights ``a_i`` (rows on the simplex).
    archetypes : ndarray of shape (n_archetypes, n_features), float64
        The vertices ``V``.

    Raises
    ------
    ValueError
        For a non-positive ``n_samples``, fewer than 2 archetypes, ``n_features < 1``,
        a non-finite ``archetypes`` array, a non-positive ``concentration`` or a negative
        ``noise``.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994
       (the model ``X ~ A Z`` with row-stochastic ``A``, Sec. 2).

    Examples
    --------
    >>> from skflows.datasets import make_simplex
    >>> X, A, V = make_simplex(5, n_archetypes=3, random_state=0)
    >>> X.shape, A.shape, V.shape
    ((5, 2), (5, 3), (3, 2))
    """
    n = _check_int(n_samples, "n_samples", 1)
    rng = check_random_state(random_state)
    if archetypes is None:
        k = _check_int(n_archetypes, "n_archetypes", 2)
        d = k - 1 if n_features is None else _check_int(n_features, "n_features", 1)
        V = regular_simplex(k) if d == k - 1 else rng.standard_normal((k, d))
    else:
        V = np.array(archetypes, dtype=np.float64)
        if V.ndim != 2 or V.shape[0] < 2 or V.shape[1] < 1 or not np.all(np.isfinite(V)):
            raise ValueError("archetypes must be a finite array of shape (n_archetypes >= 2,"
                             f" n_features >= 1), got shape {V.shape}.")
        k = V.shape[0]
    alpha = _concentration(concentration, k)
    noise = _check_nonnegative(noise, "noise")
    A = rng.dirichlet(alpha, size=n)
    X = A @ V
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    return X, A, V


def warp_triangle(X, *, bend=0.5):
    """The warp of :func:`make_warped_triangle`: ``(sinh(x_1), x_2 + bend * x_1^2)``.

    A smooth bijection of the plane (its inverse is ``x_1 = asinh(y_1)``,
    ``x_2 = y_2 - bend * x_1^2``; Jacobian determinant ``cosh(x_1)``).

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points before the warp.
    bend : float, default=0.5
        Curvature of the horizontal lines.

    Returns
    -------
    Y : ndarray of shape (n_samples, 2), float64
        Warped points.

    Raises
    ------
    ValueError
        If ``X`` is not numeric of shape ``(n_samples, 2)`` or ``bend`` is not a finite
        number.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994
       (archetypes as the corners of a simplex containing the data; this warp, which
       curves the simplex so that it is no longer convex, is this project's own).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2), got {X.shape}.")
    bend = _check_bend(bend)
    return np.column_stack([np.sinh(X[:, 0]), X[:, 1] + bend * X[:, 0] ** 2])


def warped_triangle_barycentric(Y, *, bend=0.5):
    """Barycentric coordinates of points of the plane in the unwarped triangle.

    Undoes :func:`warp_triangle` exactly and solves for the weights ``a`` (summing to
    1) with ``a^T T = warp^{-1}(y)``, ``T`` the corners of the triangle. A point lies in
    the support of :func:`make_warped_triangle` (without noise) if and only if every
    coordinate is ``>= 0``; for those points the coordinates are the true weights.

    Parameters
    ----------
    Y : array-like of shape (n_samples, 2)
        Points in the warped (data) space.
    bend : float, default=0.5
        The ``bend`` used to make the data.

    Returns
    -------
    coefficients : ndarray of shape (n_samples, 3), float64
        Rows sum to 1; columns follow the archetypes of :func:`make_warped_triangle`.

    Raises
    ------
    ValueError
        If ``Y`` is not numeric of shape ``(n_samples, 2)`` or ``bend`` is not a finite
        number.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994,
       Sec. 2 (a point's archetype weights: non-negative, summing to one); the inverse
       warp is this project's own construction.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != 2:
        raise ValueError(f"Y must have shape (n_samples, 2), got {Y.shape}.")
    bend = _check_bend(bend)
    x1 = np.arcsinh(Y[:, 0])
    X = np.column_stack([x1, Y[:, 1] - bend * x1 ** 2])
    system = np.vstack([TRIANGLE.T, np.ones(3)])  # (3, 3): [V^T; 1] a = [x; 1]
    rhs = np.vstack([X.T, np.ones(len(X))])
    return np.linalg.solve(system, rhs).T


def warped_triangle_boundary(n_points=100, *, bend=0.5):
    """The boundary of the support of :func:`make_warped_triangle`, for plotting.

    Parameters
    ----------
    n_points : int, default=100
        Points per edge.
    bend : float, default=0.5
        The ``bend`` used to make the data.

    Returns
    -------
    curve : ndarray of shape (3 * n_points + 1, 2), float64
        The three warped edges in order, closed (the last point equals the first).

    Raises
    ------
    ValueError
        If ``n_points`` is not an int ``>= 2`` or ``bend`` is not a finite number.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994
       (the method this data set tests; the warped triangle is this project's own
       construction).
    """
    n = _check_int(n_points, "n_points", 2)
    s = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    edges = [(1 - s) * TRIANGLE[j] + s * TRIANGLE[(j + 1) % 3] for j in range(3)]
    return warp_triangle(np.vstack(edges + [TRIANGLE[:1]]), bend=bend)


def make_warped_triangle(n_samples=2000, *, concentration=1.0, bend=0.5, noise=0.0,
                         random_state=None):
    """A curved triangle: Dirichlet mixtures of a triangle's corners, warped.

    Weights ``a_i ~ Dirichlet(alpha)`` mix the corners ``(-1, 0)``, ``(1, 0)`` and
    ``(0, sqrt(3))`` of an equilateral triangle, and the points go through the smooth bijection
    :func:`warp_triangle`, ``(x_1, x_2) -> (sinh(x_1), x_2 + bend * x_1^2)``. The bottom
    edge becomes a U-shaped curve below the chord between its corners and the two other
    edges bow inwards, so straight-line (linear) mixtures of the corners both miss
    data and cover empty space. The true archetypes are the warped corners, and
    :func:`warped_triangle_barycentric` tells whether any point lies in the support.
    The experiment follows the plan for testing archetypal analysis in the latent space
    of a flow (our design notes; no published reference values).

    Parameters
    ----------
    n_samples : int, default=2000
        Number of points.
    concentration : float or array-like of shape (3,), default=1.0
        Dirichlet parameter: 1 is uniform on the (unwarped) triangle.
    bend : float, default=0.5
        Curvature of the warp (0 keeps straight horizontal lines; ``sinh`` still curves
        the slanted edges).
    noise : float, default=0.0
        Standard deviation of Gaussian noise added after the warp.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 2), float64
    coefficients : ndarray of shape (n_samples, 3), float64
        The true weights of every point.
    archetypes : ndarray of shape (3, 2), float64
        The warped corners ``warp_triangle(T)``.

    Raises
    ------
    ValueError
        If ``n_samples`` is not an int ``>= 1``, ``concentration`` is not positive (or
        not 3 numbers), ``bend`` is not a finite number, or ``noise`` is negative.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994
       (linear archetypal analysis, which cannot represent this curved support).
    .. [2] S. M. Keller, M. Samarin, F. Arend Torres, M. Wieser, V. Roth. Learning
       Extremal Representations with Deep Archetypal Analysis. IJCV 129, 2021
       (arXiv:1901.10799): archetypes in a learned latent space, the setting this
       data set probes. The warped triangle itself is this project's own construction.

    Examples
    --------
    >>> import numpy as np
    >>> from skflows.datasets import make_warped_triangle, warped_triangle_barycentric
    >>> X, A, V = make_warped_triangle(100, random_state=0)
    >>> bool(np.allclose(warped_triangle_barycentric(X), A))
    True
    """
    n = _check_int(n_samples, "n_samples", 1)
    rng = check_random_state(random_state)
    alpha = _concentration(concentration, 3)
    bend = _check_bend(bend)
    noise = _check_nonnegative(noise, "noise")
    A = rng.dirichlet(alpha, size=n)
    X = warp_triangle(A @ TRIANGLE, bend=bend)
    if noise > 0:
        X = X + noise * rng.standard_normal(X.shape)
    return X, A, warp_triangle(TRIANGLE, bend=bend)
