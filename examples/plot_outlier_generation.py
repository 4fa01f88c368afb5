"""
Synthetic outliers from a flow's latent tails, and a discriminator trained on them
===================================================================================

A normalizing flow maps data to an (approximately) standard-normal latent whose tails are
known exactly. :class:`skflows.FlowOutlierGenerator` draws latent points where the
training data rarely go, maps them back through the flow (plausible but atypical
synthetic outliers), and trains a discriminator, training data against these outliers
(and against samples of the flow itself). Its default score is the flow's log-density
corrected by the discriminator.

1. **Two moons**: the outliers of the two tail samplers, ``"shell"`` (radii uniform
   between the 0.99 and 0.9999 quantiles of the chi distribution of the latent norm) and
   ``"extreme"`` (radii distributed as the largest norm among as many standard-normal
   draws as there are training rows), with the detector's score as a colour map and its
   decision boundary (``decision_function = 0``, contamination 5 %).
2. **Handwritten digits** (UCI optical digits, 8x8): a flow fitted to the digits 0-4;
   a grid of generated "atypical digits" from the latent shell next to real ones, and the
   ROC-AUC of the flow's likelihood and of the detector against the unseen digits 5-9.

It saves ``outlier_generation_moons.png`` and ``outlier_generation_digits.png``.

Run: ``python examples/plot_outlier_generation.py`` (a few minutes on 2 CPU cores). With
``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the flows train for a few
epochs on fewer rows, so the figures only hint at the real result.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skflows import FlowDensity, FlowOutlierGenerator  # noqa: E402
from skflows.datasets import dequantize, load_optdigits, make_two_moons  # noqa: E402

QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
SEED = 0
N_MOONS = 600 if QUICK else 2000
FLOW_EPOCHS = 15 if QUICK else 150
DISC_EPOCHS = 10 if QUICK else 100
DIGIT_FLOW_EPOCHS = 5 if QUICK else 100
N_DIGITS = 600 if QUICK else None  # None: every training image of the digits 0-4

# %%
# Two moons
# ---------
# One flow, shared by the two detectors through ``FrozenEstimator`` (a prefit flow is used
# as is). The shell sits well outside the moons; the "extreme" outliers hug them, as far
# out as the most extreme of 2000 training points would be.

X = make_two_moons(N_MOONS, random_state=SEED).astype(np.float32)
flow = FlowDensity(hidden_dims=(64, 64), max_epochs=FLOW_EPOCHS, device="cpu",
                   random_state=SEED).fit(X)
detectors = {
    method: FlowOutlierGenerator(FrozenEstimator(flow), method=method, contamination=0.05,
                                 max_epochs=DISC_EPOCHS, device="cpu",
                                 random_state=SEED).fit(X)
    for method in ("shell", "extreme")
}

lo, hi = X.min(axis=0) - 1.5, X.max(axis=0) + 1.5
gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
fig, axes = plt.subplots(1, 2, figsize=(12, 5))
for ax, (method, det) in zip(axes, detectors.items()):
    score = det.score_samples(grid).reshape(gx.shape)
    levels = np.linspace(det.offset_ - 15, score.max(), 20)
    ax.contourf(gx, gy, np.clip(score, levels[0], None), levels=levels, cmap="Blues")
    ax.contour(gx, gy, det.decision_function(grid).reshape(gx.shape), levels=[0],
               colors="k", linewidths=2)
    ax.scatter(*X[:800].T, s=3, c="0.3", label="training data")
    X_out = det.sample(400, random_state=SEED)
    ax.scatter(*X_out.T, s=6, c="tab:red", label=f"generated ({method})")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_title(f'method="{method}": score (blue) and decision boundary (black)')
    ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
fig.savefig("outlier_generation_moons.png", dpi=110)

# %%
# Atypical digits
# ---------------
# A flow on the dequantised digits 0-4 (64 dimensions). The latent norm of 64-D
# standard-normal points concentrates near 8 (the chi distribution with 64 degrees of
# freedom has standard deviation 0.71); the shell outliers have norms between its
# 0.99 and 0.9999 quantiles (9.8 to 10.9). Decoded, they look like exaggerated,
# noisy digits. The detector and the likelihood are then scored on the unseen digits
# 5-9 (ROC-AUC, held-out digits 0-4 as inliers).

digits = load_optdigits()
Xd = dequantize(digits.data, levels=17, random_state=SEED).astype(np.float32)
low_digit = digits.target <= 4
train = Xd[~digits.is_test & low_digit]
test_in, test_out = Xd[digits.is_test & low_digit], Xd[digits.is_test & ~low_digit]
if N_DIGITS is not None:
    train, test_in, test_out = train[:N_DIGITS], test_in[:300], test_out[:300]
digit_flow = FlowDensity(flow="realnvp", n_layers=6, hidden_dims=(128, 128),
                         max_epochs=DIGIT_FLOW_EPOCHS, device="cpu",
                         random_state=SEED).fit(train)
digit_det = FlowOutlierGenerator(FrozenEstimator(digit_flow), max_epochs=DISC_EPOCHS,
                                 discriminator_hidden_dims=(128, 128), device="cpu",
                                 random_state=SEED).fit(train)

y = np.r_[np.zeros(len(test_in)), np.ones(len(test_out))]
X_test = np.vstack([test_in, test_out])
auc_flow = roc_auc_score(y, -digit_flow.score_samples(X_test))
auc_det = roc_auc_score(y, -digit_det.score_samples(X_test))
auc_logit = roc_auc_score(y, -digit_det.discriminator_logit(X_test))
print(f"digits 5-9 vs held-out 0-4, ROC-AUC: flow likelihood {auc_flow:.3f}, "
      f"FlowOutlierGenerator {auc_det:.3f}, discriminator logit alone {auc_logit:.3f}")

generated = digit_det.sample(24, random_state=SEED)
real = train[np.random.RandomState(SEED).choice(len(train), 8, replace=False)]
fig, axes = plt.subplots(4, 8, figsize=(9, 5.2))
for ax, image in zip(axes.ravel(), np.vstack([real, generated])):
    ax.imshow(np.clip(image, 0, 1).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("real", fontsize=9)
for row in range(1, 4):
    axes[row, 0].set_ylabel("generated", fontsize=9)
fig.suptitle(f"Real digits 0-4 (top row) and atypical digits from the latent shell\n"
             f"ROC-AUC on digits 5-9: likelihood {auc_flow:.3f}, "
             f"detector {auc_det:.3f}, logit alone {auc_logit:.3f}", fontsize=10)
fig.tight_layout()
fig.savefig("outlier_generation_digits.png", dpi=110)
