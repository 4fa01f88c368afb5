"""scikit-learn's common estimator checks on every skflows estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skflows import FlowDensity, FlowMixtureClustering
from skflows._testing import EXPECTED_FAILED_CHECKS, FAST_PARAMS

ESTIMATORS = [FlowDensity(**FAST_PARAMS["FlowDensity"]),
              FlowDensity(**{**FAST_PARAMS["FlowDensity"], "flow": "lwta", "n_eval_samples": 4}),
              FlowMixtureClustering(**FAST_PARAMS["FlowMixtureClustering"])]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
