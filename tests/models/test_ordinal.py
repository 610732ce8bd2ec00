"""Tests of ``bayesfm.FMOrdinalRegressor`` (ordered probit FM): labels and ``classes``, the
prediction API, the cutpoint draws, the K = 2 equivalence with ``FMClassifier``, absent classes,
input validation, reproducibility, scikit-learn conventions and far-tail robustness.

The tests the three estimators share (reproducibility, blocked prediction, the scikit-learn
protocol, input validation) are in ``tests/models/test_contract.py``.

Everything runs on small simulated data with fixed seeds; the whole module takes a few seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.base import clone

from bayesfm import FMClassifier, FMOrdinalRegressor, NotFittedError
from tests.helpers import assert_msg, comparable_params
from tests.statistical.fm_prior import fm_yhat as fm_function

# ---------------------------------------------------------------------------------------------
# helpers and shared fixtures
# ---------------------------------------------------------------------------------------------

#: true cutpoints of the simulation (5 classes); gaps 0.9, 0.8, 0.9
TRUE_CUTS = np.array([-1.2, -0.3, 0.5, 1.4])


def make_ordinal_data(n, p, cuts=TRUE_CUTS, rank=2, seed=0, n_test=0):
    """Simulate y = 1 + #{cutpoints below f(x) + Normal(0, 1)}, f a known FM function.

    Returns ``X, y`` (y in 1..K, K = len(cuts) + 1); with ``n_test`` > 0 also
    ``X_test, y_test, f_test``.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.8, size=p)
    V = rng.normal(0.0, 0.5, size=(p, rank))
    X = rng.normal(size=(n + n_test, p))
    f = fm_function(X, 0.0, w, V)
    y = 1 + np.searchsorted(cuts, f + rng.normal(size=n + n_test))
    if not n_test:
        return X, y
    return X[:n], y[:n], X[n:], y[n:], f[n:]


N, P, RANK, N_TEST, K = 300, 6, 2, 200, 5
N_ITER, N_BURN, THIN = 150, 50, 2
S = len(range(N_BURN, N_ITER, THIN))   # draws per chain (and in all of a one-chain fit)
STR3 = ["low", "mid", "high"]  # natural order, not the sort order (high < low < mid)


def model(**kw):
    params = dict(rank=RANK, n_iter=N_ITER, n_burn=N_BURN, thin=THIN, n_chains=1, n_jobs=1,
                  random_state=0)
    params.update(kw)
    return FMOrdinalRegressor(**params)


def small_model(**kw):
    params = dict(rank=2, n_iter=30, n_burn=10, thin=1, n_chains=1, n_jobs=1, random_state=0)
    params.update(kw)
    return FMOrdinalRegressor(**params)


@pytest.fixture(scope="module")
def sim():
    """Training and test data of a 5-class ordered probit FM problem, labels 1..5."""
    X, y, Xt, yt, ft = make_ordinal_data(N, P, rank=RANK, seed=0, n_test=N_TEST)
    assert set(y.tolist()) == {1, 2, 3, 4, 5}
    return X, y, Xt, yt, ft


@pytest.fixture(scope="module")
def fitted(sim):
    """The integer-label (1..5) fit shared by read-only tests (never modified by a test)."""
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
    """(number of chains, the integer-label fit with that many chains)."""
    name = "fitted" if request.param == 1 else "fitted2"
    return request.param, request.getfixturevalue(name)


@pytest.fixture(scope="module")
def fitted_float(sim):
    """The same problem with labels 0.5, 1.0, ..., 2.5 (same seed and settings)."""
    X, y = sim[:2]
    return model().fit(X, 0.5 * y)


@pytest.fixture(scope="module")
def sim3(sim):
    """A 3-class version of the problem: 1, 2 -> 0; 3 -> 1; 4, 5 -> 2."""
    X, y, Xt, yt = sim[:4]
    merge = np.array([0, 0, 0, 1, 2, 2])
    return X, merge[y], Xt, merge[yt]


