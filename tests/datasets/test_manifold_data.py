"""Tests for the data on known manifolds (circle, sphere, polynomial surface)."""

import math

import numpy as np
import pytest

from skflows.datasets import (
    circle_distance,
    gaussian_on_circle_log_prob,
    make_gaussian_on_circle,
    make_gaussian_on_sphere,
    make_polynomial_surface,
    polynomial_surface_distance,
    polynomial_surface_log_prob,
    sphere_distance,
)
from skflows.datasets._manifold import _ROTATION, _height

SAMPLERS = [(make_gaussian_on_circle, 2), (make_gaussian_on_sphere, 3),
            (make_polynomial_surface, 3)]


@pytest.mark.parametrize("sampler, dim", SAMPLERS)
def test_shapes_and_seeding(sampler, dim):
    X = sampler(50, random_state=0)
    assert X.shape == (50, dim) and X.dtype == np.float64
    np.testing.assert_array_equal(X, sampler(50, random_state=0))
    assert not np.array_equal(X, sampler(50, random_state=1))
    state = np.random.get_state()[1].copy()
    sampler(5, random_state=3)
    np.testing.assert_array_equal(state, np.random.get_state()[1])
    X, latent = sampler(7, random_state=0, return_latent=True)
    assert len(latent) == 7
    assert sampler(0, random_state=0).shape == (0, dim)


def test_noise_free_points_lie_on_their_manifolds():
    assert circle_distance(make_gaussian_on_circle(200, noise=0.0, random_state=0)).max() < 1e-12
    assert sphere_distance(make_gaussian_on_sphere(200, noise=0.0, random_state=0)).max() < 1e-12
    X = make_polynomial_surface(200, random_state=0)
    assert polynomial_surface_distance(X).max() < 1e-9
    assert polynomial_surface_distance(X, method="vertical").max() < 1e-9


def test_radial_noise_gives_the_expected_mean_distance():
    # |N(0, s^2)| has mean s sqrt(2 / pi) (the paper's 0.008 for s = 0.01).
    for sampler, distance in [(make_gaussian_on_circle, circle_distance),
                              (make_gaussian_on_sphere, sphere_distance)]:
        d = distance(sampler(20000, noise=0.01, random_state=0))
        assert d.mean() == pytest.approx(0.01 * math.sqrt(2 / math.pi), rel=0.03)


def test_latent_reproduces_the_points():
    X, phi = make_gaussian_on_circle(30, noise=0.0, random_state=0, return_latent=True)
    np.testing.assert_allclose(X, np.column_stack([np.cos(phi), np.sin(phi)]), atol=1e-12)
    X, z = make_polynomial_surface(30, random_state=0, return_latent=True)
    np.testing.assert_allclose(X @ _ROTATION, np.column_stack([z, _height(z)[0]]),
                               atol=1e-12)


def test_rotation_is_orthogonal():
    np.testing.assert_allclose(_ROTATION @ _ROTATION.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(_ROTATION) == pytest.approx(1.0)


def test_height_gradient_matches_finite_differences():
    z = np.random.RandomState(0).normal(0, 2, size=(20, 2))
    _, grad = _height(z)
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        fd = (_height(z + e)[0] - _height(z - e)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, k], fd, rtol=1e-6, atol=1e-8)


def test_polynomial_surface_distance_is_the_nearest_point_distance():
    rng = np.random.RandomState(0)
    X = make_polynomial_surface(5, random_state=1) + rng.normal(0, 0.1, size=(5, 3))
    d = polynomial_surface_distance(X)
    # Brute force on a fine grid of the surface around each point's vertical foot.
    foot = (X @ _ROTATION)[:, :2]
    for i in range(5):
        g = np.linspace(-0.5, 0.5, 401)
        Z = foot[i] + np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
        S = np.column_stack([Z, _height(Z)[0]]) @ _ROTATION.T
        brute = np.sqrt(((S - X[i]) ** 2).sum(1)).min()
        assert d[i] <= brute + 1e-12
        assert d[i] == pytest.approx(brute, abs=2e-4)
    assert (d <= polynomial_surface_distance(X, method="vertical") + 1e-12).all()


def test_circle_density_integrates_to_one():
    t = np.linspace(0, 2 * np.pi, 20001)[:-1]
    P = np.column_stack([np.cos(t), np.sin(t)])
    total = np.exp(gaussian_on_circle_log_prob(P)).sum() * (2 * np.pi / len(t))
    assert total == pytest.approx(1.0, abs=1e-10)
    # The density depends on the angle only.
    np.testing.assert_allclose(gaussian_on_circle_log_prob(3 * P[:10]),
                               gaussian_on_circle_log_prob(P[:10]))


@pytest.mark.parametrize("theta", [-1.0, 0.0, 1.0])
def test_surface_density_integrates_to_one_over_the_area(theta):
    # Area element from the cross product of finite-difference tangents (independent of
    # the formula 1 + |grad phi|^2 used by the log-density).
    h = 0.08
    g = np.arange(-10, 10, h) + h / 2
    Z = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)

    def embed(z):
        return np.column_stack([z, _height(z)[0]]) @ _ROTATION.T

    eps = 1e-6
    t0 = (embed(Z + [eps, 0]) - embed(Z - [eps, 0])) / (2 * eps)
    t1 = (embed(Z + [0, eps]) - embed(Z - [0, eps])) / (2 * eps)
    area = np.linalg.norm(np.cross(t0, t1), axis=1) * h * h
    density = np.exp(polynomial_surface_log_prob(embed(Z), theta=theta))
    assert np.sum(density * area) == pytest.approx(1.0, abs=1e-3)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="noise"):
        make_gaussian_on_circle(10, noise=-1.0)
    with pytest.raises(ValueError, match="theta"):
        make_polynomial_surface(10, theta=2.0)
    with pytest.raises(ValueError, match="method"):
        polynomial_surface_distance(np.zeros((2, 3)), method="bad")
    with pytest.raises(ValueError, match="shape"):
        circle_distance(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="widths"):
        make_gaussian_on_sphere(10, widths=(1.0, -1.0))


def test_coil20_poses_trace_closed_loops():
    import hashlib
    from importlib.resources import files

    from skflows.datasets import load_coil20

    raw = (files("skflows.datasets") / "data" / "coil20.npz").read_bytes()
    readme = (files("skflows.datasets") / "data" / "README.md").read_text()
    assert hashlib.sha256(raw).hexdigest() in readme
    coil = load_coil20()
    assert coil.data.shape == (1440, 1024) and coil.images.shape == (1440, 32, 32)
    assert 0.0 <= coil.data.min() and coil.data.max() <= 1.0
    np.testing.assert_array_equal(coil.angle_deg, 5 * coil.pose)
    X = coil.data.reshape(20, 72, -1)
    step = np.linalg.norm(X - np.roll(X, -1, axis=1), axis=2)  # pose k to k+1 (71 to 0)
    opposite = np.linalg.norm(X - np.roll(X, 36, axis=1), axis=2)
    assert np.median(step) < 0.5 * np.median(opposite)
    assert np.median(step[:, -1]) < 0.5 * np.median(opposite)  # the loop closes
    X2, y = load_coil20(return_X_y=True)
    np.testing.assert_array_equal(X2, coil.data)
    np.testing.assert_array_equal(np.bincount(y), np.full(20, 72))
