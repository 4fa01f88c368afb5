"""Scaling out: grid search on a Dask cluster, fitting from memmaps, CUDA devices."""

import io
import pickle
import tracemalloc
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, KFold

import skflows._training as training
from skflows import FlowDensity, FlowMixtureClustering
from skflows._testing import FAST_PARAMS

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="CUDA is not available on this machine")


# ----------------------------------------------------------------------------- Dask
def _search(X):
    return GridSearchCV(FlowDensity(**FAST_PARAMS["FlowDensity"]),
                        {"flow": ["nsf", "realnvp"], "n_layers": [1, 2]},
                        cv=KFold(3, shuffle=True, random_state=0), refit=False)


def test_grid_search_on_dask_cluster_equals_serial():
    distributed = pytest.importorskip(
        "distributed", reason="the Dask test needs dask[distributed] (the test extra)")
    X = np.random.RandomState(0).normal(size=(240, 2)) @ np.array([[1.0, 0.5], [0.0, 1.0]])

    serial = _search(X).fit(X)

    # Two worker *processes*, as on a real cluster: each has its own torch and numpy
    # random state, so equality with the serial search also shows that a fit depends
    # only on its random_state, not on the process that runs it.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks:
            with joblib.parallel_backend("dask"):
                on_dask = _search(X).fit(X)
        workers = {t["worker"] for t in tasks.data}

    n_fits = len(serial.cv_results_["params"]) * 3
    assert len(tasks.data) >= n_fits, "the fits did not run on the Dask workers"
    assert len(workers) == 2, f"expected both workers to be used, got {workers}"
    assert on_dask.cv_results_["params"] == serial.cv_results_["params"]
    for key in ["mean_test_score", "split0_test_score", "split1_test_score",
                "split2_test_score"]:
        np.testing.assert_allclose(on_dask.cv_results_[key], serial.cv_results_[key],
                                   rtol=1e-10, err_msg=key)
    np.testing.assert_array_equal(on_dask.cv_results_["rank_test_score"],
                                  serial.cv_results_["rank_test_score"])
    assert np.all(np.isfinite(serial.cv_results_["mean_test_score"]))


# ----------------------------------------------------------------------------- memmaps
@pytest.fixture
def readonly_memmap(tmp_path):
    n, d = 60_000, 32
    path = tmp_path / "X.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    rng = np.random.RandomState(0)
    for start in range(0, n, 10_000):
        out[start:start + 10_000] = rng.normal(size=(10_000, d)) * 2.0 + 1.0
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def test_fit_streams_from_readonly_memmap(readonly_memmap, monkeypatch):
    X = readonly_memmap
    assert not X.flags.writeable
    params = {**FAST_PARAMS["FlowDensity"], "n_layers": 1, "max_epochs": 1,
              "batch_size": 512}
    # Warm up once on small data, so that one-off allocations (lazy imports, torch
    # kernels) do not count against the memmap fit below.
    FlowDensity(**params).fit(np.asarray(X[:500]))

    datasets = []
    original = training.ArrayDataset.__init__

    def spy(self, arrays, index=None):
        datasets.extend(arrays.values() if isinstance(arrays, dict) else [arrays])
        original(self, arrays, index)

    monkeypatch.setattr(training.ArrayDataset, "__init__", spy)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        est = FlowDensity(**params).fit(X)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

    # The engine batches straight from the memmap's pages: no copy of X was handed to it.
    assert datasets and all(np.shares_memory(data, X) for data in datasets)
    # numpy allocations during fit (index arrays, batches, scores) stay far below the
    # data size: nothing of the data's size was allocated.
    assert peak < 0.5 * X.nbytes, f"peak numpy allocation {peak} B vs data {X.nbytes} B"
    assert est.n_iter_ == 1
    np.testing.assert_allclose(est.mean_, X.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(est.scale_, np.asarray(X, dtype=np.float64).std(axis=0),
                               rtol=1e-6)
    # The fitted model keeps no reference to the data.
    assert len(pickle.dumps(est)) < 0.1 * X.nbytes
    # Results do not depend on where the rows live.
    in_memory = FlowDensity(**params).fit(np.array(X))
    np.testing.assert_array_equal(est.score_samples(X[:100]),
                                  in_memory.score_samples(X[:100]))


def test_score_samples_on_memmap_matches_array(readonly_memmap):
    X = readonly_memmap
    est = FlowDensity(**FAST_PARAMS["FlowDensity"]).fit(np.asarray(X[:2000]))
    np.testing.assert_array_equal(est.score_samples(X[:5000]),
                                  est.score_samples(np.array(X[:5000])))


# ----------------------------------------------------------------------------- CUDA
def _load_as_on_cpu_only_machine(blob: bytes, monkeypatch):
    """Unpickle as a machine without CUDA would: skorch then maps the tensors to CPU."""
    with monkeypatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch warns that it maps CUDA tensors to CPU
        patch.setattr(torch.cuda, "is_available", lambda: False)
        return pickle.loads(blob)


@needs_cuda
@pytest.mark.parametrize("Estimator", [FlowDensity, FlowMixtureClustering])
def test_fit_on_cuda_predict_pickle_and_load_on_cpu(Estimator, monkeypatch):
    X = np.random.RandomState(0).normal(size=(300, 2)).astype(np.float32)
    params = {**FAST_PARAMS[Estimator.__name__], "device": "cuda"}
    est = Estimator(**params).fit(X)
    assert next(est.module_.parameters()).device.type == "cuda"
    assert est.__sklearn_tags__().non_deterministic
    scores = est.score_samples(X)
    assert scores.dtype == np.float64 and scores.shape == (300,)
    assert np.all(np.isfinite(scores))
    labels = est.predict(X)
    assert labels.shape == (300,)

    blob = pickle.dumps(est)
    same = pickle.loads(blob)
    np.testing.assert_allclose(same.score_samples(X), scores, rtol=1e-6, atol=1e-6)

    on_cpu = _load_as_on_cpu_only_machine(blob, monkeypatch)
    assert next(on_cpu.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(on_cpu.score_samples(X), scores, rtol=1e-4, atol=1e-4)
    # float32 GPU vs CPU rounding may flip a row lying right at a decision boundary.
    assert np.mean(on_cpu.predict(X) == labels) >= 0.98

    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    np.testing.assert_allclose(joblib.load(buffer).score_samples(X), scores, rtol=1e-6,
                               atol=1e-6)


@needs_cuda
def test_cuda_fit_is_reproducible_and_close_to_cpu():
    X = np.random.RandomState(1).normal(size=(400, 3))
    params = {**FAST_PARAMS["FlowDensity"], "max_epochs": 2}
    gpu = [FlowDensity(**{**params, "device": "cuda"}).fit(X) for _ in range(2)]
    cpu = FlowDensity(**{**params, "device": "cpu"}).fit(X)
    np.testing.assert_allclose(gpu[0].score_samples(X), gpu[1].score_samples(X),
                               rtol=1e-6)
    # Same seed, same initialisation and batch order: float64 fits agree closely.
    np.testing.assert_allclose(gpu[0].score_samples(X), cpu.score_samples(X), rtol=1e-4,
                               atol=1e-4)
