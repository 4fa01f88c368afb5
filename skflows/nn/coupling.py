"""Coupling layers: the first ``d // 2`` coordinates pass through unchanged and
parameterise an elementwise bijection of the remaining ones."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .base import Transform
from .conditioners import MLP
from .splines import rational_quadratic_spline

__all__ = ["AffineCoupling", "SplineCoupling"]


class _Coupling(Transform):
    """Shared split / conditioner / merge logic of coupling layers."""

    n_params: int

    def __init__(self, n_features: int, hidden_dims: Sequence[int], n_components: int | None):
        super().__init__()
        self.n_features = n_features
        self.n_identity = n_features // 2
        self.n_transformed = n_features - self.n_identity
        self.conditioner = MLP(self.n_identity, self.n_transformed * self.n_params,
                               hidden_dims, n_components)

    def _params(self, x_id: torch.Tensor) -> torch.Tensor:
        out = self.conditioner(x_id)
        return out.reshape(*out.shape[:-1], self.n_transformed, self.n_params)

    def _elementwise(self, x: torch.Tensor, params: torch.Tensor, inverse: bool):
        raise NotImplementedError  # pragma: no cover

    def _couple(self, x: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x_id, x_tr = x[..., : self.n_identity], x[..., self.n_identity:]
        y_tr, log_det = self._elementwise(x_tr, self._params(x_id), inverse)
        return torch.cat([x_id, y_tr], dim=-1), log_det.sum(dim=-1)

    def forward(self, x):
        return self._couple(x, inverse=False)

    def inverse(self, y):
        return self._couple(y, inverse=True)


class AffineCoupling(_Coupling):
    """Affine coupling layer (RealNVP; Dinh, Sohl-Dickstein & Bengio, ICLR 2017, Eq. 6-9).

    ``y_B = x_B * exp(s(x_A)) + t(x_A)`` with a bounded log-scale
    ``s = c * tanh(s_raw / c)`` (``c = scale_bound``), so the scale lies in
    ``(exp(-c), exp(c))``: never a bare exponential, never a scale capped at 1.
    The log-determinant sums ``s`` over the transformed coordinates only.

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
    """

    n_params = 2

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64),
                 n_components: int | None = None, scale_bound: float = 2.0):
        super().__init__(n_features, hidden_dims, n_components)
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
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64), n_bins: int = 8,
                 tail_bound: float = 5.0, n_components: int | None = None):
        self.n_params = 3 * n_bins - 1
        super().__init__(n_features, hidden_dims, n_components)
        self.n_bins = n_bins
        self.tail_bound = float(tail_bound)
        width = hidden_dims[-1] if len(hidden_dims) else max(self.n_identity, 1)
        self.logit_scale = 1.0 / math.sqrt(width)

    def _elementwise(self, x, params, inverse):
        k = self.n_bins
        widths = params[..., :k] * self.logit_scale
        heights = params[..., k: 2 * k] * self.logit_scale
        derivs = params[..., 2 * k:]
        return rational_quadratic_spline(x, widths, heights, derivs, self.tail_bound, inverse)
