"""Conditional densities ``p(y | x)``: a fixed bijection of a box onto ``R^d`` and a
conditional flow wrapped with the standardisation of its context.

Pure torch. :class:`BoxBijection` maps targets restricted to a box (a prior's support,
a positive quantity) onto ``R^d`` with its exact Jacobian, so a flow on ``R^d`` pulled
back through it is a density that is zero outside the box and integrates to one inside;
:class:`ConditionalDensity` holds such a flow and evaluates ``log p(y | x)``, samples,
and the deterministic inverse used for quantiles.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .base import Transform
from .flows import Flow

__all__ = ["BoxBijection", "ConditionalDensity"]


class BoxBijection(Transform):
    """Fixed elementwise bijection from a box ``prod_j (low_j, high_j)`` onto ``R^d``.

    Per coordinate, by which bounds are finite:

    * both: ``t = log(y - low) - log(high - y)`` (the logit of the position in the
      interval), inverse ``y = low + (high - low) sigmoid(t)``;
    * ``low`` only: ``t = log(y - low)``, inverse ``y = low + exp(t)``;
    * ``high`` only: ``t = -log(high - y)``, inverse ``y = high - exp(-t)``;
    * neither: the identity.

    With ``transform="linear"`` two finite bounds get instead the identity on the
    central 90 % of the interval and logarithmic tails near its ends: with
    ``c, r`` the interval's centre and half-width, ``u = (y - c) / r`` and
    ``a = 0.9``, ``w = 1 - a``, ``t = y`` where ``|u| <= a`` and
    ``t = c + r sign(u) (a - w log((1 - |u|) / w))`` beyond (continuous with a
    continuous first derivative at ``|u| = a``; inverse
    ``u = sign(s) (1 - w exp(-(|s| - a) / w))`` with ``s = (t - c) / r``). A density
    inside the box is then pulled back unchanged over most of it: a thin or curved
    posterior well inside a prior's box keeps the shape the flow gives it, which the
    logit bends; mass the flow puts beyond the central part is packed into thin layers
    at the ends. The logit suits targets whose mass crowds against a bound
    (proportions near 0 or 1).

    Every map is increasing, so quantiles carry over coordinate by coordinate. The
    log-determinants are exact (change of variables; Papamakarios et al., JMLR 2021,
    Eq. 2); sbi users know the alternative, rejection of posterior samples that leave a
    box prior, which this makes unnecessary.

    Parameters
    ----------
    low, high : Tensor of shape (d,)
        Bounds, ``low < high``; ``-inf`` / ``inf`` for an open side.
    transform : {"logit", "linear"}, default="logit"
        The map of a coordinate with two finite bounds (one finite bound always takes
        the log).

    Raises
    ------
    ValueError
        If the shapes differ, some ``low >= high``, or for an unknown ``transform``.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Eq. 2 and Sec. 3.1 (element-wise bijections).
    """

    #: Central fraction of a bounded interval on which ``transform="linear"`` is the
    #: identity.
    linear_fraction = 0.9
    # Class-level default: layers pickled before the option existed used the logit.
    transform = "logit"

    def __init__(self, low: torch.Tensor, high: torch.Tensor, transform: str = "logit"):
        super().__init__()
        if transform not in ("logit", "linear"):
            raise ValueError(f"transform must be 'logit' or 'linear', got {transform!r}.")
        self.transform = transform
        low, high = torch.as_tensor(low), torch.as_tensor(high)
        if low.shape != high.shape or low.dim() != 1:
            raise ValueError(f"low and high must be 1-D of one shape, got {tuple(low.shape)} "
                             f"and {tuple(high.shape)}.")
        if not bool((low < high).all()):
            raise ValueError("Every lower bound must be below its upper bound.")
        self.n_features = low.shape[0]
        self.register_buffer("low", low)
        self.register_buffer("high", high)

    def _masks(self):
        lo, hi = torch.isfinite(self.low), torch.isfinite(self.high)
        # Finite stand-ins for the infinite bounds, so that no branch produces NaN.
        low = torch.where(lo, self.low, torch.zeros_like(self.low))
        high = torch.where(hi, self.high, torch.ones_like(self.high))
        return lo & hi, lo & ~hi, ~lo & hi, low, high

    def inside(self, y: torch.Tensor) -> torch.Tensor:
        """Whether each row lies strictly inside the box.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, d)

        Returns
        -------
        Tensor of bool of shape (..., n_samples)

        Raises
        ------
        RuntimeError
            If the last axis of ``y`` does not have ``d`` entries (torch broadcasting).
        """
        return ((y > self.low) & (y < self.high)).all(-1)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map targets to ``R^d``: ``t = b(y)`` and ``log |det db/dy|``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, d)
            Rows strictly inside the box (others give non-finite values).

        Returns
        -------
        t : Tensor of shape (..., n_samples, d)
        log_det_jacobian : Tensor of shape (..., n_samples)
            Nats.

        Raises
        ------
        RuntimeError
            If the last axis of ``y`` does not have ``d`` entries (torch broadcasting).
        """
        both, low_only, high_only, low, high = self._masks()
        if self.transform == "linear":
            t_lin, ld_lin = self._linear_forward(y, low, high)
        # Safe arguments: each branch sees positive logs only where it is selected.
        a = torch.where(both | low_only, y - low, torch.ones_like(y))
        b = torch.where(both | high_only, high - y, torch.ones_like(y))
        log_a, log_b = torch.log(a), torch.log(b)
        t = torch.where(both, log_a - log_b,
                        torch.where(low_only, log_a, torch.where(high_only, -log_b, y)))
        width = torch.log(torch.where(both, high - low, torch.ones_like(low)))
        log_det = torch.where(both, width - log_a - log_b,
                              torch.where(low_only, -log_a,
                                          torch.where(high_only, -log_b,
                                                      torch.zeros_like(y))))
        if self.transform == "linear":
            t = torch.where(both, t_lin, t)
            log_det = torch.where(both, ld_lin, log_det)
        return t, log_det.sum(-1)

    def _linear_forward(self, y, low, high):
        """``transform="linear"`` on every coordinate (used where both bounds are finite)."""
        a = self.linear_fraction
        w = 1.0 - a
        centre, half = (low + high) / 2, (high - low) / 2
        u = (y - centre) / half
        tail = u.abs() > a
        gap = torch.where(tail, 1.0 - u.abs(), torch.full_like(u, w))  # safe: w where not
        log_ratio = torch.log(gap) - math.log(w)                        # used
        t = torch.where(tail, centre + half * torch.sign(u) * (a - w * log_ratio), y)
        return t, torch.where(tail, -log_ratio, torch.zeros_like(u))

    def _linear_inverse(self, t, low, high):
        a = self.linear_fraction
        w = 1.0 - a
        centre, half = (low + high) / 2, (high - low) / 2
        s = (t - centre) / half
        excess = torch.clamp(s.abs() - a, min=0.0) / w
        tail = s.abs() > a
        y = torch.where(tail, centre + half * torch.sign(s) * (1.0 - w * torch.exp(-excess)), t)
        return y, -excess

    def inverse(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map back into the box: ``y = b^{-1}(t)`` and ``log |det db^{-1}/dt|``.

        Parameters
        ----------
        t : Tensor of shape (..., n_samples, d)

        Returns
        -------
        y : Tensor of shape (..., n_samples, d)
            Strictly inside the box: where the map saturates to a bound in floating
            point, the nearest representable value inside it.
        log_det_jacobian : Tensor of shape (..., n_samples)
            Nats.

        Raises
        ------
        RuntimeError
            If the last axis of ``t`` does not have ``d`` entries (torch broadcasting).
        """
        both, low_only, high_only, low, high = self._masks()
        y = torch.where(both, low + (high - low) * torch.sigmoid(t),
                        torch.where(low_only, low + torch.exp(t),
                                    torch.where(high_only, high - torch.exp(-t), t)))
        width = torch.log(torch.where(both, high - low, torch.ones_like(low)))
        log_det = torch.where(both, width + F.logsigmoid(t) + F.logsigmoid(-t),
                              torch.where(low_only, t,
                                          torch.where(high_only, -t, torch.zeros_like(t))))
        if self.transform == "linear":
            y_lin, ld_lin = self._linear_inverse(t, low, high)
            y = torch.where(both, y_lin, y)
            log_det = torch.where(both, ld_lin, log_det)
        # Far in the tails the map saturates to a bound in floating point: keep every
        # image strictly inside (the nearest representable interior value).
        y = torch.maximum(y, torch.nextafter(self.low.to(y.dtype), y.new_tensor(math.inf)))
        y = torch.minimum(y, torch.nextafter(self.high.to(y.dtype), y.new_tensor(-math.inf)))
        return y, log_det.sum(-1)


class ConditionalDensity(nn.Module):
    """A conditional flow ``p(y | x)`` with its context standardised inside, or a
    uniform mixture (a deep ensemble) of such flows.

    ``log p(y | x) = flow.log_prob(y, context=(x - x_shift) / x_scale)``; the flow's
    first layers may be a :class:`BoxBijection` and a fixed standardisation of ``y``,
    whose Jacobians it includes, so log-densities are in nats in ``y``'s units. With
    ``n_members = M > 1`` the flow carries ``M`` independently initialised members on
    its component axis (built with ``n_components=M``, evaluated in one batched pass) and
    ``p(y | x) = (1 / M) sum_m p_m(y | x)``, the predictive distribution of a deep
    ensemble (Lakshminarayanan et al. 2017, Sec. 2.4).

    Parameters
    ----------
    flow : Flow
        A conditional flow on ``R^{d_y}`` (``context_features = d_x`` before its
        embedding); with ``n_members > 1`` built with ``n_components=n_members``.
    x_shift, x_scale : Tensor of shape (d_x,)
        Standardisation of the context.
    box : BoxBijection, optional
        The flow's box bijection, if any: rows outside it get ``log p = -inf``. With
        ``truncate=True`` the box only bounds the support (the flow does not contain
        it).
    n_members : int, default=1
        Members of the ensemble (1: a single flow without a component axis).
    truncate : bool, default=False
        Restrict the flow's density on ``R^{d_y}`` to ``box`` and divide it by its
        mass there, ``p(y | x) = q(y | x) 1[y in box] / Q(box | x)``: the density of
        the flow conditioned on the box, which draws by rejection sample exactly
        (the leakage correction of an NPE posterior under a box prior: Greenberg et
        al. 2019, Sec. 3; Deistler et al. 2022, Sec. 3). ``Q(box | x)`` is exact for one
        target (the distribution function at the bounds) and estimated from
        ``mass_points`` otherwise.
    mass_points : Tensor of shape (k, d_y), optional
        Fixed points of the base distribution (a scrambled Sobol sequence) whose
        images estimate ``Q(box | x)`` as the fraction that falls inside; needed with
        ``truncate=True`` and ``d_y > 1``.

    Attributes
    ----------
    temperature : float
        Scale ``t`` of the base distribution, ``N(0, t^2 I)`` in place of ``N(0, I)``
        (1 while training; a calibration may set it afterwards). Every method uses it:
        ``log p_m(y | x) = log N(f_m(y; x) / t; 0, I) - d log t + log |det J_f_m|``.

    References
    ----------
    .. [1] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019.
    .. [2] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1 (conditional flows).
    .. [3] B. Lakshminarayanan, A. Pritzel, C. Blundell. Simple and Scalable Predictive
       Uncertainty Estimation using Deep Ensembles. NeurIPS 2017, Sec. 2.4 (members
       trained independently from random initialisations, predictions combined as a
       uniform mixture).
    .. [4] D. S. Greenberg, M. Nonnenmacher, J. H. Macke. Automatic Posterior
       Transformation for Likelihood-Free Inference. ICML 2019, Sec. 3 (a posterior
       estimate that leaks out of the prior's support, renormalised on it).
    .. [5] M. Deistler, P. J. Goncalves, J. H. Macke. Truncated proposals for scalable
       and hassle-free simulation-based inference. NeurIPS 2022, Sec. 3.

    Raises
    ------
    ValueError
        With ``truncate=True`` and no ``box``, or several targets and no
        ``mass_points``.
    """

    # Class-level defaults: modules pickled before ensembles, temperatures and
    # truncation existed are single untruncated flows with the untempered base.
    n_members: int = 1
    temperature: float = 1.0
    truncate: bool = False

    #: Smallest mass estimate from ``mass_points``, in points: a row whose images all
    #: fall outside the box gets half a point's share instead of zero.
    min_mass_points = 0.5

    def __init__(self, flow: Flow, x_shift: torch.Tensor, x_scale: torch.Tensor,
                 box: BoxBijection | None = None, n_members: int = 1,
                 truncate: bool = False, mass_points: torch.Tensor | None = None):
        super().__init__()
        self.flow = flow
        self.box = box
        self.n_members = int(n_members)
        self.truncate = bool(truncate)
        if self.truncate and box is None:
            raise ValueError("truncate=True needs a box.")
        if self.truncate and box.n_features > 1 and mass_points is None:
            raise ValueError("truncate=True with several targets needs mass_points.")
        self.register_buffer("x_shift", torch.as_tensor(x_shift))
        self.register_buffer("x_scale", torch.as_tensor(x_scale))
        if self.truncate and mass_points is not None:
            self.register_buffer("mass_points", torch.as_tensor(mass_points))

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """The flow's context: the standardised rows ``(x - x_shift) / x_scale``.

        Parameters
        ----------
        x : Tensor of shape (n, d_x)

        Returns
        -------
        Tensor of shape (n, d_x)

        Raises
        ------
        RuntimeError
            If ``x`` does not have ``d_x`` columns (torch broadcasting).
        """
        return (x - self.x_shift) / self.x_scale

    def _lead(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` of shape (n, d) given the members' leading axis, (M, n, d), if any."""
        return t if self.n_members == 1 else t.expand(self.n_members, *t.shape)

    def member_log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Each member's conditional log-density ``log p_m(y | x)``.

        Parameters
        ----------
        y : Tensor of shape (n, d_y)
            Targets.
        x : Tensor of shape (n, d_x)
            Conditions (one row per target row, or one row for all).

        Returns
        -------
        Tensor of shape (n,), or (n_members, n) with ``n_members > 1``
            Nats in ``y``'s units; ``-inf`` outside the box.

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        """
        if self.box is None:
            return self._log_prob(self._lead(y), x)
        inside = self.box.inside(y)
        middle = torch.where(torch.isfinite(self.box.low) & torch.isfinite(self.box.high),
                             (self.box.low + self.box.high) / 2,
                             torch.where(torch.isfinite(self.box.low), self.box.low + 1,
                                         torch.where(torch.isfinite(self.box.high),
                                                     self.box.high - 1,
                                                     torch.zeros_like(self.box.low))))
        safe = torch.where(inside.unsqueeze(-1), y, middle)
        log_p = self._log_prob(self._lead(safe), x)
        return torch.where(inside, log_p, torch.full_like(log_p, -torch.inf))

    def _log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The flow's log-density under the tempered base distribution."""
        t = self.temperature
        if t == 1.0:
            return self.flow.log_prob(y, context=self.context(x))
        z, log_det = self.flow(y, context=self.context(x))  # y already has the members' axis
        return self.flow.base.log_prob(z / t) + log_det - z.shape[-1] * math.log(t)

    def latent(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's untempered latent ``f_m(y; x)`` and ``log |det J_f_m|``.

        Parameters
        ----------
        y : Tensor of shape (n, d_y)
            Targets inside the box.
        x : Tensor of shape (n, d_x)
            Conditions.

        Returns
        -------
        z : Tensor of shape (n, d_y), or (n_members, n, d_y) with ``n_members > 1``
        log_det_jacobian : Tensor of shape (n,), or (n_members, n)
            Nats.

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        """
        return self.flow(self._lead(y), context=self.context(x))

    def log_prob(self, y: torch.Tensor, x: torch.Tensor,
                 normalize: bool = True) -> torch.Tensor:
        """Conditional log-density ``log p(y | x)`` (of the ensemble's mixture).

        Parameters
        ----------
        y : Tensor of shape (n, d_y)
            Targets.
        x : Tensor of shape (n, d_x)
            Conditions (one row per target row, or one row for all).
        normalize : bool, default=True
            With ``truncate``, subtract ``log Q(box | x)`` (:meth:`log_mass`); False
            gives the flow's own density restricted to the box, the training
            objective (unused without ``truncate``).

        Returns
        -------
        Tensor of shape (n,)
            Nats in ``y``'s units; ``-inf`` outside the box. With ``n_members = M > 1``,
            ``logsumexp_m log p_m(y | x) - log M``.

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        """
        log_p = self.member_log_prob(y, x)
        if self.n_members > 1:
            log_p = torch.logsumexp(log_p, dim=0) - math.log(self.n_members)
        if self.truncate and normalize:
            log_p = log_p - self.log_mass(x)
        return log_p

    def _bound_cdf(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow's distribution function at the box's two ends for one target,
        ``(F(low | x), F(high | x))``, each of shape (n,) (0 and 1 at infinite ends)."""
        low, high = self.box.low.to(x.dtype), self.box.high.to(x.dtype)
        ends = torch.stack([torch.where(torch.isfinite(low), low, torch.zeros_like(low)),
                            torch.where(torch.isfinite(high), high, torch.zeros_like(high))])
        n = len(x)
        cdf = self.cdf(ends.repeat(n, 1), x.repeat_interleave(2, dim=0)).reshape(n, 2)
        f_low = torch.where(torch.isfinite(low), cdf[:, 0], torch.zeros_like(cdf[:, 0]))
        f_high = torch.where(torch.isfinite(high), cdf[:, 1], torch.ones_like(cdf[:, 1]))
        return f_low, f_high

    def log_mass(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the flow's probability of the box given each row, ``log Q(box | x)``.

        One target: exact, ``F(high | x) - F(low | x)`` (:meth:`cdf`). Several: the
        fraction of ``mass_points`` whose images (pooled over an ensemble's members)
        fall inside, at least ``min_mass_points`` of a point.

        Parameters
        ----------
        x : Tensor of shape (n, d_x)
            Conditions.

        Returns
        -------
        Tensor of shape (n,)
            At most 0; zeros without ``truncate``.

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        """
        if not self.truncate:
            return x.new_zeros(len(x))
        if self.box.n_features == 1:
            f_low, f_high = self._bound_cdf(x)
            return torch.log(torch.clamp(f_high - f_low, min=torch.finfo(x.dtype).tiny))
        points = self.mass_points.to(x.dtype)
        k, n = len(points), len(x)
        images = self.from_base(points.repeat(n, 1), x.repeat_interleave(k, dim=0))
        inside = self.box.inside(images).to(x.dtype)  # (n * k,) or (M, n * k)
        share = inside.reshape(-1, n, k).mean(dim=(0, 2))
        return torch.log(torch.clamp(share, min=self.min_mass_points / k))

    def truncated_levels(self, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Levels of the flow's distribution function that give the quantiles of the
        truncated one for one target: ``F(low | x) + q (F(high | x) - F(low | x))``.

        Parameters
        ----------
        q : Tensor of shape (n_q,)
            Levels in (0, 1).
        x : Tensor of shape (n, d_x)
            Conditions.

        Returns
        -------
        Tensor of shape (n, n_q)
            ``q`` itself (repeated) without ``truncate``; the promoted dtype of ``q``
            and ``x``.

        Raises
        ------
        ValueError
            If the target is not one-dimensional or the context does not fit the flow.
        """
        if not self.truncate:
            return q.expand(len(x), len(q))
        if self.box.n_features != 1:
            raise ValueError("truncated_levels() needs a one-dimensional target.")
        f_low, f_high = self._bound_cdf(x)
        return f_low[:, None] + q[None, :] * (f_high - f_low)[:, None]

    def from_base(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The deterministic map behind quantiles and means, ``y = f^{-1}(t z; x)``
        (``t`` the temperature).

        Parameters
        ----------
        z : Tensor of shape (n, d_y)
            Points of the base distribution.
        x : Tensor of shape (n, d_x)
            Conditions, one per point.

        Returns
        -------
        Tensor of shape (n, d_y), or (n_members, n, d_y) with ``n_members > 1``
            Targets in ``y``'s units (member ``m``'s image of each point); with
            ``truncate`` they may lie outside the box (the flow's own map).

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        """
        return self.flow.inverse(self._lead(z) * self.temperature, context=self.context(x))[0]

    def cdf(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Conditional distribution function of a one-dimensional target.

        ``F(y | x) = (1 / M) sum_m Phi(f_m(y; x) / t)`` (``t`` the temperature): every
        layer of a one-dimensional flow is increasing, so each member's is the normal
        one of its latent.

        Parameters
        ----------
        y : Tensor of shape (n, 1)
            Targets inside the box.
        x : Tensor of shape (n, d_x)
            Conditions.

        Returns
        -------
        Tensor of shape (n,)
            Probabilities in [0, 1].

        Raises
        ------
        ValueError
            If the target is not one-dimensional or the context does not fit the flow.
        """
        if y.shape[-1] != 1:
            raise ValueError(f"cdf() needs a one-dimensional target, got {y.shape[-1]}.")
        p = torch.special.ndtr(self.latent(y, x)[0][..., 0] / self.temperature)
        return p if self.n_members == 1 else p.mean(0)

    def sample(self, n_samples: int, x: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws of ``y`` for each row of ``x``, all rows in one batched pass.

        With ``n_members > 1`` every draw comes from a member chosen uniformly at random
        (all members map their own base draws in one pass; each draw keeps one). With
        ``truncate``, the flow's draws that fall inside the box (rejection, which samples
        the truncated density exactly), in rounds over the rows still short of draws.

        Parameters
        ----------
        n_samples : int
            Draws per row.
        x : Tensor of shape (m, d_x)
            Conditions.
        generator : torch.Generator, optional
            Source of the base draws (torch's global generator when None).

        Returns
        -------
        Tensor of shape (m, n_samples, d_y)

        Raises
        ------
        ValueError
            If the context does not fit the flow (see :class:`~skflows.nn.Flow`).
        RuntimeError
            With ``truncate``, if some row still lacks draws after
            ``max_draws_per_sample * n_samples`` of the flow's (its mass inside the box
            is then below about ``1 / max_draws_per_sample``).
        """
        if self.truncate:
            return self._sample_inside(n_samples, x, generator)
        return self._sample_flow(n_samples, x, generator)

    #: Draws per row and requested sample after which truncated sampling gives up.
    max_draws_per_sample = 1000

    def _sample_inside(self, n_samples: int, x: torch.Tensor,
                       generator: torch.Generator | None) -> torch.Tensor:
        """Exact draws of the truncated density: the flow's draws that fall inside the
        box, in rounds sized by each round's acceptance, all rows at once."""
        m = len(x)
        out = x.new_empty(m, n_samples, self.box.n_features)
        count = torch.zeros(m, dtype=torch.long, device=x.device)
        drawn, batch = 0, n_samples
        rows = torch.arange(m, device=x.device)
        while True:
            todo = rows[count < n_samples]
            if len(todo) == 0:
                return out
            if drawn >= self.max_draws_per_sample * n_samples:
                raise RuntimeError(
                    f"The flow put less than 1/{self.max_draws_per_sample} of its mass "
                    f"inside the box for {len(todo)} row(s) of x: truncated sampling "
                    "stopped. Use bounds_transform='linear' or 'logit' (a bijection onto "
                    "the box), or check that these rows resemble the training data.")
            draws = self._sample_flow(batch, x[todo], generator)  # (t, batch, d)
            inside = self.box.inside(draws)
            slot = count[todo, None] + torch.cumsum(inside, dim=1) - 1
            keep = inside & (slot < n_samples)
            row_of = todo[:, None].expand_as(keep)
            out[row_of[keep], slot[keep]] = draws[keep]
            count[todo] += keep.sum(1)
            drawn += batch
            rate = float(inside.float().mean())
            missing = int((n_samples - count[todo]).clamp(min=0).max())
            # Enough for the emptiest row at the observed rate, with a margin.
            batch = int(min(max(missing, 1) * 1.2 / max(rate, 1e-3) + 16,
                            self.max_draws_per_sample * n_samples,
                            max(n_samples, 2**20 // len(todo))))  # bounded memory

    def _sample_flow(self, n_samples: int, x: torch.Tensor,
                     generator: torch.Generator | None) -> torch.Tensor:
        """Draws of the flow (its mixture for an ensemble), shape (m, n_samples, d_y)."""
        t = self.temperature
        if self.n_members == 1:
            return self.flow.sample(n_samples, context=self.context(x), generator=generator,
                                    temperature=t)
        draws = self.flow.sample(n_samples, context=self.context(x), generator=generator,
                                 batch_shape=(self.n_members,), temperature=t)
        member = torch.randint(self.n_members, draws.shape[1:3], generator=generator,
                               device=draws.device)
        index = member[None, ..., None].expand(1, *draws.shape[1:])
        return torch.gather(draws, 0, index)[0]
