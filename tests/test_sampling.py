"""Tests for the latent tail samplers and the Dirichlet sampler (skflows.sampling)."""

import numpy as np
import pytest
from scipy import stats

from skflows.sampling import (chi_quantile, dirichlet_mixtures, gaussian_extremes,
                              gaussian_extremes_log_prob, gaussian_shell,
                              gaussian_shell_log_prob, standard_normal_log_prob,
                              uniform_directions)


def _norms(Z):
    return np.linalg.norm(Z, axis=1)


# ----------------------------------------------------------------------------- chi / shell
@pytest.mark.parametrize("d", [1, 2, 10, 64])
def test_chi_quantile_matches_simulated_norms(d):
    rng = np.random.RandomState(0)
    norms = _norms(rng.standard_normal((100_000, d)))
    for q in (0.1, 0.5, 0.9, 0.99):
        r = chi_quantile(q, d)
        # Fraction of standard-normal draws inside radius r: binomial, 5 standard errors.
        frac = np.mean(norms <= r)
        assert abs(frac - q) < 5 * np.sqrt(q * (1 - q) / norms.size) + 1e-4


def test_chi_quantile_precision_in_the_far_tail():
    d = 16
    r = chi_quantile([1 - 1e-6, 1 - 1e-10, 1 - 1e-14], d)
    assert np.all(np.isfinite(r)) and np.all(np.diff(r) > 0)
    np.testing.assert_allclose(stats.chi.sf(r, d), [1e-6, 1e-10, 1e-14], rtol=1e-2)


@pytest.mark.parametrize("d", [1, 3, 30])
def test_thin_shell_has_the_chi_quantile_radius(d):
    Z = gaussian_shell(500, d, quantile=0.99, random_state=0)
    assert Z.shape == (500, d) and Z.dtype == np.float64
    np.testing.assert_allclose(_norms(Z), chi_quantile(0.99, d), rtol=1e-12)
    Z = gaussian_shell(10, d, radius=2.5, random_state=0)
    np.testing.assert_allclose(_norms(Z), 2.5, rtol=1e-12)


def test_thick_shell_radii_are_uniform_between_chi_quantiles():
    d = 8
    Z = gaussian_shell(20_000, d, quantile=(0.9, 0.999), random_state=1)
    r = _norms(Z)
    low, high = stats.chi.ppf(0.9, d), stats.chi.ppf(0.999, d)
    assert r.min() >= low - 1e-12 and r.max() <= high + 1e-12
    assert stats.kstest(r, stats.uniform(low, high - low).cdf).pvalue > 1e-3


def test_directions_are_uniform_on_the_sphere():
    V = uniform_directions(200_000, 3, random_state=0)
    np.testing.assert_allclose(_norms(V), 1.0, rtol=1e-12)
    np.testing.assert_allclose(V.mean(axis=0), 0.0, atol=5e-3)
    np.testing.assert_allclose(V.T @ V / len(V), np.eye(3) / 3, atol=5e-3)
    signs = uniform_directions(1000, 1, random_state=0)
    assert set(np.unique(signs)) == {-1.0, 1.0}


# ----------------------------------------------------------------------------- extremes
@pytest.mark.parametrize("d, n_ref", [(1, 50), (3, 100), (20, 10)])
def test_exact_extremes_match_the_empirical_maximum(d, n_ref):
    rng = np.random.RandomState(0)
    empirical = _norms(rng.standard_normal((4000 * n_ref, d))).reshape(4000, n_ref).max(axis=1)
    sampled = _norms(gaussian_extremes(4000, d, n_ref=n_ref, random_state=1))
    assert stats.ks_2samp(sampled, empirical).pvalue > 1e-3
    # The exact law F(r)^n_ref itself.
    assert stats.kstest(sampled, lambda r: stats.chi.cdf(r, d) ** n_ref).pvalue > 1e-3


def test_exact_extremes_are_beyond_the_typical_radius_and_grow_with_n_ref():
    d = 4
    small = _norms(gaussian_extremes(5000, d, n_ref=10, random_state=0))
    large = _norms(gaussian_extremes(5000, d, n_ref=10_000, random_state=0))
    assert np.median(small) > stats.chi.median(d)
    assert np.median(large) > np.median(small) + 1.0
    # Precision for large reference samples: the median is F^{-1}(0.5^(1/n_ref)).
    huge = _norms(gaussian_extremes(20_000, d, n_ref=10**9, random_state=0))
    expected = stats.chi.isf(-np.expm1(np.log(0.5) / 10**9), d)
    assert abs(np.median(huge) - expected) < 0.02


def test_gumbel_extremes_converge_slowly():
    # n_ref = 10, d = 1: the Gumbel limit misplaces the upper tail; the exact law does not.
    d, n_ref = 1, 10
    rng = np.random.RandomState(0)
    empirical = _norms(rng.standard_normal((50_000 * n_ref, d))).reshape(-1, n_ref).max(axis=1)
    exact = _norms(gaussian_extremes(50_000, d, n_ref=n_ref, random_state=1))
    gumbel = _norms(gaussian_extremes(50_000, d, n_ref=n_ref, method="gumbel", random_state=1))
    q_emp, q_exact, q_gumbel = (np.quantile(x, 0.999) for x in (empirical, exact, gumbel))
    assert abs(q_exact - q_emp) < 0.1
    assert abs(q_gumbel - q_emp) > 2 * abs(q_exact - q_emp)
    # For a large reference sample both agree in the bulk.
    big_exact = np.median(_norms(gaussian_extremes(20_000, 2, n_ref=10**6, random_state=0)))
    big_gumbel = np.median(_norms(gaussian_extremes(20_000, 2, n_ref=10**6, method="gumbel",
                                                    random_state=0)))
    assert abs(big_exact - big_gumbel) < 0.02


