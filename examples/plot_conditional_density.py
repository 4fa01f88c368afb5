"""
Conditional densities and simulation-based inference
=====================================================

:class:`skflows.FlowRegressor` models the whole distribution of a target given the
features, ``p(y | x)``, with a conditional normalizing flow. Three experiments:

1. **Heteroscedastic regression** (diamonds: price given carat): 5-95 % prediction
   bands that widen with the carat, next to a homoscedastic Gaussian regressor's.
2. **A bimodal conditional** (Old Faithful: eruption duration given the waiting
   time): ``exp(log_prob)`` as a heat map over (waiting, duration), beside the single
   Gaussian a least-squares regressor implies; held-out log-likelihoods in the titles.
3. **Neural posterior estimation** (sbibm's two-moons task): fit on 10 000
   simulations ``(x, theta)`` with ``X = x`` and ``y = theta`` and the prior's box as
   ``target_bounds``; ``sample_y(x_obs)`` draws from the posterior, shown next to the
   exact posterior samples.

It saves ``conditional_density.png`` and prints the log-likelihoods and the C2ST of the
posterior.

Run: ``python examples/plot_conditional_density.py`` (a few minutes on 2 CPU cores).
With ``SKFLOWS_EXAMPLE_QUICK=1`` (as in the documentation build) the data are smaller
and the models train for a few epochs only.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skflows import FlowRegressor  # noqa: E402
from skflows.datasets import load_diamonds, load_faithful, make_sbi_task  # noqa: E402
from skflows.metrics import c2st  # noqa: E402

SEED = 0
#: Quick mode (documentation build): smaller data, few epochs.
QUICK = os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") not in ("", "0")
EPOCHS = 5 if QUICK else 200
N_DIAMONDS = 2000 if QUICK else 20000
N_SIMULATIONS = 2000 if QUICK else 10000

fig, axes = plt.subplots(1, 5, figsize=(22, 4.2))

# %%
# Heteroscedastic regression: diamond prices given the carat
# ----------------------------------------------------------
# The spread of the price grows with the carat. The flow's 90 % band follows it; a
# least-squares line with one residual variance cannot.

diamonds = load_diamonds()
rng = np.random.RandomState(SEED)
rows = rng.choice(len(diamonds.data), N_DIAMONDS, replace=False)
carat = diamonds.data[rows, :1]
price = np.exp(diamonds.target[rows]) / 1000  # thousands of USD
c_train, c_test, p_train, p_test = train_test_split(carat, price, random_state=SEED)
bands = FlowRegressor(hidden_dims=(64, 64), max_epochs=EPOCHS, target_bounds=(0, np.inf),
                      random_state=SEED).fit(c_train, p_train)
line = LinearRegression().fit(c_train, p_train)
sigma = np.std(p_train - line.predict(c_train))
grid = np.linspace(carat.min(), np.quantile(carat, 0.995), 200)[:, None]
low, high = bands.predict_interval(grid, coverage=0.9).T
gauss_ll = norm.logpdf(p_test, line.predict(c_test), sigma).mean()
print(f"diamonds: test log-likelihood per stone, FlowRegressor {bands.score(c_test, p_test):.3f}"
      f", homoscedastic Gaussian {gauss_ll:.3f} nats")
ax = axes[0]
ax.scatter(c_test[:1500, 0], p_test[:1500], s=2, color="0.6", label="test stones")
ax.fill_between(grid[:, 0], low, high, color="C0", alpha=0.3, label="FlowRegressor 90 %")
ax.plot(grid[:, 0], bands.predict(grid), color="C0", lw=1.5, label="conditional mean")
lin = line.predict(grid)
ax.plot(grid[:, 0], lin - 1.645 * sigma, "k--", lw=1, label="Gaussian 90 %")
ax.plot(grid[:, 0], lin + 1.645 * sigma, "k--", lw=1)
ax.set_xlabel("carat")
ax.set_ylabel("price (1000 USD)")
ax.set_ylim(0, 20)
ax.set_title("diamonds: price given carat", fontsize=10)
ax.legend(fontsize=7, loc="upper left")

# %%
# A bimodal conditional: Old Faithful
# -----------------------------------
# After a wait of about 70 minutes both short and long eruptions happen: the
# conditional density of the duration has two modes, which a Gaussian regressor
# averages into one.

waiting, duration = load_faithful(return_X_y=True)
w_train, w_test, d_train, d_test = train_test_split(waiting, duration, test_size=0.25,
                                                    random_state=SEED)
geyser = FlowRegressor(hidden_dims=(32, 32), n_layers=4, max_epochs=EPOCHS * 2,
                       batch_size=64, random_state=SEED).fit(w_train, d_train)
fit_line = LinearRegression().fit(w_train, d_train)
spread = np.std(d_train - fit_line.predict(w_train))
W, D = np.meshgrid(np.linspace(42, 98, 120), np.linspace(1.2, 5.6, 120))
flow_map = np.exp(geyser.log_prob(W.reshape(-1, 1), D.ravel())).reshape(W.shape)
gauss_map = norm.pdf(D, fit_line.predict(W.reshape(-1, 1)).reshape(W.shape), spread)
flow_ll = geyser.score(w_test, d_test)
line_ll = norm.logpdf(d_test, fit_line.predict(w_test), spread).mean()
print(f"faithful: test log-likelihood per eruption, FlowRegressor {flow_ll:.3f}, "
      f"homoscedastic Gaussian {line_ll:.3f} nats")
for ax, density, title in [(axes[1], flow_map, f"FlowRegressor ({flow_ll:.2f} nats)"),
                           (axes[2], gauss_map, f"Gaussian regressor ({line_ll:.2f} nats)")]:
    ax.pcolormesh(W, D, density, cmap="viridis", shading="auto",
                  vmax=np.quantile(density, 0.99))  # a sharp ridge would wash out the rest
    ax.scatter(waiting[:, 0], duration, s=5, color="w", alpha=0.7)
    ax.set_xlabel("waiting time (min)")
    ax.set_ylabel("eruption duration (min)")
    ax.set_title(f"p(duration | waiting): {title}", fontsize=10)

# %%
# Neural posterior estimation on two moons
# ----------------------------------------
# Simulations ``theta ~ prior``, ``x ~ simulator(theta)``; the regressor learns
# ``p(theta | x)`` for every ``x`` at once (amortised). ``target_bounds`` is the prior's
# box, so no posterior sample leaves it.

task = make_sbi_task("two_moons")
theta = task.sample_prior(N_SIMULATIONS, random_state=SEED)
x = task.simulate(theta, random_state=SEED + 1)
npe = FlowRegressor(hidden_dims=(64, 64), max_epochs=EPOCHS, target_bounds=task.bounds,
                    random_state=SEED).fit(x, theta)
theta_true = np.array([0.2, 0.1])
x_obs = task.simulate(theta_true[None], random_state=SEED + 2)
posterior = npe.sample_y(x_obs, n_samples=2000, random_state=SEED)[0].T  # (2000, 2)
reference = task.sample_posterior(x_obs[0], 2000, random_state=SEED)
print(f"two moons: C2ST of the posterior against the exact one "
      f"{c2st(posterior, reference):.3f} (0.5 = indistinguishable)")
for ax, points, color, title in [(axes[3], reference, "0.3", "exact posterior"),
                                 (axes[4], posterior, "C3", "FlowRegressor (NPE) posterior")]:
    ax.scatter(*points.T, s=1, color=color, alpha=0.4)
    ax.plot(*theta_true, "k+", ms=12, mew=2, label="true theta")
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("theta_1")
    ax.set_ylabel("theta_2")
    ax.set_title(f"two moons: {title}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")

fig.tight_layout()
fig.savefig("conditional_density.png", dpi=110)
