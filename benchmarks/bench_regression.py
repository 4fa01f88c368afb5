"""Probabilistic regression: FlowRegressor against NGBoost, GPs, a joint GMM and OLS.

Every method gives a predictive density ``p(y | x)``; on held-out rows we report

* the test mean log-likelihood (nats per row, in the units of ``y`` as stored),
* the coverage of the central 90 % prediction interval (ideal: 0.90) and its mean width,
* the fit time in seconds (model selection included),

as mean +- sd over the splits of each data set:

* ``concrete`` (UCI, 1030 x 8, compressive strength in MPa): 20 random 90/10 splits,
  the protocol of Hernandez-Lobato & Adams (2015) and NGBoost (Duan et al. 2020);
* ``diamonds`` (53 940 x 9, natural log of the price in USD): 5 random 90/10 splits;
* ``mcycle`` (133 x 1, head acceleration in g given the time in ms): 5-fold CV;
* ``faithful`` (272 rows, eruption duration in minutes given the waiting time in
  minutes): 5-fold CV.

Methods:

* ``FlowRegressor`` (conditional NSF; it standardises X and y itself);
* ``NGBoost`` (``NGBRegressor`` with a Normal distribution, its defaults: 500 trees of
  depth 3, learning rate 0.01); log density from ``pred_dist(X).logpdf(y)``, interval
  from ``dist.ppf``;
* ``GP``: ``GaussianProcessRegressor`` with ``C * RBF(ARD) + WhiteKernel``,
  ``normalize_y=True``, on standardised X (Pipeline); only where n_train <= 2000; the
  predictive variance includes the white noise;
* ``GMM``: a joint ``GaussianMixture`` (full covariances) on standardised ``[X, y]``,
  ``n_components`` in 1..8 by BIC; the conditional ``p(y | x)`` of a Gaussian mixture is
  a Gaussian mixture (weights ``pi_k N(x; mu_kx, S_kxx)``, normalised), its interval
  from the quantiles of the mixture CDF (vectorised bisection to 1e-10);
* ``OLS``: homoscedastic Gaussian, ``LinearRegression`` on standardised X and the
  residual variance ``RSS / (n - d - 1)``.

Data come from ``--data-dir`` (default ``../shared/data`` relative to the repository
root), files ``<name>.npz`` with keys ``X`` and ``y`` (``faithful`` holds only ``X`` with
columns ``eruptions``, ``waiting``). Run from the repository root with the peer
environment (it has ngboost; skflows comes from the system site-packages), on one
thread::

    OMP_NUM_THREADS=1 /work/venvs/peers/bin/python benchmarks/bench_regression.py --quick
    OMP_NUM_THREADS=1 /work/venvs/peers/bin/python benchmarks/bench_regression.py \\
        --datasets concrete mcycle faithful --max-epochs 200

Without ngboost (e.g. the system python) the NGBoost rows are skipped with a note.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from scipy.special import logsumexp, ndtr
from scipy.stats import norm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = ("concrete", "diamonds", "mcycle", "faithful")
METHODS = ("flow", "flow_cv", "ngboost", "gp", "gmm", "ols")
LABELS = {"flow": "FlowRegressor", "flow_cv": "FlowRegressor (settings by 3-fold CV)",
          "ngboost": "NGBoost (Normal)",
          "gp": "GP (RBF + White)", "gmm": "joint GMM conditional",
          "ols": "OLS + Gaussian noise"}
GP_MAX_ROWS = 2000
COVERAGE = 0.9


# --------------------------------------------------------------------------- data
def load_dataset(name, data_dir):
    """(X, y, y description) of a data set, as float64 arrays."""
    path = os.path.join(data_dir, f"{name}.npz")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found: pass --data-dir (the folder of the shared "
                         "data sets, see its README.md).")
    d = np.load(path, allow_pickle=False)
    if name == "faithful":
        names = [str(n) for n in d["feature_names"]]
        X = d["X"][:, [names.index("waiting")]]
        y = d["X"][:, names.index("eruptions")]
        return X.astype(np.float64), y.astype(np.float64), "eruption duration (min)"
    desc = {"concrete": "compressive strength (MPa)", "diamonds": "log(price in USD)",
            "mcycle": "head acceleration (g)"}[name]
    return d["X"].astype(np.float64), d["y"].astype(np.float64), desc


def splits(name, n, seed, quick):
    """List of (train indices, test indices)."""
    from sklearn.model_selection import KFold, ShuffleSplit

    if name in ("concrete", "diamonds"):
        n_splits = {"concrete": 20, "diamonds": 5}[name]
        if quick:
            n_splits = 2
        cv = ShuffleSplit(n_splits=n_splits, test_size=0.1, random_state=seed)
    else:
        cv = KFold(n_splits=5, shuffle=True, random_state=seed)
    out = list(cv.split(np.zeros((n, 1))))
    return out[:2] if quick else out


# --------------------------------------------------------------------------- methods
class FlowModel:
    def __init__(self, args, seed):
        from skflows import FlowRegressor

        self.model = FlowRegressor(
            flow=args.flow, n_layers=args.n_layers, hidden_dims=tuple(args.hidden_dims),
            max_epochs=args.max_epochs, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, validation_fraction=args.validation_fraction,
            n_iter_no_change=args.n_iter_no_change, ensemble_size=args.ensemble_size,
            n_bins=args.n_bins,
            calibration=args.calibration, device="cpu", random_state=seed)

    def fit(self, X, y):
        self.model.fit(X, y)
        return self

    def logpdf(self, X, y):
        return self.model.log_prob(X, y)

    def interval(self, X, coverage):
        return self.model.predict_interval(X, coverage=coverage)

    def note(self):
        t = getattr(self.model, "temperature_", 1.0)
        return f"{self.model.n_iter_} epochs" + (f", temperature {t:.3f}" if t != 1.0 else "")


class FlowCVModel(FlowModel):
    """FlowRegressor whose ``weight_decay`` (among ``--cv-weight-decays``), and, where
    given, ``n_layers`` (``--cv-n-layers``) and ``n_bins`` (``--cv-n-bins``) are chosen
    by ``GridSearchCV`` (3 folds of the training split, scored by ``score``: the
    held-out mean log-likelihood), then refitted on the whole training split; the test
    rows never enter the choice."""

    def __init__(self, args, seed):
        from sklearn.model_selection import GridSearchCV

        super().__init__(args, seed)
        grid = {"weight_decay": args.cv_weight_decays}
        if args.cv_n_layers:
            grid["n_layers"] = args.cv_n_layers
        if args.cv_n_bins:
            grid["n_bins"] = args.cv_n_bins
        self.search = GridSearchCV(self.model, grid, cv=3, n_jobs=args.cv_jobs)

    def fit(self, X, y):
        self.search.fit(X, y)
        self.model = self.search.best_estimator_
        return self

    def note(self):
        chosen = ", ".join(f"{k} {v:g}" for k, v in sorted(self.search.best_params_.items()))
        return f"{chosen}; " + super().note()


class NGBoostModel:
    def __init__(self, args, seed):
        try:
            from ngboost import NGBRegressor
            from ngboost.distns import Normal
        except ImportError as exc:  # pragma: no cover - environment
            raise ImportError("ngboost is not installed (use /work/venvs/peers/bin/python)"
                              ) from exc
        self.model = NGBRegressor(Dist=Normal, n_estimators=args.ngb_estimators,
                                  random_state=seed, verbose=False)

    def fit(self, X, y):
        self.model.fit(X, y)
        return self

    def logpdf(self, X, y):
        return self.model.pred_dist(X).logpdf(y)

    def interval(self, X, coverage):
        dist = self.model.pred_dist(X)
        a = (1.0 - coverage) / 2.0
        return np.column_stack([dist.ppf(a), dist.ppf(1.0 - a)])

    def note(self):
        return ""


class GaussianPredictive:
    """Shared logpdf / interval of a per-row Gaussian predictive (mean, sd)."""

    def logpdf(self, X, y):
        mu, sd = self._predict(X)
        return norm.logpdf(y, loc=mu, scale=sd)

    def interval(self, X, coverage):
        mu, sd = self._predict(X)
        z = norm.ppf(0.5 + coverage / 2.0)
        return np.column_stack([mu - z * sd, mu + z * sd])


class GPModel(GaussianPredictive):
    def __init__(self, args, seed):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._make = lambda d: make_pipeline(StandardScaler(), GaussianProcessRegressor(
            kernel=ConstantKernel(1.0) * RBF(length_scale=np.ones(d))
            + WhiteKernel(noise_level=0.1),
            normalize_y=True, n_restarts_optimizer=args.gp_restarts, random_state=seed))

    def fit(self, X, y):
        self.model = self._make(X.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on bound hits
            self.model.fit(X, y)
        return self

    def _predict(self, X):
        mu, sd = self.model.predict(X, return_std=True)
        return mu, np.maximum(sd, 1e-12)

    def note(self):
        return str(self.model[-1].kernel_)


class OLSModel(GaussianPredictive):
    def __init__(self, args, seed):
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), LinearRegression())

    def fit(self, X, y):
        self.model.fit(X, y)
        resid = y - self.model.predict(X)
        dof = max(len(y) - X.shape[1] - 1, 1)
        self.sd = float(np.sqrt(np.sum(resid ** 2) / dof))
        return self

    def _predict(self, X):
        mu = self.model.predict(X)
        return mu, np.full_like(mu, self.sd)

    def note(self):
        return f"sd {self.sd:.3g}"


class GMMModel:
    """Conditional p(y | x) of a joint GaussianMixture on standardised [X, y]."""

    def __init__(self, args, seed):
        self.max_components = args.gmm_max_components
        self.seed = seed

    def fit(self, X, y):
        from sklearn.mixture import GaussianMixture

        self.x_mean, self.x_scale = X.mean(0), X.std(0)
        self.x_scale[self.x_scale == 0] = 1.0
        self.y_mean, self.y_scale = y.mean(), y.std()
        Z = np.column_stack([(X - self.x_mean) / self.x_scale,
                             (y - self.y_mean) / self.y_scale])
        best = None
        for k in range(1, self.max_components + 1):
            gmm = GaussianMixture(n_components=k, covariance_type="full",
                                  random_state=self.seed).fit(Z)
            bic = gmm.bic(Z)
            if best is None or bic < best[0]:
                best = (bic, gmm)
        gmm = best[1]
        self.k = gmm.n_components
        d = X.shape[1]
        mu, S = gmm.means_, gmm.covariances_
        self.mu_x, self.mu_y = mu[:, :d], mu[:, d]
        Sxx, Sxy, Syy = S[:, :d, :d], S[:, :d, d], S[:, d, d]
        self.gain = np.linalg.solve(Sxx, Sxy[..., None])[..., 0]  # (k, d): Sxx^-1 Sxy
        self.cond_var = Syy - np.einsum("kd,kd->k", Sxy, self.gain)
        self.log_pi = np.log(gmm.weights_)
        self.chol_xx = np.linalg.cholesky(Sxx)
        return self

    def _components(self, X):
        """Per-row log weights, means and sds of the conditional mixture (scaled y)."""
        Xs = (X - self.x_mean) / self.x_scale
        diff = Xs[:, None, :] - self.mu_x[None]  # (n, k, d)
        # log N(x; mu_kx, Sxx_k) via the Cholesky factor
        sol = np.stack([np.linalg.solve(self.chol_xx[j], diff[:, j].T).T
                        for j in range(self.k)], axis=1)
        log_det = 2.0 * np.log(np.diagonal(self.chol_xx, axis1=1, axis2=2)).sum(1)
        d = Xs.shape[1]
        log_px = -0.5 * (np.sum(sol ** 2, axis=2) + log_det + d * np.log(2 * np.pi))
        log_w = self.log_pi + log_px
        log_w -= logsumexp(log_w, axis=1, keepdims=True)
        means = self.mu_y + np.einsum("nkd,kd->nk", diff, self.gain)
        sds = np.sqrt(np.maximum(self.cond_var, 1e-300))[None, :]
        return log_w, means, np.broadcast_to(sds, means.shape)

    def logpdf(self, X, y):
        log_w, m, s = self._components(X)
        ys = (y - self.y_mean) / self.y_scale
        lp = logsumexp(log_w + norm.logpdf(ys[:, None], m, s), axis=1)
        return lp - np.log(self.y_scale)

    def interval(self, X, coverage):
        log_w, m, s = self._components(X)
        w = np.exp(log_w)
        a = (1.0 - coverage) / 2.0
        out = np.empty((len(X), 2))
        for j, q in enumerate((a, 1.0 - a)):
            lo = (m - 12 * s).min(1)
            hi = (m + 12 * s).max(1)
            for _ in range(200):  # bisection on the mixture CDF, all rows at once
                mid = 0.5 * (lo + hi)
                cdf = np.sum(w * ndtr((mid[:, None] - m) / s), axis=1)
                below = cdf < q
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
                if np.max(hi - lo) < 1e-10:
                    break
            out[:, j] = 0.5 * (lo + hi)
        return self.y_mean + self.y_scale * out

    def note(self):
        return f"{self.k} components"


MODELS = {"flow": FlowModel, "flow_cv": FlowCVModel, "ngboost": NGBoostModel, "gp": GPModel, "gmm": GMMModel,
          "ols": OLSModel}


# --------------------------------------------------------------------------- driver
def evaluate(method, X_tr, y_tr, X_te, y_te, args, seed):
    model = MODELS[method](args, seed)
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    fit_seconds = time.perf_counter() - t0
    ll = np.asarray(model.logpdf(X_te, y_te), dtype=np.float64)
    iv = np.asarray(model.interval(X_te, COVERAGE), dtype=np.float64)
    inside = (y_te >= iv[:, 0]) & (y_te <= iv[:, 1])
    return dict(loglik=float(np.mean(ll)), coverage=float(np.mean(inside)),
                width=float(np.mean(iv[:, 1] - iv[:, 0])), fit=fit_seconds,
                note=model.note())


def _pm(values, spec):
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return "-"
    sd = np.std(v, ddof=1) if len(v) > 1 else 0.0
    return f"{np.mean(v):{spec}} +- {sd:{spec}}"


def run_dataset(name, args):
    X, y, desc = load_dataset(name, args.data_dir)
    rng = np.random.default_rng(args.seed)
    if args.quick and len(y) > 3000:
        keep = rng.choice(len(y), 3000, replace=False)
        X, y = X[keep], y[keep]
    folds = splits(name, len(y), args.seed, args.quick)
    n_train = len(folds[0][0])
    results = {m: [] for m in args.methods}
    skipped = {}
    for i, (tr, te) in enumerate(folds):
        for method in args.methods:
            if method in skipped:
                continue
            if method == "gp" and n_train > GP_MAX_ROWS:
                skipped[method] = f"n_train = {n_train} > {GP_MAX_ROWS}"
                continue
            try:
                r = evaluate(method, X[tr], y[tr], X[te], y[te], args, args.seed + i)
            except ImportError as exc:
                skipped[method] = str(exc)
                continue
            results[method].append(r)
            if args.verbose:
                print(f"  {name} split {i + 1}/{len(folds)} {LABELS[method]}: "
                      f"ll {r['loglik']:.3f} cov {r['coverage']:.2f} width "
                      f"{r['width']:.3g} fit {r['fit']:.1f} s {r['note']}",
                      file=sys.stderr, flush=True)

    print(f"\n### {name}: {desc}; {len(y)} rows x {X.shape[1]} features, "
          f"{len(folds)} splits, about {n_train} training rows\n")
    print("| method | test log-lik (nats/row) | 90 % coverage | mean 90 % width | "
          "fit (s) | note (last split) |")
    print("|---|---|---|---|---|---|")
    for method in args.methods:
        rs = results[method]
        if not rs:
            print(f"| {LABELS[method]} | - | - | - | - | skipped: "
                  f"{skipped.get(method, 'no result')} |")
            continue
        print(f"| {LABELS[method]} | {_pm([r['loglik'] for r in rs], '.3f')} | "
              f"{_pm([r['coverage'] for r in rs], '.3f')} | "
              f"{_pm([r['width'] for r in rs], '.3g')} | "
              f"{_pm([r['fit'] for r in rs], '.3g')} | {rs[-1]['note']} |", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+",
                        default=[m for m in METHODS if m != "flow_cv"], choices=METHODS)
    parser.add_argument("--data-dir", default=os.path.join(REPO, "..", "shared", "data"),
                        help="folder of concrete.npz, diamonds.npz, mcycle.npz, "
                             "faithful.npz (default: ../shared/data from the repo root)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=300,
                        help="FlowRegressor's max_epochs (early stopping usually ends "
                             "training first)")
    parser.add_argument("--n-iter-no-change", type=int, default=20,
                        help="FlowRegressor's early-stopping patience")
    parser.add_argument("--flow", default="nsf", choices=["nsf", "realnvp"])
    parser.add_argument("--n-layers", type=int, default=5)
    parser.add_argument("--hidden-dims", type=int, nargs="+", default=[128, 128])
    parser.add_argument("--n-bins", type=int, default=8, help="FlowRegressor's n_bins")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="FlowRegressor's weight_decay")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="FlowRegressor's validation_fraction (early stopping rows)")
    parser.add_argument("--ensemble-size", type=int, default=1,
                        help="FlowRegressor's ensemble_size (a deep ensemble of that "
                             "many flows)")
    parser.add_argument("--calibration", default=None, choices=["temperature"],
                        help="FlowRegressor's calibration (temperature: the base scale "
                             "that maximises the validation rows' likelihood)")
    parser.add_argument("--cv-weight-decays", type=float, nargs="+",
                        default=[0.0, 1e-3, 1e-2, 3e-2],
                        help="flow_cv: the weight_decay values GridSearchCV chooses among")
    parser.add_argument("--cv-n-layers", type=int, nargs="+", default=None,
                        help="flow_cv: also choose n_layers among these")
    parser.add_argument("--cv-n-bins", type=int, nargs="+", default=None,
                        help="flow_cv: also choose n_bins among these")
    parser.add_argument("--cv-jobs", type=int, default=1,
                        help="flow_cv: GridSearchCV's n_jobs")
    parser.add_argument("--ngb-estimators", type=int, default=500)
    parser.add_argument("--gp-restarts", type=int, default=2)
    parser.add_argument("--gmm-max-components", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2 splits per data set, at most 3000 rows, 5 "
                             "epochs, 50 NGBoost trees, GMM up to 3 components")
    parser.add_argument("--verbose", action="store_true", help="one line per split")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_epochs = 5
        args.ngb_estimators = 50
        args.gmm_max_components = 3
        args.gp_restarts = 0
        # 5 epochs never converge: FlowRegressor warns so on every split
        from sklearn.exceptions import ConvergenceWarning
        warnings.filterwarnings("ignore", category=ConvergenceWarning)

    import torch
    torch.set_num_threads(args.threads)
    if "flow" in args.methods:  # warm-up fit: keep one-off costs out of the timings
        from skflows import FlowRegressor
        rng = np.random.default_rng(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            FlowRegressor(hidden_dims=(8,), max_epochs=1, device="cpu",
                          random_state=0).fit(rng.normal(size=(64, 2)), rng.normal(size=64))
    print(f"data from {os.path.abspath(args.data_dir)}; interval coverage {COVERAGE}")
    return {name: run_dataset(name, args) for name in args.datasets}


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
