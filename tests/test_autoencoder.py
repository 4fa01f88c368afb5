"""Behaviour of CWAutoencoder: the latent becomes normal, the cost terms in the history,
units, maps and sampling, scikit-learn integration, persistence, determinism, errors; and
the bundled mnist5k data it is benchmarked on."""

import hashlib
import pickle
import re
from importlib.resources import files

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skflows import CWAutoencoder
from skflows._testing import FAST_PARAMS
from skflows.datasets import load_mnist5k
from skflows.metrics import cw_normality_index, silverman_gamma

FAST = FAST_PARAMS["CWAutoencoder"]
SMALL = {**FAST, "encoder_hidden_dims": (32, 32), "decoder_hidden_dims": (32, 32)}


def _manifold_data(n=600, seed=0):
    """A 2-D curved, non-Gaussian sheet (uniform square, bent) in 6-D plus small noise."""
    rng = np.random.RandomState(seed)
    u = rng.uniform(-1, 1, size=(n, 2))
    X = np.column_stack([u[:, 0], u[:, 1], u[:, 0] ** 2, np.sin(2 * u[:, 1]),
                         u[:, 0] * u[:, 1], np.cos(u[:, 0])])
    return X + 0.01 * rng.randn(n, 6)


@pytest.fixture(scope="module")
def fitted_pair():
    X = _manifold_data()
    params = {**SMALL, "max_epochs": 40, "n_iter_no_change": 40, "lr": 3e-3}
    cwae = CWAutoencoder(**params).fit(X)
    plain = CWAutoencoder(**{**params, "lambda_": 0.0}).fit(X)
    return X, cwae, plain


def test_cw_term_makes_the_latent_normal(fitted_pair):
    X, cwae, plain = fitted_pair
    Z = cwae.transform(X)
    floor = (1 / np.sqrt(silverman_gamma(len(X))) - 1 / np.sqrt(1 + silverman_gamma(len(X)))
             ) / (2 * len(X) * np.sqrt(np.pi))
    # uniform codes on a square, as the plain autoencoder tends to give, are far from it
    assert cwae.cw_index_ < 5 * floor
    assert plain.cw_index_ > 10 * cwae.cw_index_
    assert cwae.cw_index_ == pytest.approx(cw_normality_index(Z), rel=1e-5)
    np.testing.assert_allclose(Z.mean(0), 0, atol=0.2)
    np.testing.assert_allclose(Z.std(0), 1, atol=0.2)


def test_both_cost_terms_are_recorded_per_epoch(fitted_pair):
    X, cwae, plain = fitted_pair
    assert len(cwae.history_) == cwae.n_iter_
    for est in (cwae, plain):
        for row in est.history_:
            for key in ("train_reconstruction", "train_cw_index", "valid_reconstruction",
                        "valid_cw_index"):
                assert np.isfinite(row[key]) and row[key] > 0
    first, last = cwae.history_[0], cwae.history_[-1]
    assert last["train_cw_index"] < first["train_cw_index"] / 5
    assert last["train_reconstruction"] < first["train_reconstruction"]
    # the plain autoencoder optimises the reconstruction only
    assert plain.history_[-1]["train_loss"] == pytest.approx(
        plain.history_[-1]["train_reconstruction"], rel=1e-12)


@pytest.mark.parametrize("cost", ["log_product", "sum"])
def test_loss_is_the_documented_combination(cost):
    """With one mini-batch per epoch the epoch loss is exactly rec + lambda * f(CW)."""
    X = _manifold_data(200)
    est = CWAutoencoder(**{**SMALL, "cost": cost, "lambda_": 2.5, "batch_size": 256,
                           "validation_fraction": 0.0, "max_epochs": 4}).fit(X)
    assert est.gamma_ == pytest.approx(silverman_gamma(200))
    for row in est.history_:
        penalty = np.log(row["train_cw_index"]) if cost == "log_product" else row[
            "train_cw_index"]
        assert row["train_loss"] == pytest.approx(
            row["train_reconstruction"] + 2.5 * penalty, rel=1e-9, abs=1e-9)
        assert row["valid_loss"] is None and row["valid_cw_index"] is None


def test_reconstruction_error_units_and_score(fitted_pair):
    X, cwae, _ = fitted_pair
    err = cwae.reconstruction_error(X)
    assert err.shape == (len(X),) and err.dtype == np.float64 and np.all(err >= 0)
    manual = ((cwae.inverse_transform(cwae.transform(X)) - X) ** 2).sum(1)
    np.testing.assert_allclose(err, manual, rtol=1e-9)
    assert cwae.score(X) == pytest.approx(-err.mean())
    # a useful autoencoder: far better than predicting the mean
    assert err.mean() < 0.2 * ((X - X.mean(0)) ** 2).sum(1).mean()


