"""Volume-preserving and linear invertible layers: permutations, an LU-parameterised
linear map, ActNorm, and a fixed affine map (standardisation)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Transform, component_shape

__all__ = ["Permutation", "LULinear", "ActNorm", "FixedAffine"]


class Permutation(Transform):
    """Fixed permutation of the features (log-determinant 0).

    Parameters
    ----------
    permutation : LongTensor of shape (d,)
        ``y[..., i] = x[..., permutation[i]]``.
    """

    def __init__(self, permutation: torch.Tensor):
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    @classmethod
    def reverse(cls, n_features: int) -> Permutation:
        """The order-reversing permutation."""
        return cls(torch.arange(n_features - 1, -1, -1))

    @classmethod
    def random(cls, n_features: int, generator: torch.Generator | None = None) -> Permutation:
        """A uniformly random permutation drawn from ``generator``."""
        return cls(torch.randperm(n_features, generator=generator))

    def _zeros(self, x):
        return x.new_zeros(x.shape[:-1])

    def forward(self, x):
        return _permute(x, self.permutation, self.inverse_permutation), self._zeros(x)

    def inverse(self, y):
        return _permute(y, self.inverse_permutation, self.permutation), self._zeros(y)


class _PermuteFeatures(torch.autograd.Function):
    """``x[..., permutation]`` whose backward is the inverse permutation of the gradient:
    a gather instead of autograd's zero-fill plus scatter-add of ``index_select``."""

    @staticmethod
    def forward(x, permutation, inverse_permutation):
        return x.index_select(-1, permutation)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.inverse_permutation = inputs[2]

    @staticmethod
    def backward(ctx, grad):
        return grad.index_select(-1, ctx.inverse_permutation), None, None


def _permute(x, permutation, inverse_permutation):
    if not torch.is_grad_enabled() or not x.requires_grad:
        return x.index_select(-1, permutation)
    return _PermuteFeatures.apply(x, permutation, inverse_permutation)


class LULinear(Transform):
    """Invertible linear map ``y = W x + b`` with ``W = P L U`` (Kingma & Dhariwal,
    "Glow", NeurIPS 2018, Section 3.2).

    ``P`` is a fixed permutation, ``L`` unit lower-triangular and ``U`` upper-triangular
    with a positive diagonal ``softplus(.) + eps``, so ``log|det W| = sum log diag(U)``
    costs O(d). Initialised at ``W = P`` (a permutation).

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    n_components : int or None, default=None
        Number of independent maps on a leading axis.
    generator : torch.Generator, optional
        Draws the fixed permutation ``P``.
    """

    _eps = 1e-3

    def __init__(self, n_features: int, n_components: int | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        d = n_features
        lead = () if n_components is None else (n_components,)
        self.n_components = n_components
        self.register_buffer("permutation", torch.randperm(d, generator=generator))
        self.register_buffer("inverse_permutation", torch.argsort(self.permutation))
        self.lower = nn.Parameter(torch.zeros(*lead, d, d))
        self.upper = nn.Parameter(torch.zeros(*lead, d, d))
        init = math.log(math.expm1(1.0 - self._eps))
        self.diag_raw = nn.Parameter(torch.full((*lead, d), init))
        self.bias = nn.Parameter(torch.zeros(*lead, 1, d) if lead else torch.zeros(d))
        self.register_buffer("_tril_mask", torch.tril(torch.ones(d, d), -1))

    def _factors(self):
        eye = torch.eye(self.lower.shape[-1], dtype=self.lower.dtype, device=self.lower.device)
        diag = F.softplus(self.diag_raw) + self._eps
        lower = self.lower * self._tril_mask + eye
        upper = self.upper * self._tril_mask.transpose(-1, -2) + torch.diag_embed(diag)
        return lower, upper, diag

    def forward(self, x):
        lower, upper, diag = self._factors()
        # y = P L U x + b: form the (K x) d x d matrix P L U once (rows of L U permuted),
        # then one matmul over the rows of x, cheaper than two once n exceeds d.
        weight = torch.matmul(lower, upper).index_select(-2, self.inverse_permutation)
        if weight.dim() == 2:
            y = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), weight.T).view(x.shape)
        elif x.dim() == 3:
            y = torch.baddbmm(self.bias, x, weight.transpose(-1, -2))
        else:
            y = torch.matmul(x, weight.transpose(-1, -2)) + self.bias
        log_det = torch.log(diag).sum(-1)
        return y, log_det.unsqueeze(-1).expand(x.shape[:-1])

    def inverse(self, y):
        lower, upper, diag = self._factors()
        h = (y - self.bias).index_select(-1, self.permutation)
        # Solve L U x = h for row vectors: x^T = h^T U^-T L^-T.
        h = torch.linalg.solve_triangular(lower.transpose(-1, -2), h, upper=True, left=False,
                                          unitriangular=True)
        x = torch.linalg.solve_triangular(upper.transpose(-1, -2), h, upper=False, left=False)
        log_det = -torch.log(diag).sum(-1)
        return x, log_det.unsqueeze(-1).expand(y.shape[:-1])


class ActNorm(Transform):
    """Per-feature affine normalisation with data-dependent initialisation (Glow, Sec. 3.1).

    ``y = (x - loc) * exp(log_scale)``; on the first training batch ``loc`` and
    ``log_scale`` are set so that the batch leaves with zero mean and unit variance per
    feature (and per component).

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    n_components : int or None, default=None
        Number of independent layers on a leading axis.
    """

    def __init__(self, n_features: int, n_components: int | None = None):
        super().__init__()
        shape = component_shape(n_components, n_features)
        self.loc = nn.Parameter(torch.zeros(shape))
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(False))

    def _log_det(self, x):
        return self.log_scale.sum(-1, keepdim=True).expand(*x.shape[:-1], 1).squeeze(-1)

    def forward(self, x):
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                dims = tuple(range(x.dim() - 1)) if self.loc.dim() == 1 else (-2,)
                mean = x.mean(dim=dims, keepdim=self.loc.dim() > 1)
                std = x.std(dim=dims, keepdim=self.loc.dim() > 1) if x.shape[-2] > 1 else \
                    torch.ones_like(mean)
                self.loc.copy_(mean)
                self.log_scale.copy_(-torch.log(std.clamp_min(1e-6)))
                self.initialized.fill_(True)
        return (x - self.loc) * torch.exp(self.log_scale), self._log_det(x)

    def inverse(self, y):
        return y * torch.exp(-self.log_scale) + self.loc, -self._log_det(y)


class FixedAffine(Transform):
    """Fixed (non-trainable) elementwise affine map ``y = (x - shift) / scale``.

    Used to standardise data inside a flow, so that log-densities refer to the units of
    the caller's data: ``log|det J| = -sum_j log scale_j``.

    Parameters
    ----------
    shift, scale : Tensor of shape (d,)
        Per-feature location and (positive) scale.
    """

    def __init__(self, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift))
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, x):
        ld = -torch.log(self.scale).sum()
        return (x - self.shift) / self.scale, ld.expand(x.shape[:-1])

    def inverse(self, y):
        ld = torch.log(self.scale).sum()
        return y * self.scale + self.shift, ld.expand(y.shape[:-1])
