"""Clustering quality and cost of FlowMixtureClustering against GaussianMixture and KMeans.

Quality (markdown table, mean +- standard deviation over ``--seeds``): every model gets
the same ``K`` and the same rows; the seed changes the toy data, the dequantisation
noise and every model's initialisation.

* ``FlowMixtureClustering`` with the per-data-set architecture in ``FLOW_CONFIGS``;
* ``GaussianMixture`` (full covariances, scikit-learn defaults, so one k-means
  initialisation) with the same ``K``, and the best of 10 initialisations;
* ``KMeans`` (``n_init=10``) with the same ``K`` (no density, so no log-likelihood).

Data sets (the experiments of Pires & Figueiredo 2020 and the thesis):

* ``pinwheel``: 5 wings, 2560 training points, the paper's parameters
  (``radial_std=0.3, tangential_std=0.05, rate=0.4``); ``pinwheel_ffjord``: the same
  with :func:`skflows.datasets.make_pinwheel`'s defaults (``tangential_std=0.1,
  rate=0.25``, the FFJORD toy); 2560 fresh points as test set.
* ``circles``: two concentric rings, 1056 points, no labels (the method's known
  failure: it splits the plane into halves); ``circles_16``: the same with 16 labels
  per class (32 in all; ``y = -1`` elsewhere). GaussianMixture and KMeans get no labels.
* ``optdigits04``: UCI optical digits 0-4 (8x8 counts dequantised as ``(x + u) / 17``),
  fitted on the UCI training part and evaluated on the UCI test part, as the thesis's
  MNIST 0-4 experiment; the row-normalised contingency table (true digit x matched
  cluster) is printed for seed 0.
* ``penguins``: Palmer penguins (4 measurements, 3 species), all 342 rows (no test
  split; the log-likelihood is in-sample).

Metrics: adjusted Rand index (ARI) on the training rows (``labels_``) and on the test
rows (``predict``), clustering accuracy after Hungarian matching of clusters to classes
(``scipy.optimize.linear_sum_assignment``), test mean log-likelihood (nats per row, in
the units of the data), fit time.

Cost: seconds per training epoch of ``FlowMixtureClustering`` with K = 1, 5, 10
components relative to one ``FlowDensity`` of the same architecture (same flow, layers,
hidden widths, batch size, data), measured interleaved in one process (median over
rounds), so that the load of a shared machine hits both alike.

Real data (``--sections real``): data sets with known groups, each model with the ``K``
of its known groups, an 80/20 split stratified by group (the seed draws it):

* ``wine``: scikit-learn's wine data (178 x 13, 3 cultivars), standardised;
* ``penguins``: Palmer penguins (342 x 4, 3 species), standardised;
* ``crabs``: Leptograpsus crabs (200 x 5, K = 4 groups species x sex), standardised;
* ``optdigits04``: UCI optical digits 0-4, both UCI files (2822 x 64), counts dequantised
  as ``(x + u) / 17``;
* ``pendigits``: UCI pen digits, both files (10992 x 16, 10 digits), ``(x + u) / 101``;
* ``coil20``: COIL-20 (1440 x 1024, 20 objects), PCA to 32 inside a Pipeline;
* ``mnist04``: the digits 0-4 of the MNIST 5000 subset (2500 x 784), ``x / 255``, PCA to
  50 inside a Pipeline.

The scaler or PCA is fitted on the training rows inside each model's Pipeline, so every
model sees the same features. Models: ``KMeans(n_init=10)``, ``GaussianMixture`` (full
covariances, ``n_init=10``), the flow mixture's own starting mixture (the estimator fitted
with ``lr=0`` for one epoch: its initial components, nothing trained), and
``FlowMixtureClustering`` in the configurations of ``REAL_CONFIGS``. Metrics: adjusted
Rand index and normalised mutual information on *all* rows (the model is fitted on the
training rows and predicts every row; labels are never used in fitting), held-out
log-likelihood on the test rows (nats per row, in the units of the features the final
step sees: standardised, dequantised or PCA scores, the same for every model of a data
set), "changed": the share of all rows whose cluster differs from that of the same
estimator's starting mixture (after matching the cluster indices of the two
partitions), fit time, epochs, the seeds on which the starting mixture
was restored because no trained epoch beat it on the validation rows, and the smallest
mixture weight (component collapse).

Run: ``python benchmarks/bench_mixture.py`` (about 15-25 minutes on 2 CPU cores with 3
seeds); ``--datasets``, ``--seeds``, ``--sections quality timing matmul real`` select
parts (``matmul``: one batched product for five components against one component's
product, the operation whose cost grows with K at 64-D; ``real``: about 35 minutes for
5 seeds with ``--threads 1``, most of it pendigits).
"""

