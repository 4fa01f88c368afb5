"""Fast test parameters and expected common-check failures (one place for all tests)."""

from __future__ import annotations

import numpy as np

from .density import FlowDensity

__all__ = ["FAST_PARAMS", "EXPECTED_FAILED_CHECKS", "SUPERVISED", "WRAPPERS", "fit_target"]

#: Tiny networks and a few epochs: enough to exercise every code path in unit tests.
FAST_PARAMS: dict[str, dict] = {
    "CWAutoencoder": dict(n_components=2, encoder_hidden_dims=(8,), decoder_hidden_dims=(8,),
                          max_epochs=3, batch_size=64, device="cpu", random_state=0),
    "DeepArchetypes": dict(n_archetypes=3, n_layers=2, hidden_dims=(8,), head_hidden_dims=(8,),
                           n_bins=4, max_epochs=3, batch_size=64, device="cpu",
                           random_state=0),
    "FlowDensity": dict(n_layers=2, hidden_dims=(8,), n_bins=4, max_epochs=3, batch_size=64,
                        device="cpu", random_state=0),
    "FlowMixtureClustering": dict(n_components=3, n_layers=2, hidden_dims=(8,), n_bins=4,
                                  posterior_hidden_dims=(8,), pretrain_epochs=3,
                                  max_epochs=3, batch_size=64, device="cpu",
                                  random_state=0),
    "FlowOutlierGenerator": dict(flow_estimator=FlowDensity(n_layers=2, hidden_dims=(8,), n_bins=4,
                                                            max_epochs=3, batch_size=64,
                                                            device="cpu", random_state=0),
                                 discriminator_hidden_dims=(8,), n_generated=64, max_epochs=3,
                                 batch_size=64, device="cpu", random_state=0),
    "FlowRegressor": dict(n_layers=2, hidden_dims=(8,), n_bins=4, n_predict_samples=32,
                          max_epochs=3, batch_size=64, device="cpu", random_state=0),
    "DensityDetector": dict(estimator=FlowDensity(n_layers=2, hidden_dims=(8,), n_bins=4,
                                                  max_epochs=3, batch_size=64, device="cpu",
                                                  random_state=0)),
    "InputComplexityDetector": dict(estimator=FlowDensity(n_layers=2, hidden_dims=(8,), n_bins=4,
                                                          max_epochs=3, batch_size=64,
                                                          device="cpu", random_state=0)),
    "LikelihoodRatioDetector": dict(estimator=FlowDensity(n_layers=2, hidden_dims=(8,), n_bins=4,
                                                          max_epochs=3, batch_size=64,
                                                          device="cpu", random_state=0)),
    "TypicalityDetector": dict(estimator=FlowDensity(n_layers=2, hidden_dims=(8,), n_bins=4,
                                                     max_epochs=3, batch_size=64, device="cpu",
                                                     random_state=0)),
    "ManifoldFlow": dict(n_components=1, n_layers_outer=2, n_layers_inner=1, hidden_dims=(8,),
                         n_bins=4, encoder_hidden_dims=(8,), max_epochs=4, batch_size=64,
                         device="cpu", random_state=0),
    "ManifoldFlowRegressor": dict(n_components=1, n_layers_outer=2, n_layers_inner=1,
                                  hidden_dims=(8,), n_bins=4, encoder_hidden_dims=(8,),
                                  n_predict_samples=16, max_epochs=4, batch_size=64,
                                  device="cpu", random_state=0),
}

#: scikit-learn common checks expected to fail, with the reason (none at present).
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "CWAutoencoder": {},
    "DeepArchetypes": {},
    "FlowDensity": {},
    "FlowMixtureClustering": {},
    "FlowOutlierGenerator": {},
    "FlowRegressor": {},
    "DensityDetector": {},
    "InputComplexityDetector": {},
    "LikelihoodRatioDetector": {},
    "TypicalityDetector": {},
    "ManifoldFlow": {},
    "ManifoldFlowRegressor": {},
}

#: Estimators that wrap another density estimator and train no network of their own
#: (``skflows.ood``): the sweeps of the training engine (warm start, learning rate,
#: history, verbose output, interrupts) leave them out.
WRAPPERS = frozenset({"DensityDetector", "InputComplexityDetector", "LikelihoodRatioDetector",
                      "TypicalityDetector"})

#: Estimators whose ``fit`` needs a target ``y`` (conditional densities).
SUPERVISED = frozenset({"FlowRegressor", "ManifoldFlowRegressor"})

#: Columns of the sweeps' target for the conditional estimators that model a manifold in
#: the space of ``y`` (the others get a 1-D target).
TARGET_COLUMNS = {"ManifoldFlowRegressor": 2}


def fit_target(name: str, X):
    """The ``y`` that the sweeps pass to ``fit(X, y)``: None for the unsupervised
    estimators, a standard-normal target of ``len(X)`` rows for the conditional ones
    (1-D, or of ``TARGET_COLUMNS[name]`` columns; a fixed seed; independent of ``X``'s
    values, so that any ``X`` the sweeps try, such as strings or huge values, reaches
    the estimator's own validation)."""
    if name not in SUPERVISED:
        return None
    shape = (len(X), TARGET_COLUMNS[name]) if name in TARGET_COLUMNS else len(X)
    return np.random.RandomState(0).normal(size=shape)
