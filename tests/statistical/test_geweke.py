"""Joint-distribution test (Geweke 2004) for the full regression sampler, hyperparameters included.

Two ways of drawing (theta, y) from the same joint distribution:
* marginal-conditional: theta from the prior, then y | theta;
* successive-conditional: alternate one Gibbs sweep theta | y with a fresh y | theta.
Means of test functions g(theta, y) must agree within Monte Carlo error (batch means for the
autocorrelated chain). The power tests show the same comparison catching wrong conditionals,
injected by patching the shape functions the driver uses (never reachable by users).
"""

import numpy as np
import pytest

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
from tests.mcmc_stats import batch_means_se, bonferroni_z, iid_se
from tests.statistical.fm_prior import fm_yhat, fm_yhat_many, prior_draw, prior_draws

pytestmark = pytest.mark.statistical

N_ROWS, RANK = 6, 2
GIDX = np.array([0, 0, 1, 1, 1])
# Proper, moderately informative hyperpriors keep the chain in a numerically tame region and
# mixing fast; the +1 in the lambda shape is then still a sizeable share of the shape.
PRIORS = Priors(a0=16.0, b0=12.0, a_lambda=16.0, b_lambda=12.0, c0=2.0, mu0=0.1, m0=0.2,
                lambda0=1.5)
# Successive-conditional iterations. The slowest test functions (mean of y, y^2) have integrated
# autocorrelation times of about 100 sweeps here, so 30 batches of 4,000 sweeps (40 tau each)
# give batch-means standard errors with little bias.
N_SC = 120_000
N_BATCHES = 30
N_SC_POWER = 30_000   # the wrong conditionals are caught by a wide margin with fewer sweeps
N_MC = 200_000    # marginal-conditional draws


def _design():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_ROWS, GIDX.size))
    X[rng.random(X.shape) < 0.3] = 0.0
    X[0, :3] = [1.0, 0.5, -1.0]     # row 0 is used by a test function: keep it non-trivial
    return X


def _test_functions(alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V, yhat0, y):
    """First and second moments of parameters, an interaction, yhat of row 0 and mean y.

    (The mean of y^2 is left out on purpose: it is heavy-tailed through the fourth powers of V,
    which makes its batch-means standard error unreliable on chains of this length.)
    """
    return np.array([
        w0, alpha, lam_w[0], lam_w[1], mu_w[0], mu_w[1], lam_v[0, 0], lam_v[1, 1],
        mu_v[0, 1], mu_v[1, 0], w.mean(), w[0] ** 2, (V**2).mean(), V[0] @ V[2], yhat0,
        y.mean(),
    ])


def _marginal_conditional(X, n, seed):
    """n independent draws of theta from the prior and y | theta (vectorised over draws)."""
    rng = np.random.default_rng(seed)
    alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V = prior_draws(rng, GIDX, RANK, PRIORS, n)
    yh = fm_yhat_many(X, w0, w, V)
    y = yh + rng.normal(size=(n, N_ROWS)) / np.sqrt(alpha)[:, None]
    return np.column_stack([
        w0, alpha, lam_w[:, 0], lam_w[:, 1], mu_w[:, 0], mu_w[:, 1], lam_v[:, 0, 0],
        lam_v[:, 1, 1], mu_v[:, 0, 1], mu_v[:, 1, 0], w.mean(1), w[:, 0] ** 2,
        (V**2).mean(axis=(1, 2)), np.einsum("sf,sf->s", V[:, 0], V[:, 2]), yh[:, 0],
        y.mean(1),
    ])


def _successive_conditional(X, n, seed, moves=None):
    rng = np.random.default_rng(seed)
    data = FMData.from_matrix(X, GIDX)
    alpha, lam_w, mu_w, lam_v, mu_v, w0, w, V = prior_draw(rng, GIDX, RANK, PRIORS)
    y = fm_yhat(X, w0, w, V) + rng.normal(size=N_ROWS) / np.sqrt(alpha)
    state = driver.init_state(data, y, RANK, rng)
    state.alpha, state.w0 = alpha, w0
    state.lam_w[:], state.mu_w[:], state.lam_v[:], state.mu_v[:] = lam_w, mu_w, lam_v, mu_v
    state.w[:], state.Vt[:] = w, V.T
    noise = driver.SweepNoise.build(data, RANK, PRIORS)
    out = np.empty((n, 16))
    for s in range(n):
        driver.step(data, y, state, PRIORS, rng, noise, moves=moves)
        V = state.Vt.T
        yh = fm_yhat(X, state.w0, state.w, V)
        y = yh + rng.normal(size=N_ROWS) / np.sqrt(state.alpha)
        out[s] = _test_functions(state.alpha, state.lam_w, state.mu_w, state.lam_v, state.mu_v,
                                 state.w0, state.w, V, yh[0], y)
    return out


