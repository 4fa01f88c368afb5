"""Log-densities in the units of the raw ``X`` after invertible preprocessing.

A density estimator at the end of a scikit-learn :class:`~sklearn.pipeline.Pipeline`
(``make_pipeline(StandardScaler(), FlowDensity())``) models the *transformed* data, so
``pipeline.score_samples(X)`` is ``log p_T(T(x))``, a log-density in the transformed
units. It cannot be compared with a model fitted on the raw ``X``, nor with a pipeline
using another scaler. For an invertible, differentiable preprocessing ``T`` the change of
variables gives the log-density of the raw data (Papamakarios et al. 2021, Eq. 1)::

    log p_X(x) = log p_T(T(x)) + log |det J_T(x)|

:func:`score_samples_in_input_units` evaluates the right-hand side: it walks the steps of
a fitted pipeline, adds each step's :func:`log_abs_det_jacobian` at that step's input,
and adds the final estimator's ``score_samples`` on the transformed data.
:func:`score_in_input_units` is its mean, with the ``(estimator, X, y=None)`` signature of
a scikit-learn scorer, so ``GridSearchCV(pipe, grid, scoring=score_in_input_units)`` can
compare preprocessings fairly.

Supported steps are elementwise invertible maps with a known Jacobian: ``StandardScaler``,
``RobustScaler``, ``MinMaxScaler`` (``clip=False``), ``MaxAbsScaler``,
``PowerTransformer`` (Yeo-Johnson and Box-Cox, with or without standardisation),
``FunctionTransformer()`` without ``func`` (the identity), ``None``/``"passthrough"``,
nested pipelines of these, and any transformer that defines its own
``log_abs_det_jacobian(X)`` method (the extension point for custom steps). Any other step
raises a ``ValueError`` that names it.

Design: functions, not a ``Pipeline`` subclass nor an estimator method. A function works
on *any* fitted pipeline -- one built with ``make_pipeline``, returned by a search or
loaded from a pickle -- without refitting it or changing its class, and leaves
``Pipeline.score_samples`` with its scikit-learn meaning (the final step's score in the
transformed space). A subclass would have to be used at construction time and would
silently change that meaning; a method on the density estimator cannot see the steps
before it. The function only needs the last step to have ``score_samples``, so it serves
``GaussianMixture``, ``KernelDensity`` and every skflows density estimator alike.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (FunctionTransformer, MaxAbsScaler, MinMaxScaler,
                                   PowerTransformer, RobustScaler, StandardScaler)
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

__all__ = ["log_abs_det_jacobian", "score_samples_in_input_units", "score_in_input_units"]

_SUPPORTED = ("StandardScaler, RobustScaler, MinMaxScaler(clip=False), MaxAbsScaler, "
              "PowerTransformer, FunctionTransformer(func=None), None/'passthrough', nested "
              "Pipelines of these, and any transformer with a log_abs_det_jacobian(X) method")

# Why common unsupported steps have no log-Jacobian here (by class name; generic otherwise).
_REASONS = {
    "PCA": "it is a linear projection that mixes features and may drop dimensions, "
           "so it is not an elementwise invertible map",
    "IncrementalPCA": "it is a linear projection that mixes features and may drop "
                      "dimensions, so it is not an elementwise invertible map",
    "KernelPCA": "it is a non-linear projection with no invertible Jacobian",
    "TruncatedSVD": "it is a linear projection that drops dimensions (not invertible)",
    "PolynomialFeatures": "it adds features, so it is not invertible as a map R^d -> R^d",
    "SplineTransformer": "it adds features, so it is not invertible as a map R^d -> R^d",
    "OneHotEncoder": "it maps to indicator features, which have no density",
    "KBinsDiscretizer": "it discretises the data, which then has no density",
    "Normalizer": "scaling each row to unit norm is not invertible",
    "QuantileTransformer": "its clipped, piecewise-linear quantile map has no exact "
                           "Jacobian implemented here",
    "FunctionTransformer": "the Jacobian of an arbitrary func is unknown (only the "
                           "identity, func=None, is supported)",
}


def _unsupported(step, path: str, reason: str | None = None) -> ValueError:
    name = type(step).__name__
    reason = reason or _REASONS.get(
        name, "it is not a known elementwise invertible map, so log|det J| is unknown")
    return ValueError(
        f"Cannot compute log|det J| for step {path!r} ({name}): {reason}. Log-densities "
        f"in the units of the raw X need an invertible step with a known Jacobian; "
        f"supported: {_SUPPORTED}. Remove or replace this step, compare models only in "
        f"the units of this step's output (pipeline.score_samples), or give the "
        f"transformer a log_abs_det_jacobian(X) method returning log|det dT/dx| of shape "
        f"(n_samples,).")


def _check_n_features(step, X, path: str) -> None:
    n_in = getattr(step, "n_features_in_", None)
    n = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
    if n_in is not None and n is not None and n != n_in:
        raise ValueError(f"X has {n} features, but step {path!r} ({type(step).__name__}) "
                         f"is expecting {n_in} features as input.")


def _log_scale_sum(scale) -> float:
    """``sum_j log |scale_j|`` in float64."""
    return np.sum(np.log(np.abs(np.asarray(scale, dtype=np.float64))))


def _power_log_derivative(step: PowerTransformer, X, path: str) -> np.ndarray:
    """``sum_j log |d psi(x_j; lambda_j) / dx_j|`` of the power transform, per row."""
    X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", copy=False)
    lambdas = np.asarray(step.lambdas_, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if step.method == "box-cox":
            # psi = (x^lam - 1) / lam (log x at lam = 0): psi' = x^(lam - 1).
            if np.nanmin(X, initial=np.inf) <= 0:
                raise ValueError(f"Step {path!r} (PowerTransformer, method='box-cox') is "
                                 f"only defined for strictly positive data; X has "
                                 f"non-positive values.")
            log_derivative = (lambdas - 1.0) * np.log(X)
        elif step.method == "yeo-johnson":
            # x >= 0: psi' = (1 + x)^(lam - 1);  x < 0: psi' = (1 - x)^(1 - lam)
            # (the limits lam = 0 and lam = 2 included): one formula for both signs.
            log_derivative = (lambdas - 1.0) * np.sign(X) * np.log1p(np.abs(X))
        else:
            raise _unsupported(step, path, f"method={step.method!r} is not known")
    logdet = log_derivative.sum(axis=1)
    if step.standardize:
        logdet = logdet - _log_scale_sum(step._scaler.scale_)
    return logdet


def _walk(step, X, path: str, need_output: bool):
    """``(log|det J| at X, T(X) or None)`` for one transformer step (``path`` names it)."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return np.zeros(_num_samples(X), dtype=np.float64), X
    if isinstance(step, str):
        raise ValueError(f"Step {path!r} is the string {step!r}; only 'passthrough' is "
                         f"allowed as a string step.")
    if isinstance(step, Pipeline):
        logdet = np.zeros(_num_samples(X), dtype=np.float64)
        Xt = X
        last = len(step.steps) - 1
        for i, (name, sub) in enumerate(step.steps):
            term, Xt = _walk(sub, Xt, f"{path}__{name}", need_output or i < last)
            logdet += term
        return logdet, Xt
    if not hasattr(step, "transform"):
        raise _unsupported(step, path, "it has no transform method, so it cannot be a "
                                       "preprocessing step")

    logdet = _step_log_abs_det(step, X, path)
    return logdet, (step.transform(X) if need_output else None)


