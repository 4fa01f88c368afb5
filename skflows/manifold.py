"""ManifoldFlow and ManifoldFlowRegressor: learn a manifold and a density on it (M-flow,
M_e-flow, PIE), unconditionally or conditional on features ``X``.

One implementation: :class:`ManifoldFlow` is the model without a condition and
:class:`ManifoldFlowRegressor` the same model whose density on the manifold (and
optionally the manifold itself) depends on the standardised ``X``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from scipy.stats import chi2
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    DensityMixin,
    OutlierMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from ._base import (
    _INFERENCE_BATCH_SIZE,
    BaseFlowEstimator,
    ConditionalDensityMixin,
    DensityScoreMixin,
)
from ._outlier import OutlierScoresMixin
from ._training import Phase, Stage
from .nn import MLP, FixedAffine, Flow, StandardNormal, coupling_flow
from .nn.manifold import ManifoldFlowModule, align_chart

__all__ = ["ManifoldFlow", "ManifoldFlowRegressor"]

_LOG_2PI = math.log(2.0 * math.pi)
#: Rows x draws evaluated at a time by the sampling and mean methods.
_CHUNK = 2**16


# ---------------------------------------------------------------------------- losses
# Each loss reads a batch of the modelled variable ``x`` and, for the conditional model,
# the matching rows of the (raw) condition ``context``.
def reconstruction_loss(module: ManifoldFlowModule, x: torch.Tensor,
                        context: torch.Tensor | None = None) -> torch.Tensor:
    """M-phase loss and metric: mean squared reconstruction error per coordinate, in
    standardised units (Brehmer & Cranmer 2020, Sec. 3.3)."""
    return module.standardized_residual(x, context).pow(2).mean()


def density_loss(module: ManifoldFlowModule, x: torch.Tensor,
                 context: torch.Tensor | None = None) -> torch.Tensor:
    """D-phase training loss (nats per sample): ``-mean log p(h_M)`` of the manifold
    coordinates under the inner flow, with the manifold frozen; the term ``-1/2 log
    det(J_g^T J_g)`` is constant for the inner flow's parameters and is left out
    (Brehmer & Cranmer 2020, Sec. 3.3)."""
    with torch.no_grad():
        h = module.chart(x, context)
    return -module.chart_log_prob(h, context).mean()


def noisy_manifold_nll(module: ManifoldFlowModule, x: torch.Tensor,
                       context: torch.Tensor | None = None) -> torch.Tensor:
    """D-phase monitored metric (nats per sample): the negative log-likelihood of the
    noisy-manifold model that :meth:`ManifoldFlow.score_samples` evaluates, with the
    noise variance estimated on the batch, so that successive manifolds are compared
    with a common criterion (the training loss of the D phase depends on the manifold
    through a term it leaves out)."""
    return -module.noisy_log_prob(x, context=context).mean()


def pie_loss(module: ManifoldFlowModule, x: torch.Tensor,
             context: torch.Tensor | None = None) -> torch.Tensor:
    """PIE loss and metric: mean negative PIE log-likelihood on ``R^D`` (nats per
    sample)."""
    return -module.pie_log_prob(x, context).mean()


def _manifold_parameters(module: ManifoldFlowModule):
    """Parameters trained in the M phase: the outer flow (and the M_e-flow encoder)."""
    params = list(module.outer.parameters())
    if module.encoder is not None:
        params += list(module.encoder.parameters())
    return params


def _density_parameters(module: ManifoldFlowModule):
    """Parameters trained in the D phase: the inner flow."""
    return list(module.inner.parameters())


def _principal_axes(Xs: np.ndarray) -> np.ndarray:
    """Orthogonal (d, d) matrix whose rows are the principal axes of ``Xs``, by
    decreasing variance."""
    Xc = Xs - Xs.mean(axis=0)
    _, vectors = np.linalg.eigh(Xc.T.astype(np.float64) @ Xc.astype(np.float64))
    return vectors[:, ::-1].T.copy()


# ---------------------------------------------------------------------------- shared base
class _BaseManifoldFlow(BaseFlowEstimator):
    """The M-flow model, fitting and inference, with an optional condition (not public).

    Everything here works on the modelled variable ``Y`` (``X`` of :class:`ManifoldFlow`,
    ``y`` of :class:`ManifoldFlowRegressor`) and an optional condition ``C`` (None for
    the unconditional model; the rows of the regressor's ``X``), both validated arrays.
    Subclasses set ``_scaling_names`` (the fitted attributes that hold the isotropic
    standardisation of ``Y``), ``_context_features()``, ``_conditional_manifold()`` and
    ``_check_dimension``; a conditional one also sets ``x_mean_`` and ``x_scale_`` (the
    standardisation of ``C``, kept inside the module) before :meth:`_fit_manifold`.
    """

    _parameter_constraints: dict = {
        **BaseFlowEstimator._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "variant": [StrOptions({"mflow", "mflow_e", "pie"})],
        "schedule": [StrOptions({"alternating", "sequential"})],
        "flow": [StrOptions({"nsf", "realnvp"})],
        "n_layers_outer": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_layers_inner": [Interval(numbers.Integral, 0, None, closed="left")],
        "hidden_dims": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "permutation": [StrOptions({"random", "reverse", "lu"})],
        "encoder_hidden_dims": ["array-like",
                                Interval(numbers.Integral, 1, None, closed="left")],
        "pie_epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "standardize": ["boolean"],
    }

    #: Fitted attributes holding the centre and the (common) scale of the modelled
    #: variable.
    _scaling_names: tuple[str, str] = ("mean_", "scale_")

    def _context_features(self) -> int:
        """Width of the condition (0: unconditional)."""
        return 0

    def _conditional_manifold(self) -> bool:
        """Whether the outer flow (the manifold) reads the condition."""
        return False

    def _check_dimension(self, d: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _scaling(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(getattr(self, name) for name in self._scaling_names)

    # ------------------------------------------------------------------ fitting
    def _build_module(self, d: int, principal_axes: np.ndarray) -> ManifoldFlowModule:
        hidden = self._check_dims(self.hidden_dims, "hidden_dims")
        n, c = self.n_components, self._context_features()
        c_outer = c if self._conditional_manifold() else 0
        mean, scale = self._scaling()
        shift, scale = torch.from_numpy(mean), torch.from_numpy(scale)
        common = dict(transform=self.flow, hidden_dims=hidden, n_bins=self.n_bins,
                      tail_bound=self.tail_bound, permutation=self.permutation)
        couplings = coupling_flow(d, n_layers=self.n_layers_outer, context_features=c_outer,
                                  **common).double()
        # Initial manifold = PCA subspace: a fixed rotation in front of the couplings
        # makes the first n latent coordinates the first n principal components (the
        # couplings start as the identity, whatever the condition).
        rotation = align_chart(couplings, torch.from_numpy(principal_axes),
                               context=torch.zeros(c_outer) if c_outer else None)
        outer = Flow([FixedAffine(shift, scale), rotation, *couplings.transforms],
                     StandardNormal(d))
        inner = coupling_flow(n, n_layers=self.n_layers_inner, context_features=c, **common)
        encoder = None
        if self.variant == "mflow_e":
            encoder = MLP(d + c_outer, n,
                          self._check_dims(self.encoder_hidden_dims, "encoder_hidden_dims"))
        context = {}
        if c:
            context = dict(context_shift=torch.from_numpy(self.x_mean_),
                           context_scale=torch.from_numpy(self.x_scale_))
        return ManifoldFlowModule(outer, inner, n, encoder=encoder, shift=shift,
                                  scale=scale, pie_epsilon=self.pie_epsilon, **context)

    def _set_isotropic_standardization(self, X):
        """The centre per feature and one common scale (the root mean variance), so
        that the model's internal coordinates are a rotation and uniform rescaling of
        ``X`` and distances keep their geometry; stored under ``_scaling_names``."""
        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            scale = float(np.sqrt(np.mean(X.var(axis=0, dtype=np.float64))))
            if not scale > 1e-12 * max(1.0, float(np.abs(mean).max())):
                scale = 1.0
        else:
            mean, scale = np.zeros(X.shape[1]), 1.0
        names = self._scaling_names
        setattr(self, names[0], mean)
        setattr(self, names[1], np.full(X.shape[1], scale))

    def _lr_schedule(self, n_epochs: int):
        """Per-stage skorch callbacks: the cosine learning-rate schedule of the paper
        over the stage's epochs."""
        if self.lr_schedule == "constant":
            return ()
        return (("lr_schedule", LRScheduler(policy=CosineAnnealingLR, T_max=max(1, n_epochs),
                                           last_epoch=-1)),)

    def _stages(self) -> list[Stage]:
        """The fit as engine stages: PIE's one likelihood; M/D phases alternating epoch
        by epoch in one stage (the M phase is not monitored); or an M stage with its
        own early stopping on the validation reconstruction error, then a D stage
        (Brehmer & Cranmer 2020, Sec. 3.3)."""
        if self.variant == "pie":
            return [Stage([Phase(pie_loss, name="pie")],
                          callbacks=self._lr_schedule(self.max_epochs))]
        manifold = Phase(reconstruction_loss, _manifold_parameters, name="manifold")
        density = Phase(density_loss, _density_parameters, metric=noisy_manifold_nll,
                        name="density")
        if self.schedule == "alternating":
            manifold.monitor = False
            return [Stage([manifold, density], callbacks=self._lr_schedule(self.max_epochs))]
        n_manifold = (self.max_epochs + 1) // 2
        n_density = max(1, self.max_epochs - n_manifold)
        return [Stage([manifold], name="manifold", max_epochs=n_manifold,
                      callbacks=self._lr_schedule(n_manifold)),
                Stage([density], name="density", max_epochs=n_density,
                      callbacks=self._lr_schedule(n_density))]

    def _fit_manifold(self, Y: np.ndarray, C: np.ndarray | None, warm: bool) -> None:
        """Train the model on the modelled rows ``Y`` (and the condition rows ``C``),
        then set ``noise_variance_``."""
        d = Y.shape[1]
        self._check_dimension(d)
        self._check_dims(self.hidden_dims, "hidden_dims")
        self._check_dims(self.encoder_hidden_dims, "encoder_hidden_dims")
        axes = None
        if not warm:
            self._set_isotropic_standardization(Y)
            mean, scale = self._scaling()
            axes = _principal_axes((Y - mean) / scale)
        data = {"x": Y} if C is None else {"x": Y, "context": C}
        self._train(lambda: self._build_module(d, axes), self._stages(), data)
        k = d - self.n_components
        if k > 0:
            # Robust: the median of ||x - x_hat||^2 ~ s^2 chi2_k, so that training
            # outliers and rows beyond the chart's cut do not inflate s^2.
            scale = self._scaling()[1]
            floor = float(np.finfo(Y.dtype).eps) * float(np.mean(scale ** 2))
            r2 = self._reconstruction_error(Y, C)
            self.noise_variance_ = max(float(np.median(r2)) / chi2.median(k), floor)
        else:
            self.noise_variance_ = 0.0

    # ------------------------------------------------------------------ inference
    def _jacobian_batch(self) -> int:
        return max(1, _INFERENCE_BATCH_SIZE // self.n_components)

    def _rows(self, fn, Y: np.ndarray, C: np.ndarray | None = None, out_dtype=np.float64,
              batch_size: int = _INFERENCE_BATCH_SIZE) -> np.ndarray:
        """``fn(y, c)`` over row chunks of ``Y`` and the matching rows of the condition
        ``C`` (``c`` is None when ``C`` is None); numpy out."""
        if C is None:
            return self._batched(lambda y: fn(y, None), Y, out_dtype, batch_size)
        dtype = np.dtype(self._compute_dtype)
        d = C.shape[1]
        pairs = np.concatenate([C.astype(dtype, copy=False), Y.astype(dtype, copy=False)],
                               axis=1)
        return self._batched(lambda p: fn(p[:, d:], p[:, :d]), pairs, out_dtype, batch_size)

    def _chart(self, Y, C=None):
        return self._rows(self.module_.chart, Y, C, out_dtype=Y.dtype)

    def _decode_chart(self, H, C=None):
        return self._rows(self.module_.decode_chart, H, C, out_dtype=H.dtype)

    def _encode(self, Y, C=None):
        return self._rows(self.module_.encode, Y, C, out_dtype=Y.dtype)

    def _decode(self, U, C=None):
        return self._rows(self.module_.decode, U, C, out_dtype=U.dtype)

    def _project(self, Y, C=None):
        return self._rows(self.module_.reconstruct, Y, C, out_dtype=Y.dtype)

    def _reconstruction_error(self, Y, C=None):
        module = self.module_
        return self._rows(lambda y, c: (y - module.reconstruct(y, c)).pow(2).sum(-1), Y, C)

    def _manifold_log_prob(self, Y, C=None):
        module = self.module_
        return self._rows(lambda y, c: module.manifold_log_prob(y, c)[0], Y, C,
                          batch_size=self._jacobian_batch())

    def _noisy_log_prob(self, Y, C=None):
        module, variance = self.module_, self.noise_variance_
        return self._rows(lambda y, c: module.noisy_log_prob(y, variance, c), Y, C,
                          batch_size=self._jacobian_batch())

    def _chart_log_prob(self, Y, C=None, noisy=False):
        """The log-density without the volume term ``-1/2 log det(J_g^T J_g)`` (and
        with the noise terms when ``noisy``): no Jacobian, one pass of each flow."""
        module = self.module_
        k = Y.shape[1] - self.n_components
        variance = self.noise_variance_

        def fn(y, c):
            h = module.chart(y, c)
            out = module.chart_log_prob(h, c).to(torch.float64)
            if noisy and k > 0:
                r2 = (y - module.decode_chart(h, c)).to(torch.float64).pow(2).sum(-1)
                out = out - 0.5 * r2 / variance - 0.5 * k * (math.log(variance) + _LOG_2PI)
            return out

        return self._rows(fn, Y, C)


# ---------------------------------------------------------------------------- estimators
class ManifoldFlow(DensityScoreMixin, ClassNamePrefixFeaturesOutMixin, OutlierMixin, DensityMixin,
                   TransformerMixin, OutlierScoresMixin, _BaseManifoldFlow):
    """Learn an ``n_components``-dimensional manifold and a normalised density on it.

    A manifold-learning flow (M-flow; Brehmer & Cranmer, NeurIPS 2020). An *outer*
    coupling flow ``f`` maps ``x in R^D`` to ``h = f(x)``; the first ``n_components``
    coordinates ``h_M`` are coordinates on the manifold and the others are dropped
    (projection). The decoder ``g(h_M) = f^{-1}([h_M, 0])`` maps ``R^n`` onto a curved
    ``n``-dimensional manifold in ``R^D``, and an *inner* flow ``u = h_in(h_M)`` with a
    standard-normal base carries a density on it (Sec. 2, Eq. 2-5)::

        log p(x_hat) = log N(u; 0, I) + log |det dh_in/dh_M| - 1/2 log det(J_g^T J_g)

    at the projection ``x_hat = g(h_M(x))``, with ``J_g`` the ``D x n`` Jacobian of the
    decoder. The manifold is learned by reconstruction, the density by likelihood
    (Sec. 3.3): in the *manifold* (M) phase the outer flow minimises the mean squared
    reconstruction error ``||x - x_hat||^2``; in the *density* (D) phase only the inner
    flow is trained, on the log-likelihood of ``h_M`` (the Jacobian term is constant
    then). ``schedule`` alternates the phases epoch by epoch or runs them one after the
    other.

    ``variant="mflow_e"`` (M_e-flow) computes ``h_M`` with a separate encoder network
    instead of the outer flow (the decoder is unchanged); ``variant="pie"`` trains all
    parts on the likelihood of the full-dimensional PIE density, which puts a narrow
    Gaussian of width ``pie_epsilon`` on the dropped coordinates (Beitler et al. 2018;
    Brehmer & Cranmer, Sec. 2).

    Read more in the :ref:`user guide <manifold_flow>`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension ``n`` of the manifold (as PCA's ``n_components``); less than
        ``n_features`` (a manifold of full dimension is an ordinary flow: use
        :class:`~skflows.FlowDensity`).
    variant : {"mflow", "mflow_e", "pie"}, default="mflow"
        M-flow (encoder = the outer flow, exact inverse of the decoder on the manifold),
        M_e-flow (separate encoder network), or PIE (one likelihood objective).
    schedule : {"alternating", "sequential"}, default="alternating"
        M/D training schedule (ignored for PIE). ``"alternating"``: epochs alternate
        between an M epoch and a D epoch (the paper's recommended M/D training).
        ``"sequential"``: up to ``ceil(max_epochs / 2)`` M epochs (with their own early
        stopping on the validation reconstruction error), then the D epochs.
    flow : {"nsf", "realnvp"}, default="nsf"
        Coupling layers of both flows: rational-quadratic splines (Durkan et al. 2019)
        or affine (Dinh et al. 2017).
    n_layers_outer : int, default=5
        Coupling layers of the outer flow ``f: R^D -> R^D``.
    n_layers_inner : int, default=3
        Coupling layers of the inner flow ``h_in: R^n -> R^n`` (0: ``h_M`` itself is
        standard normal).
    hidden_dims : int or tuple of int, default=(64, 64)
        Hidden widths of every coupling layer's MLP conditioner.
    n_bins : int, default=8
        Spline bins (``flow="nsf"``).
    tail_bound : float, default=5.0
        Splines act on ``[-tail_bound, tail_bound]`` (standardised units) and are the
        identity outside.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before each coupling layer (see :class:`~skflows.FlowDensity`).
    encoder_hidden_dims : int or tuple of int, default=(128, 128)
        Hidden widths of the encoder MLP (``variant="mflow_e"`` only).
    pie_epsilon : float, default=0.01
        Width of the Gaussian on the off-manifold latent coordinates
        (``variant="pie"`` only; the paper's default).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Learning rate over the epochs of a training run: cosine annealing from ``lr``
        to 0 over ``max_epochs`` (the paper's schedule; per stage for the sequential
        schedule) or constant. On the polynomial surface the cosine schedule lowers
        the reconstruction error severalfold at the same cost.
    standardize : bool, default=True
        Centre the data and divide by one common scale (the root mean variance of the
        features) inside the model. The scale is the same for every feature, so that
        distances, the reconstruction error and the noise model keep the geometry of
        ``X``; rescale features beforehand if their units differ (as for PCA).
        Outputs are always in the units of ``X``.
    contamination : float in (0, 0.5], default=0.1
        Expected fraction of outliers in the training data; sets ``offset_``.
    max_epochs : int, default=100
        Maximum number of epochs; every M and every D epoch counts as one.
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay (L2 penalty).
    gradient_clip : float or None, default=5.0
        Clip the gradient's global norm to this value; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out for early stopping. The D epochs'
        validation loss (what early stopping watches for M/D training) is the
        negative log-likelihood of the noisy-manifold model of :meth:`score_samples`;
        the M epochs' is the reconstruction error (not watched). With 0, the training
        loss of the D epochs is watched.
    n_iter_no_change : int, default=10
        Stop after this many epochs (M and D epochs both count) without an improvement
        of at least ``tol``; the weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the watched loss.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, permutations, the validation split and shuffling. With an
        int and ``device="cpu"`` two fits are identical. The global torch and numpy
        random states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar with the loss.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.

    Attributes
    ----------
    noise_variance_ : float
        Variance ``s^2`` per off-manifold direction of the isotropic Gaussian noise
        model used by :meth:`score_samples` (the role of ``PCA.noise_variance_``),
        estimated robustly from the training rows as ``median ||x - x_hat||^2 /
        median(chi2_k)`` with ``k = n_features - n_components`` (the median of
        ``s^2 chi2_k``), so that outliers in the training data do not inflate it.
    offset_ : float
        ``100 * contamination`` percentile of the training scores;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    mean_, scale_ : ndarray of shape (n_features_in_,)
        Standardisation applied inside the model (``scale_`` has one common value).
    history_ : list of dict
        One row per epoch of every fit: ``epoch``, ``stage`` (``"train"``, or
        ``"manifold"`` then ``"density"`` for the sequential schedule), ``phase``
        (``"manifold"``, ``"density"`` or ``"pie"``), ``train_loss``, ``valid_loss``,
        ``monitored`` (what early stopping watched), ``duration`` (seconds). Manifold
        epochs report
        the mean squared reconstruction error per coordinate in standardised units;
        density epochs the negative log-likelihood of the manifold coordinates
        (training) and of the noisy-manifold model (validation), in nats per sample.
    n_iter_ : int
        Number of epochs run by the last ``fit`` (M and D epochs).
    net_ : skorch.NeuralNet
        The private training net.
    module_ : skflows.nn.manifold.ManifoldFlowModule
        The trained model (in the units of ``X``).

    See Also
    --------
    sklearn.decomposition.PCA : Flat manifold, linear projection.
    skflows.FlowDensity : Full-dimensional flow density.
    ManifoldFlowRegressor : The same model with a density conditional on features.

    Notes
    -----
    **Scores and outliers.** The on-manifold density alone says nothing about how far
    a point lies from the manifold, and the reconstruction error alone nothing about
    where on the manifold it lies. :meth:`score_samples` combines both as the
    log-density of a noisy-manifold model, the curved analogue of probabilistic PCA
    (``PCA.score_samples``): a point is drawn from the density on the manifold and
    displaced by isotropic Gaussian noise of variance ``noise_variance_`` in the
    ``D - n`` directions off it::

        score(x) = log p(x_hat) - ||x - x_hat||^2 / (2 s^2) - (D - n)/2 log(2 pi s^2)

    with ``s^2 = noise_variance_`` (nats; exact when the projection ``x_hat`` is the
    foot of the normal from ``x``, which the learned projection approximates). Points
    far from the manifold get a low score through the quadratic term, points on the
    manifold in low-density regions through the first term. ``decision_function`` and
    ``predict`` threshold this score at ``offset_``. The separate parts are
    :meth:`manifold_log_prob` and :meth:`reconstruction_error`; the paper scores
    out-of-distribution points with whichever of the two separates better (Sec. 4).

    **Initialisation** (ours, not in the paper): a fixed rotation in front of the outer
    flow's couplings makes the initial manifold the PCA subspace of the first
    ``n_components`` principal axes (the couplings start as the identity), so training
    starts from PCA's solution and bends it. From an arbitrary starting subspace, small
    flows can stall at reconstruction errors far above PCA's.

    **Cost.** ``log det(J_g^T J_g)`` needs only the ``n`` columns of the decoder
    Jacobian: they are computed with ``n`` forward-mode Jacobian-vector products in
    one vectorised pass (:func:`skflows.nn.manifold.chart_jacobian`), and the
    log-determinant from a QR factorisation in float64. The cost of
    :meth:`score_samples` is about ``n + 1`` decoder evaluations per row, independent
    of ``D`` (the reference code builds the full ``D x D`` Jacobian).

    **Pitfalls.** The projection is learned, not orthogonal. Densities on different
    manifolds are w.r.t. different measures, which is why the manifold is trained by
    reconstruction and not by likelihood (Sec. 3.2). A closed manifold (a full circle
    or sphere) cannot be the image of ``R^n`` under one chart: the model covers it up
    to a low-density cut. With ``variant="mflow_e"`` encoder and decoder are inverses
    only approximately.

    If the training loss becomes non-finite, fitting stops with
    :class:`FloatingPointError` and the estimator is not fitted.

    References
    ----------
    .. [1] J. Brehmer and K. Cranmer. Flows for simultaneous manifold learning and
       density estimation. NeurIPS 2020; arXiv:2003.13913.
    .. [2] J. Beitler, I. Sosnovik, A. Smeulders. PIE: Pseudo-invertible encoder.
       arXiv:1811.00539, 2018.
    .. [3] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019.

    Examples
    --------
    >>> from skflows import ManifoldFlow
    >>> from skflows.datasets import make_gaussian_on_circle
    >>> X = make_gaussian_on_circle(500, random_state=0)
    >>> est = ManifoldFlow(n_components=1, max_epochs=4, hidden_dims=(16,),
    ...                    random_state=0).fit(X)
    >>> est.transform(X[:3]).shape
    (3, 1)
    >>> est.inverse_transform(est.transform(X[:3])).shape
    (3, 2)
    >>> est.score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **_BaseManifoldFlow._parameter_constraints,
        "contamination": [Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    def __init__(
        self,
        n_components=2,
        variant="mflow",
        schedule="alternating",
        flow="nsf",
        n_layers_outer=5,
        n_layers_inner=3,
        hidden_dims=(64, 64),
        n_bins=8,
        tail_bound=5.0,
        permutation="lu",
        encoder_hidden_dims=(128, 128),
        pie_epsilon=0.01,
        lr_schedule="cosine",
        standardize=True,
        contamination=0.1,
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
        self.variant = variant
        self.schedule = schedule
        self.flow = flow
        self.n_layers_outer = n_layers_outer
        self.n_layers_inner = n_layers_inner
        self.hidden_dims = hidden_dims
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.permutation = permutation
        self.encoder_hidden_dims = encoder_hidden_dims
        self.pie_epsilon = pie_epsilon
        self.lr_schedule = lr_schedule
        self.standardize = standardize
        self.contamination = contamination
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
        """Width of ``transform``'s output, for ``get_feature_names_out``
        (``NotFittedError``, an ``AttributeError``, before ``fit``)."""
        check_is_fitted(self)
        return self.n_components

    # ------------------------------------------------------------------ fitting
    def _check_dimension(self, d: int) -> None:
        if self.n_components >= d:
            raise ValueError(f"ManifoldFlow needs n_components < n_features, got "
                             f"n_components={self.n_components} and {d} feature(s); "
                             "a manifold of the data's full dimension is an ordinary "
                             "flow: use FlowDensity.")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the manifold and the density on it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 data train in float32, anything else in float64.
            Needs at least 2 rows and ``n_features > n_components``.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ManifoldFlow
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, complex, strings, fewer than 2 rows),
            ``n_components >= n_features``, invalid parameters, or an unavailable
            ``device``.
        FloatingPointError
            If the training loss diverges (weights are restored to finite values).
        """
        X, warm = self._fit_start(X)
        self._fit_manifold(X, None, warm)
        self._set_offset(X)
        return self

    # ------------------------------------------------------------------ inference
    def transform(self, X):
        """Manifold coordinates of each row: ``u = h_in(h_M(x))``.

        ``u`` follows the standard-normal base distribution on the manifold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        U : ndarray of shape (n_samples, n_components)
            In the dtype of ``X``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        return self._encode(self._validate_input(X, reset=False))

    def inverse_transform(self, U):
        """Points on the learned manifold with manifold coordinates ``U``: ``g(u)``.

        Parameters
        ----------
        U : array-like of shape (n_samples, n_components)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the dtype of ``U``.

        Raises
        ------
        ValueError
            If ``U`` does not have ``n_components`` columns or is not finite.
        """
        check_is_fitted(self)
        return self._decode(self._validate_latent(U, self.n_components))

    def project(self, X):
        """Projection of each row onto the learned manifold, ``x_hat = g(h_M(x))``.

        Equals ``inverse_transform(transform(X))`` up to round-off.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            In the dtype of ``X``.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        check_is_fitted(self)
        return self._project(self._validate_input(X, reset=False))

    def reconstruction_error(self, X):
        """Squared Euclidean distance of each row to its projection on the manifold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            ``||x - x_hat||^2`` in squared units of ``X``.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        check_is_fitted(self)
        return self._reconstruction_error(self._validate_input(X, reset=False))

    def manifold_log_prob(self, X):
        """Log-density on the learned manifold at the projection of each row.

        ``log N(u; 0, I) + log |det dh_in/dh_M| - 1/2 log det(J_g^T J_g)`` at
        ``x_hat = g(h_M(x))`` (Brehmer & Cranmer 2020, Eq. 5): a density w.r.t. the
        ``n_components``-dimensional volume on the manifold, in the units of ``X``. It
        ignores how far ``x`` is from the manifold (see :meth:`score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            Nats.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``X`` holds NaN/inf, strings or sparse data, or has another
            number of features than the data seen in ``fit``.
        """
        check_is_fitted(self)
        return self._manifold_log_prob(self._validate_input(X, reset=False))

    def score_samples(self, X):
        """Noisy-manifold log-density of each row (nats; larger means more normal).

        The on-manifold density and the distance from the manifold combined.

        ``manifold_log_prob(x) - ||x - x_hat||^2 / (2 s^2) - (D - n)/2 log(2 pi s^2)``
        with ``s^2 = noise_variance_`` (see the class Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
            Log-density in nats on ``R^D``, in the units of ``X``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, sparse, strings, wrong number of features).
        """
        check_is_fitted(self)
        return self._validated_scores(self._validate_input(X, reset=False))

    def _validated_scores(self, X):
        """``score_samples`` of an already validated array."""
        return self._noisy_log_prob(X)

    def sample(self, n_samples=1, random_state=None):
        """Draw points on the learned manifold from the learned density.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the base-distribution draws (a fresh stream per call when None).
            Torch's global random state is not used.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Points on the manifold (no off-manifold noise), in the compute dtype.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``n_samples`` is not a positive integer.
        """
        n_samples, rng = self._check_sample_request(n_samples, random_state)
        gen = self._torch_generator(rng)
        module = self.module_
        module.eval()
        with torch.no_grad():
            x = module.sample(n_samples, generator=gen)
        return x.cpu().numpy()


class ManifoldFlowRegressor(ConditionalDensityMixin, RegressorMixin, _BaseManifoldFlow):
    """A manifold learned from ``y`` and a density on it conditional on ``X``.

    The conditional M-flow (Brehmer & Cranmer, NeurIPS 2020): the model of
    :class:`ManifoldFlow` fitted to the targets ``y`` in ``R^D`` (``D = n_targets``),
    whose inner flow, the density on the manifold, reads the standardised row ``x`` of
    ``X`` as a context (conditional coupling layers; Winkler et al. 2019). An *outer*
    flow ``f`` maps ``y`` to ``h = f(y)``, the first ``n_components`` coordinates
    ``h_M`` are coordinates on the manifold, the decoder ``g(h_M) = f^{-1}([h_M, 0])``
    maps them onto it, and the inner flow ``u = h_in(h_M; x)`` with a standard-normal
    base carries the conditional density on it (Sec. 2, Eq. 2-5)::

        log p(y_hat | x) = log N(u; 0, I) + log |det dh_in/dh_M| - 1/2 log det(J_g^T J_g)

    at the projection ``y_hat = g(h_M(y))``, with ``J_g`` the ``D x n`` decoder
    Jacobian. By default the manifold is learned from ``y`` alone and only the density
    on it depends on ``x`` (the reference code's default, the paper's M-flow and
    "PIE (unconditional manifold)" runs); ``condition_manifold=True`` conditions the
    outer flow too, so that the manifold moves with ``x`` (the paper's "PIE
    (original)", Sec. 4). Training, variants (``"mflow"``, ``"mflow_e"``, ``"pie"``)
    and schedules are those of :class:`ManifoldFlow`, which is this estimator without
    a condition: one implementation.

    Two uses:

    * **Neural likelihood estimation** on a manifold (Sec. 4): fit on simulations
      with ``X`` the parameters ``theta`` and ``y`` the simulated data ``x``;
      :func:`skflows.inference.sample_posterior` then samples ``p(theta | x_1..n)``
      from several observations, and with an unconditional manifold the costly volume
      term can be skipped (``log_prob(..., include_log_det=False)``), the paper's
      "fixed manifold" evaluation.
    * **Regression onto a manifold**: targets with a structure of lower dimension,
      ``sample_y`` draws on the manifold and ``predict`` is the conditional mean.

    Read more in the :ref:`user guide <manifold_flow_regressor>`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension ``n`` of the manifold, at most ``n_targets``. ``n_components ==
        n_targets`` (for instance a 1-D ``y`` with ``n_components=1``) is the
        full-dimensional limit: the "manifold" is the whole target space, the
        density an ordinary conditional flow through the outer and inner flows and the
        reconstruction error 0 (:class:`~skflows.FlowRegressor` is the better model
        then).
    variant : {"mflow", "mflow_e", "pie"}, default="mflow"
        M-flow, M_e-flow (separate encoder network) or PIE, as in
        :class:`ManifoldFlow`.
    schedule : {"alternating", "sequential"}, default="alternating"
        M/D training schedule (ignored for PIE), as in :class:`ManifoldFlow`.
    condition_manifold : bool, default=False
        Whether the outer flow (the manifold, and the M_e-flow encoder) also reads
        ``x``. False: one manifold for every ``x``, learned from ``y`` alone (its
        reconstruction of ``y`` does not depend on ``X``). True: the manifold depends
        on ``x``, and :meth:`transform_y`, :meth:`inverse_transform_y`,
        :meth:`project_y` and :meth:`reconstruction_error_y` need ``X``.
    flow : {"nsf", "realnvp"}, default="nsf"
        Coupling layers of both flows: rational-quadratic splines or affine.
    n_layers_outer : int, default=5
        Coupling layers of the outer flow ``f: R^D -> R^D``.
    n_layers_inner : int, default=3
        Coupling layers of the inner flow ``h_in: R^n -> R^n``; at least 1 (the
        conditioning enters there).
    hidden_dims : int or tuple of int, default=(64, 64)
        Hidden widths of every coupling layer's MLP conditioner (which reads the
        untouched half of its input and the standardised ``x``).
    n_bins : int, default=8
        Spline bins (``flow="nsf"``).
    tail_bound : float, default=5.0
        Splines act on ``[-tail_bound, tail_bound]`` (standardised units) and are the
        identity outside.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before each coupling layer.
    encoder_hidden_dims : int or tuple of int, default=(128, 128)
        Hidden widths of the encoder MLP (``variant="mflow_e"`` only).
    pie_epsilon : float, default=0.01
        Width of the Gaussian on the off-manifold latent coordinates
        (``variant="pie"`` only).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Learning rate over the epochs, as in :class:`ManifoldFlow`.
    standardize : bool, default=True
        Standardise ``x`` per feature (as :class:`~skflows.FlowRegressor`) and ``y``
        with one common scale (as :class:`ManifoldFlow`, so that distances keep the
        geometry of ``y``) inside the model. Outputs are always in the units of ``y``.
    n_predict_samples : int, default=256
        Base-distribution points behind ``predict``: a scrambled Sobol sequence on
        ``R^n`` (rounded up to a power of two) fixed at fit time and shared by every
        row, so ``predict`` is deterministic and a row's value does not depend on the
        other rows.
    max_epochs : int, default=100
        Maximum number of epochs; every M and every D epoch counts as one.
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        Adam weight decay (L2 penalty).
    gradient_clip : float or None, default=5.0
        Clip the gradient's global norm to this value; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training rows held out for early stopping on the validation
        loss of the D epochs (the negative log-likelihood of the noisy-manifold model,
        as in :class:`ManifoldFlow`).
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of at least ``tol``; the
        weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the watched loss.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, permutations, the validation split, shuffling and the
        Sobol points. With an int and ``device="cpu"`` two fits are identical; the
        global torch and numpy random states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 prints one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.

    Attributes
    ----------
    n_features_in_ : int
        Number of features of ``X`` (the condition) seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    n_targets_ : int
        Number of targets ``D`` (columns of ``y``).
    noise_variance_ : float
        Variance per off-manifold direction of the noisy-manifold model of
        ``log_prob(..., noisy=True)``, estimated robustly from the training
        reconstruction errors as in :class:`ManifoldFlow` (0 when
        ``n_components == n_targets``).
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        Standardisation of ``x`` inside the model.
    y_mean_, y_scale_ : ndarray of shape (n_targets_,)
        Standardisation of ``y`` inside the model (``y_scale_`` has one common value).
    history_ : list of dict
        One row per epoch of every fit, as in :class:`ManifoldFlow`.
    n_iter_ : int
        Number of epochs run by the last ``fit`` (M and D epochs).
    net_ : skorch.NeuralNet
        The private training net.
    module_ : skflows.nn.manifold.ManifoldFlowModule
        The trained model, conditional on ``x`` (in the units of ``X`` and ``y``).

    See Also
    --------
    ManifoldFlow : The same model without a condition.
    FlowRegressor : A conditional density on the whole target space.
    skflows.inference.sample_posterior : Posterior sampling with this estimator as
        the likelihood.

    Notes
    -----
    **Scores.** :meth:`log_prob` is the on-manifold log-density at the projection of
    ``y`` (the M-flow likelihood of the paper, nats, w.r.t. the ``n``-dimensional
    volume on the manifold in the units of ``y``); it ignores how far ``y`` is from the
    manifold. ``log_prob(X, y, noisy=True)`` adds the isotropic Gaussian noise model of
    :meth:`ManifoldFlow.score_samples` (a density on ``R^D``, comparable across
    manifolds). ``score`` returns the mean of :meth:`log_prob` (on the manifold), not
    the coefficient of determination of ``RegressorMixin.score``, as for
    :class:`~skflows.FlowRegressor`; on-manifold likelihoods of models with different
    manifolds are densities w.r.t. different measures (Sec. 3.2), so compare such
    models by held-out ``log_prob(..., noisy=True)`` or reconstruction error.

    **Fixed-manifold likelihood.** With ``condition_manifold=False`` the projection
    ``y_hat`` and the volume term ``-1/2 log det(J_g^T J_g)`` depend on ``y`` only, so
    ``log_prob(X, y, include_log_det=False)`` (no Jacobian: one pass of each flow)
    differs from :meth:`log_prob` by a function of ``y`` alone; in a posterior over
    ``X`` given fixed observations ``y`` it cancels (the reference code's
    ``mf-fixed-manifold`` mode, Sec. 4). Pass
    ``log_likelihood_kwargs={"include_log_det": False}`` to
    :func:`~skflows.inference.sample_posterior`.

    **Methods on y.** The maps of the manifold act on targets, so they carry the
    suffix ``_y`` of ``sample_y`` (``transform_y``, ``inverse_transform_y``,
    ``project_y``, ``reconstruction_error_y``) and take ``y`` first with ``X`` as an
    optional keyword: scikit-learn calls ``transform(X)`` and the like with the
    features, so a ``transform`` of the targets would be a different method under the
    same name.

    **Targets of one column.** A 1-D ``y`` (one target) has no manifold of lower
    dimension; it is accepted with ``n_components=1`` as the full-dimensional limit
    (see ``n_components``) so that the estimator stays a regular scikit-learn regressor,
    and ``n_components > n_targets`` is refused.

    If the training loss becomes non-finite, fitting stops with
    :class:`FloatingPointError` and the estimator is not fitted.

    References
    ----------
    .. [1] J. Brehmer and K. Cranmer. Flows for simultaneous manifold learning and
       density estimation. NeurIPS 2020; arXiv:2003.13913 (Sec. 2: the model and
       Eq. 5, the density on the manifold; Sec. 3: M/D training; Sec. 4:
       likelihoods conditional on parameters, the manifold conditional or not, and
       inference by MCMC).
    .. [2] J. Beitler, I. Sosnovik, A. Smeulders. PIE: Pseudo-invertible encoder.
       arXiv:1811.00539, 2018.
    .. [3] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019.
    .. [4] G. Papamakarios, D. C. Sterratt, I. Murray. Sequential Neural Likelihood:
       Fast Likelihood-free Inference with Autoregressive Flows. AISTATS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skflows import ManifoldFlowRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 1))
    >>> angle = X[:, 0] + 0.3 * rng.normal(size=400)      # position on a circle
    >>> y = np.column_stack([np.cos(angle), np.sin(angle)])
    >>> est = ManifoldFlowRegressor(n_components=1, hidden_dims=(16,), max_epochs=4,
    ...                             random_state=0).fit(X, y)
    >>> est.log_prob(X[:3], y[:3]).shape
    (3,)
    >>> est.sample_y(X[:3], n_samples=10, random_state=0).shape
    (3, 2, 10)
    >>> est.transform_y(y[:3]).shape
    (3, 1)
    """

    _parameter_constraints: dict = {
        **_BaseManifoldFlow._parameter_constraints,
        "n_layers_inner": [Interval(numbers.Integral, 1, None, closed="left")],
        "condition_manifold": ["boolean"],
        "n_predict_samples": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    _scaling_names = ("y_mean_", "y_scale_")

    def __init__(
        self,
        n_components=2,
        variant="mflow",
        schedule="alternating",
        condition_manifold=False,
        flow="nsf",
        n_layers_outer=5,
        n_layers_inner=3,
        hidden_dims=(64, 64),
        n_bins=8,
        tail_bound=5.0,
        permutation="lu",
        encoder_hidden_dims=(128, 128),
        pie_epsilon=0.01,
        lr_schedule="cosine",
        standardize=True,
        n_predict_samples=256,
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
        self.variant = variant
        self.schedule = schedule
        self.condition_manifold = condition_manifold
        self.flow = flow
        self.n_layers_outer = n_layers_outer
        self.n_layers_inner = n_layers_inner
        self.hidden_dims = hidden_dims
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.permutation = permutation
        self.encoder_hidden_dims = encoder_hidden_dims
        self.pie_epsilon = pie_epsilon
        self.lr_schedule = lr_schedule
        self.standardize = standardize
        self.n_predict_samples = n_predict_samples
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
    def _base_dimension(self) -> int:
        return self.n_components

    def _context_features(self) -> int:
        return self.n_features_in_

    def _conditional_manifold(self) -> bool:
        return bool(self.condition_manifold)

    def _check_dimension(self, d: int) -> None:
        if self.n_components > d:
            raise ValueError(f"ManifoldFlowRegressor needs n_components <= n_targets, got "
                             f"n_components={self.n_components} and {d} target(s) (columns "
                             "of y): the manifold lies in the space of y. A 1-D y has no "
                             "manifold of lower dimension (n_components=1 fits an ordinary "
                             "conditional flow; FlowRegressor is the model for it).")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the manifold from ``y`` and the density on it conditional on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Conditions (parameters ``theta`` for likelihood estimation). float32 data
            train in float32, anything else in float64. At least 2 rows.
        y : array-like of shape (n_samples, n_targets) or (n_samples,)
            Targets on (or near) a manifold of dimension ``n_components <
            n_targets``; a 1-D ``y`` only with ``n_components=1`` (the
            full-dimensional limit, see the class Notes).

        Returns
        -------
        self : ManifoldFlowRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, strings, fewer than 2 rows, ``y`` None or
            of other rows), ``n_components > n_targets`` (in particular a 1-D ``y``
            with ``n_components > 1``), another number of targets than the fitted one
            on a warm start, invalid parameters, or an unavailable ``device``.
        FloatingPointError
            If the training loss diverges (weights are restored to finite values).
        """
        X, y, warm = self._fit_start(X, y)
        Y = y.reshape(len(y), -1)
        self._check_dimension(Y.shape[1])
        if warm:
            self._check_targets(Y)
        else:
            self.n_targets_ = Y.shape[1]
            self._y_ndim = y.ndim
            self._set_standardization(X)
            self.x_mean_, self.x_scale_ = self.mean_, self.scale_
            del self.mean_, self.scale_
        self._fit_manifold(Y, X, warm)
        if not warm:
            self._set_sobol_points()
        return self

    # ------------------------------------------------------------------ validation
    def _validate_condition(self, X, n_rows: int):
        """The condition the manifold needs: validated ``X`` with ``n_rows`` rows when
        ``condition_manifold=True`` (required), None otherwise (a given ``X`` is
        validated all the same)."""
        C = None
        if X is not None:
            C = self._validate_input(X, reset=False)
            if len(C) != n_rows:
                raise ValueError(f"X must have one row per row of y, got {len(C)} rows "
                                 f"for {n_rows}.")
        elif self.condition_manifold:
            raise ValueError(f"{type(self).__name__} was fitted with condition_manifold="
                             "True: its manifold depends on X, so pass the condition rows "
                             "as X=..., one per row of y.")
        return C if self.condition_manifold else None

    def _validate_y(self, y, X):
        """Targets (2-D) and the condition the manifold needs (see
        ``_validate_condition``)."""
        check_is_fitted(self)
        Y = check_array(y, dtype=[np.float64, np.float32], ensure_2d=False, input_name="y")
        Y = self._check_targets(Y.reshape(len(Y), -1) if Y.ndim == 1 else Y)
        return Y, self._validate_condition(X, len(Y))

    def _as_fitted_y(self, Y):
        """1-D output for a 1-D ``y`` at fit time (as ``predict``)."""
        return Y[:, 0] if self._y_ndim == 1 else Y

    # ------------------------------------------------------------------ densities
    def log_prob(self, X, y, *, noisy=False, include_log_det=True):
        """Conditional log-density of each pair on the manifold, nats in ``y``'s units.

        ``log p(y_hat | x) = log N(u; 0, I) + log |det dh_in/dh_M| - 1/2 log
        det(J_g^T J_g)`` at the projection ``y_hat = g(h_M(y))`` (Brehmer & Cranmer
        2020, Eq. 5, with a conditional inner flow): a density w.r.t. the
        ``n_components``-dimensional volume on the manifold. The Jacobian ``J_g`` is
        exact (``n`` forward-mode Jacobian-vector products, log-determinant in float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Conditions.
        y : array-like of shape (n_samples, n_targets) or (n_samples,)
            Targets (a 1-D ``y`` for one target).
        noisy : bool, default=False
            Add the isotropic Gaussian noise model off the manifold,
            ``- ||y - y_hat||^2 / (2 s^2) - (D - n)/2 log(2 pi s^2)`` with
            ``s^2 = noise_variance_``: a log-density on ``R^D`` that also scores the
            distance from the manifold (as :meth:`ManifoldFlow.score_samples`).
        include_log_det : bool, default=True
            False leaves out the volume term ``-1/2 log det(J_g^T J_g)`` (no Jacobian:
            about ``n + 1`` times cheaper). Only with ``condition_manifold=False``,
            where that term depends on ``y`` alone: the result is then the log-density
            up to a function of ``y``, which cancels in a posterior over ``X`` (the
            paper's fixed-manifold mode).

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64
            Nats.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, strings, other rows in ``X`` and ``y``, wrong
            number of features or targets), or ``include_log_det=False`` with
            ``condition_manifold=True`` (the volume term then depends on ``X``).
        """
        if not include_log_det and self.condition_manifold:
            raise ValueError("include_log_det=False needs condition_manifold=False: with a "
                             "conditional manifold the volume term -1/2 log det(J^T J) "
                             "depends on X and does not cancel.")
        X, Y = self._validate_pairs(X, y)
        if not include_log_det:
            return self._chart_log_prob(Y, X, noisy=bool(noisy))
        if noisy:
            return self._noisy_log_prob(Y, X)
        return self._manifold_log_prob(Y, X)

    # ------------------------------------------------------------------ samples, mean
    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw targets on the manifold from the conditional density of each row.

        ``u ~ N(0, I_n)``, ``y = g(h_in^{-1}(u; x))``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (a fresh stream per call when None). Torch's global random
            state is not used.

        Returns
        -------
        y_samples : ndarray of shape (n_rows, n_targets, n_samples) or (n_rows, n_samples)
            As ``GaussianProcessRegressor.sample_y`` (the second shape for a 1-D ``y``
            at fit time); points on the manifold, in ``y``'s units, float64.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input or a non-positive ``n_samples``.
        """
        n_samples, rng = self._check_sample_request(n_samples, random_state)
        X = self._validate_x(X)
        generator = self._torch_generator(rng)
        module = self.module_
        draws = self._batched(lambda x: module.sample(n_samples, context=x, generator=generator),
                              X, batch_size=max(1, _CHUNK // n_samples))
        draws = np.swapaxes(draws, 1, 2)  # (n_rows, n_targets, n_samples)
        return draws[:, 0, :] if self._y_ndim == 1 else draws

    def predict(self, X):
        """Conditional mean ``E[y | x]`` of each row (a point near, not on, the manifold).

        Estimated from the ``n_predict_samples`` fixed Sobol base points (shared by all
        rows): deterministic, and a row's value does not depend on the other rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_mean : ndarray of shape (n_samples, n_targets) or (n_samples,), float64
            The second shape for a 1-D ``y`` at fit time.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, strings, wrong number of features).
        """
        X = self._validate_x(X)
        module, n_points = self.module_, len(self._base_points)
        z_all = torch.as_tensor(self._base_points, dtype=self._torch_dtype(),
                                device=self._device_of_module())

        def chunk(x):
            m = len(x)
            images = module.decode(z_all.repeat(m, 1), x.repeat_interleave(n_points, dim=0))
            return images.reshape(m, n_points, -1).double().mean(1)

        mean = self._batched(chunk, X, batch_size=max(1, _CHUNK // n_points))
        return self._as_fitted_y(mean)

    # ------------------------------------------------------------------ the manifold
    def transform_y(self, y, X=None):
        """Coordinates of each target on the manifold: the chart ``h_M(y)``.

        The first ``n_components`` coordinates of the outer flow ``f(y)`` (or the
        encoder's output for M_e-flow): coordinates of the projection ``y_hat`` on the
        learned manifold, ``inverse_transform_y(transform_y(y)) = y_hat``. They do not
        depend on ``X`` unless ``condition_manifold=True``; unlike
        :meth:`ManifoldFlow.transform` they are not standard normal (the density on the
        manifold depends on ``x``: its latent is ``h_in(h_M; x)``).

        Parameters
        ----------
        y : array-like of shape (n_samples, n_targets) or (n_samples,)
            Targets.
        X : array-like of shape (n_samples, n_features), default=None
            Conditions, one per row of ``y``: required with ``condition_manifold=True``
            (the manifold depends on ``x``), validated and not used otherwise.

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
            In the dtype of ``y``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, strings, wrong number of targets or features,
            other rows in ``X`` and ``y``), or ``X`` missing with
            ``condition_manifold=True``.
        """
        Y, C = self._validate_y(y, X)
        return self._chart(Y, C)

    def inverse_transform_y(self, H, X=None):
        """Targets on the manifold with chart coordinates ``H``: ``g(h) = f^{-1}([h, 0])``.

        Parameters
        ----------
        H : array-like of shape (n_samples, n_components)
            Coordinates on the manifold (as :meth:`transform_y` returns).
        X : array-like of shape (n_samples, n_features), default=None
            Conditions, one per row of ``H``: required with ``condition_manifold=True``
            (the manifold depends on ``x``), validated and not used otherwise.

        Returns
        -------
        y : ndarray of shape (n_samples, n_targets) or (n_samples,)
            Points on the manifold in ``y``'s units, in the dtype of ``H`` (the second
            shape for a 1-D ``y`` at fit time).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If ``H`` does not have ``n_components`` columns or is not finite, ``X`` is
            invalid, missing with ``condition_manifold=True``, or has other rows than
            ``H``.
        """
        check_is_fitted(self)
        H = self._validate_latent(H, self.n_components)
        C = self._validate_condition(X, len(H))
        return self._as_fitted_y(self._decode_chart(H, C))

    def project_y(self, y, X=None):
        """Projection of each target onto the learned manifold, ``y_hat = g(h_M(y))``.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_targets) or (n_samples,)
            Targets.
        X : array-like of shape (n_samples, n_features), default=None
            Conditions, one per row of ``y``: required with ``condition_manifold=True``
            (the manifold depends on ``x``), validated and not used otherwise.

        Returns
        -------
        y_hat : ndarray of shape (n_samples, n_targets) or (n_samples,)
            In the dtype of ``y`` (the second shape for a 1-D ``y`` at fit time).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input, or ``X`` missing with ``condition_manifold=True``.
        """
        Y, C = self._validate_y(y, X)
        return self._as_fitted_y(self._project(Y, C))

    def reconstruction_error_y(self, y, X=None):
        """Squared Euclidean distance of each target to its projection on the manifold.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_targets) or (n_samples,)
            Targets.
        X : array-like of shape (n_samples, n_features), default=None
            Conditions, one per row of ``y``: required with ``condition_manifold=True``
            (the manifold depends on ``x``), validated and not used otherwise.

        Returns
        -------
        ndarray of shape (n_samples,), float64
            ``||y - y_hat||^2`` in squared units of ``y`` (0 up to round-off when
            ``n_components == n_targets``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input, or ``X`` missing with ``condition_manifold=True``.
        """
        Y, C = self._validate_y(y, X)
        return self._reconstruction_error(Y, C)
