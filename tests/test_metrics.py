"""Cramér-Wold distance and normality index: the sphere function 1F1, the closed forms
against Monte-Carlo sliced estimates, the finite-sample floor, monotonicity, gradients,
input handling."""

import functools
import math

import numpy as np
import pytest
import torch
from scipy.special import erf, hyp1f1, i0e, poch

from skflows import metrics
from skflows.metrics import (cramer_wold_distance, cw_normality_index, kummer_phi,
                             silverman_gamma)

DIMS = [1, 2, 8, 64]


# ----------------------------------------------------------------------------- 1F1
def _phi_reference(s, dim, order=0):
    """order-th derivative of 1F1(1/2; D/2; -s): (-1)^k (1/2)_k / (D/2)_k 1F1(1/2+k; D/2+k; -s)."""
    return (-1) ** order * poch(0.5, order) / poch(dim / 2, order) * hyp1f1(
        0.5 + order, dim / 2 + order, -s)


S_GRID = np.concatenate([[0.0], np.logspace(-8, 6, 400), np.linspace(0.0, 120.0, 1201)])


@pytest.mark.parametrize("dim", [2, 3, 4, 5, 8, 20, 33, 52, 53, 64, 100, 784, 4096])
def test_phi_matches_scipy_in_every_dimension(dim):
    got = kummer_phi(torch.tensor(S_GRID), dim).numpy()
    np.testing.assert_allclose(got, _phi_reference(S_GRID, dim), rtol=1e-10, atol=0)


def test_phi_exact_low_dimensional_forms():
    s = S_GRID[S_GRID > 0]
    np.testing.assert_allclose(kummer_phi(torch.tensor(s), 1).numpy(), np.exp(-s), rtol=1e-14)
    np.testing.assert_allclose(kummer_phi(torch.tensor(s), 2).numpy(), i0e(s / 2),
                               rtol=1e-10)
    exact3 = math.sqrt(math.pi) / 2 * erf(np.sqrt(s)) / np.sqrt(s)
    np.testing.assert_allclose(kummer_phi(torch.tensor(s), 3).numpy(), exact3, rtol=1e-10)
    for dim in (1, 2, 3, 64):
        assert float(kummer_phi(torch.zeros(1, dtype=torch.float64), dim)) == pytest.approx(
            1.0, abs=1e-13)


def test_phi_is_accurate_where_the_reference_approximation_is_not():
    """The published approximation (1 + 4s/(2D-3))^(-1/2) is 31% off at D=2; ours is not."""
    s = np.linspace(0, 200, 2001)
    approx = (1 + 4 * s / (2 * 2 - 3)) ** -0.5
    assert np.max(np.abs(approx / _phi_reference(s, 2) - 1)) > 0.3
    got = kummer_phi(torch.tensor(s), 2).numpy()
    assert np.max(np.abs(got / _phi_reference(s, 2) - 1)) < 1e-10


@pytest.mark.parametrize("dim", [2, 5, 8, 64, 784])
def test_phi_derivatives_match_closed_form(dim):
    s = torch.tensor(S_GRID, requires_grad=True)
    (g1,) = torch.autograd.grad(kummer_phi(s, dim).sum(), s, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), s)
    np.testing.assert_allclose(g1.detach().numpy(), _phi_reference(S_GRID, dim, 1),
                               rtol=1e-8, atol=0)
    np.testing.assert_allclose(g2.numpy(), _phi_reference(S_GRID, dim, 2), rtol=1e-8, atol=0)


@pytest.mark.parametrize("dim", [1, 2, 8, 64])
def test_phi_gradcheck_across_the_quadrature_switch(dim):
    # points on both sides of lam = s + (D - 3) / 2 = 30
    s = torch.tensor([1e-3, 0.3, 5.0, 29.0, 29.9, 30.1, 31.0, 33.0, 45.0, 500.0],
                     dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: kummer_phi(t, dim), (s,))
    assert torch.autograd.gradgradcheck(lambda t: kummer_phi(t, dim), (s,))


def test_phi_float32():
    s = torch.tensor(S_GRID, dtype=torch.float32)
    for dim in (2, 8, 64, 784):
        out = kummer_phi(s, dim)
        assert out.dtype == torch.float32
        np.testing.assert_allclose(out.double().numpy(), _phi_reference(S_GRID, dim),
                                   rtol=2e-6)


