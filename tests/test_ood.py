"""Complexity-corrected outlier scores (skflows.ood): each correction is invariant to
what it claims, adds exactly what it documents, and follows scikit-learn's
outlier-detector conventions."""

import bz2
import lzma
import math
import zlib

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from skflows import (DensityDetector, FlowDensity, InputComplexityDetector, LikelihoodRatioDetector,
                     TypicalityDetector)
from skflows._testing import FAST_PARAMS

DETECTORS = [DensityDetector, LikelihoodRatioDetector, InputComplexityDetector,
             TypicalityDetector]


class GaussianDensity(BaseEstimator):
    """A full-covariance Gaussian density whose log-density is off by ``shift`` nats (a
    model with a wrong normalising constant)."""

    def __init__(self, shift=0.0):
        self.shift = shift

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.mean_, self.cov_ = X.mean(axis=0), np.cov(X, rowvar=False)
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X):
        return multivariate_normal(self.mean_, self.cov_).logpdf(X) + self.shift


class FirstFeatureDensity(BaseEstimator):
    """A fake density model whose "log-density" is the first feature (known scores)."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def score_samples(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0].copy()


def _data(n=300, d=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, d) @ rng.randn(d, d) + 2.0


# ------------------------------------------------------------------- invariances
@pytest.mark.parametrize("make", [lambda est: DensityDetector(est),
                                  lambda est: LikelihoodRatioDetector(est),
                                  lambda est: InputComplexityDetector(est),
                                  lambda est: TypicalityDetector(est)])
def test_a_constant_shift_of_the_log_density_changes_no_decision(make):
    X, X_new = _data(), _data(50, seed=1) * 1.5
    base = make(GaussianDensity()).fit(X)
    shifted = make(GaussianDensity(shift=123.0)).fit(X)
    np.testing.assert_allclose(shifted.decision_function(X_new),
                               base.decision_function(X_new), atol=1e-9)
    np.testing.assert_array_equal(shifted.predict(X_new), base.predict(X_new))
    delta = shifted.score_samples(X_new) - base.score_samples(X_new)
    if isinstance(base, TypicalityDetector):
        np.testing.assert_allclose(delta, 0.0, atol=1e-9)  # the score itself is invariant
        assert shifted.mean_log_density_ == pytest.approx(base.mean_log_density_ + 123.0)
    else:
        np.testing.assert_allclose(delta, 123.0, atol=1e-9)  # scores and offset_ move
        assert shifted.offset_ == pytest.approx(base.offset_ + 123.0)


def test_density_detector_scores_are_the_log_density_of_the_wrapped_estimator():
    X, X_new = _data(), _data(50, seed=1) * 1.5
    det = DensityDetector(GaussianMixture(2, random_state=0), contamination=0.05).fit(X)
    reference = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(det.score_samples(X_new), reference.score_samples(X_new),
                               rtol=1e-12)
    assert det.offset_ == pytest.approx(np.percentile(reference.score_samples(X), 5.0))
    # A mixture of flows has no outlier conventions of its own; wrapped, it has them.
    from skflows import FlowMixtureClustering
    fmc = DensityDetector(FlowMixtureClustering(**FAST_PARAMS["FlowMixtureClustering"]))
    labels = fmc.fit(X).predict(X_new)
    assert set(np.unique(labels)) <= {-1, 1}
    np.testing.assert_allclose(fmc.score_samples(X_new),
                               fmc.estimator_.score_samples(X_new))


def test_likelihood_ratio_is_the_difference_of_the_two_log_densities_and_unit_free():
    X, X_new = _data(), _data(40, seed=2)
    det = LikelihoodRatioDetector(GaussianMixture(3, random_state=0)).fit(X)
    assert isinstance(det.reference_, GaussianMixture)
    assert det.reference_.n_components == 1 and det.reference_.covariance_type == "full"
    np.testing.assert_allclose(det.score_samples(X_new),
                               det.estimator_.score_samples(X_new)
                               - det.reference_.score_samples(X_new), rtol=1e-12)
    # A model against itself: the ratio is zero everywhere.
    same = LikelihoodRatioDetector(GaussianDensity(), reference=GaussianDensity()).fit(X)
    np.testing.assert_array_equal(same.score_samples(X_new), 0.0)
    # A change of units adds the same log-Jacobian to both log-densities: it cancels.
    c = 7.0
    scaled = LikelihoodRatioDetector(GaussianMixture(3, random_state=0)).fit(c * X)
    np.testing.assert_allclose(scaled.score_samples(c * X_new), det.score_samples(X_new),
                               atol=1e-4)


def test_typicality_is_symmetric_around_the_training_mean_log_density():
    X = _data()
    det = TypicalityDetector(FirstFeatureDensity()).fit(X)
    m = X[:, 0].mean()
    assert det.mean_log_density_ == pytest.approx(m, rel=1e-12)
    a = np.array([0.0, 0.5, 2.0, 10.0])
    above, below = np.zeros((4, 3)), np.zeros((4, 3))
    above[:, 0], below[:, 0] = m + a, m - a
    np.testing.assert_allclose(det.score_samples(above), -a, atol=1e-12)
    np.testing.assert_allclose(det.score_samples(below), det.score_samples(above),
                               atol=1e-12)
    # Too likely is as atypical as too unlikely: the 20-D Gaussian's mode is flagged.
    Z = np.random.RandomState(0).normal(size=(500, 20))
    typ = TypicalityDetector(GaussianMixture(1)).fit(Z)
    assert typ.predict(np.zeros((1, 20)))[0] == -1
    assert typ.predict(np.random.RandomState(1).normal(size=(200, 20))).mean() > 0.6


def _bytes(X, lo, hi, n_levels):
    q = np.floor((X - lo) / (hi - lo) * n_levels)
    return np.clip(q, 0, n_levels - 1).astype(np.uint8)


@pytest.mark.parametrize("compressor, compress",
                         [("zlib", lambda b: zlib.compress(b, 9)),
                          ("bz2", lambda b: bz2.compress(b, 9)),
                          ("lzma", lambda b: lzma.compress(b, preset=9))])
def test_complexity_score_adds_exactly_the_compressed_length(compressor, compress):
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 5, size=(60, 32))
    X[:10] = X[:10, :1]  # constant rows compress well
    det = InputComplexityDetector(FirstFeatureDensity(), compressor=compressor).fit(X)
    lo, hi = X.min(), X.max()
    np.testing.assert_array_equal(det.data_min_, np.full(32, lo))
    Q = _bytes(X, lo, hi, 256)
    bits = np.array([8 * len(compress(row.tobytes())) for row in Q], dtype=float)
    np.testing.assert_array_equal(det.input_complexity(X), bits)
    np.testing.assert_allclose(det.score_samples(X), X[:, 0] + math.log(2) * bits,
                               rtol=1e-12)
    assert bits[:10].max() < bits[10:].min()  # simple rows: fewer bits


def test_complexity_quantisation_options():
    rng = np.random.RandomState(0)
    X = np.c_[rng.uniform(0, 1, 50), rng.uniform(0, 1000, 50)]
    det = InputComplexityDetector(FirstFeatureDensity(), scaling="feature", n_levels=16,
                                  compressor="zlib").fit(X)
    np.testing.assert_array_equal(det.data_min_, X.min(axis=0))
    np.testing.assert_array_equal(det.data_max_, X.max(axis=0))
    Q = _bytes(X, X.min(axis=0), X.max(axis=0), 16)
    assert Q.max() == 15
    expected = [8 * len(zlib.compress(row.tobytes(), 9)) for row in Q]
    np.testing.assert_array_equal(det.input_complexity(X), expected)
    # Values beyond the training range fall in the end bins; a constant feature (range
    # 0) does not divide by zero.
    assert np.isfinite(det.input_complexity(X * 10 - 5)).all()
    flat = InputComplexityDetector(FirstFeatureDensity()).fit(np.ones((5, 4)))
    assert np.isfinite(flat.score_samples(np.ones((2, 4)) * 3)).all()
    # An affine change of units gives the same bytes: the complexity is unit-free.
    D = rng.randint(0, 17, size=(80, 64)).astype(float)  # digits-like integer pixels
    a = InputComplexityDetector(FirstFeatureDensity()).fit(D)
    b = InputComplexityDetector(FirstFeatureDensity()).fit(2 * D + 1)
    np.testing.assert_array_equal(a.input_complexity(D), b.input_complexity(2 * D + 1))


def test_complexity_correction_flags_a_simple_input_that_the_likelihood_calls_normal():
    """Serrà et al.'s failure case in miniature: a flat row sits at the mode of a
    Gaussian fitted to noisy rows (the highest likelihood of all), yet compresses to a
    few bytes; the corrected score ranks it below every training row."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 16, size=(400, 64)).astype(float)
    flat = np.full((1, 64), X.mean())
    gauss = GaussianMixture(1, covariance_type="diag").fit(X)
    assert gauss.score_samples(flat)[0] > gauss.score_samples(X).max()
    det = InputComplexityDetector(GaussianMixture(1, covariance_type="diag")).fit(X)
    assert det.score_samples(flat)[0] < det.score_samples(X).min()
    assert det.predict(flat)[0] == -1