def test_standardised_fit_is_equivariant_to_the_units_of_X():
    X = _manifold_data(300)
    params = {**SMALL, "max_epochs": 5}
    a = CWAutoencoder(**params).fit(X)
    b = CWAutoencoder(**params).fit(X * 1000.0)
    np.testing.assert_allclose(b.transform(X * 1000.0), a.transform(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.reconstruction_error(X * 1000.0),
                               1e6 * a.reconstruction_error(X), rtol=1e-6)


def test_sample_decodes_standard_normal_draws(fitted_pair):
    X, cwae, _ = fitted_pair
    S = cwae.sample(500, random_state=0)
    assert S.shape == (500, X.shape[1]) and S.dtype == np.float64
    np.testing.assert_array_equal(S, cwae.sample(500, random_state=0))
    assert not np.allclose(S, cwae.sample(500, random_state=1))
    gen = torch.Generator().manual_seed(
        int(np.random.RandomState(0).randint(np.iinfo(np.int32).max)))
    Z = torch.randn(500, 2, generator=gen, dtype=torch.float64).numpy()
    np.testing.assert_allclose(S, cwae.inverse_transform(Z), rtol=1e-12)
    # samples resemble the data: feature means and spreads
    np.testing.assert_allclose(S.mean(0), X.mean(0), atol=0.15)
    np.testing.assert_allclose(S.std(0), X.std(0), rtol=0.35)
    with pytest.raises(ValueError, match="n_samples"):
        cwae.sample(0)


def test_sigmoid_output_is_bounded():
    X = MinMaxScaler().fit_transform(_manifold_data(200))
    est = CWAutoencoder(**{**SMALL, "max_epochs": 2, "standardize": False,
                           "output_activation": "sigmoid"}).fit(X)
    out = est.inverse_transform(10 * np.random.RandomState(0).randn(100, 2))
    assert out.min() >= 0 and out.max() <= 1


def test_dtypes_follow_input():
    X = _manifold_data(150)
    est = CWAutoencoder(**FAST).fit(X.astype(np.float32))
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert est.transform(X).dtype == np.float64
    assert est.inverse_transform(np.zeros((3, 2), dtype=np.float32)).dtype == np.float32
    assert est.sample(3, random_state=0).dtype == np.float32
    assert est.reconstruction_error(X.astype(np.float32)).dtype == np.float64
    assert est.module_.encoder[0].weight.dtype == torch.float32


def test_deterministic_and_global_rng_untouched():
    X = _manifold_data(200)
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    a = CWAutoencoder(**FAST).fit(X)
    b = CWAutoencoder(**FAST).fit(X)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.cw_index_ == b.cw_index_
    assert a.history_[-1]["train_loss"] == b.history_[-1]["train_loss"]


def test_pickle_round_trip(fitted_pair):
    X, cwae, _ = fitted_pair
    clone_ = pickle.loads(pickle.dumps(cwae))
    np.testing.assert_array_equal(clone_.transform(X), cwae.transform(X))
    np.testing.assert_array_equal(clone_.sample(5, random_state=0), cwae.sample(5, random_state=0))
    assert clone_.net_.loss.last_terms is None  # no batch tensors in the pickle


def test_warm_start_continues_training():
    X = _manifold_data(200)
    est = CWAutoencoder(**{**FAST, "warm_start": True, "n_iter_no_change": 50}).fit(X)
    first = est.history_[-1]["train_loss"]
    est.set_params(lambda_=0.5).fit(X)
    assert len(est.history_) == 2 * FAST["max_epochs"] and est.n_iter_ == FAST["max_epochs"]
    assert est.net_.loss.lambda_ == 0.5
    assert est.history_[-1]["train_loss"] != first
    assert all("train_cw_index" in row for row in est.history_)


def test_pipeline_and_grid_search():
    X = _manifold_data(200)
    pipe = Pipeline([("ae", CWAutoencoder(**FAST))])
    search = GridSearchCV(pipe, {"ae__lambda_": [0.0, 1.0]}, cv=2).fit(X)
    assert search.best_score_ < 0
    assert pipe.fit(X).transform(X).shape == (200, 2)
    est = clone(CWAutoencoder(**FAST))
    assert list(est.fit(X).get_feature_names_out()) == ["cwautoencoder0", "cwautoencoder1"]


def test_errors():
    X = _manifold_data(100)
    est = CWAutoencoder(**FAST)
    for method in (est.transform, est.reconstruction_error, est.score, est.inverse_transform):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        est.sample(2)
    est.fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :3])
    with pytest.raises(ValueError, match="features"):
        est.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cost"):
        CWAutoencoder(**{**FAST, "cost": "product"}).fit(X)
    with pytest.raises(ValueError, match="lambda_"):
        CWAutoencoder(**{**FAST, "lambda_": -1.0}).fit(X)
    with pytest.raises(ValueError, match="encoder_hidden_dims"):
        CWAutoencoder(**{**FAST, "encoder_hidden_dims": (8, 0)}).fit(X)


# ----------------------------------------------------------------------------- data
def test_mnist5k_loader_and_checksum():
    d = load_mnist5k()
    assert d.data.shape == (5000, 784) and d.data.dtype == np.float32
    assert d.images.shape == (5000, 28, 28) and d.image_shape == (28, 28)
    np.testing.assert_array_equal(np.bincount(d.target), np.full(10, 500))
    assert d.data.min() == 0 and d.data.max() == 255
    np.testing.assert_array_equal(d.data, np.round(d.data))
    X, y = load_mnist5k(return_X_y=True)
    np.testing.assert_array_equal(X, d.data)
    data = files("skflows.datasets") / "data"
    row = next(line for line in (data / "README.md").read_text(encoding="utf-8").splitlines()
               if "`mnist5k.npz`" in line)
    expected = re.findall(r"`([0-9a-f]{64})`", row)
    assert hashlib.sha256((data / "mnist5k.npz").read_bytes()).hexdigest() == expected[0]
