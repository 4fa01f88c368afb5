"""Progress reporting for every estimator: ``verbose=1`` prints one plain line per epoch
(epoch, stage, phase, training and validation loss, seconds) and, on a terminal only, a
progress bar over the mini-batches; ``history_`` feeds ``plot_history``.

Every estimator of :data:`skflows._testing.FAST_PARAMS` is covered automatically.
"""

import numpy as np
import pytest

import skflows
from skflows._testing import FAST_PARAMS, WRAPPERS, fit_target
from skflows.plotting import plot_history

matplotlib = pytest.importorskip("matplotlib", reason="plot_history needs matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: Estimators that train through the engine (not the wrappers of skflows.ood).
NAMES = sorted(set(FAST_PARAMS) - WRAPPERS)


def _fit(name, **params):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3)) @ rng.uniform(0.5, 1.5, size=(3, 3))
    params = {**FAST_PARAMS[name], "max_epochs": 3, "validation_fraction": 0.2,
              "n_iter_no_change": 10, **params}
    return getattr(skflows, name)(**params).fit(X, fit_target(name, X))


@pytest.mark.parametrize("name", NAMES)
def test_verbose_prints_one_plain_line_per_epoch(name, capsys):
    est = _fit(name, verbose=1)
    captured = capsys.readouterr()
    # Captured output is not a terminal: no progress bar, no escape codes, and exactly
    # one line per epoch of this estimator (a nested flow may print its own lines).
    assert "\x1b" not in captured.out + captured.err
    assert "it/s" not in captured.err and "s/it" not in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith("epoch=")]
    own = lines[-len(est.history_):]
    assert len(lines) >= len(est.history_)
    for line, row in zip(own, est.history_):
        fields = dict(part.split("=", 1) for part in line.split())
        assert set(fields) == {"epoch", "stage", "phase", "train_loss", "valid_loss", "dur"}
        assert int(fields["epoch"]) == row["epoch"]
        assert fields["stage"] == row["stage"] and fields["phase"] == row["phase"]
        assert float(fields["train_loss"]) == pytest.approx(row["train_loss"], rel=1e-4)
        assert float(fields["valid_loss"]) == pytest.approx(row["valid_loss"], rel=1e-4)
        assert fields["dur"].endswith("s")


def test_a_progress_bar_only_on_a_terminal(monkeypatch):
    import sys

    from skflows._training import TrainingConfig, _progress_callbacks

    config = TrainingConfig(verbose=1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert [name for name, _ in _progress_callbacks(config)] == ["epoch_log"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert [name for name, _ in _progress_callbacks(config)] == ["progress", "epoch_log"]
    assert _progress_callbacks(TrainingConfig(verbose=0)) == []


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