import argparse
import time
import warnings

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skflows import FlowDensity, FlowMixtureClustering
from skflows.datasets import (dequantize, load_coil20, load_crabs, load_mnist5k,
                              load_optdigits, load_pendigits, load_penguins, make_pinwheel,
                              make_two_circles)

#: Architecture of the component flows per data set (everything else: defaults).
FLOW_CONFIGS = {
    # The thesis's pinwheel components: RealNVP, 8 couplings, conditioners with 8 units.
    "pinwheel": dict(flow="realnvp", n_layers=8, hidden_dims=(8,), max_epochs=300,
                     batch_size=128),
    # A ring is a harder shape for a flow than a wing: spline couplings, more capacity.
    "circles": dict(flow="nsf", n_layers=6, hidden_dims=(32, 32), max_epochs=300,
                    batch_size=128),
    "optdigits04": dict(flow="realnvp", n_layers=4, hidden_dims=(16,), max_epochs=200,
                        batch_size=128),
    "penguins": dict(flow="realnvp", n_layers=4, hidden_dims=(16,), max_epochs=300,
                     batch_size=64),
}
FLOW_CONFIGS["pinwheel_ffjord"] = FLOW_CONFIGS["pinwheel"]
FLOW_CONFIGS["circles_16"] = FLOW_CONFIGS["circles"]
PAPER_PINWHEEL = dict(n_arms=5, radial_std=0.3, tangential_std=0.05, rate=0.4)
DATASETS = ("pinwheel", "pinwheel_ffjord", "circles", "circles_16", "optdigits04",
            "penguins")


#: Real data sets of ``--sections real`` (see the module docstring).
REAL_DATASETS = ("wine", "penguins", "crabs", "optdigits04", "pendigits", "coil20",
                 "mnist04")
#: FlowMixtureClustering on real data: one configuration for every data set (the
#: estimator's default architecture: RealNVP, 4 couplings with LU mixing, hidden (16, 16),
#: batch 256), with the start of a full-covariance Gaussian mixture and learned weights,
#: trained on the exact posterior or with the amortised q; "defaults" is the estimator
#: with its defaults (diagonal start on k-means clusters, amortised q, uniform weights).
REAL_CONFIGS = {
    "FMC exact": dict(posterior="exact", init_params="gmm", weight_prior="learned",
                      max_epochs=200),
    "FMC amortized": dict(posterior="amortized", init_params="gmm",
                          weight_prior="learned", max_epochs=200),
    "FMC defaults": dict(max_epochs=200),
}


def semi_supervised_labels(y, n_per_class, rng):
    """``n_per_class`` labels per class drawn at random, -1 (unlabeled) elsewhere."""
    y_semi = np.full_like(y, -1)
    for k in np.unique(y):
        y_semi[rng.choice(np.flatnonzero(y == k), n_per_class, replace=False)] = k
    return y_semi


def load(name, seed):
    """``(X_train, y_train, X_test or None, y_test, K, y_fit)`` for a data set name;
    ``y_fit`` is what ``FlowMixtureClustering.fit`` receives (None: unsupervised)."""
    rng = np.random.RandomState(seed)
    if name.startswith("pinwheel"):
        params = PAPER_PINWHEEL if name == "pinwheel" else dict(n_arms=5)
        X, y = make_pinwheel(2560, random_state=seed, return_labels=True, **params)
        Xt, yt = make_pinwheel(2560, random_state=seed + 1000, return_labels=True,
                               **params)
        return X, y, Xt, yt, 5, None
    if name.startswith("circles"):
        X, y = make_two_circles(1056, random_state=seed, return_labels=True)
        Xt, yt = make_two_circles(2000, random_state=seed + 1000, return_labels=True)
        y_fit = semi_supervised_labels(y, 16, rng) if name == "circles_16" else None
        return X, y, Xt, yt, 2, y_fit
    if name == "optdigits04":
        data = load_optdigits()
        keep = data.target < 5
        X = dequantize(data.data[keep], levels=17, random_state=seed)
        y, test = data.target[keep], data.is_test[keep]
        return X[~test], y[~test], X[test], y[test], 5, None
    if name == "penguins":
        X, y = load_penguins(return_X_y=True)
        return X, y, None, None, 3, None
    raise ValueError(f"unknown data set {name!r}")


