"""DeepArchetypes against linear archetypal analysis (``archetypes.AA``) with the same k.

Three experiments (markdown tables; every model gets the same rows and the same number
of archetypes ``k``; times are wall-clock seconds of ``fit``):

1. ``simplex``: data lying exactly in a simplex (:func:`skflows.datasets.make_simplex`,
   Dirichlet(1) weights, no noise): ``k = 3`` in 2-D and ``k = 4`` in 3-D, 2000 rows.
   Both methods should recover the true vertices. Reported: the greedy-matched distance
   between found and true archetypes (pair the closest found/true archetypes, remove
   both, repeat; mean of the distances, as Keller et al.'s ``greedy_min_distance``),
   relative to the simplex's edge length, and the mean reconstruction error
   ``||x - x_hat||^2``.
2. ``warped``: the curved triangle of :func:`skflows.datasets.make_warped_triangle`
   (2000 rows, Dirichlet(1), ``bend=0.5``), ``k = 3``. Reported: reconstruction error
   (training rows and 2000 fresh rows), greedy-matched distance to the true (warped)
   corners, the largest distance of an archetype *outside* the data's support (0 when
   every archetype lies in it; the support is known exactly through
   :func:`skflows.datasets.warped_triangle_barycentric`), and the share of 5000
   Dirichlet(1) mixtures of the archetypes that land in the support (linear AA: the
   straight mixtures ``a^T archetypes``; DeepArchetypes: ``sample``).
3. ``digits``: UCI optical digits (8x8 counts, dequantised as ``(x + u) / 17``), fitted
   on the UCI training part (3823 rows) and evaluated on the test part (1797 rows), for
   ``k = 3..10``. Reported: mean reconstruction error from the coefficients, per image
   (sum over the 64 pixels, units of the dequantised data), train and test.

Peers: ``archetypes.AA`` (aleixalcacer/archetypes, NumPy backend), ``init="furthest_sum"``,
projected-gradient solver, ``max_iter=1000`` on the 2-D/3-D data and its default 300
on digits. Reconstruction ``x_hat = transform(x) @ archetypes_`` (linear AA) and
``inverse_transform(transform(x))`` (DeepArchetypes).

DeepArchetypes settings: the defaults (spline flow, 5 couplings of 64 x 64, head 64,
sparsemax coefficients, ``reconstruction_weight=100``, ``archetype_loss_weight=1``,
batch 128, up to 200 epochs with early stopping) with ``n_init=3`` (the fit with the
lowest validation loss of three initialisations) on the 2-D/3-D data; on digits an
affine-coupling flow (6 couplings of 128 x 128), up to 60 epochs, for speed (see
``DIGITS``).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_archetypes.py`` (about 30-40 minutes
on one core); ``--quick`` (k = 3, 6, 10 on digits with 30 epochs, one seed; about 12
minutes); ``--sections simplex warped digits`` and ``--seeds`` select parts.
"""

import argparse
import time

import numpy as np
import torch

from skflows import DeepArchetypes
from skflows.datasets import (dequantize, load_optdigits, make_simplex,
                              make_warped_triangle, warped_triangle_barycentric,
                              warped_triangle_boundary)

try:
    from archetypes import AA
except ImportError as exc:  # pragma: no cover - benchmark-only peer
    raise SystemExit("This benchmark needs the `archetypes` package: "
                     "pip install 'skflows[benchmarks]'") from exc

#: DeepArchetypes on the 2-D and 3-D data: the defaults, with the best of three
#: initialisations (a flexible flow can span the data from archetypes that are not its
#: corners; those fits have a higher loss, see DeepArchetypes' ``n_init``).
TOY = dict(n_init=3)
#: DeepArchetypes on digits: affine couplings (about twice as fast as splines here).
DIGITS = dict(flow="realnvp", n_layers=6, hidden_dims=(128, 128), max_epochs=60)


def greedy_distance(found, true):
    """Greedy matching: take the closest (found, true) pair, remove both, repeat.

    Returns the mean Euclidean distance of the matched pairs.
    """
    cost = np.sqrt(((found[:, None, :] - true[None, :, :]) ** 2).sum(-1))
    distances = []
    for _ in range(len(true)):
        i, j = np.unravel_index(np.argmin(cost), cost.shape)
        distances.append(cost[i, j])
        cost[i, :] = np.inf
        cost[:, j] = np.inf
    return float(np.mean(distances))


def fit_linear(X, k, seed, max_iter):
    t0 = time.perf_counter()
    model = AA(k, init="furthest_sum", max_iter=max_iter, random_state=seed).fit(X)
    return model, time.perf_counter() - t0


def fit_deep(X, k, seed, **params):
    t0 = time.perf_counter()
    model = DeepArchetypes(n_archetypes=k, device="cpu", random_state=seed,
                           **params).fit(X.astype(np.float32))
    return model, time.perf_counter() - t0


def linear_error(model, X):
    return float(((X - model.transform(X) @ model.archetypes_) ** 2).sum(1).mean())


def deep_error(model, X):
    return float(model.reconstruction_error(X.astype(np.float32)).mean())


def mean_sd(values, digits=3):
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} +- {values.std(ddof=1):.{digits}f}"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print(flush=True)


