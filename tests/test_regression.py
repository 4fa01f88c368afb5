"""FlowRegressor: a normalised conditional density, samples that follow it, exact 1-D
quantiles, bounded targets, and a near-optimal fit of a heteroscedastic law."""

import pickle

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.model_selection import GridSearchCV

from skflows import FlowRegressor
from skflows._testing import FAST_PARAMS

FAST = FAST_PARAMS["FlowRegressor"]


def heteroscedastic(n, seed=0):
    """y | x ~ N(sin 3x, (0.1 + |x|)^2), x ~ U(-1, 1)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    return X, np.sin(3 * X[:, 0]) + (0.1 + np.abs(X[:, 0])) * rng.normal(size=n)


def two_targets(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    Y = np.column_stack([X[:, 0] + 0.3 * rng.normal(size=n),
                         X[:, 0] * X[:, 1] + 0.5 * rng.normal(size=n)])
    return X, Y


@pytest.fixture(scope="module")
def fitted_1d():
    X, y = heteroscedastic(400)
    return FlowRegressor(**{**FAST, "max_epochs": 10, "n_predict_samples": 2048}).fit(X, y)


@pytest.fixture(scope="module")
def fitted_2d():
    X, Y = two_targets(400)
    return FlowRegressor(**{**FAST, "max_epochs": 10, "n_predict_samples": 4096}).fit(X, Y)


# ------------------------------------------------------------------ normalisation
@pytest.mark.parametrize("flow,ensemble_size", [("nsf", 1), ("realnvp", 1), ("nsf", 3)])
def test_density_integrates_to_one_over_a_1d_target(flow, ensemble_size):
    X, y = heteroscedastic(400)
    est = FlowRegressor(**{**FAST, "flow": flow, "ensemble_size": ensemble_size,
                           "max_epochs": 10}).fit(X, y)
    grid = np.linspace(-12, 12, 24001)
    densities = []
    for x in (-0.8, 0.0, 0.5):
        p = np.exp(est.log_prob(np.full((len(grid), 1), x), grid))
        assert np.trapezoid(p, grid) == pytest.approx(1.0, abs=2e-3)
        densities.append(p)
    assert not np.allclose(densities[0], densities[2])  # the density depends on x


@pytest.mark.parametrize("flow,conditioner",
                         [("nsf", "mlp"), ("realnvp", "mlp"), ("nsf", "residual")])
def test_density_integrates_to_one_over_a_2d_target(flow, conditioner):
    X, Y = two_targets(400)
    est = FlowRegressor(**{**FAST, "flow": flow, "conditioner": conditioner,
                           "max_epochs": 5}).fit(X, Y)
    axis = np.linspace(-9, 9, 361)
    g1, g2 = np.meshgrid(axis, axis, indexing="ij")
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    for x in ([0.0, 0.0], [1.0, -1.0]):
        p = np.exp(est.log_prob(np.tile(x, (len(grid), 1)), grid)).reshape(g1.shape)
        mass = np.trapezoid(np.trapezoid(p, axis, axis=1), axis)
        assert mass == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("bounds_transform", ["logit", "linear"])
def test_bounded_targets_stay_inside_and_integrate_to_one(bounds_transform):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(400, 1))
    y = np.clip(X[:, 0] + 0.1 * rng.normal(size=400), 0.01, 0.99)  # inside (0, 1)
    est = FlowRegressor(**{**FAST, "target_bounds": (0.0, 1.0), "max_epochs": 10,
                           "bounds_transform": bounds_transform}).fit(X, y)
    samples = est.sample_y(X[:50], n_samples=200, random_state=0)
    assert samples.shape == (50, 200)
    assert (samples > 0).all() and (samples < 1).all()
    # The density is a density on (0, 1): zero outside, mass one inside. The grid is
    # geometric towards the bounds, where "linear" packs the flow's far tails.
    edge = np.geomspace(1e-15, 1e-2, 4000)
    grid = np.unique(np.concatenate([np.linspace(0, 1, 200001)[1:-1], edge, 1 - edge]))
    for x in (0.1, 0.9):
        p = np.exp(est.log_prob(np.full((len(grid), 1), x), grid))
        assert np.trapezoid(p, grid) == pytest.approx(1.0, abs=2e-3)
    outside = est.log_prob(np.full((2, 1), 0.5), [-0.1, 1.1])
    assert np.isneginf(outside).all()
    with pytest.raises(ValueError, match="outside target_bounds"):
        FlowRegressor(**{**FAST, "target_bounds": (0.0, 0.5)}).fit(X, y)


def test_linear_bounds_keep_the_flow_unchanged_inside_and_warm_start_keeps_the_box():
    """With bounds_transform='linear' a target well inside the box sees the same flow as
    without bounds (the identity on the central 90 %), so the two fits agree there."""
    X, y = heteroscedastic(300)
    free = FlowRegressor(**{**FAST, "max_epochs": 3, "standardize": False}).fit(X, y)
    boxed = FlowRegressor(**{**FAST, "max_epochs": 3, "standardize": False,
                             "target_bounds": (-50.0, 50.0),
                             "bounds_transform": "linear"}).fit(X, y)
    grid = np.linspace(-3, 3, 7)
    Xg = np.full((7, 1), 0.2)
    np.testing.assert_allclose(boxed.log_prob(Xg, grid), free.log_prob(Xg, grid), atol=1e-5)
    logit = FlowRegressor(**{**FAST, "max_epochs": 3, "standardize": False,
                             "target_bounds": (-50.0, 50.0)}).fit(X, y)
    assert not np.allclose(logit.log_prob(Xg, grid), free.log_prob(Xg, grid), atol=1e-2)
    boxed.set_params(warm_start=True, bounds_transform="logit")
    with pytest.raises(ValueError, match="warm_start cannot change target_bounds"):
        boxed.fit(X, y)


def _cut_by_the_box(n=400, seed=0):
    """y | x ~ N(x, 0.3^2) on x ~ U(0, 1), kept inside (0, 1): a density the box cuts."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(3 * n, 1))
    y = X[:, 0] + 0.3 * rng.normal(size=3 * n)
    keep = np.flatnonzero((y > 0) & (y < 1))[:n]
    return X[keep], y[keep]


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_truncation_restricts_the_unbounded_flow_and_renormalises_it(ensemble_size):
    """bounds_transform='truncate' fits the same flow as no bounds and divides its
    density by its mass inside the box: log-densities differ by -log Q(box | x), the
    result integrates to one inside, samples follow it, and the quantiles solve its
    distribution function."""
    X, y = _cut_by_the_box()
    params = {**FAST, "max_epochs": 5, "ensemble_size": ensemble_size}
    free = FlowRegressor(**params).fit(X, y)
    cut = FlowRegressor(**params, target_bounds=(0.0, 1.0),
                        bounds_transform="truncate").fit(X, y)
    inside = np.linspace(0, 1, 20001)[1:-1]
    for x in (0.05, 0.5):
        Xg = np.full((len(inside), 1), x)
        free_p = np.exp(free.log_prob(Xg, inside))
        mass = np.trapezoid(free_p, inside)
        assert 0.3 < mass < 0.999  # the flow leaks: truncation has work to do
        np.testing.assert_allclose(cut.log_prob(Xg, inside), np.log(free_p / mass),
                                   atol=2e-4)
        assert np.trapezoid(np.exp(cut.log_prob(Xg, inside)), inside) == pytest.approx(
            1.0, abs=1e-3)
        samples = cut.sample_y([[x]], n_samples=4000, random_state=0)[0]
        assert ((samples > 0) & (samples < 1)).all()
        cdf = np.concatenate([[0], np.cumsum((free_p[1:] + free_p[:-1]) / 2
                                             * np.diff(inside))]) / mass
        empirical = np.searchsorted(np.sort(samples), inside, side="right") / len(samples)
        assert np.abs(empirical - cdf).max() < 0.03  # Kolmogorov-Smirnov distance
        levels = (0.01, 0.25, 0.5, 0.75, 0.99)
        quantiles = cut.predict_quantiles([[x]], levels)[0]
        assert (np.diff(quantiles) > 0).all() and (quantiles > 0).all() and (quantiles < 1).all()
        np.testing.assert_allclose(np.interp(quantiles, inside, cdf), levels, atol=2e-3)
        mean = cut.predict([[x]])[0]
        assert mean == pytest.approx(np.trapezoid(inside * free_p, inside) / mass, abs=0.02)
    assert np.isneginf(cut.log_prob([[0.5], [0.5]], [-0.1, 1.1])).all()
    cut.set_params(warm_start=True, bounds_transform="linear")
    with pytest.raises(ValueError, match="warm_start cannot change"):
        cut.fit(X, y)


