"""FlowRegressor: conditional density estimation p(y | X) with a conditional normalizing
flow, for probabilistic regression and neural posterior estimation."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau

from ._base import BaseFlowEstimator, ConditionalDensityMixin
from ._training import Stage
from .nn import coupling_flow
from .nn.conditional import BoxBijection, ConditionalDensity
from .nn.flows import Flow
from .nn.linear_flows import FixedAffine

__all__ = ["FlowRegressor", "conditional_nll"]

#: Rows x draws evaluated at a time by the sampling and quantile methods.
_CHUNK = 2**16
_BISECTION_STEPS = 60


def conditional_nll(module: ConditionalDensity, x: torch.Tensor,
                    y: torch.Tensor) -> torch.Tensor:
    """Training loss and monitored metric of :class:`FlowRegressor`.

    Parameters
    ----------
    module : ConditionalDensity
        The conditional flow.
    x : Tensor of shape (n, n_features)
        A batch of conditions.
    y : Tensor of shape (n, n_targets)
        The batch's targets.

    Returns
    -------
    Tensor of shape ()
        ``-mean log p(y | x)`` in nats per row (maximum likelihood); for a truncated
        module, of the flow's own density (the box's mass is not part of the
        objective: the model is fitted on ``R^d`` and restricted afterwards).

    Raises
    ------
    ValueError
        If the batch does not fit the flow (see :class:`~skflows.nn.Flow`).

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1.
    """
    return -module.log_prob(y, x, normalize=False).mean()


def ensemble_member_nll(module: ConditionalDensity, x: torch.Tensor,
                        y: torch.Tensor) -> torch.Tensor:
    """Training loss of a :class:`FlowRegressor` ensemble: the members' own NLLs.

    Each member's gradient is that of its own negative log-likelihood, so the members
    train independently (a deep ensemble), in one batched pass; early stopping watches
    the ensemble's mixture NLL (:func:`conditional_nll`) instead.

    Parameters
    ----------
    module : ConditionalDensity
        The conditional flows (``n_members`` on the component axis).
    x : Tensor of shape (n, n_features)
        A batch of conditions.
    y : Tensor of shape (n, n_targets)
        The batch's targets.

    Returns
    -------
    Tensor of shape ()
        ``-mean_m mean_i log p_m(y_i | x_i)`` in nats per row.

    Raises
    ------
    ValueError
        If the batch does not fit the flows (see :class:`~skflows.nn.Flow`).

    References
    ----------
    .. [1] B. Lakshminarayanan, A. Pritzel, C. Blundell. Simple and Scalable Predictive
       Uncertainty Estimation using Deep Ensembles. NeurIPS 2017, Sec. 2.4 and
       Algorithm 1 (each member minimises its own proper scoring rule).
    """
    return -module.member_log_prob(y, x).mean()


class FlowRegressor(ConditionalDensityMixin, RegressorMixin, BaseFlowEstimator):
    """Conditional density estimation of ``y`` given ``X`` with a conditional flow.

    A coupling flow on the target whose conditioners also read the (standardised) row
    ``x`` of ``X`` models ``log p(y | x) = log N(f(y; x); 0, I) + log |det J_f(y; x)|``
    (a conditional normalizing flow: Winkler et al. 2019; Papamakarios et al., JMLR
    2021, Sec. 5.1; couplings as in :class:`~skflows.FlowDensity`). It is fitted by
    maximum likelihood on the pairs ``(x_i, y_i)`` and gives the whole predictive
    distribution: log-densities, samples, quantiles, intervals and the mean.

    Two uses:

    * **Probabilistic regression**: heteroscedastic, skewed, multimodal or bounded
      outcomes; ``score`` is the held-out mean log-likelihood, so ``GridSearchCV``
      selects by it.
    * **Neural posterior estimation** for simulation-based inference (Papamakarios &
      Murray 2016; Greenberg et al. 2019): fit on simulations with ``X`` the simulated
      data and ``y`` the parameters drawn from the prior; ``sample_y(x_obs, n)`` then
      draws from the posterior ``p(theta | x_obs)``. With ``target_bounds`` set to a box
      prior's support, no posterior sample leaves the box.

    Read more in the :ref:`user guide <flow_regressor>`.

    Parameters
    ----------
    flow : {"nsf", "realnvp"}, default="nsf"
        Coupling layers: rational-quadratic splines (Durkan et al. 2019) or affine
        (Dinh et al. 2017).
    n_layers : int, default=5
        Number of coupling layers.
    hidden_dims : int or tuple of int, default=(128, 128)
        Hidden widths of every coupling's conditioner MLP (which reads the untouched
        half of ``y`` and the context).
    n_bins : int, default=8
        Spline bins (``flow="nsf"``).
    tail_bound : float, default=5.0
        Splines act on ``[-tail_bound, tail_bound]`` in standardised units and are the
        identity outside.
    permutation : {"lu", "random", "reverse"}, default="lu"
        Mixing layer before each coupling (see :class:`~skflows.FlowDensity`).
    context_embedding : tuple of int or None, default=None
        Hidden and output widths of an MLP that embeds the standardised ``x`` once per
        call, shared by all couplings (and by an ensemble's members; for example
        ``(64, 16)`` for wide or redundant summaries); None feeds ``x`` itself to every
        conditioner.
    target_bounds : None or (low, high), default=None
        Support of ``y``: scalars or arrays of shape (n_targets,), with ``-inf``/``inf``
        for an open side. By default a fixed increasing bijection onto ``R`` (logit for
        two finite bounds, log for one) with its exact Jacobian comes first; or the
        flow's density is truncated to the box (``bounds_transform``). Either way the
        density is zero outside the box and integrates to one inside it, and every
        sample lies inside. ``fit`` needs every ``y`` strictly inside.
    standardize : bool, default=True
        Standardise ``x`` and (after the bounds' bijection) ``y`` with their training
        means and standard deviations inside the model; log-densities always refer to
        the units of ``y`` (the Jacobians are included).
    n_predict_samples : int, default=256
        Base-distribution points behind ``predict`` and multi-output quantiles: a
        scrambled Sobol sequence (rounded up to a power of two) fixed at fit time and
        shared by every row, so these outputs are deterministic and a row's value does
        not depend on the other rows.
    conditioner : {"mlp", "residual"}, default="mlp"
        Each coupling's network: an MLP of the untouched half of ``y`` and the context,
        or residual blocks (one per ``hidden_dims`` entry, all equal) whose output the
        context also gates, block by block (:class:`~skflows.nn.ResidualMLP`).
    ensemble_size : int, default=1
        Number of flows trained independently from different random initialisations
        (in one batched pass) whose densities are averaged: a deep ensemble
        (Lakshminarayanan et al. 2017), at up to ``ensemble_size`` times the
        computation (on concrete its mixture gained 0.16 nats per row of held-out
        likelihood over one flow; on two small sets it did not help: see the
        benchmarks page). Early stopping watches the mixture's validation NLL;
        ``log_prob`` is the mixture's, ``sample_y`` draws each sample from a member
        chosen at random, quantiles are those of the mixture. The training loss is the
        members' mean NLL, so ``weight_decay`` weighs ``ensemble_size`` times more
        against each member's likelihood gradient than in one flow, and
        ``gradient_clip`` bounds the norm of all members' gradients together.
    calibration : {None, "temperature"}, default=None
        ``"temperature"``: after training, scale the base distribution to
        ``N(0, t^2 I)`` with the ``t`` that maximises the likelihood of the validation
        rows (one scalar for all members; the post-hoc temperature scaling of Guo et al.
        2017, Sec. 4.2, applied to a flow's latent, whose sampling temperature Kingma &
        Dhariwal 2018 introduced). A flow that ends overconfident (``t > 1``) gets wider
        intervals and a higher held-out likelihood; the result stays a normalised
        density, and every method uses it (with ``bounds_transform="truncate"``, ``t``
        is fitted on the flow's density before truncation, and the truncated one is
        renormalised with it). Needs ``validation_fraction > 0``.
    bounds_transform : {"logit", "linear", "truncate"}, default="logit"
        How ``target_bounds`` is imposed. A bijection of each target with two finite
        bounds (see :class:`~skflows.nn.conditional.BoxBijection`): ``"logit"``, the
        logit of its position in the interval, or ``"linear"``, the identity on the
        central 90 % of the interval with logarithmic tails near its ends. Or
        ``"truncate"``: no bijection; the flow is fitted on ``R^d`` and its density is
        restricted to the box and divided by its mass there (exact for one target;
        for several, the share of the ``n_predict_samples`` Sobol points whose images
        fall inside, so ``log_prob`` costs that many inverse passes per row);
        ``sample_y`` keeps the flow's draws that fall inside (exact; it raises an
        error where less than 1/1000 of the mass lies inside). ``"truncate"`` keeps a
        density cut by the box (a posterior pressed against a prior's bound) as sharp
        as the flow models it; ``"linear"`` leaves a density well inside the box as
        the flow models it; ``"logit"`` suits mass that crowds against a bound
        (proportions near 0 or 1). Measured on sbibm's NPE tasks: see the benchmarks
        page. Unused without ``target_bounds``.
    lr_schedule : {"constant", "plateau"}, default="constant"
        Learning rate over a fit: constant, or halved whenever the monitored
        validation NLL has not improved by ``tol`` for ``max(1, n_iter_no_change // 4)``
        epochs (``ReduceLROnPlateau``), so early stopping needs about four halvings
        without progress. Adam's steps at a constant rate leave the validation NLL
        fluctuating by a few hundredths of a nat on 10^4 simulations, which can end a
        fit early on a chance peak; the decay lets it settle. Measured on sbibm's
        NPE tasks: see the benchmarks page.
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
        Fraction of the training rows held out for early stopping on the validation
        negative log-likelihood.
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of at least ``tol``; the
        weights of the best epoch are restored.
    tol : float, default=1e-4
        Minimum improvement of the validation loss (nats per row).
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, the validation split, shuffling and the Sobol points.
        With an int and ``device="cpu"`` two fits are identical; the global torch and
        numpy random states are never used or changed.
    verbose : int, default=0
        0 is silent; 1 prints one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted flow on the next call to ``fit``.

    Attributes
    ----------
    n_features_in_ : int
        Number of features of ``X`` seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X is a DataFrame with string names).
    n_targets_ : int
        Number of targets (columns of ``y``).
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        Standardisation of ``x`` inside the model.
    y_mean_, y_scale_ : ndarray of shape (n_targets_,)
        Standardisation of ``y`` (after the bounds' bijection) inside the model.
    history_ : list of dict
        One row per epoch of every fit: ``epoch``, ``stage``, ``phase``, ``train_loss``,
        ``valid_loss`` (nats per row), ``monitored``, ``duration`` (seconds).
    n_iter_ : int
        Number of epochs run by the last ``fit``.
    net_ : skorch.NeuralNet
        The private training net.
    module_ : skflows.nn.conditional.ConditionalDensity
        The trained conditional flow (in the units of ``X`` and ``y``).
    temperature_ : float
        Scale of the base distribution (1 unless ``calibration="temperature"``).

    See Also
    --------
    sklearn.gaussian_process.GaussianProcessRegressor : Gaussian predictive
        distributions, ``sample_y`` with the same shapes.
    FlowDensity : Unconditional density estimation.

    Notes
    -----
    ``score`` returns the mean log-likelihood ``mean log p(y | x)`` in nats per row, not
    the coefficient of determination of ``RegressorMixin.score`` (as
    ``GaussianMixture.score`` is not an accuracy); ``sklearn.metrics.r2_score`` of
    ``predict`` gives that. ``predict_proba`` is deliberately absent (a regressor).

    For one target every layer is increasing in ``y``, so the quantile of level ``q``
    is exactly ``f^{-1}(Phi^{-1}(q); x)``; for several targets the marginal quantiles
    and the mean are estimated from the fixed Sobol points.

    References
    ----------
    .. [1] C. Winkler, D. Worrall, E. Hoogeboom, M. Welling. Learning Likelihoods with
       Conditional Normalizing Flows. arXiv:1912.00042, 2019.
    .. [2] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed,
       B. Lakshminarayanan. Normalizing Flows for Probabilistic Modeling and
       Inference. JMLR 22(57), 2021, Sec. 5.1.
    .. [3] G. Papamakarios, I. Murray. Fast epsilon-free inference of simulation models
       with Bayesian conditional density estimation. NeurIPS 2016 (neural posterior
       estimation).
    .. [4] C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural Spline Flows.
       NeurIPS 2019.
    .. [5] J.-M. Lueckmann, J. Boelts, D. Greenberg, P. Goncalves, J. Macke.
       Benchmarking Simulation-Based Inference. AISTATS 2021.
    .. [6] B. Lakshminarayanan, A. Pritzel, C. Blundell. Simple and Scalable Predictive
       Uncertainty Estimation using Deep Ensembles. NeurIPS 2017, Sec. 2.4
       (``ensemble_size``).
    .. [7] C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. On Calibration of Modern Neural
       Networks. ICML 2017, Sec. 4.2 (temperature scaling, one scalar fitted by the
       likelihood of held-out rows; ``calibration="temperature"``).
    .. [8] D. P. Kingma, P. Dhariwal. Glow: Generative Flow with Invertible 1x1
       Convolutions. NeurIPS 2018, Sec. 5 (the temperature of a flow's base
       distribution).

    Examples
    --------
    >>> import numpy as np
    >>> from skflows import FlowRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 1))
    >>> y = np.sin(3 * X[:, 0]) + (0.1 + np.abs(X[:, 0])) * rng.normal(size=400)
    >>> est = FlowRegressor(hidden_dims=(16,), max_epochs=5, random_state=0).fit(X, y)
    >>> est.log_prob(X[:3], y[:3]).shape
    (3,)
    >>> est.sample_y(X[:3], n_samples=10, random_state=0).shape
    (3, 10)
    >>> est.predict_interval(X[:3], coverage=0.9).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **BaseFlowEstimator._parameter_constraints,
        "flow": [StrOptions({"nsf", "realnvp"})],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dims": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "n_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "tail_bound": [Interval(numbers.Real, 0, None, closed="neither")],
        "permutation": [StrOptions({"random", "reverse", "lu"})],
        "context_embedding": ["array-like", None],
        "target_bounds": ["array-like", None],
        "standardize": ["boolean"],
        "n_predict_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "conditioner": [StrOptions({"mlp", "residual"})],
        "ensemble_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "calibration": [StrOptions({"temperature"}), None],
        "bounds_transform": [StrOptions({"logit", "linear", "truncate"})],
        "lr_schedule": [StrOptions({"constant", "plateau"})],
    }

    def __init__(
        self,
        flow="nsf",
        n_layers=5,
        hidden_dims=(128, 128),
        n_bins=8,
        tail_bound=5.0,
        permutation="lu",
        context_embedding=None,
        target_bounds=None,
        standardize=True,
        n_predict_samples=256,
        conditioner="mlp",
        ensemble_size=1,
        calibration=None,
        bounds_transform="logit",
        lr_schedule="constant",
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
        self.flow = flow
        self.n_layers = n_layers
        self.hidden_dims = hidden_dims
        self.n_bins = n_bins
        self.tail_bound = tail_bound
        self.permutation = permutation
        self.context_embedding = context_embedding
        self.target_bounds = target_bounds
        self.standardize = standardize
        self.n_predict_samples = n_predict_samples
        self.conditioner = conditioner
        self.ensemble_size = ensemble_size
        self.calibration = calibration
        self.bounds_transform = bounds_transform
        self.lr_schedule = lr_schedule
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
        return self.n_targets_

    def _bounds(self, n_targets: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``target_bounds`` as two float64 arrays of shape (n_targets,), or None."""
        if self.target_bounds is None:
            return None
        try:
            low, high = self.target_bounds
            low = np.broadcast_to(np.asarray(low, dtype=np.float64), (n_targets,)).copy()
            high = np.broadcast_to(np.asarray(high, dtype=np.float64), (n_targets,)).copy()
        except (TypeError, ValueError) as error:
            raise ValueError(f"target_bounds must be (low, high) with scalars or arrays of "
                             f"shape ({n_targets},), got {self.target_bounds!r}.") from error
        if np.isnan(low).any() or np.isnan(high).any() or not (low < high).all():
            raise ValueError(f"target_bounds needs low < high for every target, got "
                             f"low={low.tolist()}, high={high.tolist()}.")
        return low, high

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the conditional flow by maximum likelihood on the pairs ``(x_i, y_i)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Conditions (features; simulated data for posterior estimation). float32
            data train in float32, anything else in float64. At least 2 rows.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (parameters for posterior estimation).

        Returns
        -------
        self : FlowRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            On invalid input (NaN/inf, sparse, strings, fewer than 2 rows, ``y`` None or
            of other rows), invalid parameters, targets on or outside
            ``target_bounds``, or an unavailable ``device``.
        FloatingPointError
            If the training loss diverges (weights are restored to finite values).
        """
        X, y, warm = self._fit_start(X, y)
        Y = y.reshape(len(y), -1)
        hidden = self._check_dims(self.hidden_dims, "hidden_dims")
        embedding = (None if self.context_embedding is None else
                     self._check_dims(self.context_embedding, "context_embedding"))
        if warm:
            self._check_targets(Y)
        else:
            self.n_targets_ = Y.shape[1]
            self._y_ndim = y.ndim
        bounds = self._bounds(self.n_targets_)
        box = None
        truncate = bounds is not None and self.bounds_transform == "truncate"
        if bounds is not None:
            # With truncation the box only bounds the support (its map is unused).
            box = BoxBijection(torch.from_numpy(bounds[0]), torch.from_numpy(bounds[1]),
                               transform="logit" if truncate else self.bounds_transform)
            outside = int((~box.inside(torch.from_numpy(Y.astype(np.float64)))).sum())
            if outside:
                raise ValueError(f"{outside} row(s) of y lie on or outside target_bounds; "
                                 "fit needs every target strictly inside (widen the bounds "
                                 "or drop those rows).")
        if not warm:
            self._set_target_standardization(X, Y, None if truncate else box)
            self._set_sobol_points()
        d_x, d_y = X.shape[1], self.n_targets_
        members = self.ensemble_size
        if self.calibration is not None and not self.validation_fraction > 0:
            raise ValueError("calibration='temperature' fits the temperature on the "
                             "validation rows: set validation_fraction > 0.")
        if warm and getattr(self.module_, "n_members", 1) != members:
            raise ValueError(f"warm_start cannot change ensemble_size (fitted with "
                             f"{self.module_.n_members}, now {members}); refit with "
                             f"warm_start=False.")
        if warm:
            old = self.module_.box
            same = (old is None and box is None) or (
                old is not None and box is not None
                and torch.equal(old.low, box.low) and torch.equal(old.high, box.high)
                and old.transform == box.transform and self.module_.truncate == truncate)
            if not same:
                raise ValueError("warm_start cannot change target_bounds or "
                                 "bounds_transform; refit with warm_start=False.")

        def build():
            flow = coupling_flow(d_y, transform=self.flow, n_layers=self.n_layers,
                                 hidden_dims=hidden, n_bins=self.n_bins,
                                 tail_bound=self.tail_bound, permutation=self.permutation,
                                 n_components=None if members == 1 else members,
                                 context_features=d_x, context_embedding=embedding,
                                 conditioner=self.conditioner)
            first = [] if box is None or truncate else [box]
            first.append(FixedAffine(torch.from_numpy(self.y_mean_),
                                     torch.from_numpy(self.y_scale_)))
            flow = Flow([*first, *flow.transforms], flow.base, embedding=flow.embedding)
            points = (torch.from_numpy(self._base_points) if truncate and d_y > 1
                      else None)
            return ConditionalDensity(flow, torch.from_numpy(self.x_mean_),
                                      torch.from_numpy(self.x_scale_), box=box,
                                      n_members=members, truncate=truncate,
                                      mass_points=points)

        stages = (Stage(conditional_nll, callbacks=self._lr_callbacks()) if members == 1 else
                  Stage(ensemble_member_nll, metric=conditional_nll, name="train",
                        callbacks=self._lr_callbacks()))
        if warm:
            self.module_.temperature = 1.0  # training sees the untempered flow
        self._train(build, stages, {"x": X, "y": Y})
        if self.calibration == "temperature":
            rows = self.net_.validation_rows_
            self.module_.temperature = self._fit_temperature(X[rows], Y[rows])
        self.temperature_ = float(self.module_.temperature)
        return self

    def _lr_callbacks(self):
        """The stage's learning-rate schedule (skorch callbacks)."""
        if self.lr_schedule == "constant":
            return ()
        return (("lr_schedule", LRScheduler(
            policy=ReduceLROnPlateau, monitor="monitored", mode="min", factor=0.5,
            patience=max(1, self.n_iter_no_change // 4), threshold=self.tol,
            threshold_mode="abs")),)

    def _fit_temperature(self, X: np.ndarray, Y: np.ndarray) -> float:
        """The base scale ``t`` that maximises the mean log-likelihood of ``(X, Y)``:
        ``log p = logsumexp_m [log N(z_m / t) - d log t + log_det_m] - log M`` from the
        untempered latents, over ``log t`` in ``[log 0.05, log 20]`` (bounded Brent)."""
        module = self.module_
        d, n_members = Y.shape[1], module.n_members

        def stats(y, x):
            z, log_det = module.latent(y, x)
            out = torch.stack([(z.double() ** 2).sum(-1), log_det.double()], dim=-1)
            return out if n_members == 1 else out.transpose(0, 1)  # (rows, M, 2)

        module.temperature = 1.0
        s = self._batched_pairs(stats, X, Y).reshape(len(Y), n_members, 2)
        sq, log_det = s[..., 0], s[..., 1]

        def nll(log_t):
            log_p = (-0.5 * sq * np.exp(-2 * log_t) - d * log_t + log_det
                     - 0.5 * d * np.log(2 * np.pi))
            return -np.mean(logsumexp(log_p, axis=1) - np.log(n_members))

        result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                                 options={"xatol": 1e-8})
        return float(np.exp(result.x))

    def _set_target_standardization(self, X, Y, box):
        """``x_mean_``, ``x_scale_``, and ``y_mean_``, ``y_scale_`` of the targets after the
        bounds' bijection (zeros and ones with ``standardize=False``)."""
        self._set_standardization(X)
        self.x_mean_, self.x_scale_ = self.mean_, self.scale_
        del self.mean_, self.scale_
        T = Y.astype(np.float64)
        if box is not None:
            T = box(torch.from_numpy(T))[0].numpy()
        if self.standardize:
            mean, scale = T.mean(axis=0), T.std(axis=0)
            scale[~(scale > 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
        else:
            mean, scale = np.zeros(T.shape[1]), np.ones(T.shape[1])
        self.y_mean_, self.y_scale_ = mean, scale

    # ------------------------------------------------------------------ inference
    def log_prob(self, X, y):
        """Conditional log-density ``log p(y | x)`` of each pair, in nats in ``y``'s units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64
            ``-inf`` where ``y`` lies outside ``target_bounds``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, strings, other rows in ``X`` and ``y``, wrong
            number of features or targets).
        """
        X, Y = self._validate_pairs(X, y)
        module = self.module_
        if not self._truncated():
            return self._batched_pairs(module.log_prob, X, Y)
        # The box's mass once per distinct row of X (a grid of y at one x maps the
        # mass points once), each row mapping the points in chunks of _CHUNK images.
        distinct, index = np.unique(X, axis=0, return_inverse=True)
        points = getattr(module, "mass_points", None)
        rows = max(1, _CHUNK // ((1 if points is None else len(points)) * module.n_members))
        log_mass = self._batched(module.log_mass, distinct, batch_size=rows)
        log_p = self._batched_pairs(lambda t, x: module.log_prob(t, x, normalize=False), X, Y)
        return log_p - log_mass[index.reshape(-1)]

    def _batched_pairs(self, fn, X: np.ndarray, Y: np.ndarray, **kwargs) -> np.ndarray:
        """``fn(y, x)`` over row chunks of the pairs (one array, so that ``_batched``
        keeps the rows of ``X`` and ``Y`` together), without gradients; numpy out."""
        dtype = np.dtype(self._compute_dtype)
        pairs = np.concatenate([X.astype(dtype, copy=False), Y.astype(dtype, copy=False)],
                               axis=1)
        d = X.shape[1]
        return self._batched(lambda p: fn(p[:, d:], p[:, :d]), pairs, **kwargs)

    def _from_base(self, X: np.ndarray, Z: np.ndarray, reduce=None) -> np.ndarray:
        """``y = f^{-1}(z_j; x_i)`` for every row ``i`` and base point ``j``, shape
        ``(m, n_points, n_targets)`` (an ensemble's members' images pooled per row:
        ``(m, n_members * n_points, n_targets)``, equal weights) per chunk of at most
        ``_CHUNK`` pairs, passed through
        ``reduce`` (a function of that tensor) before the chunks are joined, so memory
        stays bounded by the reduced output; float64."""
        module, n_points = self.module_, len(Z)
        z_all = torch.as_tensor(Z, dtype=self._torch_dtype(), device=self._device_of_module())
        rows = max(1, _CHUNK // (n_points * getattr(module, "n_members", 1)))

        def chunk(x):
            m = len(x)
            images = module.from_base(z_all.repeat(m, 1), x.repeat_interleave(n_points, dim=0))
            if images.dim() == 3:  # (M, m * n_points, d): member images pooled per row
                images = images.reshape(len(images), m, n_points, -1).transpose(0, 1)
            images = images.reshape(m, -1, images.shape[-1])
            return images if reduce is None else reduce(images)

        return self._batched(chunk, X, batch_size=rows)

    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw targets from the conditional distribution of each row.

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
        y_samples : ndarray of shape (n_rows, n_samples) or (n_rows, n_targets, n_samples)
            As ``GaussianProcessRegressor.sample_y``: the first shape for a 1-D ``y`` at
            fit time. In ``y``'s units, inside ``target_bounds``.

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
        draws = self._batched(lambda x: module.sample(n_samples, x, generator=generator), X,
                              batch_size=max(1, _CHUNK // n_samples))
        draws = np.swapaxes(draws, 1, 2)  # (n_rows, n_targets, n_samples)
        return draws[:, 0, :] if self._y_ndim == 1 else draws

    def predict(self, X):
        """Conditional mean ``E[y | x]`` of each row.

        Estimated from the ``n_predict_samples`` fixed Sobol base points (shared by all
        rows), so it is deterministic and does not depend on the other rows. With
        ``bounds_transform="truncate"``, the mean of the points' images that fall inside
        the box (NaN for a row where none does: raise ``n_predict_samples``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets), float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input (NaN/inf, strings, wrong number of features).
        """
        X = self._validate_x(X)
        if self._truncated():
            box = self.module_.box

            def reduce(y):  # the mean of the points' images inside the box
                w = box.inside(y).double()
                return (y.double() * w[..., None]).sum(1) / w.sum(1)[:, None]
        else:
            def reduce(y):
                return y.double().mean(1)
        mean = self._from_base(X, self._base_points, reduce=reduce)
        return mean[:, 0] if self._y_ndim == 1 else mean

    def _truncated(self) -> bool:
        return bool(getattr(self.module_, "truncate", False))

    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Quantiles of the conditional distribution of each target.

        One target: exact, ``f^{-1}(Phi^{-1}(q); x)`` (every layer is increasing); for an
        ensemble (``ensemble_size > 1``) the mixture's, by bisection on its distribution
        function to float precision; with ``bounds_transform="truncate"`` those of the
        level ``F(low) + q (F(high) - F(low))`` of the flow's distribution function.
        Several targets: marginal quantiles of the fixed Sobol points' images (pooled
        over an ensemble's members; truncated: of those inside the box, NaN for a row
        where none is).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : float or sequence of float in (0, 1), default=(0.05, 0.5, 0.95)

        Returns
        -------
        y_quantiles : ndarray of shape (n_samples, n_quantiles) or (n_samples, n_targets, n_quantiles)
            float64, non-decreasing along the last axis for increasing ``quantiles``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input or quantiles outside (0, 1).
        """
        q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        if q.ndim != 1 or not ((q > 0) & (q < 1)).all():
            raise ValueError(f"quantiles must lie in (0, 1), got {quantiles!r}.")
        X = self._validate_x(X)
        truncated = self._truncated()
        if self.n_targets_ == 1 and (truncated or getattr(self.module_, "n_members", 1) > 1):
            out = self._mixture_quantiles(X, q)[:, None, :]  # (n, 1, n_q)
        elif self.n_targets_ == 1:
            out = self._from_base(X, norm.ppf(q)[:, None])  # (n, n_q, 1)
            out = np.swapaxes(out, 1, 2)  # (n, 1, n_q)
        else:
            levels = torch.as_tensor(q, dtype=torch.float64)
            box = self.module_.box

            def reduce(y):  # (n, d, n_q): marginal quantiles over the points
                y = y.double()
                if truncated:  # of the images inside the box
                    y = torch.where(box.inside(y)[..., None], y, torch.nan)
                return torch.nanquantile(y, levels.to(y.device), dim=1).permute(1, 2, 0)
            out = self._from_base(X, self._base_points, reduce=reduce)
        return out[:, 0, :] if self._y_ndim == 1 else out

    def _mixture_quantiles(self, X: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Quantiles of a one-dimensional ensemble's mixture or truncated flow, shape
        (n, n_q): bisection on the flow's distribution function, at the levels
        :meth:`ConditionalDensity.truncated_levels` gives, between the members' exact
        quantiles at those levels (the mixture's lies between their smallest and
        largest; one flow's is exact already); ``_BISECTION_STEPS`` halvings leave the
        bracket far below float precision."""
        module, n_q = self.module_, len(q)
        rows = max(1, _CHUNK // (n_q * module.n_members))
        q64 = torch.as_tensor(q, dtype=torch.float64)

        def chunk(x):
            m = len(x)
            levels = module.truncated_levels(q64.to(x.device), x).reshape(-1)  # (m * n_q,)
            z = torch.special.ndtri(levels.double()).to(x.dtype)[:, None]
            x_rep = x.repeat_interleave(n_q, dim=0)
            member = module.from_base(z, x_rep)
            if module.n_members == 1:
                return self._clip_to_box(member).reshape(m, n_q)
            low, high = member.amin(0), member.amax(0)  # member: (M, m * n_q, 1)
            for _ in range(_BISECTION_STEPS):
                mid = (low + high) / 2
                below = (module.cdf(mid, x_rep) < levels)[:, None]
                low, high = torch.where(below, mid, low), torch.where(below, high, mid)
            return self._clip_to_box((low + high) / 2).reshape(m, n_q)

        return self._batched(chunk, X, batch_size=rows)

    def _clip_to_box(self, y: torch.Tensor) -> torch.Tensor:
        """Quantiles of a truncated flow, rounded into the box's closure (the levels are
        inside; floating point at the ends may not be)."""
        box = self.module_.box
        if not self._truncated():
            return y
        return torch.minimum(torch.maximum(y, box.low.to(y.dtype)), box.high.to(y.dtype))

    def predict_interval(self, X, coverage=0.9):
        """Central prediction interval of each target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        coverage : float in (0, 1), default=0.9
            Probability mass between the bounds: the quantiles ``(1 - coverage) / 2``
            and ``(1 + coverage) / 2``.

        Returns
        -------
        intervals : ndarray of shape (n_samples, 2) or (n_samples, n_targets, 2)
            Lower and upper bounds, float64.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            On invalid input or a coverage outside (0, 1).
        """
        if not isinstance(coverage, numbers.Real) or not 0 < coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1), got {coverage!r}.")
        return self.predict_quantiles(X, ((1 - coverage) / 2, (1 + coverage) / 2))
