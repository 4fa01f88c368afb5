"""
Cramér-Wold autoencoder: a Gaussian latent for MNIST digits
===========================================================

A plain autoencoder learns a latent code but no way to sample it: its codes fill an
irregular region, and decoding draws from ``N(0, I)`` gives mostly garbage. The
Cramér-Wold autoencoder (:class:`skflows.CWAutoencoder`) adds to the reconstruction
error the log of the Cramér-Wold distance between each mini-batch of codes and
``N(0, I)``, computed in closed form, so the decoder becomes a generator.

Both models below have the same architecture (encoder and decoder with three hidden
layers of 200 units, a 2-D latent, sigmoid output) and the same training; the plain
autoencoder is ``CWAutoencoder(lambda_=0)``. The first figure shows the test digits in
each latent space, coloured by class, over the circles of radius 1, 2 and 3 of
``N(0, I)``; the second the decoded draws ``z ~ N(0, I)``; the third the two cost terms
per epoch, as recorded in ``history_``.

Run: ``python examples/plot_cw_autoencoder.py`` (a few minutes on 2 CPU cores). With
``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the models see 1500 images
for a few epochs, so the figures only hint at the real result.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skflows import CWAutoencoder  # noqa: E402
from skflows.datasets import load_mnist5k  # noqa: E402
from skflows.metrics import cw_normality_index  # noqa: E402

#: Quick mode (documentation build): fewer images and epochs.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
N_TRAIN, MAX_EPOCHS = (1500, 15) if QUICK else (4000, 80)

X, y = load_mnist5k(return_X_y=True)
X = X / np.float32(255.0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000, stratify=y,
                                                    random_state=0)
X_train = X_train[:N_TRAIN]

params = dict(n_components=2, encoder_hidden_dims=(200, 200, 200),
              decoder_hidden_dims=(200, 200, 200), output_activation="sigmoid",
              standardize=False, max_epochs=MAX_EPOCHS, batch_size=128, random_state=0)
models = {"Cramér-Wold autoencoder": CWAutoencoder(**params).fit(X_train),
          "plain autoencoder (lambda_=0)": CWAutoencoder(lambda_=0.0, **params).fit(X_train)}

for name, est in models.items():
    Z = est.transform(X_test)
    print(f"{name:30s} test reconstruction error {-est.score(X_test):6.2f}, "
          f"CW index of test codes {cw_normality_index(Z):.4f}, epochs {est.n_iter_}")

# %%
# Latent spaces
# -------------
# The CWAE's codes fill the standard normal's disc; the plain autoencoder's codes spread
# over an irregular region of arbitrary scale (tens of units wide).

fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
theta = np.linspace(0, 2 * np.pi, 200)
for ax, (name, est) in zip(axes, models.items()):
    Z = est.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=6, vmin=-0.5,
                        vmax=9.5)
    for radius in (1, 2, 3):
        ax.plot(radius * np.cos(theta), radius * np.sin(theta), color="0.3", lw=0.8,
                ls="--")
    ax.set_title(f"{name}\nCW index {cw_normality_index(Z):.4f}")
    ax.set_aspect("equal", adjustable="datalim")
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
fig.savefig("cw_autoencoder_latent.png", dpi=110)

# %%
# Decoded draws from N(0, I)
# --------------------------
# ``sample`` decodes draws from the standard normal. For the CWAE these are digits of
# every class; for the plain autoencoder they cover only the small part of its code
# region around the origin, so a few classes dominate.

fig, axes = plt.subplots(1, 2, figsize=(11, 6))
for ax, (name, est) in zip(axes, models.items()):
    images = est.sample(100, random_state=1).reshape(10, 10, 28, 28)
    ax.imshow(images.transpose(0, 2, 1, 3).reshape(280, 280), cmap="gray_r", vmin=0,
              vmax=1)
    ax.set_title(f"{name}: decoded z ~ N(0, I)")
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
fig.savefig("cw_autoencoder_samples.png", dpi=110)

# %%
# Both cost terms per epoch
# -------------------------
# ``history_`` records the reconstruction error and the CW index of the mini-batches'
# codes for every epoch (training and validation rows).

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, est in models.items():
    epochs = [row["epoch"] for row in est.history_]
    axes[0].plot(epochs, [row["valid_reconstruction"] for row in est.history_], label=name)
    axes[1].plot(epochs, [row["valid_cw_index"] for row in est.history_], label=name)
axes[0].set(xlabel="epoch", ylabel="validation reconstruction error")
axes[1].set(xlabel="epoch", ylabel="validation CW index", yscale="log")
axes[1].legend()
fig.tight_layout()
fig.savefig("cw_autoencoder_history.png", dpi=110)
print("Saved cw_autoencoder_latent.png, cw_autoencoder_samples.png, "
      "cw_autoencoder_history.png")
