"""The bundled regression data: shapes, units and checksums of the shipped files."""

import hashlib
from importlib.resources import files

import numpy as np
import pytest

from skflows.datasets import load_concrete, load_diamonds, load_faithful

SHA256 = {
    "concrete.npz": "e1d223a99fc1b45be899caacb0c8932cf91899673a15806643e9d6af632955f6",
    "diamonds.npz": "49e6c523f4f56c58d98034356b015785f0af4193b609235279f06ebbd3963ab8",
    "faithful.npz": "b46ee565840df369f8657c75aebf77a2bac87e5e8993251c766fe7d7cbb300d8",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_shipped_files_match_their_checksums(name):
    blob = (files("skflows.datasets") / "data" / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == SHA256[name]


def test_concrete():
    data = load_concrete()
    assert data.data.shape == (1030, 8) and data.target.shape == (1030,)
    assert data.feature_names[0] == "cement" and data.feature_names[-1] == "age"
    assert 2 < data.target.min() < data.target.max() < 83  # MPa
    X, y = load_concrete(return_X_y=True)
    np.testing.assert_array_equal(X, data.data)


def test_diamonds():
    X, y = load_diamonds(return_X_y=True)
    assert X.shape == (53940, 9)
    assert np.exp(y).min() == pytest.approx(326) and np.exp(y).max() == pytest.approx(18823)


def test_faithful_is_duration_given_waiting_and_bimodal():
    data = load_faithful()
    assert data.data.shape == (272, 1) and data.feature_names == ["waiting"]
    assert data.target_name == "eruptions"
    long_wait = data.target[data.data[:, 0] > 70]
    assert np.mean(long_wait > 3) > 0.85  # long waits are followed by long eruptions
    short_wait = data.target[data.data[:, 0] < 60]
    assert np.mean(short_wait < 3) > 0.85
    with pytest.raises(ValueError):
        load_faithful(return_X_y="yes")
