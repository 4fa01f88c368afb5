"""skflows.plotting.plot_history: lines drawn from history_, lazy matplotlib, errors."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skflows import FlowDensity, FlowMixtureClustering
from skflows._testing import FAST_PARAMS
from skflows.plotting import plot_history

matplotlib = pytest.importorskip("matplotlib", reason="plot_history needs matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted_density():
    X = np.random.RandomState(0).normal(size=(200, 2))
    return FlowDensity(**FAST_PARAMS["FlowDensity"]).fit(X)


def test_lines_follow_history(fitted_density):
    ax = plot_history(fitted_density)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train_loss", "valid_loss"}
    history = fitted_density.history_
    for key, line in lines.items():
        np.testing.assert_array_equal(line.get_xdata(), [row["epoch"] for row in history])
        np.testing.assert_allclose(line.get_ydata(), [row[key] for row in history])
    assert ax.get_xlabel() == "epoch"
    assert ax.get_legend() is not None


def test_history_list_and_given_axes(fitted_density):
    fig, ax = plt.subplots()
    out = plot_history(fitted_density.history_, ax=ax, keys="train_loss")
    assert out is ax
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss"]
    assert len(fig.axes) == 1


def test_missing_values_are_skipped():
    history = [{"epoch": 1, "train_loss": 3.0, "valid_loss": None},
               {"epoch": 2, "train_loss": 2.0, "valid_loss": 2.5},
               {"epoch": 3, "train_loss": 1.5}]
    ax = plot_history(history, logy=True)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["valid_loss"].get_xdata(), [2])
    np.testing.assert_array_equal(lines["train_loss"].get_ydata(), [3.0, 2.0, 1.5])
    assert ax.get_yscale() == "log"


def test_without_validation_split_plots_train_loss_only():
    X = np.random.RandomState(1).normal(size=(100, 2))
    params = {**FAST_PARAMS["FlowDensity"], "validation_fraction": 0.0}
    est = FlowDensity(**params).fit(X)
    ax = plot_history(est)
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss"]


def test_mixture_history():
    X = np.random.RandomState(2).normal(size=(150, 2))
    est = FlowMixtureClustering(**FAST_PARAMS["FlowMixtureClustering"]).fit(X)
    ax = plot_history(est)
    train = [line for line in ax.get_lines() if line.get_label() == "train_loss"][0]
    np.testing.assert_allclose(train.get_ydata(), [row["train_loss"] for row in est.history_])


def test_errors():
    with pytest.raises(NotFittedError, match="history_"):
        plot_history(FlowDensity())
    with pytest.raises(ValueError, match="empty"):
        plot_history([])
    with pytest.raises(ValueError, match="available: \\['epoch', 'train_loss'\\]"):
        plot_history([{"epoch": 1, "train_loss": 1.0}], keys=("valid_loss",))
    with pytest.raises(TypeError, match="list of per-epoch"):
        plot_history({"train_loss": [1.0]})
    with pytest.raises(TypeError, match="list of per-epoch"):
        plot_history([1.0, 2.0])


def test_importing_skflows_does_not_import_matplotlib():
    code = ("import sys, skflows, skflows.plotting; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)