def load_real(name, seed):
    """``(X, y, preprocessing step or None)`` of a real data set; the seed draws the
    dequantisation noise."""
    rng = np.random.RandomState(seed)
    if name == "wine":
        X, y = load_wine(return_X_y=True)
        return X, y, StandardScaler()
    if name == "penguins":
        X, y = load_penguins(return_X_y=True)
        return X, y, StandardScaler()
    if name == "crabs":
        X, y = load_crabs(return_X_y=True)
        return X, y, StandardScaler()
    if name == "optdigits04":
        X, y = load_optdigits(return_X_y=True)
        keep = y < 5
        return dequantize(X[keep], levels=17, random_state=seed), y[keep], None
    if name == "pendigits":
        X, y = load_pendigits(return_X_y=True)
        return (X + rng.uniform(size=X.shape)) / 101, y, None
    if name == "coil20":
        X, y = load_coil20(return_X_y=True)
        return X, y, PCA(32, random_state=seed)
    if name == "mnist04":
        X, y = load_mnist5k(return_X_y=True)
        keep = y < 5
        return X[keep].astype(np.float64) / 255, y[keep], PCA(50, random_state=seed)
    raise ValueError(f"unknown data set {name!r}")


def matched_accuracy(y, pred):
    """Accuracy after the one-to-one cluster-to-class matching that maximises it."""
    table = confusion_matrix(y, pred, labels=np.arange(max(y.max(), pred.max()) + 1))
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(y)


def contingency(y, pred):
    """Row-normalised contingency table with clusters reordered by the matching."""
    k = max(y.max(), pred.max()) + 1
    table = confusion_matrix(y, pred, labels=np.arange(k))
    _, cols = linear_sum_assignment(-table)
    table = table[:, cols]
    return table / table.sum(axis=1, keepdims=True)


def evaluate(name, seed):
    """One row of metrics per model for one data set and seed."""
    X, y, Xt, yt, K, y_fit = load(name, seed)
    models = {
        "FlowMixtureClustering": FlowMixtureClustering(
            n_components=K, random_state=seed, **FLOW_CONFIGS[name]),
        "GaussianMixture": GaussianMixture(K, random_state=seed),
        "GaussianMixture n_init=10": GaussianMixture(K, n_init=10, random_state=seed),
        "KMeans": KMeans(K, n_init=10, random_state=seed),
    }
    rows, predictions = {}, {}
    for model_name, model in models.items():
        start = time.perf_counter()
        if model_name == "FlowMixtureClustering":
            model.fit(X, y_fit)
        else:
            model.fit(X)
        seconds = time.perf_counter() - start
        pred = model.predict(X)
        row = {"ARI train": adjusted_rand_score(y, pred),
               "accuracy train": matched_accuracy(y, pred), "fit s": seconds}
        if Xt is not None:
            pred_t = model.predict(Xt)
            predictions[model_name] = pred_t
            row["ARI test"] = adjusted_rand_score(yt, pred_t)
            row["accuracy test"] = matched_accuracy(yt, pred_t)
        else:
            predictions[model_name] = pred
        if hasattr(model, "score_samples"):
            row["log-lik test" if Xt is not None else "log-lik train"] = \
                model.score(Xt if Xt is not None else X)
        if model_name == "FlowMixtureClustering":
            row["epochs"] = model.n_iter_
        rows[model_name] = row
    return rows, predictions, (yt if Xt is not None else y)


def fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} +- {np.std(values):.3f} (min {np.min(values):.3f})"


