"""The training engine on its own: batching, shuffling, splits, early stopping, the
divergence guard."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skflows._training import (ArrayDataset, BatchLoader, Phase, Stage, TakeRows,
                               TrainingConfig, _split_indices, train_module)


class Quadratic(torch.nn.Module):
    """Loss (w - mean(x))^2: its minimiser is known."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))


def quadratic_loss(module, x):
    return ((module.w - x) ** 2).sum(-1).mean()


def exploding_loss(module, x):
    return (module.w.sum() * 0 + float("nan")) if x[0, 0] > 100 else quadratic_loss(module, x)


def test_batch_loader_covers_every_row_once_per_epoch_and_reshuffles():
    X = np.arange(23, dtype=np.float64).reshape(-1, 1)
    loader = BatchLoader(ArrayDataset(X), batch_size=5, shuffle=True,
                         random_state=np.random.RandomState(0))
    assert len(loader) == 5
    epoch1 = np.concatenate([b["x"].numpy().ravel() for b, _ in loader])
    epoch2 = np.concatenate([b["x"].numpy().ravel() for b, _ in loader])
    np.testing.assert_array_equal(np.sort(epoch1), X.ravel())
    np.testing.assert_array_equal(np.sort(epoch2), X.ravel())
    assert not np.array_equal(epoch1, epoch2)


def test_batch_loader_reads_readonly_memmaps_without_warnings(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((10, 2)))
    X = np.load(path, mmap_mode="r")
    with torch.autograd.set_grad_enabled(False):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            batches = [b["x"] for b, _ in BatchLoader(ArrayDataset(X), batch_size=4)]
    assert sum(len(b) for b in batches) == 10 and batches[0].dtype == torch.float64


@pytest.mark.parametrize("n, fraction, n_valid", [(10, 0.1, 1), (100, 0.25, 25),
                                                  (1, 0.1, None), (10, 0.0, None)])
def test_split_indices(n, fraction, n_valid):
    train, valid = _split_indices(n, fraction, np.random.RandomState(0))
    if n_valid is None:
        assert train is None and valid is None
    else:
        assert len(valid) == n_valid
        np.testing.assert_array_equal(np.sort(np.concatenate([train, valid])), np.arange(n))


def test_train_module_minimises_the_loss():
    X = np.random.RandomState(0).randn(200, 3) + np.array([1.0, -2.0, 3.0])
    module = Quadratic()
    net = train_module(module, quadratic_loss, X,
                       TrainingConfig(max_epochs=200, lr=0.05, batch_size=50,
                                      validation_fraction=0.0, n_iter_no_change=200, seed=0))
    np.testing.assert_allclose(module.w.detach().numpy(), X.mean(0), atol=0.05)
    assert len(net.history) == 200
    assert net.train_split is None  # no data kept in the fitted net


def test_early_stopping_on_validation_split():
    X = np.random.RandomState(0).randn(200, 3)
    net = train_module(Quadratic(), quadratic_loss, X,
                       TrainingConfig(max_epochs=500, lr=0.05, batch_size=50,
                                      validation_fraction=0.2, n_iter_no_change=5, seed=0))
    assert len(net.history) < 500
    assert all(np.isfinite(row["valid_loss"]) for row in net.history)


def test_non_finite_loss_restores_weights_and_raises():
    X = np.random.RandomState(0).randn(64, 3)
    X[40:] = 1000.0  # batches holding these rows produce a NaN loss
    module = Quadratic()
    with pytest.raises(FloatingPointError, match="epoch 1, batch"):
        train_module(module, exploding_loss, X,
                     TrainingConfig(max_epochs=5, batch_size=8, validation_fraction=0.0,
                                    seed=0))
    assert torch.isfinite(module.w).all()


def test_finite_but_exploding_loss_is_divergence():
    # A huge learning rate on a quadratic: every step overshoots further, the loss stays
    # finite for many steps but grows without bound.
    X = np.random.RandomState(0).randn(64, 3)
    module = Quadratic()
    with pytest.raises(FloatingPointError, match="diverged .*grew from"):
        train_module(module, quadratic_loss, X,
                     TrainingConfig(max_epochs=50, lr=1e8, batch_size=8, gradient_clip=None,
                                    validation_fraction=0.0, seed=0))
    # Restored to the start of the epoch that diverged: the first, so the initial zeros.
    np.testing.assert_array_equal(module.w.detach().numpy(), 0.0)


def test_a_loss_that_decreases_from_a_large_start_is_not_divergence():
    X = np.random.RandomState(0).randn(64, 3) * 1e3  # first loss ~ 3e6
    net = train_module(Quadratic(), quadratic_loss, X,
                       TrainingConfig(max_epochs=5, lr=10.0, batch_size=8,
                                      validation_fraction=0.0, seed=0))
    assert len(net.history) == 5


class TwoWeights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))


def loss_a(module, x):
    # Depends on both weights, but only `a` may move in this phase.
    return ((module.a + module.b - x[:, 0]) ** 2).mean()


def loss_b(module, x):
    return ((module.b + 2.0) ** 2 + 0 * x.sum())


