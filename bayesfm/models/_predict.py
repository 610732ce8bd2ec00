"""Predictions from the draws: the rows to predict, in blocks, through the prediction kernels.

* ``yhat_draws(posterior, X, n_threads)``: the FM regression function for every kept draw,
  (chains * draws, rows), chain by chain from the posterior's (chains, draws, ...) buffers, so
  no pooled copy of V is made.
* ``row_blocks(n_rows, n_draws)``: row slices whose draws x rows fit in ``BLOCK_CELLS``, to
  bound the memory of reductions over draws.
"""

from __future__ import annotations

import numpy as np

from bayesfm.sampler import execution

__all__ = ["yhat_draws", "row_blocks", "BLOCK_CELLS"]

#: rows x draws handled per block when reducing predictions, to bound memory
BLOCK_CELLS = 1 << 22


def yhat_draws(posterior, rows, n_threads=None) -> np.ndarray:
    """yhat of every kept draw at ``rows`` (``models._rows``: they choose their prediction
    kernel): array (chains * draws, rows), chain-major."""
    w0, w, V = posterior.field("w0"), posterior.field("w"), posterior.field("V")
    C, S = w0.shape
    out = np.empty((C * S, rows.shape[0]))
    work = C * S * rows.nnz * (V.shape[3] + 1)
    with execution.budget(execution.resolve_n_threads(n_threads)):
        threads = execution.threads_for(work)
        for c in range(C):
            rows.predict_into(threads, w0[c], w[c], V[c], out[c * S:(c + 1) * S], c)
    return out


def row_blocks(n_rows: int, n_draws: int):
    """Yield row slices of ``n_rows`` holding at most ``BLOCK_CELLS`` draws x rows each."""
    step = max(1, BLOCK_CELLS // max(1, n_draws))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))