def test_truncation_of_several_targets():
    """Two targets: the box's mass comes from the Sobol points, so the density
    integrates to one inside up to that estimate; every sample lies inside; a row whose
    mass inside is too small to sample raises an error instead of looping."""
    X, Y = two_targets(400)
    box = ([-1.0, -1.0], [1.0, 1.0])
    Y, X = Y[(np.abs(Y) < 1).all(1)], X[(np.abs(Y) < 1).all(1)]
    est = FlowRegressor(**{**FAST, "max_epochs": 5, "n_predict_samples": 4096,
                           "target_bounds": box, "bounds_transform": "truncate"}).fit(X, Y)
    axis = np.linspace(-1, 1, 401)[1:-1]
    g1, g2 = np.meshgrid(axis, axis, indexing="ij")
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    for x in ([0.0, 0.0], [0.8, -0.5]):
        p = np.exp(est.log_prob(np.tile(x, (len(grid), 1)), grid)).reshape(g1.shape)
        assert np.trapezoid(np.trapezoid(p, axis, axis=1), axis) == pytest.approx(1.0, abs=0.02)
    draws = est.sample_y(X[:20], n_samples=300, random_state=0)
    assert draws.shape == (20, 2, 300) and (np.abs(draws) < 1).all()
    assert (np.abs(est.predict(X[:20])) < 1).all()
    q = est.predict_quantiles(X[:5], (0.1, 0.9))
    assert (q[..., 0] < q[..., 1]).all() and (np.abs(q) < 1).all()
    est.module_.max_draws_per_sample = 1  # the first round's draws are all it may use
    with pytest.raises(RuntimeError, match="truncated sampling stopped"):
        est.sample_y(X[:20], n_samples=300, random_state=0)