# ------------------------------------------------------------------- conventions
@pytest.mark.parametrize("Detector", DETECTORS)
@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_offset_decision_function_and_predict_follow_scikit_learn(Detector, contamination):
    X = _data(400)
    det = Detector(GaussianMixture(2, random_state=0), contamination=contamination).fit(X)
    scores = det.score_samples(X)
    assert scores.dtype == np.float64 and scores.shape == (400,)
    assert det.offset_ == pytest.approx(np.percentile(scores, 100 * contamination))
    np.testing.assert_array_equal(det.decision_function(X), scores - det.offset_)
    labels = det.predict(X)
    assert labels.dtype.kind == "i" and set(np.unique(labels)) == {-1, 1}
    np.testing.assert_array_equal(labels, np.where(scores < det.offset_, -1, 1))
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=0.01)
    np.testing.assert_array_equal(det.fit_predict(X), labels)  # refit, deterministic


@pytest.mark.parametrize("Detector", DETECTORS)
def test_wraps_a_flow_and_a_frozen_prefitted_model(Detector):
    X, X_hold = _data(200), _data(100, seed=3)
    flow = FlowDensity(**FAST_PARAMS["FlowDensity"])
    det = Detector(flow).fit(X)
    assert isinstance(det.estimator_, FlowDensity) and det.estimator_ is not flow
    assert np.isfinite(det.score_samples(X_hold)).all()
    frozen = FrozenEstimator(GaussianMixture(2, random_state=0).fit(X))
    held = Detector(frozen).fit(X_hold)  # the frozen model is used as is, not refitted
    assert held.estimator_ is frozen
    np.testing.assert_array_equal(held.estimator_.score_samples(X_hold),
                                  frozen.estimator.score_samples(X_hold))
    if Detector is TypicalityDetector:  # a held-out estimate of the typical value
        assert held.mean_log_density_ == pytest.approx(
            frozen.estimator.score_samples(X_hold).mean())
    assert clone(held).fit(X_hold).estimator_ is frozen


