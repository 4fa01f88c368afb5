"""Behaviour of FlowMixtureClustering: exact posterior and mixture density, sampling,
semi-supervised labels, scikit-learn integration, persistence, determinism and errors."""

import math
import warnings
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import cross_validate

from skflows import FlowMixtureClustering
from skflows._testing import FAST_PARAMS

FAST = FAST_PARAMS["FlowMixtureClustering"]


_CENTERS = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 7.0]])


def _blobs(n=300, seed=0):
    """Three well-separated round blobs (Bayes error ~ 0)."""
    return make_blobs(n, centers=_CENTERS, cluster_std=0.8, random_state=seed)


@pytest.fixture(scope="module")
def fitted():
    X, _ = _blobs()
    return FlowMixtureClustering(**{**FAST, "max_epochs": 10}).fit(X)


def _independent_log_density(est, X):
    """log sum_k pi_k p_k(x) by the change of variables with an autograd Jacobian,
    independent of the layers' own log-determinant bookkeeping."""
    module = est.module_
    K, (n, d) = est.n_components, X.shape
    x = torch.tensor(X).expand(K, n, d).clone().requires_grad_(True)
    z, _ = module.flow(x)
    rows = [torch.autograd.grad(z[..., j].sum(), x, retain_graph=True)[0] for j in range(d)]
    jac = torch.stack(rows, dim=-2)  # (K, n, d, d): d z_j / d x_i of each point
    log_det = torch.linalg.slogdet(jac)[1]
    log_pk = -0.5 * (z * z).sum(-1) - 0.5 * d * math.log(2 * math.pi) + log_det
    log_joint = (log_pk.T + torch.log(torch.tensor(est.weights_))).detach().numpy()
    m = log_joint.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(log_joint - m).sum(axis=1, keepdims=True)))[:, 0], log_joint


def test_score_samples_is_the_mixture_of_the_component_densities(fitted):
    X, _ = _blobs(40, seed=1)
    expected, log_joint = _independent_log_density(fitted, X)
    np.testing.assert_allclose(fitted.score_samples(X), expected, rtol=0, atol=1e-8)
    # ... and the exact posterior is Bayes' rule on the same components.
    posterior = np.exp(log_joint - expected[:, None])
    np.testing.assert_allclose(fitted.predict_proba(X), posterior, rtol=0, atol=1e-10)
    assert fitted.score(X) == pytest.approx(np.mean(expected))


def test_mixture_density_integrates_to_one(fitted):
    X, _ = _blobs()
    lo, hi = X.min(0) - 6, X.max(0) + 6
    g0, g1 = np.linspace(lo[0], hi[0], 401), np.linspace(lo[1], hi[1], 401)
    grid = np.stack(np.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
    dens = np.exp(fitted.score_samples(grid)).reshape(401, 401)
    mass = np.trapezoid(np.trapezoid(dens, g1, axis=1), g0)
    assert abs(mass - 1.0) < 1e-2


@pytest.mark.parametrize("method", ["posterior", "variational"])
def test_predict_proba_rows_sum_to_one_and_predict_is_argmax(fitted, method):
    X, _ = _blobs(50, seed=2)
    proba = fitted.predict_proba(X, method=method)
    assert proba.shape == (50, 3) and proba.dtype == np.float64
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = fitted.predict(X, method=method)
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))


def test_clusters_blobs_and_attributes(fitted):
    X, y = _blobs()
    assert adjusted_rand_score(y, fitted.labels_) > 0.95
    np.testing.assert_array_equal(fitted.labels_, fitted.predict(X))
    assert fitted.labels_.dtype == np.int64 and fitted.labels_.shape == (300,)
    np.testing.assert_allclose(fitted.weights_, np.full(3, 1 / 3))
    assert 0 < fitted.temperature_ <= 1
    assert fitted.n_iter_ == len(fitted.history_) and fitted.n_iter_ >= 1
    # q has been trained towards the exact posterior.
    agree = fitted.predict(X, method="variational") == fitted.labels_
    assert agree.mean() > 0.9


def test_posterior_network_starts_as_the_exact_posterior():
    """Before training (lr ~ 0, T = 1), q equals the initial mixture's exact posterior,
    whose components sit on the k-means clusters."""
    X, y = _blobs()
    est = FlowMixtureClustering(**{**FAST, "lr": 1e-12, "max_epochs": 1,
                                   "temperature_decay": 0.0}).fit(X)
    np.testing.assert_allclose(est.predict_proba(X, method="variational"),
                               est.predict_proba(X), atol=1e-6)
    assert adjusted_rand_score(y, est.labels_) == 1.0


def test_temperature_follows_the_annealing_schedule():
    X, _ = _blobs(200)
    est = FlowMixtureClustering(**{**FAST, "temperature_decay": 0.05,
                                   "min_temperature": 0.2, "validation_fraction": 0.0,
                                   "max_epochs": 2, "batch_size": 50}).fit(X)
    steps = int(est.module_.n_steps)
    assert steps == 8  # 2 epochs x 4 mini-batches
    assert est.temperature_ == pytest.approx(max(0.2, math.exp(-0.05 * (steps - 1))))
    flat = FlowMixtureClustering(**{**FAST, "temperature_decay": 0.0}).fit(X)
    assert flat.temperature_ == 1.0


