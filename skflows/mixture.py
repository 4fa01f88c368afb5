"""FlowMixtureClustering: a variational mixture of normalizing flows (VMoNF) behind the
scikit-learn clustering and density API."""

from __future__ import annotations

import math
import numbers
from functools import partial

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from skorch.callbacks import Callback
from sklearn.base import ClusterMixin, DensityMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import BaseFlowEstimator, DensityScoreMixin
from ._training import Stage, _split_indices
from .density import n_trimmed, trimmed_mean
from .nn import (MLP, ActNorm, FixedAffine, Flow, LULinear, StandardNormal, Transform,
                 coupling_flow)

__all__ = ["FlowMixtureClustering"]

_METHODS = ("posterior", "variational")
#: Rows used to find the initial partition (a seeded subsample of larger data).
_INIT_ROWS = 2**14
#: Initialisations of the GaussianMixture behind ``init_params="gmm"``, and the
#: covariance regularisations (``reg_covar``, standardised units) among which the
#: validation rows choose; the first is scikit-learn's default.
_GMM_INIT = 10
_GMM_REG_COVARS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1)
#: Most C-steps of a trimmed start (refits on the best-fitting rows; they stop earlier
#: when the kept rows no longer change).
_START_C_STEPS = 10
#: Smallest per-feature standard deviation of a diagonal (k-means) start, standardised
#: units (the square root of GaussianMixture's default ``reg_covar``).
_STD_FLOOR = 1e-3


