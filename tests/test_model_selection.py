"""Excess-Mass / Mass-Volume curves and the label-free scorers built on them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from skflows.model_selection import (em_score, excess_mass_area, excess_mass_curve,
                                     feature_subsampled_area, make_em_scorer,
                                     make_mv_scorer, mass_volume_area,
                                     mass_volume_curve, mv_score)


class GaussianDetector(BaseEstimator):
    """Estimator-like detector: ``score_samples`` is an exact Gaussian log-density."""

    def __init__(self, mean=0.0, scale=1.0, dim=2):
        self.mean = mean
        self.scale = scale
        self.dim = dim

    def fit(self, X, y=None):
        return self

    def _law(self):
        mean = np.broadcast_to(np.asarray(self.mean, float), (self.dim,))
        scale = np.broadcast_to(np.asarray(self.scale, float), (self.dim,))
        return stats.multivariate_normal(mean, np.diag(scale ** 2))

    def score_samples(self, X):
        return np.atleast_1d(self._law().logpdf(np.asarray(X, float))).reshape(-1)


class TransformedScores(BaseEstimator):
    """A detector whose scores are ``transform(score_samples of base)``."""

    def __init__(self, base, transform):
        self.base = base
        self.transform = transform

    def fit(self, X, y=None):
        return self

    def score_samples(self, X):
        return self.transform(self.base.score_samples(X))


def _ball_volume(d, r):
    return np.exp(d / 2 * np.log(np.pi) - gammaln(d / 2 + 1)) * r ** d


def _gaussian_setup(d, n=20_000, n_uniform=200_000, half_width=6.0, seed=0):
    """True-density scores of N(0, I_d) data and of uniforms on [-L, L]^d (the level
    sets that matter lie inside that box, so the estimates target the closed forms)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    U = rng.uniform(-half_width, half_width, size=(n_uniform, d))
    det = GaussianDetector(dim=d)
    return det.score_samples(X), det.score_samples(U), (2 * half_width) ** d


@pytest.mark.parametrize("d", [1, 2])
def test_mass_volume_curve_matches_closed_form(d):
    s_data, s_unif, vol = _gaussian_setup(d)
    alphas = np.linspace(0.5, 0.99, 25)
    mv = mass_volume_curve(s_data, s_unif, vol, alphas)
    # {f >= u_alpha} is the ball of radius sqrt(chi2_d quantile alpha).
    expected = _ball_volume(d, np.sqrt(stats.chi2.ppf(alphas, d)))
    np.testing.assert_allclose(mv, expected, rtol=0.04)
    assert np.all(np.diff(mv) >= 0)


@pytest.mark.parametrize("d", [1, 2])
def test_excess_mass_curve_matches_closed_form(d):
    s_data, s_unif, vol = _gaussian_setup(d)
    f_max = (2 * np.pi) ** (-d / 2)
    ts = np.linspace(0.0, 1.3 * f_max, 60)
    em = excess_mass_curve(s_data, s_unif, vol, ts)
    # For the density f itself the sup is attained at u = t: {f >= t} is the ball of
    # radius R with R^2 = -2 log(t / f_max), EM(t) = P(chi2_d <= R^2) - t |ball(R)|,
    # and EM(t) = 0 for t >= f_max.
    pos = ts[1:]  # ts[0] = 0: EM(0) = 1
    r2 = np.maximum(-2 * np.log(pos / f_max), 0.0)
    closed = np.r_[1.0, np.where(pos < f_max, stats.chi2.cdf(r2, d)
                                 - pos * _ball_volume(d, np.sqrt(r2)), 0.0)]
    np.testing.assert_allclose(em, closed, atol=0.02)
    assert em[0] == 1.0
    assert np.all(np.diff(em) <= 1e-12)


