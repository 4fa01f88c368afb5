"""Conditioner networks: they map the identity half of a coupling layer (and, in a
conditional flow, the context vector) to the parameters of the transform applied to the
other half. The same MLP, without the zero-initialised output, embeds a context."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .linear import BatchedLinear

__all__ = ["MLP"]


class MLP(nn.Module):
    """Multi-layer perceptron with ReLU activations and a (by default) zero-initialised
    linear output layer.

    Zero initialisation of the last layer makes every coupling layer (and hence the whole
    flow) start as the identity map, the standard choice since Glow (Kingma & Dhariwal,
    2018, Section 3.3). A context-embedding network uses ``zero_init=False`` instead, so
    that different contexts start with different embeddings.

    Parameters
    ----------
    in_features : int
        Input width (may be 0 for an unconditional layer).
    out_features : int
        Output width.
    hidden_dims : sequence of int
        Widths of the hidden layers.
    n_components : int or None, default=None
        Number of independent networks evaluated in one batched pass (inputs then have
        shape ``(K, n, in_features)``).
    zero_init : bool, default=True
        Initialise the output layer to zero (the network then outputs 0 everywhere);
        with False it gets the default uniform initialisation of
        :class:`~skflows.nn.BatchedLinear`.

    Attributes
    ----------
    in_features, out_features : int
        Input and output widths.

    References
    ----------
    .. [1] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 3.3 (zero initialisation of the last layer of
       each coupling network, so that every coupling starts as the identity).
    .. [2] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density Estimation Using Real NVP.
       ICLR 2017, Sec. 3.3 (the scale and translation functions ``s``, ``t`` of a
       coupling layer are arbitrary networks of the identity half).
    .. [3] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019 (the conditioner of a
       conditional coupling also reads the context, possibly through an embedding
       network).
    """

    def __init__(self, in_features: int, out_features: int, hidden_dims: Sequence[int],
                 n_components: int | None = None, zero_init: bool = True):
        super().__init__()
        dims = [in_features, *hidden_dims]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [BatchedLinear(d_in, d_out, n_components), nn.ReLU()]
        layers.append(BatchedLinear(dims[-1], out_features, n_components,
                                    zero_init=zero_init))
        self.net = nn.Sequential(*layers)
        self.hidden_dims = tuple(hidden_dims)
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the network.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, in_features)
            Inputs; with ``n_components=K`` exactly ``(K, n_samples, in_features)``.
            Same dtype as the weights.

        Returns
        -------
        out : Tensor of shape (..., n_samples, out_features)
            Network outputs (all zero at initialisation when ``zero_init``).

        Raises
        ------
        RuntimeError
            If the last axis of ``x`` does not have ``in_features`` entries, its dtype
            differs from the weights', or (with ``n_components=K``) ``x`` is not of
            shape ``(K, n_samples, in_features)`` (raised by torch).
        """
        return self.net(x)
