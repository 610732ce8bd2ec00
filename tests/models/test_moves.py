"""The estimators' ``moves`` parameter: extra exact moves (their joint-distribution tests are in
``tests/statistical/test_geweke.py``)."""

import numpy as np
import pytest
import scipy.sparse as sp

import bayesfm
from bayesfm import FMRegressor

KW = dict(rank=3, n_burn=10, n_chains=2, n_jobs=1, random_state=4)


def _ids(seed=0, nu=20, ni=15, n=300):
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    X = sp.csr_matrix((np.ones(2 * n), (np.r_[np.arange(n), np.arange(n)], np.r_[u, nu + i])),
                      shape=(n, nu + ni))
    y = 3.0 + rng.normal(size=nu)[u] * rng.normal(size=ni)[i] + 0.3 * rng.normal(size=n)
    return X, y, ["user"] * nu + ["item"] * ni


def test_scale_moves_change_the_draws_on_ids_and_continue_exactly(tmp_path):
    X, y, groups = _ids()
    plain = FMRegressor(n_iter=50, **KW).fit(X, y, groups=groups)
    moved = FMRegressor(n_iter=50, moves="scale", **KW).fit(X, y, groups=groups)
    assert not np.array_equal(plain.V_, moved.V_)
    # what the move leaves alone, and the predictions, agree within Monte Carlo error
    assert abs(plain.predict(X).mean() - moved.predict(X).mean()) < 0.05
    # continuing (also after saving with the chains) gives the draws of one longer run
    part = FMRegressor(n_iter=30, moves=["scale"], **KW).fit(X, y, groups=groups)
    part.save(tmp_path / "m.bfm", chains=True)
    part.sample_more(20)
    np.testing.assert_array_equal(part.V_, moved.V_)
    back = bayesfm.load(tmp_path / "m.bfm").sample_more(20)
    np.testing.assert_array_equal(back.V_, moved.V_)


def test_split_moves_continue_exactly_after_save(tmp_path):
    X, y, groups = _ids()
    whole = FMRegressor(n_iter=40, moves=("shift", "joint", "split"), **KW).fit(X, y,
                                                                             groups=groups)
    part = FMRegressor(n_iter=25, moves=("shift", "joint", "split"), **KW).fit(X, y,
                                                                            groups=groups)
    part.save(tmp_path / "m.bfm", chains=True)
    back = bayesfm.load(tmp_path / "m.bfm").sample_more(15)
    np.testing.assert_array_equal(back.V_, whole.V_)
    np.testing.assert_array_equal(back.lambda_v_, whole.lambda_v_)
    default = FMRegressor(n_iter=40, **KW).fit(X, y, groups=groups)
    assert not np.array_equal(default.lambda_v_, whole.lambda_v_)


def test_scale_moves_leave_other_designs_alone():
    X, y, groups = _ids()
    side = sp.hstack([X, sp.csr_matrix(np.random.default_rng(1).normal(size=(X.shape[0], 1)))],
                     format="csr")
    three = groups + ["side"]                    # three groups: no such symmetry
    a = FMRegressor(n_iter=20, moves=None, **KW).fit(side, y, groups=three)
    b = FMRegressor(n_iter=20, moves="scale", **KW).fit(side, y, groups=three)
    np.testing.assert_array_equal(a.V_, b.V_)


def test_magnitude_moves_continue_exactly():
    X, y, groups = _ids()
    whole = FMRegressor(n_iter=40, moves=("scale", "magnitude"), **KW).fit(X, y, groups=groups)
    part = FMRegressor(n_iter=25, moves=("scale", "magnitude"), **KW).fit(X, y, groups=groups)
    part.sample_more(15)
    np.testing.assert_array_equal(part.V_, whole.V_)
    np.testing.assert_array_equal(part.alpha_, whole.alpha_)
    plain = FMRegressor(n_iter=40, moves="scale", **KW).fit(X, y, groups=groups)
    assert not np.array_equal(plain.V_, whole.V_)


@pytest.mark.parametrize("moves, error", [("rotate", ValueError), (["scale", "x"], ValueError),
                                          (3, TypeError)])
def test_unknown_moves_are_refused(moves, error):
    X, y, groups = _ids()
    with pytest.raises(error, match="moves"):
        FMRegressor(n_iter=20, moves=moves, **KW).fit(X, y, groups=groups)


def test_shift_and_joint_moves_continue_exactly(tmp_path):
    X, y, groups = _ids()
    kw = dict(KW, moves=("shift", "joint"))
    whole = FMRegressor(n_iter=40, **kw).fit(X, y, groups=groups)
    part = FMRegressor(n_iter=25, **kw).fit(X, y, groups=groups)
    part.save(tmp_path / "m.bfm", chains=True)
    part.sample_more(15)
    np.testing.assert_array_equal(part.V_, whole.V_)
    np.testing.assert_array_equal(part.w_, whole.w_)
    back = bayesfm.load(tmp_path / "m.bfm").sample_more(15)
    np.testing.assert_array_equal(back.V_, whole.V_)
    for moves in ("shift", "joint"):
        one = FMRegressor(n_iter=40, moves=moves, **KW).fit(X, y, groups=groups)
        assert not np.array_equal(one.V_, whole.V_)
    plain = FMRegressor(n_iter=40, **KW).fit(X, y, groups=groups)
    assert abs(plain.predict(X).mean() - whole.predict(X).mean()) < 0.05


@pytest.mark.parametrize("moves", [("scale", "magnitude", "split"), ("shift", "joint")])
def test_moves_do_not_depend_on_the_thread_count(monkeypatch, moves):
    monkeypatch.setattr("bayesfm.sampler.threads.MIN_PARALLEL_WORK", 0)   # parallel loops
    X, y, groups = _ids()
    kw = dict(KW, n_iter=25, moves=moves)
    one = FMRegressor(n_threads=1, **kw).fit(X, y, groups=groups)
    two = FMRegressor(n_threads=2, **kw).fit(X, y, groups=groups)
    np.testing.assert_array_equal(one.V_, two.V_)
    np.testing.assert_array_equal(one.alpha_, two.alpha_)
