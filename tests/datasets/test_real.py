"""Tests for the bundled real data sets and dequantisation."""

import hashlib
import re
from importlib.resources import files

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skflows.datasets import (dequantize, load_crabs, load_optdigits, load_pendigits,
                              load_penguins)


def test_optdigits_bunch():
    d = load_optdigits()
    assert d.data.shape == (5620, 64) and d.data.dtype == np.float64
    assert d.target.shape == (5620,) and d.target.dtype == np.int64
    assert d.is_test.shape == (5620,) and d.is_test.dtype == bool
    assert int(d.is_test.sum()) == 1797
    assert not d.is_test[:3823].any() and d.is_test[3823:].all()
    assert d.image_shape == (8, 8)
    assert d.images.shape == (5620, 8, 8)
    np.testing.assert_array_equal(d.images.reshape(5620, 64), d.data)
    assert len(d.feature_names) == 64 and d.feature_names[9] == "pixel_1_1"
    np.testing.assert_array_equal(d.target_names, np.arange(10))
    assert isinstance(d.DESCR, str) and "Optical" in d.DESCR
    assert d.data.min() == 0 and d.data.max() == 16
    np.testing.assert_array_equal(d.data, np.round(d.data))
    assert set(np.unique(d.target)) == set(range(10))


def test_optdigits_test_part_is_sklearn_digits():
    d = load_optdigits()
    ref = load_digits()
    np.testing.assert_array_equal(d.data[d.is_test], ref.data)
    np.testing.assert_array_equal(d.target[d.is_test], ref.target)


def test_pendigits_bunch():
    d = load_pendigits()
    assert d.data.shape == (10992, 16) and d.data.dtype == np.float64
    assert d.target.shape == (10992,) and d.target.dtype == np.int64
    assert int(d.is_test.sum()) == 3498
    assert not d.is_test[:7494].any() and d.is_test[7494:].all()
    assert d.feature_names[:4] == ["x1", "y1", "x2", "y2"] and len(d.feature_names) == 16
    np.testing.assert_array_equal(d.target_names, np.arange(10))
    assert "Pen-Based" in d.DESCR
    assert d.data.min() == 0 and d.data.max() == 100
    np.testing.assert_array_equal(d.data, np.round(d.data))
    assert "images" not in d


@pytest.mark.parametrize("loader, shape", [(load_optdigits, (5620, 64)),
                                           (load_pendigits, (10992, 16)),
                                           (load_penguins, (342, 4)),
                                           (load_crabs, (200, 5))])
def test_return_X_y_and_fresh_copies(loader, shape):
    X, y = loader(return_X_y=True)
    original_min = X.min()
    assert X.shape == shape and y.shape == shape[:1]
    bunch = loader()
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)
    X[:] = -1.0
    assert loader(return_X_y=True)[0].min() == original_min


def test_data_files_match_readme_checksums():
    data = files("skflows.datasets") / "data"
    readme = (data / "README.md").read_text(encoding="utf-8")
    for name in ["optdigits.npz", "pendigits.npz", "penguins.npz", "crabs.npz"]:
        row = next(line for line in readme.splitlines() if f"`{name}`" in line)
        expected = re.findall(r"`([0-9a-f]{64})`", row)
        assert len(expected) == 1
        digest = hashlib.sha256((data / name).read_bytes()).hexdigest()
        assert digest == expected[0], name


def test_penguins_bunch():
    d = load_penguins()
    assert d.data.shape == (342, 4) and d.data.dtype == np.float64
    assert d.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(d.target), [151, 68, 123])
    np.testing.assert_array_equal(np.unique(d.sex), [-1, 0, 1])
    assert int((d.sex == -1).sum()) == 9
    assert d.feature_names == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                               "body_mass_g"]
    assert list(d.target_names) == ["Adelie", "Chinstrap", "Gentoo"]
    assert np.isfinite(d.data).all() and (d.data > 0).all()
    # First bird of the palmerpenguins table: Adelie, 39.1 mm, 18.7 mm, 181 mm, 3750 g, male.
    np.testing.assert_array_equal(d.data[0], [39.1, 18.7, 181.0, 3750.0])
    assert d.target[0] == 0 and d.sex[0] == 0
    # Gentoos have the longest flippers.
    means = [d.data[d.target == k, 2].mean() for k in range(3)]
    assert np.argmax(means) == 2
    assert "Palmer" in d.DESCR


def test_crabs_bunch():
    d = load_crabs()
    assert d.data.shape == (200, 5) and d.data.dtype == np.float64
    np.testing.assert_array_equal(np.bincount(d.target), [50, 50, 50, 50])
    np.testing.assert_array_equal(d.target, 2 * d.species + d.sex)
    assert d.feature_names == ["FL", "RW", "CL", "CW", "BD"]
    assert len(d.target_names) == 4
    assert (d.data > 0).all()
    # Carapace width exceeds carapace length for every crab of this species.
    assert (d.data[:, 3] > d.data[:, 2]).all()
    assert "Leptograpsus" in d.DESCR


def test_dequantize_bounds_cells_and_reproducibility():
    X = load_optdigits().data
    Z = dequantize(X, levels=17, random_state=0)
    assert Z.shape == X.shape and Z.dtype == np.float64
    assert Z.min() >= 0.0 and Z.max() < 1.0
    np.testing.assert_array_equal(np.floor(Z * 17), X)  # stays in the cell of X
    np.testing.assert_array_equal(Z, dequantize(X, levels=17, random_state=0))
    assert not np.array_equal(Z, dequantize(X, levels=17, random_state=1))
    # noise is uniform: mean offset 1/2 within each cell
    assert abs((Z * 17 - X).mean() - 0.5) < 0.01


def test_dequantize_pendigits_and_int_input():
    X, _ = load_pendigits(return_X_y=True)
    Z = dequantize(X.astype(np.int64), levels=101, random_state=3)
    assert Z.min() >= 0.0 and Z.max() < 1.0
    np.testing.assert_array_equal(np.floor(Z * 101), X)


def test_dequantize_leaves_global_rng_alone():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    dequantize(np.zeros((5, 3)), levels=2, random_state=42)
    np.testing.assert_array_equal(before, np.random.get_state()[1])


class _AlmostOneRandomState(np.random.RandomState):
    """Returns the largest double below 1 for every uniform draw."""

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.full(size, np.nextafter(1.0, 0.0))


def test_dequantize_stays_below_one_when_noise_rounds_up():
    Z = dequantize(np.full((4, 2), 16), levels=17, random_state=_AlmostOneRandomState(0))
    assert Z.max() < 1.0


@pytest.mark.parametrize("X, levels", [
    (np.array([[0.5]]), 17),
    (np.array([[17.0]]), 17),
    (np.array([[-1.0]]), 17),
    (np.array([[np.nan]]), 17),
    (np.array([[1.0]]), 0),
    (np.array([[1.0]]), 2.5),
    (np.array([["a"]]), 17),
])
def test_dequantize_rejects_bad_input(X, levels):
    with pytest.raises(ValueError):
        dequantize(X, levels=levels)
