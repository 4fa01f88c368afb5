"""DeepArchetypes: archetypal analysis in the latent space of a normalizing flow."""

from __future__ import annotations

import functools
import numbers

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn

from ._base import BaseFlowEstimator, DensityScoreMixin
from .datasets._simplex import regular_simplex
from .nn import Flow, coupling_flow
from .sampling import dirichlet_mixtures

__all__ = ["DeepArchetypes"]

#: Rows of ``inverse_transform``'s input must sum to 1 within this relative tolerance.
_SUM_TOL = 1e-5


# ---------------------------------------------------------------------------- torch module
def sparsemax(logits: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``logits`` onto the probability simplex.

    ``sparsemax(u) = argmin_{a in simplex} ||a - u||^2 = max(u - tau, 0)`` with the
    threshold ``tau`` that makes the row sum to 1 (Martins & Astudillo, ICML 2016,
    Eq. 2 and Alg. 1). Unlike a softmax it returns exact zeros and exact one-hot rows;
    rows already on the simplex are returned unchanged. Gradients follow by automatic
    differentiation (the support indicator is piecewise constant).

    Parameters
    ----------
    logits : Tensor of shape (..., k)

    Returns
    -------
    Tensor of shape (..., k)
        Non-negative rows summing to 1.
    """
    k = logits.shape[-1]
    shifted = logits - logits.max(dim=-1, keepdim=True).values.detach()
    ordered = torch.sort(shifted, dim=-1, descending=True).values
    ranks = torch.arange(1, k + 1, dtype=logits.dtype, device=logits.device)
    cumulative = ordered.cumsum(dim=-1)
    support = (1 + ranks * ordered > cumulative).to(logits.dtype)
    size = support.sum(dim=-1, keepdim=True)
    tau = ((ordered * support).sum(dim=-1, keepdim=True) - 1) / size
    return torch.clamp(shifted - tau, min=0)


class ArchetypalFlow(nn.Module):
    """A normalizing flow with an archetypal head in its latent space.

    ``z = f(x)`` is the flow's latent. A coefficient head gives simplex weights
    ``a = sparsemax(W_a h(z) + b_a)`` (or a softmax; ``h`` a small ReLU network, possibly
    the identity),
    the latent archetypes ``L`` (``k`` rows) give the latent reconstruction
    ``z_hat = a^T L`` and the data reconstruction ``x_hat = f^{-1}(z_hat)``. A second
    output of the head gives per-row logits ``W_b h(z) + b_b`` whose softmax *over the
    batch* is the row-stochastic matrix ``B`` of the archetype loss (Keller et al. 2021,
    the archetype loss of their method section).

    With ``fix_archetypes=True`` the archetypes sit at the vertices ``Z`` of a regular
    simplex in a ``(k-1)``-dimensional archetype space and an affine map
    ``z = V t + c`` carries archetype space to the latent, so ``L = Z V^T + c``. Otherwise
    ``L`` is a free parameter.

    Parameters
    ----------
    flow : skflows.nn.Flow
        Data-to-latent flow (includes the standardisation, if any).
    latent_archetypes : Tensor of shape (k, d)
        Initial latent archetypes ``L``.
    simplex : Tensor of shape (k, k - 1)
        Fixed vertices ``Z`` (rows of a regular simplex).
    head_hidden_dims : sequence of int
        Hidden widths of ``h`` (empty: ``h(z) = z``).
    fix_archetypes : bool
        Parameterise ``L = Z V^T + c`` (True) or freely (False).
    error_scale : float
        The data reconstruction error is measured in units of ``error_scale``.
    coefficient_map : {"sparsemax", "softmax"}, default="sparsemax"
        Map from the head's logits to the simplex.
    """

    def __init__(self, flow: Flow, latent_archetypes: torch.Tensor, simplex: torch.Tensor,
                 head_hidden_dims, fix_archetypes: bool, error_scale: float,
                 coefficient_map: str = "sparsemax"):
        super().__init__()
        self.flow = flow
        k, d = latent_archetypes.shape
        self.n_archetypes = k
        self.fix_archetypes = bool(fix_archetypes)
        self.coefficient_map = coefficient_map
        self.register_buffer("simplex", torch.as_tensor(simplex))
        self.register_buffer("error_scale", torch.tensor(float(error_scale)))
        layers: list[nn.Module] = []
        width = d
        for h in head_hidden_dims:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.coefficient_layer = nn.Linear(width, k)
        self.selection_layer = nn.Linear(width, k)
        L = torch.as_tensor(latent_archetypes)
        if self.fix_archetypes:
            # L = Z V^T + c exactly: c is the mean of L (Z is centred) and, since
            # Z^T Z = k / (k - 1) I, V^T = (k - 1) / k Z^T (L - c).
            c = L.mean(dim=0)
            Z = self.simplex.to(L.dtype)
            self.offset = nn.Parameter(c.clone())
            self.basis = nn.Parameter(((k - 1) / k * Z.T @ (L - c)).T.contiguous())
        else:
            self.archetypes = nn.Parameter(L.clone())

    def latent_archetypes(self) -> torch.Tensor:
        """The latent archetypes ``L``, shape ``(k, d)``."""
        if self.fix_archetypes:
            return self.simplex @ self.basis.T + self.offset
        return self.archetypes

    def heads(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coefficient logits and selection logits of latents, each ``(n, k)``."""
        h = self.trunk(z)
        return self.coefficient_layer(h), self.selection_layer(h)

    def to_simplex(self, logits: torch.Tensor) -> torch.Tensor:
        """Coefficient logits to simplex weights (sparsemax or softmax)."""
        if self.coefficient_map == "sparsemax":
            return sparsemax(logits)
        return torch.softmax(logits, dim=-1)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Simplex coefficients ``a`` of data rows, shape ``(n, k)``."""
        z, _ = self.flow(x)
        return self.to_simplex(self.heads(z)[0])

    def decode(self, a: torch.Tensor) -> torch.Tensor:
        """``f^{-1}(a^T L)`` for (affine) coefficient rows ``a``, shape ``(n, d)``."""
        return self.flow.inverse(a @ self.latent_archetypes())[0]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``f^{-1}(a(x)^T L)``: the data reconstructed from their coefficients."""
        return self.decode(self.coefficients(x))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density of the flow, nats, shape ``(n,)``."""
        return self.flow.log_prob(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coefficients(x)


def archetypal_objective(module: ArchetypalFlow, x: torch.Tensor, *,
                         reconstruction_weight: float, archetype_loss_weight: float,
                         reconstruction: str, batch_size: int) -> torch.Tensor:
    """Training loss of :class:`DeepArchetypes` on a batch (per feature and row).

    ``NLL(x) / d + w_rec * e(x) / d + w_AT * AT`` with

    * ``NLL`` the flow's negative log-likelihood (nats per row, mean over the batch);
    * ``e`` the squared reconstruction error, in data space
      ``||x - f^{-1}(a^T L)||^2 / s^2`` (``s`` the root-mean-square standard deviation of
      the training features, so the features keep their relative units, as in linear
      archetypal analysis, and a global rescaling of ``x`` changes nothing) or in the
      latent, ``||z - a^T L||^2``;
    * ``AT`` the archetype loss of Keller et al. (2021): ``B = softmax over the
      batch`` of the selection logits, a ``(k, n)`` row-stochastic matrix, predicts each
      archetype as a convex combination of the batch; with fixed archetypes
      ``AT = mean_j ||Z_j - (B t)_j||^2`` with ``t = a^T Z`` (the encoded batch in
      archetype space), otherwise ``AT = mean_j ||L_j - (B z)_j||^2`` (the archetypes
      are convex combinations of the latent data, as in classical archetypal analysis).
      It is weighted by ``n / batch_size`` so that a short last batch, whose softmax
      runs over few rows, counts in proportion to its size.
    """
    z, log_det = module.flow(x)
    d = x.shape[-1]
    nll = -(module.flow.base.log_prob(z) + log_det).mean()
    logits, selection = module.heads(z)
    a = module.to_simplex(logits)
    L = module.latent_archetypes()
    z_hat = a @ L
    if reconstruction == "data":
        x_hat = module.flow.inverse(z_hat)[0]
        error = (((x - x_hat) / module.error_scale) ** 2).sum(-1).mean()
    else:
        error = ((z - z_hat) ** 2).sum(-1).mean()
    B = torch.softmax(selection, dim=0).T  # (k, n), rows sum to 1 over the batch
    if module.fix_archetypes:
        Z = module.simplex
        archetype_loss = ((B @ (a @ Z) - Z) ** 2).sum(-1).mean()
    else:
        archetype_loss = ((B @ z - L) ** 2).sum(-1).mean()
    share = min(1.0, x.shape[0] / batch_size)
    return (nll + reconstruction_weight * error) / d \
        + archetype_loss_weight * share * archetype_loss


def _furthest_sum(X: np.ndarray, k: int, start: int, n_sweeps: int = 10) -> np.ndarray:
    """Indices of ``k`` rows picked by FurthestSum (Morup & Hansen 2012).

    Starting from row ``start``, repeatedly add the row with the largest sum of distances
    to the rows picked so far, until ``k`` rows are picked. The random starting row is
    not extreme, so (when ``X`` has more than ``k`` rows) each picked row, the start
    first, is then re-picked in turn as the row farthest in sum from the other ``k - 1``,
    sweeping until no pick changes (at most ``n_sweeps`` sweeps). The indices are
    distinct.
    """
    n = len(X)
    dist = np.empty((min(k, n), n))

    def farthest(total, exclude):
        masked = total.copy()
        masked[exclude] = -np.inf
        return int(np.argmax(masked))

    picked = [start]
    dist[0] = np.sqrt(((X - X[start]) ** 2).sum(1))
    while len(picked) < min(k, n):
        nxt = farthest(dist[:len(picked)].sum(0), picked)
        dist[len(picked)] = np.sqrt(((X - X[nxt]) ** 2).sum(1))
        picked.append(nxt)
    if n > k:
        for _ in range(n_sweeps):
            changed = False
            for i in range(k):
                others = [j for j in range(k) if j != i]
                nxt = farthest(dist[others].sum(0), [picked[j] for j in others])
                if nxt != picked[i]:
                    picked[i], changed = nxt, True
                    dist[i] = np.sqrt(((X - X[nxt]) ** 2).sum(1))
            if not changed:
                break
    return np.asarray(picked)


# ---------------------------------------------------------------------------- estimator
class DeepArchetypes(DensityScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                     BaseFlowEstimator):
    """Archetypal analysis in the latent space of a normalizing flow.

    Archetypal analysis (Cutler & Breiman 1994) writes every sample as a convex mixture
    ``a`` (non-negative weights summing to 1) of ``k`` extreme "pure types", the
    archetypes. Here the mixing happens in the latent space of a coupling normalizing
    flow ``z = f(x)``: with latent archetypes ``L`` (``k`` rows), a sample is
    reconstructed as ``x_hat = f^{-1}(a^T L)``. Straight lines in the latent become
    curves in the data space, so the archetypes can sit on the corners of curved data,
    every archetype and mixture of archetypes maps back to data space exactly through the
    flow's inverse (no separate decoder), and the flow is a density model as well
    (``score_samples``).

    The architecture follows deep archetypal analysis (Keller et al. 2021): the
    coefficients come from a head on the latent, ``a = sparsemax(W h(z) + b)`` (the
    Euclidean projection onto the simplex, Martins & Astudillo 2016; Keller et al. use a
    softmax, ``coefficient_map="softmax"``), with ``h`` a small ReLU network; with
    ``fix_archetypes=True`` the archetypes are fixed at the vertices ``Z`` of a regular
    simplex in a ``(k-1)``-dimensional archetype space (Keller et al.) and a
    learned affine map ``z = V t + c`` places that space in the flow's latent, so
    ``L = Z V^T + c``. Training minimises, per batch (``archetypal_objective``),
    ``NLL / d + reconstruction_weight * e / d + archetype_loss_weight * AT``: the flow's
    negative log-likelihood, the squared reconstruction error ``e`` of each row from its
    own coefficients (in data space, relative to the features' root-mean-square standard
    deviation, or in the latent), and Keller's archetype loss, in which a softmax *over
    the batch* forms each archetype as a convex combination of the encoded batch, so
    that the data reach every vertex of the simplex (and the archetypes stay on the
    data). The idea of doing this in a flow's latent space follows Bungert (2021); that
    thesis was not available to us, and the losses are our reconstruction from the above.

    Read more in the :ref:`user guide <deep_archetypes>`.

    Parameters
    ----------
    n_archetypes : int, default=3
        Number of archetypes ``k >= 2``.
    flow : {"nsf", "realnvp"}, default="nsf"
        Coupling layer of the flow: rational-quadratic spline or affine (see
        :class:`~skflows.FlowDensity`).
    n_layers : int, default=5
        Number of coupling layers.
    hidden_dims : int or tuple of int, default=(64, 64)
        Hidden widths of each coupling layer's MLP conditioner.
    head_hidden_dims : int or tuple of int, default=(64,)
        Hidden widths of the coefficient head ``h`` (ReLU); an empty tuple makes the
        head linear in the latent.
    reconstruction_weight : float, default=100.0
        Weight of the reconstruction error relative to the negative log-likelihood
        (both per feature). Large values favour the archetypal model (lower
        reconstruction error, archetypes closer to the data's corners) over the density
        (``score_samples``); 0 leaves the archetypes unrelated to the data.
    archetype_loss_weight : float, default=1.0
        Weight of the archetype loss ``AT``. 0 drops it: the archetypes are then free to
        move away from the data.
    fix_archetypes : bool, default=True
        True: archetypes at the fixed vertices of a regular simplex in archetype space,
        with a learned affine map to the latent, and the archetype loss pulls the encoded
        data onto every vertex (Keller et al.). False: the latent archetypes ``L`` are free
        parameters and the archetype loss pulls each of them towards a convex combination
        of the latent batch (the constraint of classical archetypal analysis).
    reconstruction : {"data", "latent"}, default="data"
        Where the reconstruction error of the training loss is measured: in data space
        (in units of the root-mean-square standard deviation of the features, which
        keep their relative scales as in linear archetypal analysis; needs one inverse
        pass of the flow per batch) or in the flow's latent space (cheaper; the flow's
        whitening then weighs every latent direction alike, which suits data with few
        features).
    coefficient_map : {"sparsemax", "softmax"}, default="sparsemax"
        Map from the head's logits to the simplex. ``"sparsemax"`` (Euclidean projection
        onto the simplex) gives sparse coefficients and exact one-hot rows for the most
        extreme samples, so each archetype is the reconstruction of actual rows and stays
        on the data. ``"softmax"`` (Keller et al.) never reaches a vertex: the archetypes
        then extrapolate slightly beyond the most extreme rows.
    n_bins : int, default=8
        Number of spline bins (``flow="nsf"`` only).
    tail_bound : float, default=5.0
        The splines act on ``[-tail_bound, tail_bound]`` (standardised units) and are the
        identity outside.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before each coupling (see :class:`~skflows.FlowDensity`).
    standardize : bool, default=True
        Standardise each feature inside the flow; all outputs refer to the units of
        ``X``.
    n_init : int, default=1
        Number of initialisations (FurthestSum start row, network weights) trained; the
        one with the lowest validation loss (training loss without a validation split)
        is kept, as ``n_init`` in :class:`~sklearn.mixture.GaussianMixture`. A flexible
        flow can span the data with archetypes that are not the data's corners (curved
        edges cover the rest); such fits have a higher loss, and several
        initialisations avoid them (see the user guide). Costs ``n_init`` fits.
    max_epochs : int, default=200
        Maximum number of passes over the training data.
    batch_size : int, default=128
        Mini-batch size. It is a *model* hyperparameter, not only a speed knob: the
        archetype loss's softmax runs over the rows of a batch, so the batch must be
        large enough to contain rows near every archetype (at least a few times
        ``n_archetypes``; Keller et al. use 50, we recommend >= 64).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay (L2 penalty).
    gradient_clip : float or None, default=5.0
        Clip the gradient's global norm to this value; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out for early stopping (monitoring the
        training objective on them). With 0 the training loss is monitored.
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of at least ``tol``; the
        weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the monitored loss.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial archetypes, the network initialisation, the validation split
        and shuffling. With an int and ``device="cpu"`` two fits are identical. The
        global torch and numpy random states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar with the loss.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.

    Attributes
    ----------
    archetypes_ : ndarray of shape (n_archetypes, n_features_in_), float64
        The archetypes in data space, ``f^{-1}(L_j)`` (``inverse_transform`` of the
        one-hot rows).
    latent_archetypes_ : ndarray of shape (n_archetypes, n_features_in_), float64
        The archetypes ``L`` in the flow's latent space.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Standardisation applied inside the flow.
    history_ : list of dict
        One row per epoch of every fit: ``epoch``, ``stage``, ``phase``, ``train_loss``,
        ``valid_loss`` (the training objective; None without validation rows),
        ``monitored`` (what early stopping watched), ``duration`` (seconds).
    n_iter_ : int
        Number of epochs run by the last ``fit``.
    net_ : skorch.NeuralNet
        The private training net.
    module_ : ArchetypalFlow
        The trained torch module (in the units of ``X``).

    See Also
    --------
    skflows.FlowDensity : The normalizing flow alone.
    sklearn.decomposition.NMF : Another parts-based linear decomposition.

    Notes
    -----
    *Sparse coefficients*: with ``coefficient_map="sparsemax"`` the coefficients have
    exact zeros (as the non-negative least-squares coefficients of linear archetypal
    analysis) and the most extreme rows get exactly one-hot rows. A softmax is never
    exactly one-hot: ``transform`` of the most extreme rows then gives about 0.9-0.99 on
    their archetype.

    *Identifiability*: any rotation of the simplex paired with the map ``V`` gives the
    same model, and the order of the archetypes is arbitrary; compare archetypes in data
    space (``archetypes_``) after matching them, not their latent coordinates.

    *Extrapolation*: ``inverse_transform`` accepts any affine weights (rows summing to 1,
    entries possibly negative or above 1): ``f^{-1}(a^T L)`` is then a point beyond the
    archetypes' curved simplex, in a region without training data.

    *Batch dependence*: the archetype loss depends on the batch size and composition
    (rows are shuffled every epoch). At inference only the flow and the coefficient head
    are used, so every output is a function of the row alone.

    The compute dtype follows ``X`` at fit time. If the training loss becomes non-finite,
    fitting stops with :class:`FloatingPointError` and the estimator is not fitted.

    References
    ----------
    .. [1] A. Cutler and L. Breiman. Archetypal Analysis. Technometrics 36(4), 1994.
    .. [2] S. M. Keller, M. Samarin, F. Arend Torres, M. Wieser, V. Roth. Learning
       Extremal Representations with Deep Archetypal Analysis. IJCV 129(4), 805-820,
       2021 (arXiv:1901.10799): method section (archetypes fixed at the vertices of a
       regular simplex, the archetype loss with a softmax over the batch) and the
       generation of samples from Dirichlet weights; the concentration 0.7 is from
       their code (bmda-unibas/DeepArchetypeAnalysis, ``lib_vae.dirichlet_prior``).
    .. [3] C. Bauckhage, K. Kersting, F. Hoppe, C. Thurau. Archetypal Analysis as an
       Autoencoder. Workshop "New Challenges in Neural Computation", 2015.
    .. [4] T. Bungert. Master thesis, Heidelberg University, 2021 (archetypal analysis
       and outlier generation with invertible networks; not available to us).
    .. [5] M. Morup and L. K. Hansen. Archetypal analysis for machine learning and data
       mining. Neurocomputing 80, 54-63, 2012 (the FurthestSum initialisation).
    .. [6] A. F. T. Martins and R. F. Astudillo. From Softmax to Sparsemax: A Sparse
       Model of Attention and Multi-Label Classification. ICML 2016 (Eq. 2, Alg. 1).

    Examples
    --------
    >>> from skflows import DeepArchetypes
    >>> from skflows.datasets import make_warped_triangle
    >>> X, _, _ = make_warped_triangle(300, random_state=0)
    >>> est = DeepArchetypes(n_archetypes=3, max_epochs=3, hidden_dims=(16,),
    ...                      random_state=0).fit(X)
    >>> A = est.transform(X[:2])
    >>> A.shape, bool(abs(A.sum(axis=1) - 1).max() < 1e-6)
    ((2, 3), True)
    >>> est.archetypes_.shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **BaseFlowEstimator._parameter_constraints,
        "n_archetypes": [Interval(numbers.Integral, 2, None, closed="left")],
        "flow": [StrOptions({"nsf", "realnvp"})],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dims": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "head_hidden_dims": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "reconstruction_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "archetype_loss_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "fix_archetypes": ["boolean"],
        "reconstruction": [StrOptions({"data", "latent"})],
        "coefficient_map": [StrOptions({"sparsemax", "softmax"})],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "permutation": [StrOptions({"random", "reverse", "lu"})],
        "standardize": ["boolean"],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_archetypes=3,
        flow="nsf",
        n_layers=5,
        hidden_dims=(64, 64),
        head_hidden_dims=(64,),
        reconstruction_weight=100.0,
        archetype_loss_weight=1.0,
        fix_archetypes=True,
        reconstruction="data",
        coefficient_map="sparsemax",
        n_bins=8,
        tail_bound=5.0,
        permutation="lu",
        standardize=True,
        n_init=1,
        *,
        max_epochs=200,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        gradient_clip=5.0,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_archetypes = n_archetypes
        self.flow = flow
        self.n_layers = n_layers
        self.hidden_dims = hidden_dims
        self.head_hidden_dims = head_hidden_dims
        self.reconstruction_weight = reconstruction_weight
        self.archetype_loss_weight = archetype_loss_weight
        self.fix_archetypes = fix_archetypes
        self.reconstruction = reconstruction
        self.coefficient_map = coefficient_map
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.permutation = permutation
        self.standardize = standardize
        self.n_init = n_init
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.gradient_clip = gradient_clip
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        """Width of ``transform``'s output (one coefficient per fitted archetype), for
        ``get_feature_names_out``; ``AttributeError`` before ``fit``."""
        return self.archetypes_.shape[0]

    # ------------------------------------------------------------------ fitting
    def _build_module(self, X, hidden, head_hidden):
        """Flow, head and initial archetypes (runs inside the engine's seeded fork_rng)."""
        d, k = X.shape[1], self.n_archetypes
        shift = torch.from_numpy(self.mean_) if self.standardize else None
        scale = torch.from_numpy(self.scale_) if self.standardize else None
        flow = coupling_flow(d, transform=self.flow, n_layers=self.n_layers,
                             hidden_dims=hidden, n_bins=self.n_bins,
                             tail_bound=self.tail_bound, permutation=self.permutation,
                             shift=shift, scale=scale)
        # Initial archetypes: FurthestSum rows of (a subsample of) the standardised data,
        # mapped through the freshly initialised flow.
        seed = int(torch.randint(np.iinfo(np.int32).max, ()).item())
        rng = check_random_state(seed)
        n = len(X)
        rows = rng.choice(n, size=min(n, 2000), replace=False)
        Xs = (X[rows] - self.mean_) / self.scale_
        picked = rows[_furthest_sum(Xs, k, int(rng.randint(len(rows))))]  # n >= k rows
        flow = flow.double()  # the engine casts the whole module to the compute dtype
        with torch.no_grad():
            latent = flow(torch.from_numpy(np.asarray(X[picked], dtype=np.float64)))[0]
        simplex = torch.from_numpy(regular_simplex(k))
        error_scale = np.sqrt(np.mean(X.var(axis=0, dtype=np.float64)))
        return ArchetypalFlow(flow, latent, simplex, head_hidden, self.fix_archetypes,
                              error_scale if error_scale > 0 else 1.0, self.coefficient_map)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the flow, the coefficient head and the archetypes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 data train in float32, anything else in float64.
            Needs at least ``max(2, n_archetypes)`` rows.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : DeepArchetypes
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, complex, strings, fewer rows than
            archetypes) or invalid parameters, or an unavailable ``device``.
        FloatingPointError
            If the training loss diverges (weights are restored to finite values).
        """
        X, warm = self._fit_start(X)
        self._check_min_samples(X, self.n_archetypes, "n_archetypes")
        hidden = self._check_dims(self.hidden_dims, "hidden_dims")
        head_hidden = self._check_dims(self.head_hidden_dims, "head_hidden_dims",
                                       allow_empty=True)
        if not warm:
            self._set_standardization(X)
        loss = functools.partial(
            archetypal_objective, reconstruction_weight=float(self.reconstruction_weight),
            archetype_loss_weight=float(self.archetype_loss_weight),
            reconstruction=self.reconstruction,
            batch_size=min(int(self.batch_size), X.shape[0]))  # the engine's batch size
        self._train(lambda: self._build_module(X, hidden, head_hidden), loss, X,
                    n_init=self.n_init)
        self._set_archetypes()
        return self

    def _set_archetypes(self):
        module = self.module_
        module.eval()
        with torch.no_grad():
            L = module.latent_archetypes()
            self.latent_archetypes_ = L.detach().cpu().double().numpy()
            self.archetypes_ = module.flow.inverse(L)[0].detach().cpu().double().numpy()

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Archetype coefficients of each row: weights on the simplex.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        A : ndarray of shape (n_samples, n_archetypes)
            Non-negative rows summing to 1, in the dtype of ``X``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return self._batched(self.module_.coefficients, X, out_dtype=X.dtype)

    def _validate_coefficients(self, A):
        A = check_array(A, dtype=[np.float64, np.float32])
        k = self.n_archetypes
        if A.shape[1] != k:
            raise ValueError(f"A has {A.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {k} features as input.")
        gap = np.abs(A.sum(axis=1, dtype=np.float64) - 1.0)
        bound = _SUM_TOL * np.maximum(1.0, np.abs(A).sum(axis=1, dtype=np.float64))
        if np.any(gap > bound):
            worst = int(np.argmax(gap - bound))
            raise ValueError(
                "The rows of A must sum to 1 (affine weights of the archetypes); row "
                f"{worst} sums to {A[worst].sum(dtype=np.float64)!r}.")
        return A

    def inverse_transform(self, A):
        """Map archetype weights back to data space, ``x = f^{-1}(a^T L)``.

        Weights on the simplex give points on the curved simplex spanned by the
        archetypes; one-hot rows give ``archetypes_``. Any *affine* weights are accepted
        (entries may be negative or above 1): the latent combination ``a^T L`` then lies
        beyond the archetypes' simplex and the result is an extrapolation beyond the
        training data (as used for synthetic outliers).

        Parameters
        ----------
        A : array-like of shape (n_samples, n_archetypes)
            Weights whose rows sum to 1: ``|sum_j A_ij - 1| <= 1e-5 * max(1, sum_j
            |A_ij|)``. They are used as given (not renormalised).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the dtype of ``A``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``A`` does not have ``n_archetypes`` columns, is not finite, or has a row
            that does not sum to 1.
        """
        check_is_fitted(self)
        A = self._validate_coefficients(A)
        return self._batched(self.module_.decode, A, out_dtype=A.dtype)

    def reconstruction_error(self, X):
        """Squared distance between each row and its reconstruction from coefficients.

        ``||x - inverse_transform(transform(x))||^2`` in the units of ``X`` (summed over
        features), comparable with the residual sum of squares of linear archetypal
        analysis.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        error : ndarray of shape (n_samples,), float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        module = self.module_
        return self._batched(lambda x: ((x - module.reconstruct(x)) ** 2).sum(-1), X)

    def score_samples(self, X):
        """Log-density of each row under the flow, in nats, in the units of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        return self._batched(self.module_.log_prob, X)

    def sample(self, n_samples=1, concentration=1.0, random_state=None, *,
               latent_noise=0.0, null_space_noise=0.0, return_coefficients=False):
        """Draw archetypal mixtures: Dirichlet weights decoded through the flow.

        ``a ~ Dirichlet(concentration)``, ``z = a^T L + e``, ``x = f^{-1}(z)``, where the
        optional latent noise ``e`` is isotropic Gaussian (``latent_noise``) plus
        Gaussian noise restricted to the latent directions orthogonal to the
        archetypes' affine span (``null_space_noise``): those directions carry the
        variation the archetypes do not describe, and the flow's latent is standard
        normal, so ``null_space_noise=1`` restores variation of about the training
        data's size without moving the mixture (Keller et al. 2021 sample the weights
        only).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        concentration : float or array-like of shape (n_archetypes,), default=1.0
            Dirichlet parameter ``alpha > 0``: 1 is uniform on the simplex; ``< 1`` puts
            the mass near the archetypes and edges (extreme samples; Keller et al. use
            0.7); ``> 1`` near the centre. ``E[a] = alpha / sum(alpha)``.
        random_state : int, RandomState instance or None, default=None
            Seeds the weights and the noise (the global numpy state when None, as
            ``KernelDensity.sample``). Torch's global random state is not used.
        latent_noise : float, default=0.0
            Standard deviation of isotropic Gaussian noise added in the latent.
        null_space_noise : float, default=0.0
            Standard deviation of Gaussian noise in the latent directions orthogonal to
            the archetypes' span (there are ``n_features - n_archetypes + 1`` of them, none
            when ``n_features < n_archetypes``).
        return_coefficients : bool, default=False
            Also return the weights ``a``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples in the units of the training data, in the compute dtype.
        A : ndarray of shape (n_samples, n_archetypes), float64
            Only if ``return_coefficients``: the Dirichlet weights.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            For a non-positive ``n_samples`` or ``concentration``, or negative noise.
        """
        n_samples, rng = self._check_sample_request(n_samples, random_state)
        for name, value in (("latent_noise", latent_noise),
                            ("null_space_noise", null_space_noise)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
        k = self.n_archetypes
        A = dirichlet_mixtures(n_samples, np.eye(k), concentration, random_state=rng)
        L = self.latent_archetypes_
        Z = A @ L
        if latent_noise > 0:
            Z = Z + latent_noise * rng.standard_normal(Z.shape)
        if null_space_noise > 0:
            # Orthonormal basis of the archetypes' affine span (its directions), then the
            # projection of Gaussian noise onto the complement.
            _, s, vt = np.linalg.svd(L[1:] - L[0], full_matrices=True)
            rank = int((s > 1e-10 * max(1.0, s.max(initial=0.0))).sum())
            null = vt[rank:]
            Z = Z + null_space_noise * rng.standard_normal((len(Z), len(null))) @ null
        X = self._batched(lambda z: self.module_.flow.inverse(z)[0], Z,
                          out_dtype=self._compute_dtype)
        return (X, A) if return_coefficients else X
