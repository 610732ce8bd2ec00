"""Chains as values: continuation and chunked / parallel execution give the same draws."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.chain import advance, new_chain
from bayesfm.sampler.design import FMData
from bayesfm.sampler.likelihoods import Gaussian, OrderedProbit
from bayesfm.sampler.parallel import resolve_n_jobs, run_chains


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = sp.random(150, 12, density=0.3, random_state=1, format="csr")
    y = rng.normal(size=150)
    cls = np.digitize(y, [-0.5, 0.5])
    return FMData.from_matrix(X, np.arange(12) % 3), y, cls


def _likelihood(kind, y, cls):
    return Gaussian(y) if kind == "gaussian" else OrderedProbit(cls, 3, 0.0, 2.0, np.zeros(1))


def _same(a, b):
    A, B = a.store.arrays(), b.store.arrays()
    return all(np.array_equal(A[k], B[k]) for k in A)


@pytest.mark.parametrize("kind", ["gaussian", "ordinal"])
@pytest.mark.parametrize("n_burn, thin, splits", [(50, 1, [200, 100]), (50, 3, [20, 37, 243]),
                                                  (0, 4, [1, 1, 1, 297]),
                                                  (120, 7, [100, 25, 175])])
def test_continuing_equals_one_long_run(problem, kind, n_burn, thin, splits):
    data, y, cls = problem
    one = new_chain(data, _likelihood(kind, y, cls), 3, 7, 0.1, n_burn, thin)
    advance(one, data, Priors(), 300)
    parts = new_chain(data, _likelihood(kind, y, cls), 3, 7, 0.1, n_burn, thin)
    for n in splits:
        advance(parts, data, Priors(), n)
    assert one.n_draws == driver.n_kept(0, 300, n_burn, thin) == parts.n_draws
    assert _same(one, parts)
    a, b = one.store.sweeps(), parts.store.sweeps()
    assert set(a) == set(b) == ({"resid_rms", "accepted"} if kind == "ordinal" else {"resid_rms"})
    for name in a:
        assert a[name].shape == (300,) and np.array_equal(a[name], b[name])
    if kind == "ordinal":
        assert np.array_equal(one.store.arrays()["cutpoints"], parts.store.arrays()["cutpoints"])


def test_kept_between_counts():
    for n_burn, thin in [(0, 1), (10, 3), (7, 5)]:
        total = sum(driver.n_kept(a, a + 13, n_burn, thin) for a in range(0, 130, 13))
        assert total == len(range(n_burn, 130, thin))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_chunked_and_parallel_runs_match_plain_advance(problem, n_jobs):
    data, y, cls = problem
    plain = [new_chain(data, _likelihood("ordinal", y, cls), 2, s, 0.1, 20, 2) for s in (1, 2)]
    for c in plain:
        advance(c, data, Priors(), 90)
    chunked = [new_chain(data, _likelihood("ordinal", y, cls), 2, s, 0.1, 20, 2) for s in (1, 2)]
    calls = []
    run_chains(chunked, data, Priors(), 90, n_jobs=n_jobs, chunk=25,
               on_chunk=lambda chains: calls.append(1))
    assert len(calls) >= 4          # progress reported between chunks
    for a, b in zip(plain, chunked):
        assert _same(a, b)
        assert a.sweeps_done == b.sweeps_done == 90
        assert np.array_equal(a.state.w, b.state.w)
        # room for the run's draws was made once: merging the chunks never regrew the store
        assert b.store.capacity == b.store.n_draws == 35


def test_interrupt_keeps_finished_chunks(problem):
    data, y, cls = problem
    chains = [new_chain(data, Gaussian(y), 2, s, 0.1, 0, 1) for s in (1, 2)]
    seen = []

    def stop_after_two(chains):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_chains(chains, data, Priors(), 100, n_jobs=1, chunk=10, on_chunk=stop_after_two)
    assert [c.sweeps_done for c in chains] == [20, 20]
    assert [c.n_draws for c in chains] == [20, 20]
    # and such a chain continues exactly as an uninterrupted one
    run_chains(chains, data, Priors(), 30, n_jobs=1)
    ref = new_chain(data, Gaussian(y), 2, 1, 0.1, 0, 1)
    advance(ref, data, Priors(), 50)
    assert _same(ref, chains[0])


def test_resolve_n_jobs():
    assert resolve_n_jobs(1, 4) == 1
    assert resolve_n_jobs(8, 2) == 2
    assert 1 <= resolve_n_jobs(None, 4) <= 4
    assert resolve_n_jobs(-1, 1) == 1


@pytest.mark.parametrize("kind", ["gaussian", "ordinal"])
def test_a_sweep_returns_what_it_observed(problem, kind):
    """``sweep`` returns (state, info): the residual's root mean square after the sweep and,
    for an ordinal model of three classes, the cutpoint step's outcome (the likelihood keeps no
    per-sweep record of its own)."""
    data, y, cls = problem
    lik = _likelihood(kind, y, cls)
    rng = np.random.default_rng(4)
    state = driver.init_state(data, lik.target, 3, rng)
    noise = driver.SweepNoise.build(data, 3, Priors())
    outcomes = []
    for s in range(30):
        state, info = driver.sweep(data, lik, state, Priors(), rng, noise, lik.sample_alpha,
                                   refresh=s % 5 == 0)
        assert sorted(info) == sorted(("resid_rms",) + lik.sweep_stat_names)
        assert info["resid_rms"] == np.sqrt(np.mean(state.e * state.e))
        outcomes.append(info.get("accepted"))
    if kind == "ordinal":
        assert set(outcomes) == {0.0, 1.0} and lik.cuts.n_accepted == sum(outcomes)
    assert not any(name.startswith("_") for name in vars(lik))
