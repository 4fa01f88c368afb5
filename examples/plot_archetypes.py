"""
Archetypal analysis on curved data with DeepArchetypes
=======================================================

Archetypal analysis writes every sample as a convex mixture of a few extreme "pure
types", the archetypes. Linear archetypal analysis (Cutler & Breiman 1994; here the
``archetypes`` package) mixes the archetypes along straight lines in the input space, so
on curved data a straight simplex either covers empty space where the data bend inwards
or, as here, shrinks inside the data and misses their corners and bulges.
:class:`skflows.DeepArchetypes` mixes them in the latent space of a normalizing flow:
straight lines there are curves in the data space, and every mixture maps back exactly
through the flow's inverse.

1. **A warped triangle** (:func:`skflows.datasets.make_warped_triangle`): the corners of
   a triangle, mixed with Dirichlet weights, then bent by a smooth bijection. The true
   archetypes (stars) and the support of the data (black curve) are known exactly. Each
   panel shows the archetypes a method finds, the edges of its simplex (the mixtures of
   two archetypes) and 2000 random mixtures (Dirichlet(1) weights).
2. **Handwritten digits** (UCI optical digits, 8x8): the archetypes of both methods
   with ``k = 6``, and a grid of samples drawn with Dirichlet(0.7) weights, which favour
   mixtures near the archetypes and edges (the extreme samples of Keller et al. 2021).

It saves ``archetypes_warped_triangle.png``, ``archetypes_digits.png`` and
``archetypes_digit_samples.png``.

Run: ``python examples/plot_archetypes.py`` (about 5-10 minutes on 2 CPU cores). With
``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the models train for a few
epochs on fewer rows, so the figures only hint at the real result.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skflows import DeepArchetypes  # noqa: E402
from skflows.datasets import (dequantize, load_optdigits, make_warped_triangle,  # noqa: E402
                              warped_triangle_barycentric, warped_triangle_boundary)

try:
    from archetypes import AA
except ImportError:  # the linear peer is optional: pip install archetypes
    AA = None

QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
SEED = 0
N_TRIANGLE = 600 if QUICK else 2000
TRIANGLE_EPOCHS = 15 if QUICK else 200
DIGIT_EPOCHS = 3 if QUICK else 60
N_DIGITS = 800 if QUICK else None  # None: the whole UCI training part


def linear_aa(X, k):
    """Linear archetypal analysis: archetypes and a function giving coefficients."""
    if AA is None:
        print("archetypes is not installed (pip install archetypes): "
              "the linear AA panels are left out")
        return None
    model = AA(k, init="furthest_sum", max_iter=300 if QUICK else 1000,
               random_state=SEED).fit(X)
    return model


def in_support(points):
    return np.mean(warped_triangle_barycentric(points).min(axis=1) >= 0)


# %%
# A warped triangle
# -----------------
# Linear archetypal analysis and DeepArchetypes, both with three archetypes, on the same
# 2000 points. Linear archetypal analysis keeps its straight triangle inside the bent
# sides, so its archetypes miss the corners and its bottom edge misses the data that sag
# below it; DeepArchetypes' edges are the images of straight latent segments and follow
# the curved boundary, with the archetypes on the corners.

X, _, true_archetypes = make_warped_triangle(N_TRIANGLE, random_state=SEED)
X = X.astype(np.float32)
boundary = warped_triangle_boundary(200)
deep = DeepArchetypes(n_archetypes=3, max_epochs=TRIANGLE_EPOCHS, device="cpu",
                      random_state=SEED).fit(X)
linear = linear_aa(X, 3)

t = np.linspace(0.0, 1.0, 100)[:, None]
pairs = [(0, 1), (1, 2), (2, 0)]
weights = np.random.RandomState(SEED).dirichlet(np.ones(3), 2000)

panels = [("DeepArchetypes", deep.archetypes_,
           [deep.inverse_transform((1 - t) * np.eye(3)[i] + t * np.eye(3)[j])
            for i, j in pairs],
           deep.sample(2000, concentration=1.0, random_state=SEED),
           deep.reconstruction_error(X).mean())]
if linear is not None:
    L = linear.archetypes_
    panels.insert(0, ("linear AA", L, [(1 - t) * L[i] + t * L[j] for i, j in pairs],
                      weights @ L,
                      ((X - linear.transform(X) @ L) ** 2).sum(1).mean()))

fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), sharex=True,
                         sharey=True, squeeze=False)
for ax, (name, archetypes, edges, mixtures, error) in zip(axes[0], panels):
    ax.scatter(*X.T, s=3, c="0.75", label="data")
    ax.plot(*boundary.T, c="k", lw=1, label="support of the data")
    ax.scatter(*mixtures.T, s=2, c="tab:blue", alpha=0.35, label="random mixtures")
    for edge in edges:
        ax.plot(*edge.T, c="tab:red", lw=2)
    ax.scatter(*true_archetypes.T, marker="*", s=250, c="gold", edgecolor="k", zorder=5,
               label="true archetypes")
    ax.scatter(*archetypes.T, marker="o", s=80, c="tab:red", edgecolor="k", zorder=6,
               label="found archetypes")
    ax.set_title(f"{name}\nreconstruction error {error:.4f}, "
                 f"mixtures in support {100 * in_support(mixtures):.0f}%")
    ax.set_aspect("equal")
axes[0, 0].legend(loc="upper right", fontsize=8)
fig.tight_layout()
fig.savefig("archetypes_warped_triangle.png", dpi=110)

for name, archetypes, _, mixtures, error in panels:
    print(f"{name:15s} reconstruction error {error:.4f}  archetypes\n{np.round(archetypes, 3)}")

# %%
# Handwritten digits
# ------------------
# Six archetypes of the UCI optical digits (8x8 images of pixel counts 0..16,
# dequantised to ``[0, 1)``). Linear archetypes are convex combinations of images, so
# they are often blurred superpositions; the flow's archetypes are decoded single
# points of its latent space. The reconstruction error is that of the 1797 test images.

digits = load_optdigits()
Xd = dequantize(digits.data, levels=17, random_state=SEED).astype(np.float32)
train, test = Xd[~digits.is_test], Xd[digits.is_test]
if N_DIGITS is not None:
    train, test = train[:N_DIGITS], test[:N_DIGITS // 2]
k = 6
deep_digits = DeepArchetypes(n_archetypes=k, flow="realnvp", n_layers=6,
                             hidden_dims=(128, 128), max_epochs=DIGIT_EPOCHS,
                             device="cpu", random_state=SEED).fit(train)
linear_digits = linear_aa(train, k)

rows = [("DeepArchetypes", deep_digits.archetypes_,
         deep_digits.reconstruction_error(test).mean())]
if linear_digits is not None:
    rows.insert(0, ("linear AA", linear_digits.archetypes_,
                    ((test - linear_digits.transform(test) @ linear_digits.archetypes_)
                     ** 2).sum(1).mean()))
fig, axes = plt.subplots(len(rows), k, figsize=(1.6 * k, 2.0 * len(rows)), squeeze=False)
for r, (name, archetypes, error) in enumerate(rows):
    for j in range(k):
        ax = axes[r, j]
        ax.imshow(archetypes[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(f"{name}\ntest error {error:.2f}", fontsize=9)
fig.suptitle(f"{k} archetypes of the optical digits")
fig.tight_layout()
fig.savefig("archetypes_digits.png", dpi=110)

# %%
# Dirichlet samples
# -----------------
# Weights drawn from Dirichlet(0.7) sit mostly near the archetypes and the edges of the
# simplex; decoded through the flow they give extreme (but in-support) digits. Each image
# is titled with its largest weight and that archetype's index.

samples, weights = deep_digits.sample(40, concentration=0.7, random_state=SEED,
                                      return_coefficients=True)
fig, axes = plt.subplots(5, 8, figsize=(9, 6.2))
for ax, image, w in zip(axes.ravel(), samples, weights):
    ax.imshow(np.clip(image, 0, 1).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{w.max():.2f} on {w.argmax()}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("DeepArchetypes: samples with Dirichlet(0.7) weights")
fig.tight_layout()
fig.savefig("archetypes_digit_samples.png", dpi=110)
