"""Posterior sampling by MCMC (emcee) with an estimator-like conditional likelihood."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("emcee")

from skflows.inference import MCMCConvergenceWarning, PosteriorSamples, sample_posterior  # noqa: E402


class GaussianLikelihood:
    """``y | theta ~ N(theta, sigma^2 I)``: ``log_prob(X=theta, y=x)`` per row, in nats.

    Records every condition matrix it is called with (``calls``).
    """

    def __init__(self, sigma=1.0):
        self.sigma = sigma
        self.calls = []

    def log_prob(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        if X.ndim != 2 or X.shape != y.shape:
            raise ValueError(f"X {X.shape} and y {y.shape} must have the same shape")
        self.calls.append(X.copy())
        return stats.norm.logpdf(y, loc=X, scale=self.sigma).sum(axis=1)


def _conjugate(prior_mean, prior_cov, observations, sigma):
    """Closed-form posterior of the Gaussian mean under a Gaussian prior."""
    n, d = observations.shape
    prec = np.linalg.inv(prior_cov) + n / sigma ** 2 * np.eye(d)
    cov = np.linalg.inv(prec)
    mean = cov @ (np.linalg.solve(prior_cov, prior_mean) + observations.sum(0) / sigma ** 2)
    return mean, cov


def _check_moments(res, mean, cov, n_sd=5.0):
    """Sample mean and covariance within ``n_sd`` Monte-Carlo standard errors, the errors
    computed from the smallest autocorrelation-based effective sample size."""
    ess = float(np.min(res.effective_sample_size))
    assert ess > 500, res
    samples = np.asarray(res)
    se_mean = np.sqrt(np.diag(cov) / ess)
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), n_sd * se_mean)
    # Var of a Gaussian sample covariance entry: (S_ii S_jj + S_ij^2) / ess.
    var = np.diag(cov)
    se_cov = np.sqrt((np.outer(var, var) + cov ** 2) / ess)
    np.testing.assert_array_less(np.abs(np.cov(samples.T) - cov), n_sd * se_cov)


FAST = dict(n_samples=8000, n_walkers=32, burn_in=300, thin=10)


def test_conjugate_gaussian_posterior():
    rng = np.random.RandomState(0)
    sigma, theta_true = 1.0, np.array([0.5, -1.0])
    obs = theta_true + sigma * rng.normal(size=(5, 2))
    prior_mean, prior_cov = np.array([1.0, -1.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    prior = stats.multivariate_normal(prior_mean, prior_cov)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MCMCConvergenceWarning)  # a well-mixed chain
        res = sample_posterior(GaussianLikelihood(sigma), obs, prior, random_state=0,
                               **FAST)
    assert isinstance(res, PosteriorSamples)
    assert res.samples.shape == (8000, 2) and np.asarray(res).shape == (8000, 2)
    assert res.n_steps == 300 + 250 * 10 and res.burn_in == 300 and res.thin == 10
    assert res.acceptance_fraction.shape == (32,)
    assert 0.2 < res.mean_acceptance_fraction < 0.9
    assert res.autocorr_time.shape == (2,) and np.all(res.autocorr_time > 1)
    mean, cov = _conjugate(prior_mean, prior_cov, obs, sigma)
    _check_moments(res, mean, cov)


def test_log_likelihoods_add_up_over_observations():
    sigma, x0, n_obs = 0.5, np.array([1.5, -0.5]), 7
    obs = np.tile(x0, (n_obs, 1))
    prior_mean, prior_cov = np.zeros(2), 4.0 * np.eye(2)
    prior = stats.multivariate_normal(prior_mean, prior_cov)
    lik = GaussianLikelihood(sigma)
    res = sample_posterior(lik, obs, prior, random_state=1, **FAST)
    mean, cov = _conjugate(prior_mean, prior_cov, obs, sigma)
    np.testing.assert_allclose(cov, np.eye(2) / (1 / 4 + n_obs / sigma ** 2))
    _check_moments(res, mean, cov)
    # The stored log posterior is sum_i log N(x_i; theta, sigma^2) + log prior(theta).
    th = res.samples[:50]
    direct = n_obs * stats.norm.logpdf(x0, th, sigma).sum(axis=1) + prior.logpdf(th)
    np.testing.assert_allclose(res.log_posterior[:50], direct, rtol=1e-12)
    # One batched call per half-ensemble: rows = (walkers proposed) x n_obs.
    assert all(c.shape[0] % n_obs == 0 for c in lik.calls)
    assert lik.calls[0].shape[0] == 32 * n_obs  # the initial ensemble, in one call
    assert max(c.shape[0] for c in lik.calls[1:]) == 16 * n_obs


def test_custom_log_likelihood_callable_matches_estimator():
    obs = np.array([[0.3, 0.1], [0.5, -0.2], [0.1, 0.4]])
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2))

    def log_lik(thetas, observations, scale):
        return stats.norm.logpdf(observations[None], thetas[:, None], scale).sum(axis=(1, 2))

    kw = dict(n_samples=2000, n_walkers=16, burn_in=100, thin=2, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCMCConvergenceWarning)
        a = sample_posterior(None, obs, prior, log_likelihood=log_lik,
                             log_likelihood_kwargs={"scale": 1.0}, **kw)
        b = sample_posterior(GaussianLikelihood(1.0), obs, prior, **kw)
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-10)


def test_box_prior_keeps_likelihood_and_samples_inside():
    low, high = np.array([0.0, -1.0]), np.array([1.0, 2.0])
    obs = np.array([[1.1, 1.9], [0.9, 2.2]])  # posterior piled against two faces
    lik = GaussianLikelihood(0.3)
    res = sample_posterior(lik, obs, np.stack([low, high]), random_state=0,
                           n_samples=4000, n_walkers=16, burn_in=200, thin=8)
    assert np.all((res.samples >= low) & (res.samples <= high))
    called = np.concatenate(lik.calls)
    assert np.all((called >= low) & (called <= high))
    # Proposals outside the box did happen, and were not passed to the likelihood.
    n_evaluated = called.shape[0] // len(obs)
    assert n_evaluated < 16 * (res.n_steps + 1)
    assert res.samples[:, 0].mean() > 0.6 and res.samples[:, 1].mean() > 1.2
    assert np.all(np.isfinite(res.log_posterior))


def test_univariate_frozen_priors():
    obs = np.array([[0.2, 0.4]])
    # Independent components with vector parameters = the diagonal Gaussian prior.
    res = sample_posterior(GaussianLikelihood(1.0), obs,
                           stats.norm(loc=[0.0, 1.0], scale=[1.0, 2.0]),
                           random_state=0, **FAST)
    mean, cov = _conjugate(np.array([0.0, 1.0]), np.diag([1.0, 4.0]), obs, 1.0)
    _check_moments(res, mean, cov)
    # A uniform with vector loc/scale is the box [0, 0.5] x [1, 3].
    lik = GaussianLikelihood(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCMCConvergenceWarning)
        res = sample_posterior(lik, obs, stats.uniform(loc=[0.0, 1.0], scale=[0.5, 2.0]),
                               random_state=0, n_samples=1000, n_walkers=8, burn_in=50)
    lo, hi = np.array([0.0, 1.0]), np.array([0.5, 3.0])
    assert np.all((res.samples >= lo) & (res.samples <= hi))
    called = np.concatenate(lik.calls)
    assert np.all((called >= lo) & (called <= hi))
    # Scalar parameters: theta_dim = 1.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCMCConvergenceWarning)
        res = sample_posterior(GaussianLikelihood(1.0), np.array([[0.5], [0.7]]),
                               stats.norm(0, 3), random_state=0, n_samples=500,
                               n_walkers=4, burn_in=50)
    assert res.samples.shape == (500, 1)


def test_determinism_with_seed():
    obs = np.array([0.2, -0.3])  # one observation given as a 1-D array
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2))
    kw = dict(n_samples=640, n_walkers=8, burn_in=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCMCConvergenceWarning)
        a = sample_posterior(GaussianLikelihood(), obs, prior, random_state=7, **kw)
        b = sample_posterior(GaussianLikelihood(), obs, prior, random_state=7, **kw)
        c = sample_posterior(GaussianLikelihood(), obs, prior, random_state=8, **kw)
        g1 = sample_posterior(GaussianLikelihood(), obs, prior,
                              random_state=np.random.default_rng(5), **kw)
        g2 = sample_posterior(GaussianLikelihood(), obs, prior,
                              random_state=np.random.default_rng(5), **kw)
        np.random.seed(0)
        d = sample_posterior(GaussianLikelihood(), obs, prior, random_state=7, **kw)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.samples, d.samples)  # global numpy state unused
    np.testing.assert_array_equal(g1.samples, g2.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_initial_walkers():
    obs = np.array([[0.0, 0.0]])
    prior = np.array([[-1.0, -1.0], [1.0, 1.0]])
    start = np.random.RandomState(0).uniform(-0.5, 0.5, size=(8, 2))
    lik = GaussianLikelihood()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCMCConvergenceWarning)
        res = sample_posterior(lik, obs, prior, initial=start, n_walkers=8, burn_in=0,
                               n_samples=8, random_state=0)
        np.testing.assert_array_equal(lik.calls[0], start)
        np.testing.assert_array_equal(res.sampler.get_chain()[0].shape, (8, 2))
        # A single point is spread into a small ball.
        lik = GaussianLikelihood()
        sample_posterior(lik, obs, prior, initial=[0.1, 0.2], n_walkers=8, burn_in=0,
                         n_samples=8, random_state=0)
        np.testing.assert_allclose(lik.calls[0], np.tile([0.1, 0.2], (8, 1)), atol=1e-3)


def test_short_chain_warns():
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2))
    with pytest.warns(MCMCConvergenceWarning, match="autocorrelation times"):
        res = sample_posterior(GaussianLikelihood(), np.zeros((3, 2)), prior,
                               n_samples=160, n_walkers=16, burn_in=10, random_state=0)
    assert res.samples.shape == (160, 2)
    assert issubclass(MCMCConvergenceWarning, RuntimeWarning)


def test_errors():
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2))
    lik, obs = GaussianLikelihood(), np.zeros((3, 2))
    with pytest.raises(ValueError, match="exactly one"):
        sample_posterior(None, obs, prior)
    with pytest.raises(ValueError, match="exactly one"):
        sample_posterior(lik, obs, prior, log_likelihood=lambda t, o: t[:, 0])
    with pytest.raises(TypeError, match="log_prob"):
        sample_posterior(object(), obs, prior)
    with pytest.raises(ValueError, match="x_dim=3"):  # observations of the wrong width
        sample_posterior(lik, np.zeros((3, 3)), prior)
    with pytest.raises(ValueError, match="observations"):
        sample_posterior(lik, np.zeros((2, 2, 2)), prior)
    with pytest.raises(ValueError, match="theta_dim"):  # initial of the wrong width
        sample_posterior(lik, obs, prior, initial=np.zeros((32, 3)))
    with pytest.raises(ValueError, match=r"\(2, theta_dim\)"):
        sample_posterior(lik, obs, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="low < high"):
        sample_posterior(lik, obs, np.array([[0.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="outside the prior"):
        sample_posterior(lik, obs, np.array([[0.0, 0.0], [1.0, 1.0]]),
                         initial=np.full((32, 2), 2.0))
    with pytest.raises(ValueError, match="2 \\* theta_dim"):
        sample_posterior(lik, obs, prior, n_walkers=3)
    with pytest.raises(ValueError, match="n_samples"):
        sample_posterior(lik, obs, prior, n_samples=0)
    with pytest.raises(ValueError, match="expected"):
        sample_posterior(None, obs, prior, log_likelihood=lambda t, o: np.zeros(3))
    lik.n_features_in_ = 3
    with pytest.raises(ValueError, match="n_features_in_"):
        sample_posterior(lik, obs, prior)
