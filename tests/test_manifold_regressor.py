"""Tests for ManifoldFlowRegressor (the conditional M-flow) and the context of its torch
module: a normalised conditional density on a learned curve, a manifold that depends on
X only when asked to, samples on the manifold, the fixed-manifold likelihood of
posterior sampling, shapes, errors and persistence."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skflows import ManifoldFlow, ManifoldFlowRegressor
from skflows._testing import FAST_PARAMS
from skflows.inference import sample_posterior
from skflows.nn import coupling_flow
from skflows.nn.manifold import ManifoldFlowModule, align_chart

FAST = FAST_PARAMS["ManifoldFlowRegressor"]


def conditional_circle(n, seed=0, radius_slope=0.0):
    """``x ~ U(-1, 1)``; ``y`` on a circle (radial noise 0.01) at the angle
    ``0.8 x + 0.3 N(0, 1)``, of radius ``1 + radius_slope * x``."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    angle = 0.8 * X[:, 0] + 0.3 * rng.normal(size=n)
    radius = 1 + radius_slope * X[:, 0] + 0.01 * rng.normal(size=n)
    return X, radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])


@pytest.fixture(scope="module")
def data():
    return conditional_circle(600)


@pytest.fixture(scope="module")
def fitted(data):
    # Small but trained enough to follow the arc and its dependence on x (~3 s).
    with torch.random.fork_rng(devices=[]):
        return ManifoldFlowRegressor(n_components=1, n_layers_outer=3, n_layers_inner=2,
                                     hidden_dims=(16,), n_bins=4, max_epochs=10,
                                     batch_size=64, lr=3e-3, device="cpu",
                                     random_state=0).fit(*data)


def column(value, n):
    return np.full((n, 1), value)


# ---------------------------------------------------------------------------- module
def random_conditional_module(D=4, n=2, c=3, condition_manifold=True, seed=0):
    """A conditional manifold module with all weights random."""
    g = torch.Generator().manual_seed(seed)
    outer = coupling_flow(D, n_layers=3, hidden_dims=(16,), n_bins=4, permutation="lu",
                          generator=g, context_features=c if condition_manifold else 0)
    inner = coupling_flow(n, n_layers=2, hidden_dims=(16,), n_bins=4, permutation="lu",
                          generator=g, context_features=c)
    module = ManifoldFlowModule(outer, inner, n, context_shift=torch.full((c,), 0.5),
                                context_scale=torch.full((c,), 2.0))
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module.double()


@pytest.mark.parametrize("condition_manifold", [False, True])
def test_conditional_log_det_matches_brute_force_jacobian(condition_manifold):
    D, n, c = 4, 2, 3
    module = random_conditional_module(D, n, c, condition_manifold)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, D, dtype=torch.float64, generator=g)
    ctx = torch.randn(5, c, dtype=torch.float64, generator=g)
    with torch.no_grad():
        log_prob, x_hat = module.manifold_log_prob(x, ctx)
    h = module.chart(x, ctx).detach()
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(
            lambda v: module.decode_chart(v.unsqueeze(0), ctx[i:i + 1])[0], h[i])
        brute = (module.chart_log_prob(h[i:i + 1], ctx[i:i + 1])[0]
                 - 0.5 * torch.logdet(J.T @ J))
        torch.testing.assert_close(log_prob[i], brute, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x_hat, module.reconstruct(x, ctx).detach())
    other = ctx + 1.0
    with torch.no_grad():
        moved = not torch.allclose(module.reconstruct(x, ctx), module.reconstruct(x, other))
        assert moved == condition_manifold  # only a conditional outer flow moves it
        assert not torch.allclose(module.manifold_log_prob(x, ctx)[0],
                                  module.manifold_log_prob(x, other)[0])


