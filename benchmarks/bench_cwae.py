"""CWAutoencoder against PCA and a plain autoencoder: reconstruction, normality of the
latent and quality of the generated samples.

Peers, all with the same latent dimension ``k``:

* ``CWAE``: ``CWAutoencoder`` (encoder and decoder 3 x 200 ReLU, sigmoid output, the
  paper's MNIST architecture) for each ``lambda_`` of ``--lambdas`` (default 0.1, 0.3,
  1, 3; the paper uses 1 on MNIST, 5 on CelebA, 10 on Fashion-MNIST), samples = decoded
  ``N(0, I)`` draws; and ``CWAE (lambda_ selected on validation)``: the largest of these
  ``lambda_`` whose reconstruction error on the estimator's own validation split (10 %
  of the training rows, the same rows for every fit of a seed) is at most ``--budget``
  (default 1.05) times the plain autoencoder's. The selection sees training rows only;
  the chosen value is printed;
* ``AE``: the same estimator with ``lambda_=0`` (a plain autoencoder of the same
  architecture, same training), samples = decoded draws from a Gaussian fitted to its
  training codes (mean and full covariance: the fair way to sample it), and, for
  reference, decoded ``N(0, I)`` draws;
* ``PCA``: ``PCA(k, whiten=True)``, a Gaussian in its (whitened) latent, samples =
  ``inverse_transform`` of ``N(0, I)`` draws; reconstructions and samples are clipped to
  the pixel range ``[0, 1]`` (which only helps PCA);
* ``real``: held-out-sized draws of training images, the best any generator can do
  under the sample-quality metrics (their noise floor).

Metrics, on the test images:

* ``rec``: mean per-image sum of squared errors (pixels in ``[0, 1]``);
* ``CW index``: :func:`skflows.metrics.cw_normality_index` of the test codes (exact
  ``1F1``, default bandwidth; ``N(0, I)`` row: a true normal sample of the same size);
* ``Mardia skew`` ``(1/N^2) sum_ij (z_i^T z_j)^3`` and ``kurt`` ``mean ||z_i||^4`` of the
  test codes, without centring or whitening (the paper's evaluator), next to their
  values for an ``N(0, I)`` sample (kurtosis ``k (k + 2)``);
* sample quality, 2000 generated images against the test images:
  ``FD``: Fréchet distance between Gaussians fitted to the hidden-layer features of an
  MLP classifier trained on the training images (an FID-like score on our own feature
  extractor; lower is better);
  ``MMD``: unbiased squared MMD, Gaussian kernel with the median-distance bandwidth of
  the test images (x 1e3; lower is better);
  ``1-NN``: leave-one-out accuracy of a 1-nearest-neighbour classifier telling
  generated from test images (a classifier two-sample test; 0.5 is ideal).

Data: ``mnist5k`` (``X / 255``; 4000 train / 1000 test, stratified) and ``optdigits``
(``X / 16``; the UCI train / test split). ``--seeds`` repeats everything with other
seeds (network initialisation, validation split, sample draws, feature classifier) and
prints mean ± standard deviation. The last lines say, per CWAE setting, whether its
reconstruction error is within 10 % of the plain autoencoder's and whether it beats both
the plain autoencoder (fitted Gaussian) and PCA on each sample-quality metric.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_cwae.py [--quick] [--datasets ...]``
(about 25 minutes on one idle CPU core for one seed; ``--quick`` takes about one
minute and only exercises the code).
"""

import argparse
import time

import numpy as np
from scipy import linalg
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.neural_network import MLPClassifier

from skflows import CWAutoencoder
from skflows.datasets import load_mnist5k, load_optdigits
from skflows.metrics import cw_normality_index

N_GENERATED = 2000


def load(name, seed=0):
    """(X_train, X_test, y_train, y_test) with pixels in [0, 1], float32."""
    if name == "mnist5k":
        X, y = load_mnist5k(return_X_y=True)
        X = X / np.float32(255.0)
        return train_test_split(X, y, test_size=1000, stratify=y, random_state=seed)
    data = load_optdigits()
    X = (data.data / 16.0).astype(np.float32)
    test = data.is_test
    return X[~test], X[test], data.target[~test], data.target[test]


# ---------------------------------------------------------------------------- metrics
def mardia(Z):
    """The paper's (uncentred, unwhitened) Mardia skewness and kurtosis vs N(0, I)."""
    Z = np.asarray(Z, dtype=np.float64)
    return float(np.mean((Z @ Z.T) ** 3)), float(np.mean(np.sum(Z * Z, 1) ** 2))


