"""Random (LWTA) normalizing flows against deterministic RealNVP and NSF flows.

A bi-Lipschitz flow cannot put zero density between separated modes; a random flow (a
mixture of bijections, ``FlowDensity(flow="lwta")``) can. For each data set the three
flows are fitted with the same training budget (same ``max_epochs``, batch size, learning
rate, early stopping on a 10 % validation split, same seed) and, as far as the layer
shapes allow, the same number of parameters: NSF and LWTA share conditioner shapes exactly
(the LWTA layer is a linear layer with a stochastic activation); RealNVP's conditioner
outputs fewer numbers per coordinate (2 instead of 3K - 1), so its hidden width is raised
until its parameter count matches NSF's from above.

Data sets: the 2-D toys of Cornish et al. (ICML 2020) with their analytic optimum (the
true entropy): 2uniforms (log 4 = 1.386 nats), annulus (log 3 pi = 2.243), split-gaussian
(log 2 pi e = 2.838), 10 000 train / 5 000 test rows; and the real sets pendigits and
optdigits (UCI train/test split, dequantised). Printed: test NLL (nats; LWTA's is the
importance-weighted estimate with ``n_eval_samples`` draws, an estimate biased high by
at most its bound gap; it trains on the importance-weighted bound with
``n_train_samples`` draws), the gap to the optimum, the fraction of RealNVP's gap that the
flow closes, parameter count, epochs and fit time, as mean +- standard deviation over
``--seeds`` (each seed draws new toy data, a new dequantisation and a new initialisation).

Also printed per seed: how much the LWTA flow's mixture members disagree (the standard
deviation of ``log p(x | xi)`` over the evaluation draws, and the importance-weighted
estimate minus the bound; both 0 when the random flow is in effect one deterministic
flow), and on split-gaussian the part of every flow's gap at ``|x1| < 0.05``, where the
conditional mean of ``x2`` jumps from -2 to +2.

The gap on the toys is the *paired* one: the mean over the test rows of
``log p(x) - log q(x)`` with the exact log-density ``p`` of the same rows, an estimate of
KL(p || q). Subtracting the analytic entropy instead adds the sampling error of the test
set's own mean log-density (about 1 / sqrt(5000) = 0.014 nats on split-gaussian, the
same size as the gaps being compared); the paired difference cancels it.

With ``--exact-training`` a fourth row, ``lwta-exact``, is the same LWTA flow trained and
validated on its exact log-likelihood (every winner configuration enumerated; tiny
mixtures only): it tells whether the random flow's shortfall comes from the Monte-Carlo
training objective or from the model itself.

Run: ``python benchmarks/bench_random_flow.py [--datasets ...] [--max-epochs N]
[--patience P] [--seeds 0 1 2] [--exact-training]``.
"""

import argparse
import itertools
import time

import numpy as np
import torch

from bench_density import load  # same folder: (X_train, X_test, optimum or None)

from skflows import FlowDensity
from skflows.datasets import toy_log_prob
from skflows.nn import coupling_flow

TOYS = ("two_uniforms", "annulus", "split_gaussian")
RANDOM = ("lwta", "lwta-exact")  # the random flows' labels


class ExactMixtureFlowDensity(FlowDensity):
    """The LWTA flow trained and validated on its exact log-likelihood.

    ``log p(x) = logsumexp_xi log p(x, xi)`` over every winner configuration
    (:meth:`~skflows.nn.StochasticFlow.log_prob_exact`), so neither the objective nor its
    gradient (the winner logits' included) carries Monte-Carlo error. A diagnostic: if
    this fit ends where the importance-weighted one does, the shortfall is the model's
    likelihood surface, not the training estimator's.
    """

    def _loss(self):
        return exact_nll


def exact_nll(module, X):
    """Mean exact negative log-likelihood (nats per row) of a tiny random flow."""
    return -module.log_prob_exact(X).mean()


def n_params(d, transform, hidden, n_layers):
    flow = coupling_flow(d, transform=transform, n_layers=n_layers, hidden_dims=hidden)
    return sum(p.numel() for p in flow.parameters())


