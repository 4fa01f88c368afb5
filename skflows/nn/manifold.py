r"""Manifold-learning flows (M-flow, M_e-flow, PIE; Brehmer & Cranmer, NeurIPS 2020).

An *outer* flow ``f: R^D -> R^D`` maps data to ``h = f(x)``; its first ``n`` coordinates
``h_M`` are coordinates on a learned ``n``-dimensional manifold and the remaining
``D - n`` coordinates ``h_perp`` measure the distance from it. The decoder (chart)
``x = g(h_M) = f^{-1}([h_M, 0])`` maps ``R^n`` onto the manifold, and an *inner* flow
``u = h_in(h_M)`` with base ``N(0, I_n)`` carries a normalised density on it
(Brehmer & Cranmer 2020, Sec. 2, Eq. 2-5):

    log p(x) = log p_U(u) + log |det dh_in/dh_M| - 1/2 log det(J_g^T J_g),

where ``J_g = dx / dh_M`` is the ``D x n`` Jacobian of the decoder. With a context ``c``
(a conditional manifold flow, ``p(x | c)``), the inner flow, and optionally the outer
flow, are conditional flows whose conditioners also read ``c``; every formula holds at
fixed ``c``. :func:`chart_jacobian`
computes ``J_g`` with ``n`` forward-mode Jacobian-vector products of the decoder (one
batched pass over ``n`` copies of the batch), never the full ``D x D`` Jacobian, and
:func:`gram_log_det` takes ``log det(J^T J)`` from a QR factorisation in float64.

Pure torch: nothing here knows about numpy arrays or estimators.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import torch
from torch import nn

from .base import Transform, _check_context, _check_features, _check_int
from .flows import Flow

__all__ = ["ManifoldFlowModule", "FixedLinear", "align_chart", "chart_jacobian",
           "gram_log_det"]

_LOG_2PI = math.log(2.0 * math.pi)
_FORWARD_AD_LOCK = threading.Lock()


def chart_jacobian(fn: Callable[[torch.Tensor], torch.Tensor], h: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Value and Jacobian of a row-wise map ``R^n -> R^D`` by forward-mode AD.

    The ``n`` tangents ``e_1, ..., e_n`` (each the same for every row) are pushed through
    ``fn`` by :func:`torch.func.jvp` vectorised with :func:`torch.func.vmap`: the primal
    pass runs once and the tangent passes once per column, so the cost is about that of
    ``n + 1`` evaluations of ``fn`` on the batch, never ``D``. ``fn`` must treat rows
    independently (true for every flow in :mod:`skflows.nn`), so that the tangent
    ``e_k`` in every row gives each row's own ``k``-th Jacobian column. Works inside
    ``torch.no_grad()``.

    Parameters
    ----------
    fn : callable
        Maps ``(N, n)`` to ``(N, D)``, row by row.
    h : Tensor of shape (N, n)
        Points at which to differentiate.

    Returns
    -------
    value : Tensor of shape (N, D)
        ``fn(h)``.
    jacobian : Tensor of shape (N, D, n)
        ``d fn(h)_i / d h_k`` for every row.

    Raises
    ------
    ValueError
        If ``h`` is not a 2-D floating-point tensor.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 2, Eq. 5 (the decoder
       Jacobian ``J_g`` whose Gram determinant enters the manifold density).
    .. [2] A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind. Automatic
       Differentiation in Machine Learning: a Survey. JMLR 18(153), 2018, Sec. 3.1
       (forward mode: one Jacobian-vector product per input direction).
    """
    if h.dim() != 2 or not h.is_floating_point():
        raise ValueError(f"h must be a 2-D floating-point tensor of shape (N, n), got "
                         f"shape {tuple(h.shape)} and dtype {h.dtype}.")
    N, n = h.shape
    tangents = torch.eye(n, dtype=h.dtype, device=h.device).unsqueeze(1).expand(n, N, n)

    def push(tangent):
        return torch.func.jvp(fn, (h,), (tangent,))

    # torch's forward-mode AD levels are process-global: concurrent jvp calls from
    # several threads corrupt each other's levels, so they take turns here.
    with _FORWARD_AD_LOCK:
        value, columns = torch.func.vmap(push, out_dims=(None, 0))(tangents.contiguous())
    return value, columns.permute(1, 2, 0)