def _design_one_hot():
    """Features 0-1 one-hot "users", 2-4 one-hot "items": both groups sum to 1 on every row, so
    the sweep's translation moves (w0 + t, w_group - t, mu_w[group] - t) are exercised."""
    users = np.array([0, 1, 0, 1, 1, 0])
    items = np.array([0, 1, 2, 2, 0, 1])
    X = np.zeros((N_ROWS, GIDX.size))
    X[np.arange(N_ROWS), users] = 1.0
    X[np.arange(N_ROWS), 2 + items] = 1.0
    return X


@pytest.fixture(scope="module")
def marginal():
    return _marginal_conditional(_design(), N_MC, seed=11)


def _z_scores(mc, sc):
    se = np.sqrt(iid_se(mc) ** 2 + batch_means_se(sc, N_BATCHES) ** 2)
    return (mc.mean(axis=0) - sc.mean(axis=0)) / se


def test_geweke_joint_distribution(marginal):
    sc = _successive_conditional(_design(), N_SC, seed=12)
    z = _z_scores(marginal, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def _wrong_lambda_shape(a_lambda, group_sizes):
    return 0.5 * (a_lambda + np.asarray(group_sizes, dtype=float))   # the +1 dropped


def _wrong_alpha_shape(a0, n_rows):
    return 0.5 * (a0 + n_rows - 2)                                     # off by two rows


@pytest.mark.parametrize("name, wrong", [("lambda_shape", _wrong_lambda_shape),
                                         ("alpha_shape", _wrong_alpha_shape)])
def test_geweke_detects_wrong_conditional(marginal, monkeypatch, name, wrong):
    monkeypatch.setattr(driver.conditionals, name, wrong)
    sc = _successive_conditional(_design(), N_SC_POWER, seed=12)
    z = _z_scores(marginal, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)


def test_geweke_one_hot_groups_with_translation_moves():
    X = _design_one_hot()
    assert np.all(FMData.from_matrix(X, GIDX).gsum == [1.0, 1.0])    # the moves are active
    mc = _marginal_conditional(X, N_MC, seed=13)
    sc = _successive_conditional(X, N_SC, seed=14)
    z = _z_scores(mc, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def _successive_conditional_moves(X, n, seed, names=("scale",)):
    """``_successive_conditional`` with the moves ``names`` after every sweep."""
    moves = driver.Moves.of(FMData.from_matrix(X, GIDX), names)
    assert moves is not None                                   # the design has the symmetry
    return _successive_conditional(X, n, seed, moves)


@pytest.fixture(scope="module")
def marginal_one_hot():
    return _marginal_conditional(_design_one_hot(), N_MC, seed=13)


def test_geweke_one_hot_groups_with_scale_moves(marginal_one_hot):
    """The scale moves (users' factor f times c, items' divided by c) keep the joint
    distribution; the design has 2 users and 3 items, so the Jacobian c^(2 - 3) matters."""
    sc = _successive_conditional_moves(_design_one_hot(), N_SC, seed=15)
    z = _z_scores(marginal_one_hot, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def test_geweke_detects_a_wrong_scale_move(marginal_one_hot, monkeypatch):
    """Power: the move without its Jacobian (c^0 instead of c^(n_A - n_B)) is caught."""
    monkeypatch.setattr(driver.conditionals, "scale_log_jacobian", lambda n_a, n_b: 0.0)
    sc = _successive_conditional_moves(_design_one_hot(), N_SC_POWER, seed=15)
    z = _z_scores(marginal_one_hot, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)


def test_geweke_one_hot_groups_with_magnitude_moves(marginal_one_hot):
    """The magnitude moves (factor f of users and items both times s, the likelihood included)
    keep the joint distribution."""
    sc = _successive_conditional_moves(_design_one_hot(), N_SC, seed=16, names=("magnitude",))
    z = _z_scores(marginal_one_hot, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def test_geweke_detects_a_wrong_magnitude_move(marginal_one_hot, monkeypatch):
    """Power: the move with the scale move's Jacobian (c^(n_A - n_B)) instead of its own
    s^(n_A + n_B) is caught."""
    monkeypatch.setattr(driver.conditionals, "magnitude_log_jacobian",
                        lambda n_a, n_b: float(n_a - n_b))
    sc = _successive_conditional_moves(_design_one_hot(), N_SC_POWER, seed=16,
                                       names=("magnitude",))
    z = _z_scores(marginal_one_hot, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)


def test_geweke_one_hot_groups_with_split_moves(marginal_one_hot):
    """The split moves (users' factor f, its mu_v times c and its lambda_v divided by c^2; the
    items' the other way) keep the joint distribution; PRIORS has mu0 != 0, so every term of
    the move's density matters."""
    sc = _successive_conditional_moves(_design_one_hot(), N_SC, seed=18, names=("split",))
    z = _z_scores(marginal_one_hot, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def test_geweke_detects_a_wrong_split_move(marginal_one_hot, monkeypatch):
    """Power: the move with the hyperprior's rate of lambda taken as 2 b instead of b / 2 is
    caught (on the full chain length: at 30,000 sweeps it reaches |z| 4.9 against 4.0)."""
    right = driver.execution.call

    def call(kernel, work, *args):
        if kernel is driver.split_moves:
            args = args[:9] + (4.0 * args[9],) + args[10:]          # b_lambda
        return right(kernel, work, *args)

    monkeypatch.setattr(driver.execution, "call", call)
    sc = _successive_conditional_moves(_design_one_hot(), N_SC, seed=18, names=("split",))
    z = _z_scores(marginal_one_hot, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)


def test_geweke_one_hot_groups_with_shift_moves(marginal_one_hot):
    """The shift moves (users' vectors and mu_v + s, items' w - <s, v>; and the same for the
    items) keep the joint distribution."""
    moves = driver.Moves.of(FMData.from_matrix(_design_one_hot(), GIDX), ("shift",))
    assert moves.shift is not None and list(moves.shift.groups) == [0, 1]
    sc = _successive_conditional(_design_one_hot(), N_SC, 17, moves)
    z = _z_scores(marginal_one_hot, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def test_geweke_detects_a_wrong_shift_move(marginal_one_hot, monkeypatch):
    """Power: the move drawn from its conditional but with mu_v left behind (the v_a move, the
    prior of v given mu_v does not follow) is caught."""
    right = driver.shift_moves

    def wrong(Vt, w, gidx, groups, cvals, mu_v, lam_v, *rest):
        kept = mu_v.copy()
        right(Vt, w, gidx, groups, cvals, mu_v, lam_v, *rest)
        mu_v[:] = kept

    monkeypatch.setattr(driver, "shift_moves", wrong)
    moves = driver.Moves.of(FMData.from_matrix(_design_one_hot(), GIDX), ("shift",))
    sc = _successive_conditional(_design_one_hot(), N_SC_POWER, 17, moves)
    z = _z_scores(marginal_one_hot, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)


def test_geweke_joint_latent_vectors(marginal):
    """Every column's latent vector drawn at once from its k-dimensional conditional
    (``moves=("joint",)``) keeps the joint distribution."""
    moves = driver.Moves.of(FMData.from_matrix(_design(), GIDX), ("joint",))
    assert moves.joint
    sc = _successive_conditional(_design(), N_SC, 18, moves)
    z = _z_scores(marginal, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), np.round(z, 2)


def test_geweke_detects_a_wrong_joint_draw(marginal, monkeypatch):
    """Power: the joint draw with its noise 1.3 times too large (covariance 1.69 P^-1) is
    caught."""
    right = FMData.sweep

    def wrong(self, params, w0, alpha, priors, noise, sample_alpha, stages):
        if stages & driver.STAGE_V_JOINT:
            noise = noise._replace(z_v=1.3 * noise.z_v)
        return right(self, params, w0, alpha, priors, noise, sample_alpha, stages)

    monkeypatch.setattr(FMData, "sweep", wrong)
    moves = driver.Moves.of(FMData.from_matrix(_design(), GIDX), ("joint",))
    sc = _successive_conditional(_design(), N_SC_POWER, 18, moves)
    z = _z_scores(marginal, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), np.round(z, 2)