def _step_log_abs_det(step, X, path: str) -> np.ndarray:
    """log|det J| of one (non-pipeline) fitted transformer at ``X``, shape (n,)."""
    own = getattr(step, "log_abs_det_jacobian", None)
    if callable(own):  # the extension point: a transformer that knows its Jacobian
        logdet = np.asarray(own(X), dtype=np.float64)
        n = _num_samples(X)
        if logdet.shape != (n,):
            raise ValueError(f"Step {path!r} ({type(step).__name__}).log_abs_det_jacobian "
                             f"returned shape {logdet.shape}; expected ({n},).")
        return logdet

    n = _num_samples(X)
    if isinstance(step, FunctionTransformer):
        if step.func is not None:
            raise _unsupported(step, path)
        return np.zeros(n, dtype=np.float64)
    if not isinstance(step, (StandardScaler, RobustScaler, MinMaxScaler, MaxAbsScaler,
                             PowerTransformer)):
        raise _unsupported(step, path)

    check_is_fitted(step)
    _check_n_features(step, X, path)
    if isinstance(step, (StandardScaler, RobustScaler)):
        # x -> (x - center) / scale_; scale_ is None without scaling and 1 for constant
        # features (as scikit-learn's _handle_zeros_in_scale).
        if step.scale_ is None:
            return np.zeros(n, dtype=np.float64)
        return np.full(n, -_log_scale_sum(step.scale_), dtype=np.float64)
    if isinstance(step, MinMaxScaler):
        if step.clip:
            raise _unsupported(step, path, "with clip=True it maps every value outside the "
                                           "training range to the boundary, so it is not "
                                           "invertible (set clip=False)")
        # x -> x * scale_ + min_
        return np.full(n, _log_scale_sum(step.scale_), dtype=np.float64)
    if isinstance(step, MaxAbsScaler):
        # x -> x / scale_, scale_ = max_abs_ with zero columns set to 1.
        return np.full(n, -_log_scale_sum(step.scale_), dtype=np.float64)
    if sp.issparse(X):
        raise ValueError(f"Step {path!r} (PowerTransformer) does not accept sparse input.")
    return _power_log_derivative(step, X, path)


