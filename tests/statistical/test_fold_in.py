"""The fold-in conditional, in closed form: with the fitted parameters held at one draw, a new
user's (w_u, v_u) enter every prediction linearly (a one-hot column never meets itself), so their
full conditional given the new rows is Gaussian,

    precision P = alpha sum_i h_i h_i' + diag(prior precisions),  mean = P^-1 (alpha sum_i h_i r_i
    + diag(prior precisions) prior means),  h_i = x_iu (1, q_i),

q_i the known columns' factor sums of row i and r_i = y_i minus the known part of yhat_i (in the
units of the column: prior mean mu / c, precision lambda c^2 for its column scale c). The
fold-in chain over many copies of one draw is a Gibbs chain on exactly that Gaussian: its mean
and covariance must match within Monte Carlo error, and a conditional with a wrong noise
precision must not (the power check).
"""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm import FMRegressor
from tests.mcmc_stats import batch_means_se, bonferroni_z

pytestmark = pytest.mark.statistical

N_COPIES = 20_000


def _one_draw_model():
    """A small fit on one-hot users and items (entries 2, so the columns have a scale) whose
    posterior is ``N_COPIES`` copies of one draw (the fitted parameters held fixed)."""
    rng = np.random.default_rng(20261207)
    nu, ni, n = 8, 6, 120
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    X = sp.csr_matrix((np.full(2 * n, 2.0), (np.r_[np.arange(n), np.arange(n)],
                                             np.r_[u, nu + i])), shape=(n, nu + ni))
    y = 3.0 + 4.0 * rng.normal(size=nu)[u] * rng.normal(size=ni)[i] + rng.normal(0, 2.0, n)
    groups = ["user"] * nu + ["item"] * ni
    model = FMRegressor(rank=2, n_iter=30, n_burn=20, n_chains=1, random_state=3)
    model.fit(X, y, groups=groups)
    state = model.to_state(chains=True)
    draws = state["posterior"]["draws"]
    for name, arr in draws.items():
        draws[name] = np.repeat(arr[:, -1:], N_COPIES, axis=1)
    state["posterior"]["sweeps"] = {}
    state["fitted"].pop("train_rmse_", None)
    return FMRegressor.from_state(state), nu, ni


def _exact(model, X_new, y_new, alpha_factor=1.0):
    """Mean and covariance of (w_u, v_u) given the rows and the (one) draw."""
    p = model.n_features_in_ - 1
    w0, w, V = model.w0_[0], model.w_[0], model.V_[0]
    alpha = model.alpha_[0] * alpha_factor
    g = model.group_index_[p]
    c = model.column_scale_[p]
    Xk = X_new[:, :p].toarray()
    xu = X_new[:, p].toarray().ravel()
    q = Xk @ V[:p]
    known = w0 + Xk @ w[:p] + 0.5 * (np.sum(q * q, 1) - (Xk**2) @ np.sum(V[:p] ** 2, 1))
    H = xu[:, None] * np.column_stack([np.ones(len(y_new)), q])
    r = y_new - known
    prior_mean = np.r_[model.mu_w_[0, g], model.mu_v_[0, g]] / c
    prior_prec = np.r_[model.lambda_w_[0, g], model.lambda_v_[0, g]] * c**2
    P = alpha * H.T @ H + np.diag(prior_prec)
    cov = np.linalg.inv(P)
    return cov @ (alpha * H.T @ r + prior_prec * prior_mean), cov


def _exact_known(model, X_rows, y_rows, j):
    """Mean and covariance of (w_j, v_j) of a known column j given all its rows ``X_rows``
    (training and new, the model's columns) and the (one) draw of every other parameter."""
    w0, w, V = model.w0_[0], model.w_[0].copy(), model.V_[0].copy()
    g, c = model.group_index_[j], model.column_scale_[j]
    X = X_rows.toarray()
    xj = X[:, j].copy()
    X[:, j] = 0.0
    q = X @ V
    rest = w0 + X @ w + 0.5 * (np.sum(q * q, 1) - (X**2) @ np.sum(V**2, 1))
    H = xj[:, None] * np.column_stack([np.ones(len(y_rows)), q])
    prior_mean = np.r_[model.mu_w_[0, g], model.mu_v_[0, g]] / c
    prior_prec = np.r_[model.lambda_w_[0, g], model.lambda_v_[0, g]] * c**2
    P = model.alpha_[0] * H.T @ H + np.diag(prior_prec)
    cov = np.linalg.inv(P)
    return cov @ (model.alpha_[0] * H.T @ (y_rows - rest) + prior_prec * prior_mean), cov


