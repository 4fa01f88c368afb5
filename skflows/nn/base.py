"""The one interface every invertible layer of :mod:`skflows.nn` follows.

A transform maps data ``x`` to ``y`` and reports the log-absolute-determinant of its
Jacobian, per sample. Tensors have shape ``(*batch, n_samples, n_features)`` where the
optional leading ``batch`` axis indexes ``n_components`` independent flows that run in
one batched pass (the mixture-of-flows estimators use it). With ``n_components=None``
inputs are plain ``(n_samples, n_features)`` matrices.

Conditional layers (coupling layers built with ``context_features > 0``) also take a
keyword ``context`` of shape ``(..., n_samples, context_features)`` that broadcasts
against the leading shape of their input; a :class:`~skflows.nn.Flow` hands the context
to those layers only.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

__all__ = ["Transform", "component_shape"]


def _check_features(x: torch.Tensor, n_features: int | None, name: str = "x") -> None:
    """Raise ValueError unless the last axis of ``x`` has ``n_features`` entries.

    A cheap guard (one shape comparison): without it a wrong width either fails deep
    inside torch or, worse, broadcasts silently (a width of 1 against ``n_features``).
    ``n_features=None`` skips the check.
    """
    if n_features is not None and (x.dim() == 0 or x.shape[-1] != n_features):
        raise ValueError(f"{name} must have n_features={n_features} entries on its last "
                         f"axis, got shape {tuple(x.shape)}.")


def _check_context(context: torch.Tensor | None, context_features: int,
                   batch_shape: tuple[int, ...], owner: str = "this layer") -> None:
    """Raise ValueError unless ``context`` suits a layer with ``context_features`` inputs.

    A layer with ``context_features == 0`` is unconditional and takes no context; a
    conditional one needs a tensor whose last axis has ``context_features`` entries and
    whose leading shape broadcasts to ``batch_shape`` (the leading shape of the layer's
    input, ``(*batch, n_samples)``) without enlarging it: one row per sample, or a single
    row shared by all samples, optionally shared by the ``K`` components.
    """
    if context_features == 0:
        if context is not None:
            raise ValueError(f"{owner} is unconditional (context_features=0) but a context "
                             f"was given (shape {tuple(getattr(context, 'shape', ()))}); "
                             f"build it with context_features > 0 to condition on it.")
        return
    if context is None:
        raise ValueError(f"{owner} is conditional (context_features={context_features}): "
                         f"pass context=<tensor of shape (n_samples, {context_features})>.")
    if not isinstance(context, torch.Tensor):
        raise ValueError(f"context must be a torch.Tensor, got {type(context).__name__}.")
    if context.dim() == 0 or context.shape[-1] != context_features:
        raise ValueError(f"context must have context_features={context_features} entries on "
                         f"its last axis, got shape {tuple(context.shape)}.")
    batch_shape = torch.Size(batch_shape)
    try:
        shape = torch.broadcast_shapes(context.shape[:-1], batch_shape)
    except RuntimeError:
        shape = None
    if shape != batch_shape:
        raise ValueError(f"context of shape {tuple(context.shape)} does not match inputs with "
                         f"leading shape {tuple(batch_shape)}: it needs one row per sample "
                         f"(or a single row shared by all samples).")


def _check_int(value, name: str, low: int) -> int:
    """``value`` as an int, or ValueError if it is not an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    return int(value)


def component_shape(n_components: int | None, *shape: int) -> tuple[int, ...]:
    """Shape of a per-feature parameter that broadcasts against ``(*batch, n, d)``.

    Parameters
    ----------
    n_components : int or None
        Number ``K >= 1`` of independent flows stacked on a leading axis, or None for
        one flow.
    *shape : int
        Trailing shape of the parameter (for example ``n_features``).

    Returns
    -------
    tuple of int
        ``shape`` when ``n_components`` is None, else ``(K, 1, *shape)``: the singleton
        axis broadcasts over the ``n_samples`` axis of inputs of shape
        ``(K, n_samples, *shape)``.

    Raises
    ------
    ValueError
        If ``n_components`` is neither None nor an int ``>= 1``.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1 (composing transformations; here ``K``
       such compositions evaluated side by side, as in a mixture of flows).

    Examples
    --------
    >>> from skflows.nn import component_shape
    >>> component_shape(None, 3), component_shape(4, 3)
    ((3,), (4, 1, 3))
    """
    if n_components is None:
        return tuple(shape)
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral) \
            or n_components < 1:
        raise ValueError(f"n_components must be None or an int >= 1, got {n_components!r}.")
    return (int(n_components), 1, *shape)


class Transform(nn.Module):
    """Base class of invertible transforms (bijections from ``R^d`` to ``R^d``).

    Subclasses implement :meth:`forward` (data to latent direction) and :meth:`inverse`,
    each returning ``(output, log_det_jacobian)`` where ``log_det_jacobian`` has shape
    ``input.shape[:-1]`` and holds ``log |det d output / d input|`` in nats. The base
    class takes no constructor arguments; a subclass documents its own.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 2.1, Eq. 2-3 (change of variables and the
       log-determinant of a composition as the sum over its layers).
    .. [2] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3 (bijections with tractable Jacobian determinants).
    .. [3] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (a conditional flow: every
       layer may depend on a context ``c``, giving ``log p(x | c)``).

    Notes
    -----
    Conditional layers (``context_features > 0``) take a keyword ``context``; the others
    take none, and :class:`~skflows.nn.Flow` passes the context to conditional layers only.
    """

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Map data to latent: ``y = f(x)`` and ``log |det df/dx|``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the data space of the layer.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables of a conditional layer (ignored by the others).

        Returns
        -------
        y : Tensor of shape (..., n_samples, n_features)
            Transformed points.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dy/dx|`` per sample, in nats.

        Raises
        ------
        NotImplementedError
            Always, in this base class; subclasses override the method.
        """
        raise NotImplementedError

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Map latent to data: ``x = f^{-1}(y)`` and ``log |det df^{-1}/dy|``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Points in the latent space of the layer.
        context : Tensor of shape (..., n_samples, context_features), optional
            Conditioning variables of a conditional layer (ignored by the others).

        Returns
        -------
        x : Tensor of shape (..., n_samples, n_features)
            Pre-images.
        log_det_jacobian : Tensor of shape (..., n_samples)
            ``log |det dx/dy|`` per sample, in nats (minus that of :meth:`forward`).

        Raises
        ------
        NotImplementedError
            Always, in this base class; subclasses override the method.
        """
        raise NotImplementedError
