"""The rows a user gives, behind one protocol: a design matrix or a relational design.

``rows_of(X)`` is the one place that looks at what kind of rows ``X`` is; everything after it
(fitting, prediction, evaluation sets, saving) asks the rows, which answer the same questions
whatever they are:

* ``shape``, ``nnz``, ``rows[a:b]`` (a slice, as rows again) and ``value`` (what the user gave,
  validated: the CSR matrix or the ``RelationalData``; what ``X_train_`` holds);
* ``default_groups()`` (the feature groups when the user gives none; None: one group),
  ``column_scales(gidx)`` (``data.scaling``), ``design(scale, gidx)`` (the sampler's design on
  the scaled columns, a pure function of its arguments), ``expand(rows)`` (a CSR matrix of some
  rows: the diagnostic rows);
* ``predict_into(threads, w0, w, V, out)``: yhat (S, rows) for S draws through the prediction
  kernel that reads this kind of rows (a relational design is never expanded);
* ``matrix(name)``: the rows as a CSR matrix for an evaluation set (a relational design refuses,
  naming ``name``);
* ``to_state()`` and ``rows_from_state(state)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bayesfm.data.relational import RelationalData, stack_blocks
from bayesfm.data.scaling import column_scales, relational_scales, scale_columns
from bayesfm.data.validation import check_matrix
from bayesfm.sampler import execution
from bayesfm.sampler.design import FMData, RelationalFMData
from bayesfm.sampler.kernels import predict_draws_csr
from bayesfm.sampler.records import CSR
from bayesfm.sampler.records import RelationalRows as _RowsRecord
from bayesfm.sampler.relational import relational_predict_draws

__all__ = ["MatrixRows", "RelationalDataRows", "rows_of", "rows_from_state"]


class MatrixRows:
    """Rows of a design matrix (validated: CSR float64, n x p)."""

    def __init__(self, X):
        self.value = X

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def nnz(self) -> int:
        return int(self.value.nnz)

    def __getitem__(self, rows):
        return MatrixRows(self.value[rows])

    def default_groups(self):
        return None

    def column_scales(self, gidx) -> np.ndarray:
        return column_scales(self.value, gidx)

    def design(self, scale, gidx) -> FMData:
        return FMData.from_matrix(scale_columns(self.value, scale), gidx)

    def expand(self, rows) -> sp.csr_matrix:
        return self.value[rows]

    def predict_into(self, threads, w0, w, V, out) -> None:
        execution.run(predict_draws_csr, threads, CSR.of(self.value), self.shape[0], w0, w, V,
                      out)

    def matrix(self, name) -> sp.csr_matrix:
        return self.value

    def to_state(self):
        return self.value


class RelationalDataRows:
    """Rows start..stop-1 of a ``RelationalData`` (validated), in the form the relational
    prediction kernel reads (``records.RelationalRows``, built on first use); sliced like a
    matrix without expanding it."""

    def __init__(self, rel: RelationalData):
        self.value = rel
        self.start, self.stop = 0, rel.n_rows
        self.shape = (rel.n_rows, rel.n_features)
        self._record = None

    @property
    def record(self) -> _RowsRecord:
        if self._record is None:
            D, mats, idx = self.value.parts()
            D = sp.csr_matrix(D)
            D.sort_indices()
            stacked, _, psi = stack_blocks(mats, idx, D.shape[0])
            self._record = _RowsRecord(CSR.of(D), CSR.of(stacked), psi, int(D.shape[1]))
        return self._record

    @property
    def nnz(self) -> int:
        rec = self.record
        return int(rec.direct.indices.shape[0] + rec.blocks.indices.shape[0])

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        sub = RelationalDataRows(self.value)
        sub._record = self.record
        sub.start, sub.stop = self.start + start, self.start + stop
        sub.shape = (stop - start, self.shape[1])
        return sub

    def default_groups(self) -> list:
        return self.value.default_groups()

    def column_scales(self, gidx) -> np.ndarray:
        return relational_scales(*self.value.parts(), gidx)

    def design(self, scale, gidx) -> RelationalFMData:
        direct, mats, idx = self.value.parts()
        p0 = direct.shape[1]
        offsets = np.cumsum([p0] + [M.shape[1] for M in mats])
        return RelationalFMData.from_parts(
            scale_columns(direct, scale[:p0]),
            [scale_columns(M, scale[a:b]) for M, a, b in zip(mats, offsets, offsets[1:])],
            idx, gidx)

    def expand(self, rows) -> sp.csr_matrix:
        return self.value.expand(np.asarray(rows) + self.start)

    def predict_into(self, threads, w0, w, V, out) -> None:
        execution.run(relational_predict_draws, threads, self.record, self.start, self.stop,
                      w0, w, V, out)

    def matrix(self, name) -> sp.csr_matrix:
        raise TypeError(f"{name}: give a matrix (a relational design's rows: "
                        f"RelationalData.expand()), not RelationalData")

    def to_state(self) -> dict:
        return self.value.to_state()


def rows_of(X, name: str = "X", n_features=None, owner: str = "the estimator"):
    """``X`` behind the protocol: rows as they are, a ``RelationalData``, or anything
    ``data.validation.check_matrix`` accepts (validated, ``n_features`` columns when given;
    errors name ``name`` and the estimator ``owner``)."""
    if isinstance(X, (MatrixRows, RelationalDataRows)):
        rows = X
    elif isinstance(X, RelationalData):
        rows = RelationalDataRows(X)
    else:
        return MatrixRows(check_matrix(X, name, n_features=n_features, owner=owner))
    if n_features is not None and rows.shape[1] != n_features:
        raise ValueError(f"{name} has {rows.shape[1]} features, but {owner} is expecting "
                         f"{n_features} features as input")
    return rows


def rows_from_state(state):
    """The rows ``to_state()`` described."""
    if isinstance(state, dict):
        return RelationalDataRows(RelationalData.from_state(state))
    return MatrixRows(state)
