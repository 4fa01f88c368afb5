"""Tests for ManifoldFlow (M-flow / M_e-flow / PIE) and its torch module."""

import numpy as np
import pytest
import torch
from scipy.stats import chi2
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from skflows import ManifoldFlow
from skflows._testing import FAST_PARAMS
from skflows.datasets import circle_distance, make_gaussian_on_circle
from skflows.nn import coupling_flow
from skflows.nn.manifold import ManifoldFlowModule, align_chart, chart_jacobian, gram_log_det

FAST = FAST_PARAMS["ManifoldFlow"]


def random_module(D, n, transform="nsf", seed=0, dtype=torch.float64, encoder=None):
    """A manifold module with all weights random (the flows are not the identity)."""
    g = torch.Generator().manual_seed(seed)
    outer = coupling_flow(D, transform=transform, n_layers=3, hidden_dims=(16,),
                          n_bins=4, permutation="lu", generator=g)
    inner = coupling_flow(n, transform=transform, n_layers=2, hidden_dims=(16,), n_bins=4,
                          permutation="lu", generator=g)
    module = ManifoldFlowModule(outer, inner, n, encoder=encoder)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module.to(dtype)


@pytest.fixture(scope="module")
def circle():
    return make_gaussian_on_circle(1000, random_state=0)


@pytest.fixture(scope="module")
def fitted(circle):
    # Small but trained enough to follow the circle (a few seconds).
    with torch.random.fork_rng(devices=[]):
        return ManifoldFlow(n_components=1, n_layers_outer=3, n_layers_inner=1,
                            hidden_dims=(32, 32), max_epochs=16, batch_size=64, lr=3e-3,
                            device="cpu", random_state=0).fit(circle)


# ---------------------------------------------------------------------------- module
@pytest.mark.parametrize("transform", ["nsf", "realnvp"])
def test_log_det_matches_brute_force_jacobian(transform):
    D, n = 5, 2
    module = random_module(D, n, transform)
    x = torch.randn(6, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        log_prob, x_hat = module.manifold_log_prob(x)
    h = module.chart(x).detach()
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(
            lambda v: module.decode_chart(v.unsqueeze(0))[0], h[i])
        assert J.shape == (D, n)
        brute = module.inner.log_prob(h[i:i + 1])[0] - 0.5 * torch.logdet(J.T @ J)
        torch.testing.assert_close(log_prob[i], brute, rtol=1e-10, atol=1e-10)
        _, J_fwd = chart_jacobian(module.decode_chart, h[i:i + 1])
        torch.testing.assert_close(J_fwd[0], J, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(x_hat, module.reconstruct(x).detach())


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_log_det_is_float64_and_batch_independent(dtype, tol):
    module = random_module(4, 2, dtype=dtype)
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(2)).to(dtype)
    with torch.no_grad():
        full, _ = module.manifold_log_prob(x)
        parts = torch.cat([module.manifold_log_prob(c)[0] for c in x.split(7)])
    assert full.dtype == torch.float64
    torch.testing.assert_close(full, parts, rtol=tol, atol=tol)


def test_gram_log_det_known_values():
    J = torch.tensor([[[3.0, 0.0], [0.0, 2.0], [0.0, 0.0]],
                      [[1.0, 1.0], [1.0, -1.0], [0.0, 0.0]]])
    out = gram_log_det(J)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.log(torch.tensor([36.0, 4.0], dtype=torch.float64)))


def test_full_dimensional_manifold_is_an_ordinary_flow():
    # n == D: the manifold density is the flow density, 1/2 log det(J^T J) = log|det J|.
    module = random_module(3, 3)
    x = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        log_prob, x_hat = module.manifold_log_prob(x)
        h, log_det_outer = module.outer(x)
        expected = module.inner.log_prob(h) + log_det_outer
    torch.testing.assert_close(log_prob, expected)
    torch.testing.assert_close(x_hat, x)


def test_pie_density_matches_definition():
    module = random_module(4, 2)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        h, log_det = module.outer(x)
        eps = module.pie_epsilon
        perp = torch.distributions.Normal(0.0, eps).log_prob(h[:, 2:]).sum(-1)
        expected = module.inner.log_prob(h[:, :2]) + perp + log_det
        torch.testing.assert_close(module.pie_log_prob(x), expected)