def test_one_sided_and_per_target_bounds():
    X, Y = two_targets(300)
    Y = np.column_stack([np.exp(Y[:, 0]), Y[:, 1]])  # a positive first target
    est = FlowRegressor(**{**FAST, "target_bounds": ([0.0, -np.inf], [np.inf, np.inf])})
    draws = est.fit(X, Y).sample_y(X[:20], n_samples=100, random_state=0)
    assert draws.shape == (20, 2, 100) and (draws[:, 0] > 0).all()
    with pytest.raises(ValueError, match="low < high"):
        FlowRegressor(**{**FAST, "target_bounds": (1.0, 0.0)}).fit(X, Y[:, 1])


# ------------------------------------------------------------------ samples, quantiles
def test_samples_follow_the_density(fitted_1d):
    x = 0.3
    samples = fitted_1d.sample_y([[x]], n_samples=4000, random_state=0)[0]
    grid = np.linspace(-10, 10, 20001)
    p = np.exp(fitted_1d.log_prob(np.full((len(grid), 1), x), grid))
    cdf = np.concatenate([[0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid))])
    empirical = np.searchsorted(np.sort(samples), grid, side="right") / len(samples)
    assert np.abs(empirical - cdf).max() < 0.03  # Kolmogorov-Smirnov distance


def test_1d_quantiles_are_exact_and_monotone(fitted_1d):
    X = np.array([[-0.5], [0.2]])
    levels = np.linspace(0.02, 0.98, 13)
    q = fitted_1d.predict_quantiles(X, levels)
    assert q.shape == (2, 13) and (np.diff(q, axis=1) > 0).all()
    # The CDF (integrated density) at each quantile is its level.
    for i, x in enumerate(X[:, 0]):
        grid = np.linspace(-10, 10, 40001)
        p = np.exp(fitted_1d.log_prob(np.full((len(grid), 1), x), grid))
        cdf = np.concatenate([[0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(grid))])
        np.testing.assert_allclose(np.interp(q[i], grid, cdf), levels, atol=2e-3)
    samples = fitted_1d.sample_y(X, n_samples=20000, random_state=1)
    np.testing.assert_allclose(np.quantile(samples, levels, axis=1).T, q, atol=0.05)
    interval = fitted_1d.predict_interval(X, coverage=0.9)
    np.testing.assert_allclose(interval, fitted_1d.predict_quantiles(X, (0.05, 0.95)))


