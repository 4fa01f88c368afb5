"""What every estimator gets from the one engine and the one base: warm starts that obey
``set_params``, interrupts in every stage, one history format, convergence warnings,
and fits from read-only memmaps without a copy of the data.

Every estimator of :data:`skflows._testing.FAST_PARAMS` is covered automatically.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator

import skflows
from skflows import _training
from skflows._testing import FAST_PARAMS, WRAPPERS, fit_target

#: Estimators that train through the engine (not the wrappers of skflows.ood).
NAMES = sorted(set(FAST_PARAMS) - WRAPPERS)


def make(name, **params):
    return getattr(skflows, name)(**{**FAST_PARAMS[name], **params})


def fit(est, X, y=None):
    """``est.fit(X, y)``, with the sweeps' target for a conditional estimator."""
    target = fit_target(type(est).__name__, X)
    return est.fit(X, y if target is None else target)


def data(n=120, d=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)) @ rng.uniform(0.5, 1.5, size=(d, d))


def parameters(est):
    return {k: v.detach().clone() for k, v in est.module_.named_parameters()}


def adam_steps(est):
    return max(int(s["step"]) for s in est.net_.optimizer_.state.values())


# ------------------------------------------------------------------------- warm start
@pytest.mark.parametrize("name", NAMES)
def test_warm_start_with_zero_lr_leaves_the_weights_unchanged(name):
    X = data()
    est = fit(make(name, max_epochs=2), X)
    before, steps = parameters(est), adam_steps(est)
    fit(est.set_params(lr=0.0, warm_start=True, max_epochs=1), X)
    assert adam_steps(est) > steps  # it did train, with a learning rate of zero
    after = parameters(est)
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_warm_start_obeys_a_new_batch_size(name):
    X = data()
    est = fit(make(name, max_epochs=1, batch_size=64), X)
    steps = adam_steps(est)
    est.set_params(warm_start=True, batch_size=8, max_epochs=1, validation_fraction=0.0)
    fit(est, X)
    sizes = [b["train_batch_size"] for b in est.net_.history[-1, "batches"]
             if "train_batch_size" in b]
    assert sizes[0] == 8 and sum(sizes) >= len(X)
    assert est.n_iter_ == 1 and est.history_[-1]["valid_loss"] is None
    assert adam_steps(est) == steps + len(sizes)


def test_warm_start_trains_on_the_loss_of_the_current_parameters():
    X = data()
    lwta = make("FlowDensity", flow="lwta", n_train_samples=8, max_epochs=1).fit(X)
    lwta.set_params(warm_start=True, n_train_samples=1).fit(X)
    assert lwta.net_.loss.keywords == {"n_samples": 1}
    cwae = make("CWAutoencoder", lambda_=1.0, max_epochs=1).fit(X)
    cwae.set_params(warm_start=True, lambda_=0.0).fit(X)
    assert cwae.net_.loss.lambda_ == 0.0
    # With lambda_ = 0 the cost is the reconstruction term alone.
    row = cwae.history_[-1]
    assert row["train_loss"] == pytest.approx(row["train_reconstruction"], rel=1e-12)


# ------------------------------------------------------------------------- interrupts
#: (estimator, extra parameters, labels?, stage, phase) of every stage/phase to interrupt.
STAGES = [
    ("FlowDensity", {}, False, "train", "train"),
    ("CWAutoencoder", {}, False, "train", "train"),
    ("DeepArchetypes", {}, False, "train", "train"),
    ("FlowRegressor", {}, False, "train", "train"),
    ("FlowOutlierGenerator", {"frozen_flow": True}, False, "train", "train"),
    ("FlowMixtureClustering", {}, True, "pretrain", "pretrain"),
    ("FlowMixtureClustering", {}, True, "train", "train"),
    ("ManifoldFlow", {"schedule": "alternating"}, False, "train", "manifold"),
    ("ManifoldFlow", {"schedule": "alternating"}, False, "train", "density"),
    ("ManifoldFlow", {"schedule": "sequential"}, False, "manifold", "manifold"),
    ("ManifoldFlow", {"schedule": "sequential"}, False, "density", "density"),
    ("ManifoldFlow", {"variant": "pie"}, False, "train", "pie"),
]


@pytest.mark.parametrize("name, params, labeled, stage, phase", STAGES,
                         ids=[f"{s[0]}-{s[1].get('schedule', s[1].get('variant', ''))}-"
                              f"{s[3]}-{s[4]}" for s in STAGES])
