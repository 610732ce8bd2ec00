"""Recovery: data simulated from a known FM; the posterior mean gets close to the true
regression function and the predictive intervals cover new observations at their nominal rate."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm import FMRegressor

pytestmark = pytest.mark.statistical

NOISE_SD = 0.5


def simulate(seed=3, n_users=200, n_items=150, n_side=2, rank=3, n_train=12_000, n_test=4_000):
    """User one-hot + item one-hot + dense side features, a rank-3 FM truth plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    users = rng.integers(0, n_users, n)
    items = rng.integers(0, n_items, n)
    side = rng.normal(size=(n, n_side))
    p = n_users + n_items + n_side
    rows = np.repeat(np.arange(n), 2 + n_side)
    cols = np.column_stack([users, n_users + items,
                            np.tile(n_users + n_items + np.arange(n_side), (n, 1))]).ravel()
    vals = np.column_stack([np.ones(n), np.ones(n), side]).ravel()
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, p))
    w0 = 1.0
    w = np.r_[rng.normal(0, 0.4, n_users), rng.normal(0, 0.4, n_items), [0.8, -0.5]]
    V = rng.normal(0, 0.5, (p, rank))
    XV = X @ V
    f = w0 + X @ w + 0.5 * ((XV**2).sum(1) - (X.multiply(X)) @ (V**2).sum(1))
    y = f + rng.normal(0, NOISE_SD, n)
    groups = ["user"] * n_users + ["item"] * n_items + ["side"] * n_side
    tr, te = slice(0, n_train), slice(n_train, n)
    return X[tr], y[tr], f[tr], X[te], y[te], f[te], groups


@pytest.fixture(scope="module")
def fitted():
    Xtr, ytr, ftr, Xte, yte, fte, groups = simulate()
    model = FMRegressor(rank=3, n_iter=500, n_burn=150, random_state=0).fit(Xtr, ytr, groups)
    return model, Xte, yte, fte


def test_posterior_mean_recovers_the_regression_function(fitted):
    model, Xte, yte, fte = fitted
    pred = model.predict(Xte)
    rmse_f = np.sqrt(np.mean((pred - fte) ** 2))
    spread_f = np.std(fte)
    # The truth varies with sd ~1.2 across rows; a good fit leaves an error well below the noise
    # sd (0.5) and explains nearly all of the variance of f.
    assert rmse_f < 0.6 * NOISE_SD, rmse_f
    assert rmse_f < 0.3 * spread_f, (rmse_f, spread_f)
    # the noise precision is recovered: 1/sqrt(alpha) near the true noise sd
    noise_sd = np.mean(1 / np.sqrt(model.alpha_))
    assert abs(noise_sd - NOISE_SD) < 0.05 * NOISE_SD, noise_sd


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_predictive_interval_coverage_is_nominal(fitted, level):
    model, Xte, yte, fte = fitted
    lo, hi = model.predict_interval(Xte, level=level).T
    coverage = np.mean((yte >= lo) & (yte <= hi))
    # Binomial Monte Carlo error of the coverage on n test rows; 4 standard errors plus a small
    # allowance (0.01) for the finite-sample posterior not being exactly the truth.
    se = np.sqrt(level * (1 - level) / yte.size)
    assert abs(coverage - level) < 4 * se + 0.01, coverage


def test_mean_interval_is_narrower_and_covers_less(fitted):
    model, Xte, yte, fte = fitted
    pred_iv = model.predict_interval(Xte, level=0.9, kind="predictive")
    mean_iv = model.predict_interval(Xte, level=0.9, kind="mean")
    assert np.all(mean_iv[:, 1] - mean_iv[:, 0] < pred_iv[:, 1] - pred_iv[:, 0])
    cov_f = np.mean((fte >= mean_iv[:, 0]) & (fte <= mean_iv[:, 1]))
    cov_y = np.mean((yte >= mean_iv[:, 0]) & (yte <= mean_iv[:, 1]))
    # credible intervals of f should hold most true f values, but far fewer noisy y
    assert cov_f > 0.6 and cov_y < 0.6, (cov_f, cov_y)
