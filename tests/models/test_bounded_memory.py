"""Bounded-memory mode: predictions of evaluation sets accumulated during sampling."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor
from bayesfm.models.evaluation import cornish_fisher_quantiles

KW = dict(rank=3, n_iter=80, n_burn=20, n_chains=2, n_jobs=1, random_state=7, progress=False)


def _data(n=1500, users=60, items=40, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, users, n)
    i = rng.integers(0, items, n)
    rows = np.arange(n)
    X = sp.hstack([sp.csr_matrix((np.ones(n), (rows, u)), shape=(n, users)),
                   sp.csr_matrix((np.ones(n), (rows, i)), shape=(n, items))], format="csr")
    bu = rng.normal(size=users)
    bi = rng.normal(size=items)
    y = 3 + bu[u] + bi[i] + 0.5 * rng.normal(size=n)
    groups = np.r_[np.zeros(users), np.ones(items)]
    return X[:1200], y[:1200], X[1200:], y[1200:], groups


def test_moments_equal_those_of_the_kept_draws():
    X, y, Xt, yt, g = _data()
    full = FMRegressor(**KW).fit(X, y, groups=g, eval_sets={"test": Xt})
    lean = FMRegressor(keep_draws=False, **KW).fit(X, y, groups=g, eval_sets={"test": Xt})
    np.testing.assert_array_equal(lean.alpha_, full.alpha_)        # the same chain
    draws = full.predict_draws(Xt)
    ev = lean.eval_predictions_["test"]
    assert ev.n_draws == draws.shape[0]
    np.testing.assert_allclose(ev.mean, draws.mean(axis=0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ev.sd, draws.std(axis=0), rtol=1e-8, atol=1e-10)
    pred_var = draws.var(axis=0) + np.mean(1 / full.alpha_)
    np.testing.assert_allclose(ev.predictive_sd, np.sqrt(pred_var), rtol=1e-8)
    assert lean.w_.shape == (lean.n_draws_, 0) and lean.V_.shape == (lean.n_draws_, 0, 3)


def test_cornish_fisher_intervals_match_the_exact_mixture_quantiles():
    X, y, Xt, yt, g = _data()
    full = FMRegressor(**KW).fit(X, y, groups=g, eval_sets={"test": Xt})
    ev = full.eval_predictions_["test"]
    exact = full.predict_interval(Xt, level=0.9)
    approx = ev.interval(level=0.9)
    # the predictive mixture is nearly normal: differences far below the predictive sd
    err = np.abs(approx - exact) / ev.predictive_sd[:, None]
    assert np.median(err) < 0.01 and err.max() < 0.1
    cover = lambda iv: np.mean((yt >= iv[:, 0]) & (yt <= iv[:, 1]))  # noqa: E731
    assert abs(cover(approx) - cover(exact)) <= 0.01
    lo, hi = ev.interval(0.5, kind="mean").T
    assert np.all(lo <= ev.mean) and np.all(ev.mean <= hi)


def test_cornish_fisher_is_exact_for_normal_and_close_for_skewed():
    probs = np.array([0.05, 0.25, 0.5, 0.95])
    q = cornish_fisher_quantiles(np.array([2.0]), np.array([4.0]), np.zeros(1), np.zeros(1),
                                 probs)
    np.testing.assert_allclose(q[0], stats.norm.ppf(probs, 2.0, 2.0), rtol=1e-12)
    a = 30.0                                   # Gamma(30): skewness 0.365, excess kurt 0.2
    q = cornish_fisher_quantiles(np.array([a]), np.array([a]), np.array([2 / np.sqrt(a)]),
                                 np.array([6 / a]), probs)
    np.testing.assert_allclose(q[0], stats.gamma.ppf(probs, a), rtol=2e-3)


def test_continuing_and_processes_give_the_same_sums():
    X, y, Xt, _, g = _data()
    kw = dict(KW, keep_draws=False)
    long = FMRegressor(**dict(kw, n_iter=110)).fit(X, y, groups=g, eval_sets={"t": Xt})
    short = FMRegressor(**dict(kw, n_iter=70)).fit(X, y, groups=g, eval_sets={"t": Xt})
    short.sample_more(40)
    procs = FMRegressor(**dict(kw, n_iter=110, n_jobs=2)).fit(X, y, groups=g,
                                                              eval_sets={"t": Xt})
    for other in (short, procs):
        a, b = long.eval_predictions_["t"], other.eval_predictions_["t"]
        assert a.n_draws == b.n_draws
        np.testing.assert_array_equal(b.mean, a.mean)
        np.testing.assert_array_equal(b.sd, a.sd)


def test_classifier_accumulates_probabilities():
    X, y, Xt, _, g = _data()
    labels = (y > np.median(y)).astype(int)
    full = FMClassifier(**KW).fit(X, labels, groups=g, eval_sets={"test": Xt})
    lean = FMClassifier(keep_draws=False, **KW).fit(X, labels, groups=g,
                                                    eval_sets={"test": Xt})
    np.testing.assert_allclose(lean.eval_predictions_["test"].proba,
                               full.predict_proba(Xt)[:, 1], atol=1e-12)
    ev = lean.eval_predictions_["test"]
    latent = full.decision_draws(Xt)                  # the same draws, kept
    np.testing.assert_allclose(ev.mean, latent.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ev.sd, latent.std(axis=0), rtol=1e-7, atol=1e-12)
    # probit noise has variance 1: the predictive variance is that of yhat plus 1
    np.testing.assert_allclose(ev.predictive_sd ** 2, ev.sd ** 2 + 1.0, rtol=1e-9)


def test_errors_name_the_problem():
    X, y, Xt, _, g = _data()
    lean = FMRegressor(keep_draws=False, **KW).fit(X, y, groups=g)
    with pytest.raises(RuntimeError, match="keep_draws=False"):
        lean.predict(Xt)
    assert not hasattr(lean, "eval_predictions_")
    with pytest.raises(TypeError, match="eval_sets must be a dict"):
        FMRegressor(**KW).fit(X, y, eval_sets=[Xt])
    with pytest.raises(ValueError, match=r"eval_sets\['bad'\]"):
        FMRegressor(**KW).fit(X, y, eval_sets={"bad": Xt[:, :10]})
    with pytest.raises(ValueError, match="keep_draws"):
        FMRegressor(keep_draws="no", **KW).fit(X, y)
    with pytest.raises(NotImplementedError, match="FMOrdinalRegressor"):
        FMOrdinalRegressor(keep_draws=False, **KW).fit(X, np.digitize(y, [2, 3, 4]))
