"""Outlier detection on every public anomaly benchmark: skflows' flow detectors against
the classical detectors, ADBench protocol, all detectors in one run on the same rows.

Data
----
* The 39 public anomaly sets of ``../shared/data`` (``/work/shared/data/README.md``):
  19 ODDS sets and 20 ADBench "Classical" sets (Han et al. 2022). The 12 sets shipped
  with skflows (:data:`skflows.datasets.ANOMALY_DATASETS`) are loaded with
  :func:`skflows.datasets.load_anomaly`, the others from ``--data-dir`` (default: the
  repository's ``../shared/data``), files ``<name>.npz`` holding ``X`` (float64) and ``y``
  (int64, 1 = outlier).
* Two **development tasks, kept apart**: optdigits and pendigits, digits 0-4 the inliers,
  5-9 the outliers, built as in ``bench_ood_dev.py`` (UCI training part: inliers plus 5 %
  outliers; test: the UCI test part; dequantised pixels). They are reported in their own
  table and never enter the benchmark's means, ranks or counts.

Protocol (ADBench, Han et al. 2022, Sec. 4.1)
---------------------------------------------
Per data set and seed (0, 1, 2 by default): a stratified 70/30 split; every detector is
fitted on the *unlabeled, contaminated* training part (its outliers included), with
min-max scaling fitted on that part, and scored by ROC-AUC (x100) on the test part; the
tables give the mean over seeds. **Large sets are capped**: the training part at
``--max-train`` rows (default 10 000) and the test part at ``--max-test`` rows (default
10 000), each by a stratified random subsample (seeded), the same rows for every
detector. The training cap binds on sets of more than about 14 300 rows (aloi,
campaign, cover, http, magic_gamma, shuttle, skin, smtp), the test cap on those of more
than about 33 300 (the same but magic_gamma); on those sets the protocol is ADBench's on a
subsample. Labels are used only to split, subsample and score, never in a fit.

Detectors (same settings on every set, no per-set tuning with labels)
---------------------------------------------------------------------
skflows (``float32`` inputs, ``torch.set_num_threads(1)``):

* ``FlowDensity``: NSF, 4 layers of ``(64, 64)``, early stopping (``max_epochs`` 100);
  score = log-likelihood. One fit per set and seed, shared by the next four columns
  through :class:`sklearn.frozen.FrozenEstimator`. Every flow of the run mixes features
  with the default LU layer, except on sets of more than 512 features (internetads, 1555)
  where it uses ``permutation="random"``: the LU layer forms its ``d x d`` weight at
  every step (``O(d^3)``), about 20 s per epoch there against 4 s.
* ``FlowDensity robust``: the same flow fitted with ``trim_fraction=0.2`` (trimmed
  likelihood: the 20 % lowest-density rows of each mini-batch are left out of the loss).
* ``LikelihoodRatio``, ``InputComplexity``, ``Typicality``: the three wrappers of
  :mod:`skflows.ood` with their defaults around the frozen default flow (ratio against a
  single full-covariance Gaussian; zlib code length of the 256-level quantised row; minus
  the distance of the log-density from its training mean).
* ``FlowOutlierGenerator``: its defaults (shell outliers, discriminator ``(32,)``)
  around the frozen default flow.
* ``FlowDensity selected``: the flow's capacity chosen **without labels**:
  ``GridSearchCV`` over ``n_layers`` in {4, 2} x ``hidden_dims`` in {(64, 64), (32,)}
  (4 candidates, the default first, so ties keep the default), ``cv=3``, scored by
  the label-free Mass-Volume criterion of :mod:`skflows.model_selection`
  (``make_mv_scorer``, Goix 2016, ``--criterion em`` for Excess-Mass), then the best
  candidate refitted on the whole training part (when it is the default configuration,
  the ``FlowDensity`` fit above is that refit and is reused). In a validation fold
  where a feature is constant (a rare binary value), the scorer holds it at its value
  and measures volumes in the other features.

Peers (scikit-learn and pyod, their default settings as in ADBench):

* ``IsolationForest`` (100 trees), ``LOF`` (``LocalOutlierFactor(novelty=True,
  n_neighbors=20)``), ``OCSVM`` (``OneClassSVM(kernel="rbf", gamma="auto", nu=0.5)``,
  pyod's OCSVM defaults, which wraps this class), all scikit-learn;
* ``KNN`` (pyod ``KNN()``: distance to the 5th neighbour), ``PCA`` (pyod ``PCA()``),
  ``ECOD`` (pyod ``ECOD()``); skipped with a note when pyod is not installed;
* ``GMM (BIC)``: ``GaussianMixture`` (full covariances) with ``n_components`` in
  {1, 2, 4, 8} chosen by BIC on the training part (candidates with more free parameters
  than training values, ``n x d``, are skipped); score = log-likelihood.

And one more skflows column, computed after the peers because it reuses the Gaussian
mixture's ``K``: ``FlowMixture (GMM start)``, ``DensityDetector(FlowMixtureClustering(K,
init_params="gmm", posterior="exact", weight_prior="learned"))`` with ``K`` the BIC
choice above; score = the mixture of flows' log-likelihood. ``FlowMixture robust``: the
same with ``trim_fraction=0.2`` (trimmed start, trimmed likelihood; the fraction of
``FlowDensity robust``, not tuned on these sets).

Recommended configuration
-------------------------
The summary marks one skflows column as **recommended**. With ``--recommend auto`` (the
default) it is the skflows detector with the best mean ROC-AUC on the two development
tasks of the same run (or of the ``--resume`` file), which are kept apart from the
benchmark sets: the choice uses none of the benchmark's labels. When the run holds no
development task it falls back to ``FlowDensity selected``, whose configuration is chosen
per set by the label-free criterion alone. ``--recommend NAME`` fixes the column instead.

Output
------
A per-set markdown table (mean ROC-AUC x100 over seeds, ADBench's published
IsolationForest number where ``README.md`` lists one, ``*`` where ADBench used another
preprocessing of the set, and the set's wall seconds), printed as soon as each set is done;
then, over the benchmark sets: mean ROC-AUC, mean rank (1 = best, ties averaged), the
number (and share) of sets on which each detector is at least IsolationForest's ROC-AUC
minus 3 points, and mean fit seconds (for columns that reuse the default flow, its fit is
included: the cost of the detector from scratch). A detector that fails on a seed counts
as ROC-AUC 50 (chance) in the summary and is marked ``!``. ``--json FILE`` writes every
per-seed number after each seed; ``--resume FILE [FILE ...]`` reuses the results already
in those files (merged: runs of separate processes become one), computing only what they
lack (whole seeds, or the missing detectors of a seed); ``--rerun DETECTOR ...`` drops
those detectors from the resumed results of the sets in ``--datasets`` (all by default)
so that only they are computed again;
``--skip DETECTOR ...`` leaves detectors out of a run (its tables and summary cover the
others), for instance the costly label-free selection, to be added by a later run.

Run
---
``OMP_NUM_THREADS=1 /work/venvs/peers/bin/python benchmarks/bench_ood.py --json
bench_ood.json`` (the peer environment has pyod; add ``--resume bench_ood.json`` to
continue a stopped run; the script sets ``OMP_NUM_THREADS=1`` itself when unset). Time on
one core is dominated by the flow fits; the label-free selection (12 fits in the grid
search, the uniform draws it scores, and the refit unless the default wins) costs about
eight times the default flow's fit, about three quarters of a seed. Measured on 2-3
processes sharing 2 cores (2026-12-07), a set's three seeds without the selection
(``--skip "FlowDensity selected"``): 1.5-5 minutes for sets of up to about 7000 rows and
36 features, 3-10 minutes for the capped sets of 3-27 features (15 for aloi), about 30
minutes for mnist_odds (100 features) and campaign (62); internetads (1555 features)
16-20 minutes per seed beside one other process (about 4.5 minutes for each flow fit,
3-4 for each flow mixture, whose start fits 5 x 10 full-covariance Gaussian mixtures in
1555 dimensions). With the selection, 2-10 minutes per small or medium set and 30
minutes for musk (166 features).
``--device cuda`` runs the flows on a GPU; ``--datasets`` with one ``--json`` file per
process splits the run, and ``--resume a.json b.json ... --json all.json`` merges the parts
(nothing is refitted when they are complete). ``--quick``: one seed, 5 epochs, 1000-row
caps, 5000 uniform draws and, unless ``--datasets`` is given, glass, vertebral and wbc
only: a smoke run of about 10-30 seconds. ``--list`` prints the sets with their sizes;
``--datasets`` selects by name.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neighbors import LocalOutlierFactor  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ood_dev import split as dev_split  # noqa: E402  (the development tasks)
from skflows import (DensityDetector, FlowDensity, FlowMixtureClustering,  # noqa: E402
                     FlowOutlierGenerator)
from skflows.datasets import (ANOMALY_DATASETS, load_anomaly,  # noqa: E402
                              load_optdigits, load_pendigits)
from skflows.model_selection import make_em_scorer, make_mv_scorer  # noqa: E402
from skflows.ood import (InputComplexityDetector, LikelihoodRatioDetector,  # noqa: E402
                         TypicalityDetector)

try:
    from pyod.models.ecod import ECOD
    from pyod.models.knn import KNN
    from pyod.models.pca import PCA as PyodPCA
    HAVE_PYOD = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_PYOD = False

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")

# The public anomaly sets of ../shared/data/README.md, section 1 (README order).
ODDS_SETS = ("annthyroid", "arrhythmia", "breastw", "glass", "ionosphere", "lympho",
             "mnist_odds", "musk", "optdigits_odds", "pendigits_odds", "pima", "satellite",
             "satimage2", "shuttle", "smtp", "thyroid", "vertebral", "vowels", "wbc")
ADBENCH_SETS = ("aloi", "campaign", "cover", "fault", "hepatitis", "http", "internetads",
                "landsat", "magic_gamma", "pageblocks", "skin", "spambase", "stamps",
                "waveform", "wbc_adbench", "wdbc", "wilt", "wine", "wpbc", "yeast")
BENCHMARK_SETS = ODDS_SETS + ADBENCH_SETS
DEV_TASKS = ("optdigits_0-4v5-9", "pendigits_0-4v5-9")

# ADBench's published IsolationForest ROC-AUC x100 (Han et al. 2022, Table D4, as copied in
# ../shared/data/README.md); "*": ADBench used another preprocessing of the source data.
ADBENCH_IFOREST = {
    "annthyroid": "82.0", "breastw": "98.3", "glass": "77.1*", "ionosphere": "84.5*",
    "lympho": "99.8*", "mnist_odds": "81.0", "musk": "100.0", "optdigits_odds": "70.9",
    "pendigits_odds": "94.8", "pima": "72.9", "satellite": "70.4", "satimage2": "99.2",
    "shuttle": "99.6", "smtp": "89.7", "thyroid": "98.3", "vertebral": "36.7",
    "vowels": "73.9", "aloi": "56.7", "campaign": "71.7", "cover": "86.7", "fault": "57.0",
    "hepatitis": "69.8", "http": "100.0", "internetads": "69.0", "landsat": "47.6",
    "magic_gamma": "73.2", "pageblocks": "89.6", "skin": "68.2", "spambase": "64.8",
    "stamps": "91.2", "waveform": "71.5", "wbc_adbench": "99.0", "wdbc": "99.0",
    "wilt": "41.9", "wine": "80.4", "wpbc": "46.6", "yeast": "37.8",
}

FLOW_DETECTORS = ("FlowDensity", "FlowDensity robust", "LikelihoodRatio", "InputComplexity",
                  "Typicality", "FlowOutlierGenerator", "FlowDensity selected",
                  "FlowMixture (GMM start)", "FlowMixture robust")
PYOD_DETECTORS = ("KNN", "PCA", "ECOD")
PEER_DETECTORS = ("IsolationForest", "LOF", "OCSVM", "KNN", "PCA", "ECOD", "GMM (BIC)")
FLOW_SETTINGS = dict(flow="nsf", n_layers=4, hidden_dims=(64, 64))
# Above this many features the flows mix with a fixed random permutation instead of the
# LU layer, whose d x d weight (formed every step, O(d^3)) would dominate the fit time.
LU_MAX_FEATURES = 512
# Default first: GridSearchCV keeps the first of tied candidates.
SELECTION_GRID = [{"n_layers": [4], "hidden_dims": [(64, 64)]},
                  {"n_layers": [2], "hidden_dims": [(64, 64)]},
                  {"n_layers": [4], "hidden_dims": [(32,)]},
                  {"n_layers": [2], "hidden_dims": [(32,)]}]
FALLBACK_RECOMMENDED = "FlowDensity selected"


# ----------------------------------------------------------------------------- data
def load_set(name, data_dir):
    """``(X, y)`` of a benchmark set (float64, int64 with 1 = outlier)."""
    if name in ANOMALY_DATASETS:
        return load_anomaly(name)
    path = os.path.join(data_dir, f"{name}.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Data set {name!r} needs {path}, which is missing. The non-shipped anomaly "
            "sets are the ODDS/ADBench files of the shared data folder (see its "
            "README.md); pass its location with --data-dir.")
    with np.load(path) as arrays:
        return (np.asarray(arrays["X"], dtype=np.float64),
                np.asarray(arrays["y"], dtype=np.int64))


def dev_task(name, seed):
    """Development task of bench_ood_dev.py: ``(X_train, y_train, X_test, y_test)``."""
    loader, levels = {"optdigits": (load_optdigits, 17),
                      "pendigits": (load_pendigits, 101)}[name.split("_")[0]]
    return dev_split(loader, levels, seed, return_train_labels=True)


def set_size(name, data_dir):
    """``(rows, features, outliers)`` of a set (dev tasks: train + test rows)."""
    if name in DEV_TASKS:
        X_train, y_train, X_test, y_test = dev_task(name, 0)
        return len(X_train) + len(X_test), X_train.shape[1], int(y_train.sum() + y_test.sum())
    X, y = load_set(name, data_dir)
    return X.shape[0], X.shape[1], int(y.sum())


def cap(X, y, max_rows, seed):
    """A stratified random subsample of ``max_rows`` rows (all rows if fewer): each class
    keeps its share, rounded, and at least one row (so that a test part keeps outliers)."""
    if max_rows is None or len(X) <= max_rows:
        return X, y
    rng = np.random.RandomState(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.round(max_rows * counts / len(y)).astype(int))
    quota[np.argmax(counts)] += max_rows - quota.sum()  # the majority class absorbs rounding
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), q, replace=False)
                                   for c, q in zip(classes, quota)]))
    return X[keep], y[keep]


def split(name, seed, data_dir, max_train, max_test):
    """ADBench split (70/30 stratified), caps, min-max scaling fitted on the training part.

    Returns float64 ``X_train, X_test, y_test`` (``y`` of the training part is dropped:
    no detector sees it)."""
    if name in DEV_TASKS:
        X_train, y_train, X_test, y_test = dev_task(name, seed)
    else:
        X, y = load_set(name, data_dir)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                            random_state=seed)
    X_train, _ = cap(X_train, y_train, max_train, seed)
    X_test, y_test = cap(X_test, y_test, max_test, seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


# ------------------------------------------------------------------------ detectors
def gmm_by_bic(X, seed):
    """GaussianMixture (full covariances), n_components in {1, 2, 4, 8} by BIC."""
    n, d = X.shape
    best = None
    for k in (1, 2, 4, 8):
        n_params = k * (d + d * (d + 1) / 2) + k - 1
        if k > 1 and (k > n or n_params > n * d):
            continue
        model = GaussianMixture(k, covariance_type="full", random_state=seed).fit(X)
        bic = model.bic(X)
        if best is None or bic < best[0]:
            best = (bic, model)
    return best[1]


# Columns that wrap (or reuse) the default flow's fit: computing one of them fits it.
NEEDS_DEFAULT_FLOW = ("FlowDensity", "LikelihoodRatio", "InputComplexity", "Typicality",
                      "FlowOutlierGenerator", "FlowDensity selected")


def run_seed(name, seed, args, detectors, previous=None):
    """ROC-AUC x100, fit seconds and notes of every detector on one split.

    With ``previous`` (a stored, incomplete result of the same split) only the detectors
    it lacks are computed and added to it; the default flow is refitted when a column
    that wraps it is missing (same seed, same fit) but its stored entry is kept, and the
    flow mixture reuses the stored Gaussian mixture's ``K``."""
    X_train, X_test, y_test = split(name, seed, args.data_dir, args.max_train, args.max_test)
    X32, X32_test = X_train.astype(np.float32), X_test.astype(np.float32)
    flow_kw = dict(max_epochs=args.max_epochs, device=args.device, random_state=seed,
                   permutation="lu" if X_train.shape[1] <= LU_MAX_FEATURES else "random")
    out = previous if previous is not None else {
        "n_train": len(X_train), "n_test": len(X_test),
        "n_test_outliers": int(y_test.sum()), "detectors": {}}
    todo = [k for k in detectors if k not in out["detectors"]]
    if any(k in todo for k in NEEDS_DEFAULT_FLOW) and "FlowDensity" not in todo:
        todo.append("FlowDensity")  # refitted for its wrappers; the stored entry is kept
        kept_flow_entry = out["detectors"]["FlowDensity"]
    else:
        kept_flow_entry = None
    if any(k.startswith("FlowMixture") for k in todo) and "gmm_n_components" not in out \
            and "GMM (BIC)" not in todo:
        todo.append("GMM (BIC)")
    shared = {}

    def record(key, fit, score, extra_seconds=0.0):
        """Fit (timed), score the test part (larger = more normal), store ROC-AUC."""
        if key not in todo:
            return
        entry, model = {"auc": None, "fit_s": None}, None
        try:
            t0 = time.perf_counter()
            model = fit()
            entry["fit_s"] = time.perf_counter() - t0 + extra_seconds
            scores = np.asarray(score(model), dtype=np.float64)
            if not np.all(np.isfinite(scores)):  # rank non-finite scores as most abnormal
                entry["n_nonfinite"] = int((~np.isfinite(scores)).sum())
                scores = np.where(np.isnan(scores), -np.inf, scores)
                scores = np.clip(scores, -np.finfo(float).max, np.finfo(float).max)
            entry["auc"] = 100 * roc_auc_score(y_test, -scores)
        except Exception as error:  # noqa: BLE001 - one failing detector must not stop a run
            entry["error"] = f"{type(error).__name__}: {error}"
            if args.verbose:
                traceback.print_exc()
        out["detectors"][key] = entry
        return model if entry["fit_s"] is not None else None

    def default_flow():
        shared["flow"] = FlowDensity(**FLOW_SETTINGS, **flow_kw).fit(X32)
        return shared["flow"]

    t_seed = time.perf_counter()
    flow = record("FlowDensity", default_flow, lambda m: m.score_samples(X32_test))
    flow_s = (out["detectors"]["FlowDensity"]["fit_s"] or 0.0) \
        if "FlowDensity" in out["detectors"] else 0.0
    if kept_flow_entry is not None:
        out["detectors"]["FlowDensity"] = kept_flow_entry
    frozen = (lambda: FrozenEstimator(flow)) if flow is not None else None

    def wrapped(make):
        def fit():
            if frozen is None:
                raise RuntimeError("the default flow failed to fit")
            return make(frozen()).fit(X32)
        return fit

    record("FlowDensity robust",
           lambda: FlowDensity(**FLOW_SETTINGS, trim_fraction=0.2, **flow_kw).fit(X32),
           lambda m: m.score_samples(X32_test))
    record("LikelihoodRatio", wrapped(LikelihoodRatioDetector),
           lambda m: m.score_samples(X32_test), flow_s)
    record("InputComplexity", wrapped(InputComplexityDetector),
           lambda m: m.score_samples(X32_test), flow_s)
    record("Typicality", wrapped(TypicalityDetector),
           lambda m: m.score_samples(X32_test), flow_s)
    record("FlowOutlierGenerator",
           wrapped(lambda f: FlowOutlierGenerator(f, max_epochs=args.max_epochs,
                                                  device=args.device, random_state=seed)),
           lambda m: m.score_samples(X32_test), flow_s)

    def selected():
        n_rows = len(X32)
        make_scorer = make_mv_scorer if args.criterion == "mv" else make_em_scorer
        search = GridSearchCV(FlowDensity(**FLOW_SETTINGS, **flow_kw), SELECTION_GRID,
                              scoring=make_scorer(n_uniform=args.n_uniform,
                                                  random_state=seed),
                              cv=3, refit=False, error_score=np.nan)
        search.fit(X32)
        cv_scores = np.asarray(search.cv_results_["mean_test_score"], dtype=float)
        params = ({k: v for k, v in search.best_params_.items()}
                  if np.isfinite(cv_scores).any() else {"n_layers": 4, "hidden_dims": (64, 64)})
        out["selected"] = {"params": {k: list(v) if isinstance(v, tuple) else v
                                      for k, v in params.items()},
                           "cv_scores": [None if not np.isfinite(s) else float(s)
                                         for s in cv_scores],
                           "n_rows": n_rows}
        if (params["n_layers"], tuple(params["hidden_dims"])) == (4, (64, 64)) \
                and flow is not None:
            shared["selected_extra"] = flow_s
            return flow
        return FlowDensity(**{**FLOW_SETTINGS, **params}, **flow_kw).fit(X32)

    shared["selected_extra"] = 0.0
    model = record("FlowDensity selected", selected, lambda m: m.score_samples(X32_test))
    entry = out["detectors"].get("FlowDensity selected")
    if model is not None and entry is not None:
        entry["fit_s"] += shared["selected_extra"]

    record("IsolationForest", lambda: IsolationForest(random_state=seed).fit(X_train),
           lambda m: m.score_samples(X_test))
    record("LOF", lambda: LocalOutlierFactor(n_neighbors=20, novelty=True).fit(X_train),
           lambda m: m.score_samples(X_test))
    record("OCSVM", lambda: OneClassSVM(kernel="rbf", gamma="auto", nu=0.5).fit(X_train),
           lambda m: m.score_samples(X_test))
    if HAVE_PYOD:  # pyod's decision_function: larger = more abnormal
        record("KNN", lambda: KNN().fit(X_train), lambda m: -m.decision_function(X_test))
        record("PCA", lambda: PyodPCA(random_state=seed).fit(X_train),
               lambda m: -m.decision_function(X_test))
        record("ECOD", lambda: ECOD().fit(X_train), lambda m: -m.decision_function(X_test))
    gmm = record("GMM (BIC)", lambda: gmm_by_bic(X_train, seed),
                 lambda m: m.score_samples(X_test))
    if gmm is not None:
        out["gmm_n_components"] = int(gmm.n_components)
    # A flow per cluster: the mixture of flows with the BIC Gaussian mixture's K,
    # started from a full-covariance Gaussian mixture; its log-density is the score.
    k = out.get("gmm_n_components", 1)
    for key, trim in (("FlowMixture (GMM start)", 0.0), ("FlowMixture robust", 0.2)):
        record(key,
               lambda trim=trim: DensityDetector(FlowMixtureClustering(
                   n_components=k, init_params="gmm", posterior="exact",
                   weight_prior="learned", trim_fraction=trim, max_epochs=args.max_epochs,
                   device=args.device, random_state=seed)).fit(X32),
               lambda m: m.score_samples(X32_test))
    out["seconds"] = out.get("seconds", 0.0) + time.perf_counter() - t_seed
    return out