def test_multi_output_quantiles_match_sample_quantiles(fitted_2d):
    X = np.array([[0.5, -0.5], [-1.0, 1.0]])
    levels = (0.1, 0.5, 0.9)
    q = fitted_2d.predict_quantiles(X, levels)
    assert q.shape == (2, 2, 3) and (np.diff(q, axis=-1) >= 0).all()
    samples = fitted_2d.sample_y(X, n_samples=20000, random_state=0)
    assert samples.shape == (2, 2, 20000)
    np.testing.assert_allclose(np.quantile(samples, levels, axis=-1).transpose(1, 2, 0), q,
                               atol=0.05)
    np.testing.assert_allclose(fitted_2d.predict(X), samples.mean(-1), atol=0.03)
    assert fitted_2d.predict_interval(X).shape == (2, 2, 2)


def test_predict_is_deterministic_and_row_independent(fitted_1d):
    X, _ = heteroscedastic(50, seed=3)
    full = fitted_1d.predict(X)
    assert full.shape == (50,) and full.dtype == np.float64
    np.testing.assert_array_equal(fitted_1d.predict(X), full)
    np.testing.assert_allclose(fitted_1d.predict(X[10:13]), full[10:13], rtol=1e-6)
    # The mean of 20000 random draws agrees with the quasi-Monte-Carlo mean.
    draws = fitted_1d.sample_y(X[:5], n_samples=20000, random_state=0)
    np.testing.assert_allclose(draws.mean(1), full[:5], atol=0.02)
    # Seeded draws repeat; unseeded ones differ.
    np.testing.assert_array_equal(fitted_1d.sample_y(X[:3], 4, random_state=0),
                                  fitted_1d.sample_y(X[:3], 4, random_state=0))


# ------------------------------------------------------------------ quality
def test_heteroscedastic_fit_is_near_the_true_conditional_entropy():
    X, y = heteroscedastic(4000, seed=0)
    X_test, y_test = heteroscedastic(4000, seed=1)
    est = FlowRegressor(flow="realnvp", n_layers=4, hidden_dims=(64, 64), max_epochs=200,
                        device="cpu", random_state=0).fit(X, y)
    sigma = 0.1 + np.abs(X_test[:, 0])
    best = np.mean(norm.logpdf(y_test, np.sin(3 * X_test[:, 0]), sigma))  # -H(y | x)
    assert est.score(X_test, y_test) > best - 0.05
    interval = est.predict_interval(X_test, coverage=0.9)
    covered = np.mean((y_test >= interval[:, 0]) & (y_test <= interval[:, 1]))
    assert covered == pytest.approx(0.9, abs=0.02)


# ------------------------------------------------------------------ API
def test_score_is_the_mean_log_likelihood_and_drives_grid_search(fitted_1d):
    X, y = heteroscedastic(200, seed=5)
    assert fitted_1d.score(X, y) == pytest.approx(fitted_1d.log_prob(X, y).mean())
    search = GridSearchCV(FlowRegressor(**FAST), {"hidden_dims": [(4,), (8,)]}, cv=2)
    search.fit(X, y)
    assert np.isfinite(search.best_score_)


def test_errors(fitted_1d, fitted_2d):
    X, y = heteroscedastic(20)
    with pytest.raises(ValueError, match="requires y"):
        FlowRegressor(**FAST).fit(X, None)
    with pytest.raises(ValueError, match="target"):
        fitted_2d.log_prob(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="quantiles"):
        fitted_1d.predict_quantiles(X, (0.0, 0.5))
    with pytest.raises(ValueError, match="coverage"):
        fitted_1d.predict_interval(X, coverage=1.5)
    with pytest.raises(ValueError, match="n_samples"):
        fitted_1d.sample_y(X, n_samples=0)
    with pytest.raises(ValueError, match="NaN"):
        fitted_1d.log_prob(X, np.full(20, np.nan))
    assert not hasattr(fitted_1d, "predict_proba")


