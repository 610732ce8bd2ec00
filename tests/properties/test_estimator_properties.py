"""Properties of the estimators over random designs (hypothesis): predictions do not depend on
the units of a column or of the target, and every prediction method returns the documented
shape and dtype, for any number of rows."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor

from .strategies import designs

FAST = dict(rank=2, n_iter=12, n_burn=4, n_chains=2, n_jobs=1, n_threads=1, progress=False,
            random_state=3)


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # few sweeps: convergence warnings
        return model.fit(X, y)


@given(designs(min_rows=3), st.lists(st.sampled_from([1e-6, 0.01, 0.3, 7.0, 2e5]),
                                    min_size=8, max_size=8))
def test_predictions_do_not_depend_on_column_units(design, units):
    """fit(X D) predicts for X_new D what fit(X) predicts for X_new, for a positive diagonal D
    (the columns form one general group: each is scaled on its own)."""
    X, seed = design
    y = np.random.default_rng(seed).normal(size=X.shape[0])
    D = sp.diags(np.asarray(units[:X.shape[1]]))
    a = _fit(FMRegressor(**FAST), X, y).predict(X)
    b = _fit(FMRegressor(**FAST), sp.csr_matrix(X @ D), y).predict(sp.csr_matrix(X @ D))
    np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-8 * (1 + np.abs(a).max()))


@given(designs(min_rows=3), st.sampled_from([1e-5, 0.2, 3.0, 4e6]),
       st.sampled_from([0.0, -7.5, 1e4]))
def test_predictions_follow_an_affine_change_of_the_target(design, scale, shift):
    """fit(X, a y + b) predicts a * (what fit(X, y) predicts) + b, for a > 0 (not for a < 0:
    the prior of <v_i, v_j> is not symmetric under a change of sign); intervals likewise."""
    X, seed = design
    y = np.random.default_rng(seed).normal(size=X.shape[0])
    m1 = _fit(FMRegressor(**FAST), X, y)
    m2 = _fit(FMRegressor(**FAST), X, scale * y + shift)
    tol = 1e-8 * (abs(shift) + abs(scale) * (1 + np.abs(m1.predict(X)).max()))
    np.testing.assert_allclose(m2.predict(X), scale * m1.predict(X) + shift, rtol=0, atol=tol)
    lo_hi = scale * m1.predict_interval(X) + shift
    np.testing.assert_allclose(m2.predict_interval(X), lo_hi, rtol=0, atol=10 * tol)


@given(designs(min_rows=4), st.integers(1, 5), st.sampled_from(["regressor", "classifier",
                                                                "ordinal"]))
def test_prediction_methods_return_their_documented_shapes(design, m, kind):
    """For m new rows: predictions (m,), draws (S, m) (ordinal: (S, m, n_classes)), intervals
    (m, 2), probabilities (m, n_classes) summing to 1, prediction sets (m, n_classes) of
    bools; no rows at all is refused with our message, as scikit-learn's estimators do."""
    X, seed = design
    rng = np.random.default_rng(seed)
    n, p = X.shape
    Xn = sp.random(m, p, density=0.5, format="csr", random_state=rng)
    if kind == "regressor":
        model = _fit(FMRegressor(**FAST), X, rng.normal(size=n))
    elif kind == "classifier":
        model = _fit(FMClassifier(**FAST), X, np.r_[0, 1, rng.integers(0, 2, n - 2)])
    else:
        model = _fit(FMOrdinalRegressor(**FAST), X, np.r_[1, 2, 3, rng.integers(1, 4, n - 3)])
    S = model.n_chains_ * model.draws_per_chain_
    with pytest.raises(ValueError, match="X is empty"):
        model.predict(sp.csr_matrix((0, p)))
    pred = model.predict(Xn)
    assert pred.shape == (m,)
    draws = model.predict_draws(Xn)
    shape = (S, m, len(model.classes_)) if kind == "ordinal" else (S, m)
    assert draws.shape == shape and draws.dtype == np.float64
    assert model.decision_draws(Xn).shape == (S, m)
    if kind == "regressor":
        assert pred.dtype == np.float64
        iv = model.predict_interval(Xn)
        assert iv.shape == (m, 2) and iv.dtype == np.float64
        assert np.all(iv[:, 0] <= iv[:, 1])
        return
    proba = model.predict_proba(Xn)
    n_classes = len(model.classes_)
    assert proba.shape == (m, n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert np.isin(pred, model.classes_).all()
    assert model.decision_function(Xn).shape == (m,)
    if kind == "classifier":
        iv = model.predict_interval(Xn)
        assert iv.shape == (m, 2) and np.all((0 <= iv) & (iv <= 1))
    else:
        sets = model.predict_set(Xn)
        assert sets.shape == (m, n_classes) and sets.dtype == np.bool_
        assert model.predict_expected(Xn).shape == (m,)