# --------------------------------------------------------------------------- report
def seed_complete(seed_result, detectors):
    return seed_result is not None and all(k in seed_result["detectors"] for k in detectors)


def cell_values(set_result, detectors, seeds):
    """Mean ROC-AUC over seeds per detector (failed seeds count 50) and a failure flag."""
    values, failed = {}, {}
    for key in detectors:
        aucs = [set_result["seeds"][str(s)]["detectors"][key]["auc"] for s in seeds]
        failed[key] = any(a is None for a in aucs)
        values[key] = float(np.mean([50.0 if a is None else a for a in aucs]))
    return values, failed


def fit_seconds(set_result, key, seeds):
    times = [set_result["seeds"][str(s)]["detectors"][key]["fit_s"] for s in seeds]
    times = [t for t in times if t is not None]
    return float(np.mean(times)) if times else float("nan")


def set_line(name, set_result, detectors, seeds):
    values, failed = cell_values(set_result, detectors, seeds)
    cells = [f"{values[k]:.1f}{'!' if failed[k] else ''}" for k in detectors]
    published = ADBENCH_IFOREST.get(name, "—")
    info = set_result["info"]
    seconds = sum(set_result["seeds"][str(s)].get("seconds", 0.0) for s in seeds)
    return (f"| {name} | {info['n']}x{info['d']} ({info['n_outliers']}) | "
            + " | ".join(cells) + f" | {published} | {seconds:.0f} |")


