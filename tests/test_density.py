"""Behaviour of FlowDensity: units, normalisation, sampling, latent maps, scikit-learn
integration, persistence, determinism and errors."""

import math
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skflows import FlowDensity
from skflows._testing import FAST_PARAMS
from skflows.density import (importance_weighted_nll, n_trimmed, negative_log_likelihood,
                              trimmed_mean)

FAST = FAST_PARAMS["FlowDensity"]


def _data(n=300, d=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) @ rng.randn(d, d) + 3.0
    X[:, 0] += np.where(rng.rand(n) < 0.5, -4.0, 4.0)  # bimodal first feature
    return X


@pytest.fixture(scope="module")
def fitted():
    return FlowDensity(**{**FAST, "max_epochs": 20}).fit(_data())


@pytest.mark.parametrize("flow", ["nsf", "realnvp"])
def test_density_integrates_to_one_1d(flow):
    X = _data(400, 1)
    est = FlowDensity(flow=flow, **{**FAST, "max_epochs": 15}).fit(X)
    grid = np.linspace(X.min() - 15, X.max() + 15, 20001)[:, None]
    mass = np.trapezoid(np.exp(est.score_samples(grid)), grid[:, 0])
    assert abs(mass - 1.0) < 1e-3


@pytest.mark.parametrize("flow", ["nsf", "realnvp"])
def test_density_integrates_to_one_2d(flow):
    X = _data(400, 2)
    est = FlowDensity(flow=flow, **{**FAST, "max_epochs": 15}).fit(X)
    lo, hi = X.min(0) - 12, X.max(0) + 12
    g0, g1 = np.linspace(lo[0], hi[0], 601), np.linspace(lo[1], hi[1], 601)
    grid = np.stack(np.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
    dens = np.exp(est.score_samples(grid)).reshape(601, 601)
    mass = np.trapezoid(np.trapezoid(dens, g1, axis=1), g0)
    assert abs(mass - 1.0) < 1e-2


def test_score_samples_is_in_units_of_X(fitted):
    """Rescaling X by c changes log-densities by exactly -d log c (standardise=True)."""
    X = _data()
    c = 7.0
    est_scaled = clone(fitted).fit(c * X)
    np.testing.assert_allclose(est_scaled.score_samples(c * X),
                               fitted.score_samples(X) - X.shape[1] * np.log(c), atol=1e-8)


def test_fit_improves_likelihood_and_beats_single_gaussian():
    X = _data(600)
    est = FlowDensity(n_layers=3, hidden_dims=(32, 32), max_epochs=60, device="cpu",
                      random_state=0).fit(X)
    gauss = GaussianMixture(1).fit(X)
    assert est.score(X) > gauss.score(X) + 0.2
    assert est.history_[-1]["train_loss"] < est.history_[0]["train_loss"]


def test_score_is_mean_of_score_samples(fitted):
    X = _data(50, seed=1)
    assert fitted.score(X) == pytest.approx(np.mean(fitted.score_samples(X)))
    assert fitted.score_samples(X).dtype == np.float64


def test_transform_inverse_transform_roundtrip(fitted):
    X = _data(100, seed=2)
    Z = fitted.transform(X)
    assert Z.shape == X.shape and Z.dtype == X.dtype
    np.testing.assert_allclose(fitted.inverse_transform(Z), X, atol=1e-8)
    with pytest.raises(ValueError, match="features"):
        fitted.inverse_transform(Z[:, :1])


def test_sample_shape_reproducibility_and_no_global_rng_use(fitted):
    state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = fitted.sample(50, random_state=3)
    b = fitted.sample(50, random_state=3)
    c = fitted.sample(50, random_state=4)
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(np_state, np.random.get_state()[1])
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


def test_samples_follow_the_model(fitted):
    """Samples from the flow have the model's own mean log-density (up to MC error)."""
    S = fitted.sample(4000, random_state=0)
    ll = fitted.score_samples(S)
    # E_p[log p] under p equals -entropy; compare with latent-space identity:
    # the latent of the samples must be standard normal.
    Z = fitted.transform(S)
    assert np.all(np.abs(Z.mean(0)) < 0.1) and np.all(np.abs(Z.std(0) - 1) < 0.1)
    assert np.isfinite(ll).all()


def test_outlier_interface(fitted):
    X = _data()
    scores = fitted.score_samples(X)
    np.testing.assert_allclose(fitted.decision_function(X), scores - fitted.offset_)
    pred = fitted.predict(X)
    assert set(np.unique(pred)) <= {-1, 1}
    assert np.mean(pred == -1) == pytest.approx(fitted.contamination, abs=0.01)
    far = X.mean(0, keepdims=True) + 50.0
    assert fitted.predict(far)[0] == -1


def test_float32_trains_in_float32_and_float64_in_float64():
    X = _data()
    est32 = FlowDensity(**FAST).fit(X.astype(np.float32))
    est64 = FlowDensity(**FAST).fit(X)
    assert next(est32.module_.parameters()).dtype == torch.float32
    assert next(est64.module_.parameters()).dtype == torch.float64
    assert est32.transform(X.astype(np.float32)).dtype == np.float32
    assert est32.score_samples(X).dtype == np.float64


def test_pipeline_with_standard_scaler():
    X = _data()
    pipe = Pipeline([("scale", StandardScaler()), ("flow", FlowDensity(**FAST))]).fit(X)
    assert pipe.score_samples(X).shape == (len(X),)
    assert np.isfinite(pipe.score(X))
    assert set(np.unique(pipe.predict(X))) <= {-1, 1}


def test_grid_search_selects_by_score_in_parallel():
    X = _data(400)
    search = GridSearchCV(FlowDensity(**FAST), {"max_epochs": [1, 25]}, cv=2, n_jobs=2)
    search.fit(X)
    means = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means))
    # Held-out mean log-likelihood: more training wins on this data.
    assert search.best_params_ == {"max_epochs": 25}
    assert means[1] > means[0]


