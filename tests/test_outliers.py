"""Tests for FlowOutlierGenerator (synthetic outliers from a flow's latent tails and a
discriminator trained against them)."""

import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import make_moons
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from skflows import DeepArchetypes, FlowDensity, FlowOutlierGenerator
from skflows._testing import FAST_PARAMS
from skflows.sampling import (chi_quantile, gaussian_extremes_log_prob,
                              gaussian_shell_log_prob, standard_normal_log_prob)

FAST = dict(max_epochs=5, discriminator_hidden_dims=(16,), n_generated=400, device="cpu",
            random_state=0)


class GaussianLatent(BaseEstimator):
    """A stand-in flow without a network: ``z = (x - mean) / std`` (exactly
    standard-normal for Gaussian data). Rows of the inverse whose latent norm exceeds
    ``overflow_radius`` come back as inf, imitating an inverse flow that overflows."""

    def __init__(self, overflow_radius=np.inf):
        self.overflow_radius = overflow_radius

    def fit(self, X, y=None):
        self.mean_, self.std_ = X.mean(axis=0), X.std(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return (np.asarray(X) - self.mean_) / self.std_

    def inverse_transform(self, Z):
        X = np.asarray(Z) * self.std_ + self.mean_
        X[np.linalg.norm(Z, axis=1) > self.overflow_radius] = np.inf
        return X

    def score_samples(self, X):
        return standard_normal_log_prob(self.transform(X)) - np.log(self.std_).sum()

    def sample(self, n_samples=1, random_state=None):
        rng = np.random.RandomState(random_state) if not hasattr(random_state, "randn") \
            else random_state
        return self.inverse_transform(rng.standard_normal((n_samples, self.n_features_in_)))


@pytest.fixture(scope="module")
def moons():
    X, _ = make_moons(600, noise=0.06, random_state=0)
    return X[:400], X[400:]


@pytest.fixture(scope="module")
def flow(moons):
    return FlowDensity(n_layers=3, hidden_dims=(32,), max_epochs=25, batch_size=128,
                       device="cpu", random_state=0).fit(moons[0])


@pytest.fixture(scope="module")
def detector(moons, flow):
    return FlowOutlierGenerator(FrozenEstimator(flow), max_epochs=40,
                                discriminator_hidden_dims=(32, 32), device="cpu",
                                random_state=0).fit(moons[0])


# ----------------------------------------------------------------------------- generation
def test_generated_outliers_have_lower_flow_density_than_held_out_inliers(moons, flow, detector):
    X_out = detector.sample(1000, random_state=1)
    assert X_out.shape == (1000, 2) and np.isfinite(X_out).all()
    assert flow.score_samples(X_out).mean() < flow.score_samples(moons[1]).mean() - 3.0
    extreme = FlowOutlierGenerator(FrozenEstimator(flow), method="extreme", n_ref=400,
                                   **FAST).fit(moons[0])
    assert (flow.score_samples(extreme.sample(1000, random_state=1)).mean()
            < flow.score_samples(moons[1]).mean())


def test_shell_outliers_sit_on_the_requested_latent_shell(flow, detector):
    r = np.linalg.norm(flow.transform(detector.sample(500, random_state=0)), axis=1)
    low, high = chi_quantile(0.99, 2), chi_quantile(0.9999, 2)
    assert r.min() > low - 1e-3 and r.max() < high + 1e-3
    assert stats.kstest(r, stats.uniform(low, high - low).cdf).pvalue > 1e-3


def test_extreme_outliers_follow_the_law_of_the_maximum(moons, flow):
    det = FlowOutlierGenerator(FrozenEstimator(flow), method="extreme", n_ref=50,
                               **FAST).fit(moons[0])
    r = np.linalg.norm(flow.transform(det.sample(2000, random_state=0)), axis=1)
    assert stats.kstest(r, lambda t: stats.chi.cdf(t, 2) ** 50).pvalue > 1e-3


def test_sample_is_reproducible_and_in_the_compute_dtype(moons, flow, detector):
    np.testing.assert_array_equal(detector.sample(7, random_state=3),
                                  detector.sample(7, random_state=3))
    assert not np.allclose(detector.sample(7, random_state=3), detector.sample(7, random_state=4))
    det32 = FlowOutlierGenerator(FrozenEstimator(flow), **FAST).fit(moons[0].astype(np.float32))
    assert det32.sample(5, random_state=0).dtype == np.float32
    assert det32.score_samples(moons[1].astype(np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match="n_samples"):
        detector.sample(0)


# ----------------------------------------------------------------------------- scores
def test_detector_ranks_far_points_below_inliers(moons, detector):
    rng = np.random.RandomState(0)
    angle = rng.uniform(0, 2 * np.pi, 300)
    far = np.column_stack([0.5 + 3.0 * np.cos(angle), 0.25 + 3.0 * np.sin(angle)])
    X = np.vstack([moons[1], far])
    y = np.r_[np.zeros(len(moons[1])), np.ones(len(far))]
    assert roc_auc_score(y, -detector.score_samples(X)) > 0.95
    assert roc_auc_score(y, -detector.discriminator_logit(X)) > 0.95
    assert (detector.predict(far) == -1).mean() > 0.9


def test_density_score_is_logit_plus_contrast_log_density(moons, flow, detector):
    X = moons[1]
    Z = flow.transform(X)
    log_ratio = gaussian_shell_log_prob(Z, quantile=(0.99, 0.9999)) - standard_normal_log_prob(Z)
    phi = 0.5
    log_gen = flow.score_samples(X) + np.logaddexp(np.log(phi), np.log(1 - phi) + log_ratio)
    np.testing.assert_allclose(detector.score_samples(X),
                               detector.discriminator_logit(X) + log_gen, rtol=1e-6, atol=1e-6)
    logit = clone(detector).set_params(score_kind="logit").fit(moons[0])
    np.testing.assert_allclose(logit.score_samples(X), logit.discriminator_logit(X))
    np.testing.assert_allclose(logit.discriminator_logit(X), detector.discriminator_logit(X),
                               rtol=1e-6, atol=1e-6)  # same seed, same discriminator


def test_density_score_is_close_to_the_true_log_density_for_a_perfect_flow():
    # With the exact flow, p_gen = 0.5 p_data + 0.5 q: the ideal logit is
    # log p_data - log p_gen, so the score must approximate log p_data.
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1500, 2)) * [1.0, 3.0] + [2.0, -1.0]
    # A discriminator that can represent the sharp radial logit of the exact flow; the
    # default (32,) one is smoother and learns it slowly (0.48 nats after 60 epochs),
    # which is what makes it the safer default on real data.
    det = FlowOutlierGenerator(GaussianLatent(), method="extreme", max_epochs=60,
                               discriminator_hidden_dims=(64, 64), device="cpu",
                               random_state=0).fit(X)
    X_test = rng.standard_normal((2000, 2)) * [1.0, 3.0] + [2.0, -1.0]
    truth = stats.multivariate_normal([2.0, -1.0], np.diag([1.0, 9.0])).logpdf(X_test)
    score = det.score_samples(X_test)
    # The exact flow itself is off by ~0.03 nats (estimated mean and scale).
    assert np.mean(np.abs(score - truth)) < 0.15
    flow = det.flow_
    log_gen = flow.score_samples(X_test) + np.logaddexp(
        np.log(0.5), np.log(0.5) + gaussian_extremes_log_prob(flow.transform(X_test), n_ref=1500)
        - standard_normal_log_prob(flow.transform(X_test)))
    np.testing.assert_allclose(score - det.discriminator_logit(X_test), log_gen, rtol=1e-6)


