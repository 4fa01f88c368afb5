"""The one training engine of skflows, built on skorch.

Every estimator trains through :func:`train_module` (called by
``BaseFlowEstimator._train``); none writes an epoch loop. The engine owns the epoch loop
(skorch's), mini-batching, shuffling with a private random stream, the validation
split, early stopping with best-weights restore, gradient clipping, the progress output,
interrupts and the guard against diverging losses. Three notions describe a fit:

**Named arrays.** The data is a mapping of row-aligned arrays, each kept in its own
dtype; a batch is the same rows of each, as a dict of tensors, and a loss receives them
as keyword arguments. Nothing is packed into extra columns, and an array (a read-only
memmap, say) is only ever copied one batch at a time; :class:`TakeRows` pairs rows of
arrays of different lengths without materialising the pairing::

    train_module(module, nll, {"x": X, "label": labels}, config)
    # calls nll(module, x=<batch of X>, label=<same rows of labels>)

**Stages.** A fit is an ordered list of :class:`Stage`; each has a loss (or a list of
alternating :class:`Phase`), the rows it trains on, its own epoch budget, whether it
uses the validation split, and whether its epochs are recorded. Stages run one after
the other on the same module and optimizer; an interrupt (Ctrl-C) ends the current
stage, skips the rest, and keeps the best weights so far::

    stages = [Stage(nll, name="pretrain", rows=labeled, max_epochs=10, validation=False),
              Stage(neg_elbo, metric=nll, name="train")]

**Monitored metrics.** Early stopping and the best-weights restore watch each stage's
(or phase's) *metric* on the validation rows: by default the training loss, but a
stage may name another function of the same signature, for example the exact
negative log-likelihood when the training loss is a tempered bound whose definition
moves during training. Without validation rows a distinct metric is evaluated on the
training rows (in evaluation mode), so that epochs are always compared like with
like::

    Stage(negative_elbo, metric=mixture_nll)   # watch -log p(x), train on -ELBO
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, GradientNormClipping, ProgressBar
from skorch.utils import noop
from torch.utils.data import Dataset

__all__ = ["TrainingConfig", "Phase", "Stage", "PhaseSchedule", "train_module",
           "DivergenceGuard", "ArrayDataset", "BatchLoader", "TakeRows", "EpochLog"]


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


# ---------------------------------------------------------------------------- data
class TakeRows:
    """Rows ``array[index]`` of an array, gathered lazily, batch by batch.

    Pairs rows of arrays of different lengths (inliers with contrast rows, say) in a
    row-aligned mapping without materialising ``array[index]``.

    Parameters
    ----------
    array : ndarray (or memmap) of shape (n_rows, ...)
    index : ndarray of int of shape (n,)
        Row of ``array`` behind each row of this view.
    """

    def __init__(self, array, index):
        self.array = array
        self.index = np.asarray(index)
        if self.index.dtype.kind not in "iu":
            raise ValueError(f"TakeRows needs integer row indices, got {self.index.dtype}.")

    def __len__(self):
        return len(self.index)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def shape(self):
        return (len(self.index), *self.array.shape[1:])

    def __getitem__(self, rows):
        return self.array[self.index[rows]]


def _as_arrays(data) -> dict:
    """A mapping of row-aligned arrays; a single array is ``{"x": array}``."""
    arrays = dict(data) if isinstance(data, Mapping) else {"x": data}
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"The named arrays must have the same number of rows, got "
                         f"{lengths}.")
    return arrays


class ArrayDataset(Dataset):
    """Rows of named, row-aligned arrays (numpy arrays, memmaps or :class:`TakeRows`;
    nothing is copied up front).

    Parameters
    ----------
    arrays : ndarray or mapping of str to array
        A single array is named ``"x"``.
    index : ndarray of int, optional
        Rows that belong to this dataset (all rows if None).
    """

    def __init__(self, arrays, index=None):
        self.arrays = _as_arrays(arrays)
        self.index = None if index is None else np.asarray(index)  # None: every row

    def __len__(self):
        if self.index is None:
            return len(next(iter(self.arrays.values())))
        return len(self.index)

    def __getitem__(self, i):  # pragma: no cover - the BatchLoader never calls it
        return self.rows(np.atleast_1d(i)), None

    def subset(self, positions) -> ArrayDataset:
        """The dataset of the rows at ``positions`` of this one (no copy of the data)."""
        positions = np.asarray(positions)
        return ArrayDataset(self.arrays, positions if self.index is None
                            else self.index[positions])

    def rows(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """Fresh, writable, C-contiguous copies of the selected rows of every array."""
        rows = positions if self.index is None else self.index[positions]
        return {name: np.ascontiguousarray(a[rows]) for name, a in self.arrays.items()}


class BatchLoader:
    """Iterates over an :class:`ArrayDataset` in mini-batches of tensors.

    Each batch is one fancy-indexing copy of the rows of each array (no per-sample
    collation, the cost that makes a generic DataLoader slow on tabular data), moved to
    ``device``. Shuffling draws from ``random_state`` (a ``numpy.random.RandomState``
    shared across epochs, so each epoch sees a new order and two fits with the same
    seed see the same orders). Yields ``(batch, None)`` with ``batch`` a dict of
    tensors, one per named array, each in its array's dtype.
    """

    def __init__(self, dataset: ArrayDataset, batch_size: int = 256, shuffle: bool = False,
                 random_state: np.random.RandomState | None = None, device="cpu",
                 **_ignored):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.device = torch.device(device)

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = _positions(n)
        if self.shuffle:
            self.random_state.shuffle(order)  # the order ``permutation(n)`` gives
        cuda = self.device.type == "cuda"
        for start in range(0, n, self.batch_size):
            batch = {}
            for name, rows in self.dataset.rows(order[start:start + self.batch_size]).items():
                tensor = torch.from_numpy(rows)
                if self.device.type != "cpu":
                    tensor = tensor.pin_memory().to(self.device, non_blocking=cuda)
                batch[name] = tensor
            yield batch, None


class _IndexSplit:
    """skorch ``train_split``: fixed train and validation rows of a dataset."""

    def __init__(self, train_index, valid_index):
        self.train_index = train_index
        self.valid_index = valid_index

    def __call__(self, dataset, y=None, **_):
        return dataset.subset(self.train_index), dataset.subset(self.valid_index)


def _positions(n: int) -> np.ndarray:
    """``arange(n)`` in the smallest integer type that holds it (half the memory of
    int64 for the row positions of large data)."""
    return np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)


def _split_indices(n: int, fraction: float, rng: np.random.RandomState):
    """Shuffled train/validation positions; (None, None) when no usable split exists."""
    n_valid = int(math.ceil(fraction * n)) if fraction > 0 else 0
    if n_valid == 0 or n - n_valid < 1:
        return None, None
    perm = _positions(n)
    rng.shuffle(perm)  # the order ``rng.permutation(n)`` gives
    train, valid = perm[n_valid:], perm[:n_valid]
    train.sort()
    valid.sort()
    return train, valid


# ---------------------------------------------------------------------------- schedule
@dataclass
class Phase:
    """One phase of an alternating training schedule.

    Parameters
    ----------
    loss : callable
        ``loss(module, **batch) -> scalar Tensor`` minimised during this phase (a
        module-level function or ``functools.partial``, so that the fitted net pickles).
    trainable : callable, optional
        ``trainable(module) -> iterable of Parameters`` updated during this phase; the
        others are frozen (``requires_grad=False``, so Adam skips them). None: all.
    epochs : int, default=1
        Consecutive epochs spent in this phase before moving to the next one.
    monitor : bool, default=True
        Whether this phase's metric drives early stopping and best-weights selection.
    metric : callable, optional
        ``metric(module, **batch) -> scalar Tensor`` evaluated (without gradients, in
        evaluation mode) on the validation rows; None: ``loss``. It must compare like
        with like across epochs: independent of annealing state and fresh random draws.
    name : str, default="train"
        Recorded in the history under ``"phase"``.
    """

    loss: Callable
    trainable: Callable | None = None
    epochs: int = 1
    monitor: bool = True
    metric: Callable | None = None
    name: str = "train"


@dataclass
class Stage:
    """One stage of a fit: a loss (or phases) trained on some rows for some epochs.

    Parameters
    ----------
    loss : callable or sequence of Phase
        ``loss(module, **batch) -> scalar Tensor``, or phases cycled epoch by epoch.
    metric : callable, optional
        Monitored metric of a single-loss stage (see :class:`Phase`); phases carry
        their own.
    name : str, default="train"
        Recorded in the history under ``"stage"`` (and ``"phase"`` for a single loss).
    rows : ndarray of int, optional
        Positions of the rows this stage trains on (all rows if None); the validation
        split is drawn among them.
    max_epochs : int, optional
        Epoch budget of this stage; None: the configuration's ``max_epochs``.
    validation : bool, default=True
        Hold out ``validation_fraction`` of the rows for the monitored metric.
    record : bool, default=True
        Keep this stage's epochs in the history (and in ``n_iter_``).
    check_convergence : bool, default=True
        Report the stage in ``net.unconverged_`` when it uses its whole epoch budget
        without early stopping (False for a stage of a fixed length by design).
    callbacks : sequence of (str, skorch Callback)
        Method-specific behaviour during this stage (a learning-rate schedule, an
        annealed temperature, extra history keys).
    """

    loss: Callable | Sequence[Phase]
    metric: Callable | None = None
    name: str = "train"
    rows: np.ndarray | None = None
    max_epochs: int | None = None
    validation: bool = True
    record: bool = True
    check_convergence: bool = True
    callbacks: Sequence[tuple[str, Callback]] = field(default_factory=tuple)

    def phases(self) -> list[Phase]:
        if callable(self.loss):
            return [Phase(self.loss, metric=self.metric, name=self.name)]
        phases = list(self.loss)
        if not phases:
            raise ValueError("A stage needs a loss or at least one phase.")
        return phases


def as_stages(stages) -> list[Stage]:
    """A list of :class:`Stage` from a loss, a list of phases, a stage or a list of
    stages."""
    if isinstance(stages, Stage):
        return [stages]
    if callable(stages):
        return [Stage(stages)]
    stages = list(stages)
    if stages and all(isinstance(s, Phase) for s in stages):
        return [Stage(stages)]
    if not stages or not all(isinstance(s, Stage) for s in stages):
        raise TypeError("Expected a loss, a list of Phase, a Stage or a list of Stage.")
    return stages


class PhaseSchedule(Callback):
    """Cycle through :class:`Phase` objects epoch by epoch (for example M-flow's
    alternating manifold / density phases, Brehmer & Cranmer 2020, Sec. 3.3).

    At the start of each epoch the phase's loss and metric become the net's, only its
    parameters stay trainable, and ``"stage"`` and ``"phase"`` are written to the
    history (so that per-batch callbacks know the phase), with ``"held_out"``: whether
    ``valid_loss`` comes from held-out rows. At the end of each epoch
    ``"monitored"`` is written: the phase's metric (``key``) when the phase is
    monitored, else the last monitored value (so early stopping compares like with
    like).
    """

    def __init__(self, phases: Sequence[Phase], key: str = "valid_loss",
                 stage: str = "train", held_out: bool = True):
        self.phases = list(phases)
        self.key = key
        self.stage = stage
        self.held_out = held_out

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
        net.metric = self._current.metric
        trainable = (None if self._current.trainable is None
                     else {id(p) for p in self._current.trainable(net.module_)})
        for p in net.module_.parameters():
            p.requires_grad_(trainable is None or id(p) in trainable)
        net.history.record("stage", self.stage)
        net.history.record("phase", self._current.name)
        net.history.record("held_out", self.held_out)

    def on_epoch_end(self, net, **kwargs):
        self._epoch += 1
        if self._current.monitor:
            self._last = net.history[-1, self.key]
        net.history.record("monitored", self._last)

    def on_train_end(self, net, **kwargs):
        for p in net.module_.parameters():
            p.requires_grad_(True)


class DivergenceGuard(Callback):
    """Stop a diverging fit and restore the weights it had before diverging.

    A fit diverges when a training batch's loss is NaN or infinite, or when it grows far
    above the loss of the first batch of the same phase of the same stage (the
    untrained model's loss, or the loss the warm-started model resumed from): ``loss >
    L0 + growth * max(1, |L0|)``. Training only lowers the loss, so a thousandfold
    growth happens only when the steps blow up (too large ``lr``): such a run can stay
    finite, with losses of ``1e30`` nats and more, and would otherwise end as a silently
    broken model.

    The weights are snapshotted at the start of every epoch (one state-dict copy per
    epoch); on divergence the snapshot is loaded back and :class:`FloatingPointError`
    is raised, naming the epoch, the phase and the batch.

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
        where = f" of phase {phase!r}" if phase is not None else ""
        what = (f"became non-finite ({loss})" if not math.isfinite(loss) else
                f"diverged (it grew from {reference:.4g} at the first batch{where} "
                f"to {loss:.4g})")
        raise FloatingPointError(
            f"The training loss {what} at epoch {epoch}, batch {self._batch}. The "
            "weights were restored to their finite values from the start of that epoch. "
            "Lower `lr`, set `gradient_clip`, or check the data for extreme values."
        )


class _EarlyStopping(EarlyStopping):
    """skorch's early stopping (best-weights restore), telling its own stop apart from
    a user's interrupt: both arrive as ``KeyboardInterrupt``."""

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.stopped_ = False

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self.stopped_ = True
            raise


class TrainPassTimer(Callback):
    """Records ``train_dur``: the seconds of an epoch's training pass (its batches'
    forward, backward and optimizer steps), without the validation or monitoring pass
    that skorch's ``dur`` also counts. Without validation rows a stage with a metric of
    its own evaluates it on every training row after the training pass, so the two
    durations tell the cost of learning from the cost of watching it."""

    def on_epoch_begin(self, net, **kwargs):
        self._begin = self._end = time.perf_counter()

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self._end = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("train_dur", self._end - self._begin)


class EpochLog(Callback):
    """One plain line per epoch on standard output, for example::

        epoch=3 stage=train phase=train train_loss=1.2345 valid_loss=1.3021 dur=0.12s

    (``valid_loss`` is ``-`` without validation rows). No escape codes, so that logs
    written to a file or a notebook stay readable.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (``sys.stdout`` at the time of each epoch if None).
    """

    def __init__(self, stream=None):
        self.stream = stream

    def on_epoch_end(self, net, **kwargs):
        import sys

        row = net.history[-1]
        valid = row.get("valid_loss") if row.get("held_out", True) else None
        line = (f"epoch={row['epoch']} stage={row.get('stage')} phase={row.get('phase')} "
                f"train_loss={row['train_loss']:.5g} "
                f"valid_loss={'-' if valid is None else format(valid, '.5g')} "
                f"dur={row.get('dur', float('nan')):.2f}s")
        print(line, file=self.stream if self.stream is not None else sys.stdout, flush=True)


class _LossNet(NeuralNet):
    """skorch net whose forward pass *is* the loss: ``loss(module, **batch)``; in
    evaluation mode ``metric(module, **batch)`` when one is set."""

    def __init__(self, *args, loss: Callable, metric: Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss = loss
        self.metric = metric

    def infer(self, x, **fit_params):
        fn = self.loss if self.module_.training or self.metric is None else self.metric
        return fn(self.module_, **x)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return y_pred

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            stopper = dict(self.callbacks_).get("early_stopping")
            if not getattr(stopper, "stopped_", False):
                self.interrupted_ = True
            raise

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


# ---------------------------------------------------------------------------- engine
def _progress_callbacks(config: TrainingConfig) -> list[tuple[str, Callback]]:
    """``verbose >= 1``: one plain line per epoch; a batch progress bar only when
    standard error is a terminal."""
    import sys

    if not config.verbose:
        return []
    callbacks = []
    if sys.stderr.isatty():
        callbacks.append(("progress", ProgressBar(postfix_keys=["train_loss"])))
    return callbacks + [("epoch_log", EpochLog())]


def _stage_callbacks(stage: Stage, config: TrainingConfig, monitor_key: str,
                     held_out: bool):
    callbacks = [("phases", PhaseSchedule(stage.phases(), key=monitor_key, stage=stage.name,
                                          held_out=held_out)),
                 ("divergence_guard", DivergenceGuard()),
                 ("train_pass_timer", TrainPassTimer()), *stage.callbacks,
                 ("early_stopping", _EarlyStopping(
                     monitor="monitored", patience=config.n_iter_no_change,
                     threshold=config.tol, threshold_mode="abs", load_best=True,
                     sink=noop))]
    if config.gradient_clip is not None:
        callbacks.append(("gradient_clip",
                          GradientNormClipping(gradient_clip_value=config.gradient_clip)))
    return callbacks + _progress_callbacks(config)


def train_module(module: torch.nn.Module, stages, data, config: TrainingConfig,
                 net: NeuralNet | None = None) -> NeuralNet:
    """Train ``module`` through the stages of a fit on named arrays.

    Parameters
    ----------
    module : torch.nn.Module
        The model, already in the compute dtype. It is trained in place.
    stages : callable, sequence of Phase, Stage or sequence of Stage
        What to minimise (see :class:`Stage`); a loss or a list of phases is one stage.
    data : ndarray or mapping of str to ndarray
        Row-aligned training arrays, each in its own dtype (a single array is named
        ``"x"``); may be memmaps or :class:`TakeRows`.
    config : TrainingConfig
        Optimisation settings (those of the current estimator parameters).
    net : skorch NeuralNet, optional
        A net from an earlier call to continue training (warm start): its module and
        optimizer state (Adam's moments) are kept; ``lr``, ``weight_decay``,
        ``batch_size``, ``max_epochs``, ``gradient_clip``, the validation split and the
        losses are those given now.

    Returns
    -------
    net : skorch NeuralNet
        The fitted net; ``net.module_`` is ``module`` with trained weights and
        ``net.history`` holds one row per recorded epoch with ``stage``, ``phase``,
        ``train_loss``, ``valid_loss`` (the metric on the validation rows),
        ``monitored``, ``dur`` and ``train_dur`` (the training pass alone, see
        :class:`TrainPassTimer`). ``net.interrupted_`` is True when a
        ``KeyboardInterrupt`` ended the fit early (the remaining stages were skipped
        and the best weights so far kept; ``net.interrupted_at_`` is then the epoch and
        stage it came in); ``net.unconverged_`` names the recorded
        stages that used their whole epoch budget without early stopping.
        ``net.validation_rows_`` holds the positions of the last stage's validation
        rows among that stage's rows (None without validation rows), for estimators
        that calibrate on held-out rows after training.

    Raises
    ------
    FloatingPointError
        If the training loss becomes non-finite or explodes (see
        :class:`DivergenceGuard`); the module keeps its weights from before.
    """
    stages = as_stages(stages)
    dataset = ArrayDataset(data)
    rng = np.random.RandomState(config.seed)
    if net is None:
        net = _LossNet(
            module=module, loss=stages[0].phases()[0].loss, criterion=torch.nn.Identity,
            optimizer=torch.optim.Adam, lr=config.lr,
            optimizer__weight_decay=config.weight_decay,
            # One fused kernel for all parameters where torch has it (CPU and CUDA):
            # the per-tensor loop cost a flow's small tensors about a tenth of an
            # epoch's time on a CPU.
            optimizer__fused=torch.device(config.device).type in ("cpu", "cuda"),
            max_epochs=config.max_epochs,
            batch_size=config.batch_size, train_split=None, iterator_train=BatchLoader,
            iterator_valid=BatchLoader, iterator_train__shuffle=True,
            iterator_train__device=config.device, iterator_valid__device=config.device,
            device=config.device, verbose=0,
        )
        net.initialize()
    net.interrupted_, net.interrupted_at_ = False, None
    net.unconverged_ = []
    net.validation_rows_ = None
    try:
        for stage in stages:
            rows = dataset if stage.rows is None else dataset.subset(stage.rows)
            fraction = config.validation_fraction if stage.validation else 0.0
            train_index, valid_index = _split_indices(len(rows), fraction, rng)
            # A copy: the split's arrays are views of one permutation of all rows,
            # which must not outlive the fit.
            net.validation_rows_ = None if valid_index is None else valid_index.copy()
            phases = stage.phases()
            if train_index is not None:
                split = _IndexSplit(train_index, valid_index)
                n_train = len(train_index)
            elif any(p.metric is not None for p in phases):
                # No validation rows: the metric is watched on the training rows.
                everything = _positions(len(rows))
                split, n_train = _IndexSplit(everything, everything), len(rows)
            else:
                split, n_train = None, len(rows)
            n_recorded = len(net.history)
            net.callbacks = _stage_callbacks(
                stage, config, "valid_loss" if split is not None else "train_loss",
                held_out=train_index is not None)
            net.initialize_callbacks()
            # Optimizer settings of the current parameters; Adam's moments are kept.
            net.set_params(lr=config.lr, optimizer__weight_decay=config.weight_decay)
            for group in net.optimizer_.param_groups:
                group.pop("initial_lr", None)  # lets a new LR schedule start from lr
            net.train_split = split
            net.batch_size = min(config.batch_size, n_train)
            net.max_epochs = stage.max_epochs or config.max_epochs
            net.iterator_train__random_state = rng
            net.partial_fit(rows, None, epochs=net.max_epochs)
            # An epoch cut short by an interrupt has no duration: drop its row.
            while len(net.history) > n_recorded and "dur" not in net.history[-1]:
                del net.history[-1]
            if not stage.record:
                del net.history[n_recorded:]
            stopped = dict(net.callbacks_)["early_stopping"].stopped_
            if stage.record and stage.check_convergence and not (stopped or net.interrupted_):
                net.unconverged_.append(stage.name)
            if net.interrupted_:
                net.interrupted_at_ = (len(net.history) + 1, stage.name)
                break
    finally:
        for p in module.parameters():
            p.requires_grad_(True)
        # Drop references to the data so that the fitted net pickles small.
        net.train_split = None
    if not all(torch.isfinite(p).all() for p in net.module_.parameters()):
        raise FloatingPointError("Training produced non-finite weights.")  # pragma: no cover
    return net
