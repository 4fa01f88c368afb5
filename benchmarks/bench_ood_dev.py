"""Development task behind FlowOutlierGenerator's default discriminator width.

Kept apart from the anomaly sets of ``bench_ood.py`` so that the default is not tuned on
the benchmark: digits 0-4 of optdigits and pendigits are the inliers, digits 5-9 the
outliers. Training: the inliers of the UCI training part plus 5 % outliers (a
contaminated training set, as in the ADBench protocol); test: the UCI test part. Pixels
are dequantised and scaled to ``[0, 1]``. One ``FlowDensity`` (NSF, 4 layers of 64 x 64,
as in ``bench_ood.py``) per data set and seed is shared, through ``FrozenEstimator``, by
every discriminator variant, so the columns differ only in the discriminator.

Printed: ROC-AUC of the flow's log-likelihood and of ``FlowOutlierGenerator``'s default
score for each ``discriminator_hidden_dims`` variant (and one with weight decay), with
fit seconds.

``--sections detectors`` (issue 20) compares the skflows detectors on the same two
tasks, with the training set either contaminated (5 % outliers, as above) or clean
(``--clean``, as the README demo): the flow's log-likelihood (``FlowDensity`` as
above), the trimmed-likelihood flow (``trim_fraction=0.2``), the three
complexity-corrected scores of :mod:`skflows.ood` around the same flow (through
``FrozenEstimator``), ``DensityDetector(FlowMixtureClustering(K, init_params="gmm",
posterior="exact", weight_prior="learned"))`` with ``K`` the BIC choice of the
Gaussian mixture among 1, 2, 4, 8, 16, the same mixture fitted with
``trim_fraction=0.2`` (trimmed start and likelihood), and the peers ``GaussianMixture`` (BIC) and
``IsolationForest``. This is the development task on which the recommended flow
detector is chosen, kept apart from the anomaly sets of ``bench_ood.py``.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_ood_dev.py`` (about 5 minutes on one
core); ``--sections detectors [--clean]`` about 3 minutes per data set and seed.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from skflows import (DensityDetector, FlowDensity, FlowMixtureClustering,
                     FlowOutlierGenerator, InputComplexityDetector,
                     LikelihoodRatioDetector, TypicalityDetector)
from skflows.datasets import dequantize, load_optdigits, load_pendigits

VARIANTS = {
    "(64, 64)": dict(discriminator_hidden_dims=(64, 64)),
    "(32, 32)": dict(discriminator_hidden_dims=(32, 32)),
    "(64,)": dict(discriminator_hidden_dims=(64,)),
    "(32,)": dict(discriminator_hidden_dims=(32,)),
    "(16,)": dict(discriminator_hidden_dims=(16,)),
    "(64, 64), weight_decay 1e-3": dict(discriminator_hidden_dims=(64, 64),
                                        weight_decay=1e-3),
}


def split(loader, levels, seed, contamination=0.05, return_train_labels=False):
    """``(X_train, X_test, y_test)``: inliers (digits 0-4) of the UCI training part plus
    ``contamination`` of their number in outliers (5-9), the whole UCI test part; with
    ``return_train_labels``, ``(X_train, y_train, X_test, y_test)`` (1 = outlier)."""
    data = loader()
    X = dequantize(data.data, levels=levels, random_state=seed)
    X = X / X.max()
    inlier, test = data.target < 5, data.is_test
    rng = np.random.RandomState(seed)
    train_in = X[~test & inlier]
    train_out = np.flatnonzero(~test & ~inlier)
    n_out = int(contamination * len(train_in))
    X_train = np.vstack([train_in, X[rng.choice(train_out, n_out, replace=False)]])
    y_test = (data.target[test] >= 5).astype(np.int64)
    if return_train_labels:
        y_train = np.r_[np.zeros(len(train_in), np.int64), np.ones(n_out, np.int64)]
        return X_train, y_train, X[test], y_test
    return X_train, X[test], y_test


DETECTORS = ("FlowDensity", "FlowDensity trim 0.2", "LikelihoodRatio", "InputComplexity",
             "Typicality", "DensityDetector(FlowMixtureClustering)", "FlowMixture trim 0.2",
             "GaussianMixture (BIC)", "IsolationForest")


def detectors(args):
    """ROC-AUC (x100) of every detector on both digit tasks, per seed, and the mean."""
    contamination = 0.0 if args.clean else 0.05
    print(f"\n## Detectors on the development tasks (training outliers: "
          f"{100 * contamination:.0f} %; ROC-AUC x100, outliers = digits 5-9)\n")
    print("| data | seed | " + " | ".join(DETECTORS) + " |")
    print("|---|---|" + "---|" * len(DETECTORS))
    results = {}
    for name, loader, levels in (("optdigits", load_optdigits, 17),
                                 ("pendigits", load_pendigits, 101)):
        for seed in args.seeds:
            X_train, X_test, y_test = split(loader, levels, seed, contamination)
            flow = FlowDensity(n_layers=4, hidden_dims=(64, 64), max_epochs=100,
                               device="cpu", random_state=seed).fit(X_train)
            frozen = FrozenEstimator(flow)
            fits = [GaussianMixture(k, random_state=seed).fit(X_train)
                    for k in (1, 2, 4, 8, 16)]
            gmm = min(fits, key=lambda m: m.bic(X_train))
            models = {
                "FlowDensity": flow,
                "FlowDensity trim 0.2": lambda: FlowDensity(
                    n_layers=4, hidden_dims=(64, 64), max_epochs=100, trim_fraction=0.2,
                    device="cpu", random_state=seed).fit(X_train),
                "LikelihoodRatio": lambda: LikelihoodRatioDetector(frozen).fit(X_train),
                "InputComplexity": lambda: InputComplexityDetector(frozen).fit(X_train),
                "Typicality": lambda: TypicalityDetector(frozen).fit(X_train),
                "DensityDetector(FlowMixtureClustering)": lambda: DensityDetector(
                    FlowMixtureClustering(n_components=gmm.n_components, init_params="gmm",
                                          posterior="exact", weight_prior="learned",
                                          device="cpu", random_state=seed)).fit(X_train),
                "FlowMixture trim 0.2": lambda: DensityDetector(
                    FlowMixtureClustering(n_components=gmm.n_components, init_params="gmm",
                                          posterior="exact", weight_prior="learned",
                                          trim_fraction=0.2, device="cpu",
                                          random_state=seed)).fit(X_train),
                "GaussianMixture (BIC)": gmm,
                "IsolationForest": lambda: IsolationForest(random_state=seed).fit(X_train),
            }
            cells = []
            for det in DETECTORS:
                model = models[det]() if callable(models[det]) else models[det]
                auc = 100 * roc_auc_score(y_test, -model.score_samples(X_test))
                results.setdefault((name, det), []).append(auc)
                cells.append(f"{auc:.1f}")
            print(f"| {name} | {seed} (K={gmm.n_components}) | " + " | ".join(cells) + " |",
                  flush=True)
    print("\nMean over seeds:\n")
    print("| data | " + " | ".join(DETECTORS) + " |")
    print("|---|" + "---|" * len(DETECTORS))
    for name in ("optdigits", "pendigits"):
        print(f"| {name} | " + " | ".join(f"{np.mean(results[name, d]):.1f}"
                                           for d in DETECTORS) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--sections", nargs="+", default=["discriminator"],
                        choices=["discriminator", "detectors"])
    parser.add_argument("--clean", action="store_true",
                        help="detectors section: no outliers in the training set")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if "detectors" in args.sections:
        detectors(args)
    if "discriminator" not in args.sections:
        return
    print("| data | seed | flow log-likelihood | " + " | ".join(VARIANTS) + " |")
    print("|---|---|---|" + "---|" * len(VARIANTS))
    for name, loader, levels in (("optdigits", load_optdigits, 17),
                                 ("pendigits", load_pendigits, 101)):
        for seed in args.seeds:
            X_train, X_test, y_test = split(loader, levels, seed)
            t0 = time.perf_counter()
            flow = FlowDensity(n_layers=4, hidden_dims=(64, 64), max_epochs=100,
                               device="cpu", random_state=seed).fit(X_train)
            cells = [f"{roc_auc_score(y_test, -flow.score_samples(X_test)):.4f} "
                     f"({time.perf_counter() - t0:.0f}s)"]
            for params in VARIANTS.values():
                t0 = time.perf_counter()
                detector = FlowOutlierGenerator(FrozenEstimator(flow), max_epochs=100,
                                                device="cpu", random_state=seed,
                                                **params).fit(X_train)
                auc = roc_auc_score(y_test, -detector.score_samples(X_test))
                cells.append(f"{auc:.4f} ({time.perf_counter() - t0:.0f}s)")
            print(f"| {name} | {seed} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
