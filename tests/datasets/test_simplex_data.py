"""Tests for the data sets with known archetypes (skflows.datasets._simplex)."""

import numpy as np
import pytest

from skflows.datasets import (make_simplex, make_warped_triangle, regular_simplex,
                              warp_triangle, warped_triangle_barycentric,
                              warped_triangle_boundary)


@pytest.mark.parametrize("k", [2, 3, 4, 7])
def test_regular_simplex_geometry(k):
    V = regular_simplex(k)
    assert V.shape == (k, k - 1)
    np.testing.assert_allclose(V.sum(axis=0), 0.0, atol=1e-12)
    gram = V @ V.T
    expected = np.full((k, k), -1.0 / (k - 1))
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(gram, expected, atol=1e-12)


def test_regular_simplex_single_vertex():
    assert regular_simplex(1).shape == (1, 0)
    with pytest.raises(ValueError, match="n_vertices"):
        regular_simplex(0)


def test_make_simplex_exact_mixtures():
    X, A, V = make_simplex(500, n_archetypes=4, random_state=0)
    assert X.shape == (500, 3) and A.shape == (500, 4) and V.shape == (4, 3)
    np.testing.assert_allclose(V, regular_simplex(4))
    assert A.min() >= 0
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(X, A @ V, atol=1e-12)


def test_make_simplex_higher_dimension_and_given_vertices():
    X, A, V = make_simplex(50, n_archetypes=3, n_features=5, random_state=1)
    assert V.shape == (3, 5)
    # Three vertices in 5-D: the points lie on a 2-D affine subspace.
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    assert s[2] < 1e-10 * s[0]
    given = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [2.0, 3.0]])
    X2, A2, V2 = make_simplex(20, archetypes=given, random_state=0)
    np.testing.assert_array_equal(V2, given)
    np.testing.assert_allclose(X2, A2 @ given)


def test_make_simplex_concentration_and_noise():
    alpha = np.array([0.5, 1.0, 2.5])
    _, A, _ = make_simplex(20000, n_archetypes=3, concentration=alpha, random_state=0)
    a0 = alpha.sum()
    se = np.sqrt(alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)) / len(A))
    assert np.all(np.abs(A.mean(axis=0) - alpha / a0) < 4 * se)
    X, A, V = make_simplex(20000, n_archetypes=3, noise=0.1, random_state=0)
    residual = X - A @ V
    assert abs(residual.std() - 0.1) < 0.003


def test_make_simplex_reproducible_and_validated():
    a = make_simplex(10, random_state=3)
    b = make_simplex(10, random_state=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="n_archetypes"):
        make_simplex(10, n_archetypes=1)
    with pytest.raises(ValueError, match="concentration"):
        make_simplex(10, concentration=0.0)
    with pytest.raises(ValueError, match="concentration"):
        make_simplex(10, n_archetypes=3, concentration=[1.0, 2.0])
    with pytest.raises(ValueError, match="noise"):
        make_simplex(10, noise=-1.0)
    with pytest.raises(ValueError, match="archetypes"):
        make_simplex(10, archetypes=[[0.0, np.nan], [1.0, 1.0]])
    with pytest.raises(ValueError, match="n_samples"):
        make_simplex(0)


def test_warped_triangle_coefficients_are_exact():
    X, A, V = make_warped_triangle(1000, concentration=0.7, random_state=0)
    np.testing.assert_allclose(warped_triangle_barycentric(X), A, atol=1e-10)
    corners = warped_triangle_barycentric(V)
    np.testing.assert_allclose(corners, np.eye(3), atol=1e-12)
    # The warp of the documented corners.
    np.testing.assert_allclose(V, [[np.sinh(-1.0), 0.5], [np.sinh(1.0), 0.5],
                                   [0.0, np.sqrt(3.0)]])


def test_warp_is_curved():
    """Straight mixtures of the corners leave the support; the data are not convex."""
    _, _, V = make_warped_triangle(10, random_state=0)
    midpoints = 0.5 * (V[[0, 0, 1]] + V[[1, 2, 2]])
    inside = warped_triangle_barycentric(midpoints).min(axis=1) >= 0
    # The bottom edge bends below its chord (the chord's midpoint is inside), the two
    # slanted edges bow inwards (their chords' midpoints are outside).
    assert inside.tolist() == [True, False, False]
    # With bend=0 the bottom edge is the straight segment y = 0.
    _, _, V0 = make_warped_triangle(10, bend=0.0, random_state=0)
    np.testing.assert_allclose(V0[:2, 1], 0.0)


def test_boundary_lies_on_the_support_edge():
    curve = warped_triangle_boundary(50)
    assert curve.shape == (151, 2)
    np.testing.assert_allclose(curve[0], curve[-1])
    coords = warped_triangle_barycentric(curve)
    np.testing.assert_allclose(coords.min(axis=1), 0.0, atol=1e-10)
    # Pushed away from the centroid, boundary points leave the support.
    centre = warp_triangle(np.array([[0.0, np.sqrt(3.0) / 3]]))
    outside = centre + 1.05 * (curve[:-1] - centre)
    assert np.all(warped_triangle_barycentric(outside).min(axis=1) < 0)


def test_warped_triangle_validation():
    with pytest.raises(ValueError, match="concentration"):
        make_warped_triangle(10, concentration=-1.0)
    with pytest.raises(ValueError, match="shape"):
        warp_triangle(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        warped_triangle_barycentric(np.zeros(4))
