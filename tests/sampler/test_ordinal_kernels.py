"""Log-CDF helpers, the ordinal log-likelihood derivatives, class probabilities, cutpoint MH."""

import numpy as np
import pytest
from scipy import special

from bayesfm.sampler.ordinal import (
    CutpointSampler,
    class_probabilities,
    cutpoints_from_delta,
    delta_from_cutpoints,
    log_diff_ndtr,
    log_ndtr,
    ordinal_loglik,
    ordinal_loglik_derivs,
)


@pytest.mark.parametrize("z", [-1e3, -100.0, -38.5, -20.0001, -19.999, -5.0, -0.1, 0.0, 0.3, 5.0,
                               9.0, 40.0])
def test_log_ndtr_matches_scipy(z):
    assert log_ndtr(z) == pytest.approx(special.log_ndtr(z), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("a, b", [(-np.inf, 0.3), (0.3, np.inf), (-1.0, 2.0), (-50.0, -49.0),
                                  (49.0, 50.0), (38.0, 38.5), (-3.0, -2.999), (5.0, 5.0001),
                                  (-np.inf, -60.0), (60.0, np.inf)])
def test_log_diff_ndtr(a, b):
    # reference: log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - exp(log Phi(a) - log Phi(b))),
    # taken on the side where the CDFs are small (no cancellation)
    if a >= 0:
        a, b = -b, -a
    lb, la = special.log_ndtr(b), special.log_ndtr(a)
    expected = lb + np.log1p(-np.exp(la - lb))
    assert log_diff_ndtr(*((a, b) if a < 0 else (a, b))) == pytest.approx(expected, rel=1e-9)


def _problem(seed=0, n=300, K=5):
    rng = np.random.default_rng(seed)
    yhat = rng.normal(1.0, 1.5, n)
    cuts = np.array([0.0, 0.7, 1.5, 2.6])[: K - 1]
    z = yhat + rng.normal(size=n)
    cls = np.searchsorted(cuts, z).astype(np.int64)
    return yhat, cls, cuts


def test_loglik_derivatives_match_finite_differences():
    yhat, cls, cuts = _problem()
    K = cuts.size + 1
    bounds = np.concatenate([[-np.inf], cuts, [np.inf]])
    grad = np.zeros(K + 1)
    hess = np.zeros((K + 1, K + 1))
    ll = ordinal_loglik_derivs(yhat, cls, bounds, grad, hess)
    assert ll == pytest.approx(ordinal_loglik(yhat, cls, bounds), rel=1e-13)
    h = 1e-5
    for j in range(1, K):
        up, dn = bounds.copy(), bounds.copy()
        up[j] += h
        dn[j] -= h
        fd = (ordinal_loglik(yhat, cls, up) - ordinal_loglik(yhat, cls, dn)) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-6, abs=1e-6)
        g_up, g_dn = np.zeros(K + 1), np.zeros(K + 1)
        ordinal_loglik_derivs(yhat, cls, up, g_up, np.zeros((K + 1, K + 1)))
        ordinal_loglik_derivs(yhat, cls, dn, g_dn, np.zeros((K + 1, K + 1)))
        np.testing.assert_allclose(hess[j, 1:K], ((g_up - g_dn) / (2 * h))[1:K], rtol=1e-5,
                                   atol=1e-5)


def test_logpost_derivatives_in_log_gaps():
    yhat, cls, cuts = _problem(1)
    s = CutpointSampler(cls, 5, 0.1, 1.5, delta_from_cutpoints(cuts))
    d0 = delta_from_cutpoints(cuts) + 0.05
    lp, g, H = s.logpost_derivs(yhat, d0)
    assert lp == pytest.approx(s.logpost(yhat, d0), rel=1e-13)
    h = 1e-5
    for m in range(3):
        e = np.zeros(3)
        e[m] = h
        fd = (s.logpost(yhat, d0 + e) - s.logpost(yhat, d0 - e)) / (2 * h)
        assert g[m] == pytest.approx(fd, rel=1e-6, abs=1e-6)
        fdg = (s.logpost_derivs(yhat, d0 + e)[1] - s.logpost_derivs(yhat, d0 - e)[1]) / (2 * h)
        np.testing.assert_allclose(H[:, m], fdg, rtol=1e-5, atol=1e-5)


def test_cutpoint_parametrisation_round_trip():
    cuts = np.array([0.0, 0.2, 1.0, 4.0])
    np.testing.assert_allclose(cutpoints_from_delta(delta_from_cutpoints(cuts)), cuts)


def test_class_probabilities_sum_to_one_and_match_cdf_differences():
    rng = np.random.default_rng(2)
    yhat = rng.normal(0, 3, (4, 50))
    yhat[0, 0] = 45.0
    yhat[1, 1] = -45.0
    cuts = np.tile([0.0, 0.5, 1.7], (4, 1)) + np.array([[0.0], [0.0], [0.0], [0.0]])
    out = np.empty((50, 4))
    class_probabilities(yhat, cuts, out)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    cdf = special.ndtr(cuts[:, None, :] - yhat[:, :, None])
    ref = np.diff(np.concatenate([np.zeros((4, 50, 1)), cdf, np.ones((4, 50, 1))], axis=2),
                  axis=2).mean(axis=0)
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_cutpoint_step_targets_its_conditional():
    """With yhat fixed at the truth, repeated MH steps from a poor start (all gaps 1) reach the
    data-generating cutpoints within a few posterior sds, with a high acceptance rate (the t
    proposal at the mode fits the conditional well). Exactness is the Geweke test's job."""
    yhat, cls, cuts = _problem(3, n=3000)
    rng = np.random.default_rng(5)
    s = CutpointSampler(cls, 5, 0.0, 2.0, np.zeros(3))
    draws = []
    for _ in range(600):
        s.step(rng, yhat)
        draws.append(s.cutpoints)
    draws = np.array(draws[100:])
    assert s.n_accepted / s.n_proposed > 0.6
    # the truth generated the data: posterior mean within a few posterior sds of it
    post_sd = draws.std(axis=0)[1:]
    assert np.all(np.abs(draws.mean(axis=0)[1:] - cuts[1:]) < 4 * post_sd + 1e-3)
