"""A normalizing flow: a composition of transforms on top of a base distribution."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .base import Transform, _check_features, _check_int
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

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1 (the base distribution ``p_u``, usually a
       standard normal).
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.n_features = n_features

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density ``-||z||^2 / 2 - (d / 2) log(2 pi)`` of the rows of ``z``.

        Parameters
        ----------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points (floating dtype).

        Returns
        -------
        log_prob : Tensor of shape (..., n_samples)
            Log-density in nats, dtype of ``z``.

        Raises
        ------
        ValueError
            If the last axis of ``z`` does not have ``n_features`` entries.
        """
        _check_features(z, self.n_features, "z")
        return -0.5 * (z * z).sum(-1) - 0.5 * self.n_features * _LOG_2PI

    def sample(self, shape: Sequence[int], *, dtype=None, device=None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw standard-normal latents of shape ``(*shape, n_features)``.

        Parameters
        ----------
        shape : sequence of int
            Leading shape of the draws, for example ``(n_samples,)`` or
            ``(n_components, n_samples)``.
        dtype : torch.dtype, optional
            Floating dtype of the draws (torch's default dtype when None).
        device : torch.device, optional
            Device of the draws (CPU when None).
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).

        Returns
        -------
        z : Tensor of shape shape + (n_features,)
            Independent ``N(0, 1)`` entries.

        Raises
        ------
        TypeError
            If ``shape`` is not a sequence of ints (raised by Python/torch).
        RuntimeError
            If an entry of ``shape`` is negative (raised by torch).
        """
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

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1, Eq. 2-3 (change of variables; the
       log-determinant of a composition is the sum over its layers).
    .. [2] D. J. Rezende, S. Mohamed. Variational Inference with Normalizing Flows.
       ICML 2015, Sec. 3.1 (finite flows as compositions of invertible maps).
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
        x : Tensor of shape (..., n_samples, n_features)
            Data points; the leading ``batch`` axis is the component axis of flows built
            with ``n_components``. Same dtype as the flow's parameters.

        Returns
        -------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dz/dx|`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        _check_features(x, self.n_features)
        total = None
        for t in self.transforms:
            x, ld = t(x)
            total = ld if total is None else total + ld
        if total is None:
            total = x.new_zeros(x.shape[:-1])
        return x, total

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map latent to data, ``x = f^{-1}(z)``.

        Parameters
        ----------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points. Same dtype as the flow's parameters.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Data points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dz|`` in nats (minus that of :meth:`forward` at ``x``).

        Raises
        ------
        ValueError
            If the last axis of ``z`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``z`` differs from the parameters' (raised by torch).
        """
        _check_features(z, self.n_features, "z")
        total = None
        for t in reversed(self.transforms):
            z, ld = t.inverse(z)
            total = ld if total is None else total + ld
        if total is None:
            total = z.new_zeros(z.shape[:-1])
        return z, total

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density ``log p(x) = log p_Z(f(x)) + log |det J_f(x)|``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points. Same dtype as the flow's parameters.

        Returns
        -------
        log_prob : Tensor of shape (..., n_samples)
            Log-density in nats, in the units of ``x``.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        z, log_det = self(x)
        return self.base.log_prob(z) + log_det

    def sample(self, n_samples: int, *, generator: torch.Generator | None = None,
               batch_shape: Sequence[int] = ()) -> torch.Tensor:
        """Draw samples ``x = f^{-1}(z)`` with ``z`` from the base distribution.

        Parameters
        ----------
        n_samples : int
            Number of samples per component, ``>= 0``.
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).
        batch_shape : sequence of int, default=()
            Leading shape, ``(n_components,)`` for a flow built with ``n_components``.

        Returns
        -------
        x : Tensor of shape batch_shape + (n_samples, n_features)
            Samples, in the dtype and on the device of the flow's parameters.

        Raises
        ------
        ValueError
            If ``n_samples`` is not an int ``>= 0``.
        """
        n_samples = _check_int(n_samples, "n_samples", 0)
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
    """The layer list shared by every coupling flow.

    An optional fixed standardisation, then ``n_layers`` x (mixing layer,
    ``make_coupling(n_features)``).

    Parameters
    ----------
    n_features : int
        Dimension ``d``.
    n_layers : int
        Number of coupling layers.
    make_coupling : callable
        ``make_coupling(n_features) -> Transform``, called once per layer.
    permutation : {"random", "reverse", "lu"}, default="random"
        Mixing layer before each coupling (no reversal before the first one).
    n_components : int or None, default=None
        Number of independent flows on a leading axis (used by the LU layers).
    shift, scale : Tensor of shape (d,), optional
        Fixed standardisation ``(x - shift) / scale`` put first when ``shift`` is given.
    generator : torch.Generator, optional
        Draws the fixed permutations.

    Returns
    -------
    list of Transform
        In the data-to-latent order.

    Raises
    ------
    ValueError
        For an unknown ``permutation``.

    References
    ----------
    .. [1] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3.5 (alternating which half of the coupling is transformed).
    .. [2] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.2 (a learned invertible linear mixing layer
       instead of a fixed permutation).
    .. [3] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019 (experiments: a random permutation or an LU-decomposed linear
       layer between coupling layers).
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
        Its :meth:`Flow.forward` maps data ``(*batch, n_samples, n_features)`` to
        latents; base distribution ``N(0, I_d)``.

    Raises
    ------
    ValueError
        If ``n_features`` is not an int ``>= 1``, or for an unknown ``transform`` or
        ``permutation``.

    References
    ----------
    .. [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3 (rational-quadratic spline coupling, ``"nsf"``).
    .. [2] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3 (affine coupling, ``"realnvp"``).
    .. [3] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.2 (LU-parameterised mixing, ``"lu"``).

    Examples
    --------
    >>> import torch
    >>> from skflows.nn import coupling_flow
    >>> flow = coupling_flow(3, n_layers=2, hidden_dims=(8,))
    >>> flow.log_prob(torch.zeros(4, 3)).shape
    torch.Size([4])
    """
    _check_int(n_features, "n_features", 1)
    if transform not in ("nsf", "realnvp"):
        raise ValueError(f"unknown transform {transform!r}")

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