def table_header(detectors):
    return ("| data set | n x d (outliers) | " + " | ".join(detectors)
            + " | ADBench IForest | s |\n|---|---|" + "---|" * (len(detectors) + 2))


def choose_recommended(results, detectors, seeds, requested):
    """The recommended skflows column and the reason."""
    flow_cols = [k for k in FLOW_DETECTORS if k in detectors]
    if requested != "auto":
        return requested, "fixed by --recommend"
    dev = [n for n in DEV_TASKS if n in results]
    if not dev or not flow_cols:
        return FALLBACK_RECOMMENDED, ("no development task in this run: the label-free "
                                      "selected column")
    means = {k: np.mean([cell_values(results[n], [k], seeds)[0][k] for n in dev])
             for k in flow_cols}
    best = max(flow_cols, key=lambda k: means[k])  # first of ties
    return best, (f"best skflows mean ROC-AUC on the development tasks ({', '.join(dev)}): "
                  f"{means[best]:.1f}")


def summary(results, names, detectors, seeds, recommended, reason):
    names = [n for n in names if n in results]
    if not names:
        return
    table = np.array([[cell_values(results[n], detectors, seeds)[0][k] for k in detectors]
                      for n in names])
    ranks = np.array([stats.rankdata(-row) for row in table])
    forest = table[:, detectors.index("IsolationForest")] if "IsolationForest" in detectors \
        else None
    print(f"\nSummary over {len(names)} benchmark sets (development tasks excluded); "
          f"recommended: {recommended} ({reason})\n")
    print("| detector | mean ROC-AUC | mean rank | sets >= IForest - 3 | mean fit s | "
          "failed seeds |")
    print("|---|---|---|---|---|---|")
    for j, key in enumerate(detectors):
        close = (f"{int((table[:, j] >= forest - 3).sum())} of {len(names)} "
                 f"({100 * np.mean(table[:, j] >= forest - 3):.0f} %)"
                 if forest is not None else "—")
        seconds = np.nanmean([fit_seconds(results[n], key, seeds) for n in names])
        n_failed = sum(results[n]["seeds"][str(s)]["detectors"][key]["auc"] is None
                       for n in names for s in seeds)
        label = f"**{key}** (recommended)" if key == recommended else key
        print(f"| {label} | {table[:, j].mean():.1f} | {ranks[:, j].mean():.2f} | {close} | "
              f"{seconds:.1f} | {n_failed} |")
    sel = [results[n]["seeds"][str(s)].get("selected") for n in names for s in seeds]
    sel = [s for s in sel if s is not None]
    if sel:
        picks = {}
        for s in sel:
            params = s["params"]
            key = f"n_layers={params['n_layers']}, hidden_dims={tuple(params['hidden_dims'])}"
            picks[key] = picks.get(key, 0) + 1
        print("\nLabel-free selection picked: " + "; ".join(f"{k}: {v}x" for k, v in
                                                            sorted(picks.items())))
    best_mean = detectors[int(np.argmax(table.mean(axis=0)))]
    best_rank = detectors[int(np.argmin(ranks.mean(axis=0)))]
    print(f"Best mean ROC-AUC: {best_mean}; best mean rank: {best_rank}.")