def test_phases_alternate_and_freeze_the_other_parameters():
    X = np.ones((40, 1))
    module = TwoWeights()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append((net.history[-1, "phase"], module.a.item(), module.b.item()))

    phases = [Phase(loss_a, trainable=lambda m: [m.a], name="A", monitor=True),
              Phase(loss_b, trainable=lambda m: [m.b], epochs=2, name="B", monitor=False)]
    net = train_module(module, Stage(phases, callbacks=[("spy", Spy())]), X,
                       TrainingConfig(max_epochs=6, lr=0.1, batch_size=10, gradient_clip=None,
                                      validation_fraction=0.0, n_iter_no_change=100, seed=0))
    assert [name for name, _, _ in seen] == ["A", "B", "B", "A", "B", "B"]
    # b is frozen in phase A, a is frozen in phase B.
    assert seen[0][2] == 0.0 and seen[3][2] == seen[2][2]
    assert seen[1][1] == seen[0][1] and seen[2][1] == seen[0][1]
    # The monitored loss carries the last A-phase value through B epochs.
    mon = [row["monitored"] for row in net.history]
    assert mon[1] == mon[2] == net.history[0, "train_loss"]
    assert all(p.requires_grad for p in module.parameters())


# ----------------------------------------------------------------------- named arrays
def test_batches_are_aligned_named_arrays_in_their_own_dtypes():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    label = np.arange(10, dtype=np.int64) * 10
    loader = BatchLoader(ArrayDataset({"x": X, "label": label}), batch_size=4, shuffle=True,
                         random_state=np.random.RandomState(0))
    seen = []
    for batch, _ in loader:
        assert set(batch) == {"x", "label"}
        assert batch["x"].dtype == torch.float32 and batch["label"].dtype == torch.int64
        # Row i of x is (2i, 2i + 1) and its label 10 i: still paired after shuffling.
        np.testing.assert_array_equal(batch["x"][:, 0].numpy() * 5, batch["label"].numpy())
        seen.extend(batch["label"].tolist())
    assert sorted(seen) == label.tolist()


def test_take_rows_pairs_arrays_of_other_lengths_lazily():
    inliers = np.arange(5, dtype=np.float64).reshape(5, 1)
    contrast = -np.arange(3, dtype=np.float64).reshape(3, 1)
    data = {"x": TakeRows(inliers, [4, 3, 2, 1, 0, 4]),
            "contrast": TakeRows(contrast, np.arange(6) % 3)}
    batch, _ = next(iter(BatchLoader(ArrayDataset(data), batch_size=6)))
    np.testing.assert_array_equal(batch["x"].numpy().ravel(), [4, 3, 2, 1, 0, 4])
    np.testing.assert_array_equal(batch["contrast"].numpy().ravel(), [0, -1, -2, 0, -1, -2])


def test_named_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="same number of rows"):
        ArrayDataset({"x": np.ones((4, 1)), "y": np.ones(3)})


def weighted_loss(module, x, weight):
    return (weight[:, None] * (module.w - x) ** 2).sum(-1).mean()


def test_a_loss_receives_every_named_array():
    X = np.random.RandomState(0).randn(100, 3)
    weight = np.zeros(100)
    weight[:50] = 1.0  # only the first half counts
    module = Quadratic()
    train_module(module, weighted_loss, {"x": X, "weight": weight},
                 TrainingConfig(max_epochs=300, lr=0.05, batch_size=100,
                                validation_fraction=0.0, n_iter_no_change=300, seed=0))
    np.testing.assert_allclose(module.w.detach().numpy(), X[:50].mean(0), atol=0.05)


# ----------------------------------------------------------------------------- stages
def test_stages_run_in_order_on_their_rows_and_record_as_asked():
    X = np.random.RandomState(0).randn(100, 3)
    first, second = np.arange(50), np.arange(50, 100)
    module = Quadratic()
    config = TrainingConfig(max_epochs=5, lr=0.05, batch_size=10, validation_fraction=0.2,
                            n_iter_no_change=100, seed=0)
    sizes = []

    class Spy(Callback):
        def on_epoch_end(self, net, **kwargs):
            sizes.append(sum(b["train_batch_size"] for b in net.history[-1, "batches"]
                             if "train_batch_size" in b))

    net = train_module(module, [
        Stage(quadratic_loss, name="warmup", rows=first, max_epochs=2, validation=False,
              record=False, callbacks=[("spy", Spy())]),
        Stage(quadratic_loss, name="main", rows=second, max_epochs=3,
              callbacks=[("spy", Spy())])], X, config)
    # The unrecorded stage trained on its 50 rows (no validation), the second on 80 % of
    # its own 50 rows; only the second is in the history.
    assert sizes == [50, 50, 40, 40, 40]
    assert [row["stage"] for row in net.history] == ["main"] * 3
    assert [row["epoch"] for row in net.history] == [1, 2, 3]
    assert net.unconverged_ == ["main"]