def mmd2(A, B, bandwidth):
    """Unbiased squared MMD with the kernel exp(-||a - b||^2 / (2 bandwidth^2))."""
    def kernel_mean(P, Q, same):
        sq = (P * P).sum(1)[:, None] + (Q * Q).sum(1)[None] - 2 * P @ Q.T
        K = np.exp(-np.maximum(sq, 0) / (2 * bandwidth ** 2))
        if same:
            return (K.sum() - np.trace(K)) / (len(P) * (len(P) - 1))
        return K.mean()
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return kernel_mean(A, A, True) + kernel_mean(B, B, True) - 2 * kernel_mean(A, B, False)


def median_bandwidth(X, seed=0):
    rng = np.random.RandomState(seed)
    S = X[rng.choice(len(X), min(len(X), 1000), replace=False)].astype(np.float64)
    sq = (S * S).sum(1)[:, None] + (S * S).sum(1)[None] - 2 * S @ S.T
    return float(np.sqrt(np.median(sq[np.triu_indices(len(S), 1)])))


def one_nn_accuracy(A, B):
    """Leave-one-out 1-NN accuracy on A (label 0) vs B (label 1), equal sizes."""
    n = min(len(A), len(B))
    X = np.vstack([A[:n], B[:n]]).astype(np.float64)
    labels = np.r_[np.zeros(n), np.ones(n)]
    _, index = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    return float(np.mean(labels[index[:, 1]] == labels))


class FeatureSpace:
    """Hidden ReLU features of an MLP classifier trained on the training images."""

    def __init__(self, X, y, seed=0):
        self.clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=60, early_stopping=True,
                                 random_state=seed).fit(X, y)

    def __call__(self, X):
        return np.maximum(X @ self.clf.coefs_[0] + self.clf.intercepts_[0], 0)

    def frechet(self, A, B):
        FA, FB = self(np.asarray(A, np.float64)), self(np.asarray(B, np.float64))
        mu = FA.mean(0) - FB.mean(0)
        CA, CB = np.cov(FA, rowvar=False), np.cov(FB, rowvar=False)
        # tr sqrt(CA CB) = tr sqrt(CA^1/2 CB CA^1/2), symmetric PSD: stable with eigh
        w, U = linalg.eigh(CA)
        half = (U * np.sqrt(np.clip(w, 0, None))) @ U.T
        cross = np.sqrt(np.clip(linalg.eigvalsh(half @ CB @ half), 0, None)).sum()
        return float(mu @ mu + np.trace(CA) + np.trace(CB) - 2 * cross)


# ---------------------------------------------------------------------------- models
def best_valid_reconstruction(est):
    """Validation reconstruction error at the epoch whose weights were kept (the one with
    the lowest validation cost; early stopping restores it)."""
    best = min(est.history_, key=lambda entry: entry["valid_loss"])
    return best["valid_reconstruction"]


def select_lambda(valid_rec, ae_valid_rec, budget):
    """The largest lambda_ whose validation reconstruction error is at most ``budget``
    times the plain autoencoder's (training rows only: the validation split that every
    fit with the same seed holds out); the smallest lambda_ when none is."""
    within = [lam for lam, rec in valid_rec.items() if rec <= budget * ae_valid_rec]
    return max(within) if within else min(valid_rec)


def fit_models(X_train, k, lambdas, max_epochs, seed, budget=None):
    """label -> (fit seconds, encode, decode, sampler(n, rng), estimator)."""
    models = {}
    valid_rec = {}
    params = dict(n_components=k, encoder_hidden_dims=(200, 200, 200),
                  decoder_hidden_dims=(200, 200, 200), output_activation="sigmoid",
                  standardize=False, max_epochs=max_epochs, batch_size=128,
                  device="cpu", random_state=seed)
    for lam in [*lambdas, 0.0]:
        t0 = time.perf_counter()
        est = CWAutoencoder(lambda_=lam, **params).fit(X_train)
        seconds = time.perf_counter() - t0
        if lam > 0:
            valid_rec[lam] = best_valid_reconstruction(est)
            models[f"CWAE (lambda_={lam:g})"] = (
                seconds, est.transform, est.inverse_transform,
                lambda n, rng, est=est: est.sample(n, random_state=rng), est)
            continue
        Z = est.transform(X_train).astype(np.float64)
        mean, cov = Z.mean(0), np.cov(Z, rowvar=False)
        models["AE + fitted Gaussian"] = (
            seconds, est.transform, est.inverse_transform,
            lambda n, rng, est=est, mean=mean, cov=cov: est.inverse_transform(
                rng.multivariate_normal(mean, cov, size=n).astype(np.float32)), est)
        models["AE + N(0, I)"] = (seconds, est.transform, est.inverse_transform,
                                  lambda n, rng, est=est: est.sample(n, random_state=rng),
                                  est)
        if budget is not None and valid_rec:
            chosen = select_lambda(valid_rec, best_valid_reconstruction(est), budget)
            models["CWAE (lambda_ selected on validation)"] = models[
                f"CWAE (lambda_={chosen:g})"]
            print(f"  validation reconstruction, AE {best_valid_reconstruction(est):.3f}; "
                  + ", ".join(f"lambda_={lam:g}: {rec:.3f}"
                              for lam, rec in sorted(valid_rec.items()))
                  + f" -> selected lambda_={chosen:g}", flush=True)
    t0 = time.perf_counter()
    pca = PCA(k, whiten=True, random_state=seed).fit(X_train)
    seconds = time.perf_counter() - t0

    def pca_decode(Z):
        return np.clip(pca.inverse_transform(Z), 0, 1)

    models["PCA (Gaussian latent)"] = (seconds, pca.transform, pca_decode,
                                       lambda n, rng: pca_decode(rng.randn(n, k)), pca)
    return models


