"""
Learning a manifold and a density on it
=======================================

:class:`skflows.ManifoldFlow` (M-flow; Brehmer & Cranmer, NeurIPS 2020) learns a curved
``n``-dimensional manifold in ``R^D`` as the image of a flow, a chart to coordinates on
it (``transform`` / ``inverse_transform``), the projection of any point onto it
(``project``) and a normalised density on it (``manifold_log_prob``, ``sample``).

Three experiments:

1. **Gaussian on a circle** (1-D manifold in ``R^2``, radial noise 0.01): the learned
   curve, samples drawn from the model, and the projection of noisy points onto the
   learned curve, next to PCA's straight line.
2. **Gaussian on a sphere** (2-D manifold in ``R^3``): data and samples, coloured by the
   learned on-manifold log-density.
3. **COIL-20** (real images): each object's 72 turntable views lie on a closed loop in
   pixel space. After a PCA to 8 dimensions, a 1-D ManifoldFlow per object gives a
   coordinate along the loop, shown against the rotation angle.

It saves ``manifold_flow_circle.png``, ``manifold_flow_sphere.png`` and
``manifold_flow_coil20.png`` and prints the distances to the true manifolds.

Run: ``python examples/plot_manifold_flow.py`` (a few minutes on 2 CPU cores). With
``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the data sets are smaller and
the models train for a few epochs only, so the manifolds are not the converged ones.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from skflows import ManifoldFlow  # noqa: E402
from skflows.datasets import (  # noqa: E402
    circle_distance,
    load_coil20,
    make_gaussian_on_circle,
    make_gaussian_on_sphere,
    sphere_distance,
)

SEED = 0
#: Quick mode (documentation build): smaller data sets, few epochs.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
N_CIRCLE = 1000 if QUICK else 10000
N_SPHERE = 1000 if QUICK else 10000
EPOCHS_TOY = 6 if QUICK else 60
EPOCHS_COIL = 20 if QUICK else 300
COIL_OBJECTS = [0, 1, 2, 3]

# %%
# Gaussian on a circle
# --------------------
# ``n_components=1``: the outer flow maps the plane so that the data's arc becomes a
# line, the inner flow puts a density on that line. Training alternates manifold
# epochs (reconstruction error) and density epochs (likelihood of the coordinates).

X = make_gaussian_on_circle(N_CIRCLE, random_state=SEED)
circle = ManifoldFlow(n_components=1, max_epochs=EPOCHS_TOY, n_iter_no_change=EPOCHS_TOY,
                      random_state=SEED).fit(X)
samples = circle.sample(1000, random_state=SEED)
print(f"circle: mean distance of the data to the circle {circle_distance(X).mean():.4f}, "
      f"of the model's samples {circle_distance(samples).mean():.4f}")

u = np.linspace(-3.5, 3.5, 400)[:, None]
curve = circle.inverse_transform(u)
noisy = make_gaussian_on_circle(40, noise=0.15, random_state=SEED + 1)
projected = circle.project(noisy)
pca = PCA(1).fit(X)
line = pca.inverse_transform(np.linspace(-2, 2, 2)[:, None])

fig, axes = plt.subplots(1, 3, figsize=(13, 4.3), sharex=True, sharey=True)
axes[0].scatter(*X[:2000].T, s=2, alpha=0.4, label="data")
axes[0].plot(*curve.T, color="C3", lw=1.5, label="learned manifold")
axes[0].plot(*line.T, color="k", ls="--", lw=1, label="PCA line")
axes[0].set_title("data and learned 1-D manifold")
axes[1].scatter(*samples.T, s=2, color="C2", alpha=0.5)
axes[1].set_title("samples from ManifoldFlow")
axes[2].plot(*curve.T, color="C3", lw=1)
for a, b in zip(noisy, projected):
    axes[2].annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", lw=0.7))
axes[2].scatter(*noisy.T, s=8, color="k", label="noisy points")
axes[2].set_title("projection onto the manifold")
for ax in axes:
    ax.set_aspect("equal")
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.3, 1.5)
axes[0].legend(loc="lower center", fontsize=8)
fig.tight_layout()
fig.savefig("manifold_flow_circle.png", dpi=110)

# %%
# Gaussian on a sphere
# --------------------
# ``n_components=2`` in ``R^3``. Colour: the learned log-density on the manifold
# (``manifold_log_prob``) of the data and of the samples.

S = make_gaussian_on_sphere(N_SPHERE, random_state=SEED)
sphere = ManifoldFlow(n_components=2, max_epochs=EPOCHS_TOY, n_iter_no_change=EPOCHS_TOY,
                      random_state=SEED).fit(S)
sphere_samples = sphere.sample(2000, random_state=SEED)
print(f"sphere: mean distance of the data to the sphere {sphere_distance(S).mean():.4f}, "
      f"of the model's samples {sphere_distance(sphere_samples).mean():.4f}")

fig = plt.figure(figsize=(10, 4.6))
for i, (points, title) in enumerate([(S[:2000], "data"),
                                     (sphere_samples, "samples from ManifoldFlow")]):
    ax = fig.add_subplot(1, 2, i + 1, projection="3d")
    sc = ax.scatter(*points.T, s=2, c=sphere.manifold_log_prob(points), cmap="viridis")
    ax.set_title(title)
    ax.view_init(elev=25, azim=-60)
    ax.set_box_aspect((1, 1, 1))
fig.colorbar(sc, ax=fig.axes, shrink=0.7, label="learned log-density on the manifold")
fig.savefig("manifold_flow_sphere.png", dpi=110)

# %%
# COIL-20: one coordinate along each object's turntable loop
# ----------------------------------------------------------
# For each of four objects, a PCA of its 72 views to 8 dimensions, then a 1-D
# ManifoldFlow. The plot shows the learned coordinate (``transform``) against the
# rotation angle: neighbouring views get neighbouring coordinates, and the learned
# curve passes much closer to the views than PCA's best line (mean squared
# reconstruction error in the 8-D PCA space, in the titles). A closed loop cannot be
# covered by one coordinate without a cut or a fold, and the chart shows where it puts
# them: the coordinate is piecewise monotone in the angle.

coil = load_coil20()
fig, axes = plt.subplots(1, len(COIL_OBJECTS), figsize=(14, 3.6))
for ax, k in zip(axes, COIL_OBJECTS):
    views = coil.data[coil.target == k]
    angle = coil.angle_deg[coil.target == k]
    pipe = make_pipeline(PCA(8, random_state=SEED),
                         ManifoldFlow(n_components=1, max_epochs=EPOCHS_COIL,
                                      n_iter_no_change=EPOCHS_COIL, batch_size=16,
                                      validation_fraction=0.0, random_state=SEED))
    coordinate = pipe.fit_transform(views)[:, 0]
    Z = pipe[0].transform(views)
    mf_error = pipe[-1].reconstruction_error(Z).mean()
    pca1_error = (Z[:, 1:] ** 2).sum(1).mean()
    print(f"coil20 object {k}: mean squared reconstruction error (PCA-8 space) "
          f"ManifoldFlow(1) {mf_error:.2f}, PCA(1) {pca1_error:.2f}")
    ax.scatter(angle, coordinate, c=angle, cmap="twilight", vmin=0, vmax=360, s=14)
    ax.set_xlabel("rotation angle (degrees)")
    ax.set_title(f"object {k}: error {mf_error:.1f} (PCA(1): {pca1_error:.1f})",
                 fontsize=9)
axes[0].set_ylabel("learned coordinate u")
fig.tight_layout()
fig.savefig("manifold_flow_coil20.png", dpi=110)
