"""Predictions from the draws: the rows to predict, in blocks, through the prediction kernels.

* ``RelationalRows``: rows of a ``RelationalData`` in the form the relational prediction kernel
  reads (never expanded), sliced like a matrix.
* ``yhat_draws(posterior, X, n_threads)``: the FM regression function for every kept draw,
  (chains * draws, rows), chain by chain from the posterior's (chains, draws, ...) buffers, so
  no pooled copy of V is made.
* ``row_blocks(n_rows, n_draws)``: row slices whose draws x rows fit in ``BLOCK_CELLS``, to
  bound the memory of reductions over draws.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bayesfm.data.relational import stack_blocks
from bayesfm.sampler import execution
from bayesfm.sampler.kernels import predict_draws_csr
from bayesfm.sampler.records import CSR
from bayesfm.sampler.records import RelationalRows as _RowsRecord
from bayesfm.sampler.relational import relational_predict_draws

__all__ = ["RelationalRows", "yhat_draws", "row_blocks", "BLOCK_CELLS"]

#: rows x draws handled per block when reducing predictions, to bound memory
BLOCK_CELLS = 1 << 22


class RelationalRows:
    """Rows start..stop-1 of a ``RelationalData``, in the form the prediction kernel reads
    (``records.RelationalRows``); sliced like a matrix (no expansion)."""

    def __init__(self, rel):
        D, mats, idx = rel.parts()
        D = sp.csr_matrix(D)
        D.sort_indices()
        stacked, _, psi = stack_blocks(mats, idx, D.shape[0])
        self.record = _RowsRecord(CSR.of(D), CSR.of(stacked), psi, int(D.shape[1]))
        self.start = 0
        self.stop = rel.n_rows
        self.shape = (rel.n_rows, rel.n_features)

    @property
    def nnz(self) -> int:
        return int(self.record.direct.indices.shape[0] + self.record.blocks.indices.shape[0])

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        sub = RelationalRows.__new__(RelationalRows)
        sub.record = self.record
        sub.start, sub.stop = self.start + start, self.start + stop
        sub.shape = (stop - start, self.shape[1])
        return sub


def yhat_draws(posterior, Xr, n_threads=None) -> np.ndarray:
    """yhat of every kept draw at the rows of ``Xr`` (a CSR matrix or ``RelationalRows``):
    array (chains * draws, rows), chain-major."""
    w0, w, V = posterior.field("w0"), posterior.field("w"), posterior.field("V")
    C, S = w0.shape
    n = Xr.shape[0]
    out = np.empty((C * S, n))
    work = C * S * (Xr.nnz if hasattr(Xr, "nnz") else n) * (V.shape[3] + 1)
    rows = None if isinstance(Xr, RelationalRows) else CSR.of(Xr)
    with execution.budget(execution.resolve_n_threads(n_threads)):
        threads = execution.threads_for(work)
        for c in range(C):
            block = out[c * S:(c + 1) * S]
            if rows is None:
                execution.run(relational_predict_draws, threads, Xr.record, Xr.start, Xr.stop,
                              w0[c], w[c], V[c], block)
            else:
                execution.run(predict_draws_csr, threads, rows, n, w0[c], w[c], V[c], block)
    return out


def row_blocks(n_rows: int, n_draws: int):
    """Yield row slices of ``n_rows`` holding at most ``BLOCK_CELLS`` draws x rows each."""
    step = max(1, BLOCK_CELLS // max(1, n_draws))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))
