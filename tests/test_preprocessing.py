"""Log-densities in the units of the raw X after invertible preprocessing: exact
identities for the affine scalers, affine equivariance of a Gaussian, numerical Jacobians
of the power transforms, normalisation, nesting, pandas, search scoring and errors."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (FunctionTransformer, MaxAbsScaler, MinMaxScaler,
                                   PolynomialFeatures, PowerTransformer,
                                   QuantileTransformer, RobustScaler, StandardScaler)

import skflows.preprocessing as preprocessing
from skflows import FlowDensity
from skflows._testing import FAST_PARAMS
from skflows.preprocessing import (log_abs_det_jacobian, score_in_input_units,
                                   score_samples_in_input_units)

SCALES = np.array([0.01, 1.0, 250.0])


def _data(n=200, seed=0, positive=False):
    """Correlated Gaussian data with very different feature scales (and offsets)."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    X = X * SCALES + np.array([5.0, -2.0, 1000.0])
    if positive:
        X = np.abs(X) + 0.1
    return X


def _gm():
    # reg_covar=0: the covariance is the exact MLE, so the model is affine-equivariant.
    return GaussianMixture(n_components=1, covariance_type="full", reg_covar=0.0,
                           random_state=0)


# ------------------------------------------------------------------ exact identities
def test_standard_scaler_gaussian_equals_raw_fit():
    X = _data()
    pipe = Pipeline([("scale", StandardScaler()), ("gm", _gm())]).fit(X)
    raw = _gm().fit(X)
    ours = score_samples_in_input_units(pipe, X)
    assert ours.shape == (len(X),) and ours.dtype == np.float64
    assert_allclose(ours, raw.score_samples(X), rtol=1e-10, atol=1e-8)
    # the naive pipeline score is off by the log-volume of the scaling
    naive = pipe.score_samples(X)
    assert_allclose(naive - ours, np.sum(np.log(pipe["scale"].scale_)), rtol=1e-10)
    assert abs(np.sum(np.log(pipe["scale"].scale_))) > 1.0


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler(), MaxAbsScaler(),
                                    RobustScaler()], ids=lambda s: type(s).__name__)
def test_affine_scalers_are_exact(scaler):
    X = _data()
    pipe = Pipeline([("scale", scaler), ("gm", _gm())]).fit(X)
    fitted = pipe["scale"]
    log_p = pipe["gm"].score_samples(fitted.transform(X))
    if isinstance(scaler, MinMaxScaler):
        expected = log_p + np.sum(np.log(fitted.scale_))
    else:
        expected = log_p - np.sum(np.log(fitted.scale_))
    assert_array_equal(score_samples_in_input_units(pipe, X), expected)
    # every affine preprocessing gives the raw-X Gaussian (affine equivariance)
    assert_allclose(score_samples_in_input_units(pipe, X), _gm().fit(X).score_samples(X),
                    rtol=1e-10, atol=1e-8)


def test_scaler_options_and_zero_columns():
    X = _data(50)
    X[:, 1] = 0.0  # zero / constant column: scikit-learn uses scale 1 for it
    n = len(X)
    assert_array_equal(log_abs_det_jacobian(StandardScaler(with_std=False).fit(X), X),
                       np.zeros(n))
    assert_array_equal(log_abs_det_jacobian(RobustScaler(with_scaling=False).fit(X), X),
                       np.zeros(n))
    std = StandardScaler().fit(X)
    assert std.scale_[1] == 1.0
    assert_allclose(log_abs_det_jacobian(std, X), -np.log(X[:, [0, 2]].std(0)).sum())
    mas = MaxAbsScaler().fit(X)
    assert mas.max_abs_[1] == 0.0
    assert_allclose(log_abs_det_jacobian(mas, X), -np.log(np.abs(X[:, [0, 2]]).max(0)).sum())
    mms = MinMaxScaler(feature_range=(-1.0, 3.0)).fit(X)
    span = X[:, [0, 2]].max(0) - X[:, [0, 2]].min(0)
    # a constant column has data range 1 there, so it is scaled by the width 4 too
    assert_allclose(log_abs_det_jacobian(mms, X), np.log(4.0 / span).sum() + np.log(4.0))
    for step in (None, "passthrough", FunctionTransformer()):
        if isinstance(step, FunctionTransformer):
            step.fit(X)
        assert_array_equal(log_abs_det_jacobian(step, X), np.zeros(n))


