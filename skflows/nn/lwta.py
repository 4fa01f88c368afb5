r"""Stochastic local-winner-takes-all (LWTA) units and the random normalizing flow built
from them.

LWTA layer (Panousis, Chatzis & Theodoridis, "Nonparametric Bayesian deep networks with
local competition", ICML 2019, Sec. 3): the ``n_blocks * n_competitors`` linear responses
``h`` are split into blocks of ``n_competitors`` competing units; in every block one winner
``xi`` is drawn from ``Categorical(softmax(h_block))`` and passes its linear response, the
losers output 0.

Random flow: LWTA blocks in the first hidden layer of each coupling conditioner (all of
it, or a few blocks next to deterministic ReLU units). The
winners of layer ``l`` depend only on the coupling's identity half ``a_l``, which is the
same in both directions, so the model is a finite mixture of bijective flows

.. math:: p(x) = \sum_{\xi} p(x \mid \xi) \prod_l \pi(\xi_l \mid a_l),

and, sampling the winners from ``pi`` itself, the ``pi`` terms cancel in the evidence lower
bound ``log p(x) >= E_xi[log p(x | xi)]`` (Cornish et al., "Relaxing bijectivity constraints
with continuously indexed normalising flows", ICML 2020, Sec. 3, for the same argument
with a continuous index). ``log p(x | xi) = log p_Z(z) + sum_l log |det J_l|``.

The model is the *discrete* mixture everywhere: winners are hard one-hot vectors in every
forward pass. In training, gradients reach the winner logits through the straight-through
Gumbel-softmax estimator (Jang, Gu & Poole, ICLR 2017, Sec. 2.2; temperature 0.67 as in the
LWTA reference code), so the training loss *value* is exactly the bound of the evaluated
model. Training may also use the importance-weighted bound with several draws per row
(``FlowDensity(n_train_samples=...)``): it penalises mixture members that disagree on
``x`` less than the single-draw bound does (Burda et al. 2016, Theorem 1: the bound
tightens as draws are added). Scoring uses the importance-weighted estimate
``log (1/S) sum_s p(x | xi_s)`` (Burda, Grosse & Salakhutdinov, ICLR 2016, Eq. 8), whose
expectation lies between the bound and ``log p(x)`` and tends to ``log p(x)`` as ``S``
grows.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import Transform, _check_features, _check_int
from .flows import Flow, StandardNormal, stack_couplings
from .linear import BatchedLinear
from .splines import _spline

__all__ = ["LWTA", "StochasticSplineCoupling", "StochasticFlow", "lwta_flow",
           "keyed_uniform", "row_keys"]

_PRIME = 2147483647  # 2**31 - 1
_EPS = 1e-6

def _is_integer_tensor(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def row_keys(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """An integer key per row, a deterministic function of the row's values and ``seed``.

    The float64 bit pattern of every entry is hashed with per-position weights and
    mixed by a few multiply-xorshift rounds over ``Z / (2**31 - 1)``, so equal rows give
    equal keys and different rows (almost surely) different ones.

    Parameters
    ----------
    x : Tensor of shape (..., n, d)
        Rows to key (any real dtype; values are read as float64).
    seed : int, default=0
        Offsets every key, giving an independent family of keys.

    Returns
    -------
    keys : LongTensor of shape (..., n)
        Keys in ``[0, 2**31 - 1)``.

    Raises
    ------
    ValueError
        If ``x`` has no axis (a 0-d tensor) or ``seed`` is not an int.

    References
    ----------
    .. [1] S. K. Park, K. W. Miller. Random Number Generators: Good Ones Are Hard to
       Find. Communications of the ACM 31(10), 1988 (multiplicative congruential steps
       modulo the prime ``2**31 - 1``).
    .. [2] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw. Parallel Random Numbers:
       As Easy as 1, 2, 3. SC 2011 (counter-based random numbers: a keyed bijection of a
       counter instead of a sequential state); the hash itself is this project's own.
    """
    if x.dim() == 0:
        raise ValueError("x must have at least one axis (the features), got a 0-d tensor.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int, got {seed!r}.")
    bits = x.detach().to(torch.float64).contiguous().view(torch.int64)
    low, high = bits & 0x7FFFFFFF, (bits >> 32) & 0x7FFFFFFF
    d = x.shape[-1]
    j = torch.arange(1, d + 1, device=x.device, dtype=torch.int64)
    w_low, w_high = (j * 40503 + 17) % 65521 + 1, (j * 30011 + 29) % 65519 + 1
    key = ((low % _PRIME) * w_low + (high % _PRIME) * w_high) % _PRIME
    key = (key.sum(-1) + seed % _PRIME) % _PRIME
    return _mix(key)


def _mix(k: torch.Tensor) -> torch.Tensor:
    """A few rounds of a non-linear integer mixer on values in [0, 2**31 - 1)."""
    for _ in range(4):
        k = (k * 48271) % _PRIME
        k = k ^ (k >> 15)
        k = (k * 69621) % _PRIME
        k = k ^ (k >> 11)
    return k


def keyed_uniform(keys: torch.Tensor, streams: torch.Tensor, shape: Sequence[int],
                  dtype=torch.float64) -> torch.Tensor:
    """Pseudo-random uniforms in (0, 1) determined by a row key and a stream number.

    Each row's draws depend only on its own key, so a batch's random numbers do not
    depend on which other rows share the batch (scores are subset- and order-invariant).

    Parameters
    ----------
    keys : LongTensor of shape (..., n)
        From :func:`row_keys`.
    streams : LongTensor of shape (S,)
        Independent stream numbers (for example one per Monte-Carlo sample).
    shape : sequence of int
        Trailing shape of the draws per row, entries ``>= 0``.
    dtype : torch.dtype, default=torch.float64
        Floating dtype of the result.

    Returns
    -------
    u : Tensor of shape (S, ..., n) + shape
        Values in ``(0, 1)``, on a grid of step ``2**-31``.

    Raises
    ------
    ValueError
        If ``keys`` or ``streams`` is not an integer tensor, ``streams`` is not 1-D, or
        an entry of ``shape`` is negative.
    TypeError
        If ``shape`` is not iterable (raised by Python).

    References
    ----------
    .. [1] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw. Parallel Random Numbers:
       As Easy as 1, 2, 3. SC 2011 (counter-based generation: the ``i``-th draw
       is a keyed function of ``i``, so draws need no shared sequential state).
    .. [2] S. K. Park, K. W. Miller. Random Number Generators: Good Ones Are Hard to
       Find. Communications of the ACM 31(10), 1988 (arithmetic modulo ``2**31 - 1``);
       the mixing rounds are this project's own.
    """
    if not (_is_integer_tensor(keys) and _is_integer_tensor(streams)) or streams.dim() != 1:
        raise ValueError("keys and streams must be integer tensors and streams 1-D; got "
                         f"{keys.dtype} keys and {streams.dtype} streams of shape "
                         f"{tuple(streams.shape)}.")
    shape = tuple(shape)
    if any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0
           for k in shape):
        raise ValueError(f"shape must hold ints >= 0, got {shape!r}.")
    count = math.prod(shape)
    offsets = (torch.arange(count, device=keys.device, dtype=torch.int64) + 1) * 7919
    streams = (streams.to(keys.device) % _PRIME) * 104729 % _PRIME
    view = (-1,) + (1,) * (keys.dim() + 1)
    k = (keys.unsqueeze(-1) + offsets + streams.reshape(view)) % _PRIME
    k = _mix(_mix(k) ^ 0x5BD1E995)
    u = (k.to(torch.float64) + 0.5) / (_PRIME + 1)
    return u.reshape(len(streams), *keys.shape, *shape).to(dtype)


class LWTA(nn.Module):
    """Stochastic LWTA layer: linear responses, one random winner per block.

    Parameters
    ----------
    in_features : int
        Input width (0 allowed: responses are then learned constants).
    n_blocks : int
        Number of competing blocks ``K``.
    n_competitors : int
        Units per block ``U``.
    n_components : int or None, default=None
        Independent weight sets on a leading axis.
    temperature : float, default=0.67
        Gumbel-softmax temperature of the straight-through gradient in training.

    References
    ----------
    .. [1] K. P. Panousis, S. Chatzis, S. Theodoridis. Nonparametric Bayesian Deep
       Networks with Local Competition. ICML 2019, Sec. 3 (stochastic LWTA blocks: one
       winner per block drawn from the softmax of the linear responses).
    .. [2] K. P. Panousis, S. Chatzis, A. Alexos, S. Theodoridis. Local Competition and
       Stochasticity for Adversarial Robustness in Deep Learning. AISTATS 2021 (the same stochastic LWTA layer with a Gumbel-softmax relaxation in training).
    .. [3] E. Jang, S. Gu, B. Poole. Categorical Reparameterization with
       Gumbel-Softmax. ICLR 2017, Sec. 2 (Gumbel-max draws, Eq. 1; the relaxation,
       Eq. 2; the straight-through estimator, Sec. 2.2).
    """

    def __init__(self, in_features: int, n_blocks: int, n_competitors: int,
                 n_components: int | None = None, temperature: float = 0.67):
        super().__init__()
        self.linear = BatchedLinear(in_features, n_blocks * n_competitors, n_components)
        self.n_blocks = n_blocks
        self.n_competitors = n_competitors
        self.temperature = temperature

    def forward(self, x: torch.Tensor, uniforms: torch.Tensor | None = None,
                winners: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Winner-takes-all output and the log-probability of the winners.

        Parameters
        ----------
        x : Tensor of shape (..., n, in_features)
        uniforms : Tensor of shape (..., n, K, U), optional
            Uniform noise for the Gumbel-max draw (torch's generator when None).
        winners : LongTensor of shape (..., n, K), optional
            Fixed winner indices (used to enumerate the mixture exactly).

        Returns
        -------
        out : Tensor of shape (..., n, K * U)
            Winners' linear responses, zeros elsewhere.
        log_pi : Tensor of shape (..., n)
            ``sum_k log pi(xi_k | x)`` in nats.

        Raises
        ------
        RuntimeError
            If the last axis of ``x`` does not have ``in_features`` entries, the shape
            of ``uniforms`` or ``winners`` does not match ``(..., n, K, U)`` or
            ``(..., n, K)``, ``winners`` is not an integer tensor, or a winner index is
            ``>= U`` (raised by torch).
        """
        h = self.linear(x)
        h = h.reshape(*h.shape[:-1], self.n_blocks, self.n_competitors)
        log_pi = torch.log_softmax(h, dim=-1)
        if winners is not None:
            hard = F.one_hot(winners, self.n_competitors).to(h.dtype)
            mask = hard
        else:
            if uniforms is None:
                uniforms = torch.rand_like(h)
            gumbel = -torch.log(-torch.log(uniforms.clamp(_EPS, 1 - _EPS)))
            perturbed = log_pi + gumbel  # Gumbel-max: argmax is a draw from pi
            hard = F.one_hot(perturbed.argmax(-1), self.n_competitors).to(h.dtype)
            if self.training and torch.is_grad_enabled():
                # Straight-through: the value is the hard draw, the gradient that of the
                # Gumbel-softmax relaxation.
                soft = torch.softmax(perturbed / self.temperature, dim=-1)
                mask = hard + soft - soft.detach()
            else:
                mask = hard
        out = (mask * h).reshape(*h.shape[:-2], self.n_blocks * self.n_competitors)
        return out, (hard * log_pi).sum((-1, -2))


