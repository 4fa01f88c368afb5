"""Posterior sampling by MCMC with a learned (or any) conditional likelihood.

Neural likelihood estimation (NLE; Papamakarios et al. 2019) fits a conditional density
``q(x | theta)`` to simulations ``(theta, x)``; Brehmer & Cranmer (2020, Sec. 4) do the
same with manifold-learning flows. Given i.i.d. observations ``x_1, ..., x_n`` the
posterior is then ``p(theta | x_1..n) ∝ p(theta) prod_i q(x_i | theta)``, sampled here
with the affine-invariant ensemble sampler of ``emcee`` (Goodman & Weare 2010;
Foreman-Mackey et al. 2013). All walkers proposed at one step are evaluated in a single
batched call of the likelihood.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

__all__ = ["sample_posterior", "PosteriorSamples", "MCMCConvergenceWarning"]

# emcee's rule of thumb: the chain should be longer than this many autocorrelation times.
_N_AUTOCORR = 50
_ACCEPTANCE_RANGE = (0.1, 0.9)
# Relative width of the Gaussian ball around a single ``initial`` point.
_BALL = 1e-4


class MCMCConvergenceWarning(RuntimeWarning):
    """Issued by :func:`sample_posterior` when the chain looks unreliable.

    Either the chain kept after burn-in is shorter than 50 integrated autocorrelation
    times (then the autocorrelation time itself, and the Monte-Carlo error of posterior
    averages, are poorly estimated), or the mean acceptance fraction lies outside
    ``[0.1, 0.9]`` (walkers stuck, or proposals far too timid).

    References
    ----------
    .. [1] D. Foreman-Mackey, D. W. Hogg, D. Lang, J. Goodman. emcee: The MCMC Hammer.
       PASP 125(925):306, 2013, Sec. 4 (acceptance fraction, autocorrelation time), and
       the emcee documentation's autocorrelation tutorial (the 50 ``tau`` rule).
    """


@dataclass(frozen=True, eq=False)
class PosteriorSamples:
    """Result of :func:`sample_posterior`: the draws and the chain's diagnostics.

    ``np.asarray(result)`` is ``result.samples``, so the result can be used wherever an
    array of draws is expected.

    Parameters
    ----------
    samples : ndarray of shape (n_samples, theta_dim)
        Posterior draws (after burn-in and thinning, all walkers pooled).
    log_posterior : ndarray of shape (n_samples,)
        Unnormalised log posterior ``sum_i log p(x_i | theta) + log p(theta)`` (nats) of
        each draw.
    acceptance_fraction : ndarray of shape (n_walkers,)
        Fraction of accepted proposals of each walker over the whole run.
    autocorr_time : ndarray of shape (theta_dim,)
        Integrated autocorrelation time of each parameter, in steps of the unthinned
        chain, estimated on the chain after burn-in (``emcee``'s estimator, ``c = 5``).
    effective_sample_size : ndarray of shape (theta_dim,)
        ``min(n_samples, n_samples * thin / autocorr_time)``: the number of independent
        draws the samples are worth, per parameter.
    n_steps : int
        Steps taken by each walker, burn-in included.
    burn_in : int
        Steps discarded at the start of each walker's chain.
    thin : int
        One step in ``thin`` is kept after burn-in.
    sampler : emcee.EnsembleSampler
        The sampler, for further analysis (``get_chain``, ``get_log_prob``...).

    References
    ----------
    .. [1] D. Foreman-Mackey, D. W. Hogg, D. Lang, J. Goodman. emcee: The MCMC Hammer.
       PASP 125(925):306, 2013.
    .. [2] A. D. Sokal. Monte Carlo Methods in Statistical Mechanics: Foundations and New
       Algorithms. In Functional Integration, Springer 1997 (integrated autocorrelation
       time and effective sample size).
    """

    samples: np.ndarray
    log_posterior: np.ndarray
    acceptance_fraction: np.ndarray
    autocorr_time: np.ndarray
    effective_sample_size: np.ndarray
    n_steps: int
    burn_in: int
    thin: int
    sampler: object = field(repr=False)

    @property
    def mean_acceptance_fraction(self) -> float:
        """Acceptance fraction averaged over the walkers (ideally about 0.2 to 0.5)."""
        return float(np.mean(self.acceptance_fraction))

    def __array__(self, dtype=None, copy=None):
        return np.array(self.samples, dtype=dtype, copy=True if copy else None)

    def __len__(self):
        return len(self.samples)

    def __repr__(self):
        return (f"PosteriorSamples(n_samples={self.samples.shape[0]}, "
                f"theta_dim={self.samples.shape[1]}, "
                f"mean_acceptance_fraction={self.mean_acceptance_fraction:.3f}, "
                f"autocorr_time={np.round(self.autocorr_time, 1).tolist()}, "
                f"n_steps={self.n_steps}, burn_in={self.burn_in}, thin={self.thin})")


# ------------------------------------------------------------------------------ prior
class _Prior:
    """``log_prob(theta (m, p)) -> (m,)`` and ``sample(m, rng) -> (m, p)``."""

    def __init__(self, prior):
        self.kind = None
        if isinstance(getattr(prior, "dist", None), stats.rv_continuous):
            shape = np.broadcast_shapes(*[np.shape(a) for a in prior.args],
                                        *[np.shape(v) for v in prior.kwds.values()])
            if len(shape) > 1:
                raise ValueError("A univariate frozen prior needs scalar or 1-D "
                                 f"parameters, got parameters of shape {shape}.")
            self.kind, self.dim, self.frozen = "univariate", (shape[0] if shape else 1), prior
        elif hasattr(prior, "logpdf") and hasattr(prior, "rvs"):
            self.kind, self.frozen = "multivariate", prior
            dim = getattr(prior, "dim", None)
            if dim is None:
                dim = np.reshape(prior.rvs(size=2, random_state=0), (2, -1)).shape[1]
            self.dim = int(dim)
        else:
            bounds = np.asarray(prior, dtype=np.float64)
            if bounds.ndim != 2 or bounds.shape[0] != 2:
                raise ValueError("prior must be a frozen scipy.stats distribution or box "
                                 "bounds of shape (2, theta_dim); got an array of shape "
                                 f"{bounds.shape}.")
            if not (np.all(np.isfinite(bounds)) and np.all(bounds[0] < bounds[1])):
                raise ValueError("Box bounds need finite low < high in every dimension.")
            self.kind, self.dim = "box", bounds.shape[1]
            self.low, self.high = bounds
            self.log_volume = float(np.sum(np.log(self.high - self.low)))

    def log_prob(self, theta):
        m = theta.shape[0]
        if self.kind == "box":
            inside = np.all((theta >= self.low) & (theta <= self.high), axis=1)
            return np.where(inside, -self.log_volume, -np.inf)
        if self.kind == "univariate":
            lp = np.asarray(self.frozen.logpdf(theta), dtype=np.float64).sum(axis=1)
        else:
            lp = np.reshape(np.asarray(self.frozen.logpdf(theta), dtype=np.float64), (m,))
        return np.where(np.isnan(lp), -np.inf, lp)

    def sample(self, m, rng):
        if self.kind == "box":
            return rng.uniform(self.low, self.high, size=(m, self.dim))
        if self.kind == "univariate":
            draws = self.frozen.rvs(size=(m, self.dim), random_state=rng)
        else:
            draws = self.frozen.rvs(size=m, random_state=rng)
        return np.reshape(np.asarray(draws, dtype=np.float64), (m, self.dim))


# ------------------------------------------------------------------------- likelihood
class _LogPosterior:
    """Vectorised ``theta (m, p) -> log posterior (m,)`` for ``emcee`` (``vectorize=True``).

    The likelihood is evaluated only for the rows inside the prior's support, in one
    call over all those rows and all observations.
    """

    def __init__(self, likelihood, log_likelihood, observations, prior, kwargs):
        self.likelihood = likelihood
        self.log_likelihood = log_likelihood
        self.observations = observations
        self.prior = prior
        self.kwargs = kwargs

    def log_likelihood_of(self, theta):
        m, n_obs = theta.shape[0], self.observations.shape[0]
        if self.log_likelihood is not None:
            out = np.asarray(self.log_likelihood(theta, self.observations, **self.kwargs),
                             dtype=np.float64)
            if out.shape != (m,):
                raise ValueError(f"log_likelihood returned shape {out.shape} for {m} "
                                 f"parameter vectors; expected ({m},).")
            return out
        X = np.repeat(theta, n_obs, axis=0)
        y = np.tile(self.observations, (m, 1))
        out = np.asarray(self.likelihood.log_prob(X, y, **self.kwargs), dtype=np.float64)
        if out.shape not in ((m * n_obs,), (m * n_obs, 1)):
            raise ValueError(f"likelihood.log_prob(X, y) returned shape {out.shape} for "
                             f"{m * n_obs} rows; expected ({m * n_obs},).")
        return out.reshape(m, n_obs).sum(axis=1)

    def __call__(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        lp = self.prior.log_prob(theta)
        ok = np.isfinite(lp)
        if ok.any():
            ll = self.log_likelihood_of(theta[ok])
            lp[ok] += np.where(np.isnan(ll), -np.inf, ll)
        return lp


# ------------------------------------------------------------------------- validation
def _int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _random_state(random_state):
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(2 ** 32)))
    return check_random_state(random_state)


def _observations(observations):
    obs = np.asarray(observations, dtype=np.float64)
    if obs.ndim == 1:
        obs = obs[None, :]
    if obs.ndim != 2 or obs.shape[0] == 0 or obs.shape[1] == 0:
        raise ValueError("observations must have shape (n_obs, x_dim) or (x_dim,), got "
                         f"shape {np.shape(observations)}.")
    if not np.all(np.isfinite(obs)):
        raise ValueError("observations contain NaN or infinite values.")
    return obs


def _initial(initial, prior, n_walkers, rng):
    p = prior.dim
    if initial is None:
        return prior.sample(n_walkers, rng)
    init = np.asarray(initial, dtype=np.float64)
    if init.shape == (p,):
        scale = _BALL * np.maximum(np.abs(init), 1.0)
        return init + scale * rng.standard_normal((n_walkers, p))
    if init.shape != (n_walkers, p):
        raise ValueError(f"initial must have shape (theta_dim,) = ({p},) or (n_walkers, "
                         f"theta_dim) = ({n_walkers}, {p}), got {init.shape}.")
    return init.copy()


def _warn_if_unreliable(accept, tau, n_after, n_walkers, n_samples):
    low, high = _ACCEPTANCE_RANGE
    mean_accept = float(np.mean(accept))
    if not low <= mean_accept <= high:
        warnings.warn(
            f"Mean acceptance fraction {mean_accept:.3f} is outside [{low}, {high}]: the "
            "walkers are stuck (too low) or barely move (too high); check the prior, the "
            "likelihood and the initial walkers.", MCMCConvergenceWarning, stacklevel=3)
    tau_max = float(np.max(tau)) if np.all(np.isfinite(tau)) else np.inf
    if n_after < _N_AUTOCORR * tau_max:
        need = (int(np.ceil(_N_AUTOCORR * tau_max * n_walkers / n_samples))
                if np.isfinite(tau_max) else None)
        hint = (f"; e.g. thin={need} with n_samples={n_samples}" if need else "")
        warnings.warn(
            f"The chain kept after burn-in ({n_after} steps per walker) is shorter than "
            f"{_N_AUTOCORR} autocorrelation times (max tau = {tau_max:.1f} steps): the "
            f"autocorrelation time and the Monte-Carlo error are unreliable. Run longer "
            f"(larger thin or n_samples{hint}).", MCMCConvergenceWarning, stacklevel=3)


# ------------------------------------------------------------------------------- main
def sample_posterior(likelihood, observations, prior, *, n_samples=10_000, n_walkers=32,
                     burn_in=1000, thin=1, random_state=None, initial=None,
                     log_likelihood=None, log_likelihood_kwargs=None, moves=None,
                     progress=False):
    """Draw from ``p(theta | x_1..n) ∝ p(theta) prod_i p(x_i | theta)`` with ``emcee``.

    The log posterior of a parameter vector ``theta`` is
    ``sum_i log p(x_i | theta) + log p(theta)`` over the i.i.d. observations ``x_i``
    (nats). It is sampled with :class:`emcee.EnsembleSampler` (affine-invariant stretch
    move by default) in vectorised mode: the proposals of one half-ensemble, a batch
    ``thetas`` of shape ``(m, theta_dim)``, are evaluated by **one** call

        ``likelihood.log_prob(np.repeat(thetas, n_obs, axis=0),
        np.tile(observations, (m, 1)))``

    whose ``m * n_obs`` values are reshaped to ``(m, n_obs)`` and summed over the
    observations. Proposals outside the prior's support get ``log p = -inf`` and are
    *not* passed to the likelihood (so no draw lies outside the support). A NaN
    log-likelihood is treated as ``-inf`` (the proposal is rejected).

    Each walker runs ``burn_in + ceil(n_samples / n_walkers) * thin`` steps; the first
    ``burn_in`` are discarded, one step in ``thin`` is kept, and the last ``n_samples``
    of the pooled draws are returned.

    Parameters
    ----------
    likelihood : fitted conditional estimator or None
        Any object with ``log_prob(X, y, **log_likelihood_kwargs)`` returning
        ``log p(y | x)`` in nats for each row, shape ``(n_rows,)``, where the condition
        ``X`` holds parameter vectors ``theta`` (``(n_rows, theta_dim)``) and ``y`` data
        points (``(n_rows, x_dim)``), e.g. a conditional flow fitted by neural likelihood
        estimation on simulations ``(theta, x)``. If it has ``n_features_in_`` (the
        scikit-learn attribute for the columns of ``X``), it must equal ``theta_dim``.
        None when ``log_likelihood`` is given.
    observations : array-like of shape (n_obs, x_dim) or (x_dim,)
        The i.i.d. observed data; a 1-D array is *one* observation (pass scalar data as
        shape ``(n_obs, 1)``).
    prior : frozen scipy.stats distribution or array-like of shape (2, theta_dim)
        The prior ``p(theta)``, one of:

        * a frozen *univariate* continuous distribution, e.g.
          ``scipy.stats.norm(loc, scale)`` or ``scipy.stats.uniform(loc, scale)``,
          whose parameters are scalars (``theta_dim = 1``) or broadcast to shape
          ``(theta_dim,)``: the components are independent, the ``j``-th with the
          parameters' ``j``-th entries, and ``log p(theta) = sum_j logpdf(theta_j)``
          (``uniform(loc=[0, 0], scale=[1, 2])`` is the box ``[0, 1] x [0, 2]``);
        * a frozen *multivariate* distribution whose ``logpdf`` maps ``(m, theta_dim)``
          to ``(m,)`` and ``rvs(size=m)`` draws ``(m, theta_dim)``, e.g.
          ``scipy.stats.multivariate_normal(mean, cov)`` or
          ``scipy.stats.multivariate_t``;
        * box bounds ``[low, high]``, shape ``(2, theta_dim)`` with ``low < high``: the
          uniform prior on the closed box.

        The support is where ``log p(theta) > -inf``.
    n_samples : int, default=10_000
        Number of draws returned.
    n_walkers : int, default=32
        Walkers of the ensemble (at least ``2 * theta_dim``).
    burn_in : int, default=1000
        Steps per walker discarded at the start.
    thin : int, default=1
        Keep one step in ``thin`` after burn-in. Raise it (or ``n_samples``) until the
        chain is longer than 50 autocorrelation times (see Warns).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the initial walkers and emcee's proposals (emcee draws from its own
        :class:`numpy.random.RandomState`, seeded from this one, not from numpy's global
        state). With an int the output is reproducible.
    initial : array-like of shape (n_walkers, theta_dim) or (theta_dim,), default=None
        Initial walkers; a single point is spread into a Gaussian ball of relative
        width ``1e-4``. Every initial walker must lie in the prior's support. By default
        the walkers are drawn from the prior.
    log_likelihood : callable or None, default=None
        Alternative to ``likelihood``: ``log_likelihood(thetas, observations,
        **log_likelihood_kwargs)`` with ``thetas`` of shape ``(m, theta_dim)`` (only
        points inside the prior's support) and ``observations`` of shape
        ``(n_obs, x_dim)``, returning the total log-likelihood of each row,
        shape ``(m,)``.
    log_likelihood_kwargs : dict or None, default=None
        Extra keyword arguments of ``likelihood.log_prob`` (or ``log_likelihood``). For
        a :class:`~skflows.ManifoldFlowRegressor` with an unconditional manifold,
        ``{"include_log_det": False}`` skips the volume term of the M-flow density,
        which depends on the observations only and cancels in the posterior (Brehmer
        & Cranmer's fixed-manifold mode): the same chain, several times cheaper.
    moves : emcee move or list, default=None
        Passed to :class:`emcee.EnsembleSampler` (None: the stretch move).
    progress : bool, default=False
        Show emcee's progress bar (needs ``tqdm``).

    Returns
    -------
    result : PosteriorSamples
        ``result.samples`` (shape ``(n_samples, theta_dim)``; also
        ``np.asarray(result)``), their ``log_posterior``, and the diagnostics:
        per-walker ``acceptance_fraction`` (and ``mean_acceptance_fraction``),
        ``autocorr_time`` per parameter (steps of the unthinned chain),
        ``effective_sample_size``, ``n_steps``, ``burn_in``, ``thin`` and the
        ``sampler``.

    Raises
    ------
    ImportError
        If ``emcee`` is not installed.
    ValueError
        If both or neither of ``likelihood`` and ``log_likelihood`` are given, the
        counts are invalid, ``n_walkers < 2 * theta_dim``, the observations or the prior
        are malformed, ``initial`` has the wrong shape or a walker outside the prior's
        support, ``likelihood.n_features_in_`` differs from ``theta_dim``, or the
        likelihood fails on, or returns the wrong shape for, the initial walkers (e.g.
        observations with the wrong ``x_dim``).
    TypeError
        If ``likelihood`` has no ``log_prob`` method or ``log_likelihood`` is not
        callable.

    Warns
    -----
    MCMCConvergenceWarning
        (a :class:`RuntimeWarning`) when the chain kept after burn-in is shorter than
        50 autocorrelation times, or the mean acceptance fraction is outside
        ``[0.1, 0.9]``.

    References
    ----------
    .. [1] D. Foreman-Mackey, D. W. Hogg, D. Lang, J. Goodman. emcee: The MCMC Hammer.
       PASP 125(925):306, 2013.
    .. [2] J. Goodman, J. Weare. Ensemble samplers with affine invariance. Communications
       in Applied Mathematics and Computational Science 5(1):65, 2010.
    .. [3] G. Papamakarios, D. C. Sterratt, I. Murray. Sequential Neural Likelihood:
       Fast Likelihood-free Inference with Autoregressive Flows. AISTATS 2019 (MCMC on a
       learned likelihood times the prior).
    .. [4] J. Brehmer, K. Cranmer. Flows for simultaneous manifold learning and density
       estimation. NeurIPS 2020, Sec. 4 (posterior inference with M-flow likelihoods).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from skflows.inference import sample_posterior
    >>> def log_lik(thetas, obs):  # x | theta ~ N(theta, 1)
    ...     return stats.norm.logpdf(obs[None, :, 0], thetas[:, :1]).sum(axis=1)
    >>> obs = np.array([[0.8], [1.2], [1.0]])
    >>> res = sample_posterior(None, obs, stats.norm(0, 10), log_likelihood=log_lik,
    ...                        n_samples=4000, n_walkers=8, burn_in=200, thin=10,
    ...                        random_state=0)
    >>> res.samples.shape
    (4000, 1)
    >>> bool(abs(res.samples.mean() - 1.0) < 0.1)
    True
    """
    try:
        import emcee
    except ImportError as err:  # pragma: no cover - exercised without emcee only
        raise ImportError("sample_posterior needs emcee (pip install emcee).") from err

    if (likelihood is None) == (log_likelihood is None):
        raise ValueError("Give exactly one of likelihood (an estimator with log_prob) "
                         "and log_likelihood (a callable).")
    if likelihood is not None and not callable(getattr(likelihood, "log_prob", None)):
        raise TypeError(f"{type(likelihood).__name__} has no log_prob(X, y) method.")
    if log_likelihood is not None and not callable(log_likelihood):
        raise TypeError("log_likelihood must be callable.")
    n_samples = _int(n_samples, "n_samples", 1)
    n_walkers = _int(n_walkers, "n_walkers", 2)
    burn_in = _int(burn_in, "burn_in", 0)
    thin = _int(thin, "thin", 1)
    kwargs = dict(log_likelihood_kwargs or {})

    obs = _observations(observations)
    prior_ = _Prior(prior)
    p = prior_.dim
    if n_walkers < 2 * p:
        raise ValueError(f"n_walkers={n_walkers} must be at least 2 * theta_dim = {2 * p}.")
    n_in = getattr(likelihood, "n_features_in_", None)
    if n_in is not None and int(n_in) != p:
        raise ValueError(f"The likelihood's condition has n_features_in_={n_in} "
                         f"features but the prior has theta_dim={p}.")

    rng = _random_state(random_state)
    walkers = _initial(initial, prior_, n_walkers, rng)
    log_post = _LogPosterior(likelihood, log_likelihood, obs, prior_, kwargs)
    if not np.all(np.isfinite(prior_.log_prob(walkers))):
        raise ValueError("Some initial walkers lie outside the prior's support.")
    try:  # the first batch checks the shapes, with a message that names them
        lp0 = log_post(walkers)
    except (ValueError, RuntimeError, IndexError, TypeError) as err:
        raise ValueError(f"Evaluating the likelihood on the initial walkers failed "
                         f"(theta_dim={p}, x_dim={obs.shape[1]}, n_obs={obs.shape[0]}): "
                         f"{err}") from err

    n_kept = -(-n_samples // n_walkers)
    n_steps = burn_in + n_kept * thin
    sampler = emcee.EnsembleSampler(n_walkers, p, log_post, vectorize=True, moves=moves)
    seed_state = np.random.RandomState(int(rng.randint(2 ** 32, dtype=np.uint64)))
    state = emcee.State(walkers, log_prob=lp0, random_state=seed_state.get_state())
    sampler.run_mcmc(state, n_steps, progress=progress)

    samples = sampler.get_chain(discard=burn_in, thin=thin, flat=True)[-n_samples:]
    log_prob = sampler.get_log_prob(discard=burn_in, thin=thin, flat=True)[-n_samples:]
    n_after = n_steps - burn_in
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.asarray(sampler.get_autocorr_time(discard=burn_in, tol=0, quiet=True),
                         dtype=np.float64)
        ess = np.minimum(float(n_samples), n_samples * thin / tau)
    accept = np.asarray(sampler.acceptance_fraction, dtype=np.float64)
    _warn_if_unreliable(accept, tau, n_after, n_walkers, n_samples)
    return PosteriorSamples(samples=samples, log_posterior=log_prob,
                            acceptance_fraction=accept, autocorr_time=tau,
                            effective_sample_size=ess, n_steps=n_steps, burn_in=burn_in,
                            thin=thin, sampler=sampler)
