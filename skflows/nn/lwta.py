r"""Stochastic local-winner-takes-all (LWTA) units and the random normalizing flow built
from them.

LWTA layer (Panousis, Chatzis & Theodoridis, "Nonparametric Bayesian deep networks with
local competition", ICML 2019, Sec. 3): the ``n_blocks * n_competitors`` linear responses
``h`` are split into blocks of ``n_competitors`` competing units; in every block one winner
``xi`` is drawn from ``Categorical(softmax(h_block))`` and passes its linear response, the
losers output 0.

Random flow: an LWTA layer as the first hidden layer of each coupling conditioner. The
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
model. Scoring uses the importance-weighted estimate
``log (1/S) sum_s p(x | xi_s)`` (Burda, Grosse & Salakhutdinov, ICLR 2016, Eq. 8), whose
expectation lies between the bound and ``log p(x)`` and tends to ``log p(x)`` as ``S``
grows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import Transform
from .flows import Flow, StandardNormal, stack_couplings
from .linear import BatchedLinear
from .splines import rational_quadratic_spline

__all__ = ["LWTA", "StochasticSplineCoupling", "StochasticFlow", "lwta_flow",
           "keyed_uniform", "row_keys"]

_PRIME = 2147483647  # 2**31 - 1
_EPS = 1e-6


def row_keys(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """An integer key per row, a deterministic function of the row's values and ``seed``.

    Parameters
    ----------
    x : Tensor of shape (..., n, d)
    seed : int

    Returns
    -------
    LongTensor of shape (..., n)
        Keys in ``[0, 2**31 - 1)``.
    """
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
        Trailing shape of the draws per row.

    Returns
    -------
    Tensor of shape (S, ..., n, *shape)
    """
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
            ``sum_k log pi(xi_k | x)``.
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

    Conditioner: ``a -> LWTA(K blocks x U) -> [Linear -> ReLU]* -> Linear (zero init)``;
    the spline is that of :class:`~skflows.nn.SplineCoupling` (Durkan et al. 2019).
    Given the winners the layer is a bijection; the winners' probabilities depend only on
    the identity half ``a``.

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    hidden_dims : sequence of int
        Conditioner widths; the first must be a multiple of ``n_competitors``.
    n_competitors : int, default=2
        Competing units per LWTA block.
    n_bins : int, default=8
    tail_bound : float, default=5.0
    n_components : int or None, default=None
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64),
                 n_competitors: int = 2, n_bins: int = 8, tail_bound: float = 5.0,
                 n_components: int | None = None):
        super().__init__()
        if not hidden_dims or hidden_dims[0] % n_competitors:
            raise ValueError(f"the first hidden width ({tuple(hidden_dims)}) must be a "
                             f"multiple of n_competitors={n_competitors}.")
        self.n_identity = n_features // 2
        self.n_transformed = n_features - self.n_identity
        self.n_bins, self.tail_bound = n_bins, float(tail_bound)
        self.n_params = 3 * n_bins - 1
        self.lwta = LWTA(self.n_identity, hidden_dims[0] // n_competitors, n_competitors,
                         n_components)
        layers: list[nn.Module] = []
        for d_in, d_out in zip(hidden_dims[:-1], hidden_dims[1:]):
            layers += [BatchedLinear(d_in, d_out, n_components), nn.ReLU()]
        layers.append(BatchedLinear(hidden_dims[-1], self.n_transformed * self.n_params,
                                    n_components, zero_init=True))
        self.head = nn.Sequential(*layers)
        self.logit_scale = 1.0 / math.sqrt(hidden_dims[-1])

    def couple(self, x: torch.Tensor, inverse: bool = False, uniforms=None, winners=None):
        """Apply the layer; returns ``(y, log_det_jacobian, log_pi_winners)``."""
        x_id, x_tr = x[..., : self.n_identity], x[..., self.n_identity:]
        hidden, log_pi = self.lwta(x_id, uniforms, winners)
        params = self.head(hidden)
        params = params.reshape(*params.shape[:-1], self.n_transformed, self.n_params)
        k = self.n_bins
        y_tr, log_det = rational_quadratic_spline(
            x_tr, params[..., :k] * self.logit_scale, params[..., k:2 * k] * self.logit_scale,
            params[..., 2 * k:], self.tail_bound, inverse)
        return torch.cat([x_id, y_tr], dim=-1), log_det.sum(-1), log_pi

    def forward(self, x):
        return self.couple(x)[:2]

    def inverse(self, y):
        return self.couple(y, inverse=True)[:2]