def test_the_context_is_standardised_inside_and_checked():
    module = random_conditional_module(condition_manifold=False)
    x = torch.randn(6, 4, dtype=torch.float64)
    ctx = torch.randn(6, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = module.inner.log_prob(module.chart(x), context=(ctx - 0.5) / 2.0)
        torch.testing.assert_close(module.chart_log_prob(module.chart(x), ctx), expected)
        # A single context row is shared by all rows.
        torch.testing.assert_close(module.encode(x, ctx[:1]),
                                   module.encode(x, ctx[:1].expand(6, 3)))
        samples = module.sample(5, context=ctx[:2])
        assert samples.shape == (2, 5, 4)
        assert module.sample(5, context=ctx[0]).shape == (5, 4)
    with pytest.raises(ValueError, match="conditional"):
        module.encode(x)
    with pytest.raises(ValueError, match="context_features=3"):
        module.encode(x, ctx[:, :2])
    unconditional = ManifoldFlowModule(coupling_flow(4, n_layers=1, hidden_dims=(4,)),
                                       coupling_flow(2, n_layers=1, hidden_dims=(4,)), 2)
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.encode(x.float(), ctx.float())
    with pytest.raises(ValueError, match="same context width"):
        ManifoldFlowModule(coupling_flow(4, n_layers=1, hidden_dims=(4,), context_features=3),
                           coupling_flow(2, n_layers=1, hidden_dims=(4,), context_features=2),
                           2)


def test_align_chart_of_a_conditional_flow():
    d = 3
    flow = coupling_flow(d, n_layers=2, hidden_dims=(8,), permutation="lu",
                         context_features=2).double()
    Q = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64))[0]
    W = align_chart(flow, Q, context=torch.zeros(2))
    x = torch.randn(10, d, dtype=torch.float64)
    ctx = torch.randn(10, 2, dtype=torch.float64)
    with torch.no_grad():
        z = flow(W(x)[0], context=ctx)[0] - flow(W(torch.zeros(1, d).double())[0],
                                                 context=ctx[:1])[0]
    torch.testing.assert_close(z, x @ Q.T)  # initial couplings: identity for any context
    with pytest.raises(ValueError, match="conditional"):
        align_chart(flow, Q)


# ---------------------------------------------------------------------------- density
def test_density_integrates_to_one_along_the_learned_curve_and_depends_on_x(fitted):
    # Line integral of p(y | x) along the learned 1-D manifold, with the arc length
    # measured from the decoded points (independent of the Jacobian code).
    H = np.linspace(-8.0, 8.0, 40001)[:, None]
    curve = fitted.inverse_transform_y(H)
    mid = fitted.inverse_transform_y(0.5 * (H[1:] + H[:-1]))
    ds = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    densities = []
    for x in (-0.8, 0.0, 0.8):
        p = np.exp(fitted.log_prob(column(x, len(mid)), mid))
        assert np.sum(p * ds) == pytest.approx(1.0, abs=2e-3)
        densities.append(p)
    # The density on the (shared) curve moves with x: its mean angle follows 0.8 x.
    angles = np.arctan2(mid[:, 1], mid[:, 0])
    means = [np.sum(p * ds * angles) for p in densities]
    assert means[0] < -0.4 and abs(means[1]) < 0.15 and means[2] > 0.4


def test_noisy_and_fixed_manifold_variants(fitted, data):
    X, y = data[0][:50], data[1][:50] * np.linspace(0.8, 1.2, 50)[:, None]
    s2, k = fitted.noise_variance_, 1
    expected = (fitted.log_prob(X, y) - fitted.reconstruction_error_y(y) / (2 * s2)
                - 0.5 * k * np.log(2 * np.pi * s2))
    np.testing.assert_allclose(fitted.log_prob(X, y, noisy=True), expected, rtol=1e-10)
    # Without the volume term: the same up to a function of y alone.
    gap = [fitted.log_prob(column(x, 50), y) - fitted.log_prob(column(x, 50), y,
                                                                include_log_det=False)
           for x in (-0.9, 0.1, 0.7)]
    np.testing.assert_allclose(gap[0], gap[1], atol=1e-10)
    np.testing.assert_allclose(gap[0], gap[2], atol=1e-10)
    noisy_gap = (fitted.log_prob(X, y, noisy=True)
                 - fitted.log_prob(X, y, noisy=True, include_log_det=False))
    np.testing.assert_allclose(noisy_gap, gap[0], atol=1e-10)
    assert fitted.score(X, y) == pytest.approx(fitted.log_prob(X, y).mean())
    w = np.linspace(0, 1, 50)
    assert fitted.score(X, y, sample_weight=w) == pytest.approx(
        np.average(fitted.log_prob(X, y), weights=w))


# ---------------------------------------------------------------------------- manifold
def test_unconditional_manifold_reconstruction_does_not_depend_on_x(fitted, data):
    X, y = data
    y = y[:40] * 1.1
    ones = column(1.0, 40)
    reference = fitted.project_y(y)
    for x in (-1.0, 0.3):
        np.testing.assert_array_equal(fitted.project_y(y, X=column(x, 40)), reference)
        np.testing.assert_array_equal(fitted.reconstruction_error_y(y, column(x, 40)),
                                      fitted.reconstruction_error_y(y))
        np.testing.assert_array_equal(fitted.transform_y(y, column(x, 40)),
                                      fitted.transform_y(y))
    np.testing.assert_allclose(fitted.inverse_transform_y(fitted.transform_y(y), ones),
                               reference, atol=1e-12)
    # The learned curve follows the circle: the noise level, far below PCA's line.
    assert np.median(fitted.reconstruction_error_y(X=X, y=data[1])) < 2e-3


