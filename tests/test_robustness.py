"""Reliability sweep over every skflows estimator: bad input, faults, load, persistence.

Each estimator gets the fast test parameters of :data:`skflows._testing.FAST_PARAMS`, so
an estimator added there is swept automatically. Expected behaviour:

* bad input (NaN/inf, empty, one row, strings, wrong width, not fitted): scikit-learn's
  error types and wording;
* awkward but valid input (one feature, constant features, duplicated rows, values of
  1e30 or 1e-30, float16/int/float32, DataFrames, read-only memmaps): a fit whose outputs
  are finite, with the documented dtype rule (float32 input -> float32 maths, anything
  else -> float64);
* faults: a huge learning rate raises ``FloatingPointError`` and leaves finite weights; a
  ``KeyboardInterrupt`` keeps the best completed epoch and a usable model; pickling
  mid-way and resuming with ``warm_start`` equals training without the pickle;
* load: 1,000,000 rows scored in bounded memory; 4 threads predicting at once agree with
  serial calls;
* persistence: joblib round trips give identical outputs, also across torch default
  dtypes; a pickle from an incompatible skflows release is refused with a clear message.
"""

import inspect
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skflows
from skflows import _base
from skflows._testing import FAST_PARAMS, SUPERVISED, WRAPPERS, fit_target
from skflows._training import _LossNet

NAMES = sorted(FAST_PARAMS)
#: Estimators that train through the engine (not the wrappers of skflows.ood).
TRAINED = sorted(set(FAST_PARAMS) - WRAPPERS)
N_FEATURES = 3

#: Methods that take data rows X and return per-row outputs.
ROW_METHODS = ("score_samples", "decision_function", "predict", "predict_proba",
               "transform", "reconstruction_error", "predict_quantiles", "predict_interval")
#: Every public method that needs a fitted model (the not-fitted sweep).
FITTED_METHODS = ROW_METHODS + ("score", "inverse_transform", "sample", "sample_y")


def make(name, **params):
    return getattr(skflows, name)(**{**FAST_PARAMS[name], **params})


def fit(est, X):
    """``est.fit(X)``, with the sweeps' target for a conditional estimator."""
    return est.fit(X, fit_target(type(est).__name__, X))


def data(n=80, d=N_FEATURES, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)) @ rng.uniform(0.5, 1.5, size=(d, d))


def outputs(est, X):
    """Every per-row output the estimator offers on ``X``."""
    return {m: np.asarray(getattr(est, m)(X)) for m in ROW_METHODS if hasattr(est, m)}


def assert_finite_outputs(est, X):
    outs = outputs(est, X)
    assert outs, "the estimator offers no per-row method"
    for method, value in outs.items():
        assert len(value) == len(X), method
        assert np.isfinite(value.astype(np.float64)).all(), method
    return outs


def assert_same_outputs(a, b, X, X_b=None):
    out_a, out_b = outputs(a, X), outputs(b, X if X_b is None else X_b)
    assert out_a.keys() == out_b.keys()
    for method in out_a:
        np.testing.assert_array_equal(out_a[method], out_b[method], err_msg=method)


@pytest.fixture(scope="module")
def fitted():
    """One fitted estimator per name (read-only use: tests that mutate clone it)."""
    return {name: fit(make(name), data()) for name in NAMES}


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "infinity"),
                                          (-np.inf, "infinity")])
def test_non_finite_input_is_rejected_in_fit_and_predict(name, bad, message, fitted):
    X = data()
    X[7, 1] = bad
    with pytest.raises(ValueError, match=message):
        fit(make(name), X)
    for method in outputs(fitted[name], data(5)):
        with pytest.raises(ValueError, match=message):
            getattr(fitted[name], method)(X)


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_single_row_fits_are_rejected(name):
    with pytest.raises(ValueError, match="0 sample"):
        fit(make(name), np.empty((0, N_FEATURES)))
    with pytest.raises(ValueError, match="1 sample"):
        fit(make(name), data(1))


@pytest.mark.parametrize("name", NAMES)
def test_one_row_can_be_scored(name, fitted):
    outs = assert_finite_outputs(fitted[name], data(1, seed=5))
    assert all(len(v) == 1 for v in outs.values())


@pytest.mark.parametrize("name", NAMES)
def test_wrong_number_of_features_is_rejected(name, fitted):
    for method in outputs(fitted[name], data(5)):
        with pytest.raises(ValueError, match="features"):
            getattr(fitted[name], method)(data(5, d=N_FEATURES + 1))