# ---------------------------------------------------------------------------- torch module
class VariationalMixtureOfFlows(nn.Module):
    """K normalizing flows evaluated in one batched pass, mixture weights and a softmax
    posterior network ``q(k | x) = softmax(e(x) / T)_k`` (Pires & Figueiredo 2020, Sec. 3).

    Parameters
    ----------
    flow : skflows.nn.Flow
        A flow built with ``n_components=K``: input ``(K, n, d)``, ``log_prob`` ``(K, n)``.
    posterior : torch.nn.Module
        Maps standardised data ``(n, d)`` to ``K`` logits ``e(x)``.
    n_components : int
        Number of components ``K``.
    shift, scale : Tensor of shape (d,)
        Standardisation applied to the posterior network's input.
    learn_weights : bool
        Learn the mixture weights (softmax of ``K`` free logits) or keep them uniform.

    Notes
    -----
    Buffers ``temperature`` (the current ``T``) and ``n_steps`` (training mini-batches
    seen, which drives the annealing schedule) travel with the state dict, so early
    stopping's best-weights restore and warm starts keep them consistent.
    """

    def __init__(self, flow: Flow, posterior: nn.Module, n_components: int,
                 shift: torch.Tensor, scale: torch.Tensor, learn_weights: bool = False):
        super().__init__()
        self.flow = flow
        self.posterior = posterior
        self.n_components = int(n_components)
        logits = torch.zeros(self.n_components)
        if learn_weights:
            self.weight_logits = nn.Parameter(logits)
        else:
            self.register_buffer("weight_logits", logits)
        self.register_buffer("shift", torch.as_tensor(shift))
        self.register_buffer("scale", torch.as_tensor(scale))
        self.register_buffer("temperature", torch.tensor(1.0))
        self.register_buffer("n_steps", torch.tensor(0, dtype=torch.long))

    def log_weights(self) -> torch.Tensor:
        """``log pi_k``, shape ``(K,)``."""
        return torch.log_softmax(self.weight_logits, dim=-1)

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p_k(x)`` for every row and component, shape ``(n, K)``, one batched pass."""
        return self.flow.log_prob(x.expand(self.n_components, *x.shape)).transpose(0, 1)

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """``log pi_k + log p_k(x)``, shape ``(n, K)``."""
        return self.component_log_prob(x) + self.log_weights()

    def log_q(self, x: torch.Tensor) -> torch.Tensor:
        """``log q(k | x)`` at the current temperature, shape ``(n, K)``."""
        logits = self.posterior((x - self.shift) / self.scale)
        return torch.log_softmax(logits / self.temperature, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_joint(x)


def negative_elbo(module: VariationalMixtureOfFlows, x: torch.Tensor,
                  label: torch.Tensor, trim_fraction: float = 0.0) -> torch.Tensor:
    """Training loss: minus the mean per-row objective of a batch (nats per row).

    ``label`` holds -1 for unlabeled rows, ``k`` for a row known to come from
    component ``k``. Unlabeled rows contribute the evidence lower bound (Pires &
    Figueiredo 2020, Sec. 3; the thesis's VMoNF chapter), with the expectation over
    ``k`` computed exactly::

        ELBO(x) = sum_k q(k|x) [log pi_k + log p_k(x) - log q(k|x)].

    Labeled rows contribute ``log pi_y + log p_y(x) + log q(y|x)``: the complete-data
    log-likelihood of their own component plus minus the cross-entropy of ``q`` to the
    one-hot label (the semi-supervised experiment of the paper, Sec. 4, and of the
    thesis's results chapter, with the sign of the cross-entropy that *minimises* it;
    the reference code maximises it).

    The ELBO depends on the temperature of ``q``, which is annealed during training, so
    two epochs' values are not comparable: early stopping watches
    :func:`mixture_nll` instead.

    With ``trim_fraction > 0`` the unlabeled rows of lowest current per-row objective
    are left out of the mean (:func:`skflows.density.trimmed_mean`; labeled rows are
    never left out): the trimmed likelihood (Neykov et al. 2007, Sec. 2).
    """
    log_joint = module.log_joint(x)
    log_q = module.log_q(x)
    elbo = (log_q.exp() * (log_joint - log_q)).sum(dim=-1)
    labeled = label >= 0
    if bool(labeled.any()):
        index = label.clamp_min(0).long().unsqueeze(-1)
        supervised = (log_joint.gather(-1, index) + log_q.gather(-1, index)).squeeze(-1)
        elbo = torch.where(labeled, supervised, elbo)
    return -trimmed_mean(elbo, trim_fraction, labeled)


def mixture_nll(module: VariationalMixtureOfFlows, x: torch.Tensor,
                label: torch.Tensor | None = None,
                trim_fraction: float = 0.0) -> torch.Tensor:
    """Monitored metric: the exact negative log-likelihood of the mixture,
    ``-mean log sum_k pi_k p_k(x)`` (nats per row, log-sum-exp over components).

    It depends on neither the temperature of ``q`` nor the labels, so early stopping
    and the best-weights restore compare epochs like with like. With
    ``trim_fraction > 0`` it is the trimmed mean of the same per-row values (the
    training loss's trimming, labeled rows never left out): a fixed rule on fixed rows,
    so epochs are still compared like with like.
    """
    log_evidence = torch.logsumexp(module.log_joint(x), dim=-1)
    if trim_fraction <= 0:
        return -log_evidence.mean()
    return -trimmed_mean(log_evidence, trim_fraction,
                         None if label is None else label >= 0)


def negative_marginal_likelihood(module: VariationalMixtureOfFlows, x: torch.Tensor,
                                 label: torch.Tensor,
                                 trim_fraction: float = 0.0) -> torch.Tensor:
    """Training loss of ``posterior="exact"``: minus the mean log-likelihood of a batch
    (nats per row), with the exact posterior in place of ``q``.

    Unlabeled rows contribute the marginal log-likelihood ``log sum_k pi_k p_k(x)``,
    whose gradient is ``sum_k p(k|x) grad log(pi_k p_k(x))``: every component is trained
    on its exact responsibilities (the gradient of EM's expected complete-data
    log-likelihood at the current parameters), so no amortised posterior can lag the
    components. Labeled rows contribute ``log pi_y + log p_y(x)``.

    The posterior network is not part of this objective; it is trained alongside, by
    cross-entropy to the exact posterior (detached) or to the label, a term that enters
    the loss with the value 0 (``ce - ce.detach()``): its gradient reaches only ``q``,
    and the loss's value stays the negative log-likelihood, so that ``train_loss`` and
    ``valid_loss`` in ``history_`` compare like with like.

    With ``trim_fraction > 0`` the unlabeled rows of lowest current log-likelihood are
    left out of the mean (:func:`skflows.density.trimmed_mean`; labeled rows are never
    left out): the trimmed likelihood estimator of Neykov et al. (2007, Sec. 2), one
    C-step per mini-batch. ``q``'s cross-entropy still covers every row (it carries no
    value and no gradient to the components).
    """
    log_joint = module.log_joint(x)
    log_evidence = torch.logsumexp(log_joint, dim=-1)
    target = torch.softmax(log_joint.detach(), dim=-1)
    objective = log_evidence
    labeled = label >= 0
    if bool(labeled.any()):
        index = label.clamp_min(0).long().unsqueeze(-1)
        objective = torch.where(labeled, log_joint.gather(-1, index).squeeze(-1),
                                log_evidence)
        one_hot = torch.zeros_like(target).scatter_(-1, index, 1.0)
        target = torch.where(labeled.unsqueeze(-1), one_hot, target)
    cross_entropy = -(target * module.log_q(x)).sum(dim=-1).mean()
    return (-trimmed_mean(objective, trim_fraction, labeled)
            + (cross_entropy - cross_entropy.detach()))


class GaussianStart(Transform):
    """Per-component affine map ``z = A_k (x - mu_k)``, ``A_k`` lower-triangular with a
    positive diagonal: with a standard normal base, component ``k`` is then the
    full-covariance Gaussian ``N(mu_k, (A_k^T A_k)^{-1})``, the start of a flow that
    begins as a Gaussian-mixture component (``A_k`` is the transposed Cholesky factor of
    its precision, as scikit-learn's ``precisions_cholesky_``).

    Parameters
    ----------
    loc : Tensor of shape (K, d)
        Component means ``mu_k``.
    precision_cholesky : Tensor of shape (K, d, d)
        Upper-triangular ``U_k`` with ``U_k U_k^T`` the precision (scikit-learn's
        convention); ``A_k = U_k^T``.

    Notes
    -----
    Only the strictly lower triangle and the log-diagonal are parameters (``d (d + 1) / 2``
    per component, as the covariance of a Gaussian), so parameter counts for BIC are
    exact.
    """

    def __init__(self, loc: torch.Tensor, precision_cholesky: torch.Tensor):
        super().__init__()
        loc = torch.as_tensor(loc)
        lower = torch.as_tensor(precision_cholesky).transpose(-1, -2)
        K, d = loc.shape
        rows, cols = torch.tril_indices(d, d, -1)
        self.register_buffer("_flat_index", rows * d + cols)
        self.loc = nn.Parameter(loc.unsqueeze(1).clone())
        diagonal = torch.diagonal(lower, dim1=-2, dim2=-1)
        self.log_diag = nn.Parameter(torch.log(diagonal).clone())
        self.off_diag = nn.Parameter(lower.reshape(K, d * d)[:, rows * d + cols].clone())

    def matrix(self) -> torch.Tensor:
        """``A_k``, shape ``(K, d, d)``."""
        K, d = self.log_diag.shape
        flat = self.off_diag.new_zeros(K, d * d)
        flat[:, self._flat_index] = self.off_diag
        return flat.view(K, d, d) + torch.diag_embed(self.log_diag.exp())

    def _log_det(self, x):
        return self.log_diag.sum(-1).unsqueeze(-1).expand(*x.shape[:-1])

    def forward(self, x):
        """``z = (x - mu_k) A_k^T`` for inputs of shape ``(K, n, d)``; log-determinant
        ``sum_j log A_k,jj``, shape ``(K, n)``."""
        return torch.matmul(x - self.loc, self.matrix().transpose(-1, -2)), self._log_det(x)

    def inverse(self, z):
        """``x = mu_k + A_k^{-1} z`` (a triangular solve); log-determinant
        ``-sum_j log A_k,jj``."""
        solved = torch.linalg.solve_triangular(self.matrix(), z.transpose(-1, -2),
                                               upper=False).transpose(-1, -2)
        return solved + self.loc, -self._log_det(z)


class TemperatureAnnealing(Callback):
    """Anneal the posterior temperature per training mini-batch:
    ``T(t) = max(min_temperature, exp(-decay * t))`` with ``t`` the number of training
    mini-batches seen (the schedule of the authors' experiment scripts; rationale in the
    thesis's results chapter), floored so that the logits never get multiplied by
    astronomically large factors.

    Parameters
    ----------
    decay : float
        Decay rate per mini-batch.
    minimum : float
        Floor of the temperature.
    """

    def __init__(self, decay: float, minimum: float):
        self.decay = decay
        self.minimum = minimum

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        module = net.module_
        step = int(module.n_steps)
        module.temperature.fill_(max(self.minimum, math.exp(-self.decay * step)))
        module.n_steps.add_(1)


class GaussianPosteriorNetwork(nn.Module):
    """Posterior logits ``e(x) = MLP(x) + g(x)`` with a diagonal-Gaussian discriminant
    ``g_k(x) = -1/2 sum_j ((x_j - mu_kj) / sigma_kj)^2 - sum_j log sigma_kj``.

    With ``mu``, ``sigma`` set to the components' initial locations and scales and the
    MLP's last layer at zero, ``softmax(e(x))`` starts as the exact posterior of the
    initial mixture, so the flows are not first trained on a uniform ``q``.

    With ``precision_cholesky`` the discriminant is that of full-covariance Gaussians,
    ``g_k(x) = -1/2 |A_k (x - mu_k)|^2 + sum_j log A_k,jj`` (see :class:`GaussianStart`).

    Parameters
    ----------
    mlp : torch.nn.Module
        Maps ``(n, d)`` to ``(n, K)`` (zero at initialisation).
    loc, scale : Tensor of shape (K, d)
        Initial component locations and scales (standardised units).
    precision_cholesky : Tensor of shape (K, d, d), optional
        Upper-triangular Cholesky factors of the initial components' precisions
        (scikit-learn's ``precisions_cholesky_``); ``scale`` is then unused.
    """

    def __init__(self, mlp: nn.Module, loc: torch.Tensor, scale: torch.Tensor,
                 precision_cholesky: torch.Tensor | None = None):
        super().__init__()
        self.mlp = mlp
        if precision_cholesky is not None:
            self.gaussian = GaussianStart(loc, precision_cholesky)
            return
        self.loc = nn.Parameter(torch.as_tensor(loc))
        self.log_scale = nn.Parameter(torch.log(torch.as_tensor(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gaussian = self._modules.get("gaussian")
        if gaussian is not None:
            z, log_det = gaussian(x.expand(gaussian.loc.shape[0], *x.shape))
            return self.mlp(x) + (log_det - 0.5 * (z * z).sum(-1)).transpose(0, 1)
        # sum_j ((x_j - mu_kj) / sigma_kj)^2 expanded into two (n, d) x (d, K) products,
        # so that no (n, K, d) tensor is formed (x is standardised: no cancellation).
        precision = torch.exp(-2 * self.log_scale)  # (K, d)
        weighted_loc = self.loc * precision
        squared = (x * x) @ precision.T - 2 * x @ weighted_loc.T \
            + (self.loc * weighted_loc).sum(-1)
        return self.mlp(x) - 0.5 * squared - self.log_scale.sum(-1)


# ---------------------------------------------------------------------------- helpers
def _cluster_statistics(Xs: np.ndarray, assignment: np.ndarray, n_components: int):
    """Per-cluster mean and standard deviation (standardised units), shape (K, d) each.
    Empty or single-row clusters get unit scale; degenerate dimensions get a floor."""
    d = Xs.shape[1]
    counts = np.bincount(assignment, minlength=n_components).astype(np.float64)
    sums = np.zeros((n_components, d))
    squares = np.zeros((n_components, d))
    np.add.at(sums, assignment, Xs)
    np.add.at(squares, assignment, Xs * Xs)
    safe = np.maximum(counts, 1.0)[:, None]
    loc = sums / safe
    std = np.sqrt(np.maximum(squares / safe - loc * loc, 0.0))
    std = np.where(counts[:, None] > 1, np.maximum(std, _STD_FLOOR), 1.0)
    return loc, std


def _regularised_precisions(covariances: np.ndarray, reg: float) -> np.ndarray:
    """Precision matrices ``(C_k + reg I)^{-1}`` of a stack ``(K, d, d)`` of sample
    covariances, exactly symmetric and positive-definite: from the symmetric eigen-
    decomposition, with eigenvalues floored at ``reg`` (a plain inverse of a nearly
    singular matrix is neither, and scikit-learn's GaussianMixture refuses it)."""
    values, vectors = np.linalg.eigh(covariances)
    inverse = 1.0 / np.maximum(values + reg, reg)
    precisions = (vectors * inverse[:, None, :]) @ np.swapaxes(vectors, 1, 2)
    return 0.5 * (precisions + np.swapaxes(precisions, 1, 2))


def _clear_gain(gain: np.ndarray, tol: float = 0.0) -> bool:
    """Whether paired per-row gains (one model's log-likelihood minus another's on the
    same rows) average more than ``tol`` and more than one standard error of their
    mean: the one-standard-error rule (Breiman et al. 1984, CART, Sec. 3.4.3; Hastie
    et al. 2009, ESL, Sec. 7.10), which keeps the simpler model unless the other is
    better by more than the noise of the comparison. Non-finite gains are never clear."""
    gain = np.asarray(gain, dtype=np.float64)
    if not np.isfinite(gain).all():
        return False
    standard_error = gain.std(ddof=1) / np.sqrt(gain.size) if gain.size > 1 else 0.0
    return bool(gain.mean() > max(tol, standard_error))


def _n_at_floor(variances: np.ndarray, floor: float) -> np.ndarray:
    """Per component, the number of directions in which it is singular up to its
    regularisation: ``variances`` ``(K, d)`` (covariance eigenvalues, or per-feature
    variances of a diagonal start) within a relative 1e-3 of their ``floor`` (the
    rows share a value there, or are fewer than the features). Shape ``(K,)``."""
    return (variances <= floor * (1 + 1e-3)).sum(axis=-1)


def _kept_rows(scores: np.ndarray, trim_fraction: float, protected=None) -> np.ndarray:
    """Sorted positions of the rows a trimmed fit keeps: all but the ``n_trimmed`` rows
    of lowest ``scores`` among the unprotected ones (ties by row order)."""
    protected = np.zeros(len(scores), bool) if protected is None else protected
    k = n_trimmed(int((~protected).sum()), trim_fraction)
    keys = np.where(protected, np.inf, np.nan_to_num(scores, nan=-np.inf))
    return np.sort(np.argsort(keys, kind="stable")[k:])


def _n_free_parameters(module: nn.Module) -> int:
    """Free parameters of a module; an LU layer's masked triangle entries do not count."""
    total = 0
    for sub in module.modules():
        own = sum(p.numel() for p in sub.parameters(recurse=False))
        if isinstance(sub, LULinear):
            d = sub.lower.shape[-1]
            n_maps = sub.lower.numel() // (d * d)
            own -= n_maps * d * (d + 1)  # diagonals and the unused triangles of L and U
        total += own
    return total


# ---------------------------------------------------------------------------- estimator
class FlowMixtureClustering(DensityScoreMixin, ClusterMixin, DensityMixin, BaseFlowEstimator):
    """Clustering and density estimation with a variational mixture of normalizing flows.

    The model is a mixture ``p(x) = sum_k pi_k p_k(x)`` of ``n_components`` coupling
    flows (same architecture, separate parameters, evaluated in one batched pass), with a
    softmax network ``q(k | x) = softmax(e(x) / T)_k`` as variational posterior over the
    component (VMoNF; Pires & Figueiredo 2020, Sec. 3). Training maximises the evidence
    lower bound, with the expectation over ``k`` computed exactly,
    ``ELBO(x) = sum_k q(k|x) [log pi_k + log p_k(x) - log q(k|x)]`` (Sec. 3), while the
    temperature ``T`` decreases per mini-batch, ``T(t) = max(min_temperature,
    exp(-temperature_decay * t))``, so that ``q`` sharpens from soft to nearly one-hot
    and no component is starved early (the authors' schedule; thesis, results chapter).

    Labels for some rows make it semi-supervised (paper Sec. 4; thesis, results chapter):
    a labeled row ``(x, k)`` trains only component ``k`` (``log pi_k + log p_k(x)``) and
    trains ``q`` by cross-entropy to ``k``; the model is first pre-trained on the labeled
    rows alone for up to ``pretrain_epochs`` epochs.

    Unlike the reference code, ``predict_proba`` and ``score_samples`` use the *exact*
    posterior ``pi_k p_k(x) / sum_j pi_j p_j(x)`` and mixture density; the variational
    ``q`` is available with ``method="variational"``. With ``posterior="exact"`` (ours)
    the components are trained on that exact posterior instead of ``q``: the objective
    is the marginal log-likelihood ``log sum_k pi_k p_k(x)``, whose gradient weights
    each component by its exact responsibility (EM's), and ``q`` is fitted to the exact
    posterior alongside without acting on the components.

    Initialisation (ours, not in the paper): each component starts as a Gaussian, a
    diagonal one on a k-means cluster (``init_params="kmeans"``) or a full-covariance
    component of a GaussianMixture (``"gmm"``), and the coupling layers start at the
    identity; the posterior network is ``e(x) = MLP(x) + g(x)`` with ``g`` the
    log-density of those Gaussians, so that ``q`` starts as the exact posterior of the
    initial mixture instead of uniform. With a uniform start the flows are first
    trained on every row with equal weights and drift away from their initial clusters.
    The start is fitted without the validation rows (whenever the validation split is
    known before training: always, except with a pre-training stage), and it takes part
    in the best-weights restore: if the best trained epoch does not beat its validation
    NLL by more than ``tol`` and one standard error of the per-row gain, the starting
    mixture is restored (``start_restored_``) and refitted on every
    training row, validation rows included, with the regularisation they chose (as
    ``GridSearchCV`` refits its best candidate on all the data).

    Parameters
    ----------
    n_components : int, default=2
        Number of mixture components (clusters) ``K``.
    flow : {"realnvp", "nsf"}, default="realnvp"
        Coupling layer of each component flow: affine couplings (RealNVP, Dinh et al.
        2017, as in the paper) or rational-quadratic splines (Durkan et al. 2019).
    n_layers : int, default=4
        Number of coupling layers per component.
    hidden_dims : int or tuple of int, default=(16, 16)
        Hidden widths of each coupling layer's conditioner MLP. The capacity of the
        components is a modelling choice, not only a density-quality knob: components
        that are too flexible can each model pieces of several clusters, so small
        components cluster better (on the 5-wing pinwheel, RealNVP with 8 units finds
        the wings, spline flows with 32 units do not), while shapes such as rings need
        more capacity (see ``benchmarks/bench_mixture.py``).
    n_bins : int, default=8
        Number of spline bins (``flow="nsf"`` only).
    tail_bound : float, default=5.0
        The splines act on ``[-tail_bound, tail_bound]`` in standardised units and are the
        identity outside.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before each coupling (see :class:`~skflows.FlowDensity`).
    posterior_hidden_dims : int or tuple of int, default=(16, 16)
        Hidden widths of the posterior network ``e(x)`` (an empty tuple gives a linear
        softmax).
    temperature_decay : float, default=1e-3
        Decay rate of the temperature per training mini-batch (the authors' 1e-3). The
        schedule is per mini-batch, so its speed in epochs depends on
        ``n_samples / batch_size``: ``T`` reaches 0.1 after about 2300 mini-batches.
        0 keeps ``T = 1``.
    min_temperature : float in (0, 1], default=1e-2
        Floor of the temperature.
    weight_prior : {"uniform", "learned"}, default="uniform"
        Keep the mixture weights ``pi_k`` fixed at ``1 / K`` (the paper's experiments) or
        learn them by maximising the same ELBO (whose optimum for fixed ``q`` is
        ``pi_k = mean_i q(k | x_i)``).
    init_params : {"kmeans", "gmm", "random_from_data"}, default="kmeans"
        Initial Gaussian of each component: the mean and per-feature scale of a k-means
        cluster of the (standardised) training data, the mean and full covariance of a
        component of a ``GaussianMixture`` (full covariances, 10 initialisations, its
        ``reg_covar`` chosen among 1e-6 to 0.1 in standardised units by the
        log-likelihood of the validation rows; recommended on real data, see the user
        guide), or a random training row with unit scale. The coupling layers start at
        the identity. Components tied to labels start as diagonal Gaussians at their
        labeled rows' statistics. Learned weights start at the initial partition's
        proportions.
    semi_supervised : "auto" or bool, default="auto"
        How ``y`` passed to :meth:`fit` is used. ``True``: as labels, -1 for unlabeled
        rows and ``k`` for a row known to belong to component ``k`` (an all-labeled ``y``
        gives a supervised fit). ``False``: ignored. ``"auto"``: as labels only when it
        holds at least one -1 (scikit-learn's semi-supervised convention); an ``y``
        without -1 is ignored, as every scikit-learn clusterer ignores ``y``, so that
        ``cross_validate(est, X, y_true, scoring="adjusted_rand_score")`` evaluates the
        clustering instead of training on the targets.
    pretrain_epochs : int, default=100
        Epochs of training on the labeled rows alone before the main training (the
        thesis's labeled pre-training; 0 disables it; ignored without labels). Early
        stopping on the training loss applies.
    standardize : bool, default=True
        Standardise each feature with the training mean and standard deviation inside
        the flows and the posterior network; log-densities always refer to the units of
        ``X``.
    posterior : {"amortized", "exact"}, default="amortized"
        What weights the components in training: the variational ``q`` (the ELBO, as
        in the paper) or the exact posterior ``p(k | x)`` (the marginal
        log-likelihood; ``q`` is then trained alongside by cross-entropy to the exact
        posterior, so that ``method="variational"`` stays available). The exact
        posterior costs one softmax over the ``K`` log-densities that the ELBO computes
        anyway. In the benchmarks both gave the same partitions and likelihoods within
        the seed-to-seed spread.
    trim_fraction : float in [0, 0.5), default=0.0
        Contamination-robust fitting by trimmed likelihood (Neykov et al., 2007, Sec.
        2), as ``FlowDensity(trim_fraction=...)``: at every training step the unlabeled
        rows of the mini-batch whose current per-row objective (log-likelihood, or ELBO
        with ``posterior="amortized"``) lies in the lowest ``trim_fraction`` are left
        out of the loss, ``floor(trim_fraction * unlabeled rows)`` of them; the start is
        trimmed too (see Notes). Early stopping watches the same trimmed negative
        log-likelihood of the mixture on the validation rows. Labeled rows are never
        trimmed. ``score_samples`` is always the plain mixture density. 0 (the default)
        is the plain fit, exactly.
    max_epochs : int, default=100
        Maximum number of passes over the training data.
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay (L2 penalty).
    gradient_clip : float or None, default=5.0
        Clip the gradient's global norm to this value; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out for early stopping (monitoring the
        exact negative log-likelihood of the mixture on them); the initial partition is
        fitted without them. With 0 the same metric on the training rows is monitored.
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of at least ``tol``; the
        weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the monitored loss (nats per sample).
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means, initialisation, the validation split and shuffling. With an int
        and ``device="cpu"`` two fits are identical. The global torch and numpy random
        states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar with the loss.
    warm_start : bool, default=False
        Continue training the fitted model (weights, temperature schedule and optimizer
        state) on the next call to ``fit``.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), dtype int64
        Cluster of each training row (``predict(X)``).
    weights_ : ndarray of shape (n_components,)
        Mixture weights ``pi_k``.
    temperature_ : float
        Temperature ``T`` at the end of training (used by ``method="variational"``).
    start_restored_ : bool
        Whether the initial mixture (the untrained start) was restored because no
        trained epoch beat its validation NLL by more than ``tol`` and one standard
        error of the per-row gain; the start is then refitted
        on all training rows (validation rows included). Always False without
        validation rows, with a pre-training stage, or after a warm start.
    init_reg_covar_ : float or None
        ``reg_covar`` of the starting GaussianMixture (``init_params="gmm"``), else
        None.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Standardisation applied inside the model.
    history_ : list of dict
        Per epoch: ``epoch``, ``stage`` (``"pretrain"`` for the semi-supervised
        pre-training on the labeled rows, else ``"train"``), ``phase``, ``train_loss``
        (minus the ELBO at the current temperature, or with ``posterior="exact"`` minus
        the log-likelihood, nats per sample), ``valid_loss``
        (the exact negative log-likelihood of the mixture on the validation rows,
        which early stopping watches), ``monitored``, ``duration`` (seconds).
    n_iter_ : int
        Number of epochs run by the last ``fit`` (pre-training included).
    net_ : skorch.NeuralNet
        The private training net.
    module_ : VariationalMixtureOfFlows
        The trained model (in the units of ``X``).

    See Also
    --------
    sklearn.mixture.GaussianMixture : Mixture of Gaussians with the same surface.
    skflows.FlowDensity : A single normalizing flow.

    Notes
    -----
    Cluster indices are arbitrary (label switching) unless labels tie them; compare
    clusterings with the adjusted Rand index or after Hungarian matching. Unsupervised,
    the model need not find "semantic" clusters: on two concentric circles it splits the
    plane into two halves (thesis, results chapter), which a few labels fix.

    The compute dtype follows ``X`` at fit time. ``score`` is the mean log-likelihood per
    sample, as ``GaussianMixture.score``. If the training loss becomes non-finite
    or grows a thousandfold over its first value, fitting stops with
    :class:`FloatingPointError` and the estimator is not fitted. An interrupted ``fit``
    (``KeyboardInterrupt``) keeps the best completed epoch's weights, with a warning.

    **Trimmed fit.** With ``trim_fraction = t > 0`` the mixture is fitted as a trimmed
    likelihood estimator [4]_ throughout: (1) the start is refitted by C-steps, as
    FAST-MCD [5]_ does for one Gaussian and trimmed clustering [6]_ for several: the
    ``floor(t n)`` unlabeled start rows of lowest log-density under the starting
    ``GaussianMixture`` (``init_params="gmm"``), or farthest from their k-means centre
    (``"kmeans"``), are left out and the start refitted on the others, from its current
    parameters, until the kept rows no longer change (at most 10 steps; a random start
    is not refitted); (2) every training step leaves out the lowest ``t`` of the
    mini-batch's unlabeled rows (:func:`negative_marginal_likelihood`); (3) early
    stopping and the restore of the start compare the trimmed validation likelihood
    (the restore leaves out the rows that either model puts in its lowest ``t``). A
    cluster of anomalies in the training rows then stays out of every component
    instead of becoming one. Trimmed likelihood has spurious maximisers where a
    component collapses onto rows that share a value [6]_ (TCLUST bounds the
    covariance eigenvalues against them): the C-steps stop before a refit that makes a
    component singular in more directions than the untrimmed start (covariance
    eigenvalues within a relative 1e-3 of ``reg_covar``; for the k-means start,
    per-feature variances at their floor). Without that guard, on ADBench's campaign (52
    binary features of 62, ``n_components=8``, 10 000 training rows, seed 0) the first
    C-step gave 17 % of held-out rows a log-density below -1000 (0.2 % before it) and
    the training loss diverged in the first epoch; with it, that fit completes.

    References
    ----------
    .. [1] G. G. P. F. Pires and M. A. T. Figueiredo. Variational Mixture of Normalizing
       Flows. ESANN 2020; arXiv:2009.00585.
    .. [2] G. G. P. F. Pires. Variational Mixture of Normalizing Flows. MSc thesis,
       Instituto Superior Tecnico, Lisbon, 2020 (chapters "Variational Mixture of
       Normalizing Flows" and "Results").
    .. [3] L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation using Real NVP.
       ICLR 2017.
    .. [4] N. Neykov, P. Filzmoser, R. Dimova, P. Neytchev. Robust fitting of mixtures
       using the trimmed likelihood estimator. Computational Statistics & Data
       Analysis 52(1), 2007, Sec. 2 (the trimmed likelihood, ``trim_fraction``).
    .. [5] P. J. Rousseeuw and K. Van Driessen. A fast algorithm for the minimum
       covariance determinant estimator. Technometrics 41(3), 1999, Theorem 1 (the
       C-step).
    .. [6] L. A. Garcia-Escudero, A. Gordaliza, C. Matran, A. Mayo-Iscar. A general
       trimming approach to robust cluster analysis. Annals of Statistics 36(3), 2008
       (TCLUST: trimmed mixtures and clusterings refitted by concentration steps).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skflows import FlowMixtureClustering
    >>> X, _ = make_blobs(300, centers=3, random_state=0)
    >>> est = FlowMixtureClustering(n_components=3, max_epochs=5, hidden_dims=(8,),
    ...                             random_state=0).fit(X)
    >>> est.predict_proba(X[:2]).shape
    (2, 3)
    >>> X_new, y_new = est.sample(4, random_state=0)
    >>> X_new.shape, y_new.shape
    ((4, 2), (4,))
    """

    _parameter_constraints: dict = {
        **BaseFlowEstimator._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "flow": [StrOptions({"nsf", "realnvp"})],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dims": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "permutation": [StrOptions({"random", "reverse", "lu"})],
        "posterior_hidden_dims": ["array-like",
                                  Interval(numbers.Integral, 1, None, closed="left")],
        "temperature_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "min_temperature": [Interval(numbers.Real, 0, 1, closed="right")],
        "weight_prior": [StrOptions({"uniform", "learned"})],
        "init_params": [StrOptions({"kmeans", "gmm", "random_from_data"})],
        "posterior": [StrOptions({"amortized", "exact"})],
        "trim_fraction": [Interval(numbers.Real, 0, 0.5, closed="left")],
        "semi_supervised": [StrOptions({"auto"}), "boolean"],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        n_components=2,
        flow="realnvp",
        n_layers=4,
        hidden_dims=(16, 16),
        n_bins=8,
        tail_bound=5.0,
        permutation="lu",
        posterior_hidden_dims=(16, 16),
        temperature_decay=1e-3,
        min_temperature=1e-2,
        weight_prior="uniform",
        init_params="kmeans",
        semi_supervised="auto",
        pretrain_epochs=100,
        standardize=True,
        posterior="amortized",
        trim_fraction=0.0,
        *,
        max_epochs=100,
        batch_size=256,
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
        self.n_components = n_components
        self.flow = flow
        self.n_layers = n_layers
        self.hidden_dims = hidden_dims
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.permutation = permutation
        self.posterior_hidden_dims = posterior_hidden_dims
        self.temperature_decay = temperature_decay
        self.min_temperature = min_temperature
        self.weight_prior = weight_prior
        self.init_params = init_params
        self.semi_supervised = semi_supervised
        self.pretrain_epochs = pretrain_epochs
        self.standardize = standardize
        self.posterior = posterior
        self.trim_fraction = trim_fraction
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

    # ------------------------------------------------------------------ fitting
    def _labels(self, y, n_samples: int) -> np.ndarray:
        """Labels used for training: -1 (unlabeled) or a component index, shape (n,)."""
        unlabeled = np.full(n_samples, -1, dtype=np.int64)
        if y is None or self.semi_supervised is False:
            return unlabeled
        y = np.asarray(y)
        has_unlabeled = y.dtype.kind in "iuf" and bool((y == -1).any())
        if self.semi_supervised == "auto" and not has_unlabeled:
            return unlabeled
        numeric = y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.isfinite(y).all()
                                            and np.array_equal(y, np.round(y)))
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"y must be a 1-D array with one label per row of X "
                             f"({n_samples}), got shape {y.shape}.")
        if not numeric:
            raise ValueError("y must hold integer labels: -1 for unlabeled rows, k for "
                             f"component k; got dtype {y.dtype}.")
        y = y.astype(np.int64, copy=False)
        bad = np.unique(y[(y < -1) | (y >= self.n_components)])
        if bad.size:
            raise ValueError(f"y must hold -1 (unlabeled) or a component index in "
                             f"0..{self.n_components - 1}; got {bad.tolist()}.")
        return y

    def _start_mixture(self, Xs, Xv, seed, reg_covar=None):
        """The full-covariance GaussianMixture of ``init_params="gmm"``: for each
        ``reg_covar`` of ``_GMM_REG_COVARS`` the best of ``_GMM_INIT`` initialisations
        (by the likelihood of its training rows, as scikit-learn's ``n_init``), and of
        those the one with the highest log-likelihood of the validation rows ``Xv``
        (``init_reg_covar_``) if it beats scikit-learn's default ``reg_covar`` there by
        more than one standard error of the per-row gain, else that default; without
        validation rows, scikit-learn's ``reg_covar``.

        Each ``reg_covar`` gets its own initialisations: a regularisation picked by
        refitting one unregularised solution inherits that solution's partition, and on
        small data (wine) the unregularised best-of-10 is sometimes a degenerate one.

        The mixture is fitted in standardised units, where GaussianMixture's k-means
        initialisation weighs every feature alike; when the standardisation is not the
        identity, one more candidate starts from k-means in the units of ``X`` (where
        high-variance directions, such as the first principal components, dominate),
        and the candidate with the higher training likelihood is kept, as ``n_init``
        does. On COIL-20's PCA scores the second one reached a higher likelihood.
        ``reg_covar`` given: that regularisation only (the refit of a restored start)."""
        K = self.n_components
        regs = _GMM_REG_COVARS if Xv is not None and len(Xv) else _GMM_REG_COVARS[:1]
        if reg_covar is not None:
            regs = (reg_covar,)
        raw_labels = None
        if not np.allclose(self.scale_, 1.0):
            raw = Xs * self.scale_ + self.mean_
            raw_labels = KMeans(K, n_init=_GMM_INIT, random_state=seed).fit(raw).labels_
        candidates = []
        for reg in regs:
            gm = GaussianMixture(K, covariance_type="full", n_init=_GMM_INIT,
                                 reg_covar=reg, random_state=seed).fit(Xs)
            if raw_labels is not None and np.bincount(raw_labels, minlength=K).min() > 0:
                weights = np.bincount(raw_labels, minlength=K) / len(Xs)
                means = np.stack([Xs[raw_labels == k].mean(0) for k in range(K)])
                covariances = np.stack([np.atleast_2d(np.cov(
                    Xs[raw_labels == k], rowvar=False, bias=True)) for k in range(K)])
                other = None
                try:
                    other = GaussianMixture(K, covariance_type="full", reg_covar=reg,
                                            weights_init=weights, means_init=means,
                                            precisions_init=_regularised_precisions(
                                                covariances, reg),
                                            random_state=seed).fit(Xs)
                except ValueError:
                    # Numerically singular clusters (more features than rows, constant
                    # columns): this extra candidate is skipped, the main one stands.
                    pass
                if other is not None and other.lower_bound_ > gm.lower_bound_:
                    gm = other
            candidates.append(gm)
        best = candidates[0]
        if len(candidates) > 1:
            # scikit-learn's reg_covar (the first) unless another one beats it on the
            # validation rows clearly (``_clear_gain``, the rule of the restore), since
            # a few dozen validation rows rank close regularisations at random
            # (penguins: 0.1 chosen on 27 rows cost 0.16 nats per held-out row).
            scores = [gm.score_samples(Xv) for gm in candidates]
            top = int(np.argmax([np.mean(v) for v in scores]))
            if not np.isfinite(scores[0]).all() or _clear_gain(scores[top] - scores[0]):
                best = candidates[top]
        self.init_reg_covar_ = best.reg_covar
        return best

    def _initial_partition(self, Xs, labels, seed, Xv=None, reg_covar=None):
        """Every component's start (standardised units): location and scale ``(K, d)``,
        the Cholesky factor of the precision ``(K, d, d)`` (None: diagonal start) and
        the initial mixture weights ``(K,)``. ``Xv``: held-out (validation) rows, which
        choose the covariance regularisation of ``init_params="gmm"``."""
        K = self.n_components
        chol = None
        trim = float(self.trim_fraction)
        protected = labels >= 0
        if self.init_params == "kmeans":
            km = KMeans(n_clusters=K, n_init=3, random_state=seed).fit(Xs)
            kept = np.arange(len(Xs))
            if trim > 0:
                collapsed = _n_at_floor(
                    _cluster_statistics(Xs, km.labels_, K)[1] ** 2, _STD_FLOOR ** 2)
            for _ in range(_START_C_STEPS if trim > 0 else 0):
                # C-step of trimmed k-means: refit on the rows nearest their centres.
                new = _kept_rows(-km.transform(Xs).min(axis=1), trim, protected)
                if np.array_equal(new, kept) or len(new) < K:
                    break
                refit = KMeans(n_clusters=K, init=km.cluster_centers_, n_init=1,
                               random_state=seed).fit(Xs[new])
                std = _cluster_statistics(Xs[new], refit.labels_, K)[1]
                if np.any(_n_at_floor(std ** 2, _STD_FLOOR ** 2) > collapsed):
                    break  # a spurious collapse (see the gmm start below)
                kept, km = new, refit
            # km was last fitted on Xs[kept] (all rows without trimming): its labels_
            # are those rows' clusters, as before trimming existed.
            loc, std = _cluster_statistics(Xs[kept], km.labels_, K)
            weights = np.bincount(km.labels_, minlength=K) / len(kept)
        elif self.init_params == "gmm":
            gm = self._start_mixture(Xs, Xv, seed, reg_covar)
            kept = np.arange(len(Xs))
            if trim > 0:
                collapsed = _n_at_floor(np.linalg.eigvalsh(gm.covariances_), gm.reg_covar)
            for _ in range(_START_C_STEPS if trim > 0 else 0):
                # C-step: refit from the current mixture on its best-fitting rows.
                new = _kept_rows(gm.score_samples(Xs), trim, protected)
                if np.array_equal(new, kept) or len(new) < K:
                    break
                try:
                    refit = GaussianMixture(K, covariance_type="full",
                                            reg_covar=gm.reg_covar,
                                            weights_init=gm.weights_, means_init=gm.means_,
                                            precisions_init=gm.precisions_,
                                            random_state=seed).fit(Xs[new])
                except ValueError:
                    break  # a numerically singular refit: keep the current start
                if np.any(_n_at_floor(np.linalg.eigvalsh(refit.covariances_),
                                      refit.reg_covar) > collapsed):
                    # A spurious maximiser of the trimmed likelihood: the refit makes a
                    # component singular in more directions than the untrimmed start
                    # (its rows share a value there, as on binary features). Keep the
                    # current start.
                    break
                kept, gm = new, refit
            loc, chol, weights = gm.means_, gm.precisions_cholesky_, gm.weights_
            std = np.sqrt(np.diagonal(gm.covariances_, axis1=1, axis2=2))
        else:
            rows = check_random_state(seed).choice(len(Xs), size=K, replace=False)
            loc, std = Xs[rows].copy(), np.ones((K, Xs.shape[1]))
            weights = np.full(K, 1.0 / K)
        classes = np.unique(labels[labels >= 0])
        if classes.size:
            # Tie labeled components to their own rows: match each labeled class to its
            # nearest initial cluster (Hungarian), give the unmatched clusters to the
            # unlabeled components, then start labeled components at their rows' stats.
            lab = labels >= 0
            lab_loc, lab_std = _cluster_statistics(Xs[lab], labels[lab], K)
            cost = ((lab_loc[classes, None, :] - loc[None, :, :]) ** 2).sum(-1)
            _, matched = linear_sum_assignment(cost)
            free = [j for j in range(K) if j not in set(matched)]
            order = np.empty(K, dtype=int)
            order[classes] = matched
            order[[k for k in range(K) if k not in set(classes)]] = free
            loc, std, weights = loc[order], std[order], weights[order]
            counts = np.bincount(labels[lab], minlength=K)
            loc[classes] = lab_loc[classes]
            several = classes[counts[classes] > 1]
            std[several] = lab_std[several]
            if chol is not None:
                # A few labeled rows cannot estimate a full covariance: a labeled
                # component starts as a diagonal Gaussian on its rows.
                chol = chol[order]
                chol[several] = np.stack([np.diag(1.0 / s) for s in std[several]])
        return loc, std, chol, weights

    def _seed(self) -> int:
        # The engine draws the first stage's validation split from this seed; kept so
        # that the initial partition can leave those rows out (see ``_start_rows``).
        self._fit_seed = super()._seed()
        return self._fit_seed

    def _start_rows(self, n_samples: int, first_stage: bool):
        """``(train, valid)`` positions of the engine's validation split of the main
        stage, or ``(None, None)`` when it is not known in advance (no validation rows,
        or a pre-training stage whose shuffling draws from the same stream first).

        The initial partition is fitted on the training positions only: fitted on the
        validation rows as well, it is an in-sample fit of them, so the validation
        loss of the start is optimistic and early stopping prefers the start over any
        later epoch (on small data it restored the first epoch every time).
        """
        if not first_stage or self.validation_fraction <= 0:
            return None, None
        return _split_indices(n_samples, self.validation_fraction,
                              np.random.RandomState(self._fit_seed))

    def _build_module(self, X, labels, seed_rng_draw, train_rows=None, valid_rows=None,
                      reg_covar=None):
        d = X.shape[1]
        K = self.n_components
        hidden = self._check_dims(self.hidden_dims, "hidden_dims")
        post_hidden = self._check_dims(self.posterior_hidden_dims, "posterior_hidden_dims",
                                       allow_empty=True)
        # The initial partition needs standardised rows: at most _INIT_ROWS of them
        # (every labeled row among them, up to that number), so that a large array or
        # memmap is never copied whole; the engine's validation rows, when known, are
        # left out of the fit and (up to _INIT_ROWS // 4 of them) only score it.
        candidates = np.arange(len(X)) if train_rows is None else np.asarray(train_rows)
        rng = check_random_state(seed_rng_draw)
        rows = candidates
        if len(candidates) > _INIT_ROWS:
            labeled = candidates[labels[candidates] >= 0][:_INIT_ROWS // 2]
            rows = np.union1d(rng.choice(candidates, _INIT_ROWS - len(labeled),
                                         replace=False), labeled)
        Xs = (np.asarray(X[rows], dtype=np.float64) - self.mean_) / self.scale_
        Xv = None
        if valid_rows is not None and len(valid_rows):
            held = np.asarray(valid_rows)
            if len(held) > _INIT_ROWS // 4:
                held = np.sort(rng.choice(held, _INIT_ROWS // 4, replace=False))
            Xv = (np.asarray(X[held], dtype=np.float64) - self.mean_) / self.scale_
        self.init_reg_covar_ = None
        loc, std, chol, weights = self._initial_partition(Xs, labels[rows], seed_rng_draw,
                                                          Xv, reg_covar)
        couplings = coupling_flow(d, transform=self.flow, n_layers=self.n_layers,
                                  hidden_dims=hidden, n_bins=self.n_bins,
                                  tail_bound=self.tail_bound, permutation=self.permutation,
                                  n_components=K)
        shift, scale = torch.from_numpy(self.mean_), torch.from_numpy(self.scale_)
        # Per-component affine start: component k begins as N(loc_k, diag(std_k^2)), or
        # as the full-covariance Gaussian of a GaussianMixture component, in
        # standardised units (the couplings start at the identity).
        if chol is None:
            start = ActNorm(d, n_components=K)
            with torch.no_grad():
                start.loc.copy_(torch.from_numpy(loc).unsqueeze(1))
                start.log_scale.copy_(-torch.log(torch.from_numpy(std)).unsqueeze(1))
                start.initialized.fill_(True)
        else:
            start = GaussianStart(torch.from_numpy(loc), torch.from_numpy(chol))
        flow = Flow([FixedAffine(shift, scale), start, *couplings.transforms],
                    StandardNormal(d))
        # q starts as the exact posterior of the initial (Gaussian) mixture.
        posterior = GaussianPosteriorNetwork(
            MLP(d, K, post_hidden), torch.from_numpy(loc), torch.from_numpy(std),
            None if chol is None else torch.from_numpy(chol))
        module = VariationalMixtureOfFlows(flow, posterior, K, shift, scale,
                                           learn_weights=self.weight_prior == "learned")
        if self.weight_prior == "learned":
            # Learned weights start at the initial partition's proportions.
            with torch.no_grad():
                module.weight_logits.copy_(torch.log(torch.from_numpy(
                    np.maximum(weights, 1e-3) / np.maximum(weights, 1e-3).sum())))
        return module

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the mixture by maximising the ELBO, or the marginal likelihood with
        ``posterior="exact"`` (semi-supervised when ``y`` has labels).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 data train in float32, anything else in float64.
            Needs at least ``max(2, n_components)`` rows.
        y : array-like of shape (n_samples,), default=None
            Optional labels: -1 for unlabeled rows, ``k`` in ``0..n_components-1`` for a
            row known to come from component ``k``. How it is used depends on
            ``semi_supervised`` (by default only when it holds at least one -1).

        Returns
        -------
        self : FlowMixtureClustering
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, complex, strings, too few rows), labels
            outside ``-1..n_components-1``, invalid parameters, or an unavailable
            ``device``.
        FloatingPointError
            If the training loss diverges (weights are restored to finite values).
        """
        X, warm = self._fit_start(X)
        self._check_min_samples(X, self.n_components, "n_components")
        labels = self._labels(y, X.shape[0])
        if not warm:
            self._set_standardization(X)
        labeled = np.flatnonzero(labels >= 0)

        pretrain = bool(labeled.size and self.pretrain_epochs > 0 and not warm)

        def build():
            # Runs inside the engine's seeded fork_rng: draws come from the fit's seed.
            seed = int(torch.randint(np.iinfo(np.int32).max, ()).item())
            train_rows, valid_rows = self._start_rows(X.shape[0], first_stage=not pretrain)
            module = self._build_module(X, labels, seed, train_rows, valid_rows)
            # The start is a candidate of the best-weights restore ("epoch 0"): the
            # engine only compares trained epochs.
            start["state"] = {k: v.detach().clone() for k, v in module.state_dict().items()}
            start["valid_rows"] = valid_rows
            start["seed"] = seed
            return module

        start = {}

        loss = negative_marginal_likelihood if self.posterior == "exact" else negative_elbo
        metric = mixture_nll
        if self.trim_fraction > 0:
            loss = partial(loss, trim_fraction=float(self.trim_fraction))
            metric = partial(mixture_nll, trim_fraction=float(self.trim_fraction))
        stages = []
        if pretrain:
            stages.append(Stage(loss, name="pretrain", rows=labeled,
                                max_epochs=self.pretrain_epochs, validation=False,
                                check_convergence=False))
        stages.append(Stage(loss, metric=metric, callbacks=[
            ("temperature", TemperatureAnnealing(self.temperature_decay,
                                                 self.min_temperature))]))
        self._train(build, stages, {"x": X, "label": labels})
        self.start_restored_ = False
        if start.get("valid_rows") is not None and not self.net_.interrupted_:
            self.start_restored_ = self._restore_start_if_better(
                X[start["valid_rows"]], start["state"])
            if self.start_restored_:
                self._refit_start(X, labels, start["seed"])
        module = self.module_
        self.weights_ = module.log_weights().detach().exp().cpu().double().numpy()
        self.temperature_ = float(module.temperature)
        self.labels_ = self._predict(X, "posterior")
        return self

    def _restore_start_if_better(self, X_valid, start_state) -> bool:
        """Load the initial mixture back unless the trained one beats it on the
        validation rows by more than ``tol`` and by more than one standard error of the
        per-row gain (:func:`_clear_gain`): the simpler model (the Gaussian start) stays
        unless the flexible one is better by more than the noise of the comparison. On
        small data a few dozen validation rows cannot tell a real gain from an
        overfitted epoch (penguins). Returns whether it was restored."""
        module = self.module_

        def row_log_lik():
            return np.asarray(self._batched(
                lambda x: torch.logsumexp(module.log_joint(x).double(), -1), X_valid),
                dtype=np.float64)

        trained = row_log_lik()
        trained_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(start_state)
        started = row_log_lik()
        # Trimmed fit: compare on the rows that neither model puts in its lowest
        # trim_fraction (the same rows for both).
        kept = _kept_rows(np.minimum(trained, started), float(self.trim_fraction))
        if not _clear_gain(trained[kept] - started[kept], self.tol):
            return True
        module.load_state_dict(trained_state)
        return False

    def _refit_start(self, X, labels, seed):
        """Refit a restored start on every training row, validation rows included, with
        the ``reg_covar`` those rows chose. The final model is then the starting
        mixture; as ``GridSearchCV(refit=True)`` after a selection, it is fitted on all
        the data once the held-out rows have done their two jobs (choosing the
        regularisation, and telling that no trained epoch beats the start)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            refit = self._build_module(X, labels, seed, reg_covar=self.init_reg_covar_)
        self.module_.load_state_dict(refit.state_dict())

    def fit_predict(self, X, y=None):
        """Fit the model and return the cluster of each training row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Optional labels, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int64
            ``labels_``.

        Raises
        ------
        ValueError
            On invalid input or labels, as :meth:`fit`.
        FloatingPointError
            If the training loss diverges, as :meth:`fit`.
        """
        return self.fit(X, y).labels_

    # ------------------------------------------------------------------ inference
    def _check_method(self, method):
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")

    def _log_proba(self, X, method):
        """``log p(k | x)`` (exact) or ``log q(k | x)``, normalised batch by batch in
        float64 (no temporary larger than a batch)."""
        module = self.module_
        if method == "variational":
            return self._batched(module.log_q, X)
        return self._batched(lambda x: torch.log_softmax(module.log_joint(x).double(), -1), X)

    def _predict(self, X, method):
        module = self.module_
        logits = module.log_q if method == "variational" else module.log_joint
        return self._batched(lambda x: logits(x).argmax(-1), X, out_dtype=np.int64)

    def predict(self, X, method="posterior"):
        """Cluster of each row: the most probable component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : {"posterior", "variational"}, default="posterior"
            ``argmax_k`` of the exact posterior ``p(k | x)``, or of the variational
            ``q(k | x)`` (as in the paper).

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int64
            Component indices in ``0..n_components-1``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input or an unknown ``method``.
        """
        check_is_fitted(self)
        self._check_method(method)
        X = self._validate_input(X, reset=False)
        return self._predict(X, method)

    def predict_proba(self, X, method="posterior"):
        """Probability of each component given each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : {"posterior", "variational"}, default="posterior"
            ``"posterior"``: the exact posterior ``pi_k p_k(x) / sum_j pi_j p_j(x)``
            (Bayes' rule with the fitted flows). ``"variational"``: the network's
            ``q(k | x) = softmax(e(x) / T)`` at the final temperature ``temperature_``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components), float64
            Rows sum to 1. Column ``k`` is component ``k``: the index of ``weights_[k]``,
            of the labels of ``predict`` and ``labels_``, of the component labels that
            ``sample`` returns and, in semi-supervised fits, of the label ``k`` given in
            ``y``. The columns have no names (this is not a ``transform``); for a
            DataFrame, name them by that index, e.g. ``pandas.DataFrame(proba,
            columns=[f"component{k}" for k in range(est.n_components)])``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input or an unknown ``method``.
        """
        check_is_fitted(self)
        self._check_method(method)
        X = self._validate_input(X, reset=False)
        proba = np.exp(self._log_proba(X, method))
        return proba / proba.sum(axis=1, keepdims=True)

    def score_samples(self, X):
        """Log-density of the mixture at each row, in nats, in the units of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64
            ``log sum_k pi_k p_k(x)``.

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
        return self._batched(lambda x: torch.logsumexp(module.log_joint(x).double(), -1), X)

    def _n_parameters(self) -> int:
        """Free parameters of the density: the component flows and, when learned, the
        ``K - 1`` free mixture weights (the posterior network does not enter ``p(x)``)."""
        check_is_fitted(self)
        n = _n_free_parameters(self.module_.flow)
        if self.weight_prior == "learned":
            n += self.n_components - 1
        return n

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 sum_i log p(x_i) + n_params log(n_samples)`` with ``n_params`` the free
        parameters of the component flows (plus ``K - 1`` learned weights).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        scores = self.score_samples(X)
        return float(-2.0 * scores.sum() + self._n_parameters() * np.log(len(scores)))

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better).

        ``-2 sum_i log p(x_i) + 2 n_params``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        scores = self.score_samples(X)
        return float(-2.0 * scores.sum() + 2.0 * self._n_parameters())

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture, with their components.

        The number of samples per component is multinomial with the weights
        ``weights_``; all components are sampled in one batched pass. As in
        ``GaussianMixture.sample`` the rows are ordered by component.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (a fresh stream per call when None). Torch's global random
            state is not used.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples in the units of the training data, in the compute dtype.
        y : ndarray of shape (n_samples,), dtype int64
            Component each sample was drawn from.

        Raises
        ------
        ValueError
            If ``n_samples`` is not a positive int.
        """
        n_samples, rng = self._check_sample_request(n_samples, random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        gen = self._torch_generator(rng)
        module = self.module_
        module.eval()
        with torch.no_grad():
            draws = module.flow.sample(int(counts.max()), generator=gen,
                                       batch_shape=(self.n_components,))
        y = np.repeat(np.arange(self.n_components), counts)
        keep = np.arange(counts.max())[None, :] < counts[:, None]  # (K, max count)
        X = draws.cpu().numpy()[keep]
        return X, y.astype(np.int64)
