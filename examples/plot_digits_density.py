"""
Flow density on handwritten digits vs Gaussian mixture and kernel density
=========================================================================

The main demo of skflows, on real data: the UCI optical digits (5620 images of 8x8
pixel counts 0..16; the 1797-image UCI test part is scikit-learn's ``load_digits``).
Pixel counts are dequantised, ``(x + u) / 17`` with ``u ~ U[0, 1)``, so that every model
estimates a proper continuous density on ``[0, 1]^64`` and log-likelihoods are comparable.

It prints two tables on the UCI train/test split:

1. held-out mean log-likelihood (nats per image) of :class:`skflows.FlowDensity`,
   ``GaussianMixture`` (``n_components`` chosen by BIC) and ``KernelDensity``
   (bandwidth chosen by 3-fold cross-validated likelihood);
2. out-of-distribution detection: every model is fitted on digits 0-4 only and scores
   held-out digits 0-4 (in-distribution) against digits 5-9 (OOD); ROC-AUC of
   ``score_samples`` (higher = more normal), with ``IsolationForest`` as a reference.
   The flow detector skflows recommends for this task is the last row:
   :class:`skflows.DensityDetector` around a :class:`skflows.FlowMixtureClustering`
   with the ``K`` that BIC gives the Gaussian mixture and a Gaussian-mixture start
   (``init_params="gmm"``): a flow per cluster. A single ``FlowDensity`` is the better
   density of the digits but the worse detector (its likelihood also rates well the
   local pixel statistics that every digit shares).

It saves ``digits_samples.png``: flow samples next to real test digits, and
``digits_history.png``: the flow's training and validation loss per epoch
(:func:`skflows.plotting.plot_history`).

Run: ``python examples/plot_digits_density.py`` (about 1-2 minutes on 2 CPU cores).
With ``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) every model is fitted on
a 600-image subsample with a small flow trained for a few epochs, so that the script runs
in seconds; the numbers are then only a smoke test.
"""

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neighbors import KernelDensity  # noqa: E402

from skflows import DensityDetector, FlowDensity, FlowMixtureClustering  # noqa: E402
from skflows.datasets import dequantize, load_optdigits  # noqa: E402
from skflows.plotting import plot_history  # noqa: E402

SEED = 0
#: Quick mode (documentation build): small subsample, small flow, few epochs.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
FLOW_PARAMS = dict(n_layers=2, hidden_dims=(32,), max_epochs=4) if QUICK else {}
N_TRAIN = 600 if QUICK else None  # None: all training images
GMM_CANDIDATES = (1, 2, 4) if QUICK else (1, 2, 4, 8, 16)
BANDWIDTHS = np.logspace(-1.7, -0.5, 3 if QUICK else 9)


def flow_model():
    """The FlowDensity used throughout (defaults, seeded)."""
    return FlowDensity(random_state=SEED, **FLOW_PARAMS)


def gmm_by_bic(X, candidates=GMM_CANDIDATES):
    """GaussianMixture (full covariances) with n_components chosen by BIC."""
    fits = [GaussianMixture(k, random_state=SEED).fit(X) for k in candidates]
    return min(fits, key=lambda g: g.bic(X))


def kde_by_cv(X, bandwidths=BANDWIDTHS):
    """Gaussian KernelDensity with the bandwidth chosen by 3-fold CV likelihood."""
    search = GridSearchCV(KernelDensity(), {"bandwidth": bandwidths}, cv=3)
    return search.fit(X).best_estimator_


def flow_mixture_detector(X):
    """The recommended flow detector: a mixture of flows with the Gaussian mixture's
    BIC-chosen number of components, started from a Gaussian mixture, its log-density
    as the score (DensityDetector adds offset_, decision_function and predict)."""
    k = gmm_by_bic(X).n_components
    mixture = FlowMixtureClustering(n_components=k, init_params="gmm", posterior="exact",
                                    weight_prior="learned", random_state=SEED,
                                    **FLOW_PARAMS)
    return DensityDetector(mixture).fit(X)


