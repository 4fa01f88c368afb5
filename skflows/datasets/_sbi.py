"""Simulation-based-inference benchmark tasks (priors, simulators, reference posteriors).

Three tasks of the sbibm benchmark of Lueckmann et al. (2021), with the priors,
simulators and dimensions of its task definitions:

- ``"two_moons"``: ``theta ~ U([-1, 1]^2)``; with ``a ~ U(-pi/2, pi/2)`` and
  ``r ~ N(0.1, 0.01^2)``,
  ``x = (r cos a + 0.25 - |theta_1 + theta_2| / sqrt 2, r sin a + (theta_2 - theta_1) / sqrt 2)``.
  The posterior is bimodal (crescent shaped); it is sampled exactly by inverting the
  simulator (:meth:`SBITask.sample_posterior`).
- ``"gaussian_linear_uniform"``: ``theta ~ U([-1, 1]^10)``,
  ``x | theta ~ N(theta, 0.1 I)`` (covariance ``0.1 I``, i.e. noise standard deviation
  ``sqrt(0.1)``). The posterior is ``N(x_obs, 0.1 I)`` truncated to the prior box, a
  product of one-dimensional truncated normals, sampled exactly.
- ``"slcp"`` (simple likelihood, complex posterior): ``theta ~ U([-3, 3]^5)``; ``x``
  holds four independent draws (flattened as ``(x_11, x_12, x_21, ..., x_42)``, 8
  values) from the bivariate normal with mean ``(theta_1, theta_2)`` and covariance
  ``[[s_1^2, rho s_1 s_2], [rho s_1 s_2, s_2^2]] + 1e-6 I`` where ``s_1 = theta_3^2``,
  ``s_2 = theta_4^2`` and ``rho = tanh(theta_5)`` (the ``1e-6`` jitter is the one
  sbibm's simulator adds to keep the covariance positive definite). It has no
  analytic posterior.

:func:`make_sbi_task` returns a task by name (:data:`SBI_TASKS`), :func:`simulate_sbi`
draws ``(theta, x)`` pairs from the joint law. NumPy (and ``scipy.special`` for the
normal quantile function), vectorised over rows; randomness through
:func:`sklearn.utils.check_random_state` (a :class:`numpy.random.Generator` is also
accepted), so an int seed gives the same output on every call.

References
----------
.. [SBIBM] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
   (2021). Benchmarking Simulation-Based Inference. AISTATS 2021, PMLR 130;
   arXiv:2101.04653 (appendix T: task definitions; reference implementation
   https://github.com/sbi-benchmark/sbibm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtri_exp

from ._toy import _check_int, _check_n_samples, _check_real, _check_rng

__all__ = ["SBI_TASKS", "SBITask", "make_sbi_task", "simulate_sbi"]

SBI_TASKS = ("two_moons", "gaussian_linear_uniform", "slcp")

_SQRT_HALF = math.sqrt(0.5)
# two moons: a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2), offset 0.25 along the first axis
_MOON_R_LOC = 0.1
_MOON_R_SCALE = 0.01
_MOON_OFFSET = 0.25
# slcp: four iid bivariate draws per parameter; jitter added to the covariance diagonal
_SLCP_N_DRAWS = 4
_SLCP_JITTER = 1e-6
# two moons rejection sampler: give up when x_obs is (nearly) impossible, i.e. when
# after this many proposals the acceptance rate is still below _MIN_ACCEPTANCE
_GIVE_UP_AFTER = 4_000_000
_MIN_ACCEPTANCE = 1e-6
_MAX_BATCH = 2_000_000


def _check_rows(A, n_features, name):
    """Return ``A`` as a finite float64 array of shape (n_rows, n_features)."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != n_features:
        raise ValueError(f"{name} must be a 2-D array of shape (n, {n_features}), got "
                         f"shape {A.shape}.")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} must not contain NaN or infinity.")
    return A