# ---------------------------------------------------------------------------- estimator
@pytest.mark.parametrize("variant", ["mflow", "pie"])
def test_on_manifold_points_reconstruct_exactly(circle, variant):
    est = ManifoldFlow(**{**FAST, "variant": variant}).fit(circle)
    U = np.linspace(-2.5, 2.5, 41)[:, None]
    on_manifold = est.inverse_transform(U)
    np.testing.assert_allclose(est.transform(on_manifold), U, atol=1e-4, rtol=0)
    np.testing.assert_allclose(est.project(on_manifold), on_manifold, atol=1e-4, rtol=0)
    assert est.reconstruction_error(on_manifold).max() < 1e-8


def test_density_integrates_to_one_along_learned_curve(fitted):
    # Line integral of p along the learned 1-D manifold, with the arc length measured
    # from the decoded points (independent of the Jacobian code).
    U = np.linspace(-8.0, 8.0, 40001)[:, None]
    curve = fitted.inverse_transform(U)
    mid = fitted.inverse_transform(0.5 * (U[1:] + U[:-1]))
    ds = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    integral = np.sum(np.exp(fitted.manifold_log_prob(mid)) * ds)
    assert integral == pytest.approx(1.0, abs=2e-3)


def test_score_samples_combines_density_and_distance(fitted, circle):
    X = circle[:50] * np.linspace(0.7, 1.3, 50)[:, None]
    s2 = fitted.noise_variance_
    expected = (fitted.manifold_log_prob(X) - fitted.reconstruction_error(X) / (2 * s2)
                - 0.5 * np.log(2 * np.pi * s2))
    np.testing.assert_allclose(fitted.score_samples(X), expected, rtol=1e-10)
    r2 = fitted.reconstruction_error(circle)
    assert s2 == pytest.approx(np.median(r2) / chi2.median(1))
    np.testing.assert_allclose(fitted.decision_function(X), fitted.score_samples(X)
                               - fitted.offset_)
    assert fitted.score(X) == pytest.approx(fitted.score_samples(X).mean())


def test_off_manifold_points_are_outliers(fitted, circle):
    far = 1.6 * circle[:100]
    assert (fitted.predict(far) == -1).mean() > 0.95
    inliers = fitted.predict(circle)
    assert np.mean(inliers == -1) == pytest.approx(fitted.contamination, abs=0.01)


def test_transform_dtypes_and_shapes(circle):
    est = ManifoldFlow(**FAST).fit(circle.astype(np.float32))
    X32 = circle[:10].astype(np.float32)
    assert est.transform(X32).dtype == np.float32
    assert est.transform(X32).shape == (10, 1)
    assert est.inverse_transform(np.zeros((3, 1), np.float32)).dtype == np.float32
    assert est.score_samples(X32).dtype == np.float64
    assert est.manifold_log_prob(X32).dtype == np.float64
    assert est.get_feature_names_out().tolist() == ["manifoldflow0"]


def test_sample_lies_on_the_manifold_and_is_seeded(fitted):
    S = fitted.sample(200, random_state=3)
    np.testing.assert_array_equal(S, fitted.sample(200, random_state=3))
    assert not np.array_equal(S, fitted.sample(200, random_state=4))
    assert fitted.reconstruction_error(S).max() < 1e-10
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


def test_learning_bends_the_manifold_onto_the_circle(fitted, circle):
    # PCA's best line leaves a median squared distance of ~0.05; the learned curve
    # reaches the noise level (radial noise 0.01: median squared distance ~5e-5 on the
    # circle, ~2e-4 along a non-orthogonal projection) and its samples lie on the circle.
    pca = PCA(1).fit(circle)
    pca_error = ((circle - pca.inverse_transform(pca.transform(circle))) ** 2).sum(1)
    assert np.median(pca_error) > 0.02
    assert np.median(fitted.reconstruction_error(circle)) < 1e-3
    assert np.median(circle_distance(fitted.sample(500, random_state=0))) < 0.03


