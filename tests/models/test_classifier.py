"""Tests of ``bayesfm.FMClassifier`` (binary probit FM): labels of any kind, the prediction API,
accuracy on a simulated probit problem, input validation, reproducibility, scikit-learn
conventions and far-tail robustness.

The tests the three estimators share (reproducibility, blocked prediction, the scikit-learn
protocol, input validation) are in ``tests/models/test_contract.py``.

Everything runs on small simulated data with fixed seeds; the whole module takes a few seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import ndtr

from bayesfm import FMClassifier
from tests.helpers import assert_msg
from tests.statistical.fm_prior import fm_yhat as fm_function

# ---------------------------------------------------------------------------------------------
# helpers and shared fixtures
# ---------------------------------------------------------------------------------------------

def make_probit_data(n, p, rank=2, seed=0, n_test=0):
    """Simulate y = 1[f(x) + Normal(0, 1) > 0] with f a known linear + pairwise FM function.

    Returns ``X, y`` (y in {0, 1}); with ``n_test`` > 0 also ``X_test, y_test, f_test``.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.8, size=p)
    V = rng.normal(0.0, 0.5, size=(p, rank))
    X = rng.normal(size=(n + n_test, p))
    f = fm_function(X, 0.0, w, V)
    y = (f + rng.normal(size=n + n_test) > 0).astype(np.int64)
    if not n_test:
        return X, y
    return X[:n], y[:n], X[n:], y[n:], f[n:]


N, P, RANK, N_TEST = 300, 6, 2, 200
N_ITER, N_BURN, THIN = 100, 30, 2
S = len(range(N_BURN, N_ITER, THIN))   # draws per chain (and in all of a one-chain fit)


def model(**kw):
    params = dict(rank=RANK, n_iter=N_ITER, n_burn=N_BURN, thin=THIN, n_chains=1, n_jobs=1,
                  random_state=0)
    params.update(kw)
    return FMClassifier(**params)


def small_model(**kw):
    params = dict(rank=2, n_iter=30, n_burn=10, thin=1, n_chains=1, n_jobs=1, random_state=0)
    params.update(kw)
    return FMClassifier(**params)


@pytest.fixture(scope="module")
def sim():
    """Training and test data of a probit FM problem, labels 0/1."""
    X, y, Xt, yt, ft = make_probit_data(N, P, rank=RANK, seed=0, n_test=N_TEST)
    # both classes well represented (so "chance" below is close to 1/2)
    assert 0.35 < y.mean() < 0.65
    return X, y, Xt, yt, ft


@pytest.fixture(scope="module")
def fitted(sim):
    """The 0/1 reference fit shared by read-only tests (never modified by a test)."""
    X, y = sim[:2]
    m = model()
    assert m.fit(X, y) is m
    return m


@pytest.fixture(scope="module")
def fitted2(sim):
    """The same settings with two chains (run in this process), for the pooled shapes."""
    X, y = sim[:2]
    return model(n_chains=2).fit(X, y)


@pytest.fixture(params=[1, 2], ids=["1chain", "2chains"])
def fitted_c(request):
    """(number of chains, the 0/1 fit with that many chains)."""
    name = "fitted" if request.param == 1 else "fitted2"
    return request.param, request.getfixturevalue(name)


# Relabellings of the 0/1 labels: (negative label, positive label, expected classes_ dtype kind).
# The negative label always sorts first, so classes_[1] is always the image of 1.
LABEL_KINDS = {
    "int01": (0, 1, "i"),
    "pm1": (-1, 1, "i"),
    "float": (0.0, 1.0, "f"),
    "bool": (False, True, "b"),
    "str": ("no", "yes", "U"),
    "str_ab": ("a", "b", "U"),
    "object_str": ("no", "yes", "O"),
}


