"""The one training engine of skflows, built on skorch.

An estimator hands over a torch module, a loss function ``loss(module, X_batch) -> scalar``
(or a list of :class:`Phase` for alternating schedules), optional skorch callbacks for
method-specific behaviour (an annealed temperature, say), and an array; the engine owns the
epoch loop (skorch's), mini-batching, shuffling with a private random stream, the
validation split, early stopping with best-weights restore, gradient clipping, the
progress bar and the guard against diverging (non-finite or exploding) losses. No
estimator writes its own epoch loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, GradientNormClipping, ProgressBar
from skorch.utils import noop
from torch.utils.data import Dataset

__all__ = ["TrainingConfig", "Phase", "PhaseSchedule", "train_module", "DivergenceGuard",
           "ArrayDataset", "BatchLoader"]


@dataclass
class TrainingConfig:
    """Optimisation settings shared by every estimator (names as in scikit-learn's MLP)."""

    max_epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    gradient_clip: float | None = 5.0
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    tol: float = 1e-4
    device: str = "cpu"
    seed: int = 0
    verbose: int = 0


class ArrayDataset(Dataset):
    """Rows ``X[index]`` of an array (numpy array or memmap; nothing is copied up front).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    index : ndarray of int, optional
        Rows that belong to this dataset (all rows if None).
    """

    def __init__(self, X, index=None):
        self.X = X
        self.index = np.arange(len(X)) if index is None else np.asarray(index)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):  # pragma: no cover - the BatchLoader never calls it
        return self.X[self.index[i]], None

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """A fresh, writable, C-contiguous copy of the selected rows."""
        return np.ascontiguousarray(self.X[self.index[positions]])


class BatchLoader:
    """Iterates over an :class:`ArrayDataset` in mini-batches of tensors.

    Each batch is one fancy-indexing copy of the rows (no per-sample collation, the cost
    that makes a generic DataLoader slow on tabular data), moved to ``device``.
    Shuffling draws from ``random_state`` (a ``numpy.random.RandomState`` shared across
    epochs, so each epoch sees a new order and two fits with the same seed see the same
    orders). Yields ``(X_batch, None)``.
    """

    def __init__(self, dataset: ArrayDataset, batch_size: int = 256, shuffle: bool = False,
                 random_state: np.random.RandomState | None = None, device="cpu",
                 dtype=None, **_ignored):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.device = torch.device(device)

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self.random_state.permutation(n) if self.shuffle else np.arange(n)
        non_blocking = self.device.type == "cuda"
        for start in range(0, n, self.batch_size):
            rows = torch.from_numpy(self.dataset.rows(order[start:start + self.batch_size]))
            if self.device.type != "cpu":
                rows = rows.pin_memory().to(self.device, non_blocking=non_blocking)
            yield rows, None


class _IndexSplit:
    """skorch ``train_split``: fixed train/validation row indices."""

    def __init__(self, train_index, valid_index):
        self.train_index = train_index
        self.valid_index = valid_index

    def __call__(self, dataset, y=None, **_):
        return (ArrayDataset(dataset.X, dataset.index[self.train_index]),
                ArrayDataset(dataset.X, dataset.index[self.valid_index]))


class DivergenceGuard(Callback):
    """Stop a diverging fit and restore the weights it had before diverging.

    A fit diverges when a training batch's loss is NaN or infinite, or when it grows far
    above the loss of the first batch of the same phase (the untrained model's loss,
    or the loss the warm-started model resumed from): ``loss > L0 + growth * max(1,
    |L0|)``. Training only lowers the loss, so a thousandfold growth happens only when
    the steps blow up (too large ``lr``): such a run can stay finite, with losses of
    ``1e30`` nats and more, and would otherwise end as a silently broken model.

    The weights are snapshotted at the start of every epoch (one state-dict copy per
    epoch); on divergence the snapshot is loaded back and :class:`FloatingPointError`
    is raised, naming the epoch and batch.

    Parameters
    ----------
    growth : float, default=1000.0
        Allowed growth of the loss over its first value, relative to ``max(1, |L0|)``.
    """

    def __init__(self, growth: float = 1000.0):
        self.growth = growth

    def on_train_begin(self, net, **kwargs):
        self._batch = 0
        self._snapshot = None
        self._reference = {}

    def on_train_end(self, net, **kwargs):
        self._snapshot = None

    def __getstate__(self):
        # Never pickle weights outside the net: they may live on a GPU.
        state = self.__dict__.copy()
        state["_snapshot"] = None
        return state

    def on_epoch_begin(self, net, **kwargs):
        self._snapshot = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        self._batch = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self._batch += 1
        loss = net.history[-1, "batches", -1, "train_loss"]
        phase = net.history[-1].get("phase")
        reference = self._reference.setdefault(phase, loss)
        if math.isfinite(loss) and loss <= reference + self.growth * max(1.0, abs(reference)):
            return
        net.module_.load_state_dict(self._snapshot)
        epoch = len(net.history)
        what = (f"became non-finite ({loss})" if not math.isfinite(loss) else
                f"diverged (it grew from {reference:.4g} at the first batch to {loss:.4g})")
        raise FloatingPointError(
            f"The training loss {what} at epoch {epoch}, batch {self._batch}. The "
            "weights were restored to their finite values from the start of that epoch. "
            "Lower `lr`, set `gradient_clip`, or check the data for extreme values."
        )