def log_abs_det_jacobian(transformer, X) -> np.ndarray:
    """Log absolute Jacobian determinant of a fitted preprocessing step, per sample.

    For an elementwise map ``T(x)_j = t_j(x_j)`` this is ``sum_j log |t_j'(x_j)|``, the
    term that turns a log-density of ``T(X)`` into one of ``X`` (change of variables,
    Papamakarios et al. 2021, Eq. 1):

    * ``StandardScaler``, ``RobustScaler``: ``-sum_j log scale_j`` (0 with
      ``with_std=False`` / ``with_scaling=False``; constant features have scale 1);
    * ``MinMaxScaler``: ``sum_j log scale_j`` (``clip=True`` is not invertible and raises);
    * ``MaxAbsScaler``: ``-sum_j log scale_j`` (``max_abs_`` with zero columns set to 1);
    * ``PowerTransformer``: the analytic derivative of each feature's power transform,
      ``(lambda_j - 1) log x_j`` for Box-Cox (Box & Cox 1964) and
      ``(lambda_j - 1) sign(x_j) log(1 + |x_j|)`` for Yeo-Johnson (Yeo & Johnson 2000),
      minus ``sum_j log scale_j`` of its internal standardiser when ``standardize=True``;
    * ``FunctionTransformer(func=None)``, ``None`` and ``"passthrough"``: 0;
    * a :class:`~sklearn.pipeline.Pipeline` of these: the sum over its steps, each at its
      own input;
    * any transformer with a ``log_abs_det_jacobian(X)`` method: what that method returns.

    Parameters
    ----------
    transformer : fitted transformer, Pipeline of transformers, None or "passthrough"
        The preprocessing step ``T``.
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        Points at which to evaluate the Jacobian, in the units of ``T``'s input.

    Returns
    -------
    log_abs_det : ndarray of shape (n_samples,), float64
        ``log |det dT/dx|`` at each row of ``X``, in nats (add it to a log-density of
        ``T(X)`` to get the log-density of ``X``). Constant for the affine scalers.

    Raises
    ------
    ValueError
        If the step (or a step of the pipeline) is not a supported invertible map --
        ``PCA``, ``PolynomialFeatures``, ``QuantileTransformer``, a ``FunctionTransformer``
        with a ``func``, a clipping ``MinMaxScaler``, ... -- (the message names the step,
        says why and what to do); if ``X`` has the wrong number of features; if a Box-Cox
        step gets non-positive values.
    sklearn.exceptions.NotFittedError
        If a step is not fitted.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed and
       B. Lakshminarayanan, "Normalizing Flows for Probabilistic Modeling and Inference",
       JMLR 22(57), 2021, Eq. 1 (change of variables).
    .. [2] I.-K. Yeo and R. A. Johnson, "A new family of power transformations to improve
       normality or symmetry", Biometrika 87(4), 2000.
    .. [3] G. E. P. Box and D. R. Cox, "An analysis of transformations", Journal of the
       Royal Statistical Society B 26(2), 1964.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.array([[0.0, 10.0], [2.0, 30.0]])
    >>> log_abs_det_jacobian(StandardScaler().fit(X), X)  # -log(1) - log(10)
    array([-2.30258509, -2.30258509])
    """
    name = "transformer" if not isinstance(transformer, Pipeline) else "pipeline"
    logdet, _ = _walk(transformer, X, name, need_output=False)
    return logdet


def _unwrap_search(estimator):
    """The refitted best estimator of a fitted search (``GridSearchCV`` and kin)."""
    from sklearn.model_selection._search import BaseSearchCV

    if isinstance(estimator, BaseSearchCV):
        check_is_fitted(estimator, "best_estimator_")
        return estimator.best_estimator_
    return estimator


