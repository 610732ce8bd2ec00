"""Helpers of the joint-distribution tests: draws from the FM prior, and yhat by definition."""

from __future__ import annotations

import numpy as np


def fm_yhat(X, w0, w, V):
    """Brute-force FM, independent of the kernels: w0 + Xw + sum_{j<l} <v_j, v_l> x_j x_l."""
    XV = X @ V
    return w0 + X @ w + 0.5 * ((XV**2).sum(axis=-1) - (X**2) @ (V**2).sum(axis=-1))


def prior_draw(rng, gidx, k, pr):
    """One draw of (alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V) from the prior ``pr``."""
    G = int(gidx.max()) + 1
    alpha = rng.gamma(pr.a0 / 2, 2 / pr.b0)
    lam_w = rng.gamma(pr.a_lambda / 2, 2 / pr.b_lambda, G)
    mu_w = rng.normal(pr.mu0, 1 / np.sqrt(pr.c0 * lam_w))
    lam_v = rng.gamma(pr.a_lambda / 2, 2 / pr.b_lambda, (G, k))
    mu_v = rng.normal(pr.mu0, 1 / np.sqrt(pr.c0 * lam_v))
    w0 = rng.normal(pr.m0, 1 / np.sqrt(pr.lambda0))
    w = rng.normal(mu_w[gidx], 1 / np.sqrt(lam_w[gidx]))
    V = rng.normal(mu_v[gidx], 1 / np.sqrt(lam_v[gidx]))
    return alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V


def prior_draws(rng, gidx, k, pr, n):
    """n independent prior draws, vectorised: arrays with a leading axis of length n."""
    G = int(gidx.max()) + 1
    alpha = rng.gamma(pr.a0 / 2, 2 / pr.b0, n)
    lam_w = rng.gamma(pr.a_lambda / 2, 2 / pr.b_lambda, (n, G))
    mu_w = rng.normal(pr.mu0, 1 / np.sqrt(pr.c0 * lam_w))
    lam_v = rng.gamma(pr.a_lambda / 2, 2 / pr.b_lambda, (n, G, k))
    mu_v = rng.normal(pr.mu0, 1 / np.sqrt(pr.c0 * lam_v))
    w0 = rng.normal(pr.m0, 1 / np.sqrt(pr.lambda0), n)
    w = rng.normal(mu_w[:, gidx], 1 / np.sqrt(lam_w[:, gidx]))
    V = rng.normal(mu_v[:, gidx], 1 / np.sqrt(lam_v[:, gidx]))          # (n, p, k)
    return alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V


def fm_yhat_many(X, w0, w, V):
    """fm_yhat for a stack of draws: w0 (n,), w (n, p), V (n, p, k) -> (n, rows)."""
    XV = np.einsum("ij,sjf->sif", X, V)
    return w0[:, None] + w @ X.T + 0.5 * ((XV**2).sum(-1) - (V**2).sum(-1) @ (X**2).T)
