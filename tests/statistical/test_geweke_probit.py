"""Joint-distribution (Geweke) tests of the probit and ordered-probit samplers, cutpoints
included; and their power: the same tests fail when the noise precision is resampled (the
mistake of libFM and fastFM) or when the cutpoint step uses the wrong prior."""

import numpy as np
import pytest

from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
from bayesfm.sampler.likelihoods import OrderedProbit
from bayesfm.sampler.ordinal import cutpoints_from_delta
from tests.mcmc_stats import batch_means_se, bonferroni_z, iid_se
from tests.statistical.fm_prior import fm_yhat, fm_yhat_many, prior_draw, prior_draws

pytestmark = pytest.mark.statistical

N_ROWS, RANK = 6, 2
GIDX = np.array([0, 0, 1, 1, 1])
# a0 = b0 = 1 (libFM's alpha prior) matters only to the wrong sampler that resamples alpha
PRIORS = Priors(a0=1.0, b0=1.0, a_lambda=16.0, b_lambda=12.0, c0=2.0, mu0=0.1, m0=0.2,
                lambda0=1.5, cut_loc=-0.3, cut_scale=0.5)
N_MC = 200_000
N_BATCHES = 30


def _design():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(N_ROWS, GIDX.size))
    X[rng.random(X.shape) < 0.3] = 0.0
    X[0, :3] = [1.0, 0.5, -1.0]
    return X


def _classes(z, cuts):
    """Class of each latent: k when c_k < z <= c_{k+1} (cuts = c_1..c_{K-1})."""
    return np.searchsorted(cuts, z, side="left")


def _functions(w0, lam_w, mu_w, lam_v, mu_v, w, V, yh0, cls, cuts, K):
    """Test functions; arrays with a leading draw axis."""
    cols = [w0, lam_w[:, 0], lam_w[:, 1], mu_w[:, 0], mu_w[:, 1], lam_v[:, 0, 0],
            mu_v[:, 1, 0], w.mean(1), (V**2).mean(axis=(1, 2)),
            np.einsum("sf,sf->s", V[:, 0], V[:, 2]), yh0]
    cols += [(cls == k).mean(1) for k in range(K - 1)]
    cols += [cuts[:, m] for m in range(1, K - 1)]
    return np.column_stack(cols)


def _marginal_conditional(X, K, n, seed):
    rng = np.random.default_rng(seed)
    _, lam_w, mu_w, lam_v, mu_v, w0, w, V = prior_draws(rng, GIDX, RANK, PRIORS, n)
    delta = rng.normal(PRIORS.cut_loc, PRIORS.cut_scale, (n, K - 2))
    cuts = np.column_stack([np.zeros(n), np.cumsum(np.exp(delta), axis=1)])
    yh = fm_yhat_many(X, w0, w, V)
    z = yh + rng.normal(size=yh.shape)
    cls = (z[:, :, None] > cuts[:, None, :]).sum(-1)
    return _functions(w0, lam_w, mu_w, lam_v, mu_v, w, V, yh[:, 0], cls, cuts, K)


def _successive_conditional(X, K, n, seed, sample_alpha=False, cut_scale=None):
    rng = np.random.default_rng(seed)
    data = FMData.from_matrix(X, GIDX)
    _, lam_w, mu_w, lam_v, mu_v, w0, w, V = prior_draw(rng, GIDX, RANK, PRIORS)
    delta = rng.normal(PRIORS.cut_loc, PRIORS.cut_scale, K - 2)
    cuts = cutpoints_from_delta(delta)
    cls = _classes(fm_yhat(X, w0, w, V) + rng.normal(size=N_ROWS), cuts)
    lik = OrderedProbit(cls, K, PRIORS.cut_loc,
                        PRIORS.cut_scale if cut_scale is None else cut_scale, delta)
    assert lik.cls is lik.cuts.cls          # the test rewrites the labels in place
    state = driver.init_state(data, lik.target, RANK, rng)
    state.w0, state.alpha = w0, 1.0
    state.lam_w[:], state.mu_w[:], state.lam_v[:], state.mu_v[:] = lam_w, mu_w, lam_v, mu_v
    state.w[:], state.Vt[:] = w, V.T
    driver.refresh_cache(data, lik.target, state)
    noise = driver.SweepNoise.build(data, RANK, PRIORS)
    rows = []
    for _ in range(n):
        yhat = lik.target - state.e
        target, _ = lik.update_target(rng, yhat)
        driver.step(data, target, state, PRIORS, rng, noise, sample_alpha=sample_alpha)
        V = state.Vt.T
        yh = fm_yhat(X, state.w0, state.w, V)
        cuts = lik.cuts.cutpoints
        # fresh labels from the model (latent noise variance 1, whatever the sampler believes)
        lik.cls[:] = _classes(yh + rng.normal(size=N_ROWS), cuts)
        rows.append((state.w0, state.lam_w.copy(), state.mu_w.copy(), state.lam_v.copy(),
                     state.mu_v.copy(), state.w.copy(), V.copy(), yh[0], lik.cls.copy(),
                     cuts.copy()))
    cols = [np.array(c) for c in zip(*rows)]
    return _functions(*cols, K), lik


def _z_scores(mc, sc):
    se = np.sqrt(iid_se(mc) ** 2 + batch_means_se(sc, N_BATCHES) ** 2)
    return (mc.mean(axis=0) - sc.mean(axis=0)) / se


CASES = {"probit": (2, 30_000), "ordinal": (4, 30_000)}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    K, n_sc = CASES[request.param]
    X = _design()
    return request.param, K, n_sc, X, _marginal_conditional(X, K, N_MC, seed=21)


def test_geweke_probit_models(case):
    name, K, n_sc, X, mc = case
    sc, lik = _successive_conditional(X, K, n_sc, seed=22)
    z = _z_scores(mc, sc)
    assert np.all(np.abs(z) < bonferroni_z(z.size)), (name, np.round(z, 2))
    if K > 2:
        assert lik.acceptance_rate > 0.3, lik.acceptance_rate


def test_geweke_detects_resampled_noise_precision(case):
    name, K, n_sc, X, mc = case
    sc, _ = _successive_conditional(X, K, n_sc, seed=22, sample_alpha=True)
    z = _z_scores(mc, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), (name, np.round(z, 2))


def test_geweke_detects_wrong_cutpoint_prior(case):
    name, K, n_sc, X, mc = case
    if K == 2:
        pytest.skip("binary probit has no cutpoints to sample")
    sc, _ = _successive_conditional(X, K, n_sc // 2, seed=22, cut_scale=2 * PRIORS.cut_scale)
    z = _z_scores(mc, sc)
    assert np.max(np.abs(z)) > bonferroni_z(z.size), (name, np.round(z, 2))
