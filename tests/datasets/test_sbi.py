"""Tests for the simulation-based-inference benchmark tasks (two moons, Gaussian linear
uniform, SLCP): task definitions, simulators' laws, exact posterior samplers."""

import math

import numpy as np
import pytest
from scipy import stats

from skflows.datasets import SBI_TASKS, SBITask, make_sbi_task, simulate_sbi

DIMS = {"two_moons": (2, 2, 1.0), "gaussian_linear_uniform": (10, 10, 1.0),
        "slcp": (5, 8, 3.0)}


def _two_moons_likelihood(theta, x_obs):
    """p(x_obs | theta) of two moons, by hand: the density of p = x_obs - g(theta), with
    p = (0.25 + r cos a, r sin a), a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2), is
    N(rho; 0.1, 0.01^2) / (pi rho) on p_1 > 0.25 (polar change of variables)."""
    z0 = (theta[:, 0] + theta[:, 1]) / math.sqrt(2.0)
    z1 = (theta[:, 1] - theta[:, 0]) / math.sqrt(2.0)
    u = x_obs[0] + np.abs(z0) - 0.25
    v = x_obs[1] - z1
    rho = np.hypot(u, v)
    return np.where(u > 0, stats.norm.pdf(rho, 0.1, 0.01) / (math.pi * rho), 0.0)


# ----------------------------------------------------------------------------- tasks
def test_registry_and_dimensions():
    assert SBI_TASKS == ("two_moons", "gaussian_linear_uniform", "slcp")
    for name in SBI_TASKS:
        task = make_sbi_task(name)
        theta_dim, x_dim, bound = DIMS[name]
        assert isinstance(task, SBITask) and task.name == name
        assert (task.theta_dim, task.x_dim) == (theta_dim, x_dim)
        np.testing.assert_array_equal(task.bounds, [[-bound] * theta_dim, [bound] * theta_dim])
        assert not task.bounds.flags.writeable
    assert make_sbi_task("two_moons").has_posterior
    assert make_sbi_task("gaussian_linear_uniform").has_posterior
    assert not make_sbi_task("slcp").has_posterior


