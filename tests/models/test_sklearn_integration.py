"""The estimators work inside scikit-learn's model-selection tools."""

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import cross_val_score

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor


def _data(seed=0, n=120, p=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    f = X @ rng.normal(size=p)
    return X, f


def test_estimator_kinds():
    assert is_regressor(FMRegressor()) and not is_classifier(FMRegressor())
    assert is_classifier(FMClassifier()) and is_classifier(FMOrdinalRegressor())


def test_cross_val_score_runs():
    X, f = _data()
    kw = dict(rank=2, n_iter=40, n_burn=10, random_state=0)
    r2 = cross_val_score(FMRegressor(**kw), X, f + 0.1, cv=3)
    acc = cross_val_score(FMClassifier(**kw), X, f > 0, cv=3)
    assert r2.shape == (3,) and np.all(r2 > 0.5)
    assert acc.shape == (3,) and np.all(acc > 0.7)
    assert clone(FMOrdinalRegressor(classes=[0, 1, 2])).classes == [0, 1, 2]
