"""The one interface every invertible layer of :mod:`skflows.nn` follows.

A transform maps data ``x`` to ``y`` and reports the log-absolute-determinant of its
Jacobian, per sample. Tensors have shape ``(*batch, n_samples, n_features)`` where the
optional leading ``batch`` axis indexes ``n_components`` independent flows that run in
one batched pass (the mixture-of-flows estimators use it). With ``n_components=None``
inputs are plain ``(n_samples, n_features)`` matrices.
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
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Map data to latent: ``y = f(x)`` and ``log |det df/dx|``.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the data space of the layer.

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

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Map latent to data: ``x = f^{-1}(y)`` and ``log |det df^{-1}/dy|``.

        Parameters
        ----------
        y : Tensor of shape (..., n_samples, n_features)
            Points in the latent space of the layer.

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