@pytest.mark.parametrize("name", NAMES)
def test_every_method_before_fit_raises_not_fitted(name):
    est = make(name)
    called = 0
    for method in FITTED_METHODS:
        if not hasattr(est, method):
            continue
        args = (5,) if method == "sample" else (data(5),)
        if method == "score" and name in SUPERVISED:
            args += (fit_target(name, args[0]),)
        with pytest.raises(NotFittedError):
            getattr(est, method)(*args)
        called += 1
    assert called >= 3


@pytest.mark.parametrize("name", NAMES)
def test_dataframes_numeric_and_with_strings(name):
    X = data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    est = fit(make(name), frame)
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    assert_same_outputs(est, fit(make(name), X), frame, X)  # names change nothing else
    with_strings = frame.assign(f1=["a"] * len(frame))
    with pytest.raises(ValueError, match="convert"):
        fit(make(name), with_strings)


# ----------------------------------------------------------------- awkward valid input
AWKWARD = {
    "one_feature": lambda X: X[:, :1],
    "constant_feature": lambda X: np.column_stack([X[:, :-1], np.full(len(X), 3.0)]),
    "duplicated_rows": lambda X: np.tile(X[:10], (8, 1)),
    "huge_values": lambda X: X * 1e30,
    "tiny_values": lambda X: X * 1e-30,
    "shifted_far": lambda X: X + 1e8,
}

#: Estimators that cannot take an input (with the reason); they must say so clearly.
AWKWARD_ERRORS = {
    # A 1-D manifold in 1-D space is the whole space: an ordinary flow.
    ("ManifoldFlow", "one_feature"): "n_components < n_features",
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(AWKWARD))
def test_awkward_but_valid_input_gives_finite_outputs(name, case):
    X = AWKWARD[case](data())
    expected = AWKWARD_ERRORS.get((name, case))
    if expected is not None:
        with pytest.raises(ValueError, match=expected):
            fit(make(name), X)
        return
    est = fit(make(name), X)
    assert_finite_outputs(est, X)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype, compute", [(np.float16, "float64"), (np.int64, "float64"),
                                            (np.float32, "float32"),
                                            (np.float64, "float64")])
def test_dtypes(name, dtype, compute):
    X = (data() * 10).astype(dtype)
    est = fit(make(name), X)
    assert est._compute_dtype == compute
    outs = assert_finite_outputs(est, X)
    for method in ("score_samples", "decision_function", "reconstruction_error"):
        if method in outs:
            assert outs[method].dtype == np.float64, method
    if "transform" in outs:
        assert outs["transform"].dtype == np.dtype(compute)


@pytest.mark.parametrize("name", NAMES)
def test_readonly_memmap_fits_like_an_array(name, tmp_path):
    X = data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    assert not mapped.flags.writeable
    est = fit(make(name), mapped)
    assert_same_outputs(est, fit(make(name), X), X)
    assert_same_outputs(est, est, mapped)


# --------------------------------------------------------------------------------- faults
@pytest.mark.parametrize("name", TRAINED)
def test_huge_learning_rate_raises_and_keeps_finite_weights(name):
    est = make(name, lr=1e6)
    with pytest.raises(FloatingPointError, match="training loss"):
        fit(est, data())
    for method in ROW_METHODS:
        if hasattr(est, method):
            with pytest.raises(NotFittedError):
                getattr(est, method)(data(5))
    module = est._failed_module
    assert all(torch.isfinite(p).all() for p in module.parameters())


def _interrupt_after(monkeypatch, n_steps):
    """Make the training loop receive a KeyboardInterrupt at its ``n_steps``-th step."""
    original, calls = _LossNet.train_step, {"n": 0}

    def train_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n_steps:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_LossNet, "train_step", train_step)