def test_sample_labels_match_the_component_sampled(fitted):
    S, labels = fitted.sample(900, random_state=0)
    assert S.shape == (900, 2) and labels.shape == (900,) and labels.dtype == np.int64
    assert np.all(np.diff(labels) >= 0)  # ordered by component, as GaussianMixture
    counts = np.bincount(labels, minlength=3)
    assert np.all(np.abs(counts / 900 - fitted.weights_) < 0.06)
    # Well-separated components: each sample is most probable under its own component.
    assert np.mean(fitted.predict(S) == labels) > 0.97
    # Each component's samples follow that component: its density is the largest there.
    log_joint = _independent_log_density(fitted, S.astype(np.float64))[1]
    own = log_joint[np.arange(900), labels]
    assert np.mean(own >= log_joint.max(axis=1) - 1e-12) > 0.97


def test_sample_reproducible_and_leaves_global_rng(fitted):
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a, ya = fitted.sample(30, random_state=3)
    b, yb = fitted.sample(30, random_state=3)
    c, _ = fitted.sample(30, random_state=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a, c)
    assert torch.equal(torch_state, torch.get_rng_state())
    np.testing.assert_array_equal(np_state, np.random.get_state()[1])
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


def _labels_with_unlabeled(y, n_per_class, seed=0):
    """Keep ``n_per_class`` labels per class, -1 elsewhere; relabel classes so that the
    label permutation is not the identity of any natural ordering."""
    rng = np.random.RandomState(seed)
    y_semi = np.full_like(y, -1)
    for k in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == k), n_per_class, replace=False)
        y_semi[keep] = (k + 1) % len(np.unique(y))
    return y_semi


def test_semi_supervised_labels_tie_components():
    X, y = _blobs(300)
    y_semi = _labels_with_unlabeled(y, 5)
    est = FlowMixtureClustering(**{**FAST, "max_epochs": 5}).fit(X, y_semi)
    labeled = y_semi >= 0
    # Component k is the class labeled k: labeled rows and their blobs follow the labels.
    np.testing.assert_array_equal(est.labels_[labeled], y_semi[labeled])
    assert np.mean(est.labels_ == (y + 1) % 3) > 0.95
    np.testing.assert_array_equal(est.fit_predict(X, y_semi), est.labels_)


def test_all_unlabeled_equals_unsupervised(fitted):
    X, _ = _blobs()
    est = clone(fitted).fit(X, np.full(len(X), -1))
    np.testing.assert_array_equal(est.score_samples(X), fitted.score_samples(X))


def test_all_labeled_auto_ignores_y_and_true_trains_supervised(fitted):
    X, y = _blobs()
    flipped = (y + 1) % 3
    # "auto": a y without -1 is ignored, as every scikit-learn clusterer ignores y.
    ignored = clone(fitted).fit(X, flipped)
    np.testing.assert_array_equal(ignored.score_samples(X), fitted.score_samples(X))
    # True: a fully supervised fit; each component is its class.
    supervised = clone(fitted).set_params(semi_supervised=True).fit(X, flipped)
    assert np.mean(supervised.labels_ == flipped) > 0.98
    # False: never uses y, even with -1 entries.
    y_semi = _labels_with_unlabeled(y, 5)
    off = clone(fitted).set_params(semi_supervised=False).fit(X, y_semi)
    np.testing.assert_array_equal(off.score_samples(X), fitted.score_samples(X))


def test_cross_validate_with_a_clustering_scorer_does_not_train_on_targets():
    X, y = _blobs(240)
    est = FlowMixtureClustering(**FAST)
    scores = cross_validate(est, X, y, scoring="adjusted_rand_score", cv=2)["test_score"]
    assert np.all(scores > 0.9)


@pytest.mark.parametrize("y, match", [
    (np.r_[np.full(299, -1), 3], "component index"),
    (np.r_[np.full(299, -1), -2], "component index"),
    (np.full(10, -1), "one label per row"),
    (np.r_[np.full(299, -1), 0.5], "integer labels"),
])
def test_bad_labels_raise(y, match):
    X, _ = _blobs()
    with pytest.raises(ValueError, match=match):
        FlowMixtureClustering(**FAST).fit(X, y)


def test_string_labels_raise_when_semi_supervised_is_true():
    X, _ = _blobs(30)
    with pytest.raises(ValueError, match="integer labels"):
        FlowMixtureClustering(**{**FAST, "semi_supervised": True}).fit(X, ["a"] * 30)


def test_learned_weights_follow_cluster_sizes():
    X, _ = make_blobs([320, 80], centers=[[-4, 0], [4, 0]], cluster_std=0.5,
                      random_state=0)
    est = FlowMixtureClustering(**{**FAST, "n_components": 2, "weight_prior": "learned",
                                   "max_epochs": 40, "lr": 1e-2}).fit(X)
    assert est.weights_.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sort(est.weights_), [0.2, 0.8], atol=0.05)


