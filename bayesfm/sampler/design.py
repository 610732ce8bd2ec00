"""The design a chain samples on, behind one protocol: ``FMData`` (a matrix) and
``RelationalFMData`` (repeated blocks given once, ``bayesfm.data.relational``).

Both are frozen records of arrays, built once per fit, and answer the same questions, so the
driver never asks which one it has:

* ``n_rows``, ``n_features``, ``n_groups``, ``gidx``, ``gsize``, ``gsum`` (the groups, and the
  constant row sums of constant-sum groups), ``nnz`` (non-zeros a sweep visits);
* ``cache_shape(rank)``: the layout of the factor sums q;
* ``recompute(y, state)``: the exact residual e and factor sums q, in place;
* ``sweep(params, w0, alpha, priors, noise, sample_alpha, stages)``: one Gibbs sweep (returns
  the new w0 and alpha; ``stages`` the bits of ``kernels.STAGE_*``), with the serial kernel
  builds and orders when Numba runs on one thread;
* ``large_class_share()``: the share of the non-zeros in colour classes large enough to be
  drawn in parallel (the thread policy of ``sampler.threads``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from bayesfm.data.relational import stack_blocks
from bayesfm.data.scaling import constant_group_sums, row_group_sums
from bayesfm.sampler import execution
from bayesfm.sampler.colouring import balanced_order, colour_classes
from bayesfm.sampler.kernels import PAR_MIN, gibbs_sweep, recompute_cache
from bayesfm.sampler.records import CSR, FlatDesign, RelationalDesign, RelationalRows
from bayesfm.sampler.relational import relational_recompute, relational_sweep

__all__ = ["FMData", "RelationalFMData"]


def _check_groups(gidx, p):
    """(gidx as int64 (p,), G, gsize (G,) float64); every group 0..G-1 must be used."""
    gidx = np.ascontiguousarray(gidx, dtype=np.int64)
    if gidx.shape != (p,):
        raise ValueError(f"gidx must have shape ({p},), got {gidx.shape}")
    G = int(gidx.max()) + 1 if p else 1
    gsize = np.bincount(gidx, minlength=G).astype(np.float64)
    if np.any(gsize == 0):
        raise ValueError("every group index in 0..G-1 must have at least one feature")
    return gidx, G, gsize


def _check_classes(classes, Xc):
    """Validate a user-given (order, cptr) for the CSC matrix ``Xc``."""
    order, cptr = (np.ascontiguousarray(a, dtype=np.int64) for a in classes)
    p = Xc.shape[1]
    if np.sort(order).tolist() != list(range(p)):
        raise ValueError("classes: order must be a permutation of the columns")
    if cptr.ndim != 1 or cptr[0] != 0 or cptr[-1] != p or np.any(np.diff(cptr) < 0):
        raise ValueError("classes: cptr must rise from 0 to the number of columns")
    for c in range(cptr.shape[0] - 1):
        cols = order[cptr[c]:cptr[c + 1]]
        rows = np.concatenate([Xc.indices[Xc.indptr[j]:Xc.indptr[j + 1]] for j in cols]
                              or [np.zeros(0, dtype=np.int64)])
        if np.unique(rows).shape[0] != rows.shape[0]:
            raise ValueError(f"classes: the columns of class {c} share a row")
    return order, cptr


@dataclass(frozen=True)
class FMData:
    """A design matrix prepared for the sweep: CSC arrays plus feature groups.

    Attributes
    ----------
    indptr, indices, data : ndarray
        CSC arrays of X (n_rows x n_features), duplicates summed, indices sorted; int64 / float64.
    r_indptr, r_indices, r_data : ndarray
        The same matrix as CSR arrays (row-major), for recomputing the caches (the relational
        record's direct part has the same names).
    colsq : ndarray (p,)
        Sum of squares of each column.
    gidx : ndarray (p,) of int64
        Group index (0..G-1) of each feature.
    gsize : ndarray (G,) of float64
        Number of features in each group (every group has at least one).
    gsum : ndarray (G,)
        The constant per-row sum of each group's columns, or 0
        (``bayesfm.data.scaling.constant_group_sums``).
    order, cptr : ndarray of int64
        Colour classes of the columns (``sampler.colouring.colour_classes``): the order in which
        a sweep draws them, class c being ``order[cptr[c]:cptr[c + 1]]``. ``porder`` is the
        same classes in the order parallel loops use (``colouring.balanced_order``; the same
        draws).
    factor_major : bool
        Draw V factor by factor (libFM's and the relational sweep's order), with the factor sums
        stored factor-major (k, n), instead of column by column with them stored row-major
        (n, k) (see ``kernels.gibbs_sweep``). Column by column is faster when columns are short
        (one-hot ids: a column's rows stay in cache for all k factors); factor by factor when
        they are long (dense features: one factor's sums stay in cache for all columns).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    r_indptr: np.ndarray
    r_indices: np.ndarray
    r_data: np.ndarray
    colsq: np.ndarray
    gidx: np.ndarray
    gsize: np.ndarray
    gsum: np.ndarray
    n_rows: int
    n_features: int
    order: np.ndarray
    cptr: np.ndarray
    porder: np.ndarray
    factor_major: bool = False

    @property
    def n_groups(self) -> int:
        return int(self.gsize.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def cache_shape(self, rank: int) -> tuple:
        """Shape of the factor sums q: (n, k) when the sweep goes column by column (it reads a
        row's k sums together), (k, n) when it goes factor by factor (``factor_major``)."""
        return (rank, self.n_rows) if self.factor_major else (self.n_rows, rank)

    @cached_property
    def _rows(self) -> CSR:
        return CSR(self.r_indptr, self.r_indices, self.r_data)

    def _design(self, serial: bool) -> FlatDesign:
        return FlatDesign(self.indptr, self.indices, self.data, self.colsq, self.gidx,
                          self.gsize, self.gsum, self.order if serial else self.porder,
                          self.cptr, bool(self.factor_major))

    @cached_property
    def _designs(self) -> tuple:
        return self._design(False), self._design(True)

    def recompute(self, y, state) -> None:
        """Exact ``state.e`` and ``state.q`` from the parameters (``kernels.recompute_cache``)."""
        Q = state.q.T if self.factor_major else state.q          # always (n, k) there
        execution.call(recompute_cache, self.nnz * (state.rank + 1), self._rows, y, state.w0,
                       state.w, state.Vt, state.e, Q)

    def sweep(self, params, w0, alpha, priors, noise, sample_alpha, stages):
        """One Gibbs sweep (``kernels.gibbs_sweep``); returns the new (w0, alpha). Its threads
        and build: ``sampler.execution``."""
        threads = execution.threads_for(self.nnz * (params.Vt.shape[0] + 1))
        return execution.run(gibbs_sweep, threads, self._designs[threads == 1], params, w0,
                             alpha, priors, noise, sample_alpha, stages)

    def large_class_share(self) -> float:
        """Share of the non-zeros in colour classes of at least ``kernels.PAR_MIN`` columns
        (1 for a design without non-zeros)."""
        if not self.nnz:
            return 1.0
        sizes = np.diff(self.cptr)
        lengths = np.diff(self.indptr)[self.order]
        in_big = np.repeat(sizes >= PAR_MIN, sizes)
        return float(lengths[in_big].sum() / self.nnz)

    #: ``from_matrix`` chooses factor-major order when columns have more rows than this on average
    LONG_COLUMNS = 1000

    @classmethod
    def from_matrix(cls, X, gidx=None, classes=None, factor_major=None) -> "FMData":
        """Build from any matrix (dense or sparse) and optional group indices (p,) in 0..G-1.

        ``classes``: an ``(order, cptr)`` pair to use instead of the greedy colour classes
        (checked: the columns of one class must share no row). ``factor_major``: see the
        class docstring; None chooses it when the columns have more than ``LONG_COLUMNS`` rows
        on average."""
        Xc = sp.csc_matrix(X, dtype=np.float64, copy=True)
        Xc.sum_duplicates()
        Xc.sort_indices()
        n, p = Xc.shape
        if gidx is None:
            gidx = np.zeros(p, dtype=np.int64)
        gidx, G, gsize = _check_groups(gidx, p)
        Xr = Xc.tocsr()
        Xr.sort_indices()
        colsq = np.asarray(Xc.multiply(Xc).sum(axis=0), dtype=np.float64).ravel()
        gsum = constant_group_sums(row_group_sums(Xr, [], [], gidx, G))
        if classes is None:
            order, cptr = colour_classes(Xc.indptr, Xc.indices, Xr.indptr, Xr.indices, p)
        else:
            order, cptr = _check_classes(classes, Xc)
        cols, rows = CSR.of(Xc), CSR.of(Xr)
        return cls(
            indptr=cols.indptr, indices=cols.indices, data=cols.data,
            r_indptr=rows.indptr, r_indices=rows.indices, r_data=rows.data,
            colsq=colsq,
            gidx=gidx,
            gsize=gsize,
            gsum=gsum,
            n_rows=int(n),
            n_features=int(p),
            order=order,
            cptr=cptr,
            porder=balanced_order(order, cptr),
            factor_major=bool(Xc.nnz > cls.LONG_COLUMNS * max(p, 1) if factor_major is None
                              else factor_major),
        )




@dataclass(frozen=True)
class RelationalFMData:
    """A relational design prepared for the sweep (see ``bayesfm.data.relational``).

    Features are the direct columns (0..p0-1) then every block's columns. Block rows of all
    blocks are numbered together (``roff[b]`` is block b's first); ``psi`` (B, n) gives each
    observation's global block row per block, ``counts`` (M,) how many observations use a block
    row. Direct part: CSC (``indptr``, ``indices``, ``data``) over observations and CSR
    (``r_indptr``, ``r_indices``, ``r_data``, as in ``FMData``); block part: CSC over block rows
    (``bc_*``, p - p0 columns) and CSR (``br_*``, block-feature indices 0..p-p0-1).
    ``colsq[j]`` is the sum over observations of x_ij^2 in the full design. ``order`` / ``cptr``
    are the colour classes of the direct columns (``sampler.colouring``; ``porder`` and
    ``bporder`` the orders of parallel loops), and ``border`` / ``bcptr`` / ``bcls`` the colour
    classes of the block columns (block-feature indices), block b's classes being
    ``bcls[b]..bcls[b + 1]-1``. The factor sums are factor-major, q (k, n).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    bc_indptr: np.ndarray
    bc_indices: np.ndarray
    bc_data: np.ndarray
    br_indptr: np.ndarray
    br_indices: np.ndarray
    br_data: np.ndarray
    psi: np.ndarray
    roff: np.ndarray
    foff: np.ndarray
    counts: np.ndarray
    colsq: np.ndarray
    gidx: np.ndarray
    gsize: np.ndarray
    gsum: np.ndarray
    n_rows: int
    n_features: int
    p0: int
    order: np.ndarray
    cptr: np.ndarray
    porder: np.ndarray
    r_indptr: np.ndarray
    r_indices: np.ndarray
    r_data: np.ndarray
    border: np.ndarray
    bcptr: np.ndarray
    bporder: np.ndarray
    bcls: np.ndarray

    factor_major = True

    @property
    def n_groups(self) -> int:
        return int(self.gsize.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0] + self.bc_indices.shape[0])

    def cache_shape(self, rank: int) -> tuple:
        """Shape of the factor sums q: always (k, n) (the relational sweep goes factor by
        factor)."""
        return (rank, self.n_rows)

    @cached_property
    def _rows(self) -> RelationalRows:
        return RelationalRows(CSR(self.r_indptr, self.r_indices, self.r_data),
                              CSR(self.br_indptr, self.br_indices, self.br_data), self.psi,
                              int(self.p0))

    def _design(self, serial: bool) -> RelationalDesign:
        return RelationalDesign(
            self.indptr, self.indices, self.data, self.order if serial else self.porder,
            self.cptr, self.bc_indptr, self.bc_indices, self.bc_data, self.br_indptr,
            self.br_indices, self.br_data, self.psi, self.roff, self.counts, int(self.p0),
            self.border if serial else self.bporder, self.bcptr, self.bcls, self.colsq,
            self.gidx, self.gsize, self.gsum)

    @cached_property
    def _designs(self) -> tuple:
        return self._design(False), self._design(True)

    def recompute(self, y, state) -> None:
        """Exact ``state.e`` and ``state.q`` (``relational.relational_recompute``)."""
        execution.call(relational_recompute, self.nnz * (state.rank + 1), self._rows, y,
                       state.w0, state.w, state.Vt, state.e, state.q)

    def sweep(self, params, w0, alpha, priors, noise, sample_alpha, stages):
        """One Gibbs sweep (``relational.relational_sweep``); returns the new (w0, alpha). Its
        threads and build: ``sampler.execution``."""
        threads = execution.threads_for(self.nnz * (params.Vt.shape[0] + 1))
        return execution.run(relational_sweep, threads, self._designs[threads == 1], params,
                             w0, alpha, priors, noise, sample_alpha, stages)

    def large_class_share(self) -> float:
        """1: the relational sweep's passes over the observations run in parallel whatever the
        colour classes of the columns are."""
        return 1.0

    def sweep_classes(self):
        """The ``(order, cptr)`` a sweep on the expanded design must use to draw the same
        coordinates in the same order as the relational sweep: the direct columns' colour
        classes, then the colour classes of every block's columns."""
        order = np.concatenate([self.order, self.p0 + self.border])
        cptr = np.concatenate([self.cptr, self.cptr[-1] + self.bcptr[1:]])
        return order, cptr.astype(np.int64)

    @classmethod
    def from_parts(cls, direct, blocks, indices, gidx) -> "RelationalFMData":
        """From the direct matrix (n x p0), block matrices (m_b x p_b) and indices (n,) each."""
        D = sp.csc_matrix(direct, dtype=np.float64, copy=True)
        D.sum_duplicates()
        D.sort_indices()
        n, p0 = D.shape
        mats = [sp.csr_matrix(M, dtype=np.float64) for M in blocks]
        Bstack, roff, psi = stack_blocks(mats, indices, n)
        Bc = Bstack.tocsc()
        Bc.sort_indices()
        foff = np.concatenate([[0], np.cumsum([M.shape[1] for M in mats])]).astype(np.int64)
        M_total = int(roff[-1])
        counts = np.zeros(M_total)
        for b in range(len(mats)):
            counts += np.bincount(psi[b], minlength=M_total)
        p = p0 + int(foff[-1])
        gidx, G, gsize = _check_groups(gidx, p)
        colsq = np.zeros(p)
        colsq[:p0] = np.asarray(D.multiply(D).sum(axis=0)).ravel()
        # sum_i counts_i B_ij^2 in the order of the stored entries: scipy's sparse product is a
        # plain loop, the same on every CPU (np.dot calls BLAS, whose kernels sum in an order
        # that depends on the CPU: draws would differ in their last bits between machines)
        sq = Bc.multiply(Bc).tocsc()
        sq.sort_indices()
        colsq[p0:] = sq.T.tocsr() @ counts
        gsum = constant_group_sums(row_group_sums(D, mats, indices, gidx, G))
        Dr = D.tocsr()
        Dr.sort_indices()
        order, cptr = colour_classes(D.indptr, D.indices, Dr.indptr, Dr.indices, p0)
        # colour classes of each block's columns
        borders, bcptrs, bcls = [], [np.zeros(1, dtype=np.int64)], [0]
        for b, M in enumerate(mats):
            Mc = sp.csc_matrix(M)
            Mc.sort_indices()
            Mr = sp.csr_matrix(M)
            Mr.sort_indices()
            o, c = colour_classes(Mc.indptr, Mc.indices, Mr.indptr, Mr.indices, M.shape[1])
            borders.append(o + foff[b])
            bcptrs.append(c[1:] + foff[b])
            bcls.append(bcls[-1] + c.shape[0] - 1)
        border = (np.concatenate(borders) if borders else np.zeros(0)).astype(np.int64)
        bcptr = np.concatenate(bcptrs).astype(np.int64)
        direct_cols, direct_rows = CSR.of(D), CSR.of(Dr)
        block_cols, block_rows = CSR.of(Bc), CSR.of(Bstack)
        return cls(
            indptr=direct_cols.indptr, indices=direct_cols.indices, data=direct_cols.data,
            bc_indptr=block_cols.indptr, bc_indices=block_cols.indices,
            bc_data=block_cols.data,
            br_indptr=block_rows.indptr, br_indices=block_rows.indices,
            br_data=block_rows.data,
            psi=psi, roff=roff, foff=foff, counts=counts, colsq=colsq, gidx=gidx,
            gsize=gsize, gsum=gsum, n_rows=int(n), n_features=int(p), p0=int(p0),
            order=order, cptr=cptr, porder=balanced_order(order, cptr),
            r_indptr=direct_rows.indptr, r_indices=direct_rows.indices,
            r_data=direct_rows.data,
            border=border, bcptr=bcptr, bporder=balanced_order(border, bcptr),
            bcls=np.asarray(bcls, dtype=np.int64),
        )
