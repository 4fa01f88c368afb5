"""A normalizing flow: a composition of transforms on top of a base distribution."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .base import Transform
from .coupling import AffineCoupling, SplineCoupling
from .linear_flows import FixedAffine, LULinear, Permutation

__all__ = ["StandardNormal", "Flow", "coupling_flow", "stack_couplings"]

_LOG_2PI = math.log(2.0 * math.pi)


class StandardNormal(nn.Module):
    """Standard normal base distribution ``N(0, I_d)``.

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.n_features = n_features

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density in nats, shape ``z.shape[:-1]``."""
        return -0.5 * (z * z).sum(-1) - 0.5 * self.n_features * _LOG_2PI

    def sample(self, shape: Sequence[int], *, dtype=None, device=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``(*shape, d)`` samples from ``generator``."""
        return torch.randn(*shape, self.n_features, dtype=dtype, device=device,
                           generator=generator)


class Flow(nn.Module):
    r"""Normalizing flow ``z = f(x)`` with base density ``p_Z``.

    ``log p(x) = log p_Z(f(x)) + log |det J_f(x)|`` (change of variables; Papamakarios
    et al., "Normalizing Flows for Probabilistic Modeling and Inference", JMLR 2021,
    Eq. 2-3).

    Parameters
    ----------
    transforms : iterable of Transform
        Applied in order in the data-to-latent direction.
    base : StandardNormal
        Base distribution of the latent ``z``.
    """

    def __init__(self, transforms: Iterable[Transform], base: StandardNormal):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.base = base

    @property
    def n_features(self) -> int:
        return self.base.n_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map data to latent.

        Parameters
        ----------
        x : Tensor of shape (*batch, n, d)

        Returns
        -------
        z : Tensor of shape (*batch, n, d)
        log_det_jacobian : Tensor of shape (*batch, n)
            ``log |det dz/dx|`` in nats.
        """
        total = None
        for t in self.transforms:
            x, ld = t(x)
            total = ld if total is None else total + ld
        if total is None:
            total = x.new_zeros(x.shape[:-1])
        return x, total

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map latent to data; returns ``(x, log |det dx/dz|)``."""
        total = None
        for t in reversed(self.transforms):
            z, ld = t.inverse(z)
            total = ld if total is None else total + ld
        if total is None:
            total = z.new_zeros(z.shape[:-1])
        return z, total

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density ``log p(x)`` in nats, shape ``x.shape[:-1]``."""
        z, log_det = self(x)
        return self.base.log_prob(z) + log_det

    def sample(self, n_samples: int, *, generator: torch.Generator | None = None,
               batch_shape: Sequence[int] = ()) -> torch.Tensor:
        """Draw ``(*batch_shape, n_samples, d)`` samples by inverting base draws."""
        p = next(iter(self.parameters()), None)
        buf = p if p is not None else next(iter(self.buffers()), None)
        dtype = buf.dtype if buf is not None else None
        device = buf.device if buf is not None else None
        z = self.base.sample((*batch_shape, n_samples), dtype=dtype, device=device,
                             generator=generator)
        return self.inverse(z)[0]


def stack_couplings(n_features: int, n_layers: int, make_coupling, *,
                    permutation: str = "random", n_components: int | None = None,
                    shift: torch.Tensor | None = None, scale: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> list[Transform]:
    """The layer list shared by every coupling flow: an optional fixed standardisation,
    then ``n_layers`` x (mixing layer, ``make_coupling(n_features)``).

    Parameters
    ----------
    n_features : int
    n_layers : int
    make_coupling : callable
        ``make_coupling(n_features) -> Transform``, called once per layer.
    permutation : {"random", "reverse", "lu"}, default="random"
        Mixing layer before each coupling (no reversal before the first one).
    n_components : int or None, default=None
    shift, scale : Tensor of shape (d,), optional
    generator : torch.Generator, optional

    Returns
    -------
    list of Transform

    Raises
    ------
    ValueError
        For an unknown ``permutation``.
    """
    if permutation not in ("random", "reverse", "lu"):
        raise ValueError(f"unknown permutation {permutation!r}")
    transforms: list[Transform] = []
    if shift is not None:
        transforms.append(FixedAffine(shift, scale))
    for i in range(n_layers):
        if permutation == "lu":
            transforms.append(LULinear(n_features, n_components, generator=generator))
        elif permutation == "random":
            transforms.append(Permutation.random(n_features, generator))
        elif i > 0:
            transforms.append(Permutation.reverse(n_features))
        transforms.append(make_coupling(n_features))
    return transforms


def coupling_flow(
    n_features: int,
    *,
    transform: str = "nsf",
    n_layers: int = 5,
    hidden_dims: Sequence[int] = (64, 64),
    n_bins: int = 8,
    tail_bound: float = 5.0,
    permutation: str = "random",
    n_components: int | None = None,
    shift: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Flow:
    """Build a coupling flow: ``n_layers`` x (mixing layer, coupling layer).

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    transform : {"nsf", "realnvp"}, default="nsf"
        Rational-quadratic spline coupling (Durkan et al. 2019) or affine coupling
        (Dinh et al. 2017).
    n_layers : int, default=5
        Number of coupling layers.
    hidden_dims : sequence of int, default=(64, 64)
        Hidden widths of each conditioner MLP.
    n_bins : int, default=8
        Spline bins (NSF only).
    tail_bound : float, default=5.0
        Spline domain half-width (NSF only), in standardised units.
    permutation : {"random", "reverse", "lu"}, default="random"
        Mixing layer placed before every coupling layer: a fixed random permutation, the
        order reversal, or an LU-parameterised linear layer (Glow).
    n_components : int or None, default=None
        Build ``K`` independent flows evaluated in one batched pass.
    shift, scale : Tensor of shape (d,), optional
        If given, a fixed standardisation ``(x - shift) / scale`` is the first transform.
    generator : torch.Generator, optional
        Draws the fixed permutations.

    Returns
    -------
    Flow
    """
    def coupling(n_features):
        if transform == "nsf":
            return SplineCoupling(n_features, hidden_dims, n_bins, tail_bound, n_components)
        if transform == "realnvp":
            return AffineCoupling(n_features, hidden_dims, n_components)
        raise ValueError(f"unknown transform {transform!r}")

    transforms = stack_couplings(n_features, n_layers, coupling, permutation=permutation,
                                 n_components=n_components, shift=shift, scale=scale,
                                 generator=generator)
    return Flow(transforms, StandardNormal(n_features))