def test_parameter_count_of_a_tiny_mixture_by_hand():
    # K = 2 RealNVP components on d = 2, two coupling layers with one hidden layer of 3
    # units, order reversal between them (no LU), learned weights. Per component: the
    # initial ActNorm (loc and log-scale, 2 * d = 4) and per coupling an MLP from the 1
    # identity feature to the shift and log-scale of the other: (1 * 3 + 3) + (3 * 2 + 2)
    # = 14. Total 2 * (4 + 2 * 14) + (K - 1) = 65; the posterior network is not counted.
    X, _ = _blobs()
    est = FlowMixtureClustering(n_components=2, flow="realnvp", n_layers=2, hidden_dims=(3,),
                                permutation="reverse", posterior_hidden_dims=(4,),
                                weight_prior="learned", max_epochs=1, device="cpu",
                                random_state=0).fit(X)
    assert est._n_parameters() == 65
    n, ll = len(X), est.score(X) * len(X)
    assert est.bic(X) == pytest.approx(-2 * ll + 65 * np.log(n), rel=1e-12)
    assert est.aic(X) == pytest.approx(-2 * ll + 2 * 65, rel=1e-12)


def test_bic_aic(fitted):
    X, _ = _blobs()
    n, ll = len(X), fitted.score(X) * len(X)
    p = fitted._n_parameters()
    total = sum(t.numel() for t in fitted.module_.flow.parameters())
    assert 0 < p < total  # LU layers' unused triangles are not counted
    assert fitted.bic(X) == pytest.approx(-2 * ll + p * np.log(n))
    assert fitted.aic(X) == pytest.approx(-2 * ll + 2 * p)


def test_same_random_state_gives_identical_fits_and_leaves_global_rng():
    X, y = _blobs(200)
    y_semi = _labels_with_unlabeled(y, 4)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = FlowMixtureClustering(**FAST).fit(X, y_semi).predict_proba(X)
    b = FlowMixtureClustering(**FAST).fit(X, y_semi).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = FlowMixtureClustering(**{**FAST, "random_state": 1}).fit(X, y_semi).predict_proba(X)
    assert not np.allclose(a, c)
    assert torch.equal(torch_state, torch.get_rng_state())
    np.testing.assert_array_equal(np_state, np.random.get_state()[1])


def test_float32_trains_in_float32():
    X, _ = _blobs(200)
    est = FlowMixtureClustering(**FAST).fit(X.astype(np.float32))
    assert next(est.module_.parameters()).dtype == torch.float32
    assert est.score_samples(X).dtype == np.float64
    assert est.sample(3, random_state=0)[0].dtype == np.float32
    np.testing.assert_allclose(est.predict_proba(X).sum(1), 1.0, atol=1e-6)


def test_warm_start_continues_the_schedule():
    X, _ = _blobs(200)
    est = FlowMixtureClustering(**{**FAST, "warm_start": True, "validation_fraction": 0.0})
    est.fit(X)
    steps = int(est.module_.n_steps)
    est.fit(X)
    assert int(est.module_.n_steps) == 2 * steps
    assert est.temperature_ < 1.0


def test_pickle_round_trip(fitted):
    X, _ = _blobs(60, seed=5)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.score_samples(X), fitted.score_samples(X))
    for method in ["posterior", "variational"]:
        np.testing.assert_array_equal(restored.predict_proba(X, method=method),
                                      fitted.predict_proba(X, method=method))
    for a, b in zip(restored.sample(7, random_state=0), fitted.sample(7, random_state=0)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(restored.labels_, fitted.labels_)


def test_errors(fitted):
    X, _ = _blobs(50)
    unfitted = FlowMixtureClustering(**FAST)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic"):
        with pytest.raises(NotFittedError):
            getattr(unfitted, method)(X)
    with pytest.raises(NotFittedError):
        unfitted.sample(2)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :1])
    with pytest.raises(ValueError, match="method"):
        fitted.predict_proba(X, method="exact")
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.score_samples(bad)
    with pytest.raises(ValueError, match="NaN"):
        FlowMixtureClustering(**FAST).fit(bad)
    with pytest.raises(ValueError, match="n_components"):
        FlowMixtureClustering(**{**FAST, "n_components": 5}).fit(X[:4])
    with pytest.raises(ValueError, match="n_components"):
        FlowMixtureClustering(**{**FAST, "n_components": 0}).fit(X)
    with pytest.raises(ValueError, match="semi_supervised"):
        FlowMixtureClustering(**{**FAST, "semi_supervised": "yes"}).fit(X)


# ---------------------------------------------------------------- exact posterior, starts
from skflows.mixture import (GaussianStart, mixture_nll,  # noqa: E402
                             negative_elbo, negative_marginal_likelihood)


def _tiny_module(init_params="kmeans", **params):
    X, _ = _blobs(120)
    est = FlowMixtureClustering(**{**FAST, "init_params": init_params, "lr": 0.0,
                                   "max_epochs": 1, **params}).fit(X)
    return est, torch.tensor(X)