def test_offset_matches_contamination(moons, flow):
    det = FlowOutlierGenerator(FrozenEstimator(flow), contamination=0.2, **FAST).fit(moons[0])
    assert abs((det.predict(moons[0]) == -1).mean() - 0.2) < 0.01
    np.testing.assert_allclose(det.decision_function(moons[1]),
                               det.score_samples(moons[1]) - det.offset_)


# ----------------------------------------------------------------------------- the flow
def test_frozen_flow_is_used_as_is_and_survives_clone(moons, flow):
    before = {k: v.clone() for k, v in flow.module_.state_dict().items()}
    det = FlowOutlierGenerator(FrozenEstimator(flow), **FAST)
    fitted = clone(det).fit(moons[0])
    assert fitted.flow_ is flow
    for key, value in flow.module_.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_unfrozen_flow_is_cloned_and_refitted(moons):
    template = FlowDensity(**FAST_PARAMS["FlowDensity"])
    det = FlowOutlierGenerator(template, **FAST).fit(moons[0])
    assert det.flow_ is not template and not hasattr(template, "n_iter_")
    assert det.flow_.n_features_in_ == 2
    # A fitted flow without the FrozenEstimator wrapper is refitted (on other data here).
    fitted = FlowDensity(**FAST_PARAMS["FlowDensity"]).fit(moons[0] * 10)
    det = FlowOutlierGenerator(fitted, **FAST).fit(moons[0])
    assert det.flow_ is not fitted
    assert not np.allclose(det.flow_.mean_, fitted.mean_)


