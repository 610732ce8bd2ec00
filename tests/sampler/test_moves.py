"""Unit tests of the extra moves (``sampler.moves``, ``driver.Moves``) and of the joint draw of a
column's latent vector: the symmetry each move relies on, and the conditional each draw is from.
Their joint-distribution tests are in ``tests/statistical/test_geweke.py``."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
from bayesfm.sampler.kernels import _draw_v_joint, _joint_work
from tests.sampler.test_kernels import brute_force_fm


def _one_hot_with_side(seed=0, n=60, nu=5, ni=4):
    """Users (group 0) and items (group 1) one-hot with the value 2, a Gaussian side column
    (group 2) on some rows: the shift moves apply to the first two groups only."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    side = np.where(rng.random(n) < 0.5, rng.normal(size=n), 0.0)
    X = np.zeros((n, nu + ni + 1))
    X[np.arange(n), u] = 2.0
    X[np.arange(n), nu + i] = 2.0
    X[:, -1] = side
    gidx = np.array([0] * nu + [1] * ni + [2])
    return sp.csr_matrix(X), rng.normal(size=n), gidx, rng


def _random_state(data, y, rank, rng):
    state = driver.init_state(data, y, rank, rng, init_scale=0.8)
    state.w[:] = rng.normal(size=state.w.shape)
    state.w0 = 0.4
    state.mu_w[:] = rng.normal(size=state.mu_w.shape)
    state.lam_w[:] = rng.uniform(0.5, 2.0, size=state.lam_w.shape)
    state.mu_v[:] = rng.normal(size=state.mu_v.shape)
    state.lam_v[:] = rng.uniform(0.5, 2.0, size=state.lam_v.shape)
    driver.refresh_cache(data, y, state)
    return state


@pytest.mark.parametrize("factor_major", [False, True])
def test_shift_moves_leave_every_prediction_unchanged(factor_major):
    X, y, gidx, rng = _one_hot_with_side()
    data = FMData.from_matrix(X, gidx, factor_major=factor_major)
    moves = driver.Moves.of(data, ("shift",))
    assert list(moves.shift.groups) == [0, 1] and list(moves.shift.cvals) == [2.0, 2.0]
    state = _random_state(data, y, 3, rng)
    before = brute_force_fm(X, state.w0, state.w, state.Vt.T)
    mu_v, Vt = state.mu_v.copy(), state.Vt.copy()
    moves.run(data, state, Priors(), rng)
    assert not np.allclose(state.Vt, Vt)
    # users' vectors and their mu_v moved by the same s (and then the items' by theirs)
    np.testing.assert_allclose(state.Vt[:, :5] - Vt[:, :5],
                               np.repeat((state.mu_v[0] - mu_v[0])[:, None], 5, 1), atol=1e-12)
    np.testing.assert_allclose(brute_force_fm(X, state.w0, state.w, state.Vt.T), before,
                               atol=1e-10)
    Q = state.q.T if factor_major else state.q
    np.testing.assert_allclose(Q, X @ state.Vt.T, atol=1e-12)
    np.testing.assert_allclose(y - state.e, before, atol=1e-10)       # residual unchanged


def test_shift_moves_need_one_column_per_row():
    X, y, gidx, _ = _one_hot_with_side()
    empty = X.tolil()
    empty[0, :] = 0.0                   # a row without a user or an item: no move applies
    assert driver.Moves.of(FMData.from_matrix(empty.tocsr(), gidx), ("shift",)) is None
    two = X.tolil()
    user = int(np.flatnonzero(X[1, :5].toarray())[0])
    two[1, (user + 1) % 5] = 2.0        # row 1 holds two users: only the items move
    moves = driver.Moves.of(FMData.from_matrix(two.tocsr(), gidx), ("shift",))
    assert list(moves.shift.groups) == [1]
    first = int(np.flatnonzero(X[0, :5].toarray())[0])
    two[0, first] = 0.0                 # and row 0 none: as many users as rows, not one each
    two = two.tocsr()
    two.eliminate_zeros()
    assert two[:, :5].nnz == X.shape[0]
    moves = driver.Moves.of(FMData.from_matrix(two, gidx), ("shift",))
    assert list(moves.shift.groups) == [1]


