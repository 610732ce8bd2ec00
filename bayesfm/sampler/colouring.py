"""Colour classes of features: sets of columns that share no row, drawn in parallel exactly.

Given everything else, the coefficients (w_j, or v_jf of one factor f) of columns with no row in
common are conditionally independent: the update of one reads and writes the residual e and the
factor sums q only on its own rows. So the members of such a set can be drawn at the same time,
in any order and on any number of threads, with bit-identical results. The sweep visits the
colour classes one after another (a fixed permutation of the columns, which is a valid
deterministic-scan Gibbs sampler) and the members of a large class in parallel.

For one-hot blocks (users, items) every block is one class. In general the classes come from a
greedy colouring of the conflict graph (two columns conflict when they share a row), visiting
columns in index order and giving each the smallest colour none of its neighbours has.
"""

from __future__ import annotations

import numpy as np

from bayesfm._numba_cache import njit

__all__ = ["colour_classes", "balanced_order"]

#: colouring costs sum over rows of (row nnz)^2; above this many steps the columns are left in
#: index order, one class each (drawn one after another, as a plain Gibbs sweep)
MAX_WORK = 200_000_000


@njit(cache=True)
def _greedy_colours(indptr, indices, r_indptr, r_indices, p, max_work):
    """Greedy colours (p,) of the CSC columns 0..p-1 (CSR copy ``r_*`` for the neighbours);
    returns (colours, True), or (partial colours, False) when the work exceeds ``max_work``."""
    colour = np.full(p, -1, dtype=np.int64)
    mark = np.full(p + 1, -1, dtype=np.int64)   # mark[c] == j: colour c is taken near column j
    work = 0
    for j in range(p):
        for idx in range(indptr[j], indptr[j + 1]):
            i = indices[idx]
            work += r_indptr[i + 1] - r_indptr[i]
            if work > max_work:
                return colour, False
            for ridx in range(r_indptr[i], r_indptr[i + 1]):
                c = colour[r_indices[ridx]]
                if c >= 0:
                    mark[c] = j
        c = 0
        while mark[c] == j:
            c += 1
        colour[j] = c
    return colour, True


def colour_classes(indptr, indices, r_indptr, r_indices, p, max_work=MAX_WORK):
    """The order in which a sweep visits columns 0..p-1 and its colour classes.

    Returns ``(order, cptr)``: ``order`` (p,) int64 lists the columns class by class and class c
    is ``order[cptr[c]:cptr[c + 1]]`` (``cptr`` (C + 1,)), in increasing index within a class
    (neighbouring columns share cache lines of the parameter arrays). See ``balanced_order``
    for the order parallel loops use.
    Columns of one class share no row. If colouring would cost more than ``max_work`` steps
    (rows with very many non-zeros), every column is its own class, in index order.
    """
    if p == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    colours, ok = _greedy_colours(np.asarray(indptr, dtype=np.int64),
                                  np.asarray(indices, dtype=np.int64),
                                  np.asarray(r_indptr, dtype=np.int64),
                                  np.asarray(r_indices, dtype=np.int64), int(p), int(max_work))
    if not ok:
        return np.arange(p, dtype=np.int64), np.arange(p + 1, dtype=np.int64)
    order = np.argsort(colours, kind="stable").astype(np.int64)
    cptr = np.concatenate([[0], np.cumsum(np.bincount(colours))]).astype(np.int64)
    return order, cptr


def balanced_order(order, cptr):
    """A copy of ``order`` for parallel loops: within each class, runs of up to 64 consecutive
    members (kept together for cache locality) in a fixed pseudo-random order. A parallel loop
    hands each thread a contiguous range of a class, and popular columns (users and items are
    often numbered by popularity) must not all land in one range. The order within a class
    changes no draw: its members are independent given everything else."""
    out = np.array(order, dtype=np.int64, copy=True)
    rng = np.random.default_rng(0)
    for c in range(cptr.shape[0] - 1):
        members = out[cptr[c]:cptr[c + 1]].copy()
        m = members.shape[0]
        run = max(1, min(64, m // 64))           # at least ~64 runs per class when possible
        n_runs = -(-m // run)
        if n_runs > 1:
            out[cptr[c]:cptr[c + 1]] = np.concatenate(
                [members[r * run:(r + 1) * run] for r in rng.permutation(n_runs)])
    return out