@pytest.fixture(scope="module")
def fitted3_int(sim3):
    X, y3 = sim3[:2]
    return model().fit(X, y3)


@pytest.fixture(scope="module")
def fitted3_str(sim3):
    X, y3 = sim3[:2]
    return model(classes=STR3).fit(X, np.array(STR3)[y3])


# ---------------------------------------------------------------------------------------------
# 1. fitted attributes, classes_
# ---------------------------------------------------------------------------------------------

def test_fitted_attribute_shapes(fitted_c):
    C, fitted = fitted_c
    SC = C * S   # pooled draws
    assert fitted.n_chains_ == C
    assert fitted.draws_per_chain_ == S
    assert fitted.sweeps_per_chain_ == N_ITER
    assert fitted.interrupted_ is False
    assert fitted.n_draws_ == SC
    assert fitted.w0_.shape == (SC,)
    assert fitted.w_.shape == (SC, P)
    assert fitted.V_.shape == (SC, P, RANK)
    assert fitted.mu_w_.shape == (SC, 1) and fitted.lambda_w_.shape == (SC, 1)
    assert fitted.mu_v_.shape == (SC, 1, RANK) and fitted.lambda_v_.shape == (SC, 1, RANK)
    assert fitted.cutpoints_.shape == (SC, K - 1)
    assert fitted.n_features_in_ == P
    for name in ("w0_", "w_", "V_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_", "cutpoints_"):
        assert np.all(np.isfinite(getattr(fitted, name))), name
    # per-chain draws (C, S, ...); the pooled attributes are the chains one after the other
    tails = {"w0": (), "w": (P,), "V": (P, RANK), "mu_w": (1,), "lambda_w": (1,),
             "mu_v": (1, RANK), "lambda_v": (1, RANK), "cutpoints": (K - 1,)}
    assert set(fitted.draws_) == set(tails)
    for name, tail in tails.items():
        per_chain = fitted.draws_[name]
        assert per_chain.shape == (C, S) + tail, name
        pooled = getattr(fitted, name + "_")
        for c in range(C):
            assert np.array_equal(pooled[c * S:(c + 1) * S], per_chain[c]), (name, c)
    # one MH outcome per sweep and chain (burn-in included); the rate is their mean
    assert fitted.cutpoint_accepted_.shape == (C, N_ITER)
    assert fitted.cutpoint_accepted_.dtype == bool
    assert fitted.cutpoint_acceptance_ == float(fitted.cutpoint_accepted_.mean())
    if C > 1:
        # independent seeds: the chains do not repeat each other
        assert not np.array_equal(fitted.draws_["V"][0], fitted.draws_["V"][1])
        assert not np.array_equal(fitted.draws_["cutpoints"][0], fitted.draws_["cutpoints"][1])


def test_classes_int(fitted):
    assert fitted.classes_.tolist() == [1, 2, 3, 4, 5]
    assert fitted.classes_.dtype.kind == "i"


def test_classes_float(fitted_float):
    assert fitted_float.classes_.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert fitted_float.classes_.dtype.kind == "f"


def test_classes_str_follow_given_order(fitted3_str):
    assert fitted3_str.classes_.tolist() == STR3
    assert fitted3_str.cutpoints_.shape == (S, 2)


def test_classes_sorted_whatever_the_order_of_appearance():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    m = small_model().fit(X, np.array([3, 1, 2] * 10))
    assert m.classes_.tolist() == [1, 2, 3]
    m = small_model().fit(X, np.array(["c", "a", "b"] * 10))  # no classes: sort order
    assert m.classes_.tolist() == ["a", "b", "c"]


def test_float_labels_bit_identical_to_int(fitted, fitted_float, sim):
    """Labels enter only through their order: 0.5*y gives the same chain as y, bit for bit."""
    Xt = sim[2]
    assert np.array_equal(fitted_float.predict_proba(Xt), fitted.predict_proba(Xt))
    assert np.array_equal(fitted_float.cutpoints_, fitted.cutpoints_)
    np.testing.assert_array_equal(fitted_float.predict(Xt), 0.5 * fitted.predict(Xt))