def test_same_random_state_gives_identical_fits_and_leaves_global_rng():
    X = _data()
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = FlowDensity(**FAST).fit(X).score_samples(X)
    b = FlowDensity(**FAST).fit(X).score_samples(X)
    np.testing.assert_array_equal(a, b)
    c = FlowDensity(**{**FAST, "random_state": 1}).fit(X).score_samples(X)
    assert not np.allclose(a, c)
    assert torch.equal(torch_state, torch.get_rng_state())
    np.testing.assert_array_equal(np_state, np.random.get_state()[1])


def test_random_state_instance_differs_across_fits():
    X = _data()
    est = FlowDensity(**{**FAST, "random_state": np.random.RandomState(0)})
    a = est.fit(X).score_samples(X)
    b = est.fit(X).score_samples(X)
    assert not np.allclose(a, b)


def test_clone_pickle_and_joblib_roundtrip(fitted, tmp_path):
    X = _data(80, seed=5)
    expected = fitted.score_samples(X)
    unfitted = clone(fitted)
    assert unfitted.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        unfitted.score_samples(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.score_samples(X), expected)
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(restored.sample(5, random_state=0),
                                  fitted.sample(5, random_state=0))
    path = tmp_path / "flow.joblib"
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).score_samples(X), expected)
    assert restored.offset_ == fitted.offset_


def test_cuda_fitted_model_loads_and_predicts_on_cpu(fitted, monkeypatch):
    """A pickle whose tensors are tagged for CUDA (as written on a GPU machine) loads on a
    CPU-only machine and gives the same scores. The CUDA tag is produced by patching
    torch's storage location tag while pickling, since CI has no GPU."""
    if torch.cuda.is_available():  # pragma: no cover - exercised on GPU machines only
        pytest.skip("the simulated CUDA pickle is for CPU-only machines")
    X = _data(40, seed=6)
    expected = fitted.score_samples(X)
    est = pickle.loads(pickle.dumps(fitted))
    est.device = "cuda"
    est.net_.device = "cuda"
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    payload = pickle.dumps(est)
    monkeypatch.undo()
    assert b"cuda:0" in payload
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle.loads(payload)
    assert any("CUDA" in str(w.message) for w in caught)
    np.testing.assert_array_equal(loaded.score_samples(X), expected)
    assert loaded.sample(3, random_state=0).shape == (3, 2)


