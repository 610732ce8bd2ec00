"""max_draws_bytes: runs that would keep more draws than the budget thin first, by a power of
two, and the draws are exactly those of one run with the final thinning."""

import numpy as np
import pytest

from bayesfm import FMOrdinalRegressor, FMRegressor


def _data(n=200, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + 0.5 * rng.normal(size=n)
    return X, y


def _kept_bytes(model):
    return sum(a.nbytes for a in model.draws_.values()) + model.diagnostic_yhat_.nbytes


def _same_draws(a, b):
    da, db = a.draws_, b.draws_
    assert da.keys() == db.keys()
    for name in da:
        np.testing.assert_array_equal(da[name], db[name], err_msg=name)
    np.testing.assert_array_equal(a.diagnostic_yhat_, b.diagnostic_yhat_)


def _draw_bytes(rank, n_chains):
    """Bytes of one draw of every chain together, as the fit counts them (12 columns)."""
    probe = FMRegressor(rank=rank, n_iter=2, n_burn=1, n_chains=n_chains, n_jobs=1,
                        random_state=0).fit(*_data())
    return _kept_bytes(probe) // probe.draws_per_chain_


def test_a_fit_over_budget_equals_the_fit_thinned_by_a_power_of_two():
    X, y = _data()
    per_draw = _draw_bytes(3, 2)
    budget = per_draw * 130                      # room for 130 draws per chain, 2 chains
    kw = dict(rank=3, n_iter=600, n_burn=100, n_chains=2, n_jobs=1, random_state=1)
    model = FMRegressor(max_draws_bytes=budget, **kw).fit(X, y)
    assert model.thin_ == 4 and model.draws_per_chain_ == 125           # 500 / 4
    assert _kept_bytes(model) <= budget
    _same_draws(model, FMRegressor(thin=4, max_draws_bytes=None, **kw).fit(X, y))


def test_sample_more_thins_what_was_kept_and_continues_exactly():
    X, y = _data(seed=2)
    per_draw = _draw_bytes(2, 2)
    kw = dict(rank=2, n_burn=50, n_chains=2, n_jobs=1, random_state=3)
    model = FMRegressor(n_iter=250, max_draws_bytes=None, **kw).fit(X, y)
    assert model.thin_ == 1 and model.draws_per_chain_ == 200
    model.set_params(max_draws_bytes=per_draw * 300)
    model.sample_more(250)                                  # 450 draws would not fit in 300
    assert model.thin_ == 2 and model.draws_per_chain_ == 225
    _same_draws(model, FMRegressor(n_iter=500, thin=2, max_draws_bytes=None, **kw).fit(X, y))


def test_the_budget_never_thins_below_100_draws_per_chain():
    X, y = _data(seed=4)
    model = FMOrdinalRegressor(rank=2, n_iter=460, n_burn=60, n_chains=2, n_jobs=1,
                               random_state=0, max_draws_bytes=1).fit(X, (y > 0).astype(int))
    assert model.thin_ == 4 and model.draws_per_chain_ == 100


def test_an_auto_fit_stays_within_the_budget():
    X, y = _data(seed=5)
    per_draw = _draw_bytes(1, 2)
    model = FMRegressor(rank=1, n_iter="auto", n_burn=20, check_every=300, max_iter=700,
                        n_chains=2, n_jobs=1, random_state=0,
                        max_draws_bytes=per_draw * 250).fit(X, y)
    assert model.thin_ > 1 and _kept_bytes(model) <= per_draw * 250
    assert model.draws_per_chain_ == model.convergence_["draws_per_chain"]


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "1GB", True])
def test_a_bad_budget_is_refused_by_name(bad):
    X, y = _data()
    with pytest.raises(ValueError, match="max_draws_bytes"):
        FMRegressor(n_iter=20, n_burn=5, n_chains=2, max_draws_bytes=bad).fit(X, y)