def test_conditional_manifold_moves_with_x():
    X, y = conditional_circle(600, radius_slope=0.5)
    params = dict(n_components=1, n_layers_outer=3, n_layers_inner=1, hidden_dims=(16,),
                  n_bins=4, max_epochs=8, batch_size=64, lr=3e-3, device="cpu",
                  random_state=0)
    est = ManifoldFlowRegressor(**params, condition_manifold=True).fit(X, y)
    grid = np.linspace(-1.0, 1.0, 21)[:, None]
    small = est.inverse_transform_y(grid, X=column(-0.8, 21))
    large = est.inverse_transform_y(grid, X=column(0.8, 21))
    # The radius of the learned arc grows with x (true radii 0.6 and 1.4).
    radius = [np.linalg.norm(arc, axis=1).mean() for arc in (small, large)]
    assert radius[1] - radius[0] > 0.3
    # It reconstructs y better than one manifold for every x can (radii 0.5 to 1.5).
    fixed = ManifoldFlowRegressor(**params).fit(X, y)
    assert (np.median(est.reconstruction_error_y(y, X))
            < 0.6 * np.median(fixed.reconstruction_error_y(y)))
    with pytest.raises(ValueError, match="condition_manifold=True"):
        est.project_y(y)
    with pytest.raises(ValueError, match="condition_manifold=True"):
        est.transform_y(y)
    with pytest.raises(ValueError, match="include_log_det=False needs"):
        est.log_prob(X, y, include_log_det=False)