def test_shift_move_draws_s_from_its_conditional():
    """With z = 0 the move is the conditional mean of s; with z = e_f, the mean plus column f
    of L^-T: together they give the conditional's mean and covariance, against a direct
    computation from the priors the move changes."""
    X, y, gidx, rng = _one_hot_with_side(seed=3)
    data = FMData.from_matrix(X, gidx)
    moves = driver.Moves.of(data, ("shift",)).shift
    only_users = driver.ShiftMoves(moves.groups[:1], moves.cvals[:1])
    state = _random_state(data, y, 3, rng)
    pr = Priors(c0=1.7, mu0=0.2)
    lam_w, mu_w, lam_v, mu_v = state.lam_w, state.mu_w, state.lam_v, state.mu_v
    other = gidx != 0
    Vo = state.Vt[:, other].T
    P = np.diag(pr.c0 * lam_v[0]) + 4.0 * (Vo.T * lam_w[gidx[other]]) @ Vo
    b = (-pr.c0 * lam_v[0] * (mu_v[0] - pr.mu0)
         + 2.0 * Vo.T @ (lam_w[gidx[other]] * (state.w[other] - mu_w[gidx[other]])))
    mean, cov = np.linalg.solve(P, b), np.linalg.inv(P)

    def shift(z):
        s = _random_state(data, y, 3, np.random.default_rng(0))
        for name in ("w", "Vt", "mu_w", "lam_w", "mu_v", "lam_v"):
            getattr(s, name)[:] = getattr(state, name)
        driver.shift_moves(s.Vt, s.w, data.gidx, only_users.groups, only_users.cvals, s.mu_v,
                           s.lam_v, s.mu_w, s.lam_w, pr.c0, pr.mu0, z[None, :], s.q)
        return s.mu_v[0] - state.mu_v[0]

    m = shift(np.zeros(3))
    np.testing.assert_allclose(m, mean, atol=1e-12)
    cols = np.stack([shift(np.eye(3)[f]) - m for f in range(3)], axis=1)
    np.testing.assert_allclose(cols @ cols.T, cov, atol=1e-12)


def test_joint_draw_is_the_k_dimensional_conditional():
    rng = np.random.default_rng(1)
    n, p, k, j = 40, 6, 3, 2
    X = sp.random(n, p, density=0.5, random_state=2, format="csc",
                  data_rvs=lambda m: rng.normal(size=m))
    Xd = X.toarray()
    w0, w, Vt, y = 0.3, rng.normal(size=p), rng.normal(size=(k, p)), rng.normal(size=n)
    gidx = np.zeros(p, dtype=np.int64)
    mu_v, lam_v, alpha = rng.normal(size=(1, k)), rng.uniform(0.5, 2, size=(1, k)), 1.7
    base = Vt.copy()
    base[:, j] = 0.0
    c = brute_force_fm(Xd, w0, w, base.T)
    G = np.empty((n, k))                # yhat = c + G v_j: the derivatives
    for f in range(k):
        unit = base.copy()
        unit[f, j] = 1.0
        G[:, f] = brute_force_fm(Xd, w0, w, unit.T) - c
    P = alpha * G.T @ G + np.diag(lam_v[0])
    mean = np.linalg.solve(P, alpha * G.T @ (y - c) + lam_v[0] * mu_v[0])

    def draw(z):
        V = Vt.copy()
        e = y - brute_force_fm(Xd, w0, w, V.T)
        Q = Xd @ V.T
        zv = np.zeros((k, p))
        zv[:, j] = z
        # work space left dirty by an earlier draw: the draw must not depend on it
        P, H, W = (np.full_like(a, np.nan) for a in _joint_work(k))
        _draw_v_joint(j, X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data, gidx,
                      e, Q, V, zv, alpha, mu_v, lam_v, P, H, W)
        np.testing.assert_allclose(e, y - brute_force_fm(Xd, w0, w, V.T), atol=1e-12)
        np.testing.assert_allclose(Q, Xd @ V.T, atol=1e-12)
        return V[:, j]

    m = draw(np.zeros(k))
    np.testing.assert_allclose(m, mean, atol=1e-12)
    cols = np.stack([draw(np.eye(k)[f]) - m for f in range(k)], axis=1)
    np.testing.assert_allclose(cols @ cols.T, np.linalg.inv(P), atol=1e-12)