def test_align_chart_starts_the_manifold_at_the_given_basis():
    d = 4
    flow = coupling_flow(d, n_layers=3, hidden_dims=(8,), permutation="lu",
                         generator=torch.Generator().manual_seed(0)).double()
    Q = torch.linalg.qr(torch.randn(d, d, dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(1)))[0]
    W = align_chart(flow, Q)
    x = torch.randn(10, d, dtype=torch.float64)
    with torch.no_grad():
        z = flow(W(x)[0])[0] - flow(W(torch.zeros(1, d, dtype=torch.float64))[0])[0]
        torch.testing.assert_close(z, x @ Q.T)
        torch.testing.assert_close(W.inverse(W(x)[0])[0], x)


def test_history_records_the_phases(circle):
    alt = ManifoldFlow(**FAST).fit(circle)
    assert [r["phase"] for r in alt.history_] == ["manifold", "density"] * 2
    seq = ManifoldFlow(**{**FAST, "schedule": "sequential"}).fit(circle)
    phases = [r["phase"] for r in seq.history_]
    assert phases == ["manifold"] * 2 + ["density"] * 2
    assert seq.n_iter_ == 4 and [r["epoch"] for r in seq.history_] == [1, 2, 3, 4]
    pie = ManifoldFlow(**{**FAST, "variant": "pie"}).fit(circle)
    assert {r["phase"] for r in pie.history_} == {"pie"}


def untrained(flow):
    """Whether a coupling flow still has its initial weights: LU layers at a
    permutation and every conditioner's zero-initialised output layer at zero."""
    from skflows.nn import MLP, LULinear
    for m in flow.modules():
        if isinstance(m, LULinear):
            if m.lower.abs().sum() or m.upper.abs().sum() or m.bias.abs().sum():
                return False
            if not torch.allclose(m.diag_raw, m.diag_raw.flatten()[0].expand_as(m.diag_raw)):
                return False
        if isinstance(m, MLP):
            last = m.net[-1]
            if last.weight.abs().sum() or last.bias.abs().sum():
                return False
    return True


def test_each_phase_trains_only_its_flow(circle):
    # Same seed: epoch 1 is an M epoch, epoch 2 a D epoch.
    one = ManifoldFlow(**{**FAST, "max_epochs": 1}).fit(circle).module_
    two = ManifoldFlow(**{**FAST, "max_epochs": 2}).fit(circle).module_
    assert not untrained(one.outer) and untrained(one.inner)
    for p, q in zip(one.outer.parameters(), two.outer.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not untrained(two.inner)


def test_warm_start_continues(circle):
    est = ManifoldFlow(**{**FAST, "warm_start": True}).fit(circle)
    first = len(est.history_)
    est.fit(circle)
    assert len(est.history_) == first + est.n_iter_


def test_mflow_e_encoder_is_trained(circle):
    params = {**FAST, "variant": "mflow_e", "max_epochs": 6, "n_iter_no_change": 100}
    start = ManifoldFlow(**{**params, "lr": 0.0}).fit(circle)  # the initial model
    est = ManifoldFlow(**params).fit(circle)
    assert est.module_.encoder is not None
    moved = [not torch.equal(a, b) for a, b in zip(start.module_.encoder.parameters(),
                                                   est.module_.encoder.parameters())]
    assert all(moved)
    assert est.reconstruction_error(circle).mean() < start.reconstruction_error(circle).mean()
    out = est.transform(circle[:5])
    assert out.shape == (5, 1) and np.isfinite(out).all()


def test_identical_refits(circle):
    a = ManifoldFlow(**FAST).fit(circle).transform(circle[:20])
    b = ManifoldFlow(**FAST).fit(circle).transform(circle[:20])
    np.testing.assert_array_equal(a, b)


def test_errors(circle, fitted):
    with pytest.raises(ValueError, match="n_components < n_features, got n_components=3 and 2 feature"):
        ManifoldFlow(**{**FAST, "n_components": 3}).fit(circle)
    with pytest.raises(NotFittedError):
        ManifoldFlow().transform(circle)
    with pytest.raises(ValueError, match="expecting 1 features"):
        fitted.inverse_transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expecting 2 features"):
        fitted.score_samples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="variant"):
        ManifoldFlow(variant="bad").fit(circle)
    with pytest.raises(ValueError, match="hidden_dims"):
        ManifoldFlow(**{**FAST, "hidden_dims": (0,)}).fit(circle)
