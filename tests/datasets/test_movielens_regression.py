"""MovieLens-100k, split u1, user and item one-hot, rank 10, 200 sweeps (the issue's setting).

myFM 0.4.0 gives test RMSE 0.9101 on this split with these settings; we must reach 0.912 or
better, and the 90% predictive interval must hold 88-92% of the test ratings."""

import numpy as np
import pytest

from bayesfm import FMRegressor

pytestmark = [pytest.mark.dataset, pytest.mark.statistical]


@pytest.fixture(scope="module")
def fit_u1(ml100k_u1):
    d = ml100k_u1
    model = FMRegressor(rank=10, n_iter=200, n_burn=50, random_state=0)
    model.fit(d.X_train, d.y_train, groups=d.groups)
    return model, d


def test_u1_rmse(fit_u1):
    model, d = fit_u1
    rmse = np.sqrt(np.mean((model.predict(d.X_test) - d.y_test) ** 2))
    assert rmse <= 0.912, rmse


def test_u1_predictive_interval_coverage(fit_u1):
    model, d = fit_u1
    lo, hi = model.predict_interval(d.X_test, level=0.9).T
    coverage = np.mean((d.y_test >= lo) & (d.y_test <= hi))
    assert 0.88 <= coverage <= 0.92, coverage


def test_u1_groups_and_shapes(fit_u1):
    model, d = fit_u1
    assert model.groups_ == ["user", "item"]
    assert model.n_chains_ == 4 and model.draws_per_chain_ == 150
    assert model.V_.shape == (600, 2625, 10)
    assert model.lambda_v_.shape == (600, 2, 10)
