"""Progress reporting for every estimator: ``verbose=1`` prints a per-epoch table with the
training and validation losses and a progress bar over the mini-batches; ``history_``
feeds ``plot_history``.

Every estimator of :data:`skflows._testing.FAST_PARAMS` is covered automatically.
"""

import numpy as np
import pytest

import skflows
from skflows._testing import FAST_PARAMS
from skflows.plotting import plot_history

matplotlib = pytest.importorskip("matplotlib", reason="plot_history needs matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = sorted(FAST_PARAMS)


def _fit(name, **params):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3)) @ rng.uniform(0.5, 1.5, size=(3, 3))
    params = {**FAST_PARAMS[name], "max_epochs": 3, "validation_fraction": 0.2,
              "n_iter_no_change": 10, **params}
    return getattr(skflows, name)(**params).fit(X)


@pytest.mark.parametrize("name", NAMES)
def test_verbose_prints_epoch_losses_and_a_progress_bar(name, capsys):
    est = _fit(name, verbose=1)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    # skorch's per-epoch table: a header with the loss columns and one row per epoch.
    header = next(line for line in text.splitlines() if "train_loss" in line)
    assert "epoch" in header and "valid_loss" in header
    rows = [line.split() for line in text.splitlines()
            if line.split() and line.split()[0].isdigit()]
    assert [int(row[0]) for row in rows] == [1, 2, 3][:len(est.history_)]
    # tqdm's bar (on stderr) counts the mini-batches of the running epoch (it refreshes
    # its loss postfix at most every 0.1 s, too rarely to test on tiny fits).
    assert "it/s" in captured.err or "s/it" in captured.err


@pytest.mark.parametrize("name", NAMES)
def test_silent_by_default(name, capsys):
    _fit(name)
    captured = capsys.readouterr()
    assert captured.out == "" and "train_loss" not in captured.err


@pytest.mark.parametrize("name", NAMES)
def test_plot_history_draws_both_losses(name):
    est = _fit(name)
    ax = plot_history(est)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"train_loss", "valid_loss"} <= set(lines)
    np.testing.assert_allclose(lines["valid_loss"].get_ydata(),
                               [row["valid_loss"] for row in est.history_])
    plt.close(ax.figure)