# ------------------------------------------------------------------ power transforms
def _numerical_log_abs_det(transformer, X, rel_step=1e-6):
    """sum_j log |dT_j/dx_j| by central differences, one feature at a time."""
    total = np.zeros(len(X))
    for j in range(X.shape[1]):
        h = rel_step * np.maximum(np.abs(X[:, j]), 1.0)
        Xp, Xm = X.copy(), X.copy()
        Xp[:, j] += h
        Xm[:, j] -= h
        dj = (transformer.transform(Xp)[:, j] - transformer.transform(Xm)[:, j]) / (2 * h)
        total += np.log(np.abs(dj))
    return total


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_power_transformer_matches_numerical_jacobian(method, standardize):
    rng = np.random.RandomState(1)
    X = np.column_stack([rng.lognormal(0.0, 0.7, 300), rng.gamma(2.0, 3.0, 300),
                         rng.exponential(0.5, 300)])
    if method == "yeo-johnson":
        X[:, 2] -= 0.6  # values of both signs
    pt = PowerTransformer(method=method, standardize=standardize).fit(X)
    assert not np.allclose(pt.lambdas_, 1.0)
    assert_allclose(log_abs_det_jacobian(pt, X), _numerical_log_abs_det(pt, X), rtol=1e-5,
                    atol=1e-7)
    # the special cases lambda = 0 (and 2 for Yeo-Johnson) of both formulas
    pt.lambdas_ = np.array([0.0, 2.0, -0.7] if method == "yeo-johnson" else [0.0, 2.0, 0.4])
    assert_allclose(log_abs_det_jacobian(pt, X), _numerical_log_abs_det(pt, X), rtol=1e-5,
                    atol=1e-7)


@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_power_transformed_density_integrates_to_one(method):
    rng = np.random.RandomState(0)
    x = rng.gamma(2.0, 2.0, (400, 1))
    pipe = Pipeline([("pt", PowerTransformer(method=method)), ("gm", _gm())]).fit(x)
    # integrate in u = log(x) (dx = x du), resolving the behaviour near 0; Yeo-Johnson
    # also puts mass on x < 0, integrated on a linear grid
    u = np.linspace(-40.0, np.log(500.0), 200_001)
    x_pos = np.exp(u)[:, None]
    ours = np.trapezoid(np.exp(score_samples_in_input_units(pipe, x_pos)) * x_pos[:, 0], u)
    naive = np.trapezoid(np.exp(pipe.score_samples(x_pos)) * x_pos[:, 0], u)
    if method == "yeo-johnson":
        x_neg = np.linspace(-500.0, 0.0, 200_001)[:, None]
        ours += np.trapezoid(np.exp(score_samples_in_input_units(pipe, x_neg)), x_neg[:, 0])
        naive += np.trapezoid(np.exp(pipe.score_samples(x_neg)), x_neg[:, 0])
    assert_allclose(ours, 1.0, atol=1e-4)
    assert abs(naive - 1.0) > 0.5  # the transformed-units density is not a density of x


def test_box_cox_rejects_non_positive_values():
    X = _data(positive=True)
    pt = PowerTransformer(method="box-cox").fit(X)
    with pytest.raises(ValueError, match="strictly positive"):
        log_abs_det_jacobian(pt, X - 100.0)


# ------------------------------------------------------------------ pipelines
def test_nested_pipelines_and_passthrough():
    X = _data(positive=True)
    inner = Pipeline([("pt", PowerTransformer(method="box-cox")), ("skip", "passthrough"),
                      ("mm", MinMaxScaler())])
    pipe = Pipeline([("none", None), ("pre", inner),
                     ("model", Pipeline([("mas", MaxAbsScaler()), ("gm", _gm())]))]).fit(X)
    pt, mm, mas = pipe["pre"]["pt"], pipe["pre"]["mm"], pipe["model"]["mas"]
    X1 = pt.transform(X)
    X2 = mm.transform(X1)
    expected = (pipe["model"]["gm"].score_samples(mas.transform(X2))
                + log_abs_det_jacobian(pt, X) + np.sum(np.log(mm.scale_))
                - np.sum(np.log(mas.scale_)))
    assert_allclose(score_samples_in_input_units(pipe, X), expected, rtol=1e-12)
    # the Jacobian of a whole pipeline of transformers is the sum over its steps
    assert_allclose(log_abs_det_jacobian(pipe["pre"], X),
                    log_abs_det_jacobian(pt, X) + np.sum(np.log(mm.scale_)), rtol=1e-12)


def test_bare_estimator_and_fitted_search():
    X = _data()
    gm = _gm().fit(X)
    assert_array_equal(score_samples_in_input_units(gm, X), gm.score_samples(X))
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("gm", _gm())]),
                          {"gm__covariance_type": ["full"]}, cv=2).fit(X)
    assert_array_equal(score_samples_in_input_units(search, X),
                       score_samples_in_input_units(search.best_estimator_, X))


def test_dataframe_input():
    X = _data(positive=True)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    steps = [("pt", PowerTransformer()), ("scale", StandardScaler()), ("gm", _gm())]
    on_array = score_samples_in_input_units(Pipeline(steps).fit(X), X)
    pipe = Pipeline([(n, s) for n, s in steps]).fit(df)
    assert_allclose(score_samples_in_input_units(pipe, df), on_array, rtol=1e-12)
    pandas_out = Pipeline([("pt", PowerTransformer()), ("scale", StandardScaler())])
    pandas_out.set_output(transform="pandas")
    pipe = Pipeline([("pre", pandas_out), ("gm", _gm())]).fit(df)
    assert_allclose(score_samples_in_input_units(pipe, df), on_array, rtol=1e-12)


