"""Conditioner networks: they map the identity half of a coupling layer (and, in a
conditional flow, the context vector) to the parameters of the transform applied to the
other half. The same MLP, without the zero-initialised output, embeds a context.

Both conditioners take the context as a separate argument, ``net(x, context)``: the MLP
reads it concatenated to its input, the residual network also lets it gate every
block."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .linear import BatchedLinear

__all__ = ["MLP", "ResidualMLP"]


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

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate the network.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_x)
            Inputs; with ``n_components=K`` exactly ``(K, n_samples, n_x)``.
            Same dtype as the weights.
        context : Tensor of shape (..., n_samples, n_c), optional
            Read concatenated after ``x`` (``n_x + n_c == in_features``); same leading
            shape as ``x``.

        Returns
        -------
        out : Tensor of shape (..., n_samples, out_features)
            Network outputs (all zero at initialisation when ``zero_init``).

        Raises
        ------
        RuntimeError
            If the inputs do not have ``in_features`` entries in all, their dtype
            differs from the weights', or (with ``n_components=K``) ``x`` is not of
            shape ``(K, n_samples, n_x)`` (raised by torch).
        """
        if context is not None:
            x = torch.cat([x, context], dim=-1)
        return self.net(x)


class ResidualMLP(nn.Module):
    """Residual conditioner whose blocks the context gates.

    ``h_0 = W_in [x, c]``; per block
    ``h_{l+1} = h_l + (V_l relu(U_l relu(h_l))) * sigmoid(G_l c)``
    (the gate only when a context is given); output ``W_out h_L``, a linear read-out of
    the residual stream (no activation in front of it: a ReLU there would discard every
    negative coordinate the blocks wrote; measured on two moons NPE, held-out
    ``log p(theta | x)`` 3.47 with it and 3.53 without, ``sbi``'s NPE 3.54). Each block's
    last layer ``V_l`` and the output layer start at zero, so every block starts as the
    identity and the conditioner outputs 0 (the coupling starts as the identity map).
    Compared with :class:`MLP` of the same widths the context acts on every block
    multiplicatively, not only additively at the input, and the skip connections keep
    deeper conditioners trainable: the conditioner type of the neural spline flow
    experiments and of ``sbi``'s NPE.

    Parameters
    ----------
    in_features : int
        Width of ``[x, c]`` (``x`` may be empty: a one-dimensional conditional coupling
        reads the context alone).
    out_features : int
        Output width.
    hidden_dims : sequence of int
        One residual block per entry; all entries equal (the block width).
    context_features : int, default=0
        Width of ``c`` among the ``in_features``; 0: no gates (a plain residual MLP).
    n_components : int or None, default=None
        Number of independent networks evaluated in one batched pass.

    Attributes
    ----------
    in_features, out_features, context_features : int
        Widths.

    Raises
    ------
    ValueError
        If ``hidden_dims`` is empty or its entries differ, or ``context_features``
        exceeds ``in_features``.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image
       Recognition. CVPR 2016, Sec. 3.2 (identity shortcuts); Identity Mappings in Deep
       Residual Networks, ECCV 2016, Sec. 4.1 (activation before each weight layer).
    .. [2] Y. N. Dauphin, A. Fan, M. Auli, D. Grangier. Language Modeling with Gated
       Convolutional Networks. ICML 2017, Sec. 2, Eq. 1 (gated linear units:
       ``a * sigmoid(b)``; here the gate ``b`` is a linear map of the context).
    .. [3] P. Goyal et al. Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour.
       arXiv:1706.02677, 2017, Sec. 5.1 (each residual branch starts at zero).
    .. [4] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019, Sec. 5 (conditioners of the spline couplings are residual
       networks).
    """

    # Networks pickled before the linear read-out put a ReLU in front of the output
    # layer; they keep computing what they were trained as.
    _relu_readout = True

    def __init__(self, in_features: int, out_features: int, hidden_dims: Sequence[int],
                 context_features: int = 0, n_components: int | None = None):
        super().__init__()
        self._relu_readout = False
        widths = tuple(int(h) for h in hidden_dims)
        if not widths or len(set(widths)) != 1:
            raise ValueError(f"a residual conditioner needs one or more blocks of one "
                             f"width (hidden_dims like (64, 64)), got {tuple(hidden_dims)}.")
        if not 0 <= context_features <= in_features:
            raise ValueError(f"context_features must lie in [0, in_features={in_features}], "
                             f"got {context_features}.")
        width = widths[0]
        self.input = BatchedLinear(in_features, width, n_components)
        self.hidden = nn.ModuleList(BatchedLinear(width, width, n_components)
                                    for _ in widths)
        self.branch_out = nn.ModuleList(BatchedLinear(width, width, n_components,
                                                      zero_init=True) for _ in widths)
        self.gates = nn.ModuleList(BatchedLinear(context_features, width, n_components)
                                   for _ in widths) if context_features else None
        self.output = BatchedLinear(width, out_features, n_components, zero_init=True)
        self.hidden_dims = widths
        self.in_features = in_features
        self.out_features = out_features
        self.context_features = context_features

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate the network.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, in_features - context_features)
            Inputs; with ``n_components=K`` exactly ``(K, n_samples, n_x)``.
        context : Tensor of shape (..., n_samples, context_features), optional
            Required exactly when ``context_features > 0``; same leading shape as ``x``.

        Returns
        -------
        out : Tensor of shape (..., n_samples, out_features)
            All zero at initialisation.

        Raises
        ------
        ValueError
            If a context is missing from a gated network or given to an ungated one.
        RuntimeError
            If the widths or dtypes do not match the weights (raised by torch).
        """
        if (context is None) != (self.gates is None):
            raise ValueError("ResidualMLP: pass a context exactly when context_features > 0.")
        h = self.input(x if context is None else torch.cat([x, context], dim=-1))
        for i, (inner, outer) in enumerate(zip(self.hidden, self.branch_out)):
            u = outer(torch.relu(inner(torch.relu(h))))
            if self.gates is not None:
                u = u * torch.sigmoid(self.gates[i](context))
            h = h + u
        return self.output(torch.relu(h) if self._relu_readout else h)