def test_pickle_round_trip(fitted_1d):
    X, y = heteroscedastic(30, seed=7)
    restored = pickle.loads(pickle.dumps(fitted_1d))
    np.testing.assert_array_equal(restored.log_prob(X, y), fitted_1d.log_prob(X, y))
    np.testing.assert_array_equal(restored.predict(X), fitted_1d.predict(X))


# ------------------------------------------------------------------ deep ensembles
@pytest.fixture(scope="module")
def ensemble_1d():
    X, y = heteroscedastic(400)
    return FlowRegressor(**{**FAST, "max_epochs": 10, "ensemble_size": 3,
                            "n_predict_samples": 1024}).fit(X, y)


def test_ensemble_log_prob_is_the_uniform_mixture_of_distinct_members(ensemble_1d):
    import torch
    from skflows.regression import conditional_nll, ensemble_member_nll

    X, y = heteroscedastic(50, seed=3)
    module = ensemble_1d.module_
    xt, yt = torch.from_numpy(X), torch.from_numpy(y[:, None])
    with torch.no_grad():
        members = module.member_log_prob(yt, xt).numpy()
        assert members.shape == (3, 50)
        # Independently initialised and trained: the members differ.
        assert np.abs(members[0] - members[1]).max() > 1e-3
        mixture = np.logaddexp.reduce(members, axis=0) - np.log(3)
        np.testing.assert_allclose(ensemble_1d.log_prob(X, y), mixture, rtol=1e-10)
        # Jensen: the mixture's NLL is at most the members' mean NLL.
        assert float(conditional_nll(module, xt, yt)) <= float(
            ensemble_member_nll(module, xt, yt)) + 1e-12
        assert float(ensemble_member_nll(module, xt, yt)) == pytest.approx(
            -members.mean(), rel=1e-10)


def test_ensemble_quantiles_solve_the_mixture_cdf_and_match_samples(ensemble_1d):
    import torch

    X = np.array([[-0.8], [0.0], [0.6]])
    levels = (0.05, 0.25, 0.5, 0.9)
    q = ensemble_1d.predict_quantiles(X, levels)
    assert q.shape == (3, 4) and (np.diff(q, axis=1) > 0).all()
    module = ensemble_1d.module_
    with torch.no_grad():
        for j, level in enumerate(levels):
            cdf = module.cdf(torch.from_numpy(q[:, j:j + 1]), torch.from_numpy(X)).numpy()
            np.testing.assert_allclose(cdf, level, atol=1e-9)
    draws = ensemble_1d.sample_y(X, 20000, random_state=0)
    width = q[:, -1:] - q[:, :1]
    assert (np.abs(np.quantile(draws, levels, axis=1).T - q) < 0.04 * width).all()
    # The mean is the average over the members' (pooled) Sobol images.
    np.testing.assert_allclose(ensemble_1d.predict(X), draws.mean(axis=1),
                               atol=0.03 * float(np.ptp(q)))


def test_ensemble_draws_use_every_member_and_multi_output_shapes():
    X, Y = two_targets(300)
    est = FlowRegressor(**{**FAST, "max_epochs": 5, "ensemble_size": 2}).fit(X, Y)
    assert est.sample_y(X[:4], 7, random_state=0).shape == (4, 2, 7)
    assert est.predict_quantiles(X[:4]).shape == (4, 2, 3)
    assert est.predict(X[:4]).shape == (4, 2)
    np.testing.assert_array_equal(est.sample_y(X[:2], 5, random_state=1),
                                  est.sample_y(X[:2], 5, random_state=1))
    with pytest.raises(ValueError, match="ensemble_size"):
        est.set_params(warm_start=True, ensemble_size=3).fit(X, Y)


# ------------------------------------------------------------------ temperature
@pytest.mark.parametrize("ensemble_size", [1, 2])
def test_temperature_maximises_the_validation_likelihood(ensemble_size):
    X, y = heteroscedastic(300)
    est = FlowRegressor(**{**FAST, "max_epochs": 8, "ensemble_size": ensemble_size,
                           "calibration": "temperature"}).fit(X, y)
    rows = est.net_.validation_rows_
    assert len(rows) == 30 and est.temperature_ == est.module_.temperature != 1.0
    best = est.score(X[rows], y[rows])
    t = est.temperature_
    for factor in (0.97, 1.03):
        est.module_.temperature = t * factor
        assert est.score(X[rows], y[rows]) < best
    est.module_.temperature = t
    # An untempered refit of the same settings has the same weights: only t differs.
    plain = FlowRegressor(**{**FAST, "max_epochs": 8, "ensemble_size": ensemble_size}
                          ).fit(X, y)
    assert plain.temperature_ == 1.0
    plain.module_.temperature = t
    np.testing.assert_allclose(plain.log_prob(X, y), est.log_prob(X, y), rtol=1e-10)


