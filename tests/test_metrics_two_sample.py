"""Two-sample metrics of the SBI benchmark: the classifier two-sample test (c2st) and the
unbiased squared MMD with a Gaussian kernel."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPClassifier

from skflows import metrics
from skflows.metrics import c2st, mmd


# ----------------------------------------------------------------------------- c2st
def test_c2st_same_law_is_chance():
    rng = np.random.RandomState(0)
    scores = [c2st(rng.randn(1000, 2), rng.randn(1000, 2), random_state=seed)
              for seed in range(3)]
    assert abs(np.mean(scores) - 0.5) < 0.03, scores


def test_c2st_shifted_laws_are_separated():
    rng = np.random.RandomState(1)
    X = rng.randn(200, 3)
    Y = rng.randn(200, 3) + np.array([5.0, 0.0, 0.0])  # Bayes accuracy Phi(2.5) = 0.994
    assert c2st(X, Y) > 0.95
    assert c2st(X, Y, scoring="roc_auc") > 0.98


def test_c2st_follows_the_benchmark_definition():
    """Same score as sbibm's recipe written out: z-score with X's mean and std (ddof=1),
    MLP (10 d, 10 d) relu / adam / max_iter=10000, shuffled 5-fold KFold, mean accuracy."""
    rng = np.random.RandomState(2)
    X, Y = 6.0 + 2.0 * rng.randn(300, 2), rng.randn(270, 2)
    mean, std = X.mean(0), X.std(0, ddof=1)
    data = np.concatenate([(X - mean) / std, (Y - mean) / std])
    target = np.r_[np.zeros(300), np.ones(270)]
    clf = MLPClassifier(activation="relu", hidden_layer_sizes=(20, 20), max_iter=10000,
                        solver="adam", random_state=7)
    ref = cross_val_score(clf, data, target, scoring="accuracy",
                          cv=KFold(n_splits=5, shuffle=True, random_state=7)).mean()
    assert c2st(X, Y, random_state=7) == pytest.approx(ref, abs=1e-12)


def test_c2st_invalid_input():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError):
        c2st(X, np.zeros((10, 3)))
    with pytest.raises(ValueError):
        c2st(X, np.full((10, 2), np.nan))
    with pytest.raises(ValueError):
        c2st(X, np.zeros((1, 2)))
    with pytest.raises(ValueError):
        c2st(np.zeros(10), X)


# ----------------------------------------------------------------------------- mmd
def _mmd_brute_force(X, Y, sigma):
    k = lambda a, b: math.exp(-np.sum((a - b) ** 2) / (2.0 * sigma ** 2))  # noqa: E731
    m, n = len(X), len(Y)
    xx = sum(k(X[i], X[j]) for i, j in itertools.permutations(range(m), 2))
    yy = sum(k(Y[i], Y[j]) for i, j in itertools.permutations(range(n), 2))
    xy = sum(k(X[i], Y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


def test_mmd_matches_brute_force():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(7, 3), 0.5 + rng.randn(5, 3)
    for sigma in (0.3, 1.0, 4.0):
        assert mmd(X, Y, bandwidth=sigma) == pytest.approx(_mmd_brute_force(X, Y, sigma),
                                                           rel=1e-12, abs=1e-14)
    # default bandwidth: the median distance between distinct pooled points
    median = float(np.median(pdist(np.concatenate([X, Y]))))
    assert mmd(X, Y) == pytest.approx(_mmd_brute_force(X, Y, median), rel=1e-12)
    # an even and an odd number of pairs (two middle values averaged, or one)
    for n in (4, 5):
        Z = rng.randn(n, 2)
        assert metrics._median_pairwise_distance(Z) == pytest.approx(
            np.median(pdist(Z)), rel=1e-13)


def test_mmd_chunked_equals_one_block(monkeypatch):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(150, 4), 0.3 + rng.randn(110, 4)
    X[:20] = X[0]  # ties among the distances
    full = mmd(X, Y)
    median = metrics._median_pairwise_distance(np.concatenate([X, Y]))
    assert median == pytest.approx(np.median(pdist(np.concatenate([X, Y]))), rel=1e-12)
    # tiny blocks, and the histogram selection of the median (few values at once)
    monkeypatch.setattr(metrics, "_MMD_CHUNK", 37)
    monkeypatch.setattr(metrics, "_SELECT_LIMIT", 50)
    monkeypatch.setattr(metrics, "_N_BINS", 8)
    assert metrics._median_pairwise_distance(np.concatenate([X, Y])) == pytest.approx(
        median, rel=1e-12)
    assert mmd(X, Y) == pytest.approx(full, rel=1e-10)


def test_mmd_same_law_shifted_laws_and_symmetry():
    rng = np.random.RandomState(2)
    X, Y, Z = rng.randn(600, 3), rng.randn(500, 3), rng.randn(500, 3) + 0.5
    same, shifted = mmd(X, Y), mmd(X, Z)
    assert shifted > 0.02
    assert abs(same) < 0.1 * shifted
    assert mmd(Z, X) == pytest.approx(shifted, rel=1e-10)
    assert mmd(Y, X) == pytest.approx(same, rel=1e-8, abs=1e-12)
    assert mmd(X, rng.randn(500, 3) + 1.0) > shifted  # grows with the shift


def test_mmd_invalid_input():
    X = np.random.RandomState(0).randn(10, 2)
    for bad in (0.0, -1.0, np.inf, np.nan, "1", True):
        with pytest.raises(ValueError):
            mmd(X, X, bandwidth=bad)
    with pytest.raises(ValueError):
        mmd(X, np.zeros((10, 3)))
    with pytest.raises(ValueError):
        mmd(X, np.full((10, 2), np.nan))
    with pytest.raises(ValueError):
        mmd(X, X[:1])
    with pytest.raises(ValueError, match="zero bandwidth"):
        mmd(np.zeros((10, 2)), np.zeros((10, 2)))