def quality(datasets, seeds):
    columns = ["ARI train", "ARI test", "accuracy train", "accuracy test", "log-lik test",
               "log-lik train", "fit s", "epochs"]
    print("\n## Clustering quality (mean +- std (min) over seeds "
          f"{', '.join(map(str, seeds))})\n")
    print("| data set | n_train x d | labels | model | " + " | ".join(columns) + " |")
    print("|---|---|---|---|" + "---|" * len(columns))
    tables, paired = {}, {}
    for name in datasets:
        results = {}
        for seed in seeds:
            rows, predictions, y_eval = evaluate(name, seed)
            for model_name, row in rows.items():
                results.setdefault(model_name, []).append(row)
            if seed == seeds[0] and name == "optdigits04":
                tables = {m: contingency(y_eval, p) for m, p in predictions.items()}
        X, _, _, _, _, y_fit = load(name, seeds[0])
        n_labels = 0 if y_fit is None else int((y_fit >= 0).sum())
        for model_name, rows in results.items():
            labels = n_labels if model_name == "FlowMixtureClustering" else 0
            cells = [fmt([r.get(c) for r in rows]) for c in columns]
            print(f"| {name} | {X.shape[0]}x{X.shape[1]} | {labels} | {model_name} | "
                  + " | ".join(cells) + " |", flush=True)
        paired[name] = results
    # Paired by seed (same rows, same seed): how often the flow mixture is ahead.
    print("\n## FlowMixtureClustering's accuracy against each peer, paired by seed "
          "(seeds where it is higher / all seeds; mean difference)\n")
    print("| data set | peer | accuracy train | accuracy test |")
    print("|---|---|---|---|")
    for name, results in paired.items():
        ours = results["FlowMixtureClustering"]
        for model_name, rows in results.items():
            if model_name == "FlowMixtureClustering":
                continue
            cells = []
            for column in ("accuracy train", "accuracy test"):
                if ours[0].get(column) is None:
                    cells.append("-")
                    continue
                diff = np.array([a[column] - b[column] for a, b in zip(ours, rows)])
                cells.append(f"{int((diff > 0).sum())}/{diff.size} ({diff.mean():+.3f})")
            print(f"| {name} | {model_name} | " + " | ".join(cells) + " |", flush=True)
    for model_name, table in tables.items():
        print(f"\n### optdigits 0-4, test part: row-normalised contingency table, "
              f"{model_name} (seed {seeds[0]})\n")
        print("| digit | " + " | ".join(f"cluster {j}" for j in range(table.shape[1]))
              + " |")
        print("|---|" + "---|" * table.shape[1])
        for digit, row in enumerate(table):
            print(f"| {digit} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


def _final(model):
    """The last step of a Pipeline (or the model itself)."""
    return model[-1] if hasattr(model, "steps") else model


def evaluate_real(name, seed):
    """One row of metrics per model for one real data set and seed."""
    X, y, pre = load_real(name, seed)
    K = len(np.unique(y))
    train, test = train_test_split(np.arange(len(X)), test_size=0.2, stratify=y,
                                   random_state=seed)

    def wrap(model):
        return model if pre is None else make_pipeline(clone(pre), model)

    models = {
        "KMeans": KMeans(K, n_init=10, random_state=seed),
        "GaussianMixture": GaussianMixture(K, n_init=10, random_state=seed),
    }
    starts = {}
    for label, config in REAL_CONFIGS.items():
        params = dict(n_components=K, random_state=seed, device="cpu", **config)
        models[label] = FlowMixtureClustering(**params)
        # The same estimator, not trained: its starting mixture (same seed, same start).
        key = (config.get("init_params", "kmeans"), config.get("weight_prior", "uniform"))
        starts[label] = key
        models.setdefault(f"start {key[0]}", FlowMixtureClustering(
            **{**params, "lr": 0.0, "max_epochs": 1}))
    rows, predictions = {}, {}
    for model_name, model in models.items():
        model = wrap(model)
        start = time.perf_counter()
        model.fit(X[train])
        seconds = time.perf_counter() - start
        pred = model.predict(X)
        predictions[model_name] = pred
        row = {"ARI": adjusted_rand_score(y, pred), "NMI": normalized_mutual_info_score(y, pred),
               "fit s": seconds}
        if hasattr(model, "score_samples"):
            row["log-lik test"] = float(np.mean(model.score_samples(X[test])))
        final = _final(model)
        if isinstance(final, FlowMixtureClustering) and final.lr > 0:
            row["epochs"] = final.n_iter_
            row["start restored"] = float(final.start_restored_)
            row["min weight"] = float(final.weights_.min())
        rows[model_name] = row
    for label, key in starts.items():
        rows[label]["changed"] = changed_share(predictions[f"start {key[0]}"],
                                               predictions[label])
    return rows


def changed_share(before, after):
    """Share of rows whose cluster changed from one partition to another, after the
    one-to-one matching of their cluster indices that maximises the agreement (cluster
    indices are arbitrary: two fits of the same partition may number it differently)."""
    return 1.0 - matched_accuracy(before, after)


def real(datasets, seeds):
    # Fits that reach max_epochs warn (ConvergenceWarning); the "epochs" column shows them.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    columns = ["ARI", "NMI", "log-lik test", "changed", "fit s", "epochs",
               "start restored", "min weight"]
    print("\n## Real data: mean +- sd over seeds " + ", ".join(map(str, seeds))
          + " (ARI, NMI on all rows; log-likelihood on the 20% test rows, nats per row; "
          "'start restored': share of seeds)\n")
    print("| data set | n x d | K | model | " + " | ".join(columns) + " |")
    print("|---|---|---|---|" + "---|" * len(columns))
    summary = []
    for name in datasets:
        results = {}
        for seed in seeds:
            for model_name, row in evaluate_real(name, seed).items():
                results.setdefault(model_name, []).append(row)
        X, y, _ = load_real(name, seeds[0])
        K = len(np.unique(y))
        for model_name, rows in results.items():
            cells = []
            for c in columns:
                values = [r[c] for r in rows if c in r]
                cells.append("-" if not values else f"{np.mean(values):.3f} +- "
                             f"{np.std(values):.3f}")
            print(f"| {name} | {X.shape[0]}x{X.shape[1]} | {K} | {model_name} | "
                  + " | ".join(cells) + " |", flush=True)
        summary.append((name, results))
    # The acceptance checks of the issue, per FlowMixtureClustering configuration.
    print("\n## Real data: FlowMixtureClustering against the peers (means over seeds; "
          "'ARI gap': its ARI minus the better of KMeans and GaussianMixture; "
          "'log-lik gap': minus GaussianMixture's, with the seeds where it is higher)\n")
    print("| data set | model | ARI gap | log-lik gap | seeds log-lik higher | changed |")
    print("|---|---|---|---|---|---|")
    for name, results in summary:
        best_peer = max(np.mean([r["ARI"] for r in results[p]])
                        for p in ("KMeans", "GaussianMixture"))
        gmm_ll = np.array([r["log-lik test"] for r in results["GaussianMixture"]])
        for label in REAL_CONFIGS:
            rows = results[label]
            ll = np.array([r["log-lik test"] for r in rows])
            print(f"| {name} | {label} | {np.mean([r['ARI'] for r in rows]) - best_peer:+.3f}"
                  f" | {np.mean(ll - gmm_ll):+.3f} | {int((ll > gmm_ll).sum())}/{len(ll)} | "
                  f"{np.mean([r['changed'] for r in rows]):.3f} |", flush=True)


