"""The one interface every invertible layer of :mod:`skflows.nn` follows.

A transform maps data ``x`` to ``y`` and reports the log-absolute-determinant of its
Jacobian, per sample. Tensors have shape ``(*batch, n_samples, n_features)`` where the
optional leading ``batch`` axis indexes ``n_components`` independent flows that run in
one batched pass (the mixture-of-flows estimators use it). With ``n_components=None``
inputs are plain ``(n_samples, n_features)`` matrices.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Transform", "component_shape"]


def component_shape(n_components: int | None, *shape: int) -> tuple[int, ...]:
    """Shape of a per-feature parameter that broadcasts against ``(*batch, n, d)``.

    Parameters
    ----------
    n_components : int or None
        Number of independent flows ``K`` stacked on a leading axis, or None for one flow.
    *shape : int
        Trailing shape of the parameter (for example ``n_features``).

    Returns
    -------
    tuple of int
        ``shape`` when ``n_components`` is None, else ``(K, 1, *shape)``.
    """
    if n_components is None:
        return tuple(shape)
    return (n_components, 1, *shape)


class Transform(nn.Module):
    """Base class of invertible transforms (bijections ``R^d -> R^d``).

    Subclasses implement :meth:`forward` (data to latent direction) and :meth:`inverse`,
    each returning ``(output, log_det_jacobian)`` where ``log_det_jacobian`` has shape
    ``input.shape[:-1]`` and holds ``log |det d output / d input|`` in nats.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError
