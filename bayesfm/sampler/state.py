"""The two small records the sampler works on: the data (fixed) and the state (changing)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

__all__ = ["FMData", "FMState"]


@dataclass(frozen=True)
class FMData:
    """A design matrix prepared for the sweep: CSC arrays plus feature groups.

    Attributes
    ----------
    indptr, indices, data : ndarray
        CSC arrays of X (n_rows x n_features), duplicates summed, indices sorted; int64 / float64.
    r_indptr, r_indices, r_data : ndarray
        The same matrix as CSR arrays (row-major), for recomputing the caches.
    colsq : ndarray (p,)
        Sum of squares of each column.
    gidx : ndarray (p,) of int64
        Group index (0..G-1) of each feature.
    gsize : ndarray (G,) of float64
        Number of features in each group (every group has at least one).
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
    n_rows: int
    n_features: int

    @property
    def n_groups(self) -> int:
        return int(self.gsize.shape[0])

    @classmethod
    def from_matrix(cls, X, gidx=None) -> "FMData":
        """Build from any matrix (dense or sparse) and optional group indices (p,) in 0..G-1."""
        Xc = sp.csc_matrix(X, dtype=np.float64, copy=True)
        Xc.sum_duplicates()
        Xc.sort_indices()
        n, p = Xc.shape
        if gidx is None:
            gidx = np.zeros(p, dtype=np.int64)
        gidx = np.ascontiguousarray(gidx, dtype=np.int64)
        if gidx.shape != (p,):
            raise ValueError(f"gidx must have shape ({p},), got {gidx.shape}")
        G = int(gidx.max()) + 1 if p else 1
        gsize = np.bincount(gidx, minlength=G).astype(np.float64)
        if np.any(gsize == 0):
            raise ValueError("every group index in 0..G-1 must have at least one feature")
        Xr = Xc.tocsr()
        Xr.sort_indices()
        colsq = np.asarray(Xc.multiply(Xc).sum(axis=0), dtype=np.float64).ravel()
        return cls(
            indptr=np.ascontiguousarray(Xc.indptr, dtype=np.int64),
            indices=np.ascontiguousarray(Xc.indices, dtype=np.int64),
            data=np.ascontiguousarray(Xc.data, dtype=np.float64),
            r_indptr=np.ascontiguousarray(Xr.indptr, dtype=np.int64),
            r_indices=np.ascontiguousarray(Xr.indices, dtype=np.int64),
            r_data=np.ascontiguousarray(Xr.data, dtype=np.float64),
            colsq=colsq,
            gidx=gidx,
            gsize=gsize,
            n_rows=int(n),
            n_features=int(p),
        )


@dataclass
class FMState:
    """Everything one Gibbs sweep reads and writes (on the sampler's internal scale).

    Attributes
    ----------
    w0, alpha : float
        Global bias and noise precision.
    w : ndarray (p,)
        Linear weights.
    Vt : ndarray (k, p)
        Latent factors, factor-major (``Vt[f, j] = v_jf``).
    mu_w, lam_w : ndarray (G,)
        Group means and precisions of w.
    mu_v, lam_v : ndarray (G, k)
        Group means and precisions of V, per factor.
    e : ndarray (n,)
        Cached residual y - yhat.
    q : ndarray (k, n)
        Cached per-factor sums q[f, i] = sum_j v_jf x_ij.
    """

    w0: float
    alpha: float
    w: np.ndarray
    Vt: np.ndarray
    mu_w: np.ndarray
    lam_w: np.ndarray
    mu_v: np.ndarray
    lam_v: np.ndarray
    e: np.ndarray
    q: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.Vt.shape[0])

    def copy(self) -> "FMState":
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.copy() if isinstance(value, np.ndarray) else value
        return FMState(**out)