@pytest.mark.parametrize("name", SBI_TASKS)
def test_shapes_dtypes_and_seeding(name):
    theta_dim, x_dim, _ = DIMS[name]
    theta, x = simulate_sbi(name, 40, random_state=0)
    assert theta.shape == (40, theta_dim) and x.shape == (40, x_dim)
    assert theta.dtype == x.dtype == np.float64 and np.isfinite(x).all()
    theta2, x2 = simulate_sbi(name, 40, random_state=0)
    np.testing.assert_array_equal(theta, theta2)
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(x, simulate_sbi(name, 40, random_state=1)[1])
    # the same stream as sampling the prior, then simulating
    task = make_sbi_task(name)
    rng = np.random.RandomState(5)
    theta3 = task.sample_prior(40, random_state=rng)
    x3 = task.simulate(theta3, random_state=rng)
    theta4, x4 = simulate_sbi(name, 40, random_state=5)
    np.testing.assert_array_equal(theta3, theta4)
    np.testing.assert_array_equal(x3, x4)
    # a Generator is accepted; the global numpy state is left alone
    state = np.random.get_state()[1].copy()
    simulate_sbi(name, 5, random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(state, np.random.get_state()[1])
    empty_theta, empty_x = simulate_sbi(name, 0, random_state=0)
    assert empty_theta.shape == (0, theta_dim) and empty_x.shape == (0, x_dim)


@pytest.mark.parametrize("name", SBI_TASKS)
def test_prior_support_is_the_box(name):
    task = make_sbi_task(name)
    theta = task.sample_prior(20000, random_state=0)
    low, high = task.bounds
    assert np.all(theta >= low) and np.all(theta <= high)
    # uniform: fills the box, mean in the middle, variance (high - low)^2 / 12
    width = high - low
    assert np.all(np.abs(theta.min(0) - low) < 0.01 * width)
    assert np.all(np.abs(theta.max(0) - high) < 0.01 * width)
    np.testing.assert_allclose(theta.var(0), (high - low) ** 2 / 12, rtol=0.05)
    log_p = task.log_prior(theta)
    np.testing.assert_allclose(log_p, -np.sum(np.log(high - low)))
    outside = theta[:3].copy()
    outside[0, 0] = high[0] + 1e-9
    outside[1, -1] = low[-1] - 1.0
    assert np.array_equal(np.isinf(task.log_prior(outside)), [True, True, False])
    assert np.isfinite(task.log_prior(task.bounds)).all()  # the box is closed


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Unknown SBI task"):
        make_sbi_task("lotka_volterra")
    with pytest.raises(TypeError):
        make_sbi_task("two_moons", dim=3)
    with pytest.raises(TypeError):
        make_sbi_task("gaussian_linear_uniform", scale=3)
    with pytest.raises(ValueError):
        make_sbi_task("gaussian_linear_uniform", noise_variance=0.0)
    task = make_sbi_task("slcp")
    with pytest.raises(ValueError):
        task.simulate(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        task.simulate(np.zeros(5))
    with pytest.raises(ValueError):
        task.simulate(np.full((2, 5), np.nan))
    with pytest.raises(ValueError):
        task.sample_prior(-1)
    with pytest.raises(ValueError):
        simulate_sbi("slcp", 2.5)
    with pytest.raises(NotImplementedError):
        task.sample_posterior(np.zeros(8), 10)
    moons = make_sbi_task("two_moons")
    with pytest.raises(ValueError):
        moons.sample_posterior(np.zeros(3), 10)
    with pytest.raises(ValueError):
        moons.sample_posterior([0.0, np.nan], 10)


# ---------------------------------------------------------------------------- simulators
def test_gaussian_linear_uniform_likelihood_moments():
    # x | theta ~ N(theta, 0.1 I): sbibm's precision matrix is inverse(0.1 I)
    task = make_sbi_task("gaussian_linear_uniform")
    theta = np.tile(task.sample_prior(1, random_state=0), (20000, 1))
    noise = task.simulate(theta, random_state=1) - theta
    np.testing.assert_allclose(noise.mean(0), 0.0, atol=0.01)
    cov = np.cov(noise, rowvar=False)
    np.testing.assert_allclose(np.diag(cov), 0.1, rtol=0.04)
    np.testing.assert_allclose(cov[~np.eye(10, dtype=bool)], 0.0, atol=0.005)


def test_two_moons_simulator_structure():
    task = make_sbi_task("two_moons")
    theta = task.sample_prior(20000, random_state=0)
    x = task.simulate(theta, random_state=1)
    # undo the parameter shift: p = x - (-|z_1|, z_2) is a noisy half circle
    z0 = (theta[:, 0] + theta[:, 1]) / math.sqrt(2.0)
    z1 = (theta[:, 1] - theta[:, 0]) / math.sqrt(2.0)
    p = x - np.stack([-np.abs(z0), z1], axis=1)
    assert np.all(p[:, 0] > 0.25)
    radius = np.hypot(p[:, 0] - 0.25, p[:, 1])
    assert abs(radius.mean() - 0.1) < 0.001 and abs(radius.std() - 0.01) < 0.001
    angle = np.arctan2(p[:, 1], p[:, 0] - 0.25)
    assert stats.kstest(angle, stats.uniform(-math.pi / 2, math.pi).cdf).pvalue > 1e-3
    # theta and its mirror image (-theta_2, -theta_1) give the same data
    mirror = -theta[:, ::-1]
    np.testing.assert_allclose(task.simulate(mirror, random_state=1), x, atol=1e-15)


def test_slcp_simulator_moments_and_layout():
    task = make_sbi_task("slcp")
    theta0 = np.array([0.5, -1.0, 1.2, -0.8, 0.3])
    x = task.simulate(np.tile(theta0, (20000, 1)), random_state=0)
    draws = x.reshape(-1, 2)  # four draws per row, flattened draw by draw
    s1, s2, rho = theta0[2] ** 2, theta0[3] ** 2, math.tanh(theta0[4])
    cov = np.array([[s1 ** 2, rho * s1 * s2], [rho * s1 * s2, s2 ** 2]]) + 1e-6 * np.eye(2)
    np.testing.assert_allclose(draws.mean(0), theta0[:2], atol=0.02)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, rtol=0.03, atol=0.005)
    # the four draws of one row are independent
    corr = np.corrcoef(x[:, 0], x[:, 2])[0, 1]
    assert abs(corr) < 0.03
    # the correlation sign follows tanh(theta_5)
    flipped = theta0 * np.array([1, 1, 1, 1, -1])
    xf = task.simulate(np.tile(flipped, (5000, 1)), random_state=0).reshape(-1, 2)
    assert np.corrcoef(xf, rowvar=False)[0, 1] < -0.2


# ---------------------------------------------------------------------------- posteriors
def test_gaussian_linear_uniform_posterior_far_box_is_the_gaussian():
    task = make_sbi_task("gaussian_linear_uniform", dim=3, prior_bound=100.0)
    x_obs = np.array([0.3, -2.0, 5.0])
    theta = task.sample_posterior(x_obs, 40000, random_state=0)
    assert theta.shape == (40000, 3)
    np.testing.assert_allclose(theta.mean(0), x_obs, atol=0.006)  # 4 standard errors
    np.testing.assert_allclose(np.cov(theta, rowvar=False), 0.1 * np.eye(3), atol=0.004)
    np.testing.assert_array_equal(theta, task.sample_posterior(x_obs, 40000, random_state=0))


def test_gaussian_linear_uniform_posterior_is_truncated_normal():
    task = make_sbi_task("gaussian_linear_uniform")
    scale = math.sqrt(0.1)
    # inside, at the edge, outside, and very far outside the box
    x_obs = np.array([0.0, 0.9, -1.2, 1.5, -2.5, 4.0, 12.0, -30.0, 0.5, -0.99])
    theta = task.sample_posterior(x_obs.reshape(1, -1), 5000, random_state=0)
    assert theta.shape == (5000, 10) and np.isfinite(theta).all()
    assert np.all(np.abs(theta) <= 1.0)
    for j in range(10):
        law = stats.truncnorm((-1 - x_obs[j]) / scale, (1 - x_obs[j]) / scale,
                              loc=x_obs[j], scale=scale)
        if j < 6:  # scipy's cdf is reliable there
            assert stats.kstest(theta[:, j], law.cdf).pvalue > 1e-3, j
    # far outside: an exponential tail at the bound, mean distance ~ s^2 / (x - 1)
    np.testing.assert_allclose(1.0 - theta[:, 6].mean(), 0.1 / 11.0, rtol=0.05)
    np.testing.assert_allclose(theta[:, 7].mean() + 1.0, 0.1 / 29.0, rtol=0.05)


@pytest.mark.parametrize("theta_true", [(0.3, -0.2), (0.5, 0.4), (-0.6, 0.1)])
def test_two_moons_posterior_matches_importance_sampling(theta_true):
    task = make_sbi_task("two_moons")
    x_obs = task.simulate(np.array([theta_true]), random_state=3)[0]
    post = task.sample_posterior(x_obs, 20000, random_state=0)
    assert post.shape == (20000, 2)
    assert np.all(np.abs(post) <= 1.0)
    # every draw explains x_obs: p = x_obs - g(theta) is on the half circle's support
    assert np.all(_two_moons_likelihood(post, x_obs) > 0)
    # reference: prior draws weighted by the exact likelihood
    prop = task.sample_prior(400000, random_state=1)
    w = _two_moons_likelihood(prop, x_obs)
    w /= w.sum()
    assert 1.0 / np.sum(w ** 2) > 1500  # effective sample size
    mean = w @ prop
    cov = (prop - mean).T @ ((prop - mean) * w[:, None])
    np.testing.assert_allclose(post.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(np.cov(post, rowvar=False), cov, atol=0.004)
    # the two modes (signs of theta_1 + theta_2) get the weights of the reference
    np.testing.assert_allclose(np.mean(post.sum(1) > 0), w[prop.sum(1) > 0].sum(), atol=0.02)


def test_two_moons_impossible_observation():
    task = make_sbi_task("two_moons")
    with pytest.raises(RuntimeError, match="impossible"):
        task.sample_posterior([5.0, 5.0], 10, random_state=0)
    assert task.sample_posterior([0.0, 0.0], 0, random_state=0).shape == (0, 2)
