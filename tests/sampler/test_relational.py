"""The relational sweep never expands the blocks, yet equals the sweep on the expanded design."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.data.relational import RelationalData, RelationBlock
from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.chain import advance, new_chain
from bayesfm.sampler.design import FMData, RelationalFMData
from bayesfm.sampler.likelihoods import Gaussian, OrderedProbit


def _design(seed=0, n=300, direct=3):
    """Blocks as in a ratings design: a one-hot id plus random side features per block row
    (so no observation has an all-zero row: there yhat starts exactly at 0, on the probit
    cutpoint, where rounding alone can switch the truncated-normal sampler's branch)."""
    rng = np.random.default_rng(seed)
    users = sp.hstack([sp.identity(25), sp.random(25, 9, density=0.4, random_state=seed + 1,
                                                  data_rvs=lambda m: rng.normal(size=m))],
                      format="csr")
    items = sp.hstack([sp.identity(18), sp.random(18, 6, density=0.5,
                                                  random_state=seed + 2)], format="csr")
    D = sp.random(n, direct, density=0.5, random_state=seed + 3, format="csr") if direct \
        else None
    u = rng.integers(0, 22, n)          # block rows 22..24 unused: counts 0
    i = rng.integers(0, 18, n)
    rel = RelationalData(D, [RelationBlock(users, u, "u"), RelationBlock(items, i, "i")])
    y = rng.normal(size=n)
    return rel, y


def _both(rel, gidx):
    D, mats, idx = rel.parts()
    dr = RelationalFMData.from_parts(D, mats, idx, gidx)
    return FMData.from_matrix(rel.expand(), gidx, classes=dr.sweep_classes(),
                              factor_major=True), dr


@pytest.mark.parametrize("direct", [0, 3])
def test_recompute_and_colsq_equal_the_expanded(direct):
    rel, y = _design(direct=direct)
    gidx = np.arange(rel.n_features) % 4
    de, dr = _both(rel, gidx)
    np.testing.assert_allclose(dr.colsq, de.colsq, rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(1)
    a = driver.init_state(de, y, 3, rng, init_scale=0.8)
    a.w[:] = rng.normal(size=a.w.shape)
    b = a.copy()
    driver.refresh_cache(de, y, a)
    driver.refresh_cache(dr, y, b)
    np.testing.assert_allclose(b.e, a.e, atol=1e-12)
    np.testing.assert_allclose(b.q, a.q, atol=1e-12)     # both (k, n): factor by factor


@pytest.mark.parametrize("kind", ["gaussian", "ordinal"])
@pytest.mark.parametrize("direct", [0, 3])
def test_relational_chain_equals_expanded_chain(kind, direct):
    rel, y = _design(direct=direct, seed=4)
    gidx = np.arange(rel.n_features) % 3
    de, dr = _both(rel, gidx)
    cls = np.digitize(y, [-0.5, 0.5])
    chains = []
    for data in (de, dr):
        lik = Gaussian(y) if kind == "gaussian" else OrderedProbit(cls, 3, 0.0, 2.0,
                                                                    np.zeros(1))
        chain = new_chain(data, lik, 3, 9, 0.1, 10, 1)
        chains.append(advance(chain, data, Priors(), 60))
    A, B = chains[0].store.arrays(), chains[1].store.arrays()
    for name in A:
        np.testing.assert_allclose(B[name], A[name], rtol=1e-8, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(chains[1].state.e, chains[0].state.e, atol=1e-8)