def relabel(y01, kind):
    neg, pos, dkind = LABEL_KINDS[kind]
    if dkind == "O":
        out = np.empty(y01.shape[0], dtype=object)
        out[:] = [pos if v else neg for v in y01]
        return out
    return np.where(y01 == 1, np.array(pos), np.array(neg))


@pytest.fixture(scope="module")
def relabelled_fits(sim):
    """kind -> model fitted on the same data with relabelled classes (same seed and settings)."""
    X, y = sim[:2]
    return {kind: model().fit(X, relabel(y, kind)) for kind in LABEL_KINDS}


# ---------------------------------------------------------------------------------------------
# 1. fitted attributes, labels of any kind
# ---------------------------------------------------------------------------------------------

def test_fitted_attribute_shapes(fitted_c):
    C, fitted = fitted_c
    SC = C * S   # pooled draws
    G, k = 1, RANK
    assert fitted.n_chains_ == C
    assert fitted.draws_per_chain_ == S
    assert fitted.sweeps_per_chain_ == N_ITER
    assert fitted.interrupted_ is False
    assert fitted.n_draws_ == SC
    assert fitted.w0_.shape == (SC,)
    assert fitted.w_.shape == (SC, P)
    assert fitted.V_.shape == (SC, P, k)
    assert fitted.mu_w_.shape == (SC, G)
    assert fitted.lambda_w_.shape == (SC, G)
    assert fitted.mu_v_.shape == (SC, G, k)
    assert fitted.lambda_v_.shape == (SC, G, k)
    assert fitted.n_features_in_ == P
    for name in ("w0_", "w_", "V_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_"):
        assert np.all(np.isfinite(getattr(fitted, name))), name
    assert np.all(fitted.lambda_w_ > 0) and np.all(fitted.lambda_v_ > 0)
    # per-chain draws (C, S, ...); the pooled attributes are the chains one after the other
    tails = {"w0": (), "w": (P,), "V": (P, k), "mu_w": (G,), "lambda_w": (G,),
             "mu_v": (G, k), "lambda_v": (G, k)}
    assert set(fitted.draws_) == set(tails)
    for name, tail in tails.items():
        per_chain = fitted.draws_[name]
        assert per_chain.shape == (C, S) + tail, name
        pooled = getattr(fitted, name + "_")
        for c in range(C):
            assert np.array_equal(pooled[c * S:(c + 1) * S], per_chain[c]), (name, c)
    if C > 1:
        # independent seeds: the chains do not repeat each other
        assert not np.array_equal(fitted.draws_["V"][0], fitted.draws_["V"][1])


@pytest.mark.parametrize("kind", list(LABEL_KINDS))
def test_classes_sorted(relabelled_fits, kind):
    neg, pos, dkind = LABEL_KINDS[kind]
    m = relabelled_fits[kind]
    assert m.classes_.shape == (2,)
    assert m.classes_.tolist() == [neg, pos]
    assert m.classes_.dtype.kind == dkind


def test_classes_sorted_whatever_the_order_of_appearance():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    y = np.array(["yes"] * 20 + ["no"] * 20)  # "yes" appears first
    m = small_model().fit(X, y)
    assert m.classes_.tolist() == ["no", "yes"]
    m = small_model().fit(X, np.array([1] * 20 + [-1] * 20))
    assert m.classes_.tolist() == [-1, 1]


@pytest.mark.parametrize("kind", list(LABEL_KINDS))
def test_predict_returns_labels_of_the_same_kind(relabelled_fits, sim, kind):
    Xt = sim[2]
    neg, pos, dkind = LABEL_KINDS[kind]
    m = relabelled_fits[kind]
    pred = m.predict(Xt)
    assert pred.shape == (N_TEST,)
    assert pred.dtype.kind == dkind
    assert set(pred.tolist()) <= {neg, pos}
    # both labels are predicted on this balanced problem
    assert set(pred.tolist()) == {neg, pos}


