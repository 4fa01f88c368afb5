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
        if self.n_components is None:
            return F.linear(x, self.weight, self.bias)
        return torch.baddbmm(self.bias.unsqueeze(-2), x, self.weight.transpose(-1, -2))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"n_components={self.n_components}")
