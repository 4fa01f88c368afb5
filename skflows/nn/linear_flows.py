"""Volume-preserving and linear invertible layers: permutations, an LU-parameterised
linear map, ActNorm, and a fixed affine map (standardisation)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Transform, _check_features, _check_int, component_shape

__all__ = ["Permutation", "LULinear", "ActNorm", "FixedAffine"]


class Permutation(Transform):
    """Fixed permutation of the features (log-determinant 0).

    Parameters
    ----------
    permutation : LongTensor of shape (d,)
        ``y[..., i] = x[..., permutation[i]]``.

    References
    ----------
    .. [1] L. Dinh, D. Krueger, Y. Bengio. NICE: Non-linear Independent Components
       Estimation. ICLR 2015 workshop track (exchanging the roles of the two halves
       between coupling layers).
    .. [2] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019 (a random permutation before every coupling layer).
    """

    def __init__(self, permutation: torch.Tensor):
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    @classmethod
    def reverse(cls, n_features: int) -> Permutation:
        """The order-reversing permutation of ``n_features`` coordinates.

        ``permutation = (d - 1, d - 2, ..., 0)``.

        Parameters
        ----------
        n_features : int
            Dimension ``d >= 1``.

        Returns
        -------
        Permutation
            The layer.

        Raises
        ------
        ValueError
            If ``n_features`` is not an int ``>= 1``.
        """
        n_features = _check_int(n_features, "n_features", 1)
        return cls(torch.arange(n_features - 1, -1, -1))

    @classmethod
    def random(cls, n_features: int, generator: torch.Generator | None = None) -> Permutation:
        """A uniformly random permutation drawn from ``generator``.

        Parameters
        ----------
        n_features : int
            Dimension ``d >= 1``.
        generator : torch.Generator, optional
            Source of randomness (torch's global generator when None).

        Returns
        -------
        Permutation
            The layer.

        Raises
        ------
        ValueError
            If ``n_features`` is not an int ``>= 1``.
        """
        n_features = _check_int(n_features, "n_features", 1)
        return cls(torch.randperm(n_features, generator=generator))

    @classmethod
    def alternating(cls, n_features: int, generator: torch.Generator | None = None
                    ) -> Permutation:
        """A permutation that exchanges the roles of a coupling layer's two halves.

        A coupling layer leaves its first ``h = d // 2`` coordinates unchanged and
        transforms the last ``d - h``. This permutation puts the transformed ones first
        (so that the next coupling conditions on them) and the unchanged ones last (so
        that the next coupling transforms them), each half in a random order. Every
        coordinate is thus transformed by every other coupling (for odd ``d`` one
        coordinate of the larger half is transformed twice in a row), as with the
        alternating masks of RealNVP, while the groups still mix. For ``d = 2`` it is
        the swap.

        Parameters
        ----------
        n_features : int
            Dimension ``d >= 1``.
        generator : torch.Generator, optional
            Source of randomness for the order within each half (torch's global
            generator when None).

        Returns
        -------
        Permutation
            The layer; ``permutation[:d - h]`` are the indices ``h, ..., d - 1`` and
            ``permutation[d - h:]`` the indices ``0, ..., h - 1``, each shuffled.

        Raises
        ------
        ValueError
            If ``n_features`` is not an int ``>= 1``.

        References
        ----------
        .. [1] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
           ICLR 2017, Sec. 3.5 (alternating which half is transformed, so that every
           coordinate is updated).
        """
        n_features = _check_int(n_features, "n_features", 1)
        h = n_features // 2
        return cls(torch.cat([h + torch.randperm(n_features - h, generator=generator),
                              torch.randperm(h, generator=generator)]))

    def _zeros(self, x):
        return x.new_zeros(x.shape[:-1])

    def forward(self, x):
        """Permute the features of every row (log-determinant 0).

        ``y[..., i] = x[..., permutation[i]]``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points (any dtype).

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Permuted points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            Zeros (a permutation preserves volume).

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        """
        _check_features(x, self.permutation.numel())
        return _permute(x, self.permutation, self.inverse_permutation), self._zeros(x)

    def inverse(self, y):
        """Undo :meth:`forward` (log-determinant 0).

        ``x[..., permutation[i]] = y[..., i]``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Permuted points.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the original order.
        log_det_jacobian : Tensor of shape (..., n_samples)
            Zeros.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries.
        """
        _check_features(y, self.permutation.numel(), "y")
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
    """Invertible linear map ``y = W x + b`` with ``W = P L U`` (Glow, Sec. 3.2).

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
        Draws the fixed permutation ``P`` when ``permutation`` is None.
    permutation : LongTensor of shape (d,), optional
        The initial map as a :class:`Permutation`'s index: at initialisation
        ``y[..., i] = x[..., permutation[i]]`` (for example
        ``Permutation.alternating(d).permutation``). A uniformly random one when None.

    Raises
    ------
    ValueError
        If ``permutation`` is not a permutation of ``0, ..., d - 1``.

    References
    ----------
    .. [1] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.2 (LU decomposition ``W = P L (U + diag(s))``
       with ``log |det W| = sum log |s|``).
    .. [2] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019 (LU-decomposed linear layers between coupling layers).
    """

    _eps = 1e-3

    def __init__(self, n_features: int, n_components: int | None = None,
                 generator: torch.Generator | None = None,
                 permutation: torch.Tensor | None = None):
        super().__init__()
        d = n_features
        lead = () if n_components is None else (n_components,)
        self.n_components = n_components
        if permutation is None:
            order = torch.randperm(d, generator=generator)
        else:
            order = torch.as_tensor(permutation, dtype=torch.long)
            if order.shape != (d,) or not torch.equal(torch.sort(order).values,
                                                      torch.arange(d)):
                raise ValueError(f"permutation must be a permutation of 0..{d - 1}, got "
                                 f"{permutation!r}.")
        # W x = (P L U x), with (P v)[i] = v[inverse_permutation[i]]: at L = U = I the
        # layer maps y[i] = x[order[i]].
        self.register_buffer("inverse_permutation", order)
        self.register_buffer("permutation", torch.argsort(order))
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
        """Apply ``y = W x + b`` to every row.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points; with ``n_components=K`` of shape ``(K, n_samples, n_features)``.
            Same dtype as the parameters.

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det W| = sum_j log diag(U)_j`` in nats, the same for every row.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If the dtype of ``x`` differs from the layer's parameters (raised by torch).
        """
        _check_features(x, self.lower.shape[-1])
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
        """Solve ``W x = y - b`` by two triangular solves.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Images; with ``n_components=K`` of shape ``(K, n_samples, n_features)``.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Pre-images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``-log |det W|`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries.
        """
        _check_features(y, self.lower.shape[-1], "y")
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

    References
    ----------
    .. [1] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.1 (actnorm: per-channel scale and bias,
       initialised from the first minibatch to zero mean and unit variance).
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
        """Apply ``y = (x - loc) * exp(log_scale)``, initialising on the first batch.

        In training mode the first call sets ``loc`` and ``log_scale`` from ``x`` (per
        feature, and per component with ``n_components``) before transforming.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points; with ``n_components=K`` of shape ``(K, n_samples, n_features)``.

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Normalised points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``sum_j log_scale_j`` in nats, the same for every row.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        RuntimeError
            If the leading (component) axis of ``x`` does not broadcast against
            ``n_components`` (raised by torch).
        """
        _check_features(x, self.loc.shape[-1])
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
        """Undo :meth:`forward`, ``x = y * exp(-log_scale) + loc``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Normalised points.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the input units.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``-sum_j log_scale_j`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries.
        RuntimeError
            If the leading (component) axis of ``y`` does not broadcast against
            ``n_components`` (raised by torch).
        """
        _check_features(y, self.loc.shape[-1], "y")
        return y * torch.exp(-self.log_scale) + self.loc, -self._log_det(y)


class FixedAffine(Transform):
    """Fixed (non-trainable) elementwise affine map ``y = (x - shift) / scale``.

    Used to standardise data inside a flow, so that log-densities refer to the units of
    the caller's data: ``log|det J| = -sum_j log scale_j``.

    Parameters
    ----------
    shift, scale : Tensor of shape (d,)
        Per-feature location and (positive) scale, in the units of the data.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1, Eq. 3 (an elementwise affine map
       contributes ``-sum_j log scale_j`` to the log-density).
    """

    def __init__(self, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift))
        self.register_buffer("scale", torch.as_tensor(scale))
        shape = torch.broadcast_shapes(self.shift.shape, self.scale.shape)
        self.n_features = shape[-1] if len(shape) else None

    def forward(self, x):
        """Standardise, ``y = (x - shift) / scale``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the units of the data.

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Standardised points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``-sum_j log scale_j`` in nats, the same for every row.

        Raises
        ------
        ValueError
            If the last axis of ``x`` does not have ``n_features`` entries.
        """
        _check_features(x, self.n_features)
        ld = -torch.log(self.scale).sum()
        return (x - self.shift) / self.scale, ld.expand(x.shape[:-1])

    def inverse(self, y):
        """Undo the standardisation, ``x = y * scale + shift``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Standardised points.

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the units of the data.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``sum_j log scale_j`` in nats.

        Raises
        ------
        ValueError
            If the last axis of ``y`` does not have ``n_features`` entries.
        """
        _check_features(y, self.n_features, "y")
        ld = torch.log(self.scale).sum()
        return y * self.scale + self.shift, ld.expand(y.shape[:-1])
