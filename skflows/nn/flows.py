"""A normalizing flow: a composition of transforms on top of a base distribution."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .base import Transform, _check_context, _check_features, _check_int
from .conditioners import MLP
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
    r"""Normalizing flow ``z = f(x)`` with base density ``p_Z``, optionally conditional.

    ``log p(x) = log p_Z(f(x)) + log |det J_f(x)|`` (change of variables; Papamakarios
    et al., "Normalizing Flows for Probabilistic Modeling and Inference", JMLR 2021,
    Eq. 2-3). A conditional flow has layers built with ``context_features > 0``: for each
    context ``c``, ``f(.; c)`` is a bijection and
    ``log p(x | c) = log p_Z(f(x; c)) + log |det J_f(x; c)|`` (ibid., Sec. 5.1). The
    context may first go through an ``embedding`` network, evaluated once per call and
    shared by all layers; its parameters are trained with the flow.

    Parameters
    ----------
    transforms : iterable of Transform
        Applied in order in the data-to-latent direction. The conditional ones (with an
        attribute ``context_features > 0``) receive the (embedded) context; they must
        all share one context width.
    base : StandardNormal
        Base distribution of the latent ``z``.
    embedding : torch.nn.Module, optional
        Context-embedding network mapping ``(..., context_features)`` to
        ``(..., embedded_features)``, with integer attributes ``in_features`` and
        ``out_features`` (as :class:`~skflows.nn.MLP` and :class:`torch.nn.Linear`
        have); ``out_features`` must equal the conditional layers' ``context_features``.
        Registered as the submodule ``embedding``. None feeds the raw context to the
        layers.

    Attributes
    ----------
    n_features : int
        Dimension ``d`` of the data.
    context_features : int
        Width of the context the caller passes (the embedding's ``in_features`` when
        there is one); 0 for an unconditional flow.
    embedding : torch.nn.Module or None
        The context-embedding network.

    Raises
    ------
    ValueError
        If the conditional layers do not share one context width, or ``embedding`` is
        not a module with integer ``in_features >= 1`` and ``out_features`` equal to
        that width (in particular, an embedding for a flow without conditional layers).

    Notes
    -----
    Shape conventions (``d = n_features``, ``c = context_features``, ``K`` components):

    * ``log_prob(x, context)``: ``x`` of shape ``(n, d)`` or ``(K, n, d)``, ``context``
      of shape ``(n, c)`` (shared by the ``K`` components), ``(K, n, c)``, or a single
      row ``(1, c)`` / ``(c,)`` shared by all samples; returns ``(n,)`` or ``(K, n)``.
    * ``sample(n_samples, context=context)``: for each context row, ``n_samples``
      draws; ``context`` of shape ``(m, c)`` gives ``(m, n_samples, d)`` (and
      ``(*batch_shape, m, n_samples, d)`` with ``batch_shape=(K,)``), a single context
      ``(c,)`` gives ``(n_samples, d)``. All ``m * n_samples`` draws go through the flow
      in one batched pass.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1, Eq. 2-3 (change of variables; the
       log-determinant of a composition is the sum over its layers) and Sec. 5.1
       (conditional flows: the context enters the layers' conditioners).
    .. [2] D. J. Rezende, S. Mohamed. Variational Inference with Normalizing Flows.
       ICML 2015, Sec. 3.1 (finite flows as compositions of invertible maps).
    .. [3] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (conditional coupling
       flows for ``p(y | x)``, the context passed through a shared embedding network).
    """

    def __init__(self, transforms: Iterable[Transform], base: StandardNormal,
                 embedding: nn.Module | None = None):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.base = base
        widths = sorted({w for w in (getattr(t, "context_features", 0)
                                     for t in self.transforms) if w})
        if len(widths) > 1:
            raise ValueError(f"the conditional layers of a flow must share one "
                             f"context_features, got {widths}.")
        if embedding is not None:
            in_f = getattr(embedding, "in_features", None)
            out_f = getattr(embedding, "out_features", None)
            if not isinstance(embedding, nn.Module) or not isinstance(in_f, int) \
                    or in_f < 1 or not isinstance(out_f, int):
                raise ValueError("embedding must be a torch.nn.Module with integer "
                                 "attributes in_features >= 1 and out_features, got "
                                 f"{type(embedding).__name__}.")
            if widths != [out_f]:
                raise ValueError(f"the embedding outputs {out_f} features but the flow's "
                                 f"conditional layers take context_features="
                                 f"{widths[0] if widths else 0}.")
            # Registered directly: the read-only property below serves ``self.embedding``.
            self._modules["embedding"] = embedding

    @property
    def n_features(self) -> int:
        return self.base.n_features

    @property
    def embedding(self) -> nn.Module | None:
        # ``_modules.get``: flows pickled before embeddings existed have none.
        return self._modules.get("embedding")

    @property
    def context_features(self) -> int:
        embedding = self.embedding
        if embedding is not None:
            return int(embedding.in_features)
        return max((getattr(t, "context_features", 0) for t in self.transforms), default=0)

    def _embed(self, context, batch_shape):
        """Validate the caller's context against inputs of leading shape ``batch_shape``
        and embed it (once); None for an unconditional flow."""
        _check_context(context, self.context_features, batch_shape, "this flow")
        embedding = self.embedding
        if context is None or embedding is None:
            return context
        return embedding(context)

    def _run(self, x, context, inverse: bool):
        """Apply the layers (reversed and inverted when ``inverse``), handing the
        already embedded ``context`` to the conditional ones."""
        total = None
        for t in (reversed(self.transforms) if inverse else self.transforms):
            if context is not None and getattr(t, "context_features", 0):
                x, ld = t.inverse(x, context=context) if inverse else t(x, context=context)
            else:
                x, ld = t.inverse(x) if inverse else t(x)
            total = ld if total is None else total + ld
        if total is None:
            total = x.new_zeros(x.shape[:-1])
        return x, total

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map data to latent, ``z = f(x; context)``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points; the leading ``batch`` axis is the component axis of flows built
            with ``n_components``. Same dtype as the flow's parameters.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables, required by a conditional flow and refused by an
            unconditional one. Its leading shape broadcasts against that of ``x``: one
            row per sample (shared by the ``K`` components when of shape
            ``(n_samples, context_features)``) or a single row shared by all samples.
            Same dtype as the flow's parameters.

        Returns
        -------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dz/dx|`` in nats, at fixed context.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries; if the
            context is missing from a conditional flow or given to an unconditional
            one, does not have ``context_features`` entries on its last axis, or its
            rows do not match those of ``x``.
        RuntimeError
            If the dtype of ``x`` or ``context`` differs from the parameters' (raised
            by torch).
        """
        _check_features(x, self.n_features)
        return self._run(x, self._embed(context, x.shape[:-1]), inverse=False)

    def inverse(self, z: torch.Tensor, context: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map latent to data, ``x = f^{-1}(z; context)``.

        Parameters
        ----------
        z : Tensor of shape (..., n_samples, n_features)
            Latent points. Same dtype as the flow's parameters.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables, as in :meth:`forward`.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Data points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dz|`` in nats (minus that of :meth:`forward` at ``x``).

        Raises
        ------
        ValueError
            If the last axis of ``z`` does not have ``n_features`` entries; if the
            context is missing from a conditional flow or given to an unconditional
            one, does not have ``context_features`` entries on its last axis, or its
            rows do not match those of ``z``.
        RuntimeError
            If the dtype of ``z`` or ``context`` differs from the parameters' (raised
            by torch).
        """
        _check_features(z, self.n_features, "z")
        return self._run(z, self._embed(context, z.shape[:-1]), inverse=True)

    def log_prob(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Log-density ``log p(x | context) = log p_Z(f(x; context)) + log |det J_f|``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Data points. Same dtype as the flow's parameters.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables, as in :meth:`forward`: row ``i`` of ``x`` is
            evaluated under row ``i`` of ``context`` (or under the single shared row).

        Returns
        -------
        log_prob : Tensor of shape (..., n_samples)
            Log-density in nats, in the units of ``x``.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries; if the
            context is missing from a conditional flow or given to an unconditional
            one, does not have ``context_features`` entries on its last axis, or its
            rows do not match those of ``x``.
        RuntimeError
            If the dtype of ``x`` or ``context`` differs from the parameters' (raised
            by torch).
        """
        z, log_det = self(x, context=context)
        return self.base.log_prob(z) + log_det

    def sample(self, n_samples: int, *, context: torch.Tensor | None = None,
               generator: torch.Generator | None = None,
               batch_shape: Sequence[int] = (), temperature: float = 1.0) -> torch.Tensor:
        """Draw samples ``x = f^{-1}(z; context)`` with ``z`` from the base distribution.

        For a conditional flow: ``n_samples`` draws for each context row, all rows in one
        batched pass (the context is embedded once per row, then repeated).

        Parameters
        ----------
        n_samples : int
            Number of samples per component (and per context row), ``>= 0``.
        context : Tensor of shape (n_contexts, context_features) or (context_features,)
            Required by a conditional flow, refused by an unconditional one. A 2-D
            context gives ``n_samples`` draws for each of its rows; a 1-D context is one
            row and drops that axis from the result. Same dtype as the parameters.
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).
        batch_shape : sequence of int, default=()
            Leading shape, ``(n_components,)`` for a flow built with ``n_components``
            (the context is then shared by the components).
        temperature : float, default=1.0
            Scale of the base draws, ``z ~ N(0, temperature^2 I)`` (the sampling
            temperature of Kingma & Dhariwal 2018, Sec. 5; 1 draws from the flow
            itself).

        Returns
        -------
        x : Tensor
            Samples, in the dtype and on the device of the flow's parameters, of shape
            ``batch_shape + (n_samples, n_features)`` without a context or with a 1-D
            one, ``batch_shape + (n_contexts, n_samples, n_features)`` with a 2-D
            context (``x[..., j, :, :]`` are draws from ``p(x | context[j])``).

        Raises
        ------
        ValueError
            If ``n_samples`` is not an int ``>= 0``; if the context is missing from a
            conditional flow or given to an unconditional one, is not 1-D or 2-D, or
            does not have ``context_features`` entries on its last axis.
        """
        n_samples = _check_int(n_samples, "n_samples", 0)
        p = next(iter(self.parameters()), None)
        buf = p if p is not None else next(iter(self.buffers()), None)
        dtype = buf.dtype if buf is not None else None
        device = buf.device if buf is not None else None
        if self.context_features == 0 or context is None:
            _check_context(context, self.context_features, (), "this flow")
            z = self.base.sample((*batch_shape, n_samples), dtype=dtype, device=device,
                                 generator=generator)
            return self.inverse(z if temperature == 1.0 else z * temperature)[0]
        if not isinstance(context, torch.Tensor) or context.dim() not in (1, 2):
            raise ValueError("sample() needs a context of shape (context_features,) or "
                             "(n_contexts, context_features), got "
                             f"{tuple(getattr(context, 'shape', ()))}.")
        rows = context.reshape(-1, context.shape[-1])
        h = self._embed(rows, rows.shape[:-1])
        m = rows.shape[0]
        # Row j of the context serves draws j * n_samples ... (j + 1) * n_samples - 1.
        h = h.unsqueeze(-2).expand(m, n_samples, h.shape[-1]).reshape(m * n_samples, h.shape[-1])
        z = self.base.sample((*batch_shape, m * n_samples), dtype=dtype, device=device,
                             generator=generator)
        x = self._run(z if temperature == 1.0 else z * temperature, h, inverse=True)[0]
        x = x.reshape(*batch_shape, m, n_samples, self.n_features)
        return x.squeeze(-3) if context.dim() == 1 else x


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
        Mixing layer before each coupling (no reversal before the first one). ``"lu"``:
        a learned :class:`LULinear` initialised at a random permutation before the first
        coupling and at :meth:`Permutation.alternating` before the others, so that the
        couplings take turns on the two halves.
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
            # After the first layer, the LU starts at the permutation that hands the
            # previous coupling's transformed half to the conditioner (a random P could
            # leave the same coordinates transformed layer after layer: in 2-D a coin
            # flip per layer).
            order = (None if i == 0 else
                     Permutation.alternating(n_features, generator).permutation)
            transforms.append(LULinear(n_features, n_components, generator=generator,
                                       permutation=order))
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
    context_features: int = 0,
    context_embedding: Sequence[int] | nn.Module | None = None,
    conditioner: str = "mlp",
) -> Flow:
    """Build a coupling flow: ``n_layers`` x (mixing layer, coupling layer).

    With ``context_features > 0`` the flow is conditional, a density ``p(x | c)``: every
    coupling's conditioner also reads the context ``c`` (or its embedding), see
    :class:`Flow` for the shape conventions. ``n_features == 1`` works both ways: the
    identity half of each coupling is then empty, so an unconditional 1-D flow is a
    stack of learned elementwise bijections and a conditional one a stack of
    elementwise bijections whose parameters are functions of the context.

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
    context_features : int, default=0
        Width ``c`` of the context vector; 0 builds an unconditional flow (exactly the
        layers and parameter names of earlier versions).
    context_embedding : sequence of int or torch.nn.Module, optional
        A context-embedding network shared by all couplings, applied once per call
        and trained with the flow. A sequence ``(h_1, ..., h_L, e)`` builds an
        :class:`~skflows.nn.MLP` ``c -> h_1 -> ... -> h_L -> e`` (ReLU between
        layers, linear output, default initialisation; ``(e,)`` is one linear map).
        A module needs integer attributes ``in_features == context_features`` and
        ``out_features``. The couplings then read ``e`` (``out_features``) context
        features. With ``n_components`` the embedding is shared by the components.
        None passes the raw context to every coupling.
    conditioner : {"mlp", "residual"}, default="mlp"
        Each coupling's network: an :class:`~skflows.nn.MLP` of ``[x_A, c]``, or a
        :class:`~skflows.nn.ResidualMLP` with one block per ``hidden_dims`` entry (all
        equal), whose blocks the context also gates.

    Returns
    -------
    Flow
        Its :meth:`Flow.forward` maps data ``(*batch, n_samples, n_features)`` (and,
        when conditional, a context ``(..., n_samples, context_features)``) to
        latents; base distribution ``N(0, I_d)``.

    Raises
    ------
    ValueError
        If ``n_features`` is not an int ``>= 1``, ``context_features`` not an int
        ``>= 0``, for an unknown ``transform``, ``permutation`` or ``conditioner``
        (or a residual one with unequal ``hidden_dims``), or for a
        ``context_embedding`` without a context (``context_features=0``), with
        non-positive widths, or whose ``in_features`` differs from ``context_features``.

    References
    ----------
    .. [1] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 3 (rational-quadratic spline coupling, ``"nsf"``).
    .. [2] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3 (affine coupling, ``"realnvp"``).
    .. [3] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.2 (LU-parameterised mixing, ``"lu"``).
    .. [4] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1 (conditional flows).
    .. [5] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (conditional coupling
       layers and a shared context-embedding network).

    Examples
    --------
    >>> import torch
    >>> from skflows.nn import coupling_flow
    >>> flow = coupling_flow(3, n_layers=2, hidden_dims=(8,))
    >>> flow.log_prob(torch.zeros(4, 3)).shape
    torch.Size([4])
    >>> cond = coupling_flow(1, n_layers=2, hidden_dims=(8,), context_features=2,
    ...                      context_embedding=(16, 4))
    >>> cond.log_prob(torch.zeros(5, 1), context=torch.zeros(5, 2)).shape
    torch.Size([5])
    >>> cond.sample(7, context=torch.zeros(5, 2)).shape
    torch.Size([5, 7, 1])
    """
    _check_int(n_features, "n_features", 1)
    context_features = _check_int(context_features, "context_features", 0)
    if transform not in ("nsf", "realnvp"):
        raise ValueError(f"unknown transform {transform!r}")
    if conditioner not in ("mlp", "residual"):
        raise ValueError(f"conditioner must be 'mlp' or 'residual', got {conditioner!r}.")
    embedding = _context_embedding(context_embedding, context_features)
    coupling_context = context_features if embedding is None else embedding.out_features

    def coupling(n_features):
        if transform == "nsf":
            return SplineCoupling(n_features, hidden_dims, n_bins, tail_bound, n_components,
                                  context_features=coupling_context, conditioner=conditioner)
        if transform == "realnvp":
            return AffineCoupling(n_features, hidden_dims, n_components,
                                  context_features=coupling_context, conditioner=conditioner)
        raise ValueError(f"unknown transform {transform!r}")

    transforms = stack_couplings(n_features, n_layers, coupling, permutation=permutation,
                                 n_components=n_components, shift=shift, scale=scale,
                                 generator=generator)
    return Flow(transforms, StandardNormal(n_features), embedding=embedding)


def _context_embedding(spec, context_features: int) -> nn.Module | None:
    """The embedding module described by ``coupling_flow(context_embedding=spec)``."""
    if spec is None:
        return None
    if context_features == 0:
        raise ValueError("context_embedding needs a context: pass context_features >= 1.")
    if isinstance(spec, nn.Module):
        if getattr(spec, "in_features", None) != context_features \
                or not isinstance(getattr(spec, "out_features", None), int):
            raise ValueError(f"a context_embedding module needs integer attributes "
                             f"in_features == context_features ({context_features}) and "
                             f"out_features, got {type(spec).__name__}.")
        return spec
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or not len(spec):
        raise ValueError(f"context_embedding must be None, a module or a non-empty "
                         f"sequence of widths (hidden..., output), got {spec!r}.")
    dims = [_check_int(w, "each context_embedding width", 1) for w in spec]
    return MLP(context_features, dims[-1], dims[:-1], zero_init=False)
