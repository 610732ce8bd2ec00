"""Small dense linear algebra that gives the same bits on every CPU.

NumPy's ``@``, ``np.dot`` and ``np.linalg`` call BLAS and LAPACK, whose kernels are chosen for
the CPU at run time (OpenBLAS: Haswell, SkylakeX, Zen, ...) and sum in different orders: the
last bits of a result, and so of every later draw, would depend on the machine. The sampler's
small dense problems (the ordinal cutpoint step: D x D matrices with D = K - 2 for K classes)
use these instead: plain loops compiled by Numba without fast-math, so every sum runs in index
order and the compiler may neither reorder nor fuse the operations, whatever the CPU's vector
width or FMA; transcendentals go through the scalar libm (``exp``, ``log``). O(D^3) for the
products and the factorisation, as LAPACK's.
"""

from __future__ import annotations

import math

import numpy as np

from bayesfm._numba_cache import njit

__all__ = ["dot", "matvec", "matmul", "cholesky", "solve_lower", "solve_upper",
           "solve_spd", "gaussian_draw", "exp", "log"]


@njit(cache=True)
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum_i a_i b_i, in index order."""
    return float(_dot(np.ascontiguousarray(a, dtype=np.float64),
                      np.ascontiguousarray(b, dtype=np.float64)))


@njit(cache=True)
def _matmul(A, B):
    m, n = A.shape
    r = B.shape[1]
    out = np.zeros((m, r))
    for i in range(m):
        for j in range(r):
            s = 0.0
            for t in range(n):
                s += A[i, t] * B[t, j]
            out[i, j] = s
    return out


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A x for A (m, n) and x (n,): (m,)."""
    x = np.asarray(x, dtype=np.float64)
    return _matmul(np.ascontiguousarray(A, dtype=np.float64),
                   np.ascontiguousarray(x.reshape(-1, 1)))[:, 0]


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B for A (m, n) and B (n, r): (m, r)."""
    return _matmul(np.ascontiguousarray(A, dtype=np.float64),
                   np.ascontiguousarray(B, dtype=np.float64))


@njit(cache=True)
def _cholesky(A, min_pivot):
    n = A.shape[0]
    L = np.zeros((n, n))
    for j in range(n):
        s = 0.0
        for t in range(j):
            s += L[j, t] * L[j, t]
        pivot = A[j, j] - s
        if not (np.isfinite(pivot) and pivot > min_pivot):
            return L, False
        L[j, j] = math.sqrt(pivot)
        for i in range(j + 1, n):
            s = 0.0
            for t in range(j):
                s += L[i, t] * L[j, t]
            L[i, j] = (A[i, j] - s) / L[j, j]
    return L, True


def cholesky(A: np.ndarray, min_pivot: float = 0.0) -> np.ndarray | None:
    """Lower-triangular L (n, n) with L L^T = A for symmetric A (n, n) (only its lower triangle
    is read), or None when a pivot L_jj^2 is not finite or not above ``min_pivot``."""
    L, ok = _cholesky(np.ascontiguousarray(A, dtype=np.float64), float(min_pivot))
    return L if ok else None


@njit(cache=True)
def _solve_lower(L, b):
    n = L.shape[0]
    x = np.zeros(n)
    for i in range(n):
        s = 0.0
        for t in range(i):
            s += L[i, t] * x[t]
        x[i] = (b[i] - s) / L[i, i]
    return x


@njit(cache=True)
def _solve_upper(U, b):
    n = U.shape[0]
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = 0.0
        for t in range(i + 1, n):
            s += U[i, t] * x[t]
        x[i] = (b[i] - s) / U[i, i]
    return x


def solve_lower(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with L x = b for lower-triangular L (n, n)."""
    return _solve_lower(np.ascontiguousarray(L, dtype=np.float64),
                        np.ascontiguousarray(b, dtype=np.float64))


def solve_upper(U: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with U x = b for upper-triangular U (n, n) (e.g. U = L^T)."""
    return _solve_upper(np.ascontiguousarray(U, dtype=np.float64),
                        np.ascontiguousarray(b, dtype=np.float64))


def solve_spd(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with A x = b, given the Cholesky factor L of A (``cholesky``)."""
    return solve_upper(np.ascontiguousarray(L.T), solve_lower(L, b))


@njit(cache=True)
def gaussian_draw(P, rhs, z, u, out):
    """A draw from Normal(P^-1 rhs, P^-1) for a symmetric positive definite precision P (k, k)
    given by its lower triangle, into ``out`` (k,): with P = L L' (Cholesky, computed in place
    over P's lower triangle), out = L^-T (L^-1 rhs + z) for standard normals ``z`` (k,); ``u``
    (k,) is work space. O(k^3); for the sampler's kernels (Numba callers), allocation-free."""
    k = P.shape[0]
    for f in range(k):
        d = P[f, f]
        for t in range(f):
            d -= P[f, t] * P[f, t]
        d = math.sqrt(d)
        P[f, f] = d
        for r in range(f + 1, k):
            x = P[r, f]
            for t in range(f):
                x -= P[r, t] * P[f, t]
            P[r, f] = x / d
    for f in range(k):
        x = rhs[f]
        for t in range(f):
            x -= P[f, t] * u[t]
        u[f] = x / P[f, f]
    for f in range(k):
        u[f] += z[f]
    for f in range(k - 1, -1, -1):
        x = u[f]
        for t in range(f + 1, k):
            x -= P[t, f] * out[t]
        out[f] = x / P[f, f]


def exp(x: np.ndarray) -> np.ndarray:
    """exp of every entry through the scalar libm (NumPy's own vectorised exp has CPU-specific
    versions, AVX-512 among them)."""
    return np.array([math.exp(v) for v in np.asarray(x, dtype=np.float64).ravel()],
                    dtype=np.float64).reshape(np.shape(x))


def log(x: np.ndarray) -> np.ndarray:
    """log of every entry (positive) through the scalar libm; see ``exp``."""
    return np.array([math.log(v) for v in np.asarray(x, dtype=np.float64).ravel()],
                    dtype=np.float64).reshape(np.shape(x))