def matched_realnvp_width(d, hidden, n_layers):
    """Smallest RealNVP width (same depth) with at least NSF's parameter count."""
    target = n_params(d, "nsf", hidden, n_layers)
    width = hidden[0]
    while n_params(d, "realnvp", (width,) * len(hidden), n_layers) < target:
        width += 2
    return (width,) * len(hidden)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=[*TOYS, "pendigits", "optdigits"])
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10,
                        help="early stopping: epochs without a validation improvement")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--competitors", type=int, default=2)
    parser.add_argument("--lwta-blocks", type=int, default=1,
                        help="LWTA blocks per conditioner (0: every first-layer unit "
                             "competes)")
    parser.add_argument("--eval-samples", type=int, default=64)
    parser.add_argument("--train-samples", type=int, default=8,
                        help="winner draws per row in the LWTA flow's training bound "
                             "(1: the plain evidence lower bound)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--draw-check", nargs="+", type=int, default=[],
                        help="also print the LWTA flow's paired gap with these numbers of "
                             "evaluation draws (convergence of the importance-weighted "
                             "estimate)")
    parser.add_argument("--exact-training", action="store_true",
                        help="also fit the LWTA flow on the exact mixture log-likelihood "
                             "(every winner configuration enumerated: no Monte-Carlo error "
                             "in the objective or its gradient; tiny mixtures only, for "
                             "example one block of 2 competitors in 5 layers = 32 members)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hidden = (args.hidden, args.hidden)
    print(f"torch threads {args.threads}; max_epochs {args.max_epochs}, patience "
          f"{args.patience}; {args.layers} "
          f"coupling layers; LWTA: {args.lwta_blocks or 'all'} block(s) of "
          f"{args.competitors} competitors, "
          f"{args.train_samples} training draws, {args.eval_samples} evaluation draws; "
          f"seeds {args.seeds} (mean +- sd)\n")
    print("| data set | flow | hidden | params | test NLL (nats) | gap to optimum (paired, "
          "nats) | share of RealNVP's gap closed | epochs | fit time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        rows = {}
        for seed in args.seeds:
            for label, row in fit_three(name, seed, args, hidden).items():
                rows.setdefault(label, []).append(row)
        realnvp_gaps = np.array([r["gap"] for r in rows["realnvp"]])
        for label, runs in rows.items():
            gaps = np.array([r["gap"] for r in runs])
            gap = closed = "-"
            if not np.isnan(gaps).any():
                gap = fmt(gaps, 4)
                if label != "realnvp":
                    closed = fmt(1 - gaps / realnvp_gaps, 2, percent=True)
            print(f"| {name} | {label} | {runs[0]['hidden']} | {runs[0]['params']} | "
                  f"{fmt([r['nll'] for r in runs], 3)} | {gap} | {closed} | "
                  f"{fmt([r['epochs'] for r in runs], 0)} | "
                  f"{fmt([r['seconds'] for r in runs], 0)} |", flush=True)
        if len(args.seeds) > 1:
            print(f"\n{name}, paired gap per seed {args.seeds}: " + "; ".join(
                f"{label} " + " / ".join(f"{r['gap']:.4f}" for r in runs)
                for label, runs in rows.items()))
        for seed, label in itertools.product(args.seeds, RANDOM):
            if label not in rows:
                continue
            run = rows[label][args.seeds.index(seed)]
            print(f"\n{name}, seed {seed}: {label} mixture members: sd of log p(x | xi) over "
                  f"{args.eval_samples} draws {run['spread']:.4f} nats; IW estimate minus "
                  f"the bound (the mixture's gain over one member) {run['iw_gain']:.4f} nats")
        for seed, run in zip(args.seeds, rows["lwta"]):
            if name == "split_gaussian":
                steps = ", ".join(f"{label} {runs[args.seeds.index(seed)]['step']:.4f}"
                                  for label, runs in rows.items())
                print(f"{name}, seed {seed}: part of the paired gap at |x1| < 0.05 (the "
                      f"jump of the conditional mean): {steps}")
            if run["gap_by_draws"]:
                checks = ", ".join(f"S={k}: {v:.4f}" for k, v in run["gap_by_draws"].items())
                print(f"\n{name}, seed {seed}: LWTA paired gap by evaluation draws: {checks}\n")


def fmt(values, digits, percent=False):
    """``mean +- sd`` (just the value for one seed)."""
    values = np.asarray(values, dtype=float) * (100 if percent else 1)
    unit = "%" if percent else ""
    if values.size == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return f"{values.mean():.{digits}f}{unit} +- {values.std(ddof=1):.{digits}f}{unit}"


def fit_three(name, seed, args, hidden):
    """Fit RealNVP, NSF and LWTA on one seed's data; their scores as dicts."""
    X_train, X_test, optimum = load(name, seed)
    d = X_train.shape[1]
    true_log_prob = (toy_log_prob(name, X_test.astype(np.float64))
                     if optimum is not None else None)
    common = dict(n_layers=args.layers, max_epochs=args.max_epochs, random_state=seed,
                  n_iter_no_change=args.patience, device="cpu")
    models = {
        "realnvp": FlowDensity(flow="realnvp",
                               hidden_dims=matched_realnvp_width(d, hidden, args.layers),
                               **common),
        "nsf": FlowDensity(flow="nsf", hidden_dims=hidden, **common),
        "lwta": FlowDensity(flow="lwta", hidden_dims=hidden,
                            n_competitors=args.competitors,
                            n_lwta_blocks=args.lwta_blocks or None,
                            n_eval_samples=args.eval_samples,
                            n_train_samples=args.train_samples, **common),
    }
    if args.exact_training:
        models["lwta-exact"] = ExactMixtureFlowDensity(**models["lwta"].get_params())
    rows = {}
    for label, model in models.items():
        t0 = time.perf_counter()
        model.fit(X_train)
        seconds = time.perf_counter() - t0
        log_q = model.score_samples(X_test)
        gap = (float(np.mean(true_log_prob - log_q)) if true_log_prob is not None
               else float("nan"))
        gap_by_draws = {}
        if label == "lwta" and true_log_prob is not None:
            for draws in args.draw_check:
                model.set_params(n_eval_samples=draws)
                gap_by_draws[draws] = float(np.mean(true_log_prob
                                                    - model.score_samples(X_test)))
        step = (float(np.sum((true_log_prob - log_q)[np.abs(X_test[:, 0]) < 0.05]))
                / len(X_test) if name == "split_gaussian" else float("nan"))
        spread = iw_gain = float("nan")
        if label in RANDOM:
            spread, iw_gain = member_spread(model, X_test, args.eval_samples)
        rows[label] = dict(nll=-float(np.mean(log_q)), gap=gap, seconds=seconds,
                           gap_by_draws=gap_by_draws, step=step, spread=spread,
                           iw_gain=iw_gain,
                           epochs=model.n_iter_,
                           params=sum(p.numel() for p in model.module_.parameters()),
                           hidden=f"{model.hidden_dims[0]}x{len(model.hidden_dims)}")
    return rows


def member_spread(model, X, n_draws):
    """How much a fitted random flow's mixture members disagree on the rows of ``X``.

    Returns the mean over rows of the standard deviation of ``log p(x | xi_s)`` over
    ``n_draws`` keyed winner draws, and the mean of ``log (1/S) sum_s p(x | xi_s) -
    (1/S) sum_s log p(x | xi_s)`` (the importance-weighted estimate minus the bound), both
    in nats. Both are 0 when every member gives the same density, that is when the
    random flow is in effect one deterministic flow.
    """
    flow = model.module_
    param = next(flow.parameters())
    x = torch.as_tensor(X, dtype=param.dtype, device=param.device)
    with torch.no_grad():
        log_p = flow.log_prob(x.expand(n_draws, *x.shape),
                              flow.keyed_uniforms(x, 0, n_draws)).double()
    iw = torch.logsumexp(log_p, 0) - np.log(n_draws)
    return float(log_p.std(0).mean()), float((iw - log_p.mean(0)).mean())


if __name__ == "__main__":
    main()