def test_curves_on_a_tiny_example():
    s_data = np.array([3.0, 2.0, 1.0, 0.0])
    s_unif = np.array([2.5, 1.5, 0.5, -0.5])
    np.testing.assert_allclose(
        mass_volume_curve(s_data, s_unif, 8.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
        [0.0, 0.0, 2.0, 4.0, 6.0])
    # lines (mass, volume): (.25, 0), (.5, 2), (.75, 4), (1, 6), and 0.
    ts = np.array([0.0, 0.1, 0.2, 1.0])
    expected = [max(a - t * b for a, b in [(.25, 0), (.5, 2), (.75, 4), (1, 6), (0, 0)])
                for t in ts]
    np.testing.assert_allclose(excess_mass_curve(s_data, s_unif, 8.0, ts), expected)
    # MV is a step function: exact area over [0.9, 1] = 0.1 * 6; over [0.4, 0.6]: 0.1*2 + 0.1*4
    assert mass_volume_area(s_data, s_unif, 8.0, alpha_min=0.9, alpha_max=1.0) \
        == pytest.approx(0.6)
    assert mass_volume_area(s_data, s_unif, 8.0, alpha_min=0.4, alpha_max=0.6) \
        == pytest.approx(0.6)
    # t_max: first t with EM(t) <= 0.9: line (1, 6) reaches 0.9 at t = 1/60.
    area, t_max = excess_mass_area(s_data, s_unif, 8.0, return_t_max=True)
    assert t_max == pytest.approx(0.1 / 6)
    assert area == pytest.approx(t_max * (1 + 0.9) / 2)  # EM is linear on [0, t_max]


def test_areas_agree_with_fine_grids():
    s_data, s_unif, vol = _gaussian_setup(2, n=3000, n_uniform=50_000)
    alphas = np.linspace(0.9, 0.999, 200_001)
    mv = mass_volume_curve(s_data, s_unif, vol, alphas)
    grid_area = np.sum((mv[1:] + mv[:-1]) * np.diff(alphas)) / 2
    assert mass_volume_area(s_data, s_unif, vol) == pytest.approx(grid_area, rel=1e-3)
    area, t_max = excess_mass_area(s_data, s_unif, vol, return_t_max=True)
    ts = np.linspace(0, t_max, 100_001)
    em = excess_mass_curve(s_data, s_unif, vol, ts)
    assert em[-1] == pytest.approx(0.9)
    assert area == pytest.approx(np.sum((em[1:] + em[:-1]) * np.diff(ts)) / 2, rel=1e-5)


@pytest.mark.parametrize("transform", [np.exp, lambda s: 3.0 * s - 7.0,
                                       lambda s: np.arctan(s / 10.0)])
def test_curves_invariant_to_increasing_transforms(transform):
    s_data, s_unif, vol = _gaussian_setup(2, n=2000, n_uniform=20_000)
    alphas = np.linspace(0.0, 1.0, 101)
    ts = np.linspace(0.0, 0.2, 101)
    np.testing.assert_array_equal(
        mass_volume_curve(transform(s_data), transform(s_unif), vol, alphas),
        mass_volume_curve(s_data, s_unif, vol, alphas))
    np.testing.assert_array_equal(
        excess_mass_curve(transform(s_data), transform(s_unif), vol, ts),
        excess_mass_curve(s_data, s_unif, vol, ts))
    # ... and so are the scorers (same uniform draws for the same seed).
    X = np.random.RandomState(1).normal(size=(500, 2))
    base = GaussianDetector(dim=2)
    wrapped = TransformedScores(base, transform)
    for scorer in (make_em_scorer(n_uniform=20_000), make_mv_scorer(n_uniform=20_000)):
        assert scorer(wrapped, X) == pytest.approx(scorer(base, X), rel=1e-12)


@pytest.mark.parametrize("d", [1, 2])
def test_true_density_scores_better(d):
    X = np.random.RandomState(2).normal(size=(2000, d))
    truth = GaussianDetector(dim=d)
    worse = [GaussianDetector(mean=1.0, dim=d)]  # shifted
    if d == 2:  # too wide along one axis: the level sets become ellipses
        worse.append(GaussianDetector(scale=[1.0, 3.0], dim=d))
    for scorer in (make_em_scorer(n_uniform=50_000), make_mv_scorer(n_uniform=50_000)):
        best = scorer(truth, X)
        for other in worse:
            assert best > scorer(other, X)


def _two_blobs(n=600, seed=0):
    rng = np.random.RandomState(seed)
    X = np.r_[0.5 * rng.normal(size=(n // 2, 2)) + [-3, 0],
              0.5 * rng.normal(size=(n // 2, 2)) + [3, 0]]
    return X[rng.permutation(n)]


def test_grid_search_with_scorers():
    X = _two_blobs()
    for scorer in (make_em_scorer(n_uniform=10_000), make_mv_scorer(n_uniform=10_000)):
        # An over-smoothed KDE merges the blobs (the empty middle ranks as most normal);
        # a far too narrow one ranks by distance to the nearest training point.
        search = GridSearchCV(KernelDensity(), {"bandwidth": [0.01, 0.3, 1.0, 5.0]},
                              scoring=scorer, cv=3).fit(X)
        assert search.best_params_["bandwidth"] in (0.3, 1.0)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
        search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2]},
                              scoring=scorer, cv=3).fit(X)
        assert search.best_params_["n_components"] == 2


def test_scorer_sign_and_ready_scorers():
    X = _two_blobs(300)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    em_value, mv_value = em_score(gmm, X), mv_score(gmm, X)
    assert em_value > 0 and mv_value < 0
    # mv_score is minus the MV area of the same draws (100 000, seed 0).
    rng = np.random.RandomState(0)
    low, high = X.min(axis=0), X.max(axis=0)
    U = rng.uniform(low, high, size=(100_000, 2))
    area = mass_volume_area(gmm.score_samples(X), gmm.score_samples(U), np.prod(high - low))
    assert mv_value == pytest.approx(-area)
    assert "make_em_scorer" in repr(em_score)
    # Any estimator with score_samples, e.g. an isolation forest.
    iforest = IsolationForest(n_estimators=20, random_state=0).fit(X)
    assert make_em_scorer(n_uniform=5000)(iforest, X) > 0


def test_scorer_is_deterministic_and_seeded():
    X = _two_blobs(300)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    scorer = make_em_scorer(n_uniform=5000, random_state=3)
    assert scorer(gmm, X) == scorer(gmm, X)
    assert scorer(gmm, X) != make_em_scorer(n_uniform=5000, random_state=4)(gmm, X)


def test_feature_subsampling():
    rng = np.random.RandomState(0)
    n, d = 600, 10
    centers = np.where(rng.rand(2, d) < 0.5, -2.0, 2.0)
    X = 0.5 * rng.normal(size=(n, d)) + centers[rng.randint(2, size=n)]
    two = GaussianMixture(2, random_state=0)
    one = GaussianMixture(1, random_state=0)
    kwargs = dict(n_uniform=5000, max_features=3, n_subsets=5)
    for scorer in (make_em_scorer(**kwargs), make_mv_scorer(**kwargs)):
        fitted = GaussianMixture(2, random_state=0).fit(X)
        means = fitted.means_.copy()
        value = scorer(fitted, X)
        np.testing.assert_array_equal(fitted.means_, means)  # estimator untouched
        # The fitted state is ignored (clones are refitted): an unfitted copy scores the same.
        assert np.isfinite(value)
        assert value == scorer(GaussianMixture(2, random_state=0), X)
        assert value > scorer(one, X)
    # Below the threshold no sub-sampling: the fitted estimator is used as is.
    X_low = X[:, :4]
    low = make_em_scorer(n_uniform=5000, max_features=3)
    assert low(two.fit(X_low), X_low) == make_em_scorer(n_uniform=5000)(two, X_low)
    # The train/test form is Goix's protocol; d <= max_features means a single subset.
    a = feature_subsampled_area(two, X[:300, :2], X[300:, :2], n_uniform=5000)
    b = excess_mass_area(two.fit(X[:300, :2]).score_samples(X[300:, :2]),
                         two.score_samples(np.random.RandomState(0).uniform(
                             X[300:, :2].min(0), X[300:, :2].max(0), size=(5000, 2))),
                         np.prod(np.ptp(X[300:, :2], axis=0)))
    assert a == pytest.approx(b)


def test_em_area_warns_when_the_curve_never_falls():
    s_data = np.full(50, 5.0)  # every data score above every uniform score
    s_unif = np.zeros(100)
    with pytest.warns(RuntimeWarning, match="never falls"):
        area, t_max = excess_mass_area(s_data, s_unif, 2.0, return_t_max=True)
    assert t_max == pytest.approx(50.0) and area == pytest.approx(50.0)


def test_errors():
    s = np.arange(5.0)
    with pytest.raises(ValueError, match="NaN"):
        mass_volume_curve([np.nan, 1.0], s, 1.0, [0.5])
    with pytest.raises(ValueError, match="box_volume"):
        excess_mass_curve(s, s, 0.0, [0.1])
    with pytest.raises(ValueError, match="alphas"):
        mass_volume_curve(s, s, 1.0, [1.5])
    with pytest.raises(ValueError, match="ts"):
        excess_mass_curve(s, s, 1.0, [-1.0])
    with pytest.raises(ValueError, match="alpha_min"):
        mass_volume_area(s, s, 1.0, alpha_min=0.99, alpha_max=0.9)
    with pytest.raises(ValueError, match="em_level"):
        excess_mass_area(s, s, 1.0, em_level=1.0)
    with pytest.raises(ValueError, match="n_uniform"):
        make_em_scorer(n_uniform=0)
    X = np.c_[np.arange(10.0), np.ones(10)]
    with pytest.raises(ValueError, match="Every feature of X is constant"):
        em_score(GaussianDetector(dim=2), np.ones((10, 2)))
    with pytest.raises(TypeError, match="score_samples"):
        em_score(object(), np.random.RandomState(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="criterion"):
        feature_subsampled_area(GaussianMixture(), X, X, criterion="auc")


class SliceDetector(BaseEstimator):
    """N(0, I_d) log-density of the first ``d`` columns; records every value it was
    asked to score in the other columns."""

    def __init__(self, dim=2):
        self.dim = dim

    def fit(self, X, y=None):
        return self

    def score_samples(self, X):
        X = np.asarray(X, float)
        self.seen_rest_ = np.unique(np.r_[getattr(self, "seen_rest_", []),
                                          X[:, self.dim:].ravel()])
        return GaussianDetector(dim=self.dim).score_samples(X[:, :self.dim])


@pytest.mark.parametrize("make", [make_mv_scorer, make_em_scorer])
def test_constant_feature_is_held_at_its_value(make):
    # A feature constant on the data (one value of a binary feature in a validation
    # fold) is a zero-width side of the box: the draws hold it at its value and the
    # volume is the slice's, so the criterion equals that of the data without it, up to
    # the Monte-Carlo error of independent draws.
    X = np.random.RandomState(0).normal(size=(4000, 2))
    scorer = make(n_uniform=200_000)
    det = SliceDetector(dim=2)
    with_constant = scorer(det, np.c_[X, np.full(len(X), 0.25)])
    np.testing.assert_array_equal(det.seen_rest_, [0.25])
    without = scorer(SliceDetector(dim=2), X)
    assert with_constant == pytest.approx(without, rel=0.03)
    # Two constant features: each held at its own value.
    det_mid = SliceDetector(dim=2)
    columns = np.c_[X, np.full(len(X), -1.0), np.full(len(X), 3.0)]
    assert scorer(det_mid, columns) == pytest.approx(without, rel=0.03)
    np.testing.assert_array_equal(det_mid.seen_rest_, [-1.0, 3.0])


def test_dataframe_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_two_blobs(300), columns=["a", "b"])
    gmm = GaussianMixture(2, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        value = em_score(gmm, X)
    assert value == pytest.approx(em_score(GaussianMixture(2, random_state=0)
                                           .fit(X.to_numpy()), X.to_numpy()))
