"""scikit-learn's own conformance suite (``parametrize_with_checks``) on the three estimators,
with small settings. Checks that fail by design are declared, with their reasons, in each
estimator's ``_sklearn_expected_failed_checks`` and passed through scikit-learn's own mechanism
(``expected_failed_checks``): FMRegressor and FMClassifier declare none."""

import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor  # noqa: E402

SMALL = dict(rank=2, n_iter=20, n_burn=5, n_chains=2, n_jobs=1)
ESTIMATORS = [FMRegressor(**SMALL), FMClassifier(**SMALL), FMOrdinalRegressor(**SMALL)]


def test_only_the_ordinal_model_declares_expected_failures():
    assert FMRegressor._sklearn_expected_failed_checks == {}
    assert FMClassifier._sklearn_expected_failed_checks == {}
    assert set(FMOrdinalRegressor._sklearn_expected_failed_checks) == {
        "check_classifiers_regression_target", "check_classifiers_train",
        "check_decision_proba_consistency", "check_classifiers_classes"}


@parametrize_with_checks(ESTIMATORS,
                         expected_failed_checks=lambda est: est._sklearn_expected_failed_checks)
def test_sklearn_conformance(estimator, check):
    check(estimator)