def _score_samples(estimator, X, path: str) -> np.ndarray:
    estimator = _unwrap_search(estimator)
    if not isinstance(estimator, Pipeline):
        if estimator is None or isinstance(estimator, str) \
                or not hasattr(estimator, "score_samples"):
            raise ValueError(f"The final step {path!r} ({estimator!r}) has no score_samples "
                             f"method; the last step must be a fitted density estimator "
                             f"(FlowDensity, GaussianMixture, KernelDensity, ...).")
        return np.asarray(estimator.score_samples(X), dtype=np.float64)

    check_is_fitted(estimator)
    steps = estimator.steps
    logdet = np.zeros(_num_samples(X), dtype=np.float64)
    Xt = X
    for name, step in steps[:-1]:
        term, Xt = _walk(step, Xt, name if not path else f"{path}__{name}", need_output=True)
        logdet += term
    name, final = steps[-1]
    log_p = _score_samples(final, Xt, name if not path else f"{path}__{name}")
    return log_p + logdet


def score_samples_in_input_units(pipeline, X) -> np.ndarray:
    """Log-density of each row in the units of the raw ``X``, through a fitted pipeline.

    ``log p_X(x) = log p_T(T(x)) + log |det J_T(x)|`` (Papamakarios et al. 2021, Eq. 1):
    the steps of the pipeline are applied in turn, each step's
    :func:`log_abs_det_jacobian` is taken at that step's input and accumulated, and the
    final estimator's ``score_samples`` is added on the transformed data. With a
    ``StandardScaler`` in front this is ``final.score_samples(scaler.transform(X)) -
    sum(log(scaler.scale_))``, directly comparable with a density estimator fitted on the
    raw ``X`` or with a pipeline using another invertible preprocessing.

    Parameters
    ----------
    pipeline : fitted Pipeline, fitted search, or fitted density estimator
        A :class:`~sklearn.pipeline.Pipeline` whose last step has ``score_samples`` and
        whose other steps are supported by :func:`log_abs_det_jacobian` (nested pipelines
        are walked, also as last step). A fitted ``GridSearchCV``/``RandomizedSearchCV``
        is replaced by its ``best_estimator_``; any other estimator with
        ``score_samples`` is taken as a density in the units of its input (no
        preprocessing).
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Raw data, in the units the pipeline was fitted on.

    Returns
    -------
    log_density : ndarray of shape (n_samples,), float64
        ``log p(x)`` in nats, per unit of volume of the raw ``X``.

    Raises
    ------
    ValueError
        If a preprocessing step has no known log-Jacobian (the message names the step,
        says why and what to do), if the last step has no ``score_samples``, or on input
        the steps reject.
    sklearn.exceptions.NotFittedError
        If the pipeline is not fitted.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed and
       B. Lakshminarayanan, "Normalizing Flows for Probabilistic Modeling and Inference",
       JMLR 22(57), 2021, Eq. 1 (change of variables).
    .. [2] I.-K. Yeo and R. A. Johnson, "A new family of power transformations to improve
       normality or symmetry", Biometrika 87(4), 2000.
    .. [3] G. E. P. Box and D. R. Cox, "An analysis of transformations", Journal of the
       Royal Statistical Society B 26(2), 1964.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.random.RandomState(0).randn(200, 2) * [1.0, 100.0]
    >>> pipe = make_pipeline(StandardScaler(), GaussianMixture(reg_covar=0)).fit(X)
    >>> raw = GaussianMixture(reg_covar=0).fit(X)
    >>> bool(np.allclose(score_samples_in_input_units(pipe, X), raw.score_samples(X)))
    True
    """
    return _score_samples(pipeline, X, "")


def score_in_input_units(estimator, X, y=None) -> float:
    """Mean log-likelihood per sample (nats) in the units of the raw ``X``; a scorer.

    The mean of :func:`score_samples_in_input_units`. Its signature is that of a
    scikit-learn scorer, so ``GridSearchCV(pipe, param_grid,
    scoring=score_in_input_units)`` selects among pipelines with different invertible
    preprocessings (or none, ``"passthrough"``) on a common scale; larger is better.

    Parameters
    ----------
    estimator : fitted Pipeline, fitted search, or fitted density estimator
        As for :func:`score_samples_in_input_units`.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Raw data.
    y : Ignored
        Present for the scorer signature ``(estimator, X, y)``.

    Returns
    -------
    float
        ``mean(score_samples_in_input_units(estimator, X))``, in nats per sample.

    Raises
    ------
    ValueError
        As :func:`score_samples_in_input_units`.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    References
    ----------
    .. [1] G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed and
       B. Lakshminarayanan, "Normalizing Flows for Probabilistic Modeling and Inference",
       JMLR 22(57), 2021, Eq. 1 (change of variables).
    """
    return float(np.mean(score_samples_in_input_units(estimator, X)))