def test_update_of_a_known_user_matches_its_exact_conditional_over_all_its_rows():
    """update="user": a known user's (w, v) given their training rows and three new ones."""
    model, nu, ni = _one_draw_model()
    p = nu + ni
    rng = np.random.default_rng(8)
    items = np.array([0, 4, 5])
    m = items.shape[0]
    X_new = sp.csr_matrix((np.full(2 * m, 2.0), (np.r_[np.arange(m), np.arange(m)],
                                                 np.r_[np.full(m, 2), nu + items])),
                          shape=(m, p))
    y_new = 3.0 + rng.normal(0, 4.0, m)
    before = model.w_[:, :].copy()
    model.fold_in(X_new, y_new, update="user", n_sweeps=1, random_state=12)
    assert model.n_features_in_ == p and model.updated_features_.tolist() == [2]
    assert np.array_equal(np.delete(model.w_, 2, axis=1), np.delete(before, 2, axis=1))
    mine = model.X_train_[:, 2].nonzero()[0]
    X_rows = sp.vstack([model.X_train_[mine], X_new])
    y_rows = np.r_[model.y_train_[mine], y_new]
    draws = np.column_stack([model.w_[:, 2], model.V_[:, 2, :]])
    mean, cov = _exact_known(model, X_rows, y_rows, 2)
    z, zcrit = _max_z(draws, mean, cov)
    assert z < zcrit, f"updated draws differ from the exact conditional: max |z| {z:.2f}"
    # power: leaving the new rows out of the conditional is told apart
    wrong_mean, wrong_cov = _exact_known(model, model.X_train_[mine], model.y_train_[mine], 2)
    z_wrong, _ = _max_z(draws, wrong_mean, wrong_cov)
    assert z_wrong > zcrit, f"the check cannot tell the new rows (max |z| {z_wrong:.2f})"


def _max_z(draws, mean, cov):
    """The largest |z| of the mean and covariance entries against their Monte Carlo errors, and
    the Bonferroni critical value for that many comparisons."""
    d = draws.shape[1]
    centred = draws - mean
    iu = np.triu_indices(d)
    products = (centred[:, :, None] * centred[:, None, :])[:, iu[0], iu[1]]
    z_mean = (draws.mean(axis=0) - mean) / batch_means_se(draws)
    z_cov = (products.mean(axis=0) - cov[iu]) / batch_means_se(products)
    return float(np.max(np.abs(np.r_[z_mean, z_cov]))), bonferroni_z(d + iu[0].shape[0])


def test_fold_in_draws_match_the_exact_gaussian_conditional_and_a_wrong_one_fails():
    model, nu, ni = _one_draw_model()
    p = nu + ni
    rng = np.random.default_rng(7)
    items = np.array([0, 1, 2, 3, 5, 1])                 # a new user with six ratings
    m = items.shape[0]
    X_new = sp.csr_matrix((np.full(2 * m, 2.0), (np.r_[np.arange(m), np.arange(m)],
                                            np.r_[nu + items, np.full(m, p)])), shape=(m, p + 1))
    y_new = 3.0 + rng.normal(0, 4.0, m)
    model.fold_in(X_new, y_new, groups=["user"], n_sweeps=1, random_state=11)
    assert model.n_features_in_ == p + 1 and model.n_folded_rows_ == m
    draws = np.column_stack([model.w_[:, p], model.V_[:, p, :]])
    assert draws.shape == (N_COPIES, 3)
    # the known columns' draws are untouched
    assert np.all(model.w_[:, :p] == model.w_[0, :p])
    assert model.column_scale_[p] != 1.0 and model.y_scale_ != 1.0    # units are exercised

    mean, cov = _exact(model, X_new, y_new)
    z, zcrit = _max_z(draws, mean, cov)
    assert z < zcrit, f"fold-in draws differ from the exact conditional: max |z| {z:.2f}"

    # power: the same comparison against the conditional of a noise precision 30% off fails
    wrong_mean, wrong_cov = _exact(model, X_new, y_new, alpha_factor=1.3)
    z_wrong, _ = _max_z(draws, wrong_mean, wrong_cov)
    assert z_wrong > zcrit, f"the check cannot tell a wrong conditional (max |z| {z_wrong:.2f})"