@pytest.mark.parametrize("init_params", ["kmeans", "gmm"])
def test_exact_posterior_objective_is_the_marginal_log_likelihood(init_params):
    est, x = _tiny_module(init_params)
    module = est.module_
    unlabeled = torch.full((len(x),), -1)
    loss = negative_marginal_likelihood(module, x, unlabeled)
    # Its value is -mean log sum_k pi_k p_k(x), the metric early stopping watches...
    expected = -torch.logsumexp(module.log_joint(x), -1).mean()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    assert loss.item() == pytest.approx(mixture_nll(module, x).item(), abs=1e-10)
    assert loss.item() == pytest.approx(-est.score(x.numpy()), abs=1e-10)
    # ... and its gradient on the flows is the responsibility-weighted (EM) gradient.
    flow_params = list(module.flow.parameters())
    grads = torch.autograd.grad(loss, flow_params, allow_unused=True)
    log_joint = module.log_joint(x)
    resp = torch.softmax(log_joint, -1).detach()
    em = -(resp * log_joint).sum(-1).mean()
    em_grads = torch.autograd.grad(em, flow_params, allow_unused=True)
    for g, h in zip(grads, em_grads):
        if g is None:
            assert h is None or torch.count_nonzero(h) == 0
        else:
            torch.testing.assert_close(g, h, rtol=1e-9, atol=1e-12)


def test_exact_posterior_objective_labeled_rows_and_q_distillation():
    est, x = _tiny_module()
    module = est.module_
    label = torch.full((len(x),), -1)
    label[:5] = 2
    loss = negative_marginal_likelihood(module, x, label)
    log_joint = module.log_joint(x)
    objective = torch.logsumexp(log_joint, -1)
    objective[:5] = log_joint[:5, 2]
    assert loss.item() == pytest.approx(-objective.mean().item(), abs=1e-10)
    # The cross-entropy of q adds no value but trains q: towards the exact posterior
    # (unlabeled rows) and the label (labeled rows), without reaching the flows.
    post = list(module.posterior.parameters())
    grads = torch.autograd.grad(loss, post)
    target = torch.softmax(log_joint, -1).detach()
    target[:5] = torch.nn.functional.one_hot(torch.tensor(2), 3).double()
    ce = -(target * module.log_q(x)).sum(-1).mean()
    for g, h in zip(grads, torch.autograd.grad(ce, post)):
        torch.testing.assert_close(g, h)
    # The ELBO lies below the marginal likelihood (its loss above), equal when q = p.
    assert negative_elbo(module, x, torch.full((len(x),), -1)).item() >= mixture_nll(
        module, x).item() - 1e-9


def test_exact_posterior_fit_clusters_and_trains_q():
    X, y = _blobs()
    est = FlowMixtureClustering(**{**FAST, "posterior": "exact", "max_epochs": 10}).fit(X)
    assert adjusted_rand_score(y, est.labels_) > 0.95
    assert np.mean(est.predict(X, method="variational") == est.labels_) > 0.9
    y_semi = _labels_with_unlabeled(y, 5)
    semi = FlowMixtureClustering(**{**FAST, "posterior": "exact", "max_epochs": 5,
                                    "init_params": "gmm"}).fit(X, y_semi)
    labeled = y_semi >= 0
    np.testing.assert_array_equal(semi.labels_[labeled], y_semi[labeled])
    assert np.mean(semi.labels_ == (y + 1) % 3) > 0.95


@pytest.mark.parametrize("param, value", [("posterior", "variational"),
                                          ("posterior", None),
                                          ("init_params", "gaussian")])
def test_invalid_posterior_and_init_params_raise(param, value):
    X, _ = _blobs(30)
    with pytest.raises(ValueError, match=param):
        FlowMixtureClustering(**{**FAST, param: value}).fit(X)


