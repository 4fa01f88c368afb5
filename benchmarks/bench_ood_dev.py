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

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_ood_dev.py`` (about 5 minutes on one
core).
"""

import argparse
import time

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from skflows import FlowDensity, FlowOutlierGenerator
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


def split(loader, levels, seed):
    data = loader()
    X = dequantize(data.data, levels=levels, random_state=seed)
    X = X / X.max()
    inlier, test = data.target < 5, data.is_test
    rng = np.random.RandomState(seed)
    train_in = X[~test & inlier]
    train_out = np.flatnonzero(~test & ~inlier)
    n_out = int(0.05 * len(train_in))
    X_train = np.vstack([train_in, X[rng.choice(train_out, n_out, replace=False)]])
    return X_train, X[test], (data.target[test] >= 5).astype(int)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
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