def test_warm_start_continues_training():
    X = _data()
    est = FlowDensity(**{**FAST, "warm_start": True, "validation_fraction": 0.0})
    est.fit(X)
    first = est.history_[-1]["train_loss"]
    module = est.module_
    est.fit(X)
    assert est.module_ is module
    assert len(est.history_) == 2 * FAST["max_epochs"] and est.n_iter_ == FAST["max_epochs"]
    assert est.history_[-1]["train_loss"] < first


def test_warm_start_keeps_features_and_dtype():
    X = _data()
    est = FlowDensity(**{**FAST, "warm_start": True}).fit(X.astype(np.float32))
    est.fit(X)  # float64 data continue the float32 flow
    assert next(est.module_.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="expecting 2 features"):
        est.fit(np.hstack([X, X]))


def test_early_stopping_restores_best_weights():
    X = _data(400)
    est = FlowDensity(**{**FAST, "max_epochs": 200, "n_iter_no_change": 3, "lr": 3e-2,
                         "validation_fraction": 0.3}).fit(X)
    assert est.n_iter_ < 200
    valid = [h["valid_loss"] for h in est.history_]
    best = int(np.argmin(valid))
    assert est.n_iter_ == best + 1 + 3
    # The restored weights are those of the best epoch: recompute the validation loss.
    rng = np.random.RandomState(est._seed())
    n_valid = int(np.ceil(0.3 * len(X)))
    valid_rows = np.sort(rng.permutation(len(X))[:n_valid])
    assert -est.score(X[valid_rows]) == pytest.approx(valid[best], rel=1e-6)


def test_history_records_losses():
    est = FlowDensity(**FAST).fit(_data())
    assert len(est.history_) == est.n_iter_ == FAST["max_epochs"]
    for row in est.history_:
        assert set(row) == {"epoch", "stage", "phase", "train_loss", "valid_loss",
                            "monitored", "duration", "train_duration"}
        assert row["stage"] == row["phase"] == "train"
        assert np.isfinite(row["train_loss"]) and np.isfinite(row["valid_loss"])
        assert row["monitored"] == row["valid_loss"]


def test_forced_divergence_raises_and_keeps_finite_weights():
    X = _data().astype(np.float32)
    X[5] = 1e20  # its squared latent overflows float32: the loss becomes infinite
    est = FlowDensity(flow="realnvp", standardize=False, **FAST)
    with pytest.raises(FloatingPointError, match="training loss became non-finite"):
        est.fit(X)
    with pytest.raises(NotFittedError):
        est.score_samples(X)
    for p in est._failed_module.parameters():
        assert torch.isfinite(p).all()
    # The restored module still gives finite log-densities on ordinary rows.
    with torch.no_grad():
        assert torch.isfinite(est._failed_module.log_prob(torch.from_numpy(X[:5]))).all()