def merge_results(paths, rerun=(), rerun_sets=None):
    """The sets of several result files, merged (per seed, the detectors of every file;
    for one present in several, the later file's; the largest wall seconds), without the
    ``rerun`` detectors on the ``rerun_sets`` (all sets when None: those that this run
    computes again); and the first file's protocol."""
    results, protocol = {}, {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            loaded = json.load(handle)
        protocol = protocol or loaded.get("protocol", {})
        for name, set_result in loaded.get("sets", {}).items():
            target = results.setdefault(name, {"seeds": {}})
            if "info" in set_result:
                target["info"] = set_result["info"]
            for seed, seed_result in set_result.get("seeds", {}).items():
                stored = target["seeds"].get(seed)
                if stored is None:
                    target["seeds"][seed] = seed_result
                else:
                    stored["detectors"].update(seed_result["detectors"])
                    # A seed's wall seconds only grow as runs add detectors to it, so a
                    # file that resumed an older copy of this seed holds fewer: keep the
                    # largest.
                    seconds = max(stored.get("seconds", 0.0), seed_result.get("seconds", 0.0))
                    stored.update({k: v for k, v in seed_result.items() if k != "detectors"})
                    stored["seconds"] = seconds
    for name, set_result in results.items():
        if rerun_sets is not None and name not in rerun_sets:
            continue  # kept: this run does not compute the set again
        for seed_result in set_result["seeds"].values():
            for key in rerun:
                seed_result["detectors"].pop(key, None)
    return results, protocol


def write_json(path, payload):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring for the protocol and the detectors.")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="benchmark sets and/or development tasks (default: all; "
                             "--list shows the names)")
    parser.add_argument("--list", action="store_true", help="print the sets and exit")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder of the non-shipped .npz sets (default: %(default)s)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-train", type=int, default=None,
                        help="cap on training rows (default 10000; --quick 1000)")
    parser.add_argument("--max-test", type=int, default=None,
                        help="cap on test rows (default 10000; --quick 1000)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="flow epochs (default 100; --quick 5)")
    parser.add_argument("--n-uniform", type=int, default=None,
                        help="uniform draws of the label-free scorer (default 20000; "
                             "--quick 5000)")
    parser.add_argument("--criterion", choices=("mv", "em"), default="mv",
                        help="label-free criterion of the selected column (default mv)")
    parser.add_argument("--recommend", default="auto",
                        help="'auto' (best skflows column on the development tasks) or a "
                             "skflows column name")
    parser.add_argument("--device", default="cpu", help="torch device of the flows")
    parser.add_argument("--json", default=None, help="write per-seed results here")
    parser.add_argument("--resume", nargs="+", default=None, metavar="FILE",
                        help="reuse the results already in these JSON files (merged; "
                             "written to the first unless --json is given): complete "
                             "seeds are kept, incomplete ones get their missing detectors")
    parser.add_argument("--skip", nargs="+", default=[], metavar="DETECTOR",
                        help="leave these detectors out of this run (tables and summary "
                             "cover the others; a later --resume run can add them)")
    parser.add_argument("--rerun", nargs="+", default=[], metavar="DETECTOR",
                        help="drop these detectors from the resumed results, so that they "
                             "are computed again (the other detectors' results are kept)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one seed, 5 epochs, small caps, 3 small sets")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks")
    args = parser.parse_args(argv)

    quick = args.quick
    args.max_train = args.max_train or (1000 if quick else 10_000)
    args.max_test = args.max_test or (1000 if quick else 10_000)
    args.max_epochs = args.max_epochs or (5 if quick else 100)
    args.n_uniform = args.n_uniform or (5000 if quick else 20_000)
    args.data_dir = os.path.abspath(args.data_dir)
    seeds = args.seeds[:1] if quick else args.seeds
    all_names = DEV_TASKS + BENCHMARK_SETS
    if args.datasets is None:
        args.datasets = ["glass", "vertebral", "wbc"] if quick else list(all_names)
    unknown = [n for n in args.datasets if n not in all_names]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {list(all_names)}")
    if args.recommend != "auto" and args.recommend not in FLOW_DETECTORS:
        parser.error(f"--recommend must be 'auto' or one of {list(FLOW_DETECTORS)}")

    if args.list:
        print(f"data dir: {args.data_dir}\n")
        print("| name | group | n x d | outliers (%) | train / test rows after caps |")
        print("|---|---|---|---|---|")
        for name in all_names:
            group = ("development task (kept apart)" if name in DEV_TASKS else
                     ("ODDS" if name in ODDS_SETS else "ADBench")
                     + (", shipped" if name in ANOMALY_DATASETS else ""))
            try:
                n, d, n_out = set_size(name, args.data_dir)
            except FileNotFoundError:
                print(f"| {name} | {group} | missing | | |")
                continue
            if name in DEV_TASKS:
                X_train, _, X_test, _ = dev_task(name, 0)
                rows = (min(len(X_train), args.max_train), min(len(X_test), args.max_test))
            else:
                n_test = int(np.ceil(0.3 * n))
                rows = (min(n - n_test, args.max_train), min(n_test, args.max_test))
            print(f"| {name} | {group} | {n}x{d} | {n_out} ({100 * n_out / n:.2f}) | "
                  f"{rows[0]} / {rows[1]} |")
        return

    missing = [n for n in args.datasets if n not in ANOMALY_DATASETS and n not in DEV_TASKS
               and not os.path.isfile(os.path.join(args.data_dir, f"{n}.npz"))]
    if missing:
        sys.exit(f"error: the data files of {missing} are not in --data-dir {args.data_dir} "
                 "(the shared anomaly data, see its README.md); pass --data-dir.")

    torch.set_num_threads(1)
    with warnings.catch_warnings():  # torch's one-off start-up cost, kept out of the timings
        warnings.simplefilter("ignore")
        FlowDensity(n_layers=1, hidden_dims=(4,), max_epochs=1, device=args.device,
                    random_state=0).fit(np.random.RandomState(0).rand(64, 2))
    detectors = [k for k in FLOW_DETECTORS + PEER_DETECTORS
                 if (HAVE_PYOD or k not in PYOD_DETECTORS) and k not in args.skip]
    if not HAVE_PYOD:
        print("note: pyod is not installed; skipping the pyod peers KNN, PCA and ECOD "
              "(install it into the peer environment: /work/venvs/peers/bin/python -m pip "
              "install pyod)\n")
    unknown = [k for k in args.rerun + args.skip if k not in FLOW_DETECTORS + PEER_DETECTORS]
    if unknown:
        parser.error(f"--rerun/--skip: unknown detector(s) {unknown}; choose from "
                     f"{list(FLOW_DETECTORS + PEER_DETECTORS)}")
    json_path = args.json or (args.resume[0] if args.resume else None)
    results, resumed_protocol = merge_results(args.resume or [], args.rerun,
                                              set(args.datasets))
    payload = {"protocol": {
        "split": "stratified 70/30 (ADBench); dev tasks: UCI train/test as bench_ood_dev.py",
        "scaling": "min-max fitted on the (capped) training part",
        "max_train": args.max_train, "max_test": args.max_test, "seeds": seeds,
        "max_epochs": args.max_epochs, "criterion": args.criterion,
        "n_uniform": args.n_uniform, "flow": {k: list(v) if isinstance(v, tuple) else v
                                              for k, v in FLOW_SETTINGS.items()},
        "lu_max_features": LU_MAX_FEATURES,
        "selection_grid": [{k: [list(x) if isinstance(x, tuple) else x for x in v]
                            for k, v in g.items()} for g in SELECTION_GRID],
        "pyod": HAVE_PYOD, "device": args.device, "quick": quick},
        "sets": results}

    changed = [k for k in ("max_train", "max_test", "max_epochs", "criterion", "n_uniform",
                           "device") if k in resumed_protocol
               and resumed_protocol[k] != payload["protocol"][k]]
    if changed:
        settings = ", ".join(f"{k}={resumed_protocol[k]}" for k in changed)
        print(f"warning: {' '.join(args.resume)} was run with other settings ({settings}); "
              "its seeds are reused as they are.\n")

    # Development tasks first (they decide the recommended column), then the benchmark
    # sets from the smallest up, so that a stopped run holds as many sets as possible.
    dev_names = [n for n in DEV_TASKS if n in args.datasets]
    bench_names = sorted((n for n in BENCHMARK_SETS if n in args.datasets),
                         key=lambda n: set_size(n, args.data_dir)[0])
    print(f"ROC-AUC x100 on the test part, mean over seeds {seeds}; ADBench protocol "
          f"(stratified 70/30 split, fit on the contaminated training part, min-max "
          f"scaling fitted on it); training part capped at {args.max_train} and test part "
          f"at {args.max_test} rows by a stratified random subsample (the same rows for "
          f"every detector); flows: {args.max_epochs} epochs max, device {args.device}; "
          f"label-free selection by {args.criterion.upper()} ({args.n_uniform} uniform "
          "draws). '!': a seed failed (counted as 50). Last columns: ADBench's published "
          "IsolationForest ('*': other preprocessing) and the set's wall seconds (all seeds).",
          flush=True)

    for title, names in (("Development tasks (kept apart; they choose the recommended "
                          "column)", dev_names), ("Benchmark sets", bench_names)):
        if not names:
            continue
        print(f"\n{title}\n\n{table_header(detectors)}", flush=True)
        for name in names:
            set_result = results.setdefault(name, {"seeds": {}})
            if "info" not in set_result:
                n, d, n_out = set_size(name, args.data_dir)
                set_result["info"] = {"n": n, "d": d, "n_outliers": n_out,
                                      "group": "dev" if name in DEV_TASKS else
                                      ("ODDS" if name in ODDS_SETS else "ADBench")}
            for seed in seeds:
                previous = set_result["seeds"].get(str(seed))
                if seed_complete(previous, detectors):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    set_result["seeds"][str(seed)] = run_seed(name, seed, args, detectors,
                                                              previous)
                if json_path:
                    write_json(json_path, payload)
            print(set_line(name, set_result, detectors, seeds), flush=True)

    recommended, reason = choose_recommended(results, detectors, seeds, args.recommend)
    if dev_names:
        print(f"\nRecommended skflows detector: {recommended} ({reason}).")
    summary(results, bench_names, detectors, seeds, recommended, reason)
    if json_path:
        payload["recommended"] = {"detector": recommended, "reason": reason}
        write_json(json_path, payload)
        print(f"\nper-seed results: {json_path}")


if __name__ == "__main__":
    t_start = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