# ----------------------------------------------------------------------------- Monte Carlo
def _directions(dim, n_frames, rng):
    """Random orthonormal frames (Haar): n_frames * dim unit vectors, grouped by frame."""
    if dim == 1:
        return rng.choice([-1.0, 1.0], size=(n_frames, 1, 1))
    Q, R = np.linalg.qr(rng.randn(n_frames, dim, dim))
    Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    return Q.transpose(0, 2, 1)  # (frames, dim, dim): rows are directions


def _smoothed_l2(P, Q, gamma):
    """Per column: squared L2 distance between the Gaussian-smoothed (variance gamma)
    empirical densities of the rows of P and of Q (Q=None: N(0, 1) smoothed to
    N(0, 1 + gamma)), via int N(t; a, g) N(t; b, h) dt = N(a - b; 0, g + h)."""

    def cross(A, B, var):
        diff = A[:, None, :] - B[None, :, :]
        return np.exp(-diff ** 2 / (2 * var)).mean((0, 1)) / np.sqrt(2 * np.pi * var)

    pp = cross(P, P, 2 * gamma)
    if Q is None:
        var = 1 + 2 * gamma
        pn = (np.exp(-P ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)).mean(0)
        return pp - 2 * pn + 1 / np.sqrt(2 * np.pi * (2 + 2 * gamma))
    return pp + cross(Q, Q, 2 * gamma) - 2 * cross(P, Q, 2 * gamma)


