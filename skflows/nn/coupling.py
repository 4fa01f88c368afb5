"""Coupling layers: the first ``d // 2`` coordinates pass through unchanged and
parameterise an elementwise bijection of the remaining ones.

A conditional coupling layer (``context_features > 0``) also feeds a context vector ``c``
to its conditioner, ``y_B = tau(x_B; NN([x_A, c]))``: the map stays a bijection of ``x``
for every fixed ``c`` with the same triangular Jacobian, so ``log p(x | c)`` follows from
the change of variables (Papamakarios et al., JMLR 2021, Sec. 5.1; Winkler et al.,
2019). With ``n_features == 1`` the identity half is empty and the conditioner reads the
context alone (without a context it is a constant: a learned elementwise bijection).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import Transform, _check_context, _check_features, _check_int
from .conditioners import MLP, ResidualMLP
from .splines import _spline

__all__ = ["AffineCoupling", "SplineCoupling"]


class _Coupling(Transform):
    """Shared split / conditioner / merge logic of coupling layers."""

    n_params: int
    # Class-level default: layers pickled before conditional couplings existed have no
    # instance attribute and are unconditional.
    context_features: int = 0

    def __init__(self, n_features: int, hidden_dims: Sequence[int], n_components: int | None,
                 context_features: int = 0, conditioner: str = "mlp"):
        super().__init__()
        self.n_features = n_features
        self.n_identity = n_features // 2
        self.n_transformed = n_features - self.n_identity
        self.context_features = _check_int(context_features, "context_features", 0)
        n_in, n_out = self.n_identity + self.context_features, self.n_transformed * self.n_params
        if conditioner == "mlp":
            self.conditioner = MLP(n_in, n_out, hidden_dims, n_components)
        elif conditioner == "residual":
            self.conditioner = ResidualMLP(n_in, n_out, hidden_dims, self.context_features,
                                           n_components)
        else:
            raise ValueError(f"conditioner must be 'mlp' or 'residual', got {conditioner!r}.")

    def _params(self, x_id: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if context is not None:
            context = context.expand(*x_id.shape[:-1], context.shape[-1])
        out = self.conditioner(x_id, context)
        return out.reshape(*out.shape[:-1], self.n_transformed, self.n_params)

    def _elementwise(self, x: torch.Tensor, params: torch.Tensor, inverse: bool):
        raise NotImplementedError  # pragma: no cover

    def _couple(self, x: torch.Tensor, inverse: bool, context: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_features(x, self.n_features, "y" if inverse else "x")
        _check_context(context, self.context_features, x.shape[:-1], type(self).__name__)
        x_id, x_tr = x[..., : self.n_identity], x[..., self.n_identity:]
        y_tr, log_det = self._elementwise(x_tr, self._params(x_id, context), inverse)
        return torch.cat([x_id, y_tr], dim=-1), log_det.sum(dim=-1)

    def forward(self, x, context=None):
        """Couple in the data-to-latent direction: ``y_A = x_A``, ``y_B = tau(x_B; c(x_A))``.

        In a conditional layer the conditioner also reads the context,
        ``y_B = tau(x_B; c([x_A, context]))``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points; with ``n_components=K`` exactly ``(K, n_samples, n_features)``.
            Same dtype as the conditioner weights.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables, required when ``context_features > 0`` and refused
            otherwise. Its leading shape broadcasts against that of ``x``: one row per
            sample, or a single row ``(1, context_features)`` shared by all samples; a
            ``(n_samples, context_features)`` context is shared by the ``K`` components.

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            The first ``n_features // 2`` coordinates unchanged, the others transformed.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dy/dx|`` in nats (sum over the transformed coordinates), at fixed
            context.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries; if a context
            is missing from a conditional layer or given to an unconditional one; if the
            context does not have ``context_features`` entries on its last axis or its
            rows do not match those of ``x``.
        RuntimeError
            If the dtype of ``x`` differs from the conditioner weights', or (with
            ``n_components=K``) the leading axis of ``x`` is not ``K`` (raised by torch).
        """
        return self._couple(x, inverse=False, context=context)

    def inverse(self, y, context=None):
        """Undo :meth:`forward`: ``x_A = y_A``, ``x_B = tau^{-1}(y_B; c(y_A))``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Latent points; with ``n_components=K`` exactly ``(K, n_samples, n_features)``.
        context : Tensor of shape (..., n_samples, context_features), optional
            The context :meth:`forward` was given (required exactly when
            ``context_features > 0``); broadcasting as in :meth:`forward`.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Pre-images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dy|`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries; if a context
            is missing from a conditional layer or given to an unconditional one; if the
            context does not have ``context_features`` entries on its last axis or its
            rows do not match those of ``y``.
        RuntimeError
            If the dtype of ``y`` differs from the conditioner weights', or (with
            ``n_components=K``) the leading axis of ``y`` is not ``K`` (raised by torch).
        """
        return self._couple(y, inverse=True, context=context)


class AffineCoupling(_Coupling):
    """Affine coupling layer (RealNVP; Dinh, Sohl-Dickstein & Bengio, ICLR 2017, Sec. 3).

    ``y_B = x_B * exp(s(x_A)) + t(x_A)`` with a bounded log-scale
    ``s = c * tanh(s_raw / c)`` (``c = scale_bound``), so the scale lies in
    ``(exp(-c), exp(c))``: never a bare exponential, never a scale capped at 1.
    The log-determinant sums ``s`` over the transformed coordinates only.

    With ``context_features > 0`` the layer is conditional: ``s`` and ``t`` are functions
    of ``[x_A, context]`` and :meth:`forward` / :meth:`inverse` require ``context=``.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the data.
    hidden_dims : sequence of int
        Hidden widths of the MLP conditioner.
    n_components : int or None, default=None
        Number of independent flows on a leading axis.
    scale_bound : float, default=2.0
        Bound ``c`` of the log-scale.
    context_features : int, default=0
        Width of the context vector the conditioner also reads (0: unconditional, and
        then the layer and its parameter shapes are exactly the unconditional ones).
    conditioner : {"mlp", "residual"}, default="mlp"
        :class:`~skflows.nn.MLP` of ``[x_A, context]``, or
        :class:`~skflows.nn.ResidualMLP` (one block per ``hidden_dims`` entry, all
        equal; the context also gates every block).

    Raises
    ------
    ValueError
        If ``context_features`` is not an int ``>= 0``, for an unknown
        ``conditioner``, or for a residual one with unequal ``hidden_dims``.

    References
    ----------
    .. [1] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3.2-3.4, Eq. 4-9 (affine coupling, its triangular Jacobian with
       ``log |det| = sum_j s_j(x_A)``, the inverse and the masked form).
    .. [2] L. Ardizzone, C. Luth, J. Kruse, C. Rother, U. Kothe. Guided Image
       Generation with Conditional Invertible Neural Networks. arXiv:1907.02392, 2019
       (soft clamping of the log-scale, there with ``arctan``; here with ``tanh``; and
       conditional affine couplings whose subnetworks also read the condition).
    .. [3] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1 (conditional flows: the context enters
       the conditioner only, so invertibility and the Jacobian are unchanged).
    .. [4] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (conditional coupling
       layers whose networks take the context as an extra input).
    """

    n_params = 2

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64),
                 n_components: int | None = None, scale_bound: float = 2.0,
                 context_features: int = 0, conditioner: str = "mlp"):
        super().__init__(n_features, hidden_dims, n_components, context_features, conditioner)
        self.scale_bound = float(scale_bound)

    def _elementwise(self, x, params, inverse):
        c = self.scale_bound
        log_scale = c * torch.tanh(params[..., 0] / c)
        shift = params[..., 1]
        if inverse:
            return (x - shift) * torch.exp(-log_scale), -log_scale
        return x * torch.exp(log_scale) + shift, log_scale


class SplineCoupling(_Coupling):
    """Rational-quadratic spline coupling layer (NSF; Durkan et al., NeurIPS 2019, Sec. 3).

    Each transformed coordinate goes through a monotone rational-quadratic spline with
    ``n_bins`` bins on ``[-tail_bound, tail_bound]`` and identity tails. The bin-width and
    height logits are divided by ``sqrt(hidden_dims[-1])``, which keeps the initial updates
    of the spline shape small (the same damping the NSF reference code applies).

    With ``context_features > 0`` the layer is conditional: the spline parameters are
    functions of ``[x_A, context]`` and :meth:`forward` / :meth:`inverse` require
    ``context=``. With ``n_features == 1`` they depend on the context alone.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the data.
    hidden_dims : sequence of int
        Hidden widths of the MLP conditioner.
    n_bins : int, default=8
        Number of spline bins ``K``.
    tail_bound : float, default=5.0
        Half-width of the spline domain (in the flow's input units).
    n_components : int or None, default=None
        Number of independent flows on a leading axis.
    context_features : int, default=0
        Width of the context vector the conditioner also reads (0: unconditional, and
        then the layer and its parameter shapes are exactly the unconditional ones).
    conditioner : {"mlp", "residual"}, default="mlp"
        :class:`~skflows.nn.MLP` of ``[x_A, context]``, or
        :class:`~skflows.nn.ResidualMLP` (one block per ``hidden_dims`` entry, all
        equal; the context also gates every block).

    Raises
    ------
    ValueError
        If ``context_features`` is not an int ``>= 0``, for an unknown
        ``conditioner``, or for a residual one with unequal ``hidden_dims``.

    References
    ----------
    .. [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3.1 and Appendix A (monotone rational-quadratic spline with
       linear tails, Eq. 4, its derivative and inverse), Sec. 3.2 (use in a coupling
       layer).
    .. [2] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3.2 (the coupling structure).
    .. [3] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1 (conditional flows: the context enters
       the conditioner only, so invertibility and the Jacobian are unchanged).
    .. [4] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (conditional coupling
       layers whose networks take the context as an extra input).
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64), n_bins: int = 8,
                 tail_bound: float = 5.0, n_components: int | None = None,
                 context_features: int = 0, conditioner: str = "mlp"):
        self.n_params = 3 * n_bins - 1
        super().__init__(n_features, hidden_dims, n_components, context_features, conditioner)
        self.n_bins = n_bins
        self.tail_bound = float(tail_bound)
        width = hidden_dims[-1] if len(hidden_dims) else \
            max(self.n_identity + self.context_features, 1)
        self.logit_scale = 1.0 / math.sqrt(width)

    def _elementwise(self, x, params, inverse):
        k = self.n_bins
        # Width and height logits stay packed, (..., d, 2, K): one pass builds both knots.
        logits = params[..., :2 * k].unflatten(-1, (2, k)) * self.logit_scale
        return _spline(x, logits, params[..., 2 * k:], self.tail_bound, inverse)