def test_default_flow_and_seeding(moons):
    det = FlowOutlierGenerator(**FAST).fit(moons[0][:60])
    assert isinstance(det.flow_, FlowDensity) and det.flow_.random_state is not None
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    a = FlowOutlierGenerator(FlowDensity(**{**FAST_PARAMS["FlowDensity"], "random_state": None}),
                             **FAST).fit(moons[0])
    b = FlowOutlierGenerator(FlowDensity(**{**FAST_PARAMS["FlowDensity"], "random_state": None}),
                             **FAST).fit(moons[0])
    np.testing.assert_array_equal(a.score_samples(moons[1]), b.score_samples(moons[1]))
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    c = clone(a).set_params(random_state=1).fit(moons[0])
    assert not np.allclose(a.score_samples(moons[1]), c.score_samples(moons[1]))


def test_non_finite_decoded_outliers_are_redrawn():
    X = np.random.RandomState(0).standard_normal((300, 3))
    # Shell radii lie between chi_3 quantiles 0.99 (3.37) and 0.9999 (4.42): overflow
    # above 3.9 discards roughly half of them, which must be re-drawn.
    det = FlowOutlierGenerator(GaussianLatent(overflow_radius=3.9), **FAST).fit(X)
    assert det.n_discarded_ > 50
    assert np.isfinite(det.sample(500, random_state=0)).all()
    assert np.isfinite(det.score_samples(X)).all()
    with pytest.raises(FloatingPointError, match="finite"):
        FlowOutlierGenerator(GaussianLatent(overflow_radius=1.0), **FAST).fit(X)


def test_warm_start_keeps_the_flow_and_continues(moons, flow):
    det = FlowOutlierGenerator(FlowDensity(**FAST_PARAMS["FlowDensity"]), warm_start=True,
                               **FAST).fit(moons[0])
    first_flow, epochs = det.flow_, len(det.history_)
    det.fit(moons[0])
    assert det.flow_ is first_flow and len(det.history_) > epochs


def test_trim_fraction_reaches_the_default_flow():
    assert FlowOutlierGenerator()._default_flow().trim_fraction == 0.0
    assert FlowOutlierGenerator(trim_fraction=0.15)._default_flow().trim_fraction == 0.15
    det = FlowOutlierGenerator(trim_fraction="contamination", contamination=0.2)
    assert det._default_flow().trim_fraction == 0.2
    # An explicit flow keeps its own setting; the archetypal default has none.
    assert isinstance(FlowOutlierGenerator(method="dirichlet", trim_fraction=0.1)
                      ._default_flow(), DeepArchetypes)


def test_trimming_leaves_the_lowest_density_rows_out_of_the_discriminator(moons, flow,
                                                                          monkeypatch):
    X = moons[0]
    seen = {}
    train = FlowOutlierGenerator._train

    def spy(self, build, stages, data, **kwargs):
        seen["inliers"] = np.asarray(data["x"].index)
        return train(self, build, stages, data, **kwargs)

    monkeypatch.setattr(FlowOutlierGenerator, "_train", spy)
    det = FlowOutlierGenerator(FrozenEstimator(flow), trim_fraction="contamination",
                               contamination=0.1, **FAST).fit(X)
    k = 40  # floor(0.1 * 400)
    assert det.n_trimmed_ == k
    lowest = np.argsort(flow.score_samples(X))[:k]
    assert set(np.unique(seen["inliers"])) == set(range(len(X))) - set(lowest)
    # Every kept row is used equally often (n_generated = 400 pairs, 360 kept rows).
    assert np.bincount(seen["inliers"]).max() - np.bincount(seen["inliers"])[
        np.setdiff1d(np.arange(len(X)), lowest)].min() <= 1
    # The offset still comes from every training row.
    assert det.offset_ == pytest.approx(np.percentile(det.score_samples(X), 10.0))
    plain = FlowOutlierGenerator(FrozenEstimator(flow), **FAST).fit(X)
    assert plain.n_trimmed_ == 0 and len(np.unique(seen["inliers"])) == len(X)
    assert not np.allclose(plain.score_samples(moons[1]), det.score_samples(moons[1]))