def test_an_interrupt_in_any_stage_keeps_a_usable_model(name, params, labeled, stage, phase,
                                                       monkeypatch):
    X, params = data(), dict(params)
    if params.pop("frozen_flow", False):  # interrupt the discriminator, not the flow
        params = {**params, "flow_estimator": FrozenEstimator(make("FlowDensity").fit(X))}
    y = None
    if labeled:
        y = np.full(len(X), -1)
        y[:30] = np.arange(30) % FAST_PARAMS[name]["n_components"]
    guard = _training.DivergenceGuard.on_batch_end
    seen = {"batches": 0}

    def interrupting(self, net, training=False, **kwargs):
        guard(self, net, training=training, **kwargs)
        row = net.history[-1]
        if training and row.get("stage") == stage and row.get("phase") == phase:
            seen["batches"] += 1
            if seen["batches"] == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(_training.DivergenceGuard, "on_batch_end", interrupting)
    est = make(name, **params, max_epochs=6, batch_size=16, n_iter_no_change=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(est, X, y)
    interrupts = [w for w in caught if "interrupted" in str(w.message)]
    assert len(interrupts) == 1 and issubclass(interrupts[0].category, UserWarning)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)
                and str(w.message).startswith(name)]
    assert seen["batches"] == 2
    assert est.n_iter_ == len(est.history_)
    assert [row["epoch"] for row in est.history_] == list(range(1, est.n_iter_ + 1))
    assert all(np.isfinite(row["train_loss"]) and row["duration"] >= 0
               for row in est.history_)
    # Nothing ran after the interrupted stage.
    stages = [row["stage"] for row in est.history_]
    assert stages[-1:] in ([], [stage]) or stage not in stages
    order = ["pretrain", "manifold", "train", "density"]
    assert all(order.index(s) <= order.index(stage) for s in stages)
    # A usable model.
    output = next(getattr(est, m)(X) for m in ("score_samples", "transform", "predict")
                  if hasattr(est, m))
    assert np.isfinite(output).all()
    assert all(p.requires_grad for p in est.module_.parameters())


# ---------------------------------------------------------------------- history, n_iter_
@pytest.mark.parametrize("name", NAMES)
def test_history_rows_say_their_stage_and_phase(name):
    est = fit(make(name, max_epochs=2), data())
    assert est.n_iter_ == len(est.history_) == 2
    extra = set(type(est)._history_keys)
    for row in est.history_:
        assert set(row) == {"epoch", "stage", "phase", "train_loss", "valid_loss",
                            "monitored", "duration", "train_duration"} | extra
        assert isinstance(row["stage"], str) and isinstance(row["phase"], str)
        assert np.isfinite(row["valid_loss"])
        # The training pass is part of the epoch: the validation pass comes after it.
        assert 0 < row["train_duration"] <= row["duration"]
    # Monitored: finite from the first monitored epoch on (M-flow's alternating schedule
    # starts with an unmonitored manifold epoch).
    assert np.isfinite(est.history_[-1]["monitored"])
    # A warm start appends to the history; n_iter_ counts this fit only.
    fit(est.set_params(warm_start=True, max_epochs=1), data())
    assert est.n_iter_ == 1 and len(est.history_) == 3
    assert [row["epoch"] for row in est.history_] == [1, 2, 3]


# ----------------------------------------------------------------- convergence warning
@pytest.mark.parametrize("name", NAMES)
def test_convergence_warning_only_when_the_budget_ran_out(name):
    X = data()
    with pytest.warns(ConvergenceWarning, match=f"{name}.fit stopped at max_epochs"):
        fit(make(name, max_epochs=1, n_iter_no_change=5), X)
    # An absurd tolerance: the second epoch cannot improve enough, early stopping ends
    # the fit well before max_epochs.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = fit(make(name, max_epochs=20, n_iter_no_change=1, tol=1e9), X)
    assert est.n_iter_ < 20
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)
                and str(w.message).startswith(name)]


# ----------------------------------------------------------------- memmaps, no copies
@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory):
    """A read-only memmap of 1,000,000 x 16 float32 (64 MB)."""
    path = tmp_path_factory.mktemp("memmap") / "x.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1_000_000, 16))
    rng = np.random.RandomState(0)
    for start in range(0, len(X), 100_000):
        X[start:start + 100_000] = rng.standard_normal((100_000, 16)).astype(np.float32)
    X.flush()
    del X
    return np.load(path, mmap_mode="r")


def _peak_bytes(fn):
    """Peak of the memory that numpy and Python allocate during ``fn()`` (torch's
    allocations are not traced: the batches' tensors are counted as the numpy copies
    they are made from)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_mixture_with_labels_fits_a_readonly_memmap_without_copying_it(big_memmap):
    X = big_memmap
    y = np.full(len(X), -1, dtype=np.int64)
    y[:1000] = np.arange(1000) % 2
    est = make("FlowMixtureClustering", n_components=2, max_epochs=1, pretrain_epochs=1,
               batch_size=4096)
    est.fit(X[:500], y[:500])  # imports and first-call caches are not the fit's memory
    peak = _peak_bytes(lambda: est.fit(X, y))
    assert est.n_iter_ == 2  # the pre-training stage and one epoch
    assert peak < 0.5 * X.nbytes, peak / 2**20


def test_outlier_generator_fits_a_readonly_memmap_without_copying_it(big_memmap):
    X = big_memmap
    flow = make("FlowDensity", max_epochs=1).fit(np.asarray(X[:2000]))
    est = make("FlowOutlierGenerator", flow_estimator=FrozenEstimator(flow),
               n_generated=2000, max_epochs=1, batch_size=4096)
    est.fit(X[:500])  # imports and first-call caches are not the fit's memory
    peak = _peak_bytes(lambda: est.fit(X))
    assert est.n_iter_ == 1
    assert peak < 0.5 * X.nbytes, peak / 2**20