def mean_log_likelihood(model, X):
    """Mean log-density per row in nats (KernelDensity.score is a sum, so use rows)."""
    return float(np.mean(model.score_samples(X)))


def density_table(X_train, X_test):
    """Fit the three density models; rows of (name, held-out mean LL, fit seconds, note)."""
    rows = []
    for name, fit in [("FlowDensity", lambda X: flow_model().fit(X)),
                      ("GaussianMixture (BIC)", gmm_by_bic),
                      ("KernelDensity (CV)", kde_by_cv)]:
        t0 = time.perf_counter()
        model = fit(X_train)
        seconds = time.perf_counter() - t0
        note = {"FlowDensity": lambda m: f"{m.n_iter_} epochs",
                "GaussianMixture (BIC)": lambda m: f"n_components={m.n_components}",
                "KernelDensity (CV)": lambda m: f"bandwidth={m.bandwidth:.3g}"}[name](model)
        rows.append((name, mean_log_likelihood(model, X_test), seconds, note, model))
    return rows


def ood_table(X_in_train, X_in_test, X_out_test):
    """ROC-AUC of score_samples for in-distribution (1) vs OOD (0) test rows."""
    y = np.r_[np.ones(len(X_in_test)), np.zeros(len(X_out_test))]
    X_eval = np.vstack([X_in_test, X_out_test])
    rows = []
    for name, fit in [("FlowDensity", lambda X: flow_model().fit(X)),
                      ("GaussianMixture (BIC)", gmm_by_bic),
                      ("KernelDensity (CV)", kde_by_cv),
                      ("IsolationForest", lambda X: IsolationForest(random_state=SEED).fit(X)),
                      ("DensityDetector(FlowMixtureClustering) [recommended]",
                       flow_mixture_detector)]:
        model = fit(X_in_train)
        rows.append((name, roc_auc_score(y, model.score_samples(X_eval))))
    return rows


def print_table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main():
    start = time.perf_counter()
    digits = load_optdigits()
    X = dequantize(digits.data, levels=17, random_state=SEED).astype(np.float32)
    train, test = ~digits.is_test, digits.is_test
    if N_TRAIN is not None:
        keep = np.random.RandomState(SEED).permutation(np.flatnonzero(train))[:N_TRAIN]
        train = np.isin(np.arange(len(X)), keep)
    y = digits.target
    print(f"optdigits: {train.sum()} train / {test.sum()} test images, 64 pixels, "
          "dequantised to [0, 1)\n")

    rows = density_table(X[train], X[test])
    print("Held-out mean log-likelihood (nats per image, higher is better)\n")
    print_table(["model", "test log-likelihood", "fit time (s)", "selected"],
                [(n, f"{ll:.2f}", f"{s:.1f}", note) for n, ll, s, note, _ in rows])

    low = y <= 4
    ood = ood_table(X[train & low], X[test & low], X[test & ~low])
    print("\nOOD detection: fit on digits 0-4, held-out 0-4 vs 5-9 (ROC-AUC, higher is "
          "better)\n")
    print_table(["model", "ROC-AUC"], [(n, f"{auc:.3f}") for n, auc in ood])

    flow = rows[0][4]
    samples = np.clip(flow.sample(16, random_state=SEED), 0, 1)
    real = X[test][:16]
    fig, axes = plt.subplots(2, 16, figsize=(12, 1.9))
    for i in range(16):
        for row, img in enumerate((real[i], samples[i])):
            axes[row, i].imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("real test digits", loc="left", fontsize=9)
    axes[1, 0].set_title("FlowDensity samples", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig("digits_samples.png", dpi=120)

    ax = plot_history(flow)
    ax.set_ylabel("negative log-likelihood (nats per image)")
    ax.set_title("FlowDensity on optdigits", fontsize=10)
    ax.figure.tight_layout()
    ax.figure.savefig("digits_history.png", dpi=120)
    print(f"\nSaved digits_samples.png and digits_history.png; total time "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
