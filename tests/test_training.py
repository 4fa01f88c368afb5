"""The training engine on its own: batching, shuffling, splits, early stopping, the
divergence guard."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skflows._training import (ArrayDataset, BatchLoader, TrainingConfig, _split_indices,
                               train_module)


class Quadratic(torch.nn.Module):
    """Loss (w - mean(x))^2: its minimiser is known."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))


def quadratic_loss(module, X):
    return ((module.w - X) ** 2).sum(-1).mean()


def exploding_loss(module, X):
    return (module.w.sum() * 0 + float("nan")) if X[0, 0] > 100 else quadratic_loss(module, X)


def test_batch_loader_covers_every_row_once_per_epoch_and_reshuffles():
    X = np.arange(23, dtype=np.float64).reshape(-1, 1)
    loader = BatchLoader(ArrayDataset(X), batch_size=5, shuffle=True,
                         random_state=np.random.RandomState(0))
    assert len(loader) == 5
    epoch1 = np.concatenate([b.numpy().ravel() for b, _ in loader])
    epoch2 = np.concatenate([b.numpy().ravel() for b, _ in loader])
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
            batches = [b for b, _ in BatchLoader(ArrayDataset(X), batch_size=4)]
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


def loss_a(module, X):
    # Depends on both weights, but only `a` may move in this phase.
    return ((module.a + module.b - X[:, 0]) ** 2).mean()


def loss_b(module, X):
    return ((module.b + 2.0) ** 2 + 0 * X.sum())


def test_phases_alternate_and_freeze_the_other_parameters():
    from skflows._training import Phase

    X = np.ones((40, 1))
    module = TwoWeights()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append((net.history[-1, "phase"], module.a.item(), module.b.item()))

    phases = [Phase(loss_a, trainable=lambda m: [m.a], name="A", monitor=True),
              Phase(loss_b, trainable=lambda m: [m.b], epochs=2, name="B", monitor=False)]
    net = train_module(module, phases, X,
                       TrainingConfig(max_epochs=6, lr=0.1, batch_size=10, gradient_clip=None,
                                      validation_fraction=0.0, n_iter_no_change=100, seed=0),
                       callbacks=[("spy", Spy())])
    assert [name for name, _, _ in seen] == ["A", "B", "B", "A", "B", "B"]
    # b is frozen in phase A, a is frozen in phase B.
    assert seen[0][2] == 0.0 and seen[3][2] == seen[2][2]
    assert seen[1][1] == seen[0][1] and seen[2][1] == seen[0][1]
    # The monitored loss carries the last A-phase value through B epochs.
    mon = [row["monitored_loss"] for row in net.history]
    assert mon[1] == mon[2] == net.history[0, "train_loss"]
    assert all(p.requires_grad for p in module.parameters())
