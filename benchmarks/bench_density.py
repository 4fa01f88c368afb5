"""Density-estimation quality of FlowDensity against scikit-learn's density estimators.

For each data set, every model is fitted on the same training rows and scored on the
same held-out rows:

* ``FlowDensity`` with its defaults (NSF, 5 layers, LU mixing), seeded;
* ``GaussianMixture`` (full covariances), ``n_components`` in {1, 2, 4, 8, 16} by BIC;
* ``KernelDensity`` (Gaussian kernel), bandwidth by 3-fold cross-validated likelihood.

Data sets: ``optdigits`` (UCI train/test split, dequantised ``(x + u) / 17``),
``pendigits`` (UCI train/test split, dequantised ``(x + u) / 101``), and 2-D toys with a
known density (10 000 train / 5 000 test rows), where the gap between the held-out
negative log-likelihood and the true entropy (the best achievable value) is printed.

The table's flow is one fit (``random_state=0``); early stopping makes its result vary
with the seed, so ``--flow-seeds 0 1 2 3 4 5`` refits it with each seed and prints the
mean, smallest and largest held-out log-likelihood and the epochs it ran.

Run: ``python benchmarks/bench_density.py [--datasets optdigits pendigits split_gaussian]
[--flow-seeds 0 1 2]`` (about 2-3 minutes on one core for the table).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from plot_digits_density import (FLOW_PARAMS, density_table,  # noqa: E402
                                 mean_log_likelihood)

from skflows import FlowDensity  # noqa: E402
from skflows.datasets import (dequantize, load_optdigits, load_pendigits,  # noqa: E402
                              make_toy, toy_entropy)

TOYS = ("split_gaussian", "two_uniforms", "annulus")


def load(name, seed=0):
    """(X_train, X_test, true entropy or None) for a data set name."""
    if name in ("optdigits", "pendigits"):
        data = load_optdigits() if name == "optdigits" else load_pendigits()
        levels = 17 if name == "optdigits" else 101
        X = dequantize(data.data, levels=levels, random_state=seed).astype(np.float32)
        return X[~data.is_test], X[data.is_test], None
    X = make_toy(name, 15000, random_state=seed).astype(np.float32)
    return X[:10000], X[10000:], toy_entropy(name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--datasets", nargs="+", default=["optdigits", "pendigits", *TOYS])
    parser.add_argument("--flow-seeds", nargs="+", type=int, default=None,
                        help="refit FlowDensity with these random_state values and print "
                             "the spread of its held-out log-likelihood")
    args = parser.parse_args(argv)
    print("| data set | n_train x d | model | test mean log-lik. (nats) | gap to true "
          "entropy (nats) | fit time (s) | selected |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        X_train, X_test, entropy = load(name)
        for model, ll, seconds, note, _ in density_table(X_train, X_test):
            gap = f"{-ll - entropy:.3f}" if entropy is not None else "-"
            print(f"| {name} | {X_train.shape[0]}x{X_train.shape[1]} | {model} | {ll:.3f} | "
                  f"{gap} | {seconds:.1f} | {note} |", flush=True)
    if not args.flow_seeds:
        return
    print(f"\nFlowDensity over random_state {args.flow_seeds} (same rows):\n")
    print("| data set | mean test log-lik. (nats) | smallest | largest | mean gap to true "
          "entropy (nats) | epochs |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        X_train, X_test, entropy = load(name)
        lls, epochs = [], []
        for seed in args.flow_seeds:
            model = FlowDensity(random_state=seed, **FLOW_PARAMS).fit(X_train)
            lls.append(mean_log_likelihood(model, X_test))
            epochs.append(model.n_iter_)
        gap = f"{-np.mean(lls) - entropy:.3f}" if entropy is not None else "-"
        print(f"| {name} | {np.mean(lls):.3f} | {min(lls):.3f} | {max(lls):.3f} | {gap} | "
              f"{min(epochs)}-{max(epochs)} |", flush=True)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