def _sliced_estimate(X, Y, gamma, n_directions, seed):
    """Monte-Carlo sliced CW distance: mean over random directions of the 1-D smoothed L2
    distance; returns (estimate, standard error from the spread over frames)."""
    rng = np.random.RandomState(seed)
    dim = X.shape[1]
    frames = _directions(dim, max(1, n_directions // dim), rng)
    per_frame = []
    for chunk in np.array_split(frames, max(1, len(frames) // 200)):
        V = chunk.reshape(-1, dim)
        values = _smoothed_l2(X @ V.T, None if Y is None else Y @ V.T, gamma)
        per_frame.append(values.reshape(len(chunk), -1).mean(1))
    per_frame = np.concatenate(per_frame)
    return per_frame.mean(), per_frame.std() / np.sqrt(len(per_frame))


def _samples(dim, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(25, dim)
    Y = 0.7 * rng.randn(25, dim)
    Y[:, 0] += 1.0  # anisotropic: the projections differ by direction
    return X, Y


@pytest.mark.parametrize("dim", DIMS)
def test_distance_matches_monte_carlo_sliced_estimate(dim):
    X, Y = _samples(dim)
    gamma = 0.3
    closed = cramer_wold_distance(X, Y, gamma=gamma, squared=True)
    estimate, se = _sliced_estimate(X, Y, gamma, 40000, seed=dim)
    assert se < 0.003 * closed  # the 1 % check below is > 3 standard errors
    assert abs(closed / estimate - 1) < 0.01


@pytest.mark.parametrize("dim", DIMS)
def test_normality_index_matches_monte_carlo_sliced_estimate(dim):
    _, Y = _samples(dim)
    gamma = 0.3
    closed = cw_normality_index(Y, gamma=gamma)
    estimate, se = _sliced_estimate(Y, None, gamma, 40000, seed=100 + dim)
    assert se < 0.003 * closed
    assert abs(closed / estimate - 1) < 0.01


def test_monte_carlo_check_detects_the_reference_approximation():
    """The same check fails for the reference code's approximate 1F1 at D = 2."""
    X, Y = _samples(2)
    gamma = 0.3
    estimate, _ = _sliced_estimate(X, Y, gamma, 40000, seed=2)

    def approx_mean_phi(A, B):
        s = ((A[:, None, :] - B[None]) ** 2).sum(-1) / (4 * gamma)
        return ((1 + 4 * s / (2 * 2 - 3)) ** -0.5).mean()

    approx = (approx_mean_phi(X, X) + approx_mean_phi(Y, Y) - 2 * approx_mean_phi(X, Y)) / (
        2 * math.sqrt(math.pi * gamma))
    assert abs(approx / estimate - 1) > 0.03


def test_one_dimensional_smoothing_by_grid_integration():
    """In D = 1 the sphere is {-1, +1}: the closed form equals the L2 distance of the two
    kernel-smoothed densities integrated on a grid (no Gaussian-product identity used)."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(30, 1), 1.5 * rng.randn(20, 1) + 0.5
    gamma = 0.2
    t = np.linspace(-15, 15, 30001)

    def density(P):
        return np.exp(-(t[:, None] - P[:, 0]) ** 2 / (2 * gamma)).mean(1) / np.sqrt(
            2 * np.pi * gamma)

    grid_two_sample = np.trapezoid((density(X) - density(Y)) ** 2, t)
    normal = np.exp(-t ** 2 / (2 * (1 + gamma))) / np.sqrt(2 * np.pi * (1 + gamma))
    grid_normal = np.trapezoid((density(Y) - normal) ** 2, t)
    assert cramer_wold_distance(X, Y, gamma=gamma, squared=True) == pytest.approx(
        grid_two_sample, rel=1e-9)
    assert cw_normality_index(Y, gamma=gamma) == pytest.approx(grid_normal, rel=1e-9)


# ----------------------------------------------------------------------------- floor
def _expected_floor(n, gamma):
    """E[index] of an n-sample from N(0, I), any dimension: (g^-1/2 - (1+g)^-1/2)/(2n sqrt pi)."""
    return (1 / math.sqrt(gamma) - 1 / math.sqrt(1 + gamma)) / (2 * n * math.sqrt(math.pi))


@pytest.mark.parametrize("dim", [2, 8, 64])
def test_index_of_normal_samples_averages_to_its_floor(dim):
    rng = np.random.RandomState(dim)
    n, reps = 100, 150
    values = np.array([cw_normality_index(rng.randn(n, dim)) for _ in range(reps)])
    floor = _expected_floor(n, silverman_gamma(n))
    assert values.min() > 0
    se = values.std() / np.sqrt(reps)
    assert abs(values.mean() - floor) < max(4 * se, 0.01 * floor)
    assert abs(values.mean() / floor - 1) < 0.1


def test_index_of_large_normal_sample_is_near_floor():
    rng = np.random.RandomState(1)
    Z = rng.randn(1000, 8)
    floor = _expected_floor(1000, silverman_gamma(1000))
    assert 0.5 * floor < cw_normality_index(Z) < 2.0 * floor


@pytest.mark.parametrize("dim", [2, 8, 64])
def test_index_grows_monotonically_with_shift_and_scale(dim):
    rng = np.random.RandomState(0)
    Z = rng.randn(500, dim)
    direction = rng.randn(dim)
    direction /= np.linalg.norm(direction)
    shifts = [cw_normality_index(Z + m * direction) for m in (0.0, 0.25, 0.5, 1.0, 2.0)]
    up = [cw_normality_index(Z * s) for s in (1.0, 1.25, 1.5, 2.0)]
    down = [cw_normality_index(Z * s) for s in (1.0, 0.8, 0.6, 0.4)]
    for values in (shifts, up, down):
        assert np.all(np.diff(values) > 0), values


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("dim", DIMS)
def test_torch_gradients_match_finite_differences(dim):
    gen = torch.Generator().manual_seed(dim)
    X = torch.randn(6, dim, dtype=torch.float64, generator=gen, requires_grad=True)
    Y = (0.5 * torch.randn(5, dim, dtype=torch.float64, generator=gen) + 0.3).requires_grad_()
    # full Jacobian by central differences; in D = 64 along random directions (fast_mode)
    check = functools.partial(torch.autograd.gradcheck, fast_mode=dim > 8)
    for gamma in (None, 0.05):
        assert check(lambda a, b: cramer_wold_distance(a, b, gamma=gamma, squared=True), (X, Y))
        assert check(lambda a, b: cramer_wold_distance(a, b, gamma=gamma), (X, Y))
        assert check(lambda a: cw_normality_index(a, gamma=gamma), (X,))
    # large distances: the Laguerre branch of the quadrature
    assert check(lambda a: cw_normality_index(a, gamma=0.01), (3 * X,))


def test_gradient_descent_on_the_index_normalises_a_sample():
    gen = torch.Generator().manual_seed(0)
    Z = (0.3 * torch.randn(100, 3, dtype=torch.float64, generator=gen) + 1.0).requires_grad_()
    opt = torch.optim.Adam([Z], lr=0.05)
    start = float(cw_normality_index(Z.detach()))
    for _ in range(150):
        opt.zero_grad()
        cw_normality_index(Z).backward()
        opt.step()
    end = float(cw_normality_index(Z.detach()))
    # at least as normal as a typical true N(0, I) sample of that size
    assert end < _expected_floor(100, silverman_gamma(100)) < start / 50
    Z = Z.detach()
    assert abs(float(Z.mean())) < 0.2 and abs(float(Z.std()) - 1) < 0.15


# ----------------------------------------------------------------------------- properties
def test_distance_properties():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(40, 5), rng.randn(30, 5) + 0.5
    assert cramer_wold_distance(X, X) == 0.0
    assert cramer_wold_distance(X, Y) == pytest.approx(cramer_wold_distance(Y, X), rel=1e-12)
    d = cramer_wold_distance(X, Y)
    assert d ** 2 == pytest.approx(cramer_wold_distance(X, Y, squared=True), rel=1e-12)
    # rotation invariance (the distance averages over all directions)
    Q, _ = np.linalg.qr(rng.randn(5, 5))
    assert cramer_wold_distance(X @ Q, Y @ Q) == pytest.approx(d, rel=1e-10)
    assert cw_normality_index(Y @ Q) == pytest.approx(cw_normality_index(Y), rel=1e-10)
    # row order and duplication of a whole sample do not matter
    assert cramer_wold_distance(X[::-1], Y) == pytest.approx(d, rel=1e-12)
    assert cramer_wold_distance(np.vstack([X, X]), Y, gamma=silverman_gamma(30)) == (
        pytest.approx(d, rel=1e-12))
    # triangle inequality
    W = rng.randn(35, 5) * 1.5
    g = 0.2
    assert (cramer_wold_distance(X, Y, gamma=g)
            <= cramer_wold_distance(X, W, gamma=g) + cramer_wold_distance(W, Y, gamma=g))


def test_default_gamma_is_silverman():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(50, 3), rng.randn(80, 3)
    assert silverman_gamma(50) == pytest.approx((4 / 150) ** 0.4)
    assert cramer_wold_distance(X, Y) == cramer_wold_distance(X, Y, gamma=silverman_gamma(50))
    assert cw_normality_index(Y) == cw_normality_index(Y, gamma=silverman_gamma(80))


def test_numpy_and_torch_agree_and_types():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(30, 4), rng.randn(20, 4) + 0.3
    d_np = cramer_wold_distance(X, Y)
    i_np = cw_normality_index(X)
    assert isinstance(d_np, float) and isinstance(i_np, float)
    d_t = cramer_wold_distance(torch.from_numpy(X), torch.from_numpy(Y))
    assert isinstance(d_t, torch.Tensor) and d_t.ndim == 0 and d_t.dtype == torch.float64
    assert float(d_t) == pytest.approx(d_np, rel=1e-12)
    # mixed numpy / torch input gives a tensor
    mixed = cramer_wold_distance(X, torch.from_numpy(Y))
    assert isinstance(mixed, torch.Tensor)
    i32 = cw_normality_index(torch.from_numpy(X).float())
    assert i32.dtype == torch.float32
    assert float(i32) == pytest.approx(i_np, rel=1e-4)
    # float32 numpy input is computed in float64
    assert cw_normality_index(X.astype(np.float32)) == pytest.approx(i_np, rel=1e-6)
    # lists are accepted
    assert cw_normality_index(X.tolist()) == pytest.approx(i_np, rel=1e-12)


def test_chunking_does_not_change_the_result(monkeypatch):
    rng = np.random.RandomState(0)
    X, Y = rng.randn(90, 6), rng.randn(70, 6) * 2
    full = (cramer_wold_distance(X, Y), cw_normality_index(Y))
    monkeypatch.setattr(metrics, "_PAIR_CHUNK", 500)
    monkeypatch.setattr(metrics, "_CHUNK", 333)
    chunked = (cramer_wold_distance(X, Y), cw_normality_index(Y))
    np.testing.assert_allclose(chunked, full, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_distance_has_finite_gradient(dtype):
    X = torch.randn(10, 3, dtype=dtype, requires_grad=True)
    d = cramer_wold_distance(X, X.detach().clone())
    assert float(d.detach()) == 0.0
    d.backward()
    assert torch.isfinite(X.grad).all()


@pytest.mark.parametrize("bad, match", [
    (np.array([[np.nan, 1.0]]), "NaN"),
    (np.array([[np.inf, 1.0]]), "infinity"),
    (np.ones(3), "2D array"),
    (np.empty((0, 2)), "0 sample"),
])
def test_invalid_samples(bad, match):
    with pytest.raises(ValueError, match=match):
        cw_normality_index(bad)


def test_invalid_arguments():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="same dimension"):
        cramer_wold_distance(X, np.ones((5, 3)))
    for gamma in (0.0, -1.0, np.inf, "auto", True):
        with pytest.raises(ValueError, match="gamma"):
            cw_normality_index(X, gamma=gamma)
    with pytest.raises(ValueError, match="2-D"):
        cw_normality_index(torch.ones(3))