def evaluate(X_train, X_test, y_train, k, lambdas, max_epochs, seed=0, budget=None):
    """label -> metrics tuple (rec, CW, skew, kurt, FD, MMD, 1-NN, seconds, epochs)."""
    rng = np.random.RandomState(seed)
    features = FeatureSpace(X_train, y_train, seed)
    bandwidth = median_bandwidth(X_test)

    def quality(S):
        return (features.frechet(S, X_test), 1e3 * mmd2(S, X_test, bandwidth),
                one_nn_accuracy(S, X_test))

    rows = {}
    for label, (seconds, encode, decode, sampler, est) in fit_models(
            X_train, k, lambdas, max_epochs, seed, budget).items():
        Z = encode(X_test)
        rec = float(np.mean(((decode(Z) - X_test) ** 2).sum(1)))
        S = sampler(N_GENERATED, rng)
        rows[label] = (rec, cw_normality_index(Z), *mardia(Z), *quality(S), seconds,
                       getattr(est, "n_iter_", np.nan))
    # references: a true N(0, I) latent sample; real training images as "samples"
    Zn = rng.randn(len(X_test), k)
    real = X_train[rng.choice(len(X_train), min(N_GENERATED, len(X_train)), replace=False)]
    rows["N(0, I) codes / real images"] = (np.nan, cw_normality_index(Zn), *mardia(Zn),
                                           *quality(real), 0.0, np.nan)
    return rows


def _cell(values, fmt):
    values = np.asarray(values, dtype=float)
    if np.all(np.isnan(values)):
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def verdict(name, results):
    """Which CWAE settings meet the acceptance: rec <= 1.1 x AE and better FD, MMD and
    1-NN accuracy than both AE + fitted Gaussian and PCA (means over seeds)."""
    mean = {label: np.mean(np.asarray(rows, dtype=float), axis=0)
            for label, rows in results.items() if not label.startswith("N(0, I)")}
    ae, pca = mean["AE + fitted Gaussian"], mean["PCA (Gaussian latent)"]
    for label in (lab for lab in mean if lab.startswith("CWAE")):
        cw = mean[label]
        rec_ok = cw[0] <= 1.1 * ae[0]
        better = [cw[i] < min(ae[i], pca[i]) for i in (4, 5, 6)]
        print(f"{name} {label}: rec {cw[0]:.3f} = {cw[0] / ae[0]:.2f} x AE "
              f"({'ok' if rec_ok else 'MISSES'} <= 1.10); better than both peers on "
              f"FD / MMD / 1-NN: {' / '.join('yes' if b else 'no' for b in better)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "optdigits"])
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--budget", type=float, default=1.05,
                        help="select the largest lambda_ whose validation reconstruction "
                             "error is at most this multiple of the plain autoencoder's")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 epochs and 1000 training rows: checks the code only")
    args = parser.parse_args(argv)
    print("| data | model | rec (test) | CW index | Mardia skew | Mardia kurt | FD | "
          "MMD x1e3 | 1-NN acc. | fit (s) | epochs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    formats = (".3f", ".4f", ".1f", ".1f", ".2f", ".2f", ".3f", ".0f", ".0f")
    summary = []
    for name in args.datasets:
        X_train, X_test, y_train, _ = load(name)
        epochs = args.max_epochs
        if args.quick:
            X_train, y_train, epochs = X_train[:1000], y_train[:1000], 3
        results = {}
        for seed in args.seeds:
            for label, row in evaluate(X_train, X_test, y_train, args.n_components,
                                       args.lambdas, epochs, seed,
                                       args.budget).items():
                results.setdefault(label, []).append(row)
        for label, rows in results.items():
            cells = [_cell(column, fmt) for column, fmt in zip(zip(*rows), formats)]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)
        summary.append((name, results))
    print(f"\nseeds: {args.seeds} (mean ± sd over seeds where more than one)")
    for name, results in summary:
        verdict(name, results)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