@dataclass(frozen=True, eq=False)
class SBITask:
    """A simulation-based-inference task: box-uniform prior, simulator, posterior.

    Obtain instances with :func:`make_sbi_task`; this class holds what all tasks
    share (name, dimensions, the prior box) and the methods to sample the prior, run
    the simulator and, where one is known, sample the exact posterior.

    Parameters
    ----------
    name : str
        Task name, one of :data:`SBI_TASKS`.
    theta_dim : int
        Number of parameters.
    x_dim : int
        Number of simulated data values per parameter vector.
    bounds : ndarray of shape (2, theta_dim)
        Lower (row 0) and upper (row 1) corners of the support of the uniform prior
        (stored read-only).

    Attributes
    ----------
    has_posterior : bool
        Whether :meth:`sample_posterior` is available (an analytic posterior exists).

    References
    ----------
    .. [1] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
       (2021). Benchmarking Simulation-Based Inference. AISTATS 2021;
       arXiv:2101.04653 (appendix T: task definitions).

    Examples
    --------
    >>> from skflows.datasets import make_sbi_task
    >>> task = make_sbi_task("two_moons")
    >>> theta = task.sample_prior(5, random_state=0)
    >>> task.simulate(theta, random_state=0).shape
    (5, 2)
    """

    name: str
    theta_dim: int
    x_dim: int
    bounds: np.ndarray

    def __post_init__(self):
        bounds = np.array(self.bounds, dtype=np.float64)
        if bounds.shape != (2, self.theta_dim) or not np.all(bounds[0] < bounds[1]):
            raise ValueError(f"bounds must have shape (2, {self.theta_dim}) with "
                             f"bounds[0] < bounds[1], got {bounds!r}.")
        bounds.setflags(write=False)
        object.__setattr__(self, "bounds", bounds)

    # -- to be provided by the tasks
    has_posterior = False

    def _simulate(self, theta, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _posterior(self, x_obs, n, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public
    def sample_prior(self, n_samples, random_state=None):
        """Draw parameters from the uniform prior on the box :attr:`bounds`.

        Parameters
        ----------
        n_samples : int
            Number of draws (``>= 0``).
        random_state : int, RandomState instance, Generator or None, default=None
            Seed or generator, see :func:`sklearn.utils.check_random_state`.

        Returns
        -------
        theta : ndarray of shape (n_samples, theta_dim)
            Prior draws (float64).

        Raises
        ------
        ValueError
            If ``n_samples`` is not a non-negative int.
        """
        n = _check_n_samples(n_samples)
        rng = _check_rng(random_state)
        low, high = self.bounds
        return low + (high - low) * rng.uniform(0.0, 1.0, size=(n, self.theta_dim))

    def log_prior(self, theta):
        """Log density of the uniform prior (``-inf`` outside the closed box).

        Parameters
        ----------
        theta : array-like of shape (n_samples, theta_dim)
            Parameters.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``-sum(log(high - low))`` inside the box, ``-inf`` outside.

        Raises
        ------
        ValueError
            If ``theta`` is not 2-D with ``theta_dim`` columns or has NaN.
        """
        theta = np.asarray(theta, dtype=np.float64)
        if theta.ndim != 2 or theta.shape[1] != self.theta_dim:
            raise ValueError(f"theta must be a 2-D array of shape (n, {self.theta_dim}),"
                             f" got shape {theta.shape}.")
        if np.isnan(theta).any():
            raise ValueError("theta must not contain NaN.")
        low, high = self.bounds
        inside = np.all((theta >= low) & (theta <= high), axis=1)
        value = -float(np.sum(np.log(high - low)))
        return np.where(inside, value, -np.inf)

    def simulate(self, theta, random_state=None):
        """Run the simulator once for each row of ``theta`` (vectorised).

        Parameters
        ----------
        theta : array-like of shape (n_samples, theta_dim)
            Parameters; values outside the prior box are simulated too.
        random_state : int, RandomState instance, Generator or None, default=None
            Seed or generator, see :func:`sklearn.utils.check_random_state`.

        Returns
        -------
        x : ndarray of shape (n_samples, x_dim)
            Simulated data (float64), row ``i`` drawn given ``theta[i]``.

        Raises
        ------
        ValueError
            If ``theta`` is not 2-D with ``theta_dim`` columns or is not finite.
        NotImplementedError
            On a bare :class:`SBITask` not made by :func:`make_sbi_task`.
        """
        theta = _check_rows(theta, self.theta_dim, "theta")
        rng = _check_rng(random_state)
        return self._simulate(theta, rng)

    def sample_posterior(self, x_obs, n_samples, random_state=None):
        """Draw exactly from the posterior ``p(theta | x_obs)`` (where known).

        Available for ``"two_moons"`` (inversion of the simulator, then rejection of
        the draws outside the prior box) and ``"gaussian_linear_uniform"`` (truncated
        normal, inverse-CDF sampling per coordinate); see the task descriptions in
        :func:`make_sbi_task`.

        Parameters
        ----------
        x_obs : array-like of shape (x_dim,) or (1, x_dim)
            The observation.
        n_samples : int
            Number of posterior draws (``>= 0``).
        random_state : int, RandomState instance, Generator or None, default=None
            Seed or generator, see :func:`sklearn.utils.check_random_state`.

        Returns
        -------
        theta : ndarray of shape (n_samples, theta_dim)
            Independent posterior draws (float64), all inside :attr:`bounds`.

        Raises
        ------
        NotImplementedError
            If the task has no analytic posterior (``has_posterior`` is False).
        ValueError
            If ``x_obs`` has the wrong size or is not finite, or ``n_samples`` is not a
            non-negative int.
        RuntimeError
            (``"two_moons"``) If ``x_obs`` is impossible or so unlikely under the model
            that fewer than one in a million proposals is accepted (checked after
            four million proposals).
        """
        if not self.has_posterior:
            raise NotImplementedError(
                f"Task {self.name!r} has no analytic posterior to sample from.")
        x_obs = np.asarray(x_obs, dtype=np.float64)
        if x_obs.size != self.x_dim or x_obs.ndim > 2 or (
                x_obs.ndim == 2 and x_obs.shape[0] != 1):
            raise ValueError(f"x_obs must have shape ({self.x_dim},) or (1, {self.x_dim}),"
                             f" got shape {x_obs.shape}.")
        x_obs = x_obs.reshape(self.x_dim)
        if not np.isfinite(x_obs).all():
            raise ValueError("x_obs must not contain NaN or infinity.")
        n = _check_n_samples(n_samples)
        rng = _check_rng(random_state)
        return self._posterior(x_obs, n, rng)


# ----------------------------------------------------------------------------- two moons
def _moon_points(rng, n):
    """``n`` draws of ``p = (r cos a + 0.25, r sin a)``: the simulator at theta = 0."""
    a = rng.uniform(-0.5 * math.pi, 0.5 * math.pi, size=n)
    r = rng.normal(_MOON_R_LOC, _MOON_R_SCALE, size=n)
    return np.stack([r * np.cos(a) + _MOON_OFFSET, r * np.sin(a)], axis=1)


@dataclass(frozen=True, eq=False)
class _TwoMoons(SBITask):
    has_posterior = True

    def _simulate(self, theta, rng):
        p = _moon_points(rng, len(theta))
        # rotate theta by -pi/4: z = (theta_1 + theta_2, theta_2 - theta_1) / sqrt 2,
        # then fold the first coordinate: x = p + (-|z_1|, z_2)
        z0 = _SQRT_HALF * (theta[:, 0] + theta[:, 1])
        z1 = _SQRT_HALF * (theta[:, 1] - theta[:, 0])
        return p + np.stack([-np.abs(z0), z1], axis=1)

    def _posterior(self, x_obs, n, rng):
        # p(theta | x) is proportional to p_P(x - g(theta)) on the prior box, with
        # g(theta) = (-|z_1|, z_2) and z a rotation of theta (unit Jacobian, 2-to-1
        # through the fold). So draw p from the simulator at theta = 0, solve
        # |z_1| = p_1 - x_1 (impossible if negative: reject), z_2 = x_2 - p_2, pick the
        # sign of z_1 with probability 1/2, rotate back and keep draws in the box.
        out = np.empty((n, 2))
        filled = 0
        proposed = 0
        accepted_rate = None
        low, high = self.bounds
        while filled < n:
            need = n - filled
            if accepted_rate is None:
                batch = max(2 * need, 1000)
            else:
                batch = int(1.2 * need / accepted_rate) + 100
            batch = min(batch, _MAX_BATCH)
            p = _moon_points(rng, batch)
            sign = np.where(rng.uniform(0.0, 1.0, size=batch) < 0.5, -1.0, 1.0)
            fold = p[:, 0] - x_obs[0]
            z0 = sign * fold
            z1 = x_obs[1] - p[:, 1]
            theta = np.stack([_SQRT_HALF * (z0 - z1), _SQRT_HALF * (z0 + z1)], axis=1)
            keep = (fold >= 0.0) & np.all((theta >= low) & (theta <= high), axis=1)
            theta = theta[keep][:need]
            out[filled:filled + len(theta)] = theta
            filled += len(theta)
            proposed += batch
            n_keep = int(keep.sum())
            if n_keep:
                rate = n_keep / batch
                accepted_rate = rate if accepted_rate is None else min(accepted_rate, rate)
            else:
                accepted_rate = (accepted_rate or 1.0) / 10.0
            if (filled < n and proposed >= _GIVE_UP_AFTER
                    and filled < _MIN_ACCEPTANCE * proposed):
                raise RuntimeError(
                    f"two_moons posterior: only {filled} of {n} draws accepted after "
                    f"{proposed} proposals; x_obs={x_obs.tolist()} is impossible or "
                    "extremely unlikely under the model.")
        return out


# ----------------------------------------------------------------- gaussian linear uniform
@dataclass(frozen=True, eq=False)
class _GaussianLinearUniform(SBITask):
    noise_variance: float = 0.1
    has_posterior = True

    def _simulate(self, theta, rng):
        return theta + math.sqrt(self.noise_variance) * rng.normal(size=theta.shape)

    def _posterior(self, x_obs, n, rng):
        # prior flat on the box, likelihood N(x_obs | theta, s^2 I): the posterior is
        # N(x_obs, s^2 I) restricted to the box, independent across coordinates.
        scale = math.sqrt(self.noise_variance)
        low, high = self.bounds
        a = (low - x_obs) / scale
        b = (high - x_obs) / scale
        # Work on the side of the normal where the interval's far end lies in the left
        # tail, where Phi is resolved in log space (log_ndtr / ndtri_exp).
        flip = (a + b) > 0.0
        lo = np.where(flip, -b, a)
        hi = np.where(flip, -a, b)
        log_lo, log_hi = log_ndtr(lo), log_ndtr(hi)
        u = rng.uniform(0.0, 1.0, size=(n, self.theta_dim))
        with np.errstate(divide="ignore"):
            # log(Phi(lo) + u (Phi(hi) - Phi(lo))) = log((1 - u) Phi(lo) + u Phi(hi))
            log_p = np.logaddexp(np.log1p(-u) + log_lo, np.log(u) + log_hi)
        z = np.clip(ndtri_exp(log_p), lo, hi)
        z = np.where(flip, -z, z)
        return np.clip(x_obs + scale * z, low, high)


# ----------------------------------------------------------------------------- slcp
@dataclass(frozen=True, eq=False)
class _SLCP(SBITask):

    def _simulate(self, theta, rng):
        n = len(theta)
        s1 = theta[:, 2] ** 2
        s2 = theta[:, 3] ** 2
        rho = np.tanh(theta[:, 4])
        var1 = s1 ** 2 + _SLCP_JITTER
        var2 = s2 ** 2 + _SLCP_JITTER
        cov = rho * s1 * s2
        # Cholesky factor of the 2 x 2 covariance, row by row
        l11 = np.sqrt(var1)
        l21 = cov / l11
        l22 = np.sqrt(np.maximum(var2 - l21 ** 2, 0.0))
        eps = rng.normal(size=(n, _SLCP_N_DRAWS, 2))
        first = theta[:, [0]] + l11[:, None] * eps[:, :, 0]
        second = theta[:, [1]] + l21[:, None] * eps[:, :, 0] + l22[:, None] * eps[:, :, 1]
        return np.stack([first, second], axis=2).reshape(n, 2 * _SLCP_N_DRAWS)


# ----------------------------------------------------------------------------- public
def make_sbi_task(name, **params):
    """Return an SBI benchmark task by name.

    ============================= ========= ======= =============== ================
    name                          theta_dim x_dim   prior box       posterior
    ============================= ========= ======= =============== ================
    ``"two_moons"``               2         2       ``[-1, 1]^2``   exact
    ``"gaussian_linear_uniform"`` ``dim``   ``dim`` ``[-b, b]^dim`` exact
    ``"slcp"``                    5         8       ``[-3, 3]^5``   none
    ============================= ========= ======= =============== ================

    ``two_moons``: with ``a ~ U(-pi/2, pi/2)`` and ``r ~ N(0.1, 0.01^2)``,
    ``x = (r cos a + 0.25 - |theta_1 + theta_2| / sqrt 2, r sin a + (theta_2 - theta_1)
    / sqrt 2)``. Its posterior is sampled by inverting the simulator as sbibm does for
    its reference posterior, with one difference: simulator draws ``p`` with
    ``p_1 < x_obs[0]`` (no parameter maps them to ``x_obs``) are rejected here, while
    sbibm keeps them with a mirrored fold; the two agree whenever ``x_obs[0] <= 0.25``.

    ``gaussian_linear_uniform``: ``x | theta ~ N(theta, noise_variance * I)``; the
    posterior is ``N(x_obs, noise_variance * I)`` truncated to the box (sbibm samples
    it by rejection from the untruncated normal; here each coordinate is drawn by the
    inverse CDF of its truncated normal, the same law, with no rejection).

    ``slcp``: four iid draws from ``N((theta_1, theta_2), S)`` with
    ``S = [[s_1^2, rho s_1 s_2], [rho s_1 s_2, s_2^2]] + 1e-6 I``, ``s_1 = theta_3^2``,
    ``s_2 = theta_4^2``, ``rho = tanh(theta_5)``, flattened draw by draw.

    Parameters
    ----------
    name : str
        One of :data:`SBI_TASKS`.
    **params
        Only for ``"gaussian_linear_uniform"``: ``dim`` (int, default 10),
        ``prior_bound`` (float ``b > 0``, default 1.0) and ``noise_variance`` (float,
        default 0.1), the benchmark's values by default.

    Returns
    -------
    task : SBITask
        The task (immutable).

    Raises
    ------
    ValueError
        If ``name`` is unknown or a parameter is invalid.
    TypeError
        If ``params`` holds an unknown keyword for the task.

    References
    ----------
    .. [1] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
       (2021). Benchmarking Simulation-Based Inference. AISTATS 2021;
       arXiv:2101.04653 (appendix T: Gaussian Linear Uniform, SLCP, Two Moons).
    .. [2] G. Papamakarios, D. Sterratt, I. Murray (2019). Sequential Neural Likelihood.
       AISTATS 2019 (the SLCP model).
    .. [3] D. S. Greenberg, M. Nonnenmacher, J. H. Macke (2019). Automatic Posterior
       Transformation for Likelihood-Free Inference. ICML 2019 (the two moons model).

    Examples
    --------
    >>> from skflows.datasets import make_sbi_task
    >>> task = make_sbi_task("slcp")
    >>> task.theta_dim, task.x_dim, task.bounds[:, 0].tolist()
    (5, 8, [-3.0, 3.0])
    """
    if name not in SBI_TASKS:
        raise ValueError(f"Unknown SBI task {name!r}; choose one of {SBI_TASKS}.")
    if name == "gaussian_linear_uniform":
        unknown = set(params) - {"dim", "prior_bound", "noise_variance"}
        if unknown:
            raise TypeError(f"Unknown parameters for {name!r}: {sorted(unknown)}.")
        dim = _check_int(params.get("dim", 10), "dim", low=1)
        bound = _check_real(params.get("prior_bound", 1.0), "prior_bound", low=0.0,
                            low_strict=True)
        noise = _check_real(params.get("noise_variance", 0.1), "noise_variance", low=0.0,
                            low_strict=True)
        box = np.stack([np.full(dim, -bound), np.full(dim, bound)])
        return _GaussianLinearUniform(name, dim, dim, box, noise_variance=noise)
    if params:
        raise TypeError(f"Task {name!r} takes no parameters, got {sorted(params)}.")
    if name == "two_moons":
        return _TwoMoons(name, 2, 2, np.array([[-1.0, -1.0], [1.0, 1.0]]))
    return _SLCP(name, 5, 2 * _SLCP_N_DRAWS, np.stack([np.full(5, -3.0), np.full(5, 3.0)]))


def simulate_sbi(name, n_simulations, random_state=None):
    """Draw ``(theta, x)`` pairs from the joint law of a benchmark task.

    ``theta`` is drawn from the prior, then ``x`` from the simulator given ``theta``,
    both from the same random stream.

    Parameters
    ----------
    name : str
        One of :data:`SBI_TASKS` (benchmark settings, see :func:`make_sbi_task`).
    n_simulations : int
        Number of pairs (``>= 0``).
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator, see :func:`sklearn.utils.check_random_state`.

    Returns
    -------
    theta : ndarray of shape (n_simulations, theta_dim)
        Parameters drawn from the prior.
    x : ndarray of shape (n_simulations, x_dim)
        Simulated data.

    Raises
    ------
    ValueError
        If ``name`` is unknown or ``n_simulations`` is not a non-negative int.

    References
    ----------
    .. [1] J.-M. Lueckmann, J. Boelts, D. S. Greenberg, P. J. Goncalves, J. H. Macke
       (2021). Benchmarking Simulation-Based Inference. AISTATS 2021;
       arXiv:2101.04653.

    Examples
    --------
    >>> from skflows.datasets import simulate_sbi
    >>> theta, x = simulate_sbi("gaussian_linear_uniform", 100, random_state=0)
    >>> theta.shape, x.shape
    ((100, 10), (100, 10))
    """
    task = make_sbi_task(name)
    n = _check_n_samples(n_simulations)
    rng = _check_rng(random_state)
    theta = task.sample_prior(n, random_state=rng)
    return theta, task.simulate(theta, random_state=rng)
