"""Unit tests of the Numba kernels and the driver: caches, predictions, quantiles, determinism."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import ndtri
from scipy.stats import norm

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
from bayesfm.sampler.kernels import mixture_normal_quantiles, predict_draws_csr
from bayesfm.sampler.likelihoods import Gaussian
from bayesfm.sampler.records import CSR


def brute_force_fm(X, w0, w, V):
    """yhat by the definition: explicit double loop over feature pairs j < l."""
    X = np.asarray(X.todense()) if sp.issparse(X) else X
    n, p = X.shape
    out = np.full(n, w0, dtype=float) + X @ w
    for j in range(p):
        for l in range(j + 1, p):
            out += (V[j] @ V[l]) * X[:, j] * X[:, l]
    return out


def random_problem(seed, n=40, p=7, k=3, density=0.5):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=rng, format="csr",
                  data_rvs=lambda m: rng.normal(size=m))
    y = rng.normal(size=n)
    gidx = rng.integers(0, 3, p)
    gidx[:3] = [0, 1, 2]
    return X, y, gidx, rng


def test_recompute_cache_matches_definition():
    X, y, gidx, rng = random_problem(0)
    data = FMData.from_matrix(X, gidx)
    state = driver.init_state(data, y, 3, rng, init_scale=0.7)
    state.w[:] = rng.normal(size=state.w.shape)
    state.w0 = 0.3
    driver.refresh_cache(data, y, state)
    V = state.Vt.T
    np.testing.assert_allclose(y - state.e, brute_force_fm(X, 0.3, state.w, V), atol=1e-12)
    np.testing.assert_allclose(state.q, X @ V, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_caches_equal_recomputed(seed):
    """After every sweep the residual and factor sums kept up to date draw by draw equal the ones
    recomputed from the parameters (to rounding)."""
    X, y, gidx, rng = random_problem(seed, n=60, p=9, k=4)
    data = FMData.from_matrix(X, gidx)
    priors = Priors()
    state = driver.init_state(data, y, 4, rng)
    noise = driver.SweepNoise.build(data, 4, priors)
    for _ in range(25):
        driver.step(data, y, state, priors, rng, noise)
        e_inc, q_inc = state.e.copy(), state.q.copy()
        fresh = state.copy()
        driver.refresh_cache(data, y, fresh)
        np.testing.assert_allclose(e_inc, fresh.e, rtol=0, atol=1e-10)
        np.testing.assert_allclose(q_inc, fresh.q, rtol=0, atol=1e-10)
        # and they agree with the definition of the model
        np.testing.assert_allclose(y - e_inc, brute_force_fm(X, state.w0, state.w, state.Vt.T),
                                   atol=1e-9)


@pytest.mark.parametrize("factor_major", [False, True])
def test_caches_stay_exact_without_refresh_and_follow_a_changing_target(factor_major):
    """Between the exact refreshes of run_chain the caches are only updated incrementally, and
    a new target (latent models, Geweke tests) only shifts the residual: after 60 sweeps with no
    refresh and a target that changes every sweep they still equal the recomputed ones."""
    X, y, gidx, rng = random_problem(4, n=80, p=10, k=3)
    data = FMData.from_matrix(X, gidx, factor_major=factor_major)
    priors = Priors()
    state = driver.init_state(data, y, 3, rng)
    noise = driver.SweepNoise.build(data, 3, priors)
    for _ in range(60):
        y = y + 0.1 * rng.normal(size=y.shape)
        driver.step(data, y, state, priors, rng, noise, refresh=False)
    fresh = state.copy()
    driver.refresh_cache(data, y, fresh)
    np.testing.assert_allclose(state.e, fresh.e, rtol=0, atol=1e-10)
    np.testing.assert_allclose(state.q, fresh.q, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(state.t, y)


def test_predict_draws_matches_definition():
    X, y, gidx, rng = random_problem(4)
    S, p, k = 5, X.shape[1], 3
    w0s = rng.normal(size=S)
    ws = rng.normal(size=(S, p))
    Vs = rng.normal(size=(S, p, k))
    out = np.empty((S, X.shape[0]))
    Xr = X.tocsr()
    rows = CSR(Xr.indptr.astype(np.int64), Xr.indices.astype(np.int64), Xr.data)
    predict_draws_csr(rows, Xr.shape[0], w0s, ws, Vs, out)
    for s in range(S):
        np.testing.assert_allclose(out[s], brute_force_fm(X, w0s[s], ws[s], Vs[s]), atol=1e-12)


def test_mixture_quantiles_single_component_is_normal_quantile():
    means = np.array([[0.5, -3.0, 100.0]])
    sds = np.array([2.0])
    probs = np.array([0.001, 0.05, 0.5, 0.95, 0.999])
    out = np.empty((3, probs.size))
    mixture_normal_quantiles(means, sds, probs, ndtri(probs), out)
    expected = means[0][:, None] + 2.0 * ndtri(probs)[None, :]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def test_mixture_quantiles_solve_the_mixture_cdf():
    rng = np.random.default_rng(5)
    S, n = 50, 20
    means = rng.normal(0, 3, (S, n))
    means[:, 0] = np.where(np.arange(S) < S // 2, -10.0, 10.0)   # well-separated bimodal row
    sds = rng.uniform(0.2, 2.0, S)
    probs = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    out = np.empty((n, probs.size))
    mixture_normal_quantiles(means, sds, probs, ndtri(probs), out)
    for i in range(n):
        cdf = norm.cdf((out[i][None, :] - means[:, i][:, None]) / sds[:, None]).mean(axis=0)
        np.testing.assert_allclose(cdf, probs, atol=1e-10)


def test_same_seed_same_draws_bit_for_bit():
    X, y, gidx, _ = random_problem(6)
    data = FMData.from_matrix(X, gidx)
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(42)
        state = driver.init_state(data, y, 3, rng)
        _, store = driver.run_chain(data, Gaussian(y), state, Priors(), rng, 30, 10, 2)
        runs.append((store.arrays(), store.sweeps()["resid_rms"]))
    for name, arr in runs[0][0].items():
        assert np.array_equal(arr, runs[1][0][name]), name
    assert np.array_equal(runs[0][1], runs[1][1])


def test_fixed_flags_hold_alpha_and_hyperparameters():
    X, y, gidx, rng = random_problem(7)
    data = FMData.from_matrix(X, gidx)
    state = driver.init_state(data, y, 2, rng)
    state.alpha = 3.0
    before = state.copy()
    driver.run_chain(data, Gaussian(y), state, Priors(), rng, 5, 0, sample_alpha=False,
                     sample_hyper=False)
    assert state.alpha == 3.0
    for name in ("mu_w", "lam_w", "mu_v", "lam_v"):
        assert np.array_equal(getattr(state, name), getattr(before, name)), name
    assert not np.array_equal(state.w, before.w)


def test_fmdata_groups_and_columns():
    X = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 0, 3]]))
    data = FMData.from_matrix(X, np.array([1, 0, 1]))
    assert data.n_rows == 2 and data.n_features == 3 and data.n_groups == 2
    np.testing.assert_array_equal(data.gsize, [1, 2])
    np.testing.assert_array_equal(data.colsq, [1.0, 0.0, 13.0])
    with pytest.raises(ValueError, match="at least one feature"):
        FMData.from_matrix(X, np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="gidx"):
        FMData.from_matrix(X, np.array([0, 0]))
