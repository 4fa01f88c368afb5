"""Dense layers whose weights may carry a leading component axis."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BatchedLinear"]


class BatchedLinear(nn.Module):
    """Affine layer ``y = x W^T + b``, optionally for ``K`` independent weight sets.

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths (``in_features`` may be 0: the output is then the bias).
    n_components : int or None, default=None
        With an int ``K`` the weights have shape ``(K, out, in)`` and inputs
        ``(K, n, in)``; each component uses its own weights (one ``baddbmm`` call).
    zero_init : bool, default=False
        Initialise weight and bias to zero (used for the last conditioner layer so that
        a flow starts as the identity map).

    References
    ----------
    .. [1] Y. LeCun, L. Bottou, G. B. Orr, K.-R. Muller. Efficient BackProp. In Neural
       Networks: Tricks of the Trade, LNCS 1524, Springer 1998, Sec. 4.6 (weights
       scaled by ``1/sqrt(fan_in)``; the uniform bound is that of
       :class:`torch.nn.Linear`).
    .. [2] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.3 (zero-initialised last layer).
    .. [3] G. G. P. F. Pires, M. A. T. Figueiredo. Variational Mixture of Normalizing
       Flows. ESANN 2020; arXiv:2009.00585, Sec. 3 (``K`` component flows with separate
       parameters, here evaluated in one batched pass).
    """

    def __init__(self, in_features: int, out_features: int, n_components: int | None = None,
                 zero_init: bool = False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.n_components = n_components
        lead = () if n_components is None else (n_components,)
        self.weight = nn.Parameter(torch.empty(*lead, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(*lead, out_features))
        if zero_init:
            nn.init.zeros_(self.weight)
            nn.init.zeros_(self.bias)
        else:
            # Same scale as torch.nn.Linear's default (uniform, bound 1/sqrt(fan_in)).
            bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
            nn.init.uniform_(self.weight, -bound, bound)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``y = x W^T + b`` (per component with ``n_components=K``).

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, in_features)
            Inputs; with ``n_components=K`` exactly ``(K, n_samples, in_features)``.
            Same dtype as the weights.

        Returns
        -------
        y : Tensor of shape (..., n_samples, out_features)
            Affine images of the rows of ``x``.

        Raises
        ------
        RuntimeError
            If the last axis of ``x`` does not have ``in_features`` entries, its dtype
            differs from the weights', or (with ``n_components=K``) ``x`` is not of
            shape ``(K, n_samples, in_features)`` (raised by torch).
        """
        if self.n_components is None:
            return F.linear(x, self.weight, self.bias)
        return torch.baddbmm(self.bias.unsqueeze(-2), x, self.weight.transpose(-1, -2))

    def extra_repr(self) -> str:
        """Widths and component count shown by ``repr(module)``.

        Returns
        -------
        str
            ``"in_features=..., out_features=..., n_components=..."``.
        """
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"n_components={self.n_components}")