# -- probit models: a joint-distribution (Geweke) test of the fold-in chain with latent variables


def _probit_geweke(bounds_true, bounds_used, n_iter=12_000, seed=5):
    """Successive-conditional simulator over a new column's (w, v) and its rows' classes: a
    fold-in sweep given the classes (latent z redrawn inside the kernel, with ``bounds_used``),
    then the classes given the column (z ~ Normal(yhat, 1) cut at ``bounds_true``). With the
    right bounds the column's draws are distributed as its prior."""
    from bayesfm.sampler import execution
    from bayesfm.sampler.foldin import fold_in_chain
    from bayesfm.sampler.records import CSR

    rng = np.random.default_rng(seed)
    n, p, k = 6, 3, 2
    item = np.array([0, 1, 2, 0, 1, 2])
    known = sp.csr_matrix((np.ones(n), (np.arange(n), item)), shape=(n, p))
    new = sp.csr_matrix(np.ones((n, 1)))
    new_cols = new.tocsc()
    w0 = np.array([0.2])
    W = np.array([[0.3, -0.4, 0.1]])
    V = np.array([[[0.8, -0.5], [-0.6, 0.9], [0.4, 0.7]]])
    alpha = np.ones(1)
    mu_w, lam_w = np.array([[0.0, -0.2]]), np.array([[1.0, 2.0]])
    mu_v, lam_v = np.array([[[0.0, 0.0], [0.1, -0.1]]]), np.array([[[1.0, 1.0], [1.5, 0.8]]])
    g = np.array([1])
    Wn, Vn = np.zeros((1, 1)), np.zeros((1, 1, k))
    Wn[0, 0] = mu_w[0, 1] + rng.standard_normal() / np.sqrt(lam_w[0, 1])
    Vn[0, 0] = mu_v[0, 1] + rng.standard_normal(k) / np.sqrt(lam_v[0, 1])
    q_known = V[0][item]
    base = w0[0] + W[0][item]
    args = (CSR.of(known), CSR.of(new), CSR.of(new_cols), np.array([float(n)]), g,
            np.zeros(1, np.int64), np.array([0, 1], np.int64))
    draws = np.empty((n_iter, 1 + k))
    target = np.zeros(n)
    for t in range(n_iter):
        yhat = base + Wn[0, 0] + q_known @ Vn[0, 0]
        z = yhat + rng.standard_normal(n)
        cls = (z[:, None] > bounds_true[None, 1:-1]).sum(axis=1).astype(np.int64)
        execution.run(fold_in_chain, 1, rng, *args, target, True, cls, bounds_used[None, :],
                      w0, W, V, alpha, mu_w, lam_w, mu_v, lam_v, Wn, Vn, 1, 1)
        draws[t] = np.r_[Wn[0, 0], Vn[0, 0]]
    mean = np.r_[mu_w[0, 1], mu_v[0, 1]]
    var = np.r_[1 / lam_w[0, 1], 1 / lam_v[0, 1]]
    z_mean = (draws.mean(axis=0) - mean) / batch_means_se(draws)
    sq = (draws - mean) ** 2
    z_var = (sq.mean(axis=0) - var) / batch_means_se(sq)
    return float(np.max(np.abs(np.r_[z_mean, z_var]))), bonferroni_z(2 * (1 + k))



@pytest.mark.parametrize("cuts", [[0.0], [0.0, 0.7, 1.5]], ids=["probit", "ordinal"])
def test_probit_fold_in_keeps_the_prior_in_a_joint_distribution_test(cuts):
    bounds = np.r_[-np.inf, cuts, np.inf]
    z, zcrit = _probit_geweke(bounds, bounds)
    assert z < zcrit, f"fold-in with latent variables: max |z| {z:.2f} >= {zcrit:.2f}"


def test_the_probit_joint_distribution_test_sees_wrong_cutpoints():
    """Power: the kernel told cutpoints 0.4 off those the classes were drawn with fails."""
    bounds = np.r_[-np.inf, 0.0, 0.7, 1.5, np.inf]
    z, zcrit = _probit_geweke(bounds, bounds + np.r_[0.0, 0.4, 0.4, 0.4, 0.0])
    assert z > zcrit, f"the test cannot tell wrong cutpoints (max |z| {z:.2f})"