def test_pickle_round_trip(moons, detector):
    again = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(again.score_samples(moons[1]), detector.score_samples(moons[1]))


# ----------------------------------------------------------------------------- errors
def test_errors(moons, flow):
    X = moons[0]
    with pytest.raises(NotFittedError):
        FlowOutlierGenerator().score_samples(X)
    with pytest.raises(NotFittedError):
        FlowOutlierGenerator().sample(3)
    with pytest.raises(ValueError, match="archetypal"):
        FlowOutlierGenerator(FrozenEstimator(flow), method="dirichlet", score_kind="logit",
                             **FAST).fit(X)
    with pytest.raises(ValueError, match="score_kind='density'"):
        FlowOutlierGenerator(FrozenEstimator(flow), method="dirichlet", score_kind="density",
                             **FAST).fit(X)
    with pytest.raises(ValueError, match="thick shell"):
        FlowOutlierGenerator(FrozenEstimator(flow), radius_quantile=0.99, **FAST).fit(X)
    with pytest.raises(ValueError, match="flow_fraction"):
        FlowOutlierGenerator(FrozenEstimator(flow), flow_fraction=0.0, **FAST).fit(X)
    with pytest.raises(ValueError, match="features"):
        FlowOutlierGenerator(FrozenEstimator(flow), **FAST).fit(np.hstack([X, X]))
    with pytest.raises(ValueError, match="flow_fraction"):
        FlowOutlierGenerator(FrozenEstimator(flow), flow_fraction=1.0, **FAST).fit(X)
    # A thin shell and the logit score are a valid combination.
    det = FlowOutlierGenerator(FrozenEstimator(flow), radius_quantile=0.99, score_kind="logit",
                               flow_fraction=0.0, **FAST).fit(X)
    r = np.linalg.norm(flow.transform(det.sample(50, random_state=0)), axis=1)
    np.testing.assert_allclose(r, chi_quantile(0.99, 2), atol=1e-3)


# ----------------------------------------------------------------------------- dirichlet
def test_dirichlet_method_with_deep_archetypes(moons):
    X = moons[0]
    det = FlowOutlierGenerator(DeepArchetypes(**FAST_PARAMS["DeepArchetypes"]),
                               method="dirichlet",
                               **FAST).fit(X)
    assert det._resolved_score_kind() == "logit"
    np.testing.assert_allclose(det.score_samples(moons[1]), det.discriminator_logit(moons[1]))
    X_out = det.sample(300, random_state=0)
    assert X_out.shape == (300, 2) and np.isfinite(X_out).all()
    # Weights pushed beyond the simplex decode to points beyond the archetypes' span:
    # further from the archetypes' centroid, on average, than simplex mixtures.
    centre = det.flow_.archetypes_.mean(axis=0)
    inside = det.flow_.sample(300, concentration=0.7, random_state=0)
    assert (np.linalg.norm(X_out - centre, axis=1).mean()
            > np.linalg.norm(inside - centre, axis=1).mean())


# ----------------------------------------------------------------------------- anomaly data
def test_load_anomaly_shapes_labels_and_checksums():
    import hashlib
    from importlib.resources import files

    from skflows.datasets import ANOMALY_DATASETS, load_anomaly

    readme = (files("skflows.datasets") / "data" / "README.md").read_text()
    assert len(ANOMALY_DATASETS) >= 10
    for name in ANOMALY_DATASETS:
        X, y = load_anomaly(name)
        assert X.dtype == np.float64 and y.dtype == np.int64 and X.ndim == 2
        assert len(X) == len(y) and np.isfinite(X).all()
        assert set(np.unique(y)) == {0, 1} and 0 < y.mean() < 0.5
        digest = hashlib.sha256((files("skflows.datasets") / "data" / f"{name}.npz")
                                .read_bytes()).hexdigest()
        assert f"| `{name}.npz` |" in readme and digest in readme
    X, y = load_anomaly("thyroid")
    assert X.shape == (3772, 6) and int(y.sum()) == 93
    with pytest.raises(ValueError, match="Unknown anomaly data set"):
        load_anomaly("mnist")