def test_scorer_in_grid_search_compares_preprocessings():
    X = _data()
    pipe = Pipeline([("scale", StandardScaler()), ("gm", _gm())])
    grid = {"scale": [StandardScaler(), MinMaxScaler(), "passthrough"]}
    cv = KFold(3, shuffle=True, random_state=0)
    ours = GridSearchCV(pipe, grid, scoring=score_in_input_units, cv=cv).fit(X)
    # a Gaussian is affine-equivariant: every preprocessing scores the same in raw units
    assert_allclose(ours.cv_results_["mean_test_score"],
                    ours.cv_results_["mean_test_score"][2], rtol=1e-9)
    naive = GridSearchCV(pipe, grid, cv=cv).fit(X).cv_results_["mean_test_score"]
    assert np.ptp(naive) > 1.0  # the transformed-units scores are not comparable
    assert score_in_input_units(ours.best_estimator_, X) == pytest.approx(
        np.mean(score_samples_in_input_units(ours.best_estimator_, X)))
    assert isinstance(score_in_input_units(ours, X), float)


def test_custom_transformer_with_its_own_jacobian():
    class Doubler(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return 2.0 * np.asarray(X)

        def log_abs_det_jacobian(self, X):
            return np.full(len(X), np.asarray(X).shape[1] * np.log(2.0))

    X = _data()
    pipe = Pipeline([("double", Doubler()), ("gm", _gm())]).fit(X)
    assert_allclose(score_samples_in_input_units(pipe, X), _gm().fit(X).score_samples(X),
                    rtol=1e-10, atol=1e-8)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("step, why", [
    (PCA(n_components=2), "mixes features"),
    (PolynomialFeatures(), "adds features"),
    (QuantileTransformer(n_quantiles=50), "quantile"),
    (FunctionTransformer(np.arcsinh), "arbitrary func"),
    (MinMaxScaler(clip=True), "clip"),
], ids=lambda v: type(v).__name__ if not isinstance(v, str) else "")
def test_unsupported_step_raises_naming_it(step, why):
    X = _data(positive=True)
    gm = GaussianMixture(n_components=1, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("my_step", step), ("gm", gm)]).fit(X)
    with pytest.raises(ValueError, match="my_step") as info:
        score_samples_in_input_units(pipe, X)
    message = str(info.value)
    assert type(step).__name__ in message and why in message
    assert "log_abs_det_jacobian" in message  # says what to do
    nested = Pipeline([("outer", Pipeline([("inner", step)])), ("gm", gm)]).fit(X)
    with pytest.raises(ValueError, match="outer__inner"):
        score_samples_in_input_units(nested, X)


def test_other_errors():
    X = _data()
    with pytest.raises(NotFittedError):
        score_samples_in_input_units(Pipeline([("s", StandardScaler()), ("gm", _gm())]), X)
    with pytest.raises(NotFittedError):
        log_abs_det_jacobian(StandardScaler(), X)
    no_density = Pipeline([("s", StandardScaler()), ("t", MinMaxScaler())]).fit(X)
    with pytest.raises(ValueError, match="score_samples"):
        score_samples_in_input_units(no_density, X)
    with pytest.raises(ValueError, match="features"):
        log_abs_det_jacobian(StandardScaler().fit(X), X[:, :2])
    with pytest.raises(ValueError, match="no transform"):
        log_abs_det_jacobian(Pipeline([("gm", _gm().fit(X))]), X)


# ------------------------------------------------------------------ FlowDensity
def test_flow_density_in_input_units():
    fast = FAST_PARAMS["FlowDensity"]
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2) @ np.array([[1.0, 0.4], [0.0, 1.0]])
    X[:, 0] += np.where(rng.rand(300) < 0.5, -3.0, 3.0)
    X = X * np.array([40.0, 15.0]) + np.array([500.0, -20.0])
    pipe = Pipeline([("scale", StandardScaler()), ("flow", FlowDensity(**fast))]).fit(X)
    raw = FlowDensity(**fast).fit(X).score_samples(X)
    ours = score_samples_in_input_units(pipe, X)
    expected = (pipe["flow"].score_samples(pipe["scale"].transform(X))
                - np.sum(np.log(pipe["scale"].scale_)))
    assert_array_equal(ours, expected)
    naive_gap = np.abs(pipe.score_samples(X) - raw)
    assert naive_gap.min() > 5.0
    assert np.abs(ours - raw).max() < 0.01 * naive_gap.min()


# ------------------------------------------------------------------ documentation
def test_public_docstrings_are_complete():
    docscrape = pytest.importorskip("numpydoc.docscrape")
    assert preprocessing.__doc__ and "Design" in preprocessing.__doc__
    for name in preprocessing.__all__:
        func = getattr(preprocessing, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = docscrape.NumpyDocString(inspect.getdoc(func))
        for section in ("Parameters", "Returns", "Raises", "References"):
            assert doc[section], f"{name} lacks {section}"
