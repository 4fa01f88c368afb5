"""ManifoldFlow: learn a manifold and a density on it (M-flow, M_e-flow, PIE)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.stats import chi2
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    DensityMixin,
    OutlierMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from ._base import _INFERENCE_BATCH_SIZE, BaseFlowEstimator, DensityScoreMixin
from ._outlier import OutlierScoresMixin
from ._training import Phase, Stage
from .nn import MLP, FixedAffine, Flow, StandardNormal, coupling_flow
from .nn.manifold import ManifoldFlowModule, align_chart

__all__ = ["ManifoldFlow"]


# ---------------------------------------------------------------------------- losses
def reconstruction_loss(module: ManifoldFlowModule, x: torch.Tensor) -> torch.Tensor:
    """M-phase loss and metric: mean squared reconstruction error per coordinate, in
    standardised units (Brehmer & Cranmer 2020, Sec. 3.3)."""
    return module.standardized_residual(x).pow(2).mean()


def density_loss(module: ManifoldFlowModule, x: torch.Tensor) -> torch.Tensor:
    """D-phase training loss (nats per sample): ``-mean log p(h_M)`` of the manifold
    coordinates under the inner flow, with the manifold frozen; the term ``-1/2 log
    det(J_g^T J_g)`` is constant for the inner flow's parameters and is left out
    (Brehmer & Cranmer 2020, Sec. 3.3)."""
    with torch.no_grad():
        h = module.chart(x)
    return -module.chart_log_prob(h).mean()


def noisy_manifold_nll(module: ManifoldFlowModule, x: torch.Tensor) -> torch.Tensor:
    """D-phase monitored metric (nats per sample): the negative log-likelihood of the
    noisy-manifold model that :meth:`ManifoldFlow.score_samples` evaluates, with the
    noise variance estimated on the batch, so that successive manifolds are compared
    with a common criterion (the training loss of the D phase depends on the manifold
    through a term it leaves out)."""
    return -module.noisy_log_prob(x).mean()


def pie_loss(module: ManifoldFlowModule, x: torch.Tensor) -> torch.Tensor:
    """PIE loss and metric: mean negative PIE log-likelihood on ``R^D`` (nats per
    sample)."""
    return -module.pie_log_prob(x).mean()


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


# ---------------------------------------------------------------------------- estimator
class ManifoldFlow(DensityScoreMixin, ClassNamePrefixFeaturesOutMixin, OutlierMixin, DensityMixin,
                   TransformerMixin, OutlierScoresMixin, BaseFlowEstimator):
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
    def _build_module(self, d: int, principal_axes: np.ndarray) -> ManifoldFlowModule:
        hidden = self._check_dims(self.hidden_dims, "hidden_dims")
        n = self.n_components
        shift, scale = torch.from_numpy(self.mean_), torch.from_numpy(self.scale_)
        common = dict(transform=self.flow, hidden_dims=hidden, n_bins=self.n_bins,
                      tail_bound=self.tail_bound, permutation=self.permutation)
        couplings = coupling_flow(d, n_layers=self.n_layers_outer, **common).double()
        # Initial manifold = PCA subspace: a fixed rotation in front of the couplings
        # makes the first n latent coordinates the first n principal components.
        rotation = align_chart(couplings, torch.from_numpy(principal_axes))
        outer = Flow([FixedAffine(shift, scale), rotation, *couplings.transforms],
                     StandardNormal(d))
        inner = coupling_flow(n, n_layers=self.n_layers_inner, **common)
        encoder = None
        if self.variant == "mflow_e":
            encoder = MLP(d, n, self._check_dims(self.encoder_hidden_dims, "encoder_hidden_dims"))
        return ManifoldFlowModule(outer, inner, n, encoder=encoder, shift=shift,
                                  scale=scale, pie_epsilon=self.pie_epsilon)

    def _set_isotropic_standardization(self, X):
        """``mean_`` per feature and one common ``scale_`` (the root mean variance), so
        that the model's internal coordinates are a rotation and uniform rescaling of
        ``X`` and distances keep their geometry."""
        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            scale = float(np.sqrt(np.mean(X.var(axis=0, dtype=np.float64))))
            if not scale > 1e-12 * max(1.0, float(np.abs(mean).max())):
                scale = 1.0
        else:
            mean, scale = np.zeros(X.shape[1]), 1.0
        self.mean_, self.scale_ = mean, np.full(X.shape[1], scale)

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
        d = X.shape[1]
        if self.n_components >= d:
            raise ValueError(f"ManifoldFlow needs n_components < n_features, got "
                             f"n_components={self.n_components} and {d} feature(s); "
                             "a manifold of the data's full dimension is an ordinary "
                             "flow: use FlowDensity.")
        self._check_dims(self.hidden_dims, "hidden_dims")
        self._check_dims(self.encoder_hidden_dims, "encoder_hidden_dims")
        axes = None
        if not warm:
            self._set_isotropic_standardization(X)
            axes = _principal_axes((X - self.mean_) / self.scale_)
        self._train(lambda: self._build_module(d, axes), self._stages(), X)
        k = d - self.n_components
        if k > 0:
            # Robust: the median of ||x - x_hat||^2 ~ s^2 chi2_k, so that training
            # outliers and rows beyond the chart's cut do not inflate s^2.
            floor = float(np.finfo(X.dtype).eps) * float(np.mean(self.scale_ ** 2))
            r2 = self._reconstruction_error(X)
            self.noise_variance_ = max(float(np.median(r2)) / chi2.median(k), floor)
        else:
            self.noise_variance_ = 0.0
        self._set_offset(X)
        return self

    # ------------------------------------------------------------------ inference
    def _jacobian_batch(self) -> int:
        return max(1, _INFERENCE_BATCH_SIZE // self.n_components)

    def _reconstruction_error(self, X):
        module = self.module_
        return self._batched(lambda x: (x - module.reconstruct(x)).pow(2).sum(-1), X)

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
        X = self._validate_input(X, reset=False)
        return self._batched(self.module_.encode, X, out_dtype=X.dtype)

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
        U = self._validate_latent(U, self.n_components)
        return self._batched(self.module_.decode, U, out_dtype=U.dtype)

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
        X = self._validate_input(X, reset=False)
        return self._batched(self.module_.reconstruct, X, out_dtype=X.dtype)

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
        X = self._validate_input(X, reset=False)
        return self._reconstruction_error(X)

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
        X = self._validate_input(X, reset=False)
        module = self.module_
        return self._batched(lambda x: module.manifold_log_prob(x)[0], X,
                             batch_size=self._jacobian_batch())

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
        module = self.module_
        variance = self.noise_variance_
        return self._batched(lambda x: module.noisy_log_prob(x, variance), X,
                             batch_size=self._jacobian_batch())

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