@pytest.mark.parametrize("name", TRAINED)
def test_keyboard_interrupt_keeps_a_usable_model(name, monkeypatch):
    X = data()
    params = dict(max_epochs=6, batch_size=16)
    reference = fit(make(name, **params, n_iter_no_change=100), X)
    steps_per_epoch = len(reference.net_.history[-1, "batches"])
    _interrupt_after(monkeypatch, 2 * steps_per_epoch + steps_per_epoch // 2)  # epoch 3
    est = make(name, **params, n_iter_no_change=100)
    with pytest.warns(UserWarning, match="interrupted during epoch"):
        fit(est, X)
    assert 1 <= est.n_iter_ <= 2
    assert len(est.history_) == est.n_iter_
    assert all(np.isfinite(row["train_loss"]) for row in est.history_)
    assert_finite_outputs(est, X)


@pytest.mark.parametrize("name", TRAINED)
def test_pickle_mid_way_and_resume_with_warm_start(name):
    X = data()
    first = fit(make(name, max_epochs=2, n_iter_no_change=100), X)
    resumed = pickle.loads(pickle.dumps(first))
    resumed.set_params(warm_start=True)
    fit(resumed, X)
    continued = fit(fit(clone(first), X).set_params(warm_start=True), X)
    assert resumed.n_iter_ == 2 and len(resumed.history_) == 4
    assert [r["train_loss"] for r in resumed.history_] == \
        [r["train_loss"] for r in continued.history_]
    assert_same_outputs(resumed, continued, X)
    # Training went on: the resumed model differs from the one pickled mid-way.
    assert any(not np.array_equal(a, b) for a, b in
               zip(outputs(first, X).values(), outputs(resumed, X).values()))


# ----------------------------------------------------------------------------------- load
@pytest.mark.parametrize("name", NAMES)
def test_concurrent_predictions_equal_serial(name, fitted):
    est, X = fitted[name], data(2000, seed=3)
    serial = outputs(est, X)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: outputs(est, X), range(8)))
    for result in results:
        for method, value in serial.items():
            np.testing.assert_array_equal(result[method], value, err_msg=method)


def test_million_rows_are_scored_in_bounded_memory():
    """In a fresh process: the peak resident memory while scoring 1,000,000 rows with
    every per-row method of every estimator stays far below what unbatched inference
    would need (the rows are 24 MB, one per-row float64 output 8 MB)."""
    script = textwrap.dedent(f"""
        import resource, numpy as np, torch, skflows
        from skflows._testing import FAST_PARAMS, fit_target
        torch.set_num_threads(1)
        ROW_METHODS = {ROW_METHODS!r}
        rng = np.random.RandomState(0)
        fitted = [getattr(skflows, n)(**FAST_PARAMS[n]).fit(rng.normal(size=(80, 3)),
                                                            fit_target(n, range(80)))
                  for n in {NAMES!r}]
        X = rng.normal(size=(1_000_000, 3))
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        base = peak()
        for est in fitted:
            for m in ROW_METHODS:
                if hasattr(est, m):
                    out = getattr(est, m)(X)
                    assert len(out) == len(X) and np.isfinite(out.astype(float)).all(), m
                    del out
                    print(type(est).__name__, m, round(peak() - base, 1))
        print("GROWTH_MB", peak() - base)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    growth = float(run.stdout.split("GROWTH_MB")[-1])
    # Outputs (<= 24 MB for a 3-column transform) plus batch work space; one
    # unbatched pass of the smallest flow would hold hundreds of MB of activations.
    assert growth < 160, run.stdout


# ---------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", NAMES)
def test_joblib_round_trip_gives_identical_outputs(name, fitted, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted[name], path)
    assert_same_outputs(joblib.load(path), fitted[name], data(50, seed=4))


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_across_torch_default_dtypes(name, tmp_path):
    X = data()
    path = tmp_path / "model.joblib"
    default = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        est = fit(make(name), X.astype(np.float32))
        joblib.dump(est, path)
        expected = outputs(est, X)
        torch.set_default_dtype(torch.float32)
        loaded = joblib.load(path)
    finally:
        torch.set_default_dtype(default)
    assert loaded._compute_dtype == "float32"
    got = outputs(loaded, X)
    for method in expected:
        np.testing.assert_array_equal(got[method], expected[method], err_msg=method)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_from_an_incompatible_release_is_refused(name, fitted, monkeypatch):
    monkeypatch.setattr(_base, "__version__", "0.0.1")
    blob = pickle.dumps(fitted[name])
    monkeypatch.undo()
    with pytest.raises(_base.IncompatibleVersionError,
                       match=r"saved with skflows 0\.0\.1.*cannot load"):
        pickle.loads(blob)
    # The same release loads (patch-level differences are fine).
    monkeypatch.setattr(_base, "__version__", skflows.__version__ + ".post1")
    blob = pickle.dumps(fitted[name])
    monkeypatch.undo()
    assert_same_outputs(pickle.loads(blob), fitted[name], data(10))


def test_every_public_estimator_is_swept():
    public = {n for n in skflows.__all__ if inspect.isclass(getattr(skflows, n))}
    assert public <= set(NAMES), public - set(NAMES)