def gram_log_det(jacobian: torch.Tensor) -> torch.Tensor:
    """``log det(J^T J)`` for a batch of ``D x n`` matrices, in float64.

    Computed as ``2 sum_k log |R_kk|`` from the QR factorisation ``J = Q R``, which
    avoids forming ``J^T J`` (that would square the condition number).

    Parameters
    ----------
    jacobian : Tensor of shape (N, D, n)
        With ``D >= n`` (any leading batch shape, or a single ``(D, n)`` matrix).

    Returns
    -------
    log_det : Tensor of shape (N,), float64
        ``log det(J^T J)`` (natural logarithm); ``-inf`` where ``J`` is
        rank-deficient. ``-1/2`` of it is the volume term of the manifold density.

    Raises
    ------
    ValueError
        If ``jacobian`` has fewer than 2 axes or more columns than rows (``n > D``).

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 2, Eq. 5 (the
       ``-1/2 log det(J_g^T J_g)`` term of the density on the manifold).
    .. [2] G. H. Golub, C. F. Van Loan. Matrix Computations, 4th ed. Johns Hopkins
       University Press 2013, Sec. 5.2 (QR factorisation; ``J^T J = R^T R``, so
       ``det(J^T J) = prod_k R_kk^2``) and Sec. 5.3 (forming ``J^T J`` squares the
       condition number).
    """
    if jacobian.dim() < 2 or jacobian.shape[-2] < jacobian.shape[-1]:
        raise ValueError(f"jacobian must have shape (..., D, n) with D >= n, got "
                         f"{tuple(jacobian.shape)}.")
    r = torch.linalg.qr(jacobian.to(torch.float64), mode="r")[1]
    return 2.0 * torch.log(torch.diagonal(r, dim1=-2, dim2=-1).abs()).sum(-1)