def test_gaussian_start_is_a_full_covariance_gaussian():
    from scipy.stats import multivariate_normal
    rng = np.random.RandomState(0)
    K, d = 2, 3
    loc = rng.normal(size=(K, d))
    covs = []
    for _ in range(K):
        A = rng.normal(size=(d, d))
        covs.append(A @ A.T + 0.5 * np.eye(d))
    # scikit-learn's convention: precision = U U^T with U upper-triangular.
    chol = np.stack([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    layer = GaussianStart(torch.tensor(loc), torch.tensor(chol))
    x = torch.tensor(rng.normal(size=(K, 7, d)))
    z, log_det = layer(x)
    log_p = -0.5 * (z * z).sum(-1) - 0.5 * d * math.log(2 * math.pi) + log_det
    for k in range(K):
        np.testing.assert_allclose(log_p[k].detach().numpy(),
                                   multivariate_normal(loc[k], covs[k]).logpdf(x[k].numpy()),
                                   rtol=1e-10)
    back, inv_log_det = layer.inverse(z)
    torch.testing.assert_close(back, x)
    torch.testing.assert_close(inv_log_det, -log_det)
    # d (d + 1) / 2 covariance parameters and d means per component.
    assert sum(p.numel() for p in layer.parameters()) == K * (d + d * (d + 1) // 2)


def test_gmm_start_is_the_chosen_gaussian_mixture_and_q_its_posterior():
    X, y = _blobs(200)
    est = FlowMixtureClustering(**{**FAST, "init_params": "gmm", "weight_prior": "learned",
                                   "lr": 0.0, "max_epochs": 1,
                                   "temperature_decay": 0.0}).fit(X)
    from skflows.mixture import _GMM_REG_COVARS
    assert est.init_reg_covar_ in _GMM_REG_COVARS
    assert adjusted_rand_score(y, est.labels_) == 1.0
    np.testing.assert_allclose(np.sort(est.weights_), np.sort(np.bincount(y) / len(y)),
                               atol=0.05)
    # Untrained, q is the exact posterior of the Gaussian start.
    np.testing.assert_allclose(est.predict_proba(X, method="variational"),
                               est.predict_proba(X), atol=1e-6)
    S, labels = est.sample(60, random_state=0)
    assert np.mean(est.predict(S) == labels) > 0.95
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.score_samples(X), est.score_samples(X))
    kmeans = FlowMixtureClustering(**{**FAST, "max_epochs": 1}).fit(X)
    assert kmeans.init_reg_covar_ is None


def test_gmm_start_keeps_bic_parameter_count():
    X, _ = _blobs()
    est = FlowMixtureClustering(n_components=2, flow="realnvp", n_layers=2, hidden_dims=(3,),
                                permutation="reverse", posterior_hidden_dims=(4,),
                                init_params="gmm", max_epochs=1, device="cpu",
                                random_state=0).fit(X)
    # As the by-hand count above, with a full-covariance start: per component 2 means
    # and 3 covariance parameters instead of 4 ActNorm parameters.
    assert est._n_parameters() == 2 * (5 + 2 * 14)


def test_initial_partition_leaves_the_validation_rows_out(monkeypatch):
    import skflows._training as training
    seen = {}
    split_init = training._IndexSplit.__init__

    def spy_split(self, train_index, valid_index):
        seen.setdefault("engine", valid_index)
        split_init(self, train_index, valid_index)

    build = FlowMixtureClustering._build_module

    def spy_build(self, X, labels, seed, train_rows=None, valid_rows=None, reg_covar=None):
        if "start_fit" not in seen:  # the start (a restored start is refitted later)
            seen["start_fit"], seen["start_valid"] = train_rows, valid_rows
        return build(self, X, labels, seed, train_rows, valid_rows, reg_covar)

    monkeypatch.setattr(training._IndexSplit, "__init__", spy_split)
    monkeypatch.setattr(FlowMixtureClustering, "_build_module", spy_build)
    X, _ = _blobs(200)
    for random_state in (0, np.random.RandomState(1), None):
        seen.clear()
        FlowMixtureClustering(**{**FAST, "random_state": random_state,
                                 "init_params": "gmm"}).fit(X)
        np.testing.assert_array_equal(seen["start_valid"], seen["engine"])
        assert len(np.intersect1d(seen["start_fit"], seen["start_valid"])) == 0
        assert len(seen["start_fit"]) + len(seen["start_valid"]) == len(X)
    # No validation rows: the start sees every row.
    seen.clear()
    FlowMixtureClustering(**{**FAST, "validation_fraction": 0.0}).fit(X)
    assert seen["start_fit"] is None and seen["start_valid"] is None


def test_start_is_restored_when_no_epoch_beats_it_on_the_validation_rows():
    X, _ = _blobs(200)
    start = FlowMixtureClustering(**{**FAST, "lr": 0.0, "max_epochs": 1}).fit(X)
    # Untrained (lr = 0): no epoch beats the start, which is kept.
    assert start.start_restored_
    # Epochs that improve on the start by less than tol do not replace it (the rule of
    # early stopping, with the start as epoch 0): the start's weights come back.
    tiny = FlowMixtureClustering(**{**FAST, "lr": 1e-9, "max_epochs": 2}).fit(X)
    assert tiny.start_restored_
    np.testing.assert_array_equal(tiny.score_samples(X), start.score_samples(X))
    gmm = FlowMixtureClustering(**{**FAST, "lr": 0.0, "max_epochs": 1,
                                   "init_params": "gmm"}).fit(X)
    assert gmm.start_restored_ and gmm.init_reg_covar_ is not None
    # On curved clusters the trained flows beat their Gaussian start and are kept.
    from sklearn.datasets import make_moons
    moons, _ = make_moons(300, noise=0.05, random_state=0)
    params = {**FAST, "n_components": 2, "lr": 1e-2}
    trained = FlowMixtureClustering(**{**params, "max_epochs": 10}).fit(moons)
    untrained = FlowMixtureClustering(**{**params, "lr": 0.0, "max_epochs": 1}).fit(moons)
    assert not trained.start_restored_
    assert trained.score(moons) > untrained.score(moons) + 0.1
    # Without validation rows nothing is restored.
    none = FlowMixtureClustering(**{**FAST, "lr": 0.0, "validation_fraction": 0.0}).fit(X)
    assert not none.start_restored_


def test_a_gain_within_its_standard_error_does_not_replace_the_start():
    # The restore rule compares the trained mixture with its start on the same
    # validation rows: it keeps the trained one only if the mean per-row gain exceeds
    # tol and one standard error of that gain.
    from sklearn.datasets import make_moons
    moons, _ = make_moons(300, noise=0.05, random_state=0)
    params = {**FAST, "n_components": 2, "lr": 1e-2}
    trained = FlowMixtureClustering(**{**params, "max_epochs": 10}).fit(moons)
    start = FlowMixtureClustering(**{**params, "lr": 0.0, "max_epochs": 1}).fit(moons)
    start_state = {k: v.clone() for k, v in start.module_.state_dict().items()}
    trained_state = {k: v.clone() for k, v in trained.module_.state_dict().items()}
    gain = trained.score_samples(moons) - start.score_samples(moons)
    order = np.argsort(gain)
    assert gain[order[-1]] > 0.1 and gain[order[0]] < -0.01
    # A clear gain on many rows: the trained mixture is kept (its weights untouched).
    clear = moons[order[-60:]]
    assert not trained._restore_start_if_better(clear, start_state)
    for k, v in trained.module_.state_dict().items():
        assert torch.equal(v, trained_state[k])
    # Rows whose gains average above tol but scatter far more widely than that mean
    # (one standard error exceeds it): the start comes back.
    best, worst = order[-1], order[0]

    def mean_and_standard_error(r):
        return gain[r].mean(), gain[r].std(ddof=1) / np.sqrt(len(r))

    rows = next(r for n in range(1, 30) for w in range(1, 30)
                for r in [np.r_[[best] * w, [worst] * n]]
                if trained.tol < mean_and_standard_error(r)[0]
                < mean_and_standard_error(r)[1])
    noisy_gain = gain[rows]
    assert noisy_gain.mean() > trained.tol
    assert noisy_gain.mean() < noisy_gain.std(ddof=1) / np.sqrt(len(rows))
    assert trained._restore_start_if_better(moons[rows], start_state)
    np.testing.assert_allclose(trained.score_samples(moons), start.score_samples(moons))


def test_start_regularisation_leaves_the_default_only_for_a_clear_gain():
    # Round Gaussian blobs: no regularisation beats scikit-learn's default reg_covar by
    # more than the noise of the validation rows, so the default is kept.
    X, _ = _blobs(300)
    params = {**FAST, "n_components": 3, "init_params": "gmm", "lr": 0.0, "max_epochs": 1}
    for seed in range(3):
        est = FlowMixtureClustering(**{**params, "random_state": seed}).fit(X)
        assert est.init_reg_covar_ == 1e-6
    # 15-D clusters of 60 rows (about 54 training rows for 120 covariance entries): the
    # unregularised covariances overfit their training rows by many nats per
    # validation row, and a larger reg_covar is chosen.
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(3), 60)
    X = rng.randn(180, 15) + 6 * np.eye(3, 15)[labels]
    for seed in range(2):
        est = FlowMixtureClustering(**{**params, "random_state": seed}).fit(X)
        assert est.init_reg_covar_ > 1e-6


def test_gmm_start_fits_nearly_singular_data():
    # Low-rank data with constant and sparse binary columns and more features than
    # rows per cluster (as ADBench's arrhythmia): the start's extra candidate used to
    # get a precision matrix that scikit-learn refused as not positive-definite.
    rng = np.random.RandomState(0)
    X = rng.rand(150, 8) @ rng.rand(8, 120) + 0.01 * rng.rand(150, 120)
    X[:, :10] = 0.0
    X[:, 10:20] = rng.rand(150, 10) > 0.95
    X = X / X.max(axis=0).clip(1e-12)
    est = FlowMixtureClustering(**{**FAST, "n_components": 1, "init_params": "gmm",
                                   "max_epochs": 1}).fit(X)
    assert np.isfinite(est.score_samples(X)).all()


def test_regularised_precisions_are_symmetric_positive_definite_inverses():
    from skflows.mixture import _regularised_precisions
    rng = np.random.RandomState(0)
    A = rng.randn(3, 6, 2)
    covariances = A @ np.swapaxes(A, 1, 2)       # rank 2 in 6-D
    P = _regularised_precisions(covariances, 1e-3)
    np.testing.assert_array_equal(P, np.swapaxes(P, 1, 2))
    assert (np.linalg.eigvalsh(P) > 0).all()
    np.testing.assert_allclose(P @ (covariances + 1e-3 * np.eye(6)), np.broadcast_to(
        np.eye(6), (3, 6, 6)), atol=1e-8)


def test_a_restored_start_is_refitted_on_every_training_row():
    # Three well-separated blobs of 60, 120 and 180 rows: a Gaussian mixture fitted on
    # all 360 rows has the weights 1/6, 1/3, 1/2 exactly; one fitted on the 90 %
    # training part of a random split has that part's proportions.
    X, _ = make_blobs([60, 120, 180], centers=[[-8, 0], [0, 8], [8, 0]],
                      cluster_std=0.5, random_state=0)
    for init in ("kmeans", "gmm"):
        est = FlowMixtureClustering(**{**FAST, "n_components": 3, "init_params": init,
                                       "weight_prior": "learned", "lr": 0.0,
                                       "max_epochs": 1}).fit(X)
        assert est.start_restored_
        np.testing.assert_allclose(np.sort(est.weights_), [1 / 6, 1 / 3, 1 / 2],
                                   atol=1e-6)
    # The refit keeps the regularisation that the validation rows chose.
    gmm = FlowMixtureClustering(**{**FAST, "n_components": 3, "init_params": "gmm",
                                   "lr": 0.0, "max_epochs": 1}).fit(X)
    assert gmm.init_reg_covar_ is not None


def test_learned_weights_start_at_the_partition_proportions():
    X, _ = make_blobs([320, 80], centers=[[-4, 0], [4, 0]], cluster_std=0.5,
                      random_state=0)
    for init in ("kmeans", "gmm"):
        est = FlowMixtureClustering(**{**FAST, "n_components": 2, "init_params": init,
                                       "weight_prior": "learned", "lr": 0.0,
                                       "max_epochs": 1}).fit(X)
        np.testing.assert_allclose(np.sort(est.weights_), [0.2, 0.8], atol=0.02)


# ---------------------------------------------------------------- trimmed likelihood
@pytest.mark.parametrize("loss_fn", [negative_marginal_likelihood, negative_elbo])
def test_trimmed_losses_leave_out_the_lowest_unlabeled_rows_only(loss_fn):
    est, x = _tiny_module()
    module = est.module_
    x = x.clone().requires_grad_(True)
    label = torch.full((len(x),), -1)
    with torch.no_grad():
        log_joint = module.log_joint(x)
        if loss_fn is negative_marginal_likelihood:
            per_row = torch.logsumexp(log_joint, -1)
        else:
            log_q = module.log_q(x)
            per_row = (log_q.exp() * (log_joint - log_q)).sum(-1)
    order = torch.argsort(per_row, stable=True)
    # Label two of the least likely rows: they must stay in, and k counts the others.
    label[order[:2]] = 0
    with torch.no_grad():  # a labeled row's objective is its own component's
        per_row[order[:2]] = log_joint[order[:2], 0] + (
            log_q[order[:2], 0] if loss_fn is negative_elbo else 0.0)
    unlabeled = (label < 0).numpy()
    k = int(np.floor(0.25 * unlabeled.sum()))  # 29 of 118 unlabeled rows
    keys = np.where(unlabeled, per_row.numpy(), np.inf)
    trimmed = np.argsort(keys, kind="stable")[:k]
    kept = np.setdiff1d(np.arange(len(x)), trimmed)
    assert not np.isin(order[:2].numpy(), trimmed).any()
    loss = loss_fn(module, x, label, trim_fraction=0.25)
    assert loss.item() == pytest.approx(-per_row.numpy()[kept].mean(), rel=1e-10)
    # The flows get the gradient of a plain mean over the kept rows: none from the
    # trimmed ones.
    log_joint_g = module.log_joint(x)
    if loss_fn is negative_marginal_likelihood:
        rows = torch.logsumexp(log_joint_g, -1)
        rows = torch.where(label >= 0, log_joint_g[:, 0], rows)
    else:
        log_q_g = module.log_q(x)
        rows = (log_q_g.exp() * (log_joint_g - log_q_g)).sum(-1)
        rows = torch.where(label >= 0, log_joint_g[:, 0] + log_q_g[:, 0], rows)
    expected = -rows[torch.from_numpy(kept)].mean()
    flow_params = list(module.flow.parameters())
    for g, h in zip(torch.autograd.grad(loss, flow_params, retain_graph=True,
                                        allow_unused=True),
                    torch.autograd.grad(expected, flow_params, allow_unused=True)):
        if g is None or h is None:
            assert g is None and h is None
        else:
            torch.testing.assert_close(g, h, rtol=1e-9, atol=1e-12)
    if loss_fn is negative_elbo:  # (the exact loss's q term reaches x on every row)
        (grad,) = torch.autograd.grad(loss, x)
        np.testing.assert_array_equal(grad.numpy()[trimmed], 0.0)
        assert (np.abs(grad.numpy()[kept]).sum(axis=1) > 0).all()
    # The monitored metric is the same trimmed mean of the log-likelihood.
    with torch.no_grad():
        metric = mixture_nll(module, x, label, trim_fraction=0.25)
        evidence = torch.logsumexp(log_joint, -1).numpy()
    keys = np.where(unlabeled, evidence, np.inf)
    kept_metric = np.sort(np.argsort(keys, kind="stable")[k:])
    assert metric.item() == pytest.approx(-evidence[kept_metric].mean(), rel=1e-10)
    # Trimming 0 is the plain loss, exactly.
    assert torch.equal(loss_fn(module, x, label, trim_fraction=0.0), loss_fn(module, x, label))


def test_trimming_zero_gives_the_plain_fit_exactly():
    X, _ = _blobs(200)
    for init_params in ("kmeans", "gmm"):
        plain = FlowMixtureClustering(**{**FAST, "init_params": init_params}).fit(X)
        zero = FlowMixtureClustering(**{**FAST, "init_params": init_params},
                                     trim_fraction=0.0).fit(X)
        for (name, a), (_, b) in zip(plain.module_.state_dict().items(),
                                     zero.module_.state_dict().items()):
            assert torch.equal(a, b), name
        assert [h["valid_loss"] for h in plain.history_] == \
            [h["valid_loss"] for h in zero.history_]


@pytest.mark.parametrize("init_params", ["kmeans", "gmm"])
def test_trimmed_start_leaves_a_cluster_of_anomalies_out(init_params):
    """C-steps of the start: 10 % clustered anomalies pull the plain start's centre
    towards them; the trimmed start is the inliers' Gaussian (their mean, a covariance
    shrunk by the trimming)."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(450, 2), [4.0, 4.0] + 0.1 * rng.randn(50, 2)])
    starts = {}
    for trim in (0.0, 0.2):
        est = FlowMixtureClustering(**{**FAST, "n_components": 1,
                                       "init_params": init_params}, trim_fraction=trim)
        est._set_standardization(X)
        Xs = (X - est.mean_) / est.scale_
        loc, std, chol, weights = est._initial_partition(Xs, np.full(len(X), -1), 0)
        starts[trim] = loc[0] * est.scale_ + est.mean_  # back in the units of X
    assert np.linalg.norm(starts[0.0] - 0.4) < 0.15   # pulled: 10 % of the way to (4, 4)
    assert np.linalg.norm(starts[0.2]) < 0.15         # the inliers' centre
    # Labeled rows are never trimmed: labeled anomalies keep the start on them.
    est = FlowMixtureClustering(**{**FAST, "n_components": 1,
                                   "init_params": init_params}, trim_fraction=0.2)
    est._set_standardization(X)
    labels = np.r_[np.full(450, -1), np.zeros(50, dtype=int)]
    loc, *_ = est._initial_partition((X - est.mean_) / est.scale_, labels, 0)
    assert np.linalg.norm(loc[0] * est.scale_ + est.mean_ - starts[0.2]) > 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_trimming_makes_the_mixture_robust_to_clustered_contamination(seed,
                                                                      contaminated_gaussian):
    """10 % clustered anomalies in the training rows (the FlowDensity test's data): the
    plain mixture learns the cluster as density (ROC-AUC below 0.7 on these seeds),
    the trimmed one keeps it out."""
    from sklearn.metrics import roc_auc_score

    X, X_test, y_test = contaminated_gaussian(seed)
    params = dict(n_components=1, init_params="gmm", posterior="exact", flow="nsf",
                  n_layers=2, hidden_dims=(16,), n_bins=4, max_epochs=30, batch_size=64,
                  device="cpu", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = {t: roc_auc_score(y_test, FlowMixtureClustering(**params, trim_fraction=t)
                                .fit(X).score_samples(X_test)) for t in (0.0, 0.2)}
    assert auc[0.2] > 0.95
    assert auc[0.2] > auc[0.0] + 0.2


@pytest.mark.parametrize("init_params", ["kmeans", "gmm"])
def test_trimmed_start_keeps_at_least_one_row_per_component(init_params):
    # 5 rows, 4 components, trimming 45 %: a C-step would keep 3 rows, fewer than the
    # components, so the start stops before it and the fit succeeds.
    X = np.random.RandomState(0).randn(5, 2)
    est = FlowMixtureClustering(**{**FAST, "n_components": 4, "init_params": init_params,
                                   "validation_fraction": 0.0, "max_epochs": 2},
                                trim_fraction=0.45).fit(X)
    assert np.isfinite(est.score_samples(X)).all()


@pytest.mark.parametrize("init_params", ["kmeans", "gmm"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trimmed_start_does_not_collapse_onto_shared_binary_values(seed, init_params):
    """Mostly binary data: refitted on its best 80 %, the start's components become
    singular in binary features the trimmed rows break (a spurious maximiser of the
    trimmed likelihood); the C-steps stop before that, so the fit neither diverges nor
    puts rows at a numerically zero density (before, on these seeds: FloatingPointError
    or a minimum log-density of about -1e7 nats)."""
    rng = np.random.RandomState(seed)
    X = np.hstack([(rng.rand(600, 8) < 0.1).astype(float), rng.randn(600, 2)])
    est = FlowMixtureClustering(**{**FAST, "init_params": init_params,
                                   "posterior": "exact", "max_epochs": 5},
                                trim_fraction=0.2).fit(X)
    log_density = est.score_samples(X)
    assert np.isfinite(log_density).all() and log_density.min() > -1000


def test_singular_directions_are_counted_at_the_regularisation_floor():
    from sklearn.mixture import GaussianMixture
    from skflows.mixture import _n_at_floor
    Z = np.random.RandomState(0).randn(200, 3)
    flat = GaussianMixture(1).fit(np.c_[Z[:, :2], np.zeros(200)])  # one constant feature
    full = GaussianMixture(1).fit(Z)
    for gm, expected in ((flat, [1]), (full, [0])):
        eigenvalues = np.linalg.eigvalsh(gm.covariances_)
        assert _n_at_floor(eigenvalues, gm.reg_covar).tolist() == expected
    np.testing.assert_array_equal(
        _n_at_floor(np.array([[1e-6, 1.0005e-6, 1.01e-6, 0.5]]), 1e-6), [2])
