"""GPU vs CPU throughput of FlowDensity and FlowMixtureClustering.

What is measured
----------------
The same estimators, with the same data and seeds, are fitted on every available device
(``cpu``, and ``cuda`` when PyTorch sees a GPU), with ``validation_fraction=0`` and a
``n_iter_no_change`` larger than ``--epochs``, so exactly ``--epochs`` epochs run:

* ``FlowDensity()`` at its defaults (neural spline flow, 5 coupling layers, conditioners
  of two hidden layers of 128 units, LU mixing);
* ``FlowMixtureClustering(n_components=5)`` at its defaults otherwise (5 RealNVP flows
  of 4 coupling layers, conditioners of 16 + 16 units, evaluated in one batched pass).

Data: ``--rows`` float32 rows of ``--features`` correlated Gaussian features. For each
estimator, device and batch size (``--batch-sizes``: the default 256, and a large batch,
where a GPU pays off) the table gives the median epoch time (from ``history_``), the
training throughput (rows per second in an epoch) and the scoring throughput of
``score_samples`` over all rows (timed after one warm-up call; inference runs in chunks
of 4096 rows, and each chunk's result is copied back to the host, so the timing includes
the transfers). The last column is the speed-up over the CPU at the same batch size.

CPU timings use ``torch.set_num_threads(--threads)`` (default: all cores). Without CUDA
the script says so and prints the CPU rows.

Run: ``python benchmarks/bench_gpu.py`` (CPU only: a few minutes on 2 cores; a GPU run
adds seconds); ``--quick`` uses fewer rows and epochs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import sklearn
import torch

from skflows import FlowDensity, FlowMixtureClustering


def make_data(n_rows: int, n_features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    mixing = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
    centres = rng.normal(scale=3.0, size=(5, n_features))
    X = rng.normal(size=(n_rows, n_features)) @ mixing + centres[rng.randint(5, size=n_rows)]
    return X.astype(np.float32)


def estimators(epochs: int, batch_size: int, device: str):
    shared = dict(max_epochs=epochs, batch_size=batch_size, validation_fraction=0.0,
                  n_iter_no_change=epochs + 1, device=device, random_state=0)
    return {
        "FlowDensity()": FlowDensity(**shared),
        "FlowMixtureClustering(K=5)": FlowMixtureClustering(n_components=5, **shared),
    }


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(est, X, device: str) -> dict:
    synchronize(device)
    est.fit(X)
    synchronize(device)
    epoch = statistics.median(row["duration"] for row in est.history_)
    est.score_samples(X[:4096])  # warm-up
    synchronize(device)
    t0 = time.perf_counter()
    scores = est.score_samples(X)
    synchronize(device)
    score_s = time.perf_counter() - t0
    return {"epoch_s": epoch, "train_rows_s": len(X) / epoch, "score_rows_s": len(X) / score_s,
            "mean_log_lik": float(np.mean(scores))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="10 000 rows, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs = 10_000, 2
    if args.threads:
        torch.set_num_threads(args.threads)

    devices = ["cpu"]
    print("# GPU vs CPU throughput of FlowDensity and FlowMixtureClustering\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, scikit-learn "
          f"{sklearn.__version__}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch CPU threads {torch.get_num_threads()}")
    if torch.cuda.is_available():
        devices.append("cuda")
        print(f"GPU: {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}")
    else:
        print("CUDA is not available on this machine: only the CPU rows are printed "
              "(run this script on a GPU machine for the comparison).")
    X = make_data(args.rows, args.features)
    print(f"data: {args.rows} x {args.features} float32; {args.epochs} epochs per fit\n")

    print("| estimator | device | batch | epoch (s) | train rows/s | score rows/s | "
          "train speed-up | score speed-up | mean log-lik. |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch_size in args.batch_sizes:
        cpu_results = {}
        for device in devices:
            for name, est in estimators(args.epochs, batch_size, device).items():
                r = measure(est, X, device)
                if device == "cpu":
                    cpu_results[name] = r
                base = cpu_results[name]
                print(f"| {name} | {device} | {batch_size} | {r['epoch_s']:.2f} | "
                      f"{r['train_rows_s']:,.0f} | {r['score_rows_s']:,.0f} | "
                      f"{r['train_rows_s'] / base['train_rows_s']:.1f}x | "
                      f"{r['score_rows_s'] / base['score_rows_s']:.1f}x | "
                      f"{r['mean_log_lik']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