def seconds_per_epoch(model, X, y=None):
    """Median seconds of the training pass and of the whole epoch of one fit.

    Without validation rows the mixture evaluates its monitored metric (the exact
    negative log-likelihood) on every training row after each training pass, so that
    early stopping and the best-weights restore compare epochs like with like; a
    FlowDensity, whose training loss is its metric, has no such pass. The training pass
    is the cost the batched components decide; the whole epoch is what a fit with
    ``validation_fraction=0`` pays."""
    model.fit(X) if y is None else model.fit(X, y)
    return (float(np.median([h["train_duration"] for h in model.history_])),
            float(np.median([h["duration"] for h in model.history_])))


def timing(rounds, epochs):
    # a few epochs per fit: every fit "stops at max_epochs", which is the point here
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print("\n## Seconds per training epoch: FlowMixtureClustering with K components vs "
          f"one FlowDensity of the same architecture (median of {rounds} interleaved "
          f"rounds x {epochs} epochs, torch threads: {torch.get_num_threads()})\n")
    print("Training pass: the batches' forward, backward and optimizer steps. Epoch: "
          "the mixture's also evaluates its monitored metric (exact NLL) on every "
          "training row, since these fits have no validation rows.\n")
    print("| data | dtype | architecture | K | FlowDensity s/pass | FlowMixtureClustering "
          "s/pass | ratio (pass) | FlowMixtureClustering s/epoch | ratio (epoch) |")
    print("|---|---|---|---|---|---|---|---|---|")
    digits = load("optdigits04", 0)[0]
    pinwheel = make_pinwheel(2560, random_state=0, **PAPER_PINWHEEL)
    digits_label = f"optdigits 0-4 {digits.shape[0]}x{digits.shape[1]}"
    # The compute dtype follows the data's: float64 arrays (numpy's default) train in
    # float64, where the component axis multiplies the matmul time about 4-5 times at
    # K=5 on a CPU core; float32 arrays train in float32.
    cases = [
        ("pinwheel 2560x2", pinwheel, FLOW_CONFIGS["pinwheel"]),
        ("pinwheel 2560x2", pinwheel.astype(np.float32), FLOW_CONFIGS["pinwheel"]),
        (digits_label, digits, FLOW_CONFIGS["optdigits04"]),
        (digits_label, digits.astype(np.float32), FLOW_CONFIGS["optdigits04"]),
        # Without the 64x64 LU mixing layers, whose matmuls dominate the cost above.
        (digits_label, digits, {**FLOW_CONFIGS["optdigits04"], "permutation": "random"}),
        (digits_label, digits.astype(np.float32),
         {**FLOW_CONFIGS["optdigits04"], "permutation": "random"}),
    ]
    for label, X, config in cases:
        arch = {k: v for k, v in config.items()
                if k in ("flow", "n_layers", "hidden_dims", "permutation")}
        common = dict(batch_size=config["batch_size"], max_epochs=epochs,
                      validation_fraction=0.0, n_iter_no_change=epochs + 1, device="cpu",
                      random_state=0)
        times = {k: ([], []) for k in (1, 5, 10)}
        for _ in range(rounds):
            for k in (1, 5, 10):
                single = FlowDensity(**arch, **common)
                mixture = FlowMixtureClustering(n_components=k, **arch, **common)
                times[k][0].append(seconds_per_epoch(single, X))
                times[k][1].append(seconds_per_epoch(mixture, X))
        arch_text = (f"{arch['flow']}, {arch['n_layers']} layers, hidden "
                     f"{tuple(arch['hidden_dims'])}, {arch.get('permutation', 'lu')} "
                     f"mixing, batch {config['batch_size']}")
        for k in (1, 5, 10):
            single, single_epoch = np.median(times[k][0], axis=0)
            mixture, mixture_epoch = np.median(times[k][1], axis=0)
            print(f"| {label} | {X.dtype} | {arch_text} | {k} | {single:.4f} | {mixture:.4f} | "
                  f"{mixture / single:.2f} | {mixture_epoch:.4f} | "
                  f"{mixture_epoch / single_epoch:.2f} |", flush=True)