# ---------------------------------------------------------------------------- simplex
def bench_simplex(seeds):
    print("## (i) Data exactly in a simplex (2000 rows, Dirichlet(1), no noise)\n")
    rows = []
    for k in (3, 4):
        edge = np.sqrt(2.0 * k / (k - 1))
        results = {"linear AA": [], "DeepArchetypes": []}
        for seed in seeds:
            X, _, V = make_simplex(2000, n_archetypes=k, random_state=seed)
            lin, t_lin = fit_linear(X, k, seed, max_iter=1000)
            deep, t_deep = fit_deep(X, k, seed, **TOY)
            results["linear AA"].append((greedy_distance(lin.archetypes_, V) / edge,
                                         linear_error(lin, X), t_lin))
            results["DeepArchetypes"].append((greedy_distance(deep.archetypes_, V) / edge,
                                              deep_error(deep, X), t_deep))
        for name, res in results.items():
            res = np.array(res)
            rows.append([f"k={k}, d={k - 1}", name, mean_sd(res[:, 0]),
                         mean_sd(res[:, 1], 4), mean_sd(res[:, 2], 1)])
    table(["data", "model", "archetype distance / edge", "recon. error", "fit s"], rows)


# ---------------------------------------------------------------------------- warped
def outside_distance(points, boundary):
    """Distance of each point to the support (0 inside), via a dense boundary curve."""
    inside = warped_triangle_barycentric(points).min(axis=1) >= 0
    gap = np.sqrt(((points[:, None, :] - boundary[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return np.where(inside, 0.0, gap)


def in_support(points):
    return float(np.mean(warped_triangle_barycentric(points).min(axis=1) >= 0))


def bench_warped(seeds):
    print("## (ii) Warped triangle (2000 rows, Dirichlet(1), bend 0.5, k=3)\n")
    boundary = warped_triangle_boundary(3000)
    results = {"linear AA": [], "DeepArchetypes": []}
    for seed in seeds:
        X, _, V = make_warped_triangle(2000, random_state=seed)
        X_new, _, _ = make_warped_triangle(2000, random_state=seed + 1000)
        lin, t_lin = fit_linear(X, 3, seed, max_iter=1000)
        deep, t_deep = fit_deep(X, 3, seed, **TOY)
        weights = np.random.RandomState(seed).dirichlet(np.ones(3), 5000)
        lin_samples = weights @ lin.archetypes_
        deep_samples = deep.sample(5000, concentration=1.0, random_state=seed)
        for name, model, err, samples, t in (
                ("linear AA", lin, linear_error, lin_samples, t_lin),
                ("DeepArchetypes", deep, deep_error, deep_samples, t_deep)):
            results[name].append((err(model, X), err(model, X_new),
                                  greedy_distance(model.archetypes_, V),
                                  outside_distance(model.archetypes_, boundary).max(),
                                  in_support(samples), t))
    rows = []
    for name, res in results.items():
        res = np.array(res)
        rows.append([name, mean_sd(res[:, 0], 4), mean_sd(res[:, 1], 4), mean_sd(res[:, 2]),
                     mean_sd(res[:, 3], 4), mean_sd(100 * res[:, 4], 1),
                     mean_sd(res[:, 5], 1)])
    table(["model", "recon. train", "recon. new rows", "archetype distance",
           "max distance outside support", "mixtures in support %", "fit s"], rows)


# ---------------------------------------------------------------------------- digits
def bench_digits(ks, seed, epochs):
    print("## (iii) Optical digits: reconstruction error from the coefficients "
          "(per image, sum over 64 pixels)\n")
    data = load_optdigits()
    X = dequantize(data.data, levels=17, random_state=seed)
    train, test = X[~data.is_test], X[data.is_test]
    total = float(((test - train.mean(0)) ** 2).sum(1).mean())
    print(f"Test variance (error of the mean image): {total:.3f}\n", flush=True)
    rows = []
    for k in ks:
        lin, t_lin = fit_linear(train, k, seed, max_iter=300)
        deep, t_deep = fit_deep(train, k, seed, **{**DIGITS, "max_epochs": epochs})
        rows.append([k, f"{linear_error(lin, train):.3f}", f"{linear_error(lin, test):.3f}",
                     f"{deep_error(deep, train):.3f}", f"{deep_error(deep, test):.3f}",
                     f"{t_lin:.0f}", f"{t_deep:.0f}", deep.n_iter_])
        print("| " + " | ".join(str(c) for c in rows[-1]) + " |", flush=True)
    print()
    table(["k", "linear AA train", "linear AA test", "DeepArchetypes train",
           "DeepArchetypes test", "linear AA fit s", "DeepArchetypes fit s",
           "epochs"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+", default=["simplex", "warped", "digits"],
                        choices=["simplex", "warped", "digits"])
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds of the simplex and warped experiments")
    parser.add_argument("--ks", type=int, nargs="+", default=list(range(3, 11)))
    parser.add_argument("--quick", action="store_true",
                        help="one seed; k = 3, 6, 10 and 30 epochs on digits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    ks = [3, 6, 10] if args.quick else args.ks
    epochs = 30 if args.quick else DIGITS["max_epochs"]
    if "simplex" in args.sections:
        bench_simplex(seeds)
    if "warped" in args.sections:
        bench_warped(seeds)
    if "digits" in args.sections:
        bench_digits(ks, 0, epochs)


if __name__ == "__main__":
    main()