# ---------------------------------------------------------------------------- samples
def test_samples_lie_on_the_manifold_and_follow_x(fitted):
    X = np.array([[-0.8], [0.8]])
    S = fitted.sample_y(X, n_samples=2000, random_state=0)
    assert S.shape == (2, 2, 2000) and S.dtype == np.float64
    np.testing.assert_array_equal(S, fitted.sample_y(X, n_samples=2000, random_state=0))
    assert not np.array_equal(S, fitted.sample_y(X, n_samples=2000, random_state=1))
    for i in range(2):
        assert fitted.reconstruction_error_y(S[i].T).max() < 1e-10
    angles = np.arctan2(S[:, 1], S[:, 0])
    np.testing.assert_allclose(angles.mean(axis=1), [-0.64, 0.64], atol=0.1)
    # predict: the conditional mean, deterministic and row by row.
    mean = fitted.predict(X)
    assert mean.shape == (2, 2)
    np.testing.assert_allclose(mean, S.mean(axis=2), atol=0.03)
    Xs = np.linspace(-1, 1, 9)[:, None]
    np.testing.assert_array_equal(fitted.predict(Xs), fitted.predict(Xs))
    np.testing.assert_allclose(fitted.predict(Xs[3:5]), fitted.predict(Xs)[3:5],
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample_y(X, n_samples=0)


@pytest.mark.parametrize("variant, schedule, condition_manifold",
                         [("mflow", "sequential", False), ("pie", "alternating", False),
                          ("mflow_e", "alternating", False), ("pie", "alternating", True),
                          ("mflow_e", "sequential", True)])
def test_variants_and_schedules_are_those_of_manifold_flow(data, variant, schedule,
                                                           condition_manifold):
    X, y = data
    params = {**FAST, "variant": variant, "schedule": schedule}
    est = ManifoldFlowRegressor(**params, condition_manifold=condition_manifold).fit(X, y)
    flow = ManifoldFlow(**{k: v for k, v in params.items()
                           if k != "n_predict_samples"}).fit(y)
    assert [r["phase"] for r in est.history_] == [r["phase"] for r in flow.history_]
    assert [r["stage"] for r in est.history_] == [r["stage"] for r in flow.history_]
    assert (est.module_.encoder is not None) == (variant == "mflow_e")
    assert est.module_.inner.context_features == 1
    assert est.module_.outer.context_features == (1 if condition_manifold else 0)
    out = est.log_prob(X[:5], y[:5])
    assert out.shape == (5,) and np.isfinite(out).all()
    assert np.isfinite(est.reconstruction_error_y(y[:5], X[:5])).all()


def test_one_target_is_the_full_dimensional_limit():
    # A 1-D y has no manifold of lower dimension: with n_components=1 the model is an
    # ordinary conditional flow (reconstruction exact, density normalised on the line).
    X, y = conditional_circle(300)
    est = ManifoldFlowRegressor(**FAST).fit(X, y[:, 1])
    assert est.predict(X[:4]).shape == (4,)
    assert est.sample_y(X[:4], n_samples=3, random_state=0).shape == (4, 3)
    assert est.reconstruction_error_y(y[:20, 1]).max() < 1e-20
    assert est.project_y(y[:20, 1]).shape == (20,)
    grid = np.linspace(-6, 6, 24001)
    for x in (-0.5, 0.5):
        p = np.exp(est.log_prob(column(x, len(grid)), grid))
        assert np.trapezoid(p, grid) == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(ValueError, match="n_components <= n_targets, got n_components=2 and "
                                         "1 target"):
        ManifoldFlowRegressor(**{**FAST, "n_components": 2}).fit(X, y[:, 1])


# ---------------------------------------------------------------------------- inference
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fixed_manifold_mode_leaves_the_posterior_unchanged(fitted):
    observations = fitted.sample_y([[0.4]], n_samples=8, random_state=1)[0].T  # (8, 2)
    prior = [[-1.0], [1.0]]
    common = dict(n_samples=160, n_walkers=8, burn_in=20, random_state=0)
    full = sample_posterior(fitted, observations, prior, **common)
    fixed = sample_posterior(fitted, observations, prior, **common,
                             log_likelihood_kwargs={"include_log_det": False})
    # Same chain: the log posteriors differ by one constant (the volume terms of the
    # observations), so every Metropolis decision is the same.
    np.testing.assert_allclose(fixed.samples, full.samples, rtol=0, atol=1e-9)
    gap = full.log_posterior - fixed.log_posterior
    assert np.ptp(gap) < 1e-8
    volume = np.sum(fitted.log_prob(column(0.0, 8), observations)
                    - fitted.log_prob(column(0.0, 8), observations, include_log_det=False))
    assert gap[0] == pytest.approx(volume, abs=1e-8)
    assert abs(np.mean(full.samples) - 0.4) < 0.3


# ---------------------------------------------------------------------------- errors
def test_errors(fitted, data):
    X, y = data
    with pytest.raises(NotFittedError):
        ManifoldFlowRegressor().log_prob(X, y)
    with pytest.raises(NotFittedError):
        ManifoldFlowRegressor().transform_y(y)
    with pytest.raises(ValueError, match="X has 2 features, but ManifoldFlowRegressor is "
                                         "expecting 1 features"):
        fitted.log_prob(np.zeros((3, 2)), y[:3])
    with pytest.raises(ValueError, match="expecting 1 features"):
        fitted.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="y has 3 target"):
        fitted.log_prob(X[:3], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="y has 3 target"):
        fitted.transform_y(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="expecting 1 features"):
        fitted.inverse_transform_y(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="one row per row of y"):
        fitted.project_y(y[:3], X=X[:4])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.predict(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        fitted.log_prob(X[:2], np.array([[np.nan, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        fitted.reconstruction_error_y(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        ManifoldFlowRegressor(**FAST).fit(X, np.where(np.arange(len(y))[:, None] == 3,
                                                      np.nan, y))
    with pytest.raises(ValueError, match="requires y"):
        ManifoldFlowRegressor(**FAST).fit(X, None)
    with pytest.raises(ValueError, match="n_layers_inner"):
        ManifoldFlowRegressor(**{**FAST, "n_layers_inner": 0}).fit(X, y)
    with pytest.raises(ValueError, match="n_components <= n_targets"):
        ManifoldFlowRegressor(**{**FAST, "n_components": 3}).fit(X, y)


def test_warm_start_refuses_other_targets(data):
    X, y = data
    est = ManifoldFlowRegressor(**{**FAST, "warm_start": True, "max_epochs": 2}).fit(X, y)
    first = len(est.history_)
    est.fit(X, y)
    assert len(est.history_) == first + est.n_iter_
    with pytest.raises(ValueError, match="y has 3 target"):
        est.fit(X, np.column_stack([y, y[:, :1]]))


# ---------------------------------------------------------------------------- persistence
def test_pickle_round_trip_gives_identical_outputs(fitted, data):
    X, y = data[0][:30], data[1][:30]
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.log_prob(X, y), fitted.log_prob(X, y))
    np.testing.assert_array_equal(clone.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(clone.transform_y(y), fitted.transform_y(y))
    np.testing.assert_array_equal(clone.sample_y(X, 3, random_state=0),
                                  fitted.sample_y(X, 3, random_state=0))


def test_identical_refits_and_float32(data):
    X, y = data
    a = ManifoldFlowRegressor(**FAST).fit(X, y)
    b = ManifoldFlowRegressor(**FAST).fit(X, y)
    np.testing.assert_array_equal(a.log_prob(X[:20], y[:20]), b.log_prob(X[:20], y[:20]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ManifoldFlowRegressor(**FAST).fit(X.astype(np.float32), y.astype(np.float32))
    assert c._compute_dtype == "float32"
    assert c.transform_y(y[:5].astype(np.float32)).dtype == np.float32
    assert c.inverse_transform_y(np.zeros((2, 1), np.float32)).dtype == np.float32
    assert c.log_prob(X[:5], y[:5]).dtype == np.float64
    assert c.predict(X[:5]).dtype == np.float64
