"""Deterministic autoencoder nets: a dense encoder, a dense decoder and a fixed affine
standardisation of the data side. Pure torch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Autoencoder", "feedforward_net"]


def feedforward_net(in_features: int, out_features: int, hidden_dims: Sequence[int],
                    output_activation: str = "linear") -> nn.Sequential:
    """Dense network from ``in_features`` to ``out_features`` with ReLU between layers.

    The hidden layers have the widths ``hidden_dims``.

    Layers use PyTorch's default (Kaiming-uniform) initialisation, so that an encoder
    does not start by mapping every input to the same code.

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths.
    hidden_dims : sequence of int
        Widths of the hidden layers (may be empty: one affine layer).
    output_activation : {"linear", "sigmoid"}, default="linear"
        Activation of the output layer.

    Returns
    -------
    torch.nn.Sequential
        Linear and ReLU layers (and a final Sigmoid if requested), mapping
        ``(..., in_features)`` to ``(..., out_features)``.

    Raises
    ------
    ValueError
        If ``output_activation`` is neither ``"linear"`` nor ``"sigmoid"``.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren, J. Sun. Delving Deep into Rectifiers: Surpassing
       Human-Level Performance on ImageNet Classification. ICCV 2015, Sec. 2.2 (the
       fan-in scaled initialisation behind PyTorch's default).
    .. [2] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzebski.
       Cramer-Wold Auto-Encoder. JMLR 21, 2020 (dense ReLU encoder and decoder of the
       CWAE experiments).
    """
    dims = [in_features, *hidden_dims]
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    layers.append(nn.Linear(dims[-1], out_features))
    if output_activation == "sigmoid":
        layers.append(nn.Sigmoid())
    elif output_activation != "linear":
        raise ValueError(f"output_activation must be 'linear' or 'sigmoid', got "
                         f"{output_activation!r}.")
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Encoder ``z = e((x - shift) / scale)`` and decoder ``x = shift + scale * d(z)``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps standardised data ``(n, n_features)`` to codes ``(n, n_components)``.
    decoder : torch.nn.Module
        Maps codes back to standardised data.
    shift, scale : Tensor of shape (n_features,), optional
        Fixed standardisation of the data side (zeros and ones when None).

    References
    ----------
    .. [1] G. E. Hinton, R. R. Salakhutdinov. Reducing the Dimensionality of Data with
       Neural Networks. Science 313(5786), 2006 (deterministic encoder-decoder trained
       on the squared reconstruction error).
    .. [2] S. Knop, P. Spurek, J. Tabor, I. Podolak, M. Mazur, S. Jastrzebski.
       Cramer-Wold Auto-Encoder. JMLR 21, 2020 (the autoencoder whose codes the
       Cramer-Wold term pulls towards ``N(0, I)``).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module,
                 shift: torch.Tensor | None = None, scale: torch.Tensor | None = None):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.register_buffer("shift", torch.as_tensor(0.0 if shift is None else shift))
        self.register_buffer("scale", torch.as_tensor(1.0 if scale is None else scale))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes ``z = e((x - shift) / scale)``.

        Parameters
        ----------
        x : Tensor of shape (n_samples, n_features)
            Points in the units of the data.

        Returns
        -------
        z : Tensor of shape (n_samples, n_components)
            Codes.

        Raises
        ------
        RuntimeError
            If the width or dtype of ``x`` does not fit the standardisation and the
            encoder (raised by torch).
        """
        return self.encoder((x - self.shift) / self.scale)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Points in data units, ``x = shift + scale * d(z)``.

        Parameters
        ----------
        z : Tensor of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        x : Tensor of shape (n_samples, n_features)
            Decoded points in the units of the data.

        Raises
        ------
        RuntimeError
            If the width or dtype of ``z`` does not match the decoder's first layer
            (raised by torch).
        """
        return self.shift + self.scale * self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes and per-row squared reconstruction errors in standardised units.

        Parameters
        ----------
        x : Tensor of shape (n_samples, n_features)
            Points in the units of the data.

        Returns
        -------
        z : Tensor of shape (n_samples, n_components)
            Codes ``e((x - shift) / scale)``.
        squared_error : Tensor of shape (n_samples,)
            ``||(x - shift) / scale - d(z)||^2`` (standardised units squared).

        Raises
        ------
        RuntimeError
            If the width or dtype of ``x`` does not fit the standardisation and the
            encoder (raised by torch).
        """
        xs = (x - self.shift) / self.scale
        z = self.encoder(xs)
        return z, (self.decoder(z) - xs).square().sum(-1)
