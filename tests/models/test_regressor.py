"""Tests of ``bayesfm.FMRegressor``: fitted attributes, prediction API, input formats,
reproducibility, equivariance, scikit-learn conventions and input validation.

The tests the three estimators share (reproducibility, blocked prediction, the scikit-learn
protocol, input validation) are in ``tests/models/test_contract.py``.

Everything runs on small simulated data with fixed seeds; the whole module takes a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import bayesfm
from bayesfm import FMRegressor, NotFittedError, Priors
from tests.helpers import assert_msg

# ---------------------------------------------------------------------------------------------
# helpers and shared fixtures
# ---------------------------------------------------------------------------------------------

def make_fm_data(n, p, rank=2, noise=0.3, seed=0, n_test=0):
    """Simulate y = FM(x) + Normal(0, noise^2) with dense standard-normal X.

    Returns ``X, y`` (and ``X_test, y_test, f_test`` when ``n_test`` > 0, where ``f_test`` is the
    noiseless regression function at ``X_test``).
    """
    rng = np.random.default_rng(seed)
    w0 = 1.0
    w = rng.normal(0.0, 0.5, size=p)
    V = rng.normal(0.0, 0.4, size=(p, rank))

    def f(X):
        q = X @ V
        return w0 + X @ w + 0.5 * (np.sum(q * q, axis=1) - (X * X) @ np.sum(V * V, axis=1))

    X = rng.normal(size=(n, p))
    y = f(X) + noise * rng.normal(size=n)
    if not n_test:
        return X, y
    Xt = rng.normal(size=(n_test, p))
    ft = f(Xt)
    yt = ft + noise * rng.normal(size=n_test)
    return X, y, Xt, yt, ft


N, P, RANK = 120, 6, 2
N_ITER, N_BURN, THIN = 60, 20, 2
GROUPS = ["b", "a", "b", "c", "a", "c"]  # first appearance order: b, a, c


@pytest.fixture(scope="module")
def data():
    X, y = make_fm_data(N, P, rank=RANK, seed=1)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    """A small fitted model (one chain) shared by the read-only tests (never modified by a
    test)."""
    X, y = data
    model = FMRegressor(rank=RANK, n_iter=N_ITER, n_burn=N_BURN, thin=THIN, n_chains=1,
                        n_jobs=1, random_state=0)
    out = model.fit(X, y, groups=GROUPS)
    assert out is model
    return model


@pytest.fixture(scope="module")
def fitted2(data):
    """The same settings with two chains (run in this process), for the pooled shapes."""
    X, y = data
    model = FMRegressor(rank=RANK, n_iter=N_ITER, n_burn=N_BURN, thin=THIN, n_chains=2,
                        n_jobs=1, random_state=0)
    return model.fit(X, y, groups=GROUPS)


def small_model(**kw):
    params = dict(rank=2, n_iter=30, n_burn=10, thin=1, n_chains=1, n_jobs=1, random_state=0)
    params.update(kw)
    return FMRegressor(**params)


# ---------------------------------------------------------------------------------------------
# 1. fitted attributes and the prediction API
# ---------------------------------------------------------------------------------------------

DRAW_ATTRS = {"w0": (), "w": (P,), "V": (P, RANK), "alpha": (), "mu_w": (3,),
              "lambda_w": (3,), "mu_v": (3, RANK), "lambda_v": (3, RANK)}


@pytest.mark.parametrize("n_chains", [1, 2])
def test_fitted_attribute_shapes(fitted, fitted2, n_chains):
    fitted = {1: fitted, 2: fitted2}[n_chains]
    C = n_chains
    Sc = len(range(N_BURN, N_ITER, THIN))   # draws per chain
    S = C * Sc                              # pooled draws
    G, k = 3, RANK
    assert fitted.n_chains_ == C
    assert fitted.draws_per_chain_ == Sc
    assert fitted.sweeps_per_chain_ == N_ITER
    assert fitted.interrupted_ is False
    assert fitted.n_draws_ == S
    assert fitted.w0_.shape == (S,)
    assert fitted.w_.shape == (S, P)
    assert fitted.V_.shape == (S, P, k)
    assert fitted.alpha_.shape == (S,)
    assert fitted.mu_w_.shape == (S, G)
    assert fitted.lambda_w_.shape == (S, G)
    assert fitted.mu_v_.shape == (S, G, k)
    assert fitted.lambda_v_.shape == (S, G, k)
    assert fitted.train_rmse_.shape == (C, N_ITER)
    assert fitted.n_features_in_ == P
    for name in ("w0_", "w_", "V_", "alpha_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_",
                 "train_rmse_"):
        assert np.all(np.isfinite(getattr(fitted, name))), name
    assert np.all(fitted.alpha_ > 0)
    assert np.all(fitted.lambda_w_ > 0) and np.all(fitted.lambda_v_ > 0)
    # per-chain draws (C, Sc, ...); the pooled attributes are the chains one after the other
    assert set(fitted.draws_) == set(DRAW_ATTRS)
    for name, tail in DRAW_ATTRS.items():
        per_chain = fitted.draws_[name]
        assert per_chain.shape == (C, Sc) + tail, name
        pooled = getattr(fitted, name + "_")
        for c in range(C):
            assert np.array_equal(pooled[c * Sc:(c + 1) * Sc], per_chain[c]), (name, c)
    if C > 1:
        # independent seeds: the chains do not repeat each other
        assert not np.array_equal(fitted.draws_["V"][0], fitted.draws_["V"][1])
        assert not np.array_equal(fitted.train_rmse_[0], fitted.train_rmse_[1])


@pytest.mark.parametrize("n_chains", [1, 2])
@pytest.mark.parametrize("n_iter, n_burn, thin", [(30, 0, 1), (30, 10, 3), (31, 10, 7),
                                                   (25, 24, 5)])
def test_n_draws_matches_range(data, n_iter, n_burn, thin, n_chains):
    X, y = data
    model = small_model(n_iter=n_iter, n_burn=n_burn, thin=thin, n_chains=n_chains).fit(X, y)
    Sc = len(range(n_burn, n_iter, thin))
    S = n_chains * Sc
    assert model.draws_per_chain_ == Sc
    assert model.sweeps_per_chain_ == n_iter
    assert model.n_draws_ == S
    assert model.w0_.shape == (S,)
    assert model.V_.shape == (S, X.shape[1], 2)
    assert model.draws_["w0"].shape == (n_chains, Sc)
    assert model.draws_["V"].shape == (n_chains, Sc, X.shape[1], 2)
    assert model.train_rmse_.shape == (n_chains, n_iter)


def test_groups_default_single_group(data):
    X, y = data
    model = small_model().fit(X, y)
    assert len(model.groups_) == 1
    np.testing.assert_array_equal(model.group_index_, np.zeros(X.shape[1]))
    assert model.mu_w_.shape == (model.n_draws_, 1)
    assert model.mu_v_.shape == (model.n_draws_, 1, 2)


def test_groups_numpy_integer_labels(data):
    X, y = data
    model = small_model().fit(X, y, groups=np.array([5, 5, 2, 9, 2, 5]))
    assert list(model.groups_) == [5, 2, 9]
    np.testing.assert_array_equal(model.group_index_, [0, 0, 1, 2, 1, 0])


@pytest.mark.parametrize("n_chains", [1, 2])
def test_predict_and_draws_shapes(fitted, fitted2, data, n_chains):
    fitted = {1: fitted, 2: fitted2}[n_chains]
    X, _ = data
    assert fitted.n_draws_ == n_chains * len(range(N_BURN, N_ITER, THIN))
    pred = fitted.predict(X)
    draws = fitted.predict_draws(X)
    assert pred.shape == (N,)
    assert draws.shape == (fitted.n_draws_, N)
    # predict is the mean over the same draws, only summed in a different order
    np.testing.assert_allclose(draws.mean(axis=0), pred, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["predictive", "mean"])
def test_predict_interval_shape_and_order(fitted, data, kind):
    X, _ = data
    iv = fitted.predict_interval(X, level=0.9, kind=kind)
    assert iv.shape == (N, 2)
    assert np.all(np.isfinite(iv))
    assert np.all(iv[:, 0] < iv[:, 1])


def test_predictive_interval_contains_mean_interval(fitted, data):
    # Not a theorem for arbitrary mixtures, but here the noise sd (~0.3) is much larger than
    # the posterior spread of the regression function at training points, so the predictive
    # interval is clearly wider on every row.
    X, _ = data
    pred_iv = fitted.predict_interval(X, level=0.9, kind="predictive")
    mean_iv = fitted.predict_interval(X, level=0.9, kind="mean")
    assert np.all(pred_iv[:, 0] < mean_iv[:, 0])
    assert np.all(pred_iv[:, 1] > mean_iv[:, 1])


@pytest.mark.parametrize("kind", ["predictive", "mean"])
def test_interval_nested_in_level(fitted, data, kind):
    X, _ = data
    narrow = fitted.predict_interval(X, level=0.5, kind=kind)
    wide = fitted.predict_interval(X, level=0.9, kind=kind)
    # quantiles (of the draws, or of the Normal mixture) are monotone in the probability, so
    # nesting is exact; no tolerance needed at these well separated levels
    assert np.all(wide[:, 0] <= narrow[:, 0])
    assert np.all(narrow[:, 1] <= wide[:, 1])
    assert np.all(wide[:, 1] - wide[:, 0] > narrow[:, 1] - narrow[:, 0])


def test_predictive_interval_is_mixture_quantile(fitted, data):
    """The predictive bounds are the (1 -+ level)/2 quantiles of the Normal mixture over draws."""
    from scipy.stats import norm

    X, _ = data
    Xs = X[:5]
    iv = fitted.predict_interval(Xs, level=0.8, kind="predictive")
    draws = fitted.predict_draws(Xs)
    sds = 1.0 / np.sqrt(fitted.alpha_)
    for i in range(Xs.shape[0]):
        for bound, prob in zip(iv[i], (0.1, 0.9)):
            cdf = np.mean(norm.cdf((bound - draws[:, i]) / sds))
            assert cdf == pytest.approx(prob, abs=1e-9)


def test_mean_interval_is_draw_quantile(fitted, data):
    X, _ = data
    iv = fitted.predict_interval(X, level=0.8, kind="mean")
    expect = np.quantile(fitted.predict_draws(X), [0.1, 0.9], axis=0).T
    np.testing.assert_allclose(iv, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.statistical
def test_fit_recovers_signal():
    """Sanity: on a simple FM problem the fit explains most of the variance (R^2 well > 0)."""
    X, y, Xt, yt, ft = make_fm_data(200, 5, rank=2, noise=0.3, seed=3, n_test=100)
    model = FMRegressor(rank=2, n_iter=100, n_burn=40, n_chains=1, n_jobs=1,
                        random_state=0).fit(X, y)
    # generous bound: the true R^2 against the noiseless function is close to 1, a broken
    # sampler gives ~0 or negative
    assert model.score(Xt, ft) > 0.7
    assert np.sqrt(np.mean((model.predict(Xt) - ft) ** 2)) < np.std(ft) / 2


# ---------------------------------------------------------------------------------------------
# 2. input formats
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def format_data():
    """Data with genuine zeros (sparse-ish) and values exactly representable in binary."""
    rng = np.random.default_rng(7)
    n, p = 80, 5
    X = rng.integers(-4, 5, size=(n, p)) * 0.25
    X[rng.random((n, p)) < 0.5] = 0.0
    y = rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def dense_reference(format_data):
    X, y = format_data
    return small_model(random_state=11).fit(X, y)


def test_y_as_list_same_draws(format_data, dense_reference):
    X, y = format_data
    model = small_model(random_state=11).fit(X, list(y))
    assert np.array_equal(model.V_, dense_reference.V_)


def test_coo_duplicates_are_summed(format_data, dense_reference):
    X, y = format_data
    coo = sp.coo_matrix(X)
    rows, cols, vals = coo.row, coo.col, coo.data
    # split every other stored entry into two duplicates of half its value; the entries are
    # multiples of 0.25, so both halves and their sum are exact in binary
    split = np.arange(vals.size) % 2 == 0
    half = vals[split] / 2
    rest = vals[split] - half
    v2 = np.concatenate([np.where(split, 0.0, vals), rest])
    v2[np.flatnonzero(split)] = half
    r2 = np.concatenate([rows, rows[split]])
    c2 = np.concatenate([cols, cols[split]])
    dup = sp.coo_matrix((v2, (r2, c2)), shape=X.shape)
    assert dup.nnz > sp.coo_matrix(X).nnz  # there really are duplicates
    np.testing.assert_array_equal(dup.toarray(), X)
    model = small_model(random_state=11).fit(dup, y)
    assert np.array_equal(model.w0_, dense_reference.w0_)
    assert np.array_equal(model.V_, dense_reference.V_)
    # and at predict time
    assert np.array_equal(model.predict(dup), dense_reference.predict(X))


def test_sparse_input_not_modified(format_data):
    X, y = format_data
    coo = sp.coo_matrix(X)
    dup = sp.coo_matrix((np.concatenate([coo.data, [1.0]]),
                         (np.concatenate([coo.row, [0]]), np.concatenate([coo.col, [0]]))),
                        shape=X.shape)
    before = (dup.row.copy(), dup.col.copy(), dup.data.copy())
    Xd = X.copy()
    small_model().fit(dup, y)
    small_model().fit(Xd, y)
    assert np.array_equal(dup.row, before[0]) and np.array_equal(dup.col, before[1])
    assert np.array_equal(dup.data, before[2])
    assert np.array_equal(Xd, X)


# ---------------------------------------------------------------------------------------------
# 3. reproducibility (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

def test_generator_is_advanced(data):
    X, y = data
    gen = np.random.default_rng(3)
    model = small_model(random_state=gen)
    first = model.fit(X, y).V_.copy()
    second = model.fit(X, y).V_
    assert not np.array_equal(first, second)


# ---------------------------------------------------------------------------------------------
# 4. scale equivariance
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(3.7, -12.0), (0.01, 5.0), (250.0, 1e3)])
def test_scale_equivariance(data, a, b):
    X, y = data
    params = dict(rank=2, n_iter=60, n_burn=20, n_chains=1, n_jobs=1, random_state=9)
    m1 = FMRegressor(**params).fit(X, y)
    m2 = FMRegressor(**params).fit(X, a * y + b)
    # The sampler runs on the standardised target; (a*y + b) standardises to y's standardised
    # values up to a few ulps, and with the same random numbers the chain reproduces its draws
    # up to rounding. rtol 1e-6 leaves ~9 orders of magnitude for that rounding to grow in.
    tol = dict(rtol=1e-6, atol=1e-9 * a * np.std(y))
    np.testing.assert_allclose(m2.predict(X), a * m1.predict(X) + b, **tol)
    np.testing.assert_allclose(m2.predict_draws(X), a * m1.predict_draws(X) + b, **tol)
    for kind in ("predictive", "mean"):
        np.testing.assert_allclose(m2.predict_interval(X, 0.9, kind),
                                   a * m1.predict_interval(X, 0.9, kind) + b, **tol)
    # parameters map as documented
    np.testing.assert_allclose(m2.w0_, a * m1.w0_ + b, **tol)
    np.testing.assert_allclose(m2.w_, a * m1.w_, rtol=1e-6, atol=1e-9 * a)
    np.testing.assert_allclose(m2.V_, np.sqrt(a) * m1.V_, rtol=1e-6, atol=1e-9 * np.sqrt(a))
    np.testing.assert_allclose(m2.alpha_, m1.alpha_ / a**2, rtol=1e-6)
    # hyperparameters: w scales by a, V by sqrt(a); precisions by the inverse squares
    np.testing.assert_allclose(m2.mu_w_, a * m1.mu_w_, rtol=1e-6, atol=1e-9 * a)
    np.testing.assert_allclose(m2.lambda_w_, m1.lambda_w_ / a**2, rtol=1e-6)
    np.testing.assert_allclose(m2.mu_v_, np.sqrt(a) * m1.mu_v_, rtol=1e-6,
                               atol=1e-9 * np.sqrt(a))
    np.testing.assert_allclose(m2.lambda_v_, m1.lambda_v_ / a, rtol=1e-6)
    np.testing.assert_allclose(m2.train_rmse_, a * m1.train_rmse_, rtol=1e-6)
    assert m2.y_mean_ == pytest.approx(a * m1.y_mean_ + b, rel=1e-12, abs=1e-12 * a)
    assert m2.y_scale_ == pytest.approx(a * m1.y_scale_, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# 5. init_scale insensitivity
# ---------------------------------------------------------------------------------------------

def test_init_scale_insensitivity():
    X, y, Xt, yt, _ = make_fm_data(400, 20, rank=2, noise=0.5, seed=21, n_test=200)
    preds = {}
    for scale in (0.01, 0.1, 1.0):
        model = FMRegressor(rank=2, n_iter=300, n_burn=100, init_scale=scale, n_chains=1,
                            n_jobs=1, random_state=4)
        preds[scale] = model.fit(X, y).predict(Xt)
    # Reference error: RMSE against the *noisy* test targets, at least the noise sd 0.5.
    # Two chains that forget their start differ only by Monte Carlo error of a 200-draw
    # posterior mean, a small fraction of the posterior sd of f(x), which is itself smaller
    # than the noise here; 25% of the test RMSE leaves a wide margin for a slowly mixing chain
    # while still catching a start that changes the answer (which would show up as a gap of
    # the order of the test error itself).
    rmse = {s: np.sqrt(np.mean((p - yt) ** 2)) for s, p in preds.items()}
    ref = min(rmse.values())
    scales = sorted(preds)
    for i, s1 in enumerate(scales):
        for s2 in scales[i + 1:]:
            gap = np.sqrt(np.mean((preds[s1] - preds[s2]) ** 2))
            assert gap < 0.25 * ref, (s1, s2, gap, ref)


def test_init_scale_zero_allowed(data):
    X, y = data
    model = small_model(init_scale=0.0).fit(X, y)
    assert np.all(np.isfinite(model.predict(X)))


# ---------------------------------------------------------------------------------------------
# 6. scikit-learn conventions (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

def test_params_validated_at_fit_not_init():
    FMRegressor(rank=0, n_iter=-1, thin=0)  # no error until fit


def test_public_names():
    assert issubclass(bayesfm.NotFittedError, ValueError)
    assert issubclass(bayesfm.NotFittedError, AttributeError)
    assert bayesfm.FMRegressor is FMRegressor


# ---------------------------------------------------------------------------------------------
# 7. errors (the shared ones: tests/models/test_contract.py)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 4), (5, 0)])
def test_empty_X(shape):
    X = np.empty(shape)
    y = np.zeros(shape[0])
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y)
    assert_msg(ei, r"\bX\b", "empty")


@pytest.mark.parametrize("shape", [(0, 4), (5, 0)])
def test_empty_sparse_X(shape):
    with pytest.raises(ValueError) as ei:
        small_model().fit(sp.csr_matrix(shape), np.zeros(shape[0]))
    assert_msg(ei, r"\bX\b", "empty")


@pytest.mark.parametrize("n_iter, n_burn", [(30, 30), (30, 31)])
def test_n_burn_not_below_n_iter(data, n_iter, n_burn):
    X, y = data
    with pytest.raises(ValueError) as ei:
        small_model(n_iter=n_iter, n_burn=n_burn).fit(X, y)
    assert_msg(ei, "n_burn")


@pytest.mark.parametrize("priors", [{"a0": 1.0}, "default", 1.0, Priors])
def test_priors_wrong_type(data, priors):
    X, y = data
    with pytest.raises(TypeError) as ei:
        small_model(priors=priors).fit(X, y)
    assert_msg(ei, "priors")


@pytest.mark.parametrize("field, value", [
    ("a0", -1), ("a0", 0.0), ("b0", np.inf), ("a_lambda", -2.0), ("b_lambda", 0),
    ("c0", np.nan), ("lambda0", -0.01), ("mu0", np.inf), ("m0", np.nan),
])
def test_invalid_priors_values(field, value):
    with pytest.raises(ValueError) as ei:
        Priors(**{field: value})
    assert_msg(ei, rf"\b{field}\b")


@pytest.mark.parametrize("field, value", [("a0", "1"), ("m0", None), ("b0", True)])
def test_priors_wrong_types(field, value):
    with pytest.raises(TypeError) as ei:
        Priors(**{field: value})
    assert_msg(ei, rf"\b{field}\b")


@pytest.mark.parametrize("value", [np.int64(2), np.float32(2.0)])
def test_priors_accept_numpy_scalars(value):
    prior = Priors(a0=value)
    assert prior.a0 == 2 and type(prior.a0) is float


def test_priors_reject_bool():
    with pytest.raises((TypeError, ValueError)):
        Priors(a0=True)


@pytest.mark.parametrize("groups", [["a"] * (P - 1), ["a"] * (P + 1), []])
def test_groups_wrong_length(data, groups):
    X, y = data
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y, groups=groups)
    assert_msg(ei, "groups")


@pytest.mark.parametrize("groups", ["abcdef", np.zeros((2, 3))])
def test_groups_wrong_dimensions(data, groups):
    X, y = data
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y, groups=groups)
    assert_msg(ei, "groups")


def test_groups_nan_label(data):
    X, y = data
    with pytest.raises(ValueError) as ei:
        small_model().fit(X, y, groups=[0.0, 1.0, np.nan, 0.0, 1.0, 0.0])
    assert_msg(ei, "groups", r"\b2\b")


def test_X_one_dimensional(data):
    X, y = data
    with pytest.raises(ValueError) as ei:
        small_model().fit(X[:, 0], y)
    assert_msg(ei, r"\bX\b")


def test_n_draws_before_fit():
    with pytest.raises(NotFittedError):
        FMRegressor().n_draws_


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2, 0.0, 1.0, np.nan, True, "0.9", None])
def test_predict_interval_bad_level(fitted, data, level):
    X, _ = data
    with pytest.raises(ValueError) as ei:
        fitted.predict_interval(X, level=level)
    assert_msg(ei, "level")


@pytest.mark.parametrize("kind", ["posterior", "Mean", "", None])
def test_predict_interval_bad_kind(fitted, data, kind):
    X, _ = data
    with pytest.raises(ValueError) as ei:
        fitted.predict_interval(X, kind=kind)
    assert_msg(ei, "kind")


def test_predict_interval_numpy_level(fitted, data):
    X, _ = data
    a = fitted.predict_interval(X[:5], level=np.float64(0.8))
    b = fitted.predict_interval(X[:5], level=0.8)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("X_bad", [
    [["a", "b"], ["c", "d"]],
    np.array([["x", "1"], ["2", "3"]]),
    [[1.0, "b"], [2.0, 3.0]],
])
def test_string_X_type_error(X_bad):
    with pytest.raises(TypeError) as ei:
        small_model().fit(X_bad, [0.0, 1.0])
    assert_msg(ei, r"\bX\b")


def test_string_y_type_error(data):
    X, _ = data
    with pytest.raises(TypeError) as ei:
        small_model().fit(X[:2], ["a", "b"])
    assert_msg(ei, r"\by\b")


def test_complex_X_value_error(data):
    X, y = data
    with pytest.raises(ValueError, match="Complex data not supported") as ei:
        small_model().fit(X + 1j, y)
    assert_msg(ei, r"\bX\b")
    with pytest.raises(ValueError, match="Complex data not supported") as ei:
        small_model().fit(X, y + 1j)
    assert_msg(ei, r"\by\b")


# ---------------------------------------------------------------------------------------------
# 8. constant target
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("const", [0.0, 4.25, -1e3])
def test_constant_y(data, const):
    X, _ = data
    y = np.full(X.shape[0], const)
    model = small_model(n_iter=60, n_burn=20).fit(X, y)
    assert model.y_scale_ == (abs(const) or 1.0)           # the target's own magnitude
    assert model.y_mean_ == const
    pred = model.predict(X)
    assert np.all(np.isfinite(pred))
    # The standardised target is exactly 0 (y_scale is |y|, or 1 for y = 0), so the noise
    # precision concentrates near (a0 + n) / b0 ~ n: noise sd ~ 1/sqrt(n) ~ 0.09 in units of
    # y_scale, and the draws of the fitted function are tighter than that around the
    # constant; 0.1 y_scale is a loose bound.
    np.testing.assert_allclose(pred, const, atol=0.1 * model.y_scale_)
    iv = model.predict_interval(X, kind="predictive")
    assert np.all(iv[:, 0] < const) and np.all(iv[:, 1] > const)


@pytest.mark.parametrize("kind", ["predictive", "mean"])
def test_several_levels_in_one_call(fitted, data, kind):
    """level=[...] gives (n, L, 2), each level exactly as its own call gives it."""
    X = data[0][:40]
    levels = [0.5, 0.8, 0.9]
    many = fitted.predict_interval(X, level=levels, kind=kind)
    assert many.shape == (40, 3, 2)
    for j, lev in enumerate(levels):
        np.testing.assert_array_equal(many[:, j], fitted.predict_interval(X, lev, kind=kind))
    np.testing.assert_array_equal(fitted.predict_interval(X, np.array([0.8]), kind=kind)[:, 0],
                                  many[:, 1])


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, [], [0.5, 1.0], [[0.5]], "0.9", True,
                                   [0.5, None], float("nan")])
def test_bad_levels_are_named(fitted, data, level):
    with pytest.raises(ValueError, match="level must be a number strictly between 0 and 1"):
        fitted.predict_interval(data[0][:3], level=level)
