"""Rank 0 with alpha and the group hyperparameters held fixed is Bayesian linear regression:
the Gibbs draws of (w0, w) must match the analytic Gaussian posterior (mean and covariance)
within Monte Carlo error."""

import numpy as np
import pytest

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
from bayesfm.sampler.likelihoods import Gaussian
from tests.mcmc_stats import batch_means_se, bonferroni_z

pytestmark = pytest.mark.statistical


def _analytic(X, y, alpha, prior_mean, prior_prec):
    A = np.column_stack([np.ones(len(y)), X])
    P = alpha * A.T @ A + np.diag(prior_prec)
    cov = np.linalg.inv(P)
    mean = cov @ (alpha * A.T @ y + prior_prec * prior_mean)
    return mean, cov


def test_rank0_fixed_hyperparameters_match_bayesian_linear_regression():
    rng = np.random.default_rng(20261125)
    n, p = 25, 3
    X = rng.normal(size=(n, p))
    X[rng.random((n, p)) < 0.3] = 0.0          # some sparsity, so CSC columns differ in length
    y = 0.7 + X @ np.array([1.0, -0.5, 0.25]) + rng.normal(0, 0.6, n)
    gidx = np.array([0, 0, 1])
    priors = Priors(m0=0.4, lambda0=0.8)
    alpha = 2.5
    mu_w = np.array([0.3, -0.2])
    lam_w = np.array([1.5, 0.7])

    data = FMData.from_matrix(X, gidx)
    state = driver.init_state(data, y, 0, rng)
    state.alpha = alpha
    state.mu_w[:] = mu_w
    state.lam_w[:] = lam_w

    n_iter = 40_000
    draws = np.empty((n_iter, p + 1))

    def keep(it, st):
        draws[it, 0] = st.w0
        draws[it, 1:] = st.w

    driver.run_chain(data, Gaussian(y), state, priors, rng, n_iter, 0, 1, sample_alpha=False,
                     sample_hyper=False, callback=keep)
    # hyperparameters really were held fixed
    assert state.alpha == alpha and np.all(state.lam_w == lam_w) and np.all(state.mu_w == mu_w)

    mean, cov = _analytic(X, y, alpha, np.r_[priors.m0, mu_w[gidx]],
                          np.r_[priors.lambda0, lam_w[gidx]])
    n_entries = p + 1 + (p + 1) * (p + 2) // 2
    zcrit = bonferroni_z(n_entries)

    z_mean = (draws.mean(axis=0) - mean) / batch_means_se(draws)
    assert np.all(np.abs(z_mean) < zcrit), z_mean

    centred = draws - mean
    iu = np.triu_indices(p + 1)
    products = centred[:, iu[0]] * centred[:, iu[1]]
    z_cov = (products.mean(axis=0) - cov[iu]) / batch_means_se(products)
    assert np.all(np.abs(z_cov) < zcrit), z_cov
    # and the comparison is sharp: the Monte Carlo error is a few percent of the variances
    assert np.all(batch_means_se(products)[iu[0] == iu[1]] < 0.05 * np.diag(cov))