# ----------------------------------------------------------------------------- densities
@pytest.mark.parametrize("d", [1, 2, 7])
def test_tail_log_probs_are_normalised(d):
    # Importance sampling from N(0, I): E[q(z) / N(z)] = 1 for any density q.
    Z = np.random.RandomState(0).standard_normal((400_000, d))
    log_n = standard_normal_log_prob(Z)
    np.testing.assert_allclose(log_n, stats.multivariate_normal(np.zeros(d)).logpdf(Z)
                               .reshape(-1), rtol=1e-10)
    for log_q in (gaussian_shell_log_prob(Z, quantile=(0.3, 0.99)),
                  gaussian_extremes_log_prob(Z, n_ref=20)):
        assert abs(np.mean(np.exp(log_q - log_n)) - 1.0) < 0.02


def test_shell_log_prob_support_and_radial_density():
    d, low, high = 3, 1.0, 2.0
    r = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    Z = np.column_stack([r, np.zeros((5, d - 1))])
    log_q = gaussian_shell_log_prob(Z, radius=(low, high))
    assert np.isneginf(log_q[[0, 4]]).all()
    # Radial density 1 / (high - low) spread over spheres of area 4 pi r^2.
    np.testing.assert_allclose(log_q[1:4], -np.log(4 * np.pi * r[1:4] ** 2))
    with pytest.raises(ValueError, match="thin shell"):
        gaussian_shell_log_prob(Z, quantile=0.9)


def test_extremes_log_prob_matches_the_radius_law():
    d, n_ref = 2, 30
    r = np.linspace(0.5, 5.0, 10)
    Z = np.column_stack([r, np.zeros(10)])
    # Radial density = density at z times the circumference 2 pi r.
    radial = np.exp(gaussian_extremes_log_prob(Z, n_ref=n_ref)) * 2 * np.pi * r
    expected = n_ref * stats.chi.cdf(r, d) ** (n_ref - 1) * stats.chi.pdf(r, d)
    np.testing.assert_allclose(radial, expected, rtol=1e-10)


# ----------------------------------------------------------------------------- Dirichlet
def test_dirichlet_means_and_simplex():
    V = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0]])
    alpha = np.array([0.3, 0.7, 2.0])
    X, A = dirichlet_mixtures(200_000, V, alpha, return_weights=True, random_state=0)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    assert (A >= 0).all()
    np.testing.assert_allclose(A.mean(axis=0), alpha / alpha.sum(), atol=3e-3)
    np.testing.assert_allclose(X.mean(axis=0), alpha / alpha.sum() @ V, atol=1e-2)
    np.testing.assert_allclose(X, A @ V)


def test_dirichlet_expansion_leaves_the_simplex():
    k, e = 4, 0.5
    X, A = dirichlet_mixtures(100_000, np.eye(k), 0.7, expansion=e, return_weights=True,
                              random_state=0)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(A.mean(axis=0), (1 + e) / k - e / k, atol=3e-3)
    assert (A < 0).any(axis=1).mean() > 0.5
    assert A.min() >= -e / k - 1e-12 and A.max() <= 1 + e - e / k + 1e-12


def test_dirichlet_small_concentration_is_finite_and_extreme():
    A = dirichlet_mixtures(5000, np.eye(5), 1e-3, random_state=0)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    assert np.median(A.max(axis=1)) > 0.999


# ----------------------------------------------------------------------------- contracts
@pytest.mark.parametrize("draw", [
    lambda rs: gaussian_shell(20, 3, quantile=(0.9, 0.99), random_state=rs),
    lambda rs: gaussian_extremes(20, 3, n_ref=100, random_state=rs),
    lambda rs: gaussian_extremes(20, 3, n_ref=100, method="gumbel", random_state=rs),
    lambda rs: dirichlet_mixtures(20, np.eye(3), 0.7, random_state=rs),
])
def test_reproducible_and_global_state_untouched(draw):
    before = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.allclose(draw(3), draw(4))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        gaussian_shell(5, 2)
    with pytest.raises(ValueError, match="exactly one"):
        gaussian_shell(5, 2, radius=1.0, quantile=0.5)
    with pytest.raises(ValueError, match="quantile"):
        gaussian_shell(5, 2, quantile=1.0)
    with pytest.raises(ValueError, match="quantile"):
        gaussian_shell(5, 2, quantile=(0.9, 0.5))
    with pytest.raises(ValueError, match="radius"):
        gaussian_shell(5, 2, radius=-1.0)
    with pytest.raises(ValueError, match="n_features"):
        gaussian_shell(5, 0, radius=1.0)
    with pytest.raises(ValueError, match="n_ref"):
        gaussian_extremes(5, 2, n_ref=0)
    with pytest.raises(ValueError, match="n_ref"):
        gaussian_extremes(5, 2, n_ref=1, method="gumbel")
    with pytest.raises(ValueError, match="method"):
        gaussian_extremes(5, 2, n_ref=10, method="frechet")
    with pytest.raises(ValueError, match="concentration"):
        dirichlet_mixtures(5, np.eye(3), 0.0)
    with pytest.raises(ValueError, match="concentration"):
        dirichlet_mixtures(5, np.eye(3), [1.0, 1.0])
    with pytest.raises(ValueError, match="expansion"):
        dirichlet_mixtures(5, np.eye(3), 1.0, expansion=-0.1)
    with pytest.raises(ValueError, match="vertices"):
        dirichlet_mixtures(5, np.ones(3), 1.0)
