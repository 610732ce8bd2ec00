"""MovieLens-100k u1 with side information and implicit feedback as relational blocks, rank 10,
200 sweeps: RMSE at most 0.890 (myFM 0.4.0: 0.8887 with side + implicit features here)."""

import numpy as np
import pytest

from bayesfm import FMRegressor
from bayesfm.datasets import load_movielens_100k

pytestmark = [pytest.mark.dataset, pytest.mark.statistical]


@pytest.fixture(scope="module")
def relational_u1():
    try:
        return load_movielens_100k(split="u1", side_info=True, implicit=True)
    except FileNotFoundError as exc:
        pytest.skip(f"MovieLens-100k is not available: {exc}")


def test_layout(relational_u1):
    d = relational_u1
    assert d.X_train.shape == (80000, d.groups.shape[0]) and d.X_test.shape[0] == 20000
    groups = set(d.groups)
    assert {"user", "user_age", "user_gender", "user_occupation", "user_zip", "user_implicit",
            "item", "item_genre", "item_year", "item_implicit"} == groups
    row = d.X_train.expand([0]).toarray().ravel()
    implicit = row[d.groups == "user_implicit"]
    nz = implicit[implicit > 0]
    np.testing.assert_allclose(nz, 1 / np.sqrt(nz.size))     # 1/sqrt|N(u)|


def test_side_and_implicit_rmse(relational_u1):
    d = relational_u1
    model = FMRegressor(rank=10, n_iter=200, n_burn=50, random_state=0)
    model.fit(d.X_train, d.y_train, groups=list(d.groups))
    rmse = np.sqrt(np.mean((model.predict(d.X_test) - d.y_test) ** 2))
    assert rmse <= 0.890, rmse