def matmul(repeats=2000):
    """One batched product for K = 5 components against one component's product."""
    print("\n## One component's product (addmm) vs five components' (one baddbmm), "
          f"torch threads: {torch.get_num_threads()}\n")
    print("| dtype | rows x in -> out | K=1 addmm (us) | K=5 baddbmm (us) | ratio |")
    print("|---|---|---|---|---|")

    def clock(f):
        for _ in range(50):
            f()
        start = time.perf_counter()
        for _ in range(repeats):
            f()
        return (time.perf_counter() - start) / repeats * 1e6

    for dtype in (torch.float32, torch.float64):
        for n, d_in, d_out in ((128, 64, 64), (128, 32, 16), (128, 16, 64)):
            x1, w1 = torch.randn(n, d_in, dtype=dtype), torch.randn(d_out, d_in, dtype=dtype)
            b1 = torch.randn(d_out, dtype=dtype)
            x5 = torch.randn(5, n, d_in, dtype=dtype)
            w5 = torch.randn(5, d_out, d_in, dtype=dtype)
            b5 = torch.randn(5, 1, d_out, dtype=dtype)
            one = clock(lambda: torch.addmm(b1, x1, w1.T))
            five = clock(lambda: torch.baddbmm(b5, x5, w5.transpose(1, 2)))
            print(f"| {str(dtype).removeprefix('torch.')} | {n} x {d_in} -> {d_out} | "
                  f"{one:.1f} | {five:.1f} | {five / one:.2f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=None,
                        choices=list(dict.fromkeys(DATASETS + REAL_DATASETS)),
                        help="data sets of the quality and real sections (default: all "
                             "of each; penguins and optdigits04 are in both, prepared "
                             "differently)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="default: 0 1 2 (quality), 0 1 2 3 4 (real)")
    parser.add_argument("--sections", nargs="+", default=["quality", "timing", "matmul"],
                        choices=["quality", "timing", "matmul", "real"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    def chosen(names):
        return list(names) if args.datasets is None else [n for n in args.datasets
                                                           if n in names]

    if "quality" in args.sections and chosen(DATASETS):
        quality(chosen(DATASETS), args.seeds or [0, 1, 2])
    if "real" in args.sections and chosen(REAL_DATASETS):
        real(chosen(REAL_DATASETS), args.seeds or [0, 1, 2, 3, 4])
    if "timing" in args.sections:
        timing(args.rounds, args.epochs)
    if "matmul" in args.sections:
        matmul()


if __name__ == "__main__":
    main()