class StochasticFlow(Flow):
    """A flow with stochastic coupling layers: a finite mixture of bijective flows.

    ``forward``/``inverse``/``log_prob`` draw one set of winners (torch's generator, or
    the given uniforms); :meth:`log_prob_iw` is the importance-weighted estimate of
    ``log p(x)`` and :meth:`log_prob_exact` enumerates the mixture for tiny models.
    """

    def _stochastic(self):
        return [t for t in self.transforms if isinstance(t, StochasticSplineCoupling)]

    def _run(self, x, inverse, uniforms=None, winners=None):
        total = x.new_zeros(x.shape[:-1])
        log_pi = x.new_zeros(x.shape[:-1])
        order = reversed(self.transforms) if inverse else self.transforms
        i = 0
        stochastic = self._stochastic()
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
        """One stochastic pass x -> z; returns ``(z, log |det dz/dx|)`` given the winners."""
        return self._run(x, False, uniforms)[:2]

    def inverse(self, z, uniforms=None):
        """One stochastic pass z -> x (winners drawn in the generative direction)."""
        return self._run(z, True, uniforms)[:2]

    def log_prob(self, x, uniforms=None):
        """``log p(x | xi)`` for one draw of the winners; its mean over draws is the
        evidence lower bound of ``log p(x)``."""
        z, log_det = self.forward(x, uniforms)
        return self.base.log_prob(z) + log_det

    def sample(self, n_samples, *, generator=None, batch_shape=()):
        """Draw samples: base draw, then winners drawn layer by layer while inverting."""
        p = next(iter(self.parameters()))
        z = self.base.sample((*batch_shape, n_samples), dtype=p.dtype, device=p.device,
                             generator=generator)
        uniforms = [torch.rand(*z.shape[:-1], t.lwta.n_blocks, t.lwta.n_competitors,
                               generator=generator, dtype=p.dtype, device=p.device)
                    for t in self._stochastic()]
        return self.inverse(z, uniforms)[0]

    def keyed_uniforms(self, x: torch.Tensor, seed: int, n_samples: int):
        """Per-layer uniforms of shape (S, ..., n, K, U), keyed by the rows of ``x``."""
        keys = row_keys(x, seed)
        samples = torch.arange(n_samples, dtype=torch.int64)
        return [keyed_uniform(keys, samples * 1009 + layer,
                              (t.lwta.n_blocks, t.lwta.n_competitors), x.dtype)
                for layer, t in enumerate(self._stochastic())]

    def log_prob_iw(self, x: torch.Tensor, n_samples: int, seed: int = 0) -> torch.Tensor:
        """Importance-weighted estimate ``log (1/S) sum_s p(x | xi_s)``, ``xi_s ~ pi``.

        The winners come from noise keyed by each row's values and ``seed``, so a row's
        estimate does not depend on the other rows of the batch. Its expectation is at
        most ``log p(x)`` (Jensen) and at least the lower bound; the gap closes as
        ``n_samples`` grows (Burda et al. 2016, Theorem 1).

        Parameters
        ----------
        x : Tensor of shape (..., n, d)
        n_samples : int
            Number ``S`` of winner draws.
        seed : int, default=0

        Returns
        -------
        Tensor of shape (..., n), nats
        """
        uniforms = self.keyed_uniforms(x, seed, n_samples)
        xs = x.expand(n_samples, *x.shape)
        return torch.logsumexp(self.log_prob(xs, uniforms), 0) - math.log(n_samples)

    def log_joint(self, x: torch.Tensor, winners) -> torch.Tensor:
        """``log p(x, xi) = log p(x | xi) + sum_l log pi(xi_l | a_l)`` for fixed winners."""
        z, log_det, log_pi = self._run(x, False, winners=winners)
        return self.base.log_prob(z) + log_det + log_pi

    def log_prob_exact(self, x: torch.Tensor, max_configurations: int = 4096) -> torch.Tensor:
        """Exact ``log p(x)`` by enumerating every winner configuration (tiny models only).

        Raises
        ------
        ValueError
            If the mixture has more than ``max_configurations`` members.
        """
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
              generator: torch.Generator | None = None) -> StochasticFlow:
    """Build a random normalizing flow of stochastic LWTA spline couplings.

    Same layout as :func:`~skflows.nn.coupling_flow` (a mixing layer before each coupling,
    optional fixed standardisation first), with :class:`StochasticSplineCoupling` layers.

    Returns
    -------
    StochasticFlow
    """
    transforms = stack_couplings(
        n_features, n_layers,
        lambda d: StochasticSplineCoupling(d, hidden_dims, n_competitors, n_bins, tail_bound),
        permutation=permutation, shift=shift, scale=scale, generator=generator)
    return StochasticFlow(transforms, StandardNormal(n_features))
