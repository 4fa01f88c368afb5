"""
Clustering with a variational mixture of normalizing flows
===========================================================

:class:`skflows.FlowMixtureClustering` fits a mixture of ``K`` normalizing flows with a
softmax network ``q(k | x)`` as variational posterior (VMoNF; Pires & Figueiredo,
ESANN 2020). Unlike a Gaussian mixture, each cluster may be curved or elongated, and the
model is still a proper density (``score_samples``) with an exact posterior
(``predict_proba``) and a sampler that returns the component of every sample.

Two experiments of the paper and thesis:

1. **Pinwheel** (5 curved wings, 2560 points): clusters found without labels, next to a
   ``GaussianMixture`` with the same ``K``. The background shows the predicted cluster
   over the plane; the right panel shows samples coloured by the component they were
   drawn from.
2. **Two concentric circles**: without labels the mixture splits the plane into two
   halves (a well-known failure of the method: each half is an easy shape for a flow);
   with 16 labels per class (``y = -1`` elsewhere, scikit-learn's semi-supervised
   convention) it separates the circles.

It saves ``flow_mixture_pinwheel.png`` and ``flow_mixture_two_circles.png`` and prints
the adjusted Rand index (ARI) of every fit.

Run: ``python examples/plot_flow_mixture_clustering.py`` (a few minutes on 2 CPU cores).
With ``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the data sets are
smaller and every mixture trains for a few epochs only, so the clusters are not the
converged ones.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from skflows import FlowMixtureClustering  # noqa: E402
from skflows.datasets import make_pinwheel, make_two_circles  # noqa: E402

SEED = 0
#: Quick mode (documentation build): smaller data sets, few epochs.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
MAX_EPOCHS = 5 if QUICK else 300
PRETRAIN_EPOCHS = 5 if QUICK else 100  # 100: the estimator's default
N_PINWHEEL = 640 if QUICK else 2560
N_CIRCLES = 528 if QUICK else 1056
GRID = 120 if QUICK else 300
#: The pinwheel of the paper's experiments (Johnson et al. 2016 parameters).
PINWHEEL = dict(n_arms=5, radial_std=0.3, tangential_std=0.05, rate=0.4)


def pinwheel_model():
    """Five small RealNVP components, as in the thesis (8 couplings, 8 hidden units)."""
    return FlowMixtureClustering(n_components=5, flow="realnvp", n_layers=8,
                                 hidden_dims=(8,), max_epochs=MAX_EPOCHS, batch_size=128,
                                 pretrain_epochs=PRETRAIN_EPOCHS, random_state=SEED)


def circles_model():
    """Two spline-flow components; a ring needs a more flexible flow than a wing."""
    return FlowMixtureClustering(n_components=2, flow="nsf", n_layers=6,
                                 hidden_dims=(32, 32), max_epochs=MAX_EPOCHS, batch_size=128,
                                 pretrain_epochs=PRETRAIN_EPOCHS, random_state=SEED)


def semi_supervised_labels(y, n_per_class, seed=SEED):
    """``n_per_class`` labels per class at random, -1 (unlabeled) elsewhere."""
    rng = np.random.RandomState(seed)
    y_semi = np.full_like(y, -1)
    for k in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == k), n_per_class, replace=False)
        y_semi[keep] = k
    return y_semi


def plot_partition(ax, model, X, colors, title, marked=None, limits=None):
    """Points coloured by ``colors`` over the model's predicted cluster on a grid
    (``limits``: the ``(low, high)`` corners of the view, by default those of ``X``)."""
    lo, hi = limits if limits is not None else (X.min(0) - 0.3, X.max(0) + 0.3)
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    k = getattr(model, "n_components", None)
    ax.contourf(g0, g1, model.predict(grid).reshape(g0.shape), levels=np.arange(k + 1) - 0.5,
                cmap="tab10", vmin=0, vmax=9, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=colors, cmap="tab10", vmin=0, vmax=9, s=3)
    if marked is not None:
        ax.scatter(X[marked, 0], X[marked, 1], c=colors[marked], cmap="tab10", vmin=0,
                   vmax=9, s=60, marker="*", edgecolors="k", linewidths=0.6)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def pinwheel_figure():
    X, y = make_pinwheel(N_PINWHEEL, random_state=SEED, return_labels=True, **PINWHEEL)
    flows = pinwheel_model().fit(X)
    gmm = GaussianMixture(5, random_state=SEED).fit(X)
    ari_flows = adjusted_rand_score(y, flows.labels_)
    ari_gmm = adjusted_rand_score(y, gmm.predict(X))
    print(f"pinwheel: FlowMixtureClustering ARI {ari_flows:.3f}, "
          f"GaussianMixture ARI {ari_gmm:.3f}")
    samples, components = flows.sample(N_PINWHEEL, random_state=SEED)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    plot_partition(axes[0], flows, X, flows.labels_,
                   f"FlowMixtureClustering, K=5 (ARI {ari_flows:.3f})")
    plot_partition(axes[1], gmm, X, gmm.predict(X), f"GaussianMixture, K=5 (ARI {ari_gmm:.3f})")
    plot_partition(axes[2], flows, samples, components,
                   "samples, coloured by the component drawn",
                   limits=(X.min(0) - 0.3, X.max(0) + 0.3))
    fig.tight_layout()
    fig.savefig("flow_mixture_pinwheel.png", dpi=120)


def circles_figure():
    X, y = make_two_circles(N_CIRCLES, random_state=SEED, return_labels=True)
    y_semi = semi_supervised_labels(y, 16)
    unsupervised = circles_model().fit(X)
    semi = circles_model().fit(X, y_semi)
    ari_unsup = adjusted_rand_score(y, unsupervised.labels_)
    ari_semi = adjusted_rand_score(y, semi.labels_)
    print(f"two circles: unsupervised ARI {ari_unsup:.3f}, "
          f"16 labels per class ARI {ari_semi:.3f}")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    plot_partition(axes[0], unsupervised, X, unsupervised.labels_,
                   f"no labels (ARI {ari_unsup:.3f})")
    plot_partition(axes[1], semi, X, semi.labels_,
                   f"16 labels per class, stars (ARI {ari_semi:.3f})", marked=y_semi >= 0)
    fig.tight_layout()
    fig.savefig("flow_mixture_two_circles.png", dpi=120)


def main():
    pinwheel_figure()
    circles_figure()


if __name__ == "__main__":
    main()