class StochasticSplineCoupling(Transform):
    """Rational-quadratic spline coupling whose conditioner starts with an LWTA layer.

    Conditioner: ``a -> [ReLU(Linear) (W - K U units) | LWTA (K blocks x U)] ->
    [Linear -> ReLU]* -> Linear (zero init)``, with ``W = hidden_dims[0]``; the spline
    is that of :class:`~skflows.nn.SplineCoupling` (Durkan et al. 2019). Given the
    winners the layer is a bijection; the winners' probabilities depend only on the
    identity half ``a``. With ``n_blocks=None`` every unit of the first layer competes
    (``K = W / U``); a few blocks next to deterministic units make the winners a discrete
    switch between ``U**K`` conditioners that otherwise share their features.

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    hidden_dims : sequence of int
        Conditioner widths ``W, ...``.
    n_competitors : int, default=2
        Competing units ``U`` per LWTA block.
    n_bins : int, default=8
        Number of spline bins.
    tail_bound : float, default=5.0
        Half-width of the spline's domain (identity outside), in the layer's input
        units.
    n_components : int or None, default=None
        Number of independent layers on a leading axis.
    n_blocks : int or None, default=None
        Number ``K >= 1`` of LWTA blocks in the first hidden layer (``K U <= W``); the
        other ``W - K U`` units are deterministic ReLU units. None: ``K = W / U``.

    Raises
    ------
    ValueError
        If ``hidden_dims`` is empty, ``n_blocks`` is None and the first width is not a
        multiple of ``n_competitors``, or ``n_blocks * n_competitors`` exceeds it.

    References
    ----------
    .. [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3.1 and Appendix A (the rational-quadratic spline).
    .. [2] K. P. Panousis, S. Chatzis, S. Theodoridis. Nonparametric Bayesian Deep
       Networks with Local Competition. ICML 2019, Sec. 3 (the stochastic LWTA layer of
       the conditioner).
    .. [3] R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet. Relaxing Bijectivity
       Constraints with Continuously Indexed Normalising Flows. ICML 2020, Sec. 3 (a
       bijection indexed by a random variable; here a discrete one).
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64),
                 n_competitors: int = 2, n_bins: int = 8, tail_bound: float = 5.0,
                 n_components: int | None = None, n_blocks: int | None = None):
        super().__init__()
        if not hidden_dims or (n_blocks is None and hidden_dims[0] % n_competitors):
            raise ValueError(f"the first hidden width ({tuple(hidden_dims)}) must be a "
                             f"multiple of n_competitors={n_competitors}.")
        if n_blocks is None:
            n_blocks = hidden_dims[0] // n_competitors
        n_blocks = _check_int(n_blocks, "n_blocks", 1)
        n_dense = hidden_dims[0] - n_blocks * n_competitors
        if n_dense < 0:
            raise ValueError(f"{n_blocks} LWTA blocks x {n_competitors} competitors = "
                             f"{n_blocks * n_competitors} units exceed the first hidden "
                             f"width {hidden_dims[0]}.")
        self.n_features = n_features
        self.n_identity = n_features // 2
        self.n_transformed = n_features - self.n_identity
        self.n_bins, self.tail_bound = n_bins, float(tail_bound)
        self.n_params = 3 * n_bins - 1
        self.lwta = LWTA(self.n_identity, n_blocks, n_competitors, n_components)
        self.dense = (BatchedLinear(self.n_identity, n_dense, n_components) if n_dense
                      else None)
        layers: list[nn.Module] = []
        for d_in, d_out in zip(hidden_dims[:-1], hidden_dims[1:]):
            layers += [BatchedLinear(d_in, d_out, n_components), nn.ReLU()]
        layers.append(BatchedLinear(hidden_dims[-1], self.n_transformed * self.n_params,
                                    n_components, zero_init=True))
        self.head = nn.Sequential(*layers)
        self.logit_scale = 1.0 / math.sqrt(hidden_dims[-1])

    def couple(self, x: torch.Tensor, inverse: bool = False, uniforms=None, winners=None):
        """Apply the layer in either direction and report the winners' log-probability.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points (latents when ``inverse``); same dtype as the weights.
        inverse : bool, default=False
            Apply the inverse spline (the winners depend only on the identity half, so
            they are the same in both directions).
        uniforms : Tensor of shape (..., n_samples, K, U), optional
            Noise of the Gumbel-max winner draw (torch's generator when None).
        winners : LongTensor of shape (..., n_samples, K), optional
            Fixed winner indices (override ``uniforms``).

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Transformed points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dy/dx|`` in nats given the winners.
        log_pi : Tensor of shape (..., n_samples)
            ``log pi(winners | x_A)`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If ``uniforms`` or ``winners`` has the wrong shape or dtype, or the dtype
            of ``x`` differs from the weights' (raised by torch).
        """
        _check_features(x, self.n_features)
        x_id, x_tr = x[..., : self.n_identity], x[..., self.n_identity:]
        hidden, log_pi = self.lwta(x_id, uniforms, winners)
        if self.dense is not None:
            hidden = torch.cat([torch.relu(self.dense(x_id)), hidden], dim=-1)
        params = self.head(hidden)
        params = params.reshape(*params.shape[:-1], self.n_transformed, self.n_params)
        k = self.n_bins
        y_tr, log_det = _spline(
            x_tr, params[..., :2 * k].unflatten(-1, (2, k)) * self.logit_scale,
            params[..., 2 * k:], self.tail_bound, inverse)
        return torch.cat([x_id, y_tr], dim=-1), log_det.sum(-1), log_pi

    def forward(self, x):
        """Data-to-latent pass with winners drawn from torch's generator.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points; same dtype as the weights.

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Transformed points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dy/dx|`` in nats given the drawn winners.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``x`` differs from the weights' (raised by torch).
        """
        return self.couple(x)[:2]

    def inverse(self, y):
        """Latent-to-data pass with winners drawn from torch's generator.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Latent points; same dtype as the weights.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Pre-images given the drawn winners.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dy|`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``y`` differs from the weights' (raised by torch).
        """
        return self.couple(y, inverse=True)[:2]


class StochasticFlow(Flow):
    r"""A flow with stochastic coupling layers: a finite mixture of bijective flows.

    ``forward``/``inverse``/``log_prob`` draw one set of winners (torch's generator, or
    the given uniforms); :meth:`log_prob_iw` is the importance-weighted estimate of
    ``log p(x)`` and :meth:`log_prob_exact` enumerates the mixture for tiny models.

    Parameters
    ----------
    transforms : iterable of Transform
        Applied in order in the data-to-latent direction; the
        :class:`StochasticSplineCoupling` layers among them draw winners.
    base : StandardNormal
        Base distribution of the latent ``z``.

    References
    ----------
    .. [1] R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet. Relaxing Bijectivity
       Constraints with Continuously Indexed Normalising Flows. ICML 2020, Sec. 3 (a
       flow indexed by a latent variable; the evidence lower bound when the index is
       drawn from its own conditional).
    .. [2] Y. Burda, R. Grosse, R. Salakhutdinov. Importance Weighted Autoencoders.
       ICLR 2016, Eq. 8 and Theorem 1 (the importance-weighted bound and its
       monotone convergence to ``log p(x)``).
    .. [3] K. P. Panousis, S. Chatzis, S. Theodoridis. Nonparametric Bayesian Deep
       Networks with Local Competition. ICML 2019, Sec. 3 (stochastic LWTA units).
    """

    def _stochastic(self):
        return [t for t in self.transforms if isinstance(t, StochasticSplineCoupling)]

    def _run(self, x, inverse, uniforms=None, winners=None):
        _check_features(x, self.n_features, "z" if inverse else "x")
        stochastic = self._stochastic()
        for name, given in (("uniforms", uniforms), ("winners", winners)):
            if given is not None and len(given) != len(stochastic):
                raise ValueError(f"{name} must hold one tensor per stochastic layer "
                                 f"({len(stochastic)}), got {len(given)}.")
        total = x.new_zeros(x.shape[:-1])
        log_pi = x.new_zeros(x.shape[:-1])
        order = reversed(self.transforms) if inverse else self.transforms
        i = 0
        for t in order:
            if isinstance(t, StochasticSplineCoupling):
                j = len(stochastic) - 1 - i if inverse else i
                x, ld, lp = t.couple(x, inverse,
                                     None if uniforms is None else uniforms[j],
                                     None if winners is None else winners[j])
                log_pi = log_pi + lp
                i += 1
            else:
                x, ld = t.inverse(x) if inverse else t(x)
            total = total + ld
        return x, total, log_pi

    def forward(self, x, uniforms=None):
        """One stochastic pass from data to latent.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points; same dtype as the parameters.
        uniforms : list of Tensor, optional
            One tensor of shape ``(*batch, n_samples, K, U)`` per stochastic layer, in
            the data-to-latent order (for example from :meth:`keyed_uniforms`); torch's
            generator when None.

        Returns
        -------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points given the drawn winners.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dz/dx|`` in nats given the winners.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries or
            ``uniforms`` does not hold one tensor per stochastic layer.
        RuntimeError
            If a tensor of ``uniforms`` has the wrong shape or ``x`` the wrong dtype
            (raised by torch).
        """
        return self._run(x, False, uniforms)[:2]

    def inverse(self, z, uniforms=None):
        """One stochastic pass from latent to data (winners drawn layer by layer).

        Parameters
        ----------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points; same dtype as the parameters.
        uniforms : list of Tensor, optional
            One tensor of shape ``(*batch, n_samples, K, U)`` per stochastic layer, in
            the data-to-latent order; torch's generator when None.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Data points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dz|`` in nats given the winners.

        Raises
        ------
        ValueError
            If the last axis of ``z`` does not have ``n_features`` entries or
            ``uniforms`` does not hold one tensor per stochastic layer.
        RuntimeError
            If a tensor of ``uniforms`` has the wrong shape or ``z`` the wrong dtype
            (raised by torch).
        """
        return self._run(z, True, uniforms)[:2]

    def log_prob(self, x, uniforms=None):
        """``log p(x | xi)`` for one draw of the winners ``xi``.

        Its mean over draws is the evidence lower bound of ``log p(x)`` (the training
        objective).

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points; same dtype as the parameters.
        uniforms : list of Tensor, optional
            As in :meth:`forward`.

        Returns
        -------
        log_prob : Tensor of shape (..., n_samples)
            Conditional log-density in nats, in the units of ``x``.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries or
            ``uniforms`` does not hold one tensor per stochastic layer.
        RuntimeError
            If a tensor of ``uniforms`` has the wrong shape or ``x`` the wrong dtype
            (raised by torch).
        """
        z, log_det = self.forward(x, uniforms)
        return self.base.log_prob(z) + log_det

    def sample(self, n_samples, *, generator=None, batch_shape=()):
        """Draw samples: a base draw, then winners drawn layer by layer while inverting.

        Parameters
        ----------
        n_samples : int
            Number of samples, ``>= 0``.
        generator : torch.Generator, optional
            Source of randomness for the base draws and the winners (torch's global
            generator when None).
        batch_shape : sequence of int, default=()
            Leading shape of the draws.

        Returns
        -------
        x : Tensor of shape batch_shape + (n_samples, n_features)
            Samples from the mixture, dtype and device of the parameters.

        Raises
        ------
        ValueError
            If ``n_samples`` is not an int ``>= 0``.
        """
        n_samples = _check_int(n_samples, "n_samples", 0)
        p = next(iter(self.parameters()))
        z = self.base.sample((*batch_shape, n_samples), dtype=p.dtype, device=p.device,
                             generator=generator)
        uniforms = [torch.rand(*z.shape[:-1], t.lwta.n_blocks, t.lwta.n_competitors,
                               generator=generator, dtype=p.dtype, device=p.device)
                    for t in self._stochastic()]
        return self.inverse(z, uniforms)[0]

    def keyed_uniforms(self, x: torch.Tensor, seed: int, n_samples: int):
        """Per-layer winner noise keyed by the rows of ``x`` (see :func:`keyed_uniform`).

        Parameters
        ----------
        x : Tensor of shape (..., n, n_features)
            Rows whose values key the noise.
        seed : int
            Selects an independent family of draws.
        n_samples : int
            Number ``S >= 1`` of draws per row.

        Returns
        -------
        uniforms : list of Tensor
            One tensor of shape ``(S, ..., n, K, U)`` per stochastic layer, dtype of
            ``x``, values in ``(0, 1)``.

        Raises
        ------
        ValueError
            If ``x`` is a 0-d tensor, ``seed`` is not an int or ``n_samples`` is not an
            int ``>= 1``.
        """
        n_samples = _check_int(n_samples, "n_samples", 1)
        keys = row_keys(x, seed)
        samples = torch.arange(n_samples, dtype=torch.int64)
        return [keyed_uniform(keys, samples * 1009 + layer,
                              (t.lwta.n_blocks, t.lwta.n_competitors), x.dtype)
                for layer, t in enumerate(self._stochastic())]

    def log_prob_iw(self, x: torch.Tensor, n_samples: int,
                    seed: int | None = 0) -> torch.Tensor:
        """Importance-weighted estimate ``log (1/S) sum_s p(x | xi_s)``, ``xi_s ~ pi``.

        The winners come from noise keyed by each row's values and ``seed``, so a row's
        estimate does not depend on the other rows of the batch (with ``seed=None``, from
        torch's generator: the training objective). Its expectation is at
        most ``log p(x)`` (Jensen) and at least the lower bound; the gap closes as
        ``n_samples`` grows (Burda et al. 2016, Theorem 1).

        Parameters
        ----------
        x : Tensor of shape (..., n, n_features)
            Data points; same dtype as the parameters.
        n_samples : int
            Number ``S >= 1`` of winner draws.
        seed : int or None, default=0
            Selects the family of keyed draws; None draws from torch's generator.

        Returns
        -------
        log_prob : Tensor of shape (..., n)
            Estimate of ``log p(x)`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries,
            ``n_samples`` is not an int ``>= 1`` or ``seed`` is neither an int nor None.
        """
        n_samples = _check_int(n_samples, "n_samples", 1)
        uniforms = None if seed is None else self.keyed_uniforms(x, seed, n_samples)
        xs = x.expand(n_samples, *x.shape)
        return torch.logsumexp(self.log_prob(xs, uniforms), 0) - math.log(n_samples)

    def log_joint(self, x: torch.Tensor, winners) -> torch.Tensor:
        """``log p(x, xi) = log p(x | xi) + sum_l log pi(xi_l | a_l)`` for fixed winners.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points; same dtype as the parameters.
        winners : list of LongTensor
            One tensor of shape ``(*batch, n_samples, K)`` per stochastic layer, in the
            data-to-latent order, with winner indices in ``[0, U)``.

        Returns
        -------
        log_joint : Tensor of shape (..., n_samples)
            Joint log-density of ``x`` and the winners, in nats.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries or
            ``winners`` does not hold one tensor per stochastic layer.
        RuntimeError
            If a tensor of ``winners`` has the wrong shape or dtype, or an index is
            ``>= U`` (raised by torch).
        """
        z, log_det, log_pi = self._run(x, False, winners=winners)
        return self.base.log_prob(z) + log_det + log_pi

    def log_prob_exact(self, x: torch.Tensor, max_configurations: int = 4096) -> torch.Tensor:
        """Exact ``log p(x)`` by enumerating every winner configuration (tiny models only).

        ``log p(x) = logsumexp_xi log p(x, xi)`` over the ``prod_l U_l^(K_l)`` winner
        configurations of all stochastic layers.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points; same dtype as the parameters.
        max_configurations : int, default=4096
            Refuse to enumerate more configurations than this.

        Returns
        -------
        log_prob : Tensor of shape (..., n_samples)
            ``log p(x)`` in nats.

        Raises
        ------
        ValueError
            If the mixture has more than ``max_configurations`` members, or the last
            axis of ``x`` does not have ``n_features`` entries.
        """
        _check_features(x, self.n_features)
        layers = self._stochastic()
        per_layer = [list(itertools.product(range(t.lwta.n_competitors),
                                            repeat=t.lwta.n_blocks)) for t in layers]
        n_config = math.prod(len(c) for c in per_layer)
        if n_config > max_configurations:
            raise ValueError(f"{n_config} winner configurations: too many to enumerate.")
        configs = list(itertools.product(*per_layer))  # (C, L, K)
        table = torch.tensor(configs, dtype=torch.long, device=x.device)
        view = (n_config,) + (1,) * (x.dim() - 1)
        winners = [table[:, j].reshape(*view, -1).expand(n_config, *x.shape[:-1], -1)
                   for j in range(len(layers))]
        xs = x.expand(n_config, *x.shape)
        return torch.logsumexp(self.log_joint(xs, winners), 0)


def lwta_flow(n_features: int, *, n_layers: int = 5, hidden_dims: Sequence[int] = (64, 64),
              n_competitors: int = 2, n_bins: int = 8, tail_bound: float = 5.0,
              permutation: str = "lu", shift=None, scale=None,
              generator: torch.Generator | None = None,
              n_blocks: int | None = None) -> StochasticFlow:
    """Build a random normalizing flow of stochastic LWTA spline couplings.

    Same layout as :func:`~skflows.nn.coupling_flow` (a mixing layer before each coupling,
    optional fixed standardisation first), with :class:`StochasticSplineCoupling` layers.

    Parameters
    ----------
    n_features : int
        Dimension ``d >= 1``.
    n_layers : int, default=5
        Number of stochastic coupling layers.
    hidden_dims : sequence of int, default=(64, 64)
        Conditioner widths; the first layer holds the ``K * U`` LWTA units and
        deterministic ReLU units for the rest.
    n_competitors : int, default=2
        Competing units ``U`` per LWTA block.
    n_blocks : int or None, default=None
        LWTA blocks ``K`` per coupling layer; None makes every unit of the first layer
        compete (the first width must then be a multiple of ``n_competitors``).
    n_bins : int, default=8
        Spline bins.
    tail_bound : float, default=5.0
        Spline domain half-width, in standardised units.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before every coupling layer.
    shift, scale : Tensor of shape (n_features,), optional
        If given, a fixed standardisation ``(x - shift) / scale`` is the first
        transform, so that log-densities refer to the units of the data.
    generator : torch.Generator, optional
        Draws the fixed permutations.

    Returns
    -------
    StochasticFlow
        Maps data ``(*batch, n_samples, n_features)`` to latents; base ``N(0, I_d)``.

    Raises
    ------
    ValueError
        If ``n_features`` is not an int ``>= 1``, for an unknown ``permutation``, if
        ``n_blocks`` is None and the first hidden width is not a multiple of
        ``n_competitors``, or if ``n_blocks * n_competitors`` exceeds that width.

    References
    ----------
    .. [1] K. P. Panousis, S. Chatzis, S. Theodoridis. Nonparametric Bayesian Deep
       Networks with Local Competition. ICML 2019, Sec. 3 (stochastic LWTA units).
    .. [2] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3 (rational-quadratic spline couplings).
    .. [3] R. Cornish, A. Caterini, G. Deligiannidis, A. Doucet. Relaxing Bijectivity
       Constraints with Continuously Indexed Normalising Flows. ICML 2020, Sec. 3
       (flows indexed by a latent variable, trained on a lower bound).

    Examples
    --------
    >>> import torch
    >>> from skflows.nn import lwta_flow
    >>> flow = lwta_flow(2, n_layers=2, hidden_dims=(4,))
    >>> flow.log_prob_iw(torch.zeros(3, 2), n_samples=4).shape
    torch.Size([3])
    """
    _check_int(n_features, "n_features", 1)
    transforms = stack_couplings(
        n_features, n_layers,
        lambda d: StochasticSplineCoupling(d, hidden_dims, n_competitors, n_bins, tail_bound,
                                           n_blocks=n_blocks),
        permutation=permutation, shift=shift, scale=scale, generator=generator)
    return StochasticFlow(transforms, StandardNormal(n_features))