def test_early_stopping_watches_the_metric_not_the_loss():
    # The loss pulls w towards the data mean; the metric prefers w = 0, so it worsens
    # from the first epoch on: early stopping must stop and restore the first epoch.
    X = np.random.RandomState(0).randn(200, 3) + 5.0
    module = Quadratic()
    net = train_module(module, Stage(quadratic_loss, metric=lambda m, x: (m.w ** 2).sum()),
                       X, TrainingConfig(max_epochs=50, lr=0.1, batch_size=20,
                                         validation_fraction=0.2, n_iter_no_change=3,
                                         seed=0))
    valid = [row["valid_loss"] for row in net.history]
    train = [row["train_loss"] for row in net.history]
    assert len(net.history) == 4 and train[-1] < train[0] and valid[-1] > valid[0]
    assert [row["monitored"] for row in net.history] == valid
    # Best-weights restore: the weights after epoch 1.
    assert float((module.w.detach() ** 2).sum()) == pytest.approx(valid[0])


def test_a_metric_without_validation_rows_is_watched_on_the_training_rows():
    X = np.random.RandomState(0).randn(50, 3)
    net = train_module(Quadratic(), Stage(quadratic_loss, metric=lambda m, x: (m.w ** 2).sum()),
                       X, TrainingConfig(max_epochs=3, lr=0.1, batch_size=10,
                                         validation_fraction=0.0, seed=0))
    assert all(row["held_out"] is False for row in net.history)
    assert all(row["monitored"] == row["valid_loss"] for row in net.history)


def big_loss(module, x):
    return 1e6 * (1.0 + ((module.b - x[:, 0]) ** 2).mean())


def test_divergence_is_judged_against_the_phase_of_the_batch():
    # Phase B's loss is a million times phase A's from its first batch on: judged
    # against phase A's first batch it would "diverge", against its own it does not.
    X = np.ones((40, 1))
    phases = [Phase(loss_a, trainable=lambda m: [m.a], name="A"),
              Phase(big_loss, trainable=lambda m: [m.b], name="B", monitor=False)]
    net = train_module(TwoWeights(), phases, X,
                       TrainingConfig(max_epochs=4, lr=0.01, batch_size=10,
                                      validation_fraction=0.0, n_iter_no_change=10, seed=0))
    assert [row["phase"] for row in net.history] == ["A", "B", "A", "B"]


def growing_in_b(module, x):
    growing_in_b.calls += 1
    return (module.b * 0 + 1.0) * (10.0 ** (4 * growing_in_b.calls))


def test_divergence_in_the_second_phase_names_its_own_reference():
    X = np.ones((40, 1))
    growing_in_b.calls = 0
    phases = [Phase(loss_a, trainable=lambda m: [m.a], name="A"),
              Phase(growing_in_b, trainable=lambda m: [m.b], name="B")]
    with pytest.raises(FloatingPointError, match=r"grew from 1e\+04 at the first batch of "
                                                 r"phase 'B' to 1e\+08\) at epoch 2, batch 2"):
        train_module(TwoWeights(), phases, X,
                     TrainingConfig(max_epochs=4, lr=0.01, batch_size=10,
                                    validation_fraction=0.0, seed=0))


class _Interrupt(Callback):
    """Raise KeyboardInterrupt at the given batch of the given stage."""

    def __init__(self, stage, after):
        self.stage, self.after, self.count = stage, after, 0

    def on_batch_end(self, net, training=False, **kwargs):
        if training and net.history[-1, "stage"] == self.stage:
            self.count += 1
            if self.count == self.after:
                raise KeyboardInterrupt


def test_an_interrupt_ends_every_remaining_stage():
    X = np.random.RandomState(0).randn(100, 3)
    net = train_module(Quadratic(), [
        Stage(quadratic_loss, name="one", max_epochs=3, callbacks=[("i", _Interrupt("one", 12))]),
        Stage(quadratic_loss, name="two", max_epochs=3)], X,
        TrainingConfig(max_epochs=5, batch_size=10, seed=0))
    assert net.interrupted_
    # 9 batches per epoch: the interrupt came during epoch 2, whose row is dropped; the
    # second stage never ran.
    assert [row["stage"] for row in net.history] == ["one"]
    assert all("dur" in row for row in net.history)


def test_a_warm_net_obeys_new_settings_and_keeps_adam_moments():
    X = np.random.RandomState(0).randn(100, 3)
    module = Quadratic()
    config = TrainingConfig(max_epochs=2, lr=0.05, batch_size=10, validation_fraction=0.0,
                            seed=0)
    net = train_module(module, quadratic_loss, X, config)
    state = net.optimizer_.state[module.w]
    steps, moment = int(state["step"]), state["exp_avg"].clone()
    assert steps == 20
    before = module.w.detach().clone()
    net = train_module(module, quadratic_loss, X,
                       TrainingConfig(max_epochs=1, lr=0.0, batch_size=25,
                                      validation_fraction=0.0, seed=0), net=net)
    # lr = 0: the weights stay; batch size 25: 4 more steps on the same Adam state.
    assert torch.equal(module.w, before)
    assert int(net.optimizer_.state[module.w]["step"]) == steps + 4
    assert not torch.equal(net.optimizer_.state[module.w]["exp_avg"], moment)
    assert net.optimizer_.param_groups[0]["lr"] == 0.0
