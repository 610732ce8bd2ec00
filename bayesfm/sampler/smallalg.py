"""Small dense linear algebra that gives the same bits on every CPU.

NumPy's ``@``, ``np.dot`` and ``np.linalg`` call BLAS and LAPACK, whose kernels are chosen for
the CPU at run time (OpenBLAS: Haswell, SkylakeX, Zen, ...) and sum in different orders: the
last bits of a result, and so of every later draw, would depend on the machine. The sampler's
small dense problems (the ordinal cutpoint step: D x D matrices with D = K - 2 for K classes)
use these instead: every sum is ``math.fsum`` (correctly rounded, so independent of order and
vector width) and every transcendental is Python's ``math`` (the platform libm, scalar).
Meant for D up to a few dozen: the cost is O(D^3) Python operations.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dot", "matvec", "matmul", "cholesky", "solve_lower", "solve_upper",
           "solve_spd", "exp", "log"]


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum_i a_i b_i, correctly rounded (from the exact products' rounding)."""
    return math.fsum(np.multiply(a, b))


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A x for A (m, n) and x (n,): (m,)."""
    return np.array([math.fsum(row) for row in np.multiply(A, x[None, :])], dtype=np.float64)


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B for A (m, n) and B (n, r): (m, r)."""
    Bt = np.ascontiguousarray(B.T)
    return np.array([[dot(row, col) for col in Bt] for row in A], dtype=np.float64).reshape(
        A.shape[0], B.shape[1])


def cholesky(A: np.ndarray, min_pivot: float = 0.0) -> np.ndarray | None:
    """Lower-triangular L (n, n) with L L^T = A for symmetric A (n, n) (only its lower triangle
    is read), or None when a pivot L_jj^2 is not finite or not above ``min_pivot``."""
    n = A.shape[0]
    L = np.zeros((n, n))
    for j in range(n):
        pivot = A[j, j] - math.fsum(L[j, :j] * L[j, :j])
        if not (math.isfinite(pivot) and pivot > min_pivot):
            return None
        L[j, j] = math.sqrt(pivot)
        for i in range(j + 1, n):
            L[i, j] = (A[i, j] - math.fsum(L[i, :j] * L[j, :j])) / L[j, j]
    return L


def solve_lower(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with L x = b for lower-triangular L (n, n)."""
    n = L.shape[0]
    x = np.zeros(n)
    for i in range(n):
        x[i] = (b[i] - math.fsum(L[i, :i] * x[:i])) / L[i, i]
    return x


def solve_upper(U: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with U x = b for upper-triangular U (n, n) (e.g. U = L^T)."""
    n = U.shape[0]
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        x[i] = (b[i] - math.fsum(U[i, i + 1:] * x[i + 1:])) / U[i, i]
    return x


def solve_spd(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with A x = b, given the Cholesky factor L of A (``cholesky``)."""
    return solve_upper(np.ascontiguousarray(L.T), solve_lower(L, b))


def exp(x: np.ndarray) -> np.ndarray:
    """exp of every entry through the scalar libm (NumPy's own vectorised exp has CPU-specific
    versions, AVX-512 among them)."""
    return np.array([math.exp(v) for v in np.asarray(x, dtype=np.float64).ravel()],
                    dtype=np.float64).reshape(np.shape(x))


def log(x: np.ndarray) -> np.ndarray:
    """log of every entry (positive) through the scalar libm; see ``exp``."""
    return np.array([math.log(v) for v in np.asarray(x, dtype=np.float64).ravel()],
                    dtype=np.float64).reshape(np.shape(x))
