"""scikit-learn's common estimator checks on every skflows estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skflows import CWAutoencoder, DeepArchetypes, FlowDensity, FlowMixtureClustering
from skflows import FlowOutlierGenerator, FlowRegressor
from skflows import ManifoldFlow, ManifoldFlowRegressor
from skflows import DensityDetector, InputComplexityDetector, LikelihoodRatioDetector, TypicalityDetector
from skflows._testing import EXPECTED_FAILED_CHECKS, FAST_PARAMS

ESTIMATORS = [CWAutoencoder(**FAST_PARAMS["CWAutoencoder"]),
              FlowDensity(**FAST_PARAMS["FlowDensity"]),
              FlowDensity(**{**FAST_PARAMS["FlowDensity"], "flow": "lwta", "n_eval_samples": 4}),
              FlowDensity(**{**FAST_PARAMS["FlowDensity"], "trim_fraction": 0.2}),
              DensityDetector(**FAST_PARAMS["DensityDetector"]),
              InputComplexityDetector(**FAST_PARAMS["InputComplexityDetector"]),
              LikelihoodRatioDetector(**FAST_PARAMS["LikelihoodRatioDetector"]),
              TypicalityDetector(**FAST_PARAMS["TypicalityDetector"]),
              FlowMixtureClustering(**FAST_PARAMS["FlowMixtureClustering"]),
              FlowOutlierGenerator(**FAST_PARAMS["FlowOutlierGenerator"]),
              FlowOutlierGenerator(**{**FAST_PARAMS["FlowOutlierGenerator"], "method": "extreme",
                                      "score_kind": "logit"}),
              FlowOutlierGenerator(**{**FAST_PARAMS["FlowOutlierGenerator"],
                                      "flow_estimator": DeepArchetypes(
                                          **FAST_PARAMS["DeepArchetypes"]),
                                      "method": "dirichlet"}),
              DeepArchetypes(**FAST_PARAMS["DeepArchetypes"]),
              FlowRegressor(**FAST_PARAMS["FlowRegressor"]),
              FlowRegressor(**{**FAST_PARAMS["FlowRegressor"], "flow": "realnvp",
                               "context_embedding": (8, 4), "permutation": "reverse",
                               "conditioner": "residual", "ensemble_size": 2,
                               "calibration": "temperature"}),
              ManifoldFlow(**FAST_PARAMS["ManifoldFlow"]),
              ManifoldFlow(**{**FAST_PARAMS["ManifoldFlow"], "variant": "pie"}),
              ManifoldFlow(**{**FAST_PARAMS["ManifoldFlow"], "variant": "mflow_e",
                              "schedule": "sequential"}),
              ManifoldFlowRegressor(**FAST_PARAMS["ManifoldFlowRegressor"]),
              ManifoldFlowRegressor(**{**FAST_PARAMS["ManifoldFlowRegressor"],
                                       "variant": "mflow_e", "condition_manifold": True,
                                       "schedule": "sequential"})]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
