"""Properties of the sampler over random designs (hypothesis): the caches a sweep keeps up to
date equal their recomputation, with and without the extra moves, in both cache layouts; and
the relational sweep equals the sweep on the expanded design."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.chain import advance, new_chain
from bayesfm.sampler.design import FMData, RelationalFMData
from bayesfm.sampler.likelihoods import Gaussian

from .strategies import designs, relational_designs

MOVE_SETS = ((), ("shift", "joint"), ("scale", "magnitude", "split"))


def _compact(labels):
    """Group labels as indices 0..G-1, every group used."""
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def _with_ids(X, rng, n_users):
    """X with a one-hot user id group in front (the shift move's symmetry) and a one-hot item
    id group after it (the pair moves' two groups); group 0 users, 1 items, 2.. the rest."""
    n = X.shape[0]
    users = sp.csr_matrix((np.ones(n), (np.arange(n), rng.integers(0, n_users, n))),
                          shape=(n, n_users))
    items = sp.csr_matrix((np.ones(n), (np.arange(n), rng.integers(0, 3, n))), shape=(n, 3))
    return sp.hstack([users, items, X], format="csr")


@given(designs(min_rows=2), st.integers(1, 4), st.sampled_from(MOVE_SETS), st.booleans(),
       st.booleans())
def test_caches_equal_their_recomputation(design, k, moves, ids, factor_major):
    X, seed = design
    rng = np.random.default_rng(seed)
    gidx = _compact(rng.integers(0, 2, X.shape[1]))
    if ids:
        X = _with_ids(X, rng, 4)
        gidx = np.r_[np.zeros(4, np.int64), np.ones(3, np.int64), gidx + 2]
    data = FMData.from_matrix(X, gidx, factor_major=factor_major)
    y = rng.normal(size=X.shape[0])
    priors = Priors()
    state = driver.init_state(data, y, k, rng, init_scale=0.5)
    noise = driver.SweepNoise.build(data, k, priors)
    mv = driver.Moves.of(data, moves)
    for _ in range(8):
        driver.step(data, y, state, priors, rng, noise, refresh=False, moves=mv)
    fresh = state.copy()
    driver.refresh_cache(data, y, fresh)
    size = 1.0 + np.abs(y).max() + np.abs(fresh.q).max()
    np.testing.assert_allclose(state.e, fresh.e, rtol=0, atol=1e-9 * size)
    np.testing.assert_allclose(state.q, fresh.q, rtol=0, atol=1e-9 * size)
    assert np.isfinite(state.Vt).all() and np.isfinite(state.w).all()


@given(relational_designs(), st.integers(1, 3))
def test_relational_chain_equals_the_expanded_chain(design, k):
    rel, seed = design
    rng = np.random.default_rng(seed)
    gidx = _compact(rng.integers(0, 3, rel.n_features))
    D, mats, idx = rel.parts()
    dr = RelationalFMData.from_parts(D, mats, idx, gidx)
    de = FMData.from_matrix(rel.expand(), gidx, classes=dr.sweep_classes(), factor_major=True)
    y = rng.normal(size=rel.n_rows)
    stores = []
    for data in (de, dr):
        chain = new_chain(data, Gaussian(y), k, seed, 0.3, 3, 1)
        stores.append(advance(chain, data, Priors(), 12).store.arrays())
    for name in stores[0]:
        np.testing.assert_allclose(stores[1][name], stores[0][name], rtol=1e-7, atol=1e-8,
                                   err_msg=name)