def test_str_labels_with_classes_bit_identical_to_int(fitted3_int, fitted3_str, sim3):
    """Strings in the order given by ``classes`` match integer labels 0, 1, 2; had the strings
    been sorted ("high" < "low" < "mid") the chains would differ."""
    Xt = sim3[2]
    assert fitted3_int.classes_.tolist() == [0, 1, 2]
    assert np.array_equal(fitted3_str.predict_proba(Xt), fitted3_int.predict_proba(Xt))
    assert np.array_equal(fitted3_str.cutpoints_, fitted3_int.cutpoints_)
    assert fitted3_str.predict(Xt).tolist() == [STR3[k] for k in fitted3_int.predict(Xt)]


# ---------------------------------------------------------------------------------------------
# 2. the prediction API
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["int", "float", "str"])
def test_predict_proba_and_predict(fitted, fitted_float, fitted3_str, sim, which):
    m = {"int": fitted, "float": fitted_float, "str": fitted3_str}[which]
    Xt = sim[2]
    Km = m.classes_.shape[0]
    proba = m.predict_proba(Xt)
    assert proba.shape == (N_TEST, Km)
    assert np.all(proba >= 0.0) and np.all(proba <= 1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    pred = m.predict(Xt)
    assert pred.shape == (N_TEST,)
    assert pred.dtype.kind == m.classes_.dtype.kind
    np.testing.assert_array_equal(pred, m.classes_[np.argmax(proba, axis=1)])


def test_predict_proba_columns_follow_classes(fitted, sim):
    """Column k is P(y = classes_[k]): the mean predicted class index sum_k k P_k rises
    strictly with the true label of the test rows, and the extreme classes are the most probable
    on average for rows of the extreme labels. (A middle class of an ordered probit with gaps
    ~0.9 latent sd need not be the most probable one even for its own rows.)"""
    Xt, yt = sim[2], sim[3]
    proba = fitted.predict_proba(Xt)
    mean_index = []
    for label in fitted.classes_:
        rows = yt == label
        assert rows.sum() >= 10
        mean_index.append(float((proba[rows] @ np.arange(K)).mean()))
    assert np.all(np.diff(mean_index) > 0.0), mean_index
    assert np.argmax(proba[yt == 1].mean(axis=0)) == 0
    assert np.argmax(proba[yt == K].mean(axis=0)) == K - 1


@pytest.mark.parametrize("which", ["int", "float"])
def test_predict_expected(fitted, fitted_float, sim, which):
    m = fitted if which == "int" else fitted_float
    Xt = sim[2]
    expected = m.predict_expected(Xt)
    assert expected.shape == (N_TEST,)
    np.testing.assert_allclose(expected, m.predict_proba(Xt) @ m.classes_, rtol=1e-12,
                               atol=1e-12)
    assert np.all(expected >= m.classes_[0]) and np.all(expected <= m.classes_[-1])


def test_predict_expected_scales_with_labels(fitted, fitted_float, sim):
    Xt = sim[2]
    np.testing.assert_allclose(fitted_float.predict_expected(Xt),
                               0.5 * fitted.predict_expected(Xt), rtol=1e-12)


def test_predict_expected_string_labels_type_error(fitted3_str, sim):
    with pytest.raises(TypeError) as ei:
        fitted3_str.predict_expected(sim[2])
    assert_msg(ei, "numeric", "low", "predict_proba")


def test_predict_draws(fitted_c, sim):
    C, fitted = fitted_c
    Xt = sim[2]
    draws = fitted.predict_draws(Xt)
    assert draws.shape == (C * S, N_TEST, K)
    assert np.all(draws >= 0.0) and np.all(draws <= 1.0)
    np.testing.assert_allclose(draws.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    # predict_proba is the mean over the draws (computed by another route, in a Numba kernel)
    np.testing.assert_allclose(draws.mean(axis=0), fitted.predict_proba(Xt), rtol=0,
                               atol=1e-10)


def test_predict_draws_match_latent_and_cutpoints(fitted, sim):
    """P(y = k | draw s) = Phi(c_{k+1} - yhat_s) - Phi(c_k - yhat_s), c_0 = -inf, c_K = +inf."""
    Xs = sim[2][:20]
    draws = fitted.predict_draws(Xs)
    yhat = fitted.decision_draws(Xs)
    for s in (0, S // 2, S - 1):
        bounds = np.concatenate([[-np.inf], fitted.cutpoints_[s], [np.inf]])
        cdf = ndtr(bounds[None, :] - yhat[s][:, None])
        np.testing.assert_allclose(draws[s], np.diff(cdf, axis=1), rtol=0, atol=1e-12)
        expect = fm_function(Xs, fitted.w0_[s], fitted.w_[s], fitted.V_[s])
        np.testing.assert_allclose(yhat[s], expect, rtol=1e-10, atol=1e-10)


def test_decision_function(fitted_c, sim):
    C, fitted = fitted_c
    Xt = sim[2]
    df = fitted.decision_function(Xt)
    dd = fitted.decision_draws(Xt)
    assert df.shape == (N_TEST,) and dd.shape == (C * S, N_TEST)
    np.testing.assert_allclose(dd.mean(axis=0), df, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 3. cutpoints
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["int", "str"])
def test_cutpoints_first_zero_and_increasing(fitted, fitted3_str, which):
    m = fitted if which == "int" else fitted3_str
    cuts = m.cutpoints_
    assert np.all(cuts[:, 0] == 0.0)
    assert np.all(np.diff(cuts, axis=1) > 0.0)
    # the free cutpoints are sampled: they move between draws
    assert np.all(np.ptp(cuts[:, 1:], axis=0) > 0.0)


def test_cutpoint_acceptance(fitted, fitted3_str):
    """The MH step proposes from a t(5) centred at the mode of the log-gap conditional with its
    Laplace scale. With 300 rows that conditional is close to Gaussian, so the proposal fits it
    well and acceptance is typically 0.75-0.95; a broken ratio or Hessian collapses it towards
    0. 0.3 is a loose floor."""
    for m in (fitted, fitted3_str):
        acc = m.cutpoint_acceptance_
        assert isinstance(acc, float)
        assert 0.0 < acc <= 1.0
        assert acc > 0.3


@pytest.mark.statistical
def test_cutpoint_gaps_recovered(fitted):
    """The latent noise has variance 1 in both the simulation and the model, so the gaps between
    cutpoints are identified: true gaps 0.9, 0.8, 0.9. With 60-150 rows per class the posterior
    sd of a gap is ~0.1-0.15; 0.4 is a wide tolerance that still catches a wrong scale."""
    gaps = np.diff(fitted.cutpoints_.mean(axis=0))
    np.testing.assert_allclose(gaps, np.diff(TRUE_CUTS), atol=0.4)


@pytest.mark.statistical
def test_learns_the_signal(fitted, sim):
    """Held-out accuracy well above the majority class (0.31 here; the Bayes rule with the true
    f and cutpoints reaches ~0.55 on 5 noisy classes), and the expected label tracks f."""
    Xt, yt, ft = sim[2:]
    majority = np.bincount(yt).max() / yt.shape[0]
    acc = fitted.score(Xt, yt)
    assert acc > majority + 0.1, (acc, majority)
    assert np.corrcoef(fitted.predict_expected(Xt), ft)[0, 1] > 0.8


@pytest.mark.parametrize("which", ["int", "str"])
def test_score_is_accuracy_of_predict(fitted, fitted3_str, sim, sim3, which):
    if which == "int":
        m, Xt, yt = fitted, sim[2], sim[3]
    else:
        m, Xt, yt = fitted3_str, sim3[2], np.array(STR3)[sim3[3]]
    score = m.score(Xt, yt)
    assert isinstance(score, float)
    assert score == float(np.mean(m.predict(Xt) == yt))


# ---------------------------------------------------------------------------------------------
# 4. K = 2 is the binary probit classifier
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def binary_pair(sim):
    X, y = sim[:2]
    yb = (y >= 3).astype(int)
    params = dict(rank=RANK, n_iter=N_ITER, n_burn=N_BURN, thin=THIN, n_chains=1, n_jobs=1,
                  random_state=4)
    return FMOrdinalRegressor(**params).fit(X, yb), FMClassifier(**params).fit(X, yb)


def test_binary_cutpoints_all_zero(binary_pair):
    ordm, _ = binary_pair
    assert ordm.cutpoints_.shape == (S, 1)
    assert np.all(ordm.cutpoints_ == 0.0)


def test_binary_ordinal_equals_classifier(binary_pair, sim):
    """Binary probit is ordered probit with K = 2 (single cutpoint fixed at 0, no MH step and
    no extra random numbers): same seed and settings give the same chain and probabilities."""
    ordm, clf = binary_pair
    Xt = sim[2]
    assert ordm.classes_.tolist() == clf.classes_.tolist() == [0, 1]
    for name in ("w0_", "w_", "V_", "lambda_w_", "lambda_v_"):
        assert np.array_equal(getattr(ordm, name), getattr(clf, name)), name
    # the two estimators compute Phi by different routes: same numbers up to rounding
    np.testing.assert_allclose(ordm.predict_proba(Xt), clf.predict_proba(Xt), rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(ordm.predict_draws(Xt)[:, :, 1], clf.predict_draws(Xt),
                               rtol=0, atol=1e-12)
    assert np.array_equal(ordm.predict(Xt), clf.predict(Xt))


# ---------------------------------------------------------------------------------------------
# 5. classes absent from y
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim_absent():
    """3 observed classes 1, 2, 3 (balanced-ish), linear latent function."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 5))
    f = X @ rng.normal(0.0, 0.8, size=5)
    y = 1 + np.searchsorted([-0.5, 0.5], f + rng.normal(size=300))
    return X, y


@pytest.mark.parametrize("classes, relabel, absent", [
    ([1, 2, 3, 4], {}, 4),           # top class absent
    ([0, 1, 2, 3], {}, 0),           # bottom class absent
    ([1, 2, 3, 4], {3: 4}, 3),       # middle class absent (3 relabelled to 4)
])
def test_class_absent_from_y(sim_absent, classes, relabel, absent):
    X, y = sim_absent
    y = np.array([relabel.get(v, v) for v in y.tolist()])
    assert absent not in set(y.tolist())
    m = model(n_iter=100, n_burn=30, thin=1, classes=classes).fit(X, y)
    assert m.classes_.tolist() == classes
    assert m.cutpoints_.shape == (m.n_draws_, 3)
    assert np.all(np.isfinite(m.cutpoints_))
    assert np.all(m.cutpoints_[:, 0] == 0.0)
    assert np.all(np.diff(m.cutpoints_, axis=1) > 0.0)
    proba = m.predict_proba(X)
    assert proba.shape == (X.shape[0], 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # no row was ever seen in the absent class: its probability is small everywhere on average,
    # far below the observed classes (each ~1/3)
    col = classes.index(absent)
    assert proba[:, col].mean() < 0.05
    assert absent not in set(m.predict(X).tolist())


# ---------------------------------------------------------------------------------------------
# 6. errors (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 4))
    y = np.array([1, 2, 3] * 10)
    return X, y


@pytest.mark.parametrize("y, classes", [
    (np.full(30, 2), None),
    (np.array(["a"] * 30), None),
    (np.full(30, 2), [2]),
])
def test_single_class(tiny, y, classes):
    X, _ = tiny
    with pytest.raises(ValueError) as ei:
        small_model(classes=classes).fit(X, y)
    assert_msg(ei, "(single|one) class", "at least two")


def test_empty_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    with pytest.raises(ValueError) as ei:
        small_model(classes=[]).fit(X, np.array([1, 2, 3] * 10))
    assert_msg(ei, "class")


def test_unorderable_labels(tiny):
    X, _ = tiny
    y = np.array([1, "a", 2] * 10, dtype=object)
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\by\b", "sort|order")


def test_unorderable_labels_with_explicit_classes(tiny):
    """Giving ``classes`` is the documented way out when the labels cannot be sorted."""
    X, _ = tiny
    y = np.array([1, "a", 2] * 10, dtype=object)
    m = small_model(classes=[1, "a", 2]).fit(X, y)
    assert m.classes_.tolist() == [1, "a", 2]
    assert set(m.predict(X).tolist()) <= {1, "a", 2}


@pytest.mark.parametrize("classes", [["low", "mid"], ["low", "medium", "high"]])
def test_label_not_in_classes_names_row(tiny, classes):
    X, _ = tiny
    y = np.array(["low", "mid", "high"] * 10)
    with pytest.raises(ValueError) as ei:
        small_model(classes=classes).fit(X, y)
    bad, row = ("'high'", 2) if "mid" in classes else ("'mid'", 1)
    assert_msg(ei, r"\by\b", bad, rf"\b{row}\b", "known classes")


@pytest.mark.parametrize("classes", [[1, 2, 2, 3], ["a", "b", "a"], [1, 2, 3, 1.0]])
def test_repeated_classes(tiny, classes):
    X, y = tiny
    with pytest.raises(ValueError) as ei:
        small_model(classes=classes).fit(X, y)
    assert_msg(ei, "classes", "repeated")


@pytest.mark.parametrize("classes", ["abc", [[1, 2, 3]], np.array([[1, 2], [3, 4]])])
def test_classes_not_one_dimensional(tiny, classes):
    X, y = tiny
    with pytest.raises(ValueError) as ei:
        small_model(classes=classes).fit(X, y)
    assert_msg(ei, "classes", "1-d")


def test_score_with_unseen_label_names_row(fitted, sim):
    Xt, yt = sim[2], sim[3]
    y = yt.copy()
    y[12] = 6
    y[50] = 0
    with pytest.raises(ValueError) as ei:
        fitted.score(Xt, y)
    assert_msg(ei, r"\by\b", r"\b6\b", r"\b12\b")


def test_score_str_with_unseen_label(fitted3_str, sim3):
    Xt = sim3[2]
    y = np.array(STR3, dtype=object)[sim3[3]]
    y[3] = "very high"
    with pytest.raises(ValueError) as ei:
        fitted3_str.score(Xt, y)
    assert_msg(ei, "'very high'", r"\b3\b")


@pytest.mark.parametrize("kind", ["object_nan", "object_none"])
def test_missing_label_names_row(tiny, kind):
    """(Non-finite float labels: tests/models/test_contract.py, test_nonfinite_y_names_row.)"""
    X, y = tiny
    y = y.astype(object)
    y[[7, 19]] = np.nan if kind == "object_nan" else None
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\by\b", r"\b7\b")


# ---------------------------------------------------------------------------------------------
# 7. reproducibility: tests/models/test_contract.py
# ---------------------------------------------------------------------------------------------

DRAW_NAMES = ("w0_", "w_", "V_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_", "cutpoints_")


# ---------------------------------------------------------------------------------------------
# 8. scikit-learn conventions (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

def test_clone_keeps_given_classes(fitted3_str, sim3):
    c2 = clone(fitted3_str)
    assert comparable_params(c2) == comparable_params(fitted3_str)
    assert c2.classes == STR3
    assert not hasattr(c2, "cutpoints_") and not hasattr(c2, "classes_")
    with pytest.raises(NotFittedError):
        c2.predict_proba(sim3[2])
    # refitting the clone reproduces the original chain (string labels in the given order)
    X, y3, Xt = sim3[:3]
    c2.fit(X, np.array(STR3)[y3])
    assert np.array_equal(c2.predict_proba(Xt), fitted3_str.predict_proba(Xt))


def test_repr_with_array_classes():
    r = repr(FMOrdinalRegressor(classes=np.array([1, 2, 3])))
    assert "classes=array([1, 2, 3])" in r


# ---------------------------------------------------------------------------------------------
# 9. far-tail robustness
# ---------------------------------------------------------------------------------------------

def separated_ordinal(scale, duplicate):
    """3 classes cut from one feature, whose magnitude is then blown up by ``scale`` (and, with
    ``duplicate``, copied into a second column so the pairwise term grows like scale^2)."""
    rng = np.random.default_rng(0)
    n, p = 200, 5
    X = rng.normal(size=(n, p))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    X[:, 0] = np.sign(X[:, 0]) * scale * (1.0 + np.abs(X[:, 0]))
    if duplicate:
        X[:, 1] = X[:, 0]
    return X, y


def check_far_tail_fit(X, y):
    m = FMOrdinalRegressor(rank=2, n_iter=150, n_burn=50, n_chains=1, n_jobs=1,
                           random_state=0).fit(X, y)
    for name in DRAW_NAMES:
        assert np.all(np.isfinite(getattr(m, name))), name
    proba = m.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(m.predict_draws(X)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(np.diff(m.cutpoints_, axis=1) > 0.0)
    # the cutpoint chain moves
    assert m.cutpoint_acceptance_ > 0.3
    assert np.ptp(m.cutpoints_[:, 1]) > 0.0
    assert m.score(X, y) >= 0.9
    return m


@pytest.mark.parametrize("scale, duplicate", [
    (10.0, False), (10.0, True), (1e3, False),
    # at commit 01bef3c these two froze the cutpoint chain (NaN mode, acceptance 0) or raised
    # LinAlgError; they pass with the trust-region mode search
    (1e3, True), (1e4, False),
])
def test_far_tail(scale, duplicate):
    """Latent means far in the tails (a perfectly separating feature with a large value): every
    draw finite, no floating-point warning, and the cutpoint chain still moves."""
    X, y = separated_ordinal(scale, duplicate)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        check_far_tail_fit(X, y)


def test_far_tail_extreme():
    X, y = separated_ordinal(1e4, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_far_tail_fit(X, y)


def test_predictive_sets_are_the_smallest_reaching_the_level(fitted, sim):
    """predict_set: per row, the classes of largest predictive probability whose sum first
    reaches the level; no smaller set reaches it; several levels nest."""
    Xt = sim[2][:60]
    proba = fitted.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    levels = [0.5, 0.8, 0.95]
    sets = fitted.predict_set(Xt, level=levels)
    assert sets.shape == (60, 3, 5) and sets.dtype == bool
    for j, lev in enumerate(levels):
        np.testing.assert_array_equal(sets[:, j], fitted.predict_set(Xt, level=lev))
        mass = np.where(sets[:, j], proba, 0).sum(axis=1)
        assert np.all(mass >= lev - 1e-12)
        size = sets[:, j].sum(axis=1)
        # the best set one class smaller: the size - 1 most probable classes
        top = -np.sort(-proba, axis=1)
        smaller = np.array([top[i, :size[i] - 1].sum() for i in range(60)])
        assert np.all(smaller < lev)
        # a class in the set is at least as probable as every class outside it
        inside_min = np.where(sets[:, j], proba, np.inf).min(axis=1)
        outside_max = np.where(sets[:, j], -np.inf, proba).max(axis=1)
        assert np.all(inside_min >= outside_max)
    assert np.all(sets[:, 0] <= sets[:, 1]) and np.all(sets[:, 1] <= sets[:, 2])


def test_a_set_for_a_hand_made_distribution(monkeypatch):
    """Ties go to the lower class; the sum reaching the level exactly is enough."""
    m = FMOrdinalRegressor()
    monkeypatch.setattr(m, "predict_proba",
                        lambda X: np.array([[0.25, 0.25, 0.5, 0.0], [0.1, 0.45, 0.05, 0.4]]))
    np.testing.assert_array_equal(m.predict_set(None, 0.75),
                                  [[True, False, True, False], [False, True, False, True]])
    np.testing.assert_array_equal(m.predict_set(None, 0.5),
                                  [[False, False, True, False], [False, True, False, True]])
