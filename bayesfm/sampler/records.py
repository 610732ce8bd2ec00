"""The records that cross the kernel boundary: NamedTuples of arrays and constants.

A top-level kernel takes records, never their unpacked fields (blackjax's discipline): the
design it sweeps (``FlatDesign``, ``RelationalDesign``), the parameters it updates in place
(``Params``), the prior constants (``PriorConsts``), the random numbers of one sweep (``Noise``)
and rows to evaluate (``CSR``, ``RelationalRows``). A swapped pair of floats then cannot
compile and run unnoticed, and the orchestration (``sampler.driver``) is written once: the
profiler and every chain call the same code. Numba compiles NamedTuples (with
``parallel=True`` and ``cache=True``); a record's field types fix its Numba type, so the
builders below always give the same dtypes (int64 indices, float64 values).

Shapes (n rows, p features, k factors, G groups, C colour classes, B blocks, M block rows):
see the field comments; ``sampler.kernels`` and ``sampler.relational`` state the invariants.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["CSR", "FlatDesign", "RelationalDesign", "RelationalRows", "Params", "PriorConsts",
           "Noise"]


class CSR(NamedTuple):
    """A sparse matrix's compressed arrays (rows, or columns for CSC): int64 ``indptr``,
    int64 ``indices``, float64 ``data``."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, M) -> "CSR":
        """The compressed arrays of a scipy CSR (or CSC) matrix, as the kernels type them."""
        return cls(np.ascontiguousarray(M.indptr, dtype=np.int64),
                   np.ascontiguousarray(M.indices, dtype=np.int64),
                   np.ascontiguousarray(M.data, dtype=np.float64))


class FlatDesign(NamedTuple):
    """A design matrix as the flat sweep reads it."""

    indptr: np.ndarray      # (p + 1,) CSC column pointers
    indices: np.ndarray     # (nnz,) row of every entry
    data: np.ndarray        # (nnz,) values
    colsq: np.ndarray       # (p,) sum_i x_ij^2
    gidx: np.ndarray        # (p,) group of every feature, 0..G-1
    gsize: np.ndarray       # (G,) features per group (float64)
    gsum: np.ndarray        # (G,) constant row sum of a group's columns, or 0
    order: np.ndarray       # (p,) columns, colour class by colour class
    cptr: np.ndarray        # (C + 1,) class c is order[cptr[c]:cptr[c + 1]]
    factor_major: bool      # V factor by factor (q is (k, n)) or column by column ((n, k))


class RelationalDesign(NamedTuple):
    """A relational design as the relational sweep reads it (``sampler.relational``)."""

    indptr: np.ndarray      # direct part, CSC over the n observations (p0 columns)
    indices: np.ndarray
    data: np.ndarray
    order: np.ndarray       # (p0,) colour classes of the direct columns
    cptr: np.ndarray
    bc_indptr: np.ndarray   # stacked blocks, CSC over the M block rows (p - p0 columns)
    bc_indices: np.ndarray
    bc_data: np.ndarray
    br_indptr: np.ndarray   # the same, CSR (block-feature indices 0..p-p0-1)
    br_indices: np.ndarray
    br_data: np.ndarray
    psi: np.ndarray         # (B, n) global block row of every observation in every block
    roff: np.ndarray        # (B + 1,) first block row of every block
    counts: np.ndarray      # (M,) observations using every block row (float64)
    p0: int                 # direct columns; block features are p0 + block-feature index
    border: np.ndarray      # (p - p0,) block columns, colour class by colour class
    bcptr: np.ndarray       # class c of the block columns is border[bcptr[c]:bcptr[c + 1]]
    bcls: np.ndarray        # (B + 1,) block b's classes are bcls[b]..bcls[b + 1]-1
    colsq: np.ndarray       # (p,) sum over observations of x_ij^2 in the full design
    gidx: np.ndarray
    gsize: np.ndarray
    gsum: np.ndarray


class RelationalRows(NamedTuple):
    """Rows of a relational design to evaluate: the direct part row-major, the stacked blocks
    row-major, and every observation's global block rows."""

    direct: CSR             # n x p0 (CSR)
    blocks: CSR             # M x (p - p0) (CSR, block-feature indices)
    psi: np.ndarray         # (B, n)
    p0: int


class Params(NamedTuple):
    """The arrays a sweep updates in place (views of ``FMState``'s arrays)."""

    e: np.ndarray           # (n,) residual y - yhat
    q: np.ndarray           # (n, k) or (k, n): per-factor sums sum_j v_jf x_ij
    w: np.ndarray           # (p,)
    Vt: np.ndarray          # (k, p), Vt[f, j] = v_jf
    mu_w: np.ndarray        # (G,)
    lam_w: np.ndarray       # (G,)
    mu_v: np.ndarray        # (G, k)
    lam_v: np.ndarray       # (G, k)


class PriorConsts(NamedTuple):
    """``bayesfm.Priors`` as the kernels read it."""

    a0: float
    b0: float
    b_lam: float
    c0: float
    mu0: float
    m0: float
    lam0: float


class Noise(NamedTuple):
    """The random numbers of one sweep (standard normals ``z_*``, standard gammas ``g_*`` of the
    shapes of ``sampler.conditionals``), drawn by the driver."""

    z_w0: float
    z_w: np.ndarray         # (p,)
    z_v: np.ndarray         # (k, p)
    z_muw: np.ndarray       # (G,)
    z_muv: np.ndarray       # (k, G)
    z_t: np.ndarray         # (G,) translation moves
    g_alpha: float
    g_lamw: np.ndarray      # (G,)
    g_lamv: np.ndarray      # (k, G)