@pytest.mark.parametrize("kind", [k for k in LABEL_KINDS if k != "int01"])
def test_relabelled_classes_bit_identical(relabelled_fits, sim, kind):
    """The labels only enter through their sorted order: relabelling them (keeping the order)
    changes nothing in the chain, bit for bit."""
    Xt = sim[2]
    ref = relabelled_fits["int01"]
    m = relabelled_fits[kind]
    assert np.array_equal(m.predict_proba(Xt), ref.predict_proba(Xt))
    assert np.array_equal(m.predict_draws(Xt), ref.predict_draws(Xt))
    assert np.array_equal(m.w0_, ref.w0_) and np.array_equal(m.V_, ref.V_)
    # predictions are the same up to the relabelling
    neg, pos, _ = LABEL_KINDS[kind]
    mapped = [pos if v == 1 else neg for v in ref.predict(Xt).tolist()]
    assert m.predict(Xt).tolist() == mapped


def test_labels_as_python_list(sim, relabelled_fits):
    X, y, Xt = sim[:3]
    m = model().fit(X, ["yes" if v else "no" for v in y])
    assert m.classes_.tolist() == ["no", "yes"]
    assert np.array_equal(m.predict_proba(Xt), relabelled_fits["str"].predict_proba(Xt))


# ---------------------------------------------------------------------------------------------
# 2. the prediction API
# ---------------------------------------------------------------------------------------------

def test_predict_proba_shape_and_rows(fitted, sim):
    Xt = sim[2]
    proba = fitted.predict_proba(Xt)
    assert proba.shape == (N_TEST, 2)
    assert np.all(proba >= 0.0) and np.all(proba <= 1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["int01", "str", "pm1"])
def test_predict_proba_columns_follow_classes(relabelled_fits, sim, kind):
    """Column k is P(y = classes_[k]): the rows whose test label is classes_[1] get a much
    larger second column on average than the rows labelled classes_[0]."""
    Xt, yt = sim[2], sim[3]
    m = relabelled_fits[kind]
    yt_lab = relabel(yt, kind)
    proba = m.predict_proba(Xt)
    is_pos = yt_lab == m.classes_[1]
    assert proba[is_pos, 1].mean() > proba[~is_pos, 1].mean() + 0.3
    assert proba[~is_pos, 0].mean() > proba[is_pos, 0].mean() + 0.3


def test_predict_is_more_probable_class(fitted, sim):
    Xt = sim[2]
    proba = fitted.predict_proba(Xt)
    pred = fitted.predict(Xt)
    np.testing.assert_array_equal(pred, fitted.classes_[(proba[:, 1] > 0.5).astype(int)])


def test_predict_draws_shape_range_and_mean(fitted_c, sim):
    C, fitted = fitted_c
    Xt = sim[2]
    draws = fitted.predict_draws(Xt)
    assert draws.shape == (C * S, N_TEST)
    assert np.all(draws >= 0.0) and np.all(draws <= 1.0)
    # predict_proba[:, 1] is the mean of the same per-draw probabilities (maybe summed in blocks)
    np.testing.assert_allclose(draws.mean(axis=0), fitted.predict_proba(Xt)[:, 1],
                               rtol=1e-12, atol=1e-14)