BAD_INPUTS = {
    "nan": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
            "NaN"),
    "inf": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
            "infinity"),
    # scikit-learn's own wording and type (TypeError) for sparse input.
    "sparse": (lambda X: sp.csr_matrix(X), "Sparse data was passed"),
    "strings": (lambda X: X.astype(str).astype(object) + "a", "convert"),
    "empty": (lambda X: X[:0], "0 sample"),
    "1d": (lambda X: X[:, 0], "2D array"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_to_fit_gives_clear_error(case):
    make, msg = BAD_INPUTS[case]
    with pytest.raises(TypeError if case == "sparse" else ValueError, match=msg):
        FlowDensity(**FAST).fit(make(_data()))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("method", ["score_samples", "transform", "predict",
                                    "decision_function", "score"])
def test_bad_input_after_fit_gives_clear_error_and_loses_nothing(fitted, case, method):
    make, msg = BAD_INPUTS[case]
    X = _data(20, seed=9)
    before = fitted.score_samples(X)
    with pytest.raises(TypeError if case == "sparse" else ValueError, match=msg):
        getattr(fitted, method)(make(X))
    np.testing.assert_array_equal(fitted.score_samples(X), before)


def test_wrong_number_of_features(fitted):
    with pytest.raises(ValueError, match="expecting 2 features"):
        fitted.score_samples(np.zeros((3, 3)))


def test_unavailable_cuda_device_is_a_clear_error():
    if torch.cuda.is_available():  # pragma: no cover
        pytest.skip("a CUDA device is available here")
    with pytest.raises(ValueError, match="cuda.*not available.*cpu"):
        FlowDensity(**{**FAST, "device": "cuda"}).fit(_data())


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="flow"):
        FlowDensity(flow="maf").fit(_data())
    with pytest.raises(ValueError, match="contamination"):
        FlowDensity(contamination=0.7).fit(_data())
    with pytest.raises(ValueError, match="hidden_dims"):
        FlowDensity(hidden_dims=(0,)).fit(_data())


def test_verbose_shows_progress(capsys):
    FlowDensity(**{**FAST, "verbose": 1, "max_epochs": 2}).fit(_data())
    out = capsys.readouterr()
    assert "train_loss" in out.out + out.err


def test_random_lwta_flow_estimator():
    X = _data(300)
    est = FlowDensity(**{**FAST, "flow": "lwta", "n_eval_samples": 8}).fit(X)
    scores = est.score_samples(X)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    # Scores are reproducible and do not depend on the batch a row comes in.
    np.testing.assert_array_equal(est.score_samples(X), scores)
    np.testing.assert_allclose(est.score_samples(X[::-1][:50]), scores[::-1][:50], atol=1e-10)
    # More winner draws: the importance-weighted estimate's spread over independent draw
    # seeds shrinks, and its mean does not fall (Burda et al., Theorem 1).
    seed = est._eval_seed
    spread, mean = {}, {}
    for S in (2, 128):
        est.set_params(n_eval_samples=S)
        draws = []
        for s in range(6):
            est._eval_seed = s
            draws.append(est.score_samples(X[:100]))
        draws = np.array(draws)
        spread[S], mean[S] = draws.std(0).mean(), draws.mean()
    est._eval_seed = seed
    assert spread[128] < 0.5 * spread[2]
    assert mean[128] >= mean[2] - 0.01
    est.set_params(n_eval_samples=8)
    assert est.sample(20, random_state=0).shape == (20, 2)
    np.testing.assert_array_equal(est.sample(5, random_state=1), est.sample(5, random_state=1))
    assert est.transform(X).shape == X.shape
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.score_samples(X), scores)
    with pytest.raises(ValueError, match="multiple of n_competitors"):
        FlowDensity(**{**FAST, "flow": "lwta", "hidden_dims": (9,), "n_lwta_blocks": None}).fit(X)
    with pytest.raises(ValueError, match="units exceed the first hidden width"):
        FlowDensity(**{**FAST, "flow": "lwta", "hidden_dims": (9,), "n_lwta_blocks": 5}).fit(X)


@pytest.mark.parametrize("n_blocks, n_dense", [(1, 6), (2, 4), (None, 0)])
def test_n_lwta_blocks_sets_the_competing_units(n_blocks, n_dense):
    est = FlowDensity(**{**FAST, "flow": "lwta", "hidden_dims": (8,), "n_train_samples": 2,
                         "n_lwta_blocks": n_blocks}).fit(_data(200))
    couplings = est.module_._stochastic()
    assert len(couplings) == FAST["n_layers"]
    for c in couplings:
        assert c.lwta.n_blocks * c.lwta.n_competitors == 8 - n_dense
        assert (c.dense is None) == (n_dense == 0)
        if n_dense:
            assert c.dense.weight.shape == (n_dense, 1)  # (out, in): a 2-D flow