@dataclass
class Phase:
    """One stage of an alternating training schedule.

    Parameters
    ----------
    loss : callable
        ``loss(module, X_batch) -> scalar Tensor`` minimised during this phase (a
        module-level function, so that the fitted net pickles).
    trainable : callable, optional
        ``trainable(module) -> iterable of Parameters`` updated during this phase; the
        others are frozen (``requires_grad=False``, so Adam skips them). None: all.
    epochs : int, default=1
        Consecutive epochs spent in this phase before moving to the next one.
    monitor : bool, default=True
        Whether this phase's loss drives early stopping and best-weights selection.
    name : str, default="phase"
        Recorded in the history under ``"phase"``.
    """

    loss: Callable
    trainable: Callable | None = None
    epochs: int = 1
    monitor: bool = True
    name: str = "phase"


class PhaseSchedule(Callback):
    """Cycle through :class:`Phase` objects epoch by epoch (for example M-flow's
    alternating manifold / density phases, Brehmer & Cranmer 2020, Sec. 3.3).

    At the start of each epoch the phase's loss becomes the net's loss and only its
    parameters stay trainable. At the end of each epoch ``"phase"`` and
    ``"monitored_loss"`` are written to the history: the monitored loss is this epoch's
    loss when the phase is monitored, else the last monitored value (so early stopping
    compares like with like).
    """

    def __init__(self, phases: Sequence[Phase], key: str = "valid_loss"):
        self.phases = list(phases)
        self.key = key

    def _phase_of(self, epoch: int) -> Phase:
        cycle = sum(p.epochs for p in self.phases)
        position = epoch % cycle
        for phase in self.phases:
            if position < phase.epochs:
                return phase
            position -= phase.epochs
        raise AssertionError("unreachable")  # pragma: no cover

    def on_train_begin(self, net, **kwargs):
        self._epoch = 0
        self._last = math.inf

    def on_epoch_begin(self, net, **kwargs):
        self._current = self._phase_of(self._epoch)
        net.loss = self._current.loss
        trainable = (None if self._current.trainable is None
                     else {id(p) for p in self._current.trainable(net.module_)})
        for p in net.module_.parameters():
            p.requires_grad_(trainable is None or id(p) in trainable)

    def on_epoch_end(self, net, **kwargs):
        self._epoch += 1
        if self._current.monitor:
            self._last = net.history[-1, self.key]
        net.history.record("phase", self._current.name)
        net.history.record("monitored_loss", self._last)

    def on_train_end(self, net, **kwargs):
        for p in net.module_.parameters():
            p.requires_grad_(True)


