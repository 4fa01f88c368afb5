"""Throughput of skflows' ``FlowDensity`` against zuko and nflows at equal architecture.

What is measured
----------------
For every data dimension ``d`` (16: pendigits, 64: dequantised optdigits; both
standardised, float32) three implementations of the *same* neural spline flow are
trained, scored and sampled on CPU:

* **skflows** -- the whole estimator ``skflows.FlowDensity(flow="nsf", ...)`` with
  ``standardize=False``, ``validation_fraction=0``, ``gradient_clip=None`` and a huge
  ``n_iter_no_change`` (so exactly ``--epochs`` epochs run). Timed calls:
  ``est.fit(X)`` end to end (input validation, module construction, the skorch engine with
  its callbacks and history, *and* the ``offset_`` pass, one ``score_samples(X)`` over the
  training rows that ``fit`` runs to set the outlier threshold),
  ``est.score_samples(X)`` and ``est.sample(n)``.
* **zuko** -- ``zuko.flows.NSF(features=d, transforms=L, bins=K, hidden_features=(H, H),
  passes=2)``. zuko 1.6's ``NSF`` hard-codes its univariate transform as
  ``partial(MonotonicRQSTransform, slope=1e-3)`` (whose ``bound`` defaults to 5.0) and
  does not accept a ``bound`` argument, so after construction every
  ``MaskedAutoregressiveTransform``'s ``univariate`` attribute is replaced by
  ``partial(MonotonicRQSTransform, bound=B, slope=1e-3)``. With ``B=5`` this is the
  default value, but it is set explicitly so that ``--bound`` works.
* **nflows** -- a ``CompositeTransform`` of ``L`` ``PiecewiseRationalQuadraticCouplingTransform``
  layers (``tails="linear"``, ``tail_bound=B``, ``num_bins=K``; the first ``d // 2``
  coordinates are the identity half, as in skflows) with a ``ReversePermutation`` between
  consecutive couplings, exactly the layer order of ``coupling_flow(...,
  permutation="reverse")``. The conditioner is a plain MLP (``Linear-ReLU-Linear-ReLU-
  Linear``, hidden width ``H``) whose wrapper exposes ``hidden_features = H``, so nflows
  divides the width/height logits by ``sqrt(H)`` -- the same damping as skflows. Base
  distribution ``StandardNormal``.

zuko and nflows are trained by the same minimal hand-written loop: Adam (lr 1e-3),
``torch.randperm`` shuffling per epoch, mini-batches indexed from one float32 tensor,
loss ``-log_prob(x).mean()``, no clipping, no validation. Their timed "fit" includes
building the model and the optimizer (skflows' ``fit`` builds its module too) but, unlike
skflows' ``fit``, no extra scoring pass. Scoring for the peers runs under
``torch.no_grad()`` in chunks of 4096 rows (skflows' internal inference chunk) and
converts to numpy; sampling draws ``n = n_rows`` points in one call.

Architectural caveats (honest comparison)
-----------------------------------------
* skflows and nflows transform ``ceil(d / 2)`` coordinates per layer; the conditioner's
  output layer has ``ceil(d/2) * (3K - 1)`` units.
* zuko's coupling (``passes=2``) is a masked MLP over all ``d`` inputs: it also
  transforms the first half with an *unconditional* spline (bias-only parameters), so
  its output layer has ``d * (3K - 1)`` units and it evaluates the spline on all ``d``
  coordinates -- about twice the spline work and a 2x larger last layer. Its inverse
  (sampling) runs the conditioner twice per layer (two passes).
* Initialisation differs (skflows zero-initialises the last conditioner layer; zuko and
  nflows use torch defaults), so the final NLLs after a few epochs differ a little;
  the table prints the mean training NLL (nats/sample, from the timed scoring pass) so
  that one can check all three learn at a comparable pace.

Noise control
-------------
One process, ``torch.set_num_threads`` fixed (printed; default 1, ``--threads 2`` to use
both cores of the reference 2-core box). One thread is the default because on a shared
2-core machine two intra-op threads stall at OpenMP barriers whenever another process
takes a core: single calls were seen to slow down 5-20x, whereas one thread degrades at
most ~2x and identically for all three libraries. One untimed warm-up run per
library and dimension (1 epoch on 1024 rows). Then ``for rep: for d: for lib: run``,
with the library order rotated every repetition, so machine noise falls on all three
alike. Reported: minimum and median wall time over the repetitions, throughput from the
minimum (samples/s; training samples/s = n_rows * epochs / fit time), and the throughput
ratio skflows / peer (> 1 means skflows is faster), from minima and from medians.

Usage::

    python benchmarks/bench_throughput.py                  # defaults: ~2.5 min, 1 thread
    python benchmarks/bench_throughput.py --threads 2      # both cores
    python benchmarks/bench_throughput.py --reps 5 --epochs 3 --dims 64
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import skflows  # noqa: E402

LIBS = ("skflows", "zuko", "nflows")
SCORE_CHUNK = 4096  # skflows' _INFERENCE_BATCH_SIZE, used for the peers too


# ---------------------------------------------------------------------------- data
def load_data(d: int) -> np.ndarray:
    """Standardised float32 real data of dimension 16 (pendigits) or 64 (optdigits)."""
    data_dir = ROOT / "skflows" / "datasets" / "data"
    if d == 16:
        X = np.load(data_dir / "pendigits.npz")["X"].astype(np.float64)
    elif d == 64:
        X = np.load(data_dir / "optdigits.npz")["X"].astype(np.float64)
        X = (X + np.random.RandomState(0).uniform(size=X.shape)) / 17.0
    else:
        raise ValueError(f"--dims supports 16 and 64, got {d}")
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return ((X - X.mean(axis=0)) / std).astype(np.float32)


# ---------------------------------------------------------------------------- models
class _PlainMLP(nn.Module):
    """nflows conditioner: two ReLU hidden layers; ``hidden_features`` read by nflows."""

    def __init__(self, in_features: int, out_features: int, hidden: int):
        super().__init__()
        self.hidden_features = hidden
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x, context=None):
        return self.layers(x)


def build_nflows(d: int, cfg: argparse.Namespace):
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.transforms import (CompositeTransform,
                                   PiecewiseRationalQuadraticCouplingTransform,
                                   ReversePermutation)

    mask = torch.zeros(d)
    mask[d // 2:] = 1.0  # > 0: transformed; first d // 2 pass through (as skflows)
    layers = []
    for i in range(cfg.layers):
        if i > 0:
            layers.append(ReversePermutation(d))
        layers.append(PiecewiseRationalQuadraticCouplingTransform(
            mask=mask,
            transform_net_create_fn=partial(_PlainMLP, hidden=cfg.hidden),
            num_bins=cfg.bins, tails="linear", tail_bound=cfg.bound))
    return Flow(CompositeTransform(layers), StandardNormal([d]))


def build_zuko(d: int, cfg: argparse.Namespace):
    import zuko
    from zuko.transforms import MonotonicRQSTransform

    flow = zuko.flows.NSF(features=d, transforms=cfg.layers, bins=cfg.bins,
                          hidden_features=(cfg.hidden, cfg.hidden), passes=2)
    univariate = partial(MonotonicRQSTransform, bound=cfg.bound, slope=1e-3)
    n_set = 0
    for t in flow.transform.transforms:
        t.univariate = univariate
        n_set += 1
    assert n_set == cfg.layers
    return flow


def _peer_log_prob(lib: str, model):
    if lib == "zuko":
        return lambda x: model().log_prob(x)
    return model.log_prob


def _peer_sample(lib: str, model, n: int) -> torch.Tensor:
    if lib == "zuko":
        return model().sample((n,))
    return model.sample(n)


# ---------------------------------------------------------------------------- runs
def run_skflows(X: np.ndarray, cfg: argparse.Namespace, epochs: int, seed: int) -> dict:
    est = skflows.FlowDensity(
        flow="nsf", n_layers=cfg.layers, hidden_dims=(cfg.hidden, cfg.hidden),
        n_bins=cfg.bins, tail_bound=cfg.bound, permutation="reverse", standardize=False,
        validation_fraction=0.0, gradient_clip=None, max_epochs=epochs,
        batch_size=cfg.batch_size, n_iter_no_change=10**9, device="cpu", random_state=seed)
    t0 = time.perf_counter()
    est.fit(X)
    t1 = time.perf_counter()
    logp = est.score_samples(X)
    t2 = time.perf_counter()
    est.sample(len(X), random_state=seed)
    t3 = time.perf_counter()
    assert est.n_iter_ == epochs, est.n_iter_
    return {"fit": t1 - t0, "score": t2 - t1, "sample": t3 - t2, "nll": -float(logp.mean()),
            "epoch_dur": sum(h["duration"] for h in est.history_)}


def run_peer(lib: str, X: np.ndarray, cfg: argparse.Namespace, epochs: int,
             seed: int) -> dict:
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model = build_zuko(X.shape[1], cfg) if lib == "zuko" else build_nflows(X.shape[1], cfg)
    log_prob = _peer_log_prob(lib, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt = torch.from_numpy(X)
    n, bs = len(Xt), cfg.batch_size
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, bs):
            xb = Xt[order[start:start + bs]]
            loss = -log_prob(xb).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    t1 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        logp = np.concatenate([log_prob(Xt[i:i + SCORE_CHUNK]).numpy()
                               for i in range(0, n, SCORE_CHUNK)]).astype(np.float64)
    t2 = time.perf_counter()
    with torch.no_grad():
        _peer_sample(lib, model, n).numpy()
    t3 = time.perf_counter()
    return {"fit": t1 - t0, "score": t2 - t1, "sample": t3 - t2, "nll": -float(logp.mean())}


def run(lib: str, X: np.ndarray, cfg: argparse.Namespace, epochs: int, seed: int) -> dict:
    if lib == "skflows":
        return run_skflows(X, cfg, epochs, seed)
    return run_peer(lib, X, cfg, epochs, seed)


# ---------------------------------------------------------------------------- report
def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def report(results: dict, data: dict, cfg: argparse.Namespace) -> None:
    phases = (("fit", "train"), ("score", "score"), ("sample", "sample"))
    print("\n## Throughput (samples/s from the minimum time; times in s: min / median)\n")
    print("| d | lib | train samples/s | fit s (min / med) | score samples/s | "
          "score s (min / med) | sample samples/s | sample s (min / med) | "
          "mean train NLL (nats) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for d in cfg.dims:
        n = len(data[d])
        work = {"fit": n * cfg.epochs, "score": n, "sample": n}
        for lib in cfg.libs:
            runs = results[d][lib]
            row = [str(d), lib]
            for key, _ in phases:
                ts = [r[key] for r in runs]
                tmin, tmed = min(ts), statistics.median(ts)
                rates[d, lib, key] = (work[key] / tmin, work[key] / tmed)
                row += [_fmt_rate(work[key] / tmin), f"{tmin:.3f} / {tmed:.3f}"]
            nlls = [r["nll"] for r in runs]
            row.append(f"{statistics.median(nlls):.3f}")
            print("| " + " | ".join(row) + " |")

    peers = [p for p in cfg.libs if p != "skflows"]
    if "skflows" not in cfg.libs or not peers:
        return
    print("\n## Ratio skflows / peer of throughput (> 1: skflows faster); "
          "from minima (from medians)\n")
    head = ["d", "phase"] + [f"vs {p}" for p in peers] + ["vs faster peer"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * 2 + "---:|" * (len(peers) + 1))
    for d in cfg.dims:
        for key, name in phases:
            sk = rates[d, "skflows", key]
            cells = [str(d), name]
            for p in peers:
                pr = rates[d, p, key]
                cells.append(f"{sk[0] / pr[0]:.2f} ({sk[1] / pr[1]:.2f})")
            best_min = max(rates[d, p, key][0] for p in peers)
            best_med = max(rates[d, p, key][1] for p in peers)
            fastest = max(peers, key=lambda p: rates[d, p, key][0])
            cells.append(f"{sk[0] / best_min:.2f} ({sk[1] / best_med:.2f}) [{fastest}]")
            print("| " + " | ".join(cells) + " |")

    print("\nskflows fit breakdown (medians): time inside skorch epochs (history_ "
          "durations) vs the rest of fit (validation, build, offset_ scoring pass)")
    for d in cfg.dims:
        runs = results[d]["skflows"]
        ep = statistics.median(r["epoch_dur"] for r in runs)
        fit = statistics.median(r["fit"] for r in runs)
        print(f"  d={d}: fit {fit:.3f} s = epochs {ep:.3f} s + other {fit - ep:.3f} s")


# ---------------------------------------------------------------------------- main
def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _n_params(lib: str, d: int, cfg: argparse.Namespace) -> int:
    if lib == "skflows":
        from skflows.nn import coupling_flow
        model = coupling_flow(d, transform="nsf", n_layers=cfg.layers,
                              hidden_dims=(cfg.hidden, cfg.hidden), n_bins=cfg.bins,
                              tail_bound=cfg.bound, permutation="reverse")
    elif lib == "zuko":
        model = build_zuko(d, cfg)
    else:
        model = build_nflows(d, cfg)
    return sum(p.numel() for p in model.parameters())


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=4, help="timed repetitions (default 4)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.add_argument("--dims", type=str, default="16,64",
                   help="comma-separated data dimensions among 16, 64 (default 16,64)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads (default 1, see the module docstring)")
    p.add_argument("--libs", type=str, default=",".join(LIBS),
                   help="comma-separated subset of skflows,zuko,nflows")
    p.add_argument("--layers", type=int, default=5, help="coupling layers L (default 5)")
    p.add_argument("--hidden", type=int, default=128, help="hidden width H (default 128)")
    p.add_argument("--bins", type=int, default=8, help="spline bins K (default 8)")
    p.add_argument("--bound", type=float, default=5.0, help="spline tail bound B (default 5)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default 256)")
    cfg = p.parse_args(argv)
    cfg.dims = [int(s) for s in cfg.dims.split(",") if s]
    cfg.libs = [s for s in cfg.libs.split(",") if s]
    unknown = set(cfg.libs) - set(LIBS)
    if unknown:
        p.error(f"unknown libs {sorted(unknown)}")
    return cfg


def main(argv=None) -> None:
    cfg = parse_args(argv)
    torch.set_num_threads(cfg.threads)
    import skorch
    import zuko

    print("# skflows throughput benchmark\n")
    print(f"python {platform.python_version()}, torch {torch.__version__}, "
          f"skorch {skorch.__version__}, zuko {zuko.__version__}, "
          f"nflows {_version('nflows')}, numpy {np.__version__}")
    print(f"torch.get_num_threads() = {torch.get_num_threads()} "
          f"(os.cpu_count() = {os.cpu_count()}), float32, CPU")
    print(f"L={cfg.layers} coupling layers, conditioner 2 x {cfg.hidden} ReLU, K={cfg.bins} "
          f"bins, B={cfg.bound}, batch {cfg.batch_size}, epochs {cfg.epochs}, "
          f"reps {cfg.reps}, libs {cfg.libs}")

    data = {d: load_data(d) for d in cfg.dims}
    for d, X in data.items():
        print(f"d={d}: {X.shape[0]} rows x {X.shape[1]} features, "
              f"{math.ceil(X.shape[0] / cfg.batch_size)} batches/epoch; trainable parameters "
              + ", ".join(f"{lib} {_n_params(lib, d, cfg):,}" for lib in cfg.libs))

    start = time.perf_counter()
    for d, X in data.items():  # untimed warm-up
        for lib in cfg.libs:
            run(lib, X[:1024], cfg, 1, seed=123)
    print(f"warm-up {time.perf_counter() - start:.1f} s")

    results = {d: {lib: [] for lib in cfg.libs} for d in cfg.dims}
    for rep in range(cfg.reps):
        k = rep % len(cfg.libs)
        order = cfg.libs[k:] + cfg.libs[:k]
        for d, X in data.items():
            for lib in order:
                r = run(lib, X, cfg, cfg.epochs, seed=rep)
                results[d][lib].append(r)
                print(f"rep {rep} d={d} {lib:8s} fit {r['fit']:7.3f} s  score "
                      f"{r['score']:6.3f} s  sample {r['sample']:6.3f} s  "
                      f"NLL {r['nll']:8.3f}", flush=True)
    report(results, data, cfg)
    print(f"\ntotal wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
