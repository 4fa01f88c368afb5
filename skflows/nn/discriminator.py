"""A binary discriminator: an MLP that maps (standardised) points to one logit."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .conditioners import MLP

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Logit ``l(x) = MLP((x - shift) / scale)`` of a binary classifier.

    With the logistic loss, ``sigmoid(l(x))`` estimates the probability that ``x`` comes
    from the positive class; at the optimum, with balanced classes,
    ``l(x) = log p_pos(x) - log p_neg(x)`` (the density-ratio view of classification;
    Gutmann & Hyvarinen, JMLR 13, 2012, Sec. 2.2).

    Parameters
    ----------
    n_features : int
        Input width ``d``.
    hidden_dims : sequence of int, default=(64, 64)
        Hidden widths (ReLU activations); the output layer starts at zero, so the
        initial logit is 0 everywhere.
    shift, scale : Tensor of shape (d,), optional
        Fixed input standardisation (buffers; default: none).

    References
    ----------
    .. [1] M. U. Gutmann, A. Hyvarinen. Noise-Contrastive Estimation of Unnormalized
       Statistical Models, with Applications to Natural Image Statistics. JMLR 13,
       2012, Sec. 2.2 (the logistic-regression logit estimates a log density ratio).
    .. [2] I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair,
       A. Courville, Y. Bengio. Generative Adversarial Nets. NeurIPS 2014, Sec. 4.1,
       Proposition 1 (the optimal discriminator ``p_pos / (p_pos + p_neg)``).
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (64, 64),
                 shift: torch.Tensor | None = None, scale: torch.Tensor | None = None):
        super().__init__()
        self.net = MLP(n_features, 1, tuple(hidden_dims))
        shift = torch.zeros(n_features) if shift is None else torch.as_tensor(shift)
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
        self.register_buffer("shift", shift.clone())
        self.register_buffer("scale", scale.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``l(x)`` of the positive class.

        Parameters
        ----------
        x : Tensor of shape (..., n_samples, n_features)
            Points in the units of the data; same dtype as the weights.

        Returns
        -------
        logits : Tensor of shape (..., n_samples)
            ``l(x)``; with balanced classes at the optimum,
            ``log p_pos(x) - log p_neg(x)`` in nats.

        Raises
        ------
        RuntimeError
            If the last axis of ``x`` does not have ``n_features`` entries or its dtype
            differs from the weights' (raised by torch).
        """
        return self.net((x - self.shift) / self.scale).squeeze(-1)