@pytest.mark.parametrize("factor_major", [False, True])
def test_joint_draw_of_rank_one_is_the_coordinate_draw(factor_major):
    """For k = 1 the joint conditional is the coordinate's: the same random numbers give the
    same chain, to rounding."""
    X, y, gidx, _ = _one_hot_with_side(seed=5)
    data = FMData.from_matrix(X, gidx, factor_major=factor_major)
    draws = []
    for moves in (None, driver.Moves.of(data, ("joint",))):
        rng = np.random.default_rng(9)
        state = driver.init_state(data, y, 1, rng)
        noise = driver.SweepNoise.build(data, 1, Priors())
        for _ in range(20):
            driver.step(data, y, state, Priors(), rng, noise, moves=moves)
        draws.append(state.Vt.copy())
    np.testing.assert_allclose(draws[0], draws[1], rtol=1e-9, atol=1e-12)


def test_joint_moves_are_flat_designs_only():
    assert driver.Moves.of(FMData.from_matrix(*_one_hot_with_side()[::2]), ("joint",)).joint
    assert driver.Moves.of(FMData.from_matrix(*_one_hot_with_side()[::2]), ()) is None


def _users_and_items(seed=1, n=80, nu=6, ni=5):
    """Users (group 0) and items (group 1), one of each per row: the split moves apply."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    X = np.zeros((n, nu + ni))
    X[np.arange(n), u] = 1.0
    X[np.arange(n), nu + i] = 1.5
    return sp.csr_matrix(X), rng.normal(size=n), np.array([0] * nu + [1] * ni), rng


@pytest.mark.parametrize("factor_major", [False, True])
def test_split_moves_carry_the_hyperparameters_and_change_no_prediction(factor_major):
    X, y, gidx, rng = _users_and_items()
    data = FMData.from_matrix(X, gidx, factor_major=factor_major)
    moves = driver.Moves.of(data, ("split",))
    assert moves.pair is not None and moves.pair.split and not moves.pair.scale
    state = _random_state(data, y, 3, rng)
    before = brute_force_fm(X, state.w0, state.w, state.Vt.T)
    Vt, mu_v, lam_v = state.Vt.copy(), state.mu_v.copy(), state.lam_v.copy()
    moves.run(data, state, Priors(mu0=0.3), rng)
    c = state.Vt[:, 0] / Vt[:, 0]                                 # one c per factor
    assert np.all(np.abs(np.log(c)) > 1e-6)                       # every factor moved
    np.testing.assert_allclose(state.Vt[:, :6], Vt[:, :6] * c[:, None], rtol=1e-12)
    np.testing.assert_allclose(state.Vt[:, 6:], Vt[:, 6:] / c[:, None], rtol=1e-12)
    np.testing.assert_allclose(state.mu_v, mu_v * np.stack([c, 1 / c]), rtol=1e-12)
    np.testing.assert_allclose(state.lam_v, lam_v * np.stack([c ** -2, c ** 2]), rtol=1e-12)
    np.testing.assert_allclose(lam_v.prod(axis=0), state.lam_v.prod(axis=0), rtol=1e-12)
    np.testing.assert_allclose(brute_force_fm(X, state.w0, state.w, state.Vt.T), before,
                               atol=1e-10)
    Q = state.q.T if factor_major else state.q
    np.testing.assert_allclose(Q, X @ state.Vt.T, atol=1e-12)
    np.testing.assert_allclose(y - state.e, before, atol=1e-10)       # residual unchanged


def test_split_moves_need_two_groups_of_one_column_per_row():
    X, y, gidx, rng = _one_hot_with_side()                        # a third group
    assert driver.Moves.of(FMData.from_matrix(X, gidx), ("split",)) is None
