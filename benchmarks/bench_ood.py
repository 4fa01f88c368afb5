"""Outlier detection on the bundled anomaly benchmarks: FlowOutlierGenerator against the
flow's own likelihood, IsolationForest, LOF and k-nearest-neighbour distance.

Protocol (ADBench, Han et al. 2022, Sec. 4.1): for each data set and seed, a stratified
70 / 30 split; every detector is fitted on the *unlabeled, contaminated* training part
(its outliers included) and scored by ROC-AUC on the test part; the table reports the
mean over seeds 0, 1, 2 (x100). Features are min-max scaled with the training part's
range (ADBench's preprocessing; the flows standardise internally anyway).

Detectors (the same settings on every data set, no per-set tuning):

* ``FlowOutlierGenerator`` with its defaults (shell outliers, half of the contrast
  points from the flow itself, MLP discriminator ``(32,)``, score = discriminator-
  corrected flow log-density); it reuses the ``FlowDensity`` below through
  ``sklearn.frozen.FrozenEstimator``, so both flow-based columns share one flow per seed.
  The last column, "discriminator logit", scores with the same fitted discriminator's
  logit alone (``score_kind="logit"``).
* ``FlowDensity``: NSF, 4 layers of ``(64, 64)``, early stopping; score = log-likelihood.
* ``IsolationForest`` (100 trees), ``LocalOutlierFactor(novelty=True, n_neighbors=20)``
  and ``KNN``: distance to the 5th nearest training neighbour (pyod's default ``k``),
  all from scikit-learn.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_ood.py`` (about 15 minutes on one core;
``--quick`` uses one seed and fewer epochs; ``--datasets`` and ``--seeds`` select).
"""

import argparse
import os
import time

import numpy as np
import torch
from scipy import stats
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.preprocessing import MinMaxScaler

from skflows import FlowDensity, FlowOutlierGenerator
from skflows.datasets import ANOMALY_DATASETS, load_anomaly

DETECTORS = ("FlowOutlierGenerator", "FlowDensity", "IsolationForest", "LOF", "KNN",
             "discriminator logit")


def split(name, seed):
    """ADBench split: stratified 70/30, min-max scaling fitted on the training part."""
    X, y = load_anomaly(name)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


def knn_scores(X_train, X_test, k=5):
    """Minus the distance to the k-th nearest training point (larger = more normal)."""
    dist, _ = NearestNeighbors(n_neighbors=k).fit(X_train).kneighbors(X_test)
    return -dist[:, -1]


def run_one(name, seed, max_epochs):
    """ROC-AUC (x100) and fit+score seconds of every detector on one split."""
    X_train, X_test, y_test = split(name, seed)
    X32, X32_test = X_train.astype(np.float32), X_test.astype(np.float32)
    results = {}

    def record(key, fit_score):
        t0 = time.perf_counter()
        scores = fit_score()
        results[key] = (100 * roc_auc_score(y_test, -scores), time.perf_counter() - t0)

    holder = {}

    def flow_density():
        holder["flow"] = FlowDensity(n_layers=4, hidden_dims=(64, 64), max_epochs=max_epochs,
                                     device="cpu", random_state=seed).fit(X32)
        return holder["flow"].score_samples(X32_test)

    def generator():
        holder["generator"] = FlowOutlierGenerator(
            FrozenEstimator(holder["flow"]), max_epochs=max_epochs, device="cpu",
            random_state=seed).fit(X32)
        return holder["generator"].score_samples(X32_test)

    record("FlowDensity", flow_density)
    record("FlowOutlierGenerator", generator)
    # The same fitted discriminator, scored by its logit alone (score_kind="logit").
    record("discriminator logit", lambda: holder["generator"].discriminator_logit(X32_test))
    record("IsolationForest", lambda: IsolationForest(random_state=seed).fit(X_train)
           .score_samples(X_test))
    record("LOF", lambda: LocalOutlierFactor(n_neighbors=20, novelty=True).fit(X_train)
           .score_samples(X_test))
    record("KNN", lambda: knn_scores(X_train, X_test))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(ANOMALY_DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, at most 20 epochs (a smoke run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    seeds = args.seeds[:1] if args.quick else args.seeds
    max_epochs = 20 if args.quick else 100
    print(f"ROC-AUC x100 on the test part, mean over seeds {seeds} (fit + score seconds "
          "per seed in brackets)\n")
    print("| data set | n x d | " + " | ".join(DETECTORS) + " |")
    print("|---|---|" + "---|" * len(DETECTORS))
    table = {key: [] for key in DETECTORS}
    for name in args.datasets:
        X, _ = load_anomaly(name)
        runs = [run_one(name, seed, max_epochs) for seed in seeds]
        cells = []
        for key in DETECTORS:
            auc = np.mean([r[key][0] for r in runs])
            seconds = np.mean([r[key][1] for r in runs])
            table[key].append(auc)
            cells.append(f"{auc:.1f} ({seconds:.1f}s)")
        print(f"| {name} | {X.shape[0]}x{X.shape[1]} | " + " | ".join(cells) + " |", flush=True)
    means = " | ".join(f"**{np.mean(table[key]):.1f}**" for key in DETECTORS)
    print(f"| mean ({len(args.datasets)} sets) | | {means} |")
    # Rank among the five detectors (1 = best per data set; the logit column is left out).
    main_detectors = DETECTORS[:5]
    ranks = np.mean([stats.rankdata([-table[k][i] for k in main_detectors])
                     for i in range(len(args.datasets))], axis=0)
    print("| mean rank (of 5) | | " + " | ".join(f"{r:.2f}" for r in ranks) + " | |")
    ours = np.array(table["FlowOutlierGenerator"])
    flow, forest = np.array(table["FlowDensity"]), np.array(table["IsolationForest"])
    print(f"\nFlowOutlierGenerator above FlowDensity on {int((ours > flow).sum())} of "
          f"{len(ours)} sets; mean difference {np.mean(ours - flow):+.2f} vs FlowDensity, "
          f"{np.mean(ours - forest):+.2f} vs IsolationForest.")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
