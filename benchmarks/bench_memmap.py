"""Memory of ``FlowDensity.fit`` on a numpy memmap larger than memory would like.

What is measured
----------------
For each shape, a ``(n_rows, n_features)`` float32 array of correlated Gaussian rows is
written to a ``.npy`` file in a temporary directory, and ``FlowDensity`` (a small
RealNVP flow, 2 coupling layers with one hidden layer of 16 units: memory does not
depend on the network; everything else at its defaults, so the internal
standardisation, a 10 % validation split, early stopping and the ``offset_`` scoring
pass all run) is fitted for ``--epochs`` epochs in mini-batches of ``--batch-size``
rows, far fewer than the data, in two ways:

* **memmap** -- ``np.load(path, mmap_mode="r")``: a read-only memmap; the training engine
  copies one mini-batch of rows at a time out of the file's pages;
* **in memory** (the peer: what one does without memmap support) -- ``np.load(path)``,
  which reads the whole array into RAM before ``fit``.

Each (size, mode) runs in a fresh Python process, after two untimed warm-up fits on
``5 * batch_size`` rows (one-off costs: lazy imports, torch's allocator and kernel caches
for the batch shapes). Reported:

* ``numpy peak``: the peak of numpy's allocations during ``fit`` (``tracemalloc``; numpy
  reports its data buffers to it; torch's CPU tensors do not appear here);
* ``anon RSS peak``: the peak growth of the process's anonymous resident memory
  (``RssAnon`` in ``/proc/self/status``, sampled every 2 ms by a thread) from just
  before loading the data to the end of ``fit``: every private allocation (numpy,
  torch, Python) counts, the page cache holding the memmap's file pages does not
  (those pages are shared and can be dropped by the kernel at any time);
* the ratio of that peak to the data size, the fit time and training rows per second
  (``n_rows * epochs / fit time``).

What remains in a memmap fit is the bookkeeping of shuffling and splitting: int64 index
arrays of ``n_rows`` entries (all rows, the train/validation split, the train rows'
dataset index, the epoch's order: about four alive at once, 32 bytes per row), and the
float64 training scores that set ``offset_``. That is ``32 / (4 * n_features)`` of the
data size at float32: half of it with 16 features, an eighth with 64. The anonymous RSS
peak adds what glibc's allocator keeps cached after numpy frees those arrays.

Run: ``python benchmarks/bench_memmap.py`` (4 M x 16 and 1 M x 64 float32, 256 MB each;
a few minutes on one core); ``--quick`` runs 250 k x 16 (16 MB); ``--shapes 1000000x16
...`` picks others. Linux only (reads ``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np


def anon_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("RssAnon not found in /proc/self/status (Linux only)")


class PeakSampler(threading.Thread):
    """Samples ``RssAnon`` every ``interval`` seconds and keeps the maximum."""

    def __init__(self, interval=0.002):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = anon_rss_bytes()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, anon_rss_bytes())
            time.sleep(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, anon_rss_bytes())


def write_data(path: Path, n_rows: int, n_features: int, seed: int = 0) -> None:
    """Gaussian rows with correlated features, written in chunks (never all in RAM)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(n_rows, n_features))
    rng = np.random.RandomState(seed)
    mixing = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
    for start in range(0, n_rows, 250_000):
        stop = min(n_rows, start + 250_000)
        out[start:stop] = rng.normal(size=(stop - start, n_features)) @ mixing + 1.0
    out.flush()
    del out


def child(path: str, mode: str, epochs: int, batch_size: int) -> dict:
    """One measurement in this (fresh) process; returns a dict of numbers."""
    import torch

    from skflows import FlowDensity

    torch.set_num_threads(1)
    params = dict(flow="realnvp", n_layers=2, hidden_dims=(16,), max_epochs=epochs,
                  batch_size=batch_size, n_iter_no_change=epochs + 1, device="cpu",
                  random_state=0)
    # Warm-up, untimed, twice, with batches of the measured shapes: torch's allocator
    # and kernel caches grow on the first batches of a new shape (tens of MB, once).
    header = np.load(path, mmap_mode="r")
    for _ in range(2):
        FlowDensity(**params).fit(np.array(header[:5 * batch_size]))
    del header

    baseline = anon_rss_bytes()
    sampler = PeakSampler()
    sampler.start()
    X = np.load(path, mmap_mode="r") if mode == "memmap" else np.load(path)
    tracemalloc.start()
    tracemalloc.reset_peak()
    numpy_before = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    est = FlowDensity(**params).fit(X)
    seconds = time.perf_counter() - t0
    numpy_peak = tracemalloc.get_traced_memory()[1] - numpy_before
    tracemalloc.stop()
    sampler.stop()
    return {"mode": mode, "n_rows": int(X.shape[0]), "n_features": int(X.shape[1]),
            "data_bytes": int(X.nbytes), "seconds": seconds, "epochs": est.n_iter_,
            "numpy_peak": int(numpy_peak), "anon_peak": int(sampler.peak - baseline),
            "final_train_loss": est.history_[-1]["train_loss"]}


def run_child(path: Path, mode: str, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), mode, "--epochs", str(args.epochs),
         "--batch-size", str(args.batch_size)],
        check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["4000000x16", "1000000x64"],
                        help="ROWSxFEATURES (default: 4000000x16 1000000x64)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--quick", action="store_true", help="250000x16 only")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.epochs, args.batch_size)))
        return
    shapes = [tuple(int(v) for v in shape.lower().split("x"))
              for shape in (["250000x16"] if args.quick else args.shapes)]

    import sklearn
    import torch

    print("# FlowDensity.fit from a numpy memmap vs from an in-memory array\n")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch "
          f"{torch.__version__}, scikit-learn {sklearn.__version__}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"1 thread per process")
    print(f"FlowDensity(flow='realnvp', n_layers=2, hidden_dims=(16,)), float32 data, "
          f"batch {args.batch_size} rows, {args.epochs} epoch(s), "
          "validation_fraction=0.1\n")
    print("| rows x features | data (MB) | mode | numpy peak (MB) | anon RSS peak (MB) | "
          "anon peak / data | fit (s) | rows/s |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n_rows, n_features in shapes:
            path = Path(tmp) / f"X_{n_rows}x{n_features}.npy"
            write_data(path, n_rows, n_features)
            for mode in ("memmap", "in memory"):
                r = run_child(path, mode, args)
                mb = r["data_bytes"] / 1e6
                print(f"| {n_rows:,} x {n_features} | {mb:.0f} | {mode} | "
                      f"{r['numpy_peak'] / 1e6:.1f} | {r['anon_peak'] / 1e6:.1f} | "
                      f"{r['anon_peak'] / r['data_bytes']:.2f} | {r['seconds']:.1f} | "
                      f"{r['n_rows'] * r['epochs'] / r['seconds']:,.0f} |", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
