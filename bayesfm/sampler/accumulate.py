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
Cornish-Fisher expansion on the first four moments (``models.evaluation``), a documented
approximation that is exact for normal distributions and corrects for skewness and kurtosis.
Memory: 8 floats per row of every evaluation set, per chain, whatever the number of draws.
The accumulator travels with its chain, so continuing a chain continues the sums exactly.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numba import prange

from bayesfm.sampler import execution
from bayesfm.sampler._jit import kernel
from bayesfm.sampler.kernels import CHUNK, row_value
from bayesfm.sampler.records import CSR

__all__ = ["PredictionMoments", "accumulate_moments", "N_SUMS"]

#: M1..M4, P2..P4, F
N_SUMS = 8


@kernel(parallel=True)
def accumulate_moments(rows, w0, w, V, sigma2, sums):
    """Add one draw's prediction moments of every row of ``rows`` (a ``records.CSR``) to
    ``sums`` (8, n). ``V`` (p, k). Rows in parallel (each on its own: exact for any number of
    threads)."""
    indptr, indices, data = rows.indptr, rows.indices, rows.data   # (no records in prange)
    n = indptr.shape[0] - 1
    k = V.shape[1]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        qi = np.zeros(k)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            m = row_value(indptr, indices, data, i, w0, w, V, qi)
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
            self.sets[name] = CSR(np.ascontiguousarray(Xr.indptr, dtype=np.int64),
                                  np.ascontiguousarray(Xr.indices, dtype=np.int64),
                                  np.ascontiguousarray(Xr.data, dtype=np.float64))
            self.sums[name] = np.zeros((N_SUMS, Xr.shape[0]))
        self.n_draws = 0

    def record(self, state) -> None:
        V = np.ascontiguousarray(state.Vt.T)
        sigma2 = 1.0 / state.alpha
        for name, rows in self.sets.items():
            execution.call(accumulate_moments, rows.indices.shape[0] * (V.shape[1] + 1), rows,
                           state.w0, state.w, V, sigma2, self.sums[name])
        self.n_draws += 1

    def to_state(self) -> dict:
        """The sets (CSR arrays), their sums and the count, as plain values and arrays."""
        return {"n_draws": self.n_draws,
                "sets": {name: {"indptr": r.indptr, "indices": r.indices, "data": r.data,
                                "sums": self.sums[name]} for name, r in self.sets.items()}}

    @classmethod
    def from_state(cls, state: dict) -> "PredictionMoments":
        out = cls({})
        for name, s in state["sets"].items():
            out.sets[name] = CSR(s["indptr"], s["indices"], s["data"])
            out.sums[name] = s["sums"]
        out.n_draws = state["n_draws"]
        return out
