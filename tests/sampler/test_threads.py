"""Parallel kernels: colour classes are valid, and no draw depends on the number of threads."""

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm import FMClassifier, FMRegressor
from bayesfm.data.relational import RelationalData, RelationBlock
from bayesfm.priors import Priors
from bayesfm.sampler import threads
from bayesfm.sampler.chain import advance, new_chain
from bayesfm.sampler.colouring import colour_classes
from bayesfm.sampler.design import FMData, RelationalFMData
from bayesfm.sampler.likelihoods import Gaussian
from bayesfm.sampler.threads import num_threads, threads_for_work

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                reason="Numba has a single thread on this machine")


def _ratings(n=3000, users=120, items=90, side=3, seed=0):
    """One-hot users and items (big classes, drawn in parallel) plus dense side columns."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, users, n)
    i = rng.integers(0, items, n)
    rows = np.arange(n)
    X = sp.hstack([sp.csr_matrix((np.ones(n), (rows, u)), shape=(n, users)),
                   sp.csr_matrix((np.ones(n), (rows, i)), shape=(n, items)),
                   sp.csr_matrix(rng.normal(size=(n, side)))], format="csr")
    gidx = np.r_[np.zeros(users), np.ones(items), np.full(side, 2)].astype(np.int64)
    y = rng.normal(size=n) + 0.3 * (u % 3) - 0.2 * (i % 2)
    return X, y, gidx


def _check_classes(X, order, cptr):
    Xc = sp.csc_matrix(X)
    order = np.asarray(order)
    assert np.array_equal(np.sort(order), np.arange(X.shape[1]))
    for c in range(len(cptr) - 1):
        cols = order[cptr[c]:cptr[c + 1]]
        assert np.all(np.diff(cols) > 0)           # increasing index within a class
        rows = np.concatenate([Xc.indices[Xc.indptr[j]:Xc.indptr[j + 1]] for j in cols])
        assert np.unique(rows).shape[0] == rows.shape[0], f"class {c} shares a row"


def test_one_hot_blocks_are_one_class_each():
    X, _, _ = _ratings()
    data = FMData.from_matrix(X)
    _check_classes(X, data.order, data.cptr)
    sizes = np.diff(data.cptr)
    assert sizes[0] == 120 and sizes[1] == 90      # users, then items
    assert np.array_equal(data.order[:120], np.arange(120))     # index order for one thread
    for c in range(len(sizes)):                  # parallel loops: the same classes, balanced
        a, b = data.cptr[c], data.cptr[c + 1]
        assert set(data.porder[a:b]) == set(data.order[a:b])
    assert not np.array_equal(data.porder[:120], data.order[:120])
    assert np.all(sizes[2:] == 1)                  # dense side columns conflict with all


def test_greedy_colouring_of_a_random_sparse_design():
    X = sp.random(400, 60, density=0.03, random_state=1, format="csr")
    Xc = X.tocsc()
    order, cptr = colour_classes(Xc.indptr, Xc.indices, X.indptr, X.indices, 60)
    _check_classes(X, order, cptr)
    assert len(cptr) - 1 < 60                      # some columns share a class


def test_colouring_falls_back_to_index_order_when_too_costly():
    X = sp.random(50, 30, density=0.5, random_state=2, format="csr")
    Xc = X.tocsc()
    order, cptr = colour_classes(Xc.indptr, Xc.indices, X.indptr, X.indices, 30, max_work=10)
    assert np.array_equal(order, np.arange(30)) and np.array_equal(cptr, np.arange(31))


def test_user_given_classes_are_checked():
    X, _, _ = _ratings(n=200, users=10, items=8)
    with pytest.raises(ValueError, match="share a row"):
        FMData.from_matrix(X, classes=(np.arange(X.shape[1]), [0, X.shape[1]]))
    with pytest.raises(ValueError, match="permutation"):
        FMData.from_matrix(X, classes=(np.zeros(X.shape[1]), [0, X.shape[1]]))


def _chain_arrays(data, y, threads, n=25):
    with num_threads(threads):
        chain = new_chain(data, Gaussian(y), 4, 11, 0.1, 5, 1)
        advance(chain, data, Priors(), n)
    return chain.store.arrays(), chain.state


@pytest.mark.parametrize("relational", [False, True])
def test_chain_is_bit_identical_for_any_thread_count(relational, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)     # parallel even for small data
    X, y, gidx = _ratings()
    if relational:
        rng = np.random.default_rng(5)
        users = sp.hstack([sp.identity(40), sp.random(40, 5, density=0.3, random_state=3)],
                          format="csr")
        rel = RelationalData(X[:, 120:], [RelationBlock(users, rng.integers(0, 40, X.shape[0]),
                                                        "u")])
        D, mats, idx = rel.parts()
        data = RelationalFMData.from_parts(D, mats, idx, np.r_[gidx[120:] - 1, np.full(45, 2)])
    else:
        data = FMData.from_matrix(X, gidx)
    one, s1 = _chain_arrays(data, y, 1)
    two, s2 = _chain_arrays(data, y, 2)
    for name in one:
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)
    np.testing.assert_array_equal(s2.e, s1.e)
    np.testing.assert_array_equal(s2.q, s1.q)


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier])
def test_estimators_are_bit_identical_for_any_thread_count(cls, monkeypatch):
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)     # parallel even for small data
    X, y, gidx = _ratings(n=2000)
    if cls is FMClassifier:
        y = (y > 0).astype(int)
    kw = dict(rank=3, n_iter=30, n_burn=10, n_chains=2, random_state=4, progress=False)
    a = cls(n_jobs=1, n_threads=1, **kw).fit(X, y, groups=gidx)
    b = cls(n_jobs=1, n_threads=2, **kw).fit(X, y, groups=gidx)
    c = cls(n_jobs=2, n_threads=2, **kw).fit(X, y, groups=gidx)
    for m in (b, c):
        np.testing.assert_array_equal(m.V_, a.V_)
        np.testing.assert_array_equal(m.w_, a.w_)
        np.testing.assert_array_equal(m.decision_draws(X[:500]), a.decision_draws(X[:500]))


def test_n_threads_is_validated():
    X, y, gidx = _ratings(n=200, users=10, items=8)
    with pytest.raises(ValueError, match="n_threads"):
        FMRegressor(n_threads=0, n_iter=5, n_burn=1).fit(X, y)


def test_small_problems_run_on_one_thread():
    assert threads_for_work(4, threads.MIN_PARALLEL_WORK - 1) == 1
    assert threads_for_work(4, threads.MIN_PARALLEL_WORK) == 4


def test_split_normals_are_standard_normal_and_thread_independent(monkeypatch):
    from scipy import stats

    from bayesfm.sampler import driver

    monkeypatch.setattr(driver, "SPLIT_NORMALS", 1000)
    draws = []
    for count in (1, 2):
        with num_threads(count):
            draws.append(driver.standard_normals(np.random.default_rng(3), 50_000, 1, 40_001))
    np.testing.assert_array_equal(draws[0], draws[1])
    z = draws[0]
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the slices come from different streams: no two of them repeat each other
    assert abs(np.corrcoef(z[1:5001], z[5001:10001])[0, 1]) < 0.05
    # below the threshold: exactly the plain generator's stream
    monkeypatch.setattr(driver, "SPLIT_NORMALS", 10**9)
    np.testing.assert_array_equal(driver.standard_normals(np.random.default_rng(3), 500, 1, 401),
                                  np.random.default_rng(3).standard_normal(500))


def test_workers_with_several_threads_after_openmp_use_give_the_same_draws(monkeypatch):
    """Workers that need several threads are spawned when the parent has used a threading layer
    that is not fork-safe (GNU OpenMP); the draws stay those of an in-process run."""
    from bayesfm.sampler.parallel import run_chains

    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)     # parallel even for small data

    X, y, gidx = _ratings()
    data = FMData.from_matrix(X, gidx)

    def chains():
        return [new_chain(data, Gaussian(y), 3, seed, 0.1, 5, 1) for seed in (1, 2)]

    with num_threads(2):                     # the parallel builds: starts the layer here
        here = run_chains(chains(), data, Priors(), 20, n_jobs=1, n_threads=2)
    there = run_chains(chains(), data, Priors(), 20, n_jobs=2, n_threads=4)
    for a, b in zip(here, there):
        for name, arr in a.store.arrays().items():
            np.testing.assert_array_equal(b.store.arrays()[name], arr, err_msg=name)