class FixedLinear(Transform):
    """Fixed invertible linear map ``y = x W^T`` (log-determinant ``log |det W|``).

    Parameters
    ----------
    weight : Tensor of shape (d, d)
        An invertible matrix.

    Raises
    ------
    ValueError
        If ``weight`` is not a square matrix.
    torch.linalg.LinAlgError
        If ``weight`` is singular (raised by torch).

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 3.2 (linear flows; the log-determinant of
       a linear map).
    .. [2] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020 (here: the fixed rotation that starts the learned
       manifold at the PCA subspace, see :func:`align_chart`; this initialisation is
       this project's own).
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        weight = torch.as_tensor(weight)
        if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
            raise ValueError(f"weight must be a square matrix, got shape "
                             f"{tuple(weight.shape)}.")
        self.register_buffer("weight", weight.clone())
        self.register_buffer("weight_inverse", torch.linalg.inv(weight))
        self.register_buffer("log_det", torch.linalg.slogdet(weight)[1])

    def forward(self, x):
        """Apply ``y = x W^T``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, d)
            Points; same dtype as ``weight``.

        Returns
        -------
        y : Tensor of shape (..., n_samples, d)
            Images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det W|`` in nats, the same for every row.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``d`` entries.
        RuntimeError
            If the dtype of ``x`` differs from that of ``weight`` (raised by torch).
        """
        _check_features(x, self.weight.shape[-1])
        return x @ self.weight.T, self.log_det.expand(x.shape[:-1])

    def inverse(self, y):
        """Apply ``x = y W^{-T}``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, d)
            Images; same dtype as ``weight``.

        Returns
        -------
        x : Tensor of shape (..., n_samples, d)
            Pre-images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``-log |det W|`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``d`` entries.
        RuntimeError
            If the dtype of ``y`` differs from that of ``weight`` (raised by torch).
        """
        _check_features(y, self.weight.shape[-1], "y")
        return y @ self.weight_inverse.T, (-self.log_det).expand(y.shape[:-1])


def align_chart(flow: Flow, basis: torch.Tensor,
                context: torch.Tensor | None = None) -> FixedLinear:
    """Fixed linear map that aligns the latent axes of an affine ``flow`` with ``basis``.

    Put in front of ``flow``, it makes ``flow``'s latent coordinates equal to the
    coordinates in ``basis`` (up to a shift).

    ``flow`` must be affine at its current weights, ``z = A x + b`` (true for the coupling
    flows of :mod:`skflows.nn` at initialisation: couplings start as the identity, mixing
    layers as permutations). The returned map is ``W = A^{-1} Q`` with ``Q = basis``, so
    that ``flow(W x) = Q x + b``. With ``Q`` the principal axes of the (standardised)
    data, the first ``n`` latent coordinates start as the first ``n`` principal
    components: the initial manifold of a :class:`ManifoldFlowModule` is then the PCA
    subspace.

    Parameters
    ----------
    flow : Flow
        A flow on ``R^d`` that is affine at its current weights.
    basis : Tensor of shape (d, d)
        Orthogonal matrix whose rows are the wanted latent directions, in order.
    context : Tensor of shape (context_features,) or (1, context_features), optional
        For a conditional ``flow``: the context at which it is probed (it must be affine
        in ``x`` there; coupling flows at initialisation are, for every context).

    Returns
    -------
    FixedLinear
        The map ``x -> x W^T``, ``W = A^{-1} Q``, in the dtype of ``basis``.

    Raises
    ------
    ValueError
        If ``basis`` is not a square matrix of side ``flow.n_features``, or the context
        does not suit ``flow`` (missing for a conditional flow, given to an
        unconditional one, or of the wrong width).

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 3 (the learned
       chart; initialising it at the principal subspace is this project's own choice).
    .. [2] I. T. Jolliffe. Principal Component Analysis, 2nd ed. Springer 2002, Ch. 1-2
       (principal axes as the directions of largest variance).
    """
    if basis.dim() != 2 or tuple(basis.shape) != (flow.n_features, flow.n_features):
        raise ValueError(f"basis must be a ({flow.n_features}, {flow.n_features}) matrix, "
                         f"got shape {tuple(basis.shape)}.")
    d = basis.shape[0]
    with torch.no_grad():
        probe = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(basis)
        if context is not None:
            context = torch.as_tensor(context).to(basis).reshape(1, -1)
        z = flow(probe, context=context)[0]
        A = (z[1:] - z[:1]).T  # columns: images of the unit vectors
        return FixedLinear(torch.linalg.solve(A, basis))


class ManifoldFlowModule(nn.Module):
    r"""Outer flow, projection and inner flow: a learned manifold with a density on it.

    A chart of a learned manifold with a normalised density on it (Brehmer & Cranmer
    2020, Sec. 2-3), optionally conditional on a context ``c``: a conditional inner flow
    makes the density on the manifold ``p(x | c)`` depend on ``c``, and a conditional
    outer flow makes the manifold itself depend on ``c`` (the paper's "original" PIE
    set-up, Sec. 4). Every method takes an optional ``context`` (in the units of the
    condition; it is standardised inside with ``context_shift`` and ``context_scale``),
    required exactly when the module is conditional; the maps of the outer flow alone
    (:meth:`chart`, :meth:`decode_chart`, :meth:`reconstruct`) ignore it when only the
    inner flow is conditional.

    Parameters
    ----------
    outer : Flow
        Bijection ``f: R^D -> R^D`` in the data-to-latent direction (include the
        standardisation as its first transform so that densities refer to data units).
        May be conditional (``context_features > 0``), and then ``inner`` must be
        conditional with the same context width.
    inner : Flow
        Flow ``h_in: R^n -> R^n`` on the manifold coordinates with base ``N(0, I_n)``;
        conditional (``context_features = c > 0``) for a density that depends on a
        context.
    n_components : int
        Manifold dimension ``n`` (``1 <= n <= D``).
    encoder : torch.nn.Module, optional
        For M_e-flow: a network mapping standardised data ``(x - shift) / scale`` to the
        manifold coordinates ``h_M`` directly (with a conditional outer flow it reads
        ``[(x - shift) / scale, standardised context]``, ``D + c`` inputs). None (M-flow,
        PIE): ``h_M`` is the first ``n`` coordinates of ``f(x)``, so encoder and decoder
        are exact inverses on the manifold.
    shift, scale : Tensor of shape (D,)
        Standardisation of the data (used by the encoder and by
        :meth:`standardized_residual`).
    pie_epsilon : float, default=0.01
        Standard deviation of the Gaussian on ``h_perp`` in the PIE density.
    context_shift, context_scale : Tensor of shape (c,), optional
        Standardisation of the context, ``(context - context_shift) / context_scale``,
        before the flows read it (zeros and ones when None).

    Raises
    ------
    ValueError
        If ``n_components`` is not in ``[1, D]``, ``inner`` is not a flow on
        ``R^n_components``, or a conditional ``outer`` does not share the context width
        of ``inner``.

    References
    ----------
    .. [1] J. Brehmer, K. Cranmer. Flows for Simultaneous Manifold Learning and Density
       Estimation. NeurIPS 2020; arXiv:2003.13913, Sec. 2 (outer flow, projection to
       the first ``n`` coordinates, inner flow; M-flow and M_e-flow densities, Eq. 5),
       Sec. 3 (training that separates manifold and density updates) and Sec. 4
       (conditional densities on a manifold for inference; the manifold conditional
       or not).
    .. [2] J. Beitler, I. Sosnovik, A. Smeulders. PIE: Pseudo-Invertible Encoder.
       arXiv:1811.00539, 2018 (the full-dimensional density with a narrow Gaussian off
       the manifold).
    .. [3] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1 (conditional flows).
    """

    def __init__(self, outer: Flow, inner: Flow, n_components: int,
                 encoder: nn.Module | None = None, shift: torch.Tensor | None = None,
                 scale: torch.Tensor | None = None, pie_epsilon: float = 0.01,
                 context_shift: torch.Tensor | None = None,
                 context_scale: torch.Tensor | None = None):
        super().__init__()
        self.outer = outer
        self.inner = inner
        self.encoder = encoder
        self.n_components = int(n_components)
        d = outer.n_features
        if not 1 <= self.n_components <= d:
            raise ValueError(f"n_components={n_components} must be in [1, {d}].")
        if inner.n_features != self.n_components:
            raise ValueError(f"inner must be a flow on R^{self.n_components}, got one on "
                             f"R^{inner.n_features}.")
        c_outer, c_inner = outer.context_features, inner.context_features
        if c_outer and c_outer != c_inner:
            raise ValueError(f"a conditional outer flow needs an inner flow with the same "
                             f"context width, got context_features={c_outer} (outer) and "
                             f"{c_inner} (inner).")
        self.register_buffer("shift", torch.zeros(d) if shift is None
                             else torch.as_tensor(shift).clone())
        self.register_buffer("scale", torch.ones(d) if scale is None
                             else torch.as_tensor(scale).clone())
        if c_inner:
            self.register_buffer("context_shift", torch.zeros(c_inner) if context_shift is None
                                 else torch.as_tensor(context_shift).clone())
            self.register_buffer("context_scale", torch.ones(c_inner) if context_scale is None
                                 else torch.as_tensor(context_scale).clone())
        self.pie_epsilon = float(pie_epsilon)

    @property
    def n_features(self) -> int:
        return self.outer.n_features

    @property
    def context_features(self) -> int:
        """Width ``c`` of the context (0: an unconditional module)."""
        return self.inner.context_features

    @property
    def condition_manifold(self) -> bool:
        """Whether the manifold (the outer flow) depends on the context."""
        return self.outer.context_features > 0

    def _context(self, context: torch.Tensor | None, batch_shape) -> torch.Tensor | None:
        """The standardised context (None for None), after checking that it suits the
        module and inputs of leading shape ``batch_shape`` (required by a conditional
        module, refused by an unconditional one)."""
        _check_context(context, self.context_features, batch_shape, "this manifold flow")
        if context is None:
            return None
        return (context - self.context_shift) / self.context_scale

    def _outer_context(self, c: torch.Tensor | None) -> torch.Tensor | None:
        return c if self.condition_manifold else None

    # ------------------------------------------------------------------ maps
    def _chart(self, x, c):
        if self.encoder is not None:
            z = (x - self.shift) / self.scale
            if self.condition_manifold:
                z = torch.cat([z, c.expand(*z.shape[:-1], c.shape[-1])], dim=-1)
            return self.encoder(z)
        return self.outer(x, context=self._outer_context(c))[0][..., : self.n_components]

    def _decode_chart(self, h, c):
        pad = h.new_zeros(*h.shape[:-1], self.n_features - self.n_components)
        return self.outer.inverse(torch.cat([h, pad], dim=-1),
                                  context=self._outer_context(c))[0]

    def _check_manifold_context(self, context, batch_shape):
        """Standardised context for the maps of the outer flow alone: required only when
        the manifold is conditional (otherwise unused, but checked when given)."""
        if context is None and not self.condition_manifold:
            return None
        return self._context(context, batch_shape)

    def chart(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Manifold coordinates ``h_M`` of (the projection of) ``x``.

        The first ``n`` coordinates of ``f(x)`` (M-flow, PIE) or the encoder's output
        (M_e-flow).

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition (required when the manifold is conditional; otherwise it may be
            given and is not used).

        Returns
        -------
        h : Tensor of shape (N, n)
            Coordinates on the manifold (``n = n_components``).

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        _check_features(x, self.n_features)
        return self._chart(x, self._check_manifold_context(context, x.shape[:-1]))

    def decode_chart(self, h: torch.Tensor, context: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """Point on the manifold with coordinates ``h_M``: ``g(h_M) = f^{-1}([h_M, 0])``.

        Parameters
        ----------
        h : Tensor of shape (N, n)
            Manifold coordinates; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition (required when the manifold is conditional; otherwise it may be
            given and is not used).

        Returns
        -------
        x : Tensor of shape (N, D)
            Points on the learned manifold, in the units of the data.

        Raises
        ------
        ValueError
            If the last axis of ``h`` does not have ``n = n_components`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``h`` differs from the parameters' (raised by torch).
        """
        _check_features(h, self.n_components, "h")
        return self._decode_chart(h, self._check_manifold_context(context, h.shape[:-1]))

    def encode(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Latent ``u = h_in(h_M(x))`` of the projection of ``x``.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        u : Tensor of shape (N, n)
            Latent of the inner flow (standard normal under the model).

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        _check_features(x, self.n_features)
        c = self._context(context, x.shape[:-1])
        return self.inner(self._chart(x, c), context=c)[0]

    def decode(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Point on the manifold with latent ``u``: ``g(h_in^{-1}(u))``.

        Parameters
        ----------
        u : Tensor of shape (N, n)
            Latents of the inner flow; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        x : Tensor of shape (N, D)
            Points on the learned manifold, in the units of the data.

        Raises
        ------
        ValueError
            If the last axis of ``u`` does not have ``n = n_components`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``u`` differs from the parameters' (raised by torch).
        """
        _check_features(u, self.n_components, "u")
        c = self._context(context, u.shape[:-1])
        return self._decode_chart(self.inner.inverse(u, context=c)[0], c)

    def reconstruct(self, x: torch.Tensor, context: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """Projection of ``x`` onto the manifold, ``g(h_M(x))``.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition (required when the manifold is conditional; otherwise it may be
            given and is not used).

        Returns
        -------
        x_hat : Tensor of shape (N, D)
            Reconstructions on the learned manifold (not an orthogonal projection in
            general).

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        _check_features(x, self.n_features)
        c = self._check_manifold_context(context, x.shape[:-1])
        return self._decode_chart(self._chart(x, c), c)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`encode`.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        u : Tensor of shape (N, n)
            Latent of the inner flow.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        return self.encode(x, context)

    def standardized_residual(self, x: torch.Tensor, context: torch.Tensor | None = None
                              ) -> torch.Tensor:
        """Reconstruction residual ``(x - reconstruct(x)) / scale`` in standardised units.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition (required when the manifold is conditional; otherwise it may be
            given and is not used).

        Returns
        -------
        residual : Tensor of shape (N, D)
            Residual per coordinate, in units of the data's standard deviation.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        return (x - self.reconstruct(x, context)) / self.scale

    # ------------------------------------------------------------------ densities
    def chart_log_prob(self, h: torch.Tensor, context: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Log-density of the coordinates ``h_M`` under the inner flow.

        ``log p_U(u) + log |det dh_in/dh_M|``, the objective of the density (D) phase.

        Parameters
        ----------
        h : Tensor of shape (N, n)
            Manifold coordinates; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        log_prob : Tensor of shape (N,)
            Log-density in nats w.r.t. Lebesgue measure on the coordinates.

        Raises
        ------
        ValueError
            If the last axis of ``h`` does not have ``n = n_components`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``h`` differs from the parameters' (raised by torch).
        """
        _check_features(h, self.n_components, "h")
        return self.inner.log_prob(h, context=self._context(context, h.shape[:-1]))

    def manifold_log_prob(self, x: torch.Tensor, context: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-density on the manifold at the projection of ``x``.

        ``log p(x_hat) = log p_U(u) + log |det dh_in/dh_M| - 1/2 log det(J_g^T J_g)``
        with ``J_g`` the ``D x n`` decoder Jacobian at ``h_M(x)`` (Brehmer & Cranmer
        2020, Eq. 5), w.r.t. the ``n``-dimensional volume on the manifold in the units
        of ``x``. The log-determinant is computed in float64 from ``n`` forward-mode
        Jacobian-vector products. With a context, ``log p(x_hat | c)`` (the decoder at
        fixed ``c`` when the manifold is conditional).

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        log_prob : Tensor of shape (N,), float64
            Log-density in nats w.r.t. the ``n``-dimensional volume on the manifold.
        x_hat : Tensor of shape (N, D)
            The projection ``g(h_M(x))`` (the decoder's value, for free).

        Raises
        ------
        ValueError
            If ``x`` is not 2-D, its last axis does not have ``D = n_features``
            entries, or the context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        if x.dim() != 2:
            raise ValueError(f"x must be 2-D (N, D), got shape {tuple(x.shape)}.")
        _check_features(x, self.n_features)
        c = self._context(context, x.shape[:-1])
        h = self._chart(x, c)
        x_hat, jacobian = chart_jacobian(lambda v: self._decode_chart(v, c), h)
        log_prob = (self.inner.log_prob(h, context=c).to(torch.float64)
                    - 0.5 * gram_log_det(jacobian))
        return log_prob, x_hat

    def noisy_log_prob(self, x: torch.Tensor, noise_variance: float | None = None,
                       context: torch.Tensor | None = None) -> torch.Tensor:
        """Log-density on ``R^D`` of the noisy-manifold model.

        The model is a point on the manifold displaced by isotropic Gaussian noise of
        variance ``s^2`` in the ``D - n`` off-manifold directions; its log-density is

            log p(x_hat) - ||x - x_hat||^2 / (2 s^2) - (D - n)/2 log(2 pi s^2),

        exact when ``x_hat`` is the foot of the normal from ``x``.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        noise_variance : float, optional
            ``s^2 > 0``, in squared data units; None estimates it on the batch,
            ``mean ||x - x_hat||^2 / (D - n)``. Unused when ``n = D``.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        log_prob : Tensor of shape (N,), float64
            Log-density in nats on ``R^D``, in the units of ``x``.

        Raises
        ------
        ValueError
            If ``x`` is not 2-D, its last axis does not have ``D = n_features`` entries,
            ``noise_variance`` is not positive (when ``n < D``), or the context does not
            suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        k = self.n_features - self.n_components
        if noise_variance is not None and k > 0:
            noise_variance = torch.as_tensor(noise_variance, dtype=torch.float64,
                                             device=x.device)
            if not bool(noise_variance > 0):
                raise ValueError(f"noise_variance must be > 0, got "
                                 f"{float(noise_variance)!r}.")
        log_prob, x_hat = self.manifold_log_prob(x, context)
        if k == 0:
            return log_prob
        r2 = (x - x_hat).to(torch.float64).pow(2).sum(-1)
        if noise_variance is None:
            tiny = torch.finfo(x.dtype).eps * float(self.scale.pow(2).mean())
            noise_variance = (r2.mean() / k).clamp_min(tiny)
        return (log_prob - 0.5 * r2 / noise_variance
                - 0.5 * k * (torch.log(noise_variance) + _LOG_2PI))

    def pie_log_prob(self, x: torch.Tensor, context: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """PIE log-density on ``R^D`` (Beitler et al. 2018; Brehmer & Cranmer 2020, Sec. 2).

        ``log p_U(u) + log |det dh_in/dh_M| + log N(h_perp; 0, eps^2 I) +
        log |det J_f(x)|`` with ``eps = pie_epsilon``.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            Points in the units of the data; same dtype as the parameters.
        context : Tensor of shape (N, c) or (1, c), optional
            Condition; required exactly when the module is conditional.

        Returns
        -------
        log_prob : Tensor of shape (N,)
            Log-density in nats on ``R^D``, in the units of ``x``.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``D = n_features`` entries, or the
            context does not suit the module.
        RuntimeError
            If the dtype of ``x`` differs from the parameters' (raised by torch).
        """
        _check_features(x, self.n_features)
        c = self._context(context, x.shape[:-1])
        h, log_det = self.outer(x, context=self._outer_context(c))
        h_m, h_perp = h[..., : self.n_components], h[..., self.n_components:]
        eps = self.pie_epsilon
        k = h_perp.shape[-1]
        log_perp = (-0.5 * (h_perp / eps).pow(2).sum(-1)
                    - k * (math.log(eps) + 0.5 * _LOG_2PI))
        return self.inner.log_prob(h_m, context=c) + log_perp + log_det

    def sample(self, n_samples: int, *, context: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw points on the manifold: ``u ~ N(0, I_n)``, ``x = g(h_in^{-1}(u))``.

        Parameters
        ----------
        n_samples : int
            Number of points (per context row), ``>= 0``.
        context : Tensor of shape (m, c) or (c,), optional
            Conditions; required exactly when the module is conditional. A 2-D context
            gives ``n_samples`` draws for each of its rows, all in one batched pass.
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).

        Returns
        -------
        x : Tensor of shape (n_samples, D) or (m, n_samples, D)
            Points on the learned manifold, in the units of the data: the first shape
            without a context or with a 1-D one, the second with a 2-D context
            (``x[j]`` are draws given ``context[j]``).

        Raises
        ------
        ValueError
            If ``n_samples`` is not an int ``>= 0``, or the context does not suit the
            module or is not 1-D or 2-D.
        """
        n_samples = _check_int(n_samples, "n_samples", 0)
        p = next(iter(self.parameters()))
        if context is None or not self.context_features:
            _check_context(context, self.context_features, (), "this manifold flow")
            u = self.inner.base.sample((n_samples,), dtype=p.dtype, device=p.device,
                                       generator=generator)
            return self.decode(u)
        if not isinstance(context, torch.Tensor) or context.dim() not in (1, 2):
            raise ValueError("sample() needs a context of shape (c,) or (m, c), got "
                             f"{tuple(getattr(context, 'shape', ()))}.")
        rows = context.reshape(-1, context.shape[-1])
        m = rows.shape[0]
        u = self.inner.base.sample((m * n_samples,), dtype=p.dtype, device=p.device,
                                   generator=generator)
        x = self.decode(u, rows.repeat_interleave(n_samples, dim=0))
        x = x.reshape(m, n_samples, self.n_features)
        return x[0] if context.dim() == 1 else x