def test_dataframe_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(100), columns=["a", "b", "c"])
    det = TypicalityDetector(GaussianMixture(1)).fit(X)
    np.testing.assert_array_equal(det.feature_names_in_, ["a", "b", "c"])
    with pytest.warns(UserWarning, match="feature names"):  # as scikit-learn warns
        bare = det.score_samples(X.to_numpy())
    np.testing.assert_array_equal(det.score_samples(X), bare)


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize("Detector", DETECTORS)
def test_unfitted_detectors_raise_not_fitted(Detector):
    det = Detector(GaussianMixture(1))
    for method in ("score_samples", "decision_function", "predict"):
        with pytest.raises(NotFittedError):
            getattr(det, method)(_data(5))
    if Detector is InputComplexityDetector:
        with pytest.raises(NotFittedError):
            det.input_complexity(_data(5))


@pytest.mark.parametrize("Detector", DETECTORS)
def test_invalid_input_and_parameters_are_rejected(Detector):
    X = _data(50)
    det = Detector(GaussianMixture(1)).fit(X)
    bad = X[:5].copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        det.score_samples(bad)
    with pytest.raises(ValueError, match="features"):
        det.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        Detector(GaussianMixture(1)).fit(bad)
    with pytest.raises(ValueError, match="estimator"):
        Detector(StandardScaler()).fit(X)  # no score_samples: not a density
    with pytest.raises(ValueError, match="contamination"):
        Detector(GaussianMixture(1), contamination=0.7).fit(X)
    frozen = FrozenEstimator(GaussianMixture(1).fit(X[:, :2]))
    with pytest.raises(ValueError, match="features"):
        Detector(frozen).fit(X)


@pytest.mark.parametrize("params", [{"compressor": "gzip"}, {"n_levels": 1},
                                    {"n_levels": 300}, {"scaling": "row"}])
def test_invalid_complexity_parameters_are_rejected(params):
    with pytest.raises(ValueError):
        InputComplexityDetector(GaussianMixture(1), **params).fit(_data(20))


def test_invalid_reference_is_rejected():
    with pytest.raises(ValueError, match="reference"):
        LikelihoodRatioDetector(GaussianMixture(1), reference=StandardScaler()).fit(_data(20))
    frozen = FrozenEstimator(GaussianMixture(1).fit(_data(20)[:, :2]))
    with pytest.raises(ValueError, match="reference"):
        LikelihoodRatioDetector(GaussianMixture(1), reference=frozen).fit(_data(20))