class _LossNet(NeuralNet):
    """skorch net whose forward pass *is* the loss: ``loss(module, X_batch)``."""

    def __init__(self, *args, loss: Callable, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss = loss

    def infer(self, x, **fit_params):
        return self.loss(self.module_, x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return y_pred

    def __getstate__(self):
        # ``module`` is the very instance trained as ``module_``. skorch pickles
        # ``module_`` through torch's device-aware path; pickling the constructor
        # argument plainly would store its tensors a second time, with their device.
        state = super().__getstate__()
        state["module"] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.module = self.module_


def _split_indices(n: int, fraction: float, rng: np.random.RandomState):
    """Shuffled train/validation positions; (None, None) when no usable split exists."""
    n_valid = int(math.ceil(fraction * n)) if fraction > 0 else 0
    if n_valid == 0 or n - n_valid < 1:
        return None, None
    perm = rng.permutation(n)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


def train_module(module: torch.nn.Module, loss: Callable | Sequence[Phase], X: np.ndarray,
                 config: TrainingConfig, net: NeuralNet | None = None,
                 callbacks: Iterable[tuple[str, Callback]] = ()) -> NeuralNet:
    """Train ``module`` to minimise ``loss(module, X_batch)`` on the rows of ``X``.

    Parameters
    ----------
    module : torch.nn.Module
        The model, already in the compute dtype. It is trained in place.
    loss : callable or sequence of Phase
        ``loss(module, X_batch) -> scalar Tensor`` (a module-level function so that the
        fitted net pickles), or phases cycled epoch by epoch (see :class:`PhaseSchedule`);
        early stopping then watches the monitored phases' loss.
    X : ndarray of shape (n_samples, n_features)
        Training data in the compute dtype (float32 or float64); may be a memmap.
    config : TrainingConfig
        Optimisation settings.
    net : skorch NeuralNet, optional
        A net from an earlier call to continue training (warm start): its module and
        optimizer state are kept.
    callbacks : iterable of (name, skorch Callback)
        Method-specific behaviour supplied by the estimator (run after the engine's own
        scheduling callbacks, before early stopping).

    Returns
    -------
    net : skorch NeuralNet
        The fitted net; ``net.module_`` is ``module`` with trained weights and
        ``net.history`` holds per-epoch ``train_loss``, ``valid_loss`` and ``dur``.

    Raises
    ------
    FloatingPointError
        If the training loss becomes non-finite or explodes (see
        :class:`DivergenceGuard`); the module keeps its weights from before.
    """
    rng = np.random.RandomState(config.seed)
    train_index, valid_index = _split_indices(len(X), config.validation_fraction, rng)
    has_valid = train_index is not None
    monitor = "valid_loss" if has_valid else "train_loss"
    engine_callbacks = [("divergence_guard", DivergenceGuard())]
    if not callable(loss):
        engine_callbacks.append(("phases", PhaseSchedule(loss, key=monitor)))
        monitor, loss = "monitored_loss", loss[0].loss
    engine_callbacks += list(callbacks)
    engine_callbacks.append(
        ("early_stopping", EarlyStopping(monitor=monitor, patience=config.n_iter_no_change,
                                         threshold=config.tol, threshold_mode="abs",
                                         load_best=True, sink=noop)))
    if config.gradient_clip is not None:
        engine_callbacks.append(("gradient_clip",
                                 GradientNormClipping(gradient_clip_value=config.gradient_clip)))
    if config.verbose:
        engine_callbacks.append(("progress",
                                 ProgressBar(postfix_keys=["train_loss", "valid_loss"])))
    callbacks = engine_callbacks
    split = _IndexSplit(train_index, valid_index) if has_valid else None
    dataset = ArrayDataset(X)
    if net is None:
        net = _LossNet(
            module=module,
            loss=loss,
            criterion=torch.nn.Identity,
            optimizer=torch.optim.Adam,
            lr=config.lr,
            optimizer__weight_decay=config.weight_decay,
            max_epochs=config.max_epochs,
            batch_size=min(config.batch_size, len(X)),
            train_split=split,
            iterator_train=BatchLoader,
            iterator_valid=BatchLoader,
            iterator_train__shuffle=True,
            iterator_train__random_state=rng,
            iterator_train__device=config.device,
            iterator_valid__device=config.device,
            callbacks=callbacks,
            device=config.device,
            verbose=config.verbose,
        )
        net.fit(dataset, None)
    else:
        # Continue with the same module and optimizer state; only the schedule is new.
        net.callbacks = callbacks
        net.initialize_callbacks()
        net.train_split = split
        net.max_epochs = config.max_epochs
        net.verbose = config.verbose
        net.iterator_train__random_state = rng
        net.partial_fit(dataset, None)
    # Drop references to the data so that the fitted net pickles small.
    net.train_split = None
    if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
        raise FloatingPointError("Training produced non-finite weights.")  # pragma: no cover
    return net