def test_a_tempered_flow_is_still_a_normalised_density_with_matching_quantiles(fitted_1d):
    import copy

    est = copy.deepcopy(fitted_1d)
    est.module_.temperature = 1.7
    grid = np.linspace(-20, 20, 40001)
    x = np.full((len(grid), 1), 0.3)
    assert np.trapezoid(np.exp(est.log_prob(x, grid)), grid) == pytest.approx(1.0, abs=2e-3)
    q = est.predict_quantiles([[0.3]], (0.05, 0.5, 0.95))[0]
    cdf = np.cumsum(np.exp(est.log_prob(x, grid))) * (grid[1] - grid[0])
    np.testing.assert_allclose(np.interp(q, grid, cdf), (0.05, 0.5, 0.95), atol=3e-3)
    draws = est.sample_y([[0.3]], 20000, random_state=0)[0]
    np.testing.assert_allclose(np.quantile(draws, (0.05, 0.5, 0.95)), q,
                               atol=0.03 * (q[2] - q[0]))
    # Wider than the untempered flow's interval, around the same median.
    q1 = fitted_1d.predict_quantiles([[0.3]], (0.05, 0.5, 0.95))[0]
    assert q[2] - q[0] > 1.3 * (q1[2] - q1[0])


def test_temperature_needs_validation_rows():
    X, y = heteroscedastic(50)
    with pytest.raises(ValueError, match="validation_fraction > 0"):
        FlowRegressor(**{**FAST, "calibration": "temperature",
                         "validation_fraction": 0.0}).fit(X, y)


def test_plateau_schedule_halves_the_rate_after_patience_epochs_without_progress():
    """lr_schedule='plateau': the rate starts at lr and is halved exactly when the
    monitored validation NLL has gone max(1, n_iter_no_change // 4) epochs without an
    improvement of tol; 'constant' never changes it."""
    X, y = heteroscedastic(300)
    params = {**FAST, "max_epochs": 40, "n_iter_no_change": 8, "lr": 3e-2, "tol": 1e-2}
    est = FlowRegressor(**params, lr_schedule="plateau").fit(X, y)
    history = est.net_.history
    monitored = np.array(history[:, "monitored"], dtype=float)
    rates = np.array(history[:, "event_lr"], dtype=float)  # the rate of each epoch
    patience, expected, best, bad, lr = 2, [], np.inf, 0, params["lr"]
    for value in monitored:  # ReduceLROnPlateau's rule, threshold_mode="abs"
        expected.append(lr)
        if value < best - params["tol"]:
            best, bad = value, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr / 2, 0
    np.testing.assert_allclose(rates, expected)
    assert rates.min() < params["lr"]  # this short, noisy fit did stall
    constant = FlowRegressor(**params).fit(X, y)
    assert constant.net_.optimizer_.param_groups[0]["lr"] == params["lr"]


def test_a_tempered_truncated_flow_is_still_normalised_inside_the_box():
    X, y = _cut_by_the_box(300)
    est = FlowRegressor(**{**FAST, "max_epochs": 5, "target_bounds": (0.0, 1.0),
                           "bounds_transform": "truncate",
                           "calibration": "temperature"}).fit(X, y)
    assert est.temperature_ != 1.0
    inside = np.linspace(0, 1, 20001)[1:-1]
    for x in (0.1, 0.7):
        p = np.exp(est.log_prob(np.full((len(inside), 1), x), inside))
        assert np.trapezoid(p, inside) == pytest.approx(1.0, abs=1e-3)
        median = est.predict_quantiles([[x]], 0.5)[0, 0]
        cdf = np.concatenate([[0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(inside))])
        assert np.interp(median, inside, cdf) == pytest.approx(0.5, abs=2e-3)
