"""Tests for DeepArchetypes (archetypal analysis in the latent space of a flow)."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skflows import DeepArchetypes
from skflows._testing import FAST_PARAMS
from skflows.archetypes import _furthest_sum, sparsemax
from skflows.datasets import make_simplex, make_warped_triangle, regular_simplex

FAST = FAST_PARAMS["DeepArchetypes"]


@pytest.fixture(scope="module")
def triangle():
    X, _, _ = make_warped_triangle(300, random_state=0)
    return X


@pytest.fixture(scope="module")
def fitted(triangle):
    return DeepArchetypes(**FAST).fit(triangle)


@pytest.fixture(scope="module")
def fitted_4d():
    """Four features, three archetypes: a 1-D null space orthogonal to the archetypes."""
    X, _, _ = make_simplex(300, n_archetypes=3, n_features=4, noise=0.05, random_state=0)
    return X, DeepArchetypes(**FAST).fit(X)


def test_coefficients_lie_on_the_simplex(fitted, triangle):
    A = fitted.transform(triangle)
    assert A.shape == (len(triangle), 3) and A.dtype == np.float64
    assert A.min() >= 0
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-10)
    A32 = fitted.transform(triangle.astype(np.float32))
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32.sum(axis=1), 1.0, atol=1e-5)


def test_one_hot_rows_decode_to_the_archetypes(fitted):
    assert fitted.archetypes_.shape == (3, 2)
    np.testing.assert_allclose(fitted.inverse_transform(np.eye(3)), fitted.archetypes_,
                               rtol=1e-10, atol=1e-12)


def test_inverse_transform_is_the_latent_affine_combination(fitted):
    """Affine rows (negative entries allowed) decode f^{-1}(a^T L), exactly."""
    A = np.array([[0.2, 0.3, 0.5], [1.5, -0.25, -0.25], [-1.0, 1.0, 1.0]])
    X = fitted.inverse_transform(A)
    assert np.all(np.isfinite(X))
    with torch.no_grad():
        z = fitted.module_.flow(torch.from_numpy(X))[0].numpy()
    np.testing.assert_allclose(z, A @ fitted.latent_archetypes_, atol=1e-8)


def test_inverse_transform_validates_rows(fitted):
    with pytest.raises(ValueError, match="sum to 1"):
        fitted.inverse_transform([[0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="sum to 1"):
        fitted.inverse_transform([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="expecting 3 features"):
        fitted.inverse_transform([[0.5, 0.5]])
    with pytest.raises(ValueError, match="NaN"):
        fitted.inverse_transform([[np.nan, 0.5, 0.5]])
    # Rows summing to 1 up to float32 rounding are accepted.
    A = np.full((2, 3), 1 / 3, dtype=np.float32)
    assert fitted.inverse_transform(A).dtype == np.float32


def test_reconstruction_error_definition(fitted, triangle):
    err = fitted.reconstruction_error(triangle)
    expected = ((triangle - fitted.inverse_transform(fitted.transform(triangle))) ** 2).sum(1)
    np.testing.assert_allclose(err, expected, rtol=1e-8, atol=1e-12)


def test_score_samples_is_the_flow_log_density(fitted, triangle):
    scores = fitted.score_samples(triangle)
    assert scores.shape == (len(triangle),) and scores.dtype == np.float64
    with torch.no_grad():
        z, log_det = fitted.module_.flow(torch.from_numpy(triangle))
        expected = (-0.5 * (z ** 2).sum(1) - np.log(2 * np.pi) + log_det).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


def test_reproducible_refits(triangle):
    a = DeepArchetypes(**FAST).fit(triangle)
    b = DeepArchetypes(**FAST).fit(triangle)
    np.testing.assert_array_equal(a.archetypes_, b.archetypes_)
    np.testing.assert_array_equal(a.transform(triangle), b.transform(triangle))
    c = DeepArchetypes(**{**FAST, "random_state": 1}).fit(triangle)
    assert not np.allclose(a.archetypes_, c.archetypes_)


def _best_monitored(est):
    return min(row["valid_loss"] for row in est.history_)


def test_n_init_keeps_the_lowest_loss_initialisation(triangle, monkeypatch):
    from skflows import _base

    single = DeepArchetypes(**FAST).fit(triangle)
    runs = []
    original = _base._monitored_minimum

    def recording(history):
        runs.append(original(history))
        return runs[-1]

    monkeypatch.setattr(_base, "_monitored_minimum", recording)
    several = DeepArchetypes(**{**FAST, "n_init": 3}).fit(triangle)
    monkeypatch.undo()
    # Three different initialisations, the first of them the n_init=1 fit; the kept
    # one is the best of the three (strictly better than the first, or the first).
    assert len(runs) == 3 and len(set(runs)) == 3
    assert runs[0] == pytest.approx(_best_monitored(single))
    assert _best_monitored(several) == pytest.approx(min(runs))
    assert _best_monitored(several) < _best_monitored(single) or runs[0] == min(runs)
    # Reproducible, and the kept run is one of the initialisations, not a blend.
    again = DeepArchetypes(**{**FAST, "n_init": 3}).fit(triangle)
    np.testing.assert_array_equal(several.archetypes_, again.archetypes_)
    assert several.n_iter_ == len(several.history_)
    with pytest.raises(ValueError, match="n_init"):
        DeepArchetypes(**{**FAST, "n_init": 0}).fit(triangle)


def test_fit_leaves_global_random_state_alone(triangle):
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    DeepArchetypes(**FAST).fit(triangle)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_equivariant_to_a_global_rescaling(triangle):
    """Everything is computed in standardised units: rescaling X rescales the archetypes
    and shifts the log-density by -d log(c), and leaves the coefficients unchanged."""
    c = 10.0
    a = DeepArchetypes(**FAST).fit(triangle)
    b = DeepArchetypes(**FAST).fit(c * triangle)
    np.testing.assert_allclose(b.transform(c * triangle), a.transform(triangle), atol=1e-7)
    np.testing.assert_allclose(b.archetypes_, c * a.archetypes_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.score_samples(c * triangle),
                               a.score_samples(triangle) - 2 * np.log(c), atol=1e-6)


def test_sample_dirichlet_statistics(fitted):
    alpha = np.array([0.3, 1.0, 2.0])
    X, A = fitted.sample(6000, concentration=alpha, random_state=0, return_coefficients=True)
    assert X.shape == (6000, 2) and A.shape == (6000, 3)
    a0 = alpha.sum()
    se = np.sqrt(alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)) / len(A))
    assert np.all(np.abs(A.mean(axis=0) - alpha / a0) < 4 * se)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-12)
    # Without noise the samples are the decoded weights.
    np.testing.assert_allclose(X, fitted.inverse_transform(A), rtol=1e-10, atol=1e-12)
    # Small concentrations put the weights near the vertices.
    _, A_small = fitted.sample(2000, concentration=0.1, random_state=0,
                               return_coefficients=True)
    _, A_flat = fitted.sample(2000, concentration=1.0, random_state=0,
                              return_coefficients=True)
    assert A_small.max(axis=1).mean() > 0.85 > 0.65 > A_flat.max(axis=1).mean()


def test_sample_reproducible_and_validated(fitted):
    np.testing.assert_array_equal(fitted.sample(5, random_state=3),
                                  fitted.sample(5, random_state=3))
    with pytest.raises(ValueError, match="concentration"):
        fitted.sample(5, concentration=0.0)
    with pytest.raises(ValueError, match="concentration"):
        fitted.sample(5, concentration=[1.0, 1.0])
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="null_space_noise"):
        fitted.sample(5, null_space_noise=-1.0)


def test_sample_noise_directions(fitted_4d):
    X, est = fitted_4d
    L = est.latent_archetypes_
    span = np.linalg.svd(L[1:] - L[0])[2][:2]  # directions of the archetypes' span
    samples, A = est.sample(500, random_state=0, null_space_noise=1.0,
                            return_coefficients=True)
    with torch.no_grad():
        z = est.module_.flow(torch.from_numpy(samples))[0].numpy()
    noise = z - A @ L
    # Null-space noise is orthogonal to the span and has unit variance in the 2
    # remaining directions.
    np.testing.assert_allclose(noise @ span.T, 0.0, atol=1e-8)
    assert abs((noise ** 2).sum(1).mean() - 2.0) < 0.3
    samples, A = est.sample(500, random_state=0, latent_noise=0.5,
                            return_coefficients=True)
    with torch.no_grad():
        z = est.module_.flow(torch.from_numpy(samples))[0].numpy()
    noise = z - A @ L
    assert abs((noise @ span.T).var() - 0.25) < 0.05  # isotropic: also along the span


def test_fix_archetypes_parameterisation(triangle):
    fixed = DeepArchetypes(**FAST).fit(triangle)
    free = DeepArchetypes(**{**FAST, "fix_archetypes": False}).fit(triangle)
    names_fixed = {n for n, _ in fixed.module_.named_parameters()}
    names_free = {n for n, _ in free.module_.named_parameters()}
    assert {"basis", "offset"} <= names_fixed and "archetypes" not in names_fixed
    assert "archetypes" in names_free and "basis" not in names_free
    # Fixed: the latent archetypes are an affine image of the regular simplex.
    module = fixed.module_
    Z = regular_simplex(3)
    expected = Z @ module.basis.detach().numpy().T + module.offset.detach().numpy()
    np.testing.assert_allclose(fixed.latent_archetypes_, expected, atol=1e-10)
    for est in (fixed, free):
        np.testing.assert_allclose(est.inverse_transform(np.eye(3)), est.archetypes_,
                                   atol=1e-10)


def test_latent_reconstruction_variant(triangle):
    est = DeepArchetypes(**{**FAST, "reconstruction": "latent"}).fit(triangle)
    # reconstruction_error is the data-space residual of the archetypal reconstruction,
    # whichever space the training loss measured it in.
    X_hat = est.inverse_transform(est.transform(triangle))
    np.testing.assert_allclose(est.reconstruction_error(triangle),
                               ((triangle - X_hat) ** 2).sum(1), rtol=1e-6, atol=1e-10)
    # The latent variant trains on another objective: same start, other archetypes.
    data = DeepArchetypes(**FAST).fit(triangle)
    assert est.history_[0]["train_loss"] != data.history_[0]["train_loss"]
    assert not np.allclose(est.archetypes_, data.archetypes_)


def test_learns_the_archetypes_of_a_simplex():
    """A short fit on data filling a triangle puts the archetypes near its corners."""
    X, _, V = make_simplex(400, n_archetypes=3, concentration=0.5, random_state=0)
    est = DeepArchetypes(**{**FAST, "max_epochs": 25, "lr": 1e-2, "hidden_dims": (16,),
                            "head_hidden_dims": (16,)}).fit(X)
    dist = np.sqrt(((est.archetypes_[:, None] - V[None]) ** 2).sum(-1))
    # Every true corner has a found archetype close to it (corners are 1.73 apart).
    assert dist.min(axis=0).max() < 0.25
    # Reconstruction from the coefficients explains > 98% of the variance.
    assert est.reconstruction_error(X).mean() < 0.02 * ((X - X.mean(0)) ** 2).sum(1).mean()
    # Sparsemax coefficients: exact zeros; every archetype has rows close to it, and
    # some rows sit exactly on a vertex.
    A = est.transform(X)
    assert (A == 0).any(axis=1).mean() > 0.1
    assert A.max(axis=0).min() > 0.9 and (A == 1.0).any()


def test_too_few_rows_and_bad_params(triangle):
    with pytest.raises(ValueError, match="n_samples >= n_archetypes"):
        DeepArchetypes(**{**FAST, "n_archetypes": 5}).fit(triangle[:4])
    with pytest.raises(ValueError, match="n_archetypes"):
        DeepArchetypes(**{**FAST, "n_archetypes": 1}).fit(triangle)
    with pytest.raises(ValueError, match="head_hidden_dims"):
        DeepArchetypes(**{**FAST, "head_hidden_dims": (0,)}).fit(triangle)


def test_not_fitted_errors(triangle):
    est = DeepArchetypes(**FAST)
    for call in (lambda: est.transform(triangle), lambda: est.inverse_transform(np.eye(3)),
                 lambda: est.sample(2), lambda: est.score_samples(triangle),
                 lambda: est.reconstruction_error(triangle)):
        with pytest.raises(NotFittedError):
            call()


def test_feature_names_out(fitted):
    names = fitted.get_feature_names_out()
    assert names.tolist() == ["deeparchetypes0", "deeparchetypes1", "deeparchetypes2"]


def test_warm_start_continues(triangle):
    est = DeepArchetypes(**{**FAST, "warm_start": True}).fit(triangle)
    first = len(est.history_)
    est.fit(triangle)
    assert len(est.history_) > first and est.n_iter_ >= 1
    np.testing.assert_allclose(est.inverse_transform(np.eye(3)), est.archetypes_,
                               atol=1e-10)


def test_furthest_sum_picks_the_corners():
    X, _, V = make_simplex(400, n_archetypes=4, concentration=0.3, random_state=0)
    X = np.vstack([X, V])  # the exact corners are rows 400..403
    rows = _furthest_sum(X, 4, start=0)
    assert sorted(rows.tolist()) == [400, 401, 402, 403]
    # Fewer distinct rows than requested: no duplicate picks.
    assert len(set(_furthest_sum(np.eye(3), 3, start=1).tolist())) == 3


def test_furthest_sum_finds_the_corners_of_a_curved_triangle():
    """Whatever the random start, the picks end near the three corners (the bottom of
    the sagging edge is extreme too, and a single greedy pass can pick it)."""
    X, _, V = make_warped_triangle(2000, random_state=2)
    Xs = (X - X.mean(0)) / X.std(0)
    for start in np.random.RandomState(0).choice(len(X), 10, replace=False):
        found = X[_furthest_sum(Xs, 3, int(start))]
        dist = np.sqrt(((found[:, None] - V[None]) ** 2).sum(-1))
        assert dist.min(axis=0).max() < 0.15


def test_sparsemax_is_the_projection_onto_the_simplex():
    rng = np.random.RandomState(0)
    u = torch.from_numpy(3 * rng.standard_normal((200, 4)))
    a = sparsemax(u).numpy()
    assert a.min() >= 0
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-12)
    # Optimality (KKT): a = max(u - tau, 0) with one threshold tau per row, and no
    # random point of the simplex is closer to u.
    tau = (u.numpy() - a)[a > 0].reshape(-1)
    on = a > 0
    taus = np.where(on, u.numpy() - a, np.nan)
    np.testing.assert_allclose(np.nanmax(taus, 1), np.nanmin(taus, 1), atol=1e-12)
    assert np.all(u.numpy()[~on] <= np.repeat(np.nanmax(taus, 1)[:, None], 4, 1)[~on] + 1e-12)
    assert tau.size > 0
    others = rng.dirichlet(np.ones(4), size=(200, 50))
    d_best = ((a - u.numpy()) ** 2).sum(1)
    d_other = ((others - u.numpy()[:, None]) ** 2).sum(-1)
    assert np.all(d_best[:, None] <= d_other + 1e-12)
    # Points of the simplex are fixed points; shifts of the logits change nothing.
    p = torch.from_numpy(rng.dirichlet(np.ones(4), 10))
    np.testing.assert_allclose(sparsemax(p).numpy(), p.numpy(), atol=1e-12)
    np.testing.assert_allclose(sparsemax(u + 5.0).numpy(), a, atol=1e-12)
    v = torch.from_numpy(rng.standard_normal((5, 4))).requires_grad_(True)
    assert torch.autograd.gradcheck(sparsemax, (v,))