def test_decision_function_and_draws(fitted_c, sim):
    C, fitted = fitted_c
    Xt = sim[2]
    dd = fitted.decision_draws(Xt)
    df = fitted.decision_function(Xt)
    assert dd.shape == (C * S, N_TEST)
    assert df.shape == (N_TEST,)
    # the probit of the predictive probability: ranks and thresholds as predict_proba does
    p1 = fitted.predict_proba(Xt)[:, 1]
    np.testing.assert_allclose(ndtr(df), p1, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(fitted.predict(Xt), fitted.classes_[(df > 0).astype(int)])
    # and stays finite (and ordered) where the probability rounds to 0 or 1
    far = fitted.decision_function(Xt * 50.0)
    assert np.all(np.isfinite(far))
    # the probit link: the per-draw probability is Phi of the per-draw latent mean
    np.testing.assert_array_equal(fitted.predict_draws(Xt), ndtr(dd))


# ---------------------------------------------------------------------------------------------
# 3. it learns the simulated function
# ---------------------------------------------------------------------------------------------

@pytest.mark.statistical
def test_accuracy_well_above_chance(fitted, sim):
    """Held-out accuracy on a probit problem with a known FM function.

    The latent function has standard deviation ~1.7 against the unit probit noise, so the Bayes
    rule (predict 1 iff f(x) > 0) reaches ~0.87 on this test set, while chance (the majority
    class) is ~0.52 and a fit that learned nothing, or learned the wrong sign, is at or below
    that. With 200 test rows the binomial sd of an accuracy is ~0.025: requiring the majority
    rate + 0.2 and no more than 0.1 (4 sd) below the Bayes rule is generous to Monte Carlo
    noise of a 35-draw chain yet fails any sampler that does not recover the signal.
    """
    Xt, yt, ft = sim[2:]
    acc = np.mean(fitted.predict(Xt) == yt)
    majority = max(yt.mean(), 1.0 - yt.mean())
    bayes = np.mean((ft > 0).astype(int) == yt)
    assert acc > majority + 0.2, (acc, majority)
    assert acc > bayes - 0.1, (acc, bayes)
    # the posterior mean latent function tracks the true one
    assert np.corrcoef(fitted.decision_function(Xt), ft)[0, 1] > 0.8


@pytest.mark.parametrize("kind", ["int01", "str", "bool"])
def test_score_is_accuracy_of_predict(relabelled_fits, sim, kind):
    X, y, Xt, yt = sim[:4]
    m = relabelled_fits[kind]
    for XX, yy in ((X, relabel(y, kind)), (Xt, relabel(yt, kind))):
        expect = float(np.mean(m.predict(XX) == yy))
        assert m.score(XX, yy) == expect
    assert isinstance(m.score(Xt, relabel(yt, kind)), float)


def test_score_accepts_list_labels(relabelled_fits, sim):
    Xt, yt = sim[2], sim[3]
    m = relabelled_fits["str"]
    yl = ["yes" if v else "no" for v in yt]
    assert m.score(Xt, yl) == m.score(Xt, np.array(yl))


# ---------------------------------------------------------------------------------------------
# 4. errors (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 4))
    y = np.array([0, 1] * 15)
    return X, y


@pytest.mark.parametrize("y", [np.zeros(30, dtype=int), np.array(["a"] * 30),
                               np.ones(30, dtype=bool)])
def test_single_class(tiny, y):
    X, _ = tiny
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\by\b", "one class", "two")


@pytest.mark.parametrize("y", [np.array([0, 1, 2] * 10), np.array(["a", "b", "c"] * 10)])
def test_three_classes_points_to_ordinal(tiny, y):
    X, _ = tiny
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\b3 classes\b", "binary", "FMOrdinalRegressor")


@pytest.mark.parametrize("bad", [None, np.nan, float("nan")])
def test_missing_label_in_object_array_names_row(tiny, bad):
    X, _ = tiny
    y = np.array(["no", "yes"] * 15, dtype=object)
    y[8] = bad
    y[25] = bad
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\by\b", r"\b8\b")


def test_continuous_target_is_refused(tiny):
    X, _ = tiny
    with pytest.raises(ValueError, match="continuous") as ei:
        small_model().fit(X, np.linspace(0, 1, X.shape[0]))
    assert_msg(ei, "FMRegressor")
    small_model(n_iter=3, n_burn=1).fit(X, (np.arange(X.shape[0]) % 2).astype(float))


def test_score_with_unknown_label_names_row(relabelled_fits, sim):
    Xt, yt = sim[2], sim[3]
    m = relabelled_fits["str"]
    y = relabel(yt, "str").astype(object)
    y[17] = "maybe"
    y[40] = "maybe"
    with pytest.raises(ValueError) as ei:
        m.score(Xt, y)
    assert_msg(ei, r"\by\b", "'maybe'", r"\b17\b", "no", "yes")


def test_score_with_unknown_numeric_label(fitted, sim):
    Xt, yt = sim[2], sim[3]
    y = yt.copy()
    y[5] = 2
    with pytest.raises(ValueError) as ei:
        fitted.score(Xt, y)
    assert_msg(ei, r"\b5\b", r"\b2\b")


def test_score_wrong_length(fitted, sim):
    Xt, yt = sim[2], sim[3]
    with pytest.raises(ValueError) as ei:
        fitted.score(Xt, yt[:-1])
    assert_msg(ei, r"\by\b", str(N_TEST - 1), str(N_TEST))


# ---------------------------------------------------------------------------------------------
# 5. reproducibility, 6. scikit-learn conventions: tests/models/test_contract.py
# ---------------------------------------------------------------------------------------------

DRAW_NAMES = ("w0_", "w_", "V_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_")


# ---------------------------------------------------------------------------------------------
# 7. far-tail robustness
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, duplicate, init_scale", [
    (10.0, False, 0.1),
    (1e3, False, 0.1),
    # a duplicated separating column makes the pairwise term x0 * x1 ~ scale^2 (~1e6): the
    # latent means start and stay hundreds to millions of sds into the tails
    (1e3, True, 0.1),
    (1e4, True, 1.0),      # latent means up to ~6e8
    (1e5, False, 0.1),
])
def test_perfect_separation_far_tails(scale, duplicate, init_scale):
    """A feature that perfectly separates the classes, with a large value, pushes the latent
    means (and the truncated-normal draws) far into the tails. The exact samplers must keep
    every draw finite and raise no floating-point warning."""
    rng = np.random.default_rng(0)
    n, p = 200, 5
    X = rng.normal(size=(n, p))
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] = np.sign(X[:, 0]) * scale * (1.0 + np.abs(X[:, 0]))
    if duplicate:
        X[:, 1] = X[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = FMClassifier(rank=2, n_iter=150, n_burn=50, init_scale=init_scale, n_chains=1,
                         n_jobs=1, random_state=0).fit(X, y)
        proba = m.predict_proba(X)
        draws = m.predict_draws(X)
        dd = m.decision_draws(X)
    for name in DRAW_NAMES:
        assert np.all(np.isfinite(getattr(m, name))), name
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(draws)) and np.all(np.isfinite(dd))
    assert np.all(proba >= 0.0) and np.all(proba <= 1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # the separating feature is found (a chain still moving away from its start may misplace a
    # couple of rows near the boundary, hence not exactly 1)
    assert m.score(X, y) >= 0.95


def test_probability_intervals(fitted, sim):
    """predict_interval: credible intervals of P(y = classes_[1]), the quantiles over the draws
    of Phi(yhat); one level (n, 2), several (n, L, 2); nested, inside [0, 1]."""
    Xt = sim[2][:50]
    iv = fitted.predict_interval(Xt, level=0.8)
    draws = fitted.predict_draws(Xt)
    np.testing.assert_array_equal(iv, np.quantile(draws, [(1 - 0.8) / 2, (1 + 0.8) / 2], axis=0).T)
    many = fitted.predict_interval(Xt, level=[0.5, 0.8, 0.95])
    assert many.shape == (50, 3, 2)
    np.testing.assert_array_equal(many[:, 1], iv)
    assert np.all((0 <= many[..., 0]) & (many[..., 1] <= 1))
    assert np.all(many[:, 2, 0] <= many[:, 0, 0]) and np.all(many[:, 0, 1] <= many[:, 2, 1])
    with pytest.raises(ValueError, match="level"):
        fitted.predict_interval(Xt, level=1.0)