def test_importance_weighted_training_loss_is_a_bound_between_elbo_and_exact(tiny_lwta_flow):
    flow = tiny_lwta_flow(2, seed=1).train()  # training mode: winners from torch's RNG
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    # One draw: the importance-weighted loss is the plain negative bound, draw for draw.
    torch.manual_seed(3)
    one = importance_weighted_nll(flow, x, n_samples=1)
    torch.manual_seed(3)
    assert torch.equal(one, negative_log_likelihood(flow, x))
    with torch.no_grad():
        exact = float(flow.log_prob_exact(x).mean())
        torch.manual_seed(4)
        elbo = -float(negative_log_likelihood(flow, x.expand(2000, *x.shape)))
        # 20 batches of 50 independent IW-8 estimates per row.
        iw = torch.stack([importance_weighted_nll(flow, x.expand(50, *x.shape), 8)
                          for _ in range(20)])
    iw_mean, iw_se = -float(iw.mean()), float(iw.std()) / math.sqrt(len(iw))
    assert exact - elbo > 0.05, "mixture members should differ for the test to bite"
    # E[ELBO] < E[IW-8] <= exact (Burda et al. 2016, Theorem 1), with Monte-Carlo slack.
    assert elbo + 0.02 < iw_mean <= exact + 3 * iw_se
    # Gradients reach every parameter, winner logits included (straight-through).
    importance_weighted_nll(flow, x, 4).backward()
    grads = [p.grad for p in flow.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert float(flow._stochastic()[0].lwta.linear.weight.grad.abs().sum()) > 0


def test_validation_loss_of_a_random_flow_uses_common_random_numbers(tiny_lwta_flow):
    flow = tiny_lwta_flow(2, seed=1)
    x = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        # Evaluation mode (validation): keyed draws, the same value whatever torch's RNG
        # state, equal to the keyed importance-weighted estimate with seed 0.
        torch.manual_seed(0)
        first = importance_weighted_nll(flow.eval(), x, 8)
        torch.manual_seed(1)
        assert torch.equal(importance_weighted_nll(flow, x, 8), first)
        assert torch.allclose(first, -flow.log_prob_iw(x, 8, seed=0).mean())
        # Training mode: fresh draws at every call.
        flow.train()
        train = [importance_weighted_nll(flow, x, 8) for _ in range(2)]
    assert not torch.equal(train[0], train[1])


def test_n_train_samples_sets_the_random_flow_objective_only():
    X = _data(300)
    fits = {s: FlowDensity(**{**FAST, "flow": "lwta", "n_eval_samples": 4,
                              "n_train_samples": s}).fit(X) for s in (1, 3)}
    assert not np.allclose(fits[1].score_samples(X), fits[3].score_samples(X))
    # The first epoch's training loss is the mean negative IW-S bound: tighter with S=3.
    assert fits[3].history_[0]["train_loss"] < fits[1].history_[0]["train_loss"]
    # Deterministic flows ignore it.
    nsf = [FlowDensity(**{**FAST, "n_train_samples": s}).fit(X).score_samples(X)
           for s in (1, 3)]
    np.testing.assert_array_equal(nsf[0], nsf[1])


# ------------------------------------------------------------ trimmed likelihood
class _Quadratic(torch.nn.Module):
    """A stand-in flow: ``log_prob(x) = -scale * ||x||^2`` per row."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    def log_prob(self, x):
        return -self.scale * (x ** 2).sum(dim=1)


@pytest.mark.parametrize("n, fraction, k", [(10, 0.25, 2), (64, 0.1, 6), (100, 0.29, 29),
                                            (100, 0.3, 30), (3, 0.3, 0), (1, 0.4, 0),
                                            (2, 0.5, 1), (50, 0.0, 0)])
def test_trimmed_loss_leaves_out_exactly_the_lowest_fraction_of_the_batch(n, fraction, k):
    assert n_trimmed(n, fraction) == k  # floor(fraction * n), exact for 0.29 * 100
    rng = np.random.RandomState(n)
    x = torch.tensor(rng.permutation(n)[:, None] + 0.5 * rng.rand(n, 2),
                     requires_grad=True)  # distinct norms, rows in random order
    module = _Quadratic()
    loss = negative_log_likelihood(module, x, trim_fraction=fraction)
    loss.backward()
    log_p = -0.5 * (x.detach() ** 2).sum(1).numpy()
    lowest = np.argsort(log_p)[:k]  # the rows the current model finds least likely
    kept = np.setdiff1d(np.arange(n), lowest)
    assert float(loss.detach()) == pytest.approx(-log_p[kept].mean(), rel=1e-12)
    grad = x.grad.numpy()
    np.testing.assert_array_equal(grad[lowest], 0.0)  # trimmed rows contribute nothing
    assert (np.abs(grad[kept]).sum(axis=1) > 0).all()
    # The kept rows get the gradient of a plain mean over the n - k kept rows.
    np.testing.assert_allclose(grad[kept], x.detach().numpy()[kept] / len(kept), rtol=1e-12)
    assert float(module.scale.grad) == pytest.approx(
        (x.detach().numpy()[kept] ** 2).sum(1).mean(), rel=1e-12)


def test_trimming_breaks_ties_by_row_order_and_zero_is_the_plain_mean():
    values = torch.tensor([1.0, -2.0, -2.0, 3.0, -2.0], dtype=torch.float64)
    # k = floor(0.4 * 5) = 2 of the three tied lowest rows go: the first two of them.
    assert float(trimmed_mean(values, 0.4)) == pytest.approx((1.0 - 2.0 + 3.0) / 3)
    assert torch.equal(trimmed_mean(values, 0.0), values.mean())
    x = torch.randn(7, 2, dtype=torch.float64)
    assert torch.equal(negative_log_likelihood(_Quadratic(), x, trim_fraction=0.0),
                       negative_log_likelihood(_Quadratic(), x))


def test_trimmed_random_flow_loss_is_the_trimmed_importance_weighted_bound(tiny_lwta_flow):
    flow = tiny_lwta_flow(2, seed=1)  # evaluation mode: keyed, deterministic draws
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        per_row = flow.log_prob_iw(x, 4, seed=0)
        expected = -per_row.sort().values[5:].mean()  # floor(0.25 * 20) = 5 rows out
        assert torch.allclose(importance_weighted_nll(flow, x, 4, trim_fraction=0.25),
                              expected)


def test_trimming_zero_gives_the_plain_fit_exactly():
    X = _data()
    plain = FlowDensity(**FAST).fit(X)
    for est in (FlowDensity(**FAST, trim_fraction=0.0),
                # "contamination" with contamination="auto" means no trimming.
                FlowDensity(**FAST, trim_fraction="contamination", contamination="auto")):
        est.fit(X)
        assert est.trim_fraction_ == 0.0
        np.testing.assert_array_equal(est.score_samples(X), plain.score_samples(X))
        for (name, a), (_, b) in zip(plain.module_.state_dict().items(),
                                     est.module_.state_dict().items()):
            assert torch.equal(a, b), name
        assert [h["train_loss"] for h in est.history_] == \
            [h["train_loss"] for h in plain.history_]
    trimmed = FlowDensity(**FAST, trim_fraction="contamination").fit(X)
    assert trimmed.trim_fraction_ == plain.contamination == 0.1
    assert not np.allclose(trimmed.score_samples(X), plain.score_samples(X))
    assert trimmed.offset_ == pytest.approx(np.percentile(trimmed.score_samples(X), 10.0))


def test_trimmed_validation_loss_is_the_trimmed_nll_of_fixed_validation_batches():
    """Early stopping compares like with like: the validation loss of an epoch is the
    same trimmed NLL, over the same (unshuffled) batches of the held-out rows."""
    X = _data(400)
    est = FlowDensity(**{**FAST, "max_epochs": 4, "validation_fraction": 0.3,
                         "trim_fraction": 0.2}).fit(X)
    rng = np.random.RandomState(est._seed())
    valid_rows = np.sort(rng.permutation(len(X))[:120])
    best = int(np.argmin([h["valid_loss"] for h in est.history_]))
    module = est.module_.eval()
    with torch.no_grad():
        losses = [(len(b), float(negative_log_likelihood(module, torch.from_numpy(b),
                                                         trim_fraction=0.2)))
                  for b in np.split(X[valid_rows], [FAST["batch_size"]])]
    expected = sum(n * v for n, v in losses) / 120
    assert est.history_[best]["valid_loss"] == pytest.approx(expected, rel=1e-9)
    # Without validation rows the trimmed loss is re-evaluated on the training rows in
    # fixed batches (evaluation mode), not the running mean over shuffled batches.
    est = FlowDensity(**{**FAST, "max_epochs": 1, "validation_fraction": 0.0,
                         "trim_fraction": 0.2}).fit(X)
    with torch.no_grad():
        losses = [(len(b), float(negative_log_likelihood(est.module_.eval(),
                                                         torch.from_numpy(b),
                                                         trim_fraction=0.2)))
                  for b in np.array_split(X, range(64, 400, 64))]
    assert est.history_[0]["monitored"] == pytest.approx(
        sum(n * v for n, v in losses) / 400, rel=1e-9)
    assert est.history_[0]["valid_loss"] is None


@pytest.mark.parametrize("seed", [0, 1])
def test_trimming_makes_the_flow_robust_to_clustered_contamination(seed,
                                                                   contaminated_gaussian):
    """10 % clustered anomalies in the training rows: the plain flow learns the cluster
    as a mode (ROC-AUC near or below 0.6 on these seeds); trimming 20 % of each batch
    keeps it out. The trimmed fraction exceeds the contamination on purpose: a batch of
    64 rows holds Binomial(64, 0.1) anomalies, often more than floor(0.1 * 64) = 6, and
    the anomalies that stay in are learned and then no longer trimmed (over seeds 0-5,
    trimming exactly 0.1 gave a ROC-AUC above 0.9 in only 2; 0.15 and 0.2 above 0.96 in
    all 6)."""
    from sklearn.metrics import roc_auc_score

    X, X_test, y_test = contaminated_gaussian(seed)
    params = dict(n_layers=2, hidden_dims=(16,), n_bins=4, max_epochs=60, batch_size=64,
                  device="cpu", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = {t: roc_auc_score(y_test, FlowDensity(**params, trim_fraction=t)
                                .fit(X).score_samples(X_test)) for t in (0.0, 0.2)}
    assert auc[0.2] > 0.95
    assert auc[0.2] > auc[0.0] + 0.2


def test_contamination_auto_sets_the_offset_from_the_model_itself():
    X = _data(400)
    est = FlowDensity(**{**FAST, "max_epochs": 10}, contamination="auto").fit(X)
    again = FlowDensity(**{**FAST, "max_epochs": 10}, contamination="auto").fit(X)
    assert est.offset_ == again.offset_  # seeded by random_state
    # offset_ is the level below which the model puts 1 % of its own mass: about 1 % of
    # fresh model draws fall below it.
    draws = est.sample(20000, random_state=123)
    below = np.mean(est.score_samples(draws) < est.offset_)
    assert 0.006 < below < 0.015
    # It does not assume a fraction of the training rows to be outliers.
    plain = FlowDensity(**{**FAST, "max_epochs": 10}).fit(X)
    np.testing.assert_array_equal(plain.score_samples(X), est.score_samples(X))
    assert np.mean(plain.predict(X) == -1) == pytest.approx(0.1, abs=0.01)
    assert np.mean(est.predict(X) == -1) < 0.05
    np.testing.assert_array_equal(est.decision_function(X),
                                  est.score_samples(X) - est.offset_)


@pytest.mark.parametrize("params", [{"trim_fraction": 0.5}, {"trim_fraction": -0.1},
                                    {"trim_fraction": "auto"}, {"contamination": "none"},
                                    {"contamination": 0.0}])
def test_invalid_trimming_and_contamination_are_rejected(params):
    with pytest.raises(ValueError):
        FlowDensity(**{**FAST, **params}).fit(_data(50))
