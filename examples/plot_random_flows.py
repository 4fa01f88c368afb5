"""
Random (LWTA) flows vs RealNVP and NSF on densities with gaps and holes
=======================================================================

A flow is a bi-Lipschitz bijection of a Gaussian, so it cannot put zero density in the
gap between two separated pieces or in the hole of an annulus: it leaks mass there. A
random flow, ``FlowDensity(flow="lwta")``, draws a winner in every block of competing
units of its conditioners; it is a mixture of bijections and can route different draws to
different pieces.

For three 2-D toys with a known density (2uniforms, annulus, split-gaussian; Cornish et
al., ICML 2020) the script fits RealNVP, NSF and the LWTA flow with the same budget, and
draws, side by side, the true density and each model's density (the LWTA flow's is the
importance-weighted estimate). The test NLL and the true entropy (the optimum) are
printed in each panel title. Saves ``random_flows.png``.

Run: ``python examples/plot_random_flows.py`` (several minutes on 2 CPU cores).
With ``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) each flow sees 1000
points for a few epochs, the grid is coarser and the LWTA flow's score uses 4 winner
draws, so the panels only hint at the real result.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skflows import FlowDensity  # noqa: E402
from skflows.datasets import make_toy, toy_entropy, toy_log_prob  # noqa: E402

TOYS = ["two_uniforms", "annulus", "split_gaussian"]
LIMITS = {"two_uniforms": 2.5, "annulus": 2.5, "split_gaussian": 5.0}
#: Quick mode (documentation build): less data, few epochs, a coarser grid, fewer
#: winner draws in the LWTA flow's importance-weighted score.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
SETTINGS = dict(n_train=1000, n_test=500, max_epochs=3, grid_size=40) if QUICK else {}
FLOWS = {"RealNVP": dict(flow="realnvp"), "NSF": dict(flow="nsf"),
         "LWTA flow": dict(flow="lwta", n_eval_samples=4 if QUICK else 32)}


def main(n_train=5000, n_test=3000, max_epochs=80, grid_size=120):
    fig, axes = plt.subplots(len(TOYS), 1 + len(FLOWS), figsize=(12, 9))
    for row, name in enumerate(TOYS):
        X = make_toy(name, n_train, random_state=0).astype(np.float32)
        X_test = make_toy(name, n_test, random_state=1).astype(np.float32)
        lim = LIMITS[name]
        g = np.linspace(-lim, lim, grid_size)
        grid = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
        panels = {"true density": np.exp(toy_log_prob(name, grid))}
        titles = {"true density": f"{name}\noptimum NLL {toy_entropy(name):.3f}"}
        for label, params in FLOWS.items():
            est = FlowDensity(hidden_dims=(64, 64), max_epochs=max_epochs, random_state=0,
                              **params).fit(X)
            panels[label] = np.exp(est.score_samples(grid.astype(np.float32)))
            titles[label] = f"{label}\ntest NLL {-est.score(X_test):.3f}"
            print(f"{name:15s} {label:10s} test NLL {-est.score(X_test):.3f} "
                  f"(optimum {toy_entropy(name):.3f})", flush=True)
        vmax = np.percentile(panels["true density"], 99.5) * 1.2
        for col, (label, dens) in enumerate(panels.items()):
            ax = axes[row, col]
            ax.imshow(dens.reshape(grid_size, grid_size), origin="lower",
                      extent=(-lim, lim, -lim, lim), cmap="magma", vmin=0, vmax=vmax)
            ax.set_title(titles[label], fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    fig.savefig("random_flows.png", dpi=110)
    print("Saved random_flows.png")


if __name__ == "__main__":
    main(**SETTINGS)
