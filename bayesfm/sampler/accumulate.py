"""Bounded-memory predictions: moments of the predictions of evaluation sets, accumulated
during sampling, so that the draws of w and V need not be kept.

For every kept sweep s and every row i of an evaluation set, with yhat_s = yhat_s(x_i) and the
noise variance sigma_s^2 = 1/alpha_s, the accumulator adds (all on the sampler's scale):

    M_r += yhat_s^r                          r = 1..4   (the draws of the regression function)
    P_r += E[(yhat_s + sigma_s Z)^r]         r = 2..4   (the predictive mixture, exactly:
           P_2 = yhat^2 + sigma^2, P_3 = yhat^3 + 3 yhat sigma^2,
           P_4 = yhat^4 + 6 yhat^2 sigma^2 + 3 sigma^4)
    F   += Phi(yhat_s)                       (probit models: the predicted probability)

From these come the exact posterior mean and variance, and interval quantiles by the
Cornish-Fisher expansion on the first four moments (``cornish_fisher_quantiles``), a documented
approximation that is exact for normal distributions and corrects for skewness and kurtosis.
Memory: 8 floats per row of every evaluation set, per chain, whatever the number of draws.
The accumulator travels with its chain, so continuing a chain continues the sums exactly.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from bayesfm.sampler.kernels import CHUNK, _accumulate_row

__all__ = ["PredictionMoments", "cornish_fisher_quantiles", "N_SUMS"]

#: M1..M4, P2..P4, F
N_SUMS = 8


@njit(cache=True, parallel=True)
def accumulate_moments(indptr, indices, data, w0, w, V, sigma2, sums):
    """Add one draw's prediction moments of every row of a CSR matrix to ``sums`` (8, n).
    ``V`` (p, k). Rows in parallel (each on its own: exact for any number of threads)."""
    n = indptr.shape[0] - 1
    k = V.shape[1]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        qi = np.zeros(k)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            qi[:] = 0.0
            lin, sq = _accumulate_row(indptr, indices, data, i, 0, w, V, qi)
            pair = 0.0
            for f in range(k):
                pair += qi[f] * qi[f]
            m = w0 + lin + 0.5 * (pair - sq)
            m2 = m * m
            sums[0, i] += m
            sums[1, i] += m2
            sums[2, i] += m2 * m
            sums[3, i] += m2 * m2
            sums[4, i] += m2 + sigma2
            sums[5, i] += m2 * m + 3.0 * m * sigma2
            sums[6, i] += m2 * m2 + 6.0 * m2 * sigma2 + 3.0 * sigma2 * sigma2
            sums[7, i] += 0.5 * math.erfc(-m / math.sqrt(2.0))


class PredictionMoments:
    """Running prediction moments of named evaluation sets for one chain.

    ``sets``: dict name -> CSR matrix (rows x p). ``record(state)`` adds the current draw;
    ``sums[name]`` (8, rows) holds M1..M4, P2..P4, F (see the module docstring); ``n_draws``
    counts the draws added.
    """

    def __init__(self, sets: dict):
        self.sets = {}
        self.sums = {}
        for name, X in sets.items():
            Xr = sp.csr_matrix(X, dtype=np.float64)
            Xr.sum_duplicates()
            self.sets[name] = (np.ascontiguousarray(Xr.indptr, dtype=np.int64),
                               np.ascontiguousarray(Xr.indices, dtype=np.int64),
                               np.ascontiguousarray(Xr.data, dtype=np.float64))
            self.sums[name] = np.zeros((N_SUMS, Xr.shape[0]))
        self.n_draws = 0

    def record(self, state) -> None:
        from bayesfm.sampler import dispatch

        V = np.ascontiguousarray(state.Vt.T)
        sigma2 = 1.0 / state.alpha
        kernel = dispatch.get("accumulate_moments")
        for name, (indptr, indices, data) in self.sets.items():
            kernel(indptr, indices, data, state.w0, state.w, V, sigma2, self.sums[name])
        self.n_draws += 1


def _central(raw1, raw2, raw3, raw4):
    """Mean, variance, skewness and excess kurtosis from raw moments E[Y^r]."""
    mu = raw1
    var = np.maximum(raw2 - mu**2, 0.0)
    m3 = raw3 - 3 * mu * raw2 + 2 * mu**3
    m4 = raw4 - 4 * mu * raw3 + 6 * mu**2 * raw2 - 3 * mu**4
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(var > 0, m3 / np.where(var > 0, sd**3, 1.0), 0.0)
        kurt = np.where(var > 0, m4 / np.where(var > 0, var**2, 1.0) - 3.0, 0.0)
    return mu, var, skew, kurt


def cornish_fisher_quantiles(mean, var, skew, kurt, probs):
    """Quantiles (n, m) at ``probs`` (m,) from the first four moments (n,) each, by the
    Cornish-Fisher expansion:

        q = mean + sd (z + (z^2 - 1) g1/6 + (z^3 - 3z) g2/24 - (2z^3 - 5z) g1^2/36),

    z the standard normal quantile, g1 the skewness, g2 the excess kurtosis. Exact for a normal
    distribution; the corrections are clipped to |g1| <= 1, |g2| <= 4 (beyond, the expansion is
    no longer monotone and the normal quantile is the safer answer), and the result is sorted
    along probs so that intervals are never inverted."""
    from scipy.special import ndtri

    z = ndtri(np.asarray(probs, dtype=np.float64))[None, :]
    g1 = np.clip(skew, -1.0, 1.0)[:, None]
    g2 = np.clip(kurt, -4.0, 4.0)[:, None]
    w = z + (z**2 - 1) * g1 / 6 + (z**3 - 3 * z) * g2 / 24 - (2 * z**3 - 5 * z) * g1**2 / 36
    q = mean[:, None] + np.sqrt(var)[:, None] * w
    return np.sort(q, axis=1) if np.all(np.diff(probs) >= 0) else q
