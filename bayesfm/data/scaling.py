"""Feature groups of a design and the column scaling that makes a fit independent of units.

**Constant-sum groups.** A group whose columns add up to the same non-zero c_g on every row (a
one-hot user id, a normalised multi-hot block) trades off against w0: adding c_g t to w0 and
subtracting t from every weight of the group changes no prediction (``constant_group_sums``).

**Column scales.** The estimators divide every column j of the design by a scale s_j > 0 before
sampling and map the draws back (w_j = w'_j / s_j, v_j = v'_j / s_j), so the priors act on
unit-free coefficients: ``fit(X @ D)`` predicts what ``fit(X)`` predicts, up to rounding, for any
positive diagonal D, as ``fit(a * y + b)`` does for the target (a > 0: the prior of the
interactions is not symmetric under a change of sign). s_j is the largest |x_ij| over the
training rows (max-abs keeps sparsity, and leaves one-hot and 0/1 columns exactly as they are).

A group whose columns are one unit keeps its internal weighting: the columns of a *multi-hot*
group (some row has several non-zeros in it, and on every row those non-zeros are equal: a
normalised multi-hot block such as genres 1/k or implicit feedback 1/sqrt(n)) and of a
constant-sum group with several non-zeros per row share one scale, the largest over the group,
so the per-row weights stay what the data says and a constant row sum stays constant (with its
exact translation moves). Such a group is invariant to a unit change common to its columns,
not to one that differs between them (that would make it another kind of design). Columns of a
group with at most one non-zero per row (one-hot) and of any other group are scaled one by one.
A column that is zero on every training row keeps s_j = 1 (its coefficients then follow their
group's prior). For a relational design the scale of a block column is over the block rows the
observations use, so the relational and the expanded form of a design get the same scales (a
group spread over several parts of a relational design is scaled column by column).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["constant_group_sums", "row_group_sums", "row_structure", "column_scales",
           "relational_scales", "scale_columns", "target_location_scale", "MAGNITUDE_LIMIT",
           "SINGLE", "MULTI_HOT", "GENERAL"]

#: the largest magnitude (and the inverse of the smallest) a column's largest |x|, or the scale
#: of the target, may have: 2^500, about 3.3e150. Beyond it the coefficients in the data's units
#: (w_j = w'_j / s_j, V_j = V'_j / s_j, alpha / s_y^2) or their squares leave the range of
#: float64 and predictions become inf or NaN: such columns and targets are refused, by name.
MAGNITUDE_LIMIT = 2.0 ** 500


def _check_magnitudes(maxabs: np.ndarray) -> None:
    """ValueError naming the first column whose largest |x| is outside
    [1 / MAGNITUDE_LIMIT, MAGNITUDE_LIMIT] (zero columns are fine)."""
    bad = (maxabs > 0) & ((maxabs < 1.0 / MAGNITUDE_LIMIT) | (maxabs > MAGNITUDE_LIMIT))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {j} of X has values of magnitude {maxabs[j]:.3g} ({int(bad.sum())} such "
            f"column(s)): outside [{1.0 / MAGNITUDE_LIMIT:.3g}, {MAGNITUDE_LIMIT:.3g}], where "
            f"its coefficients in the units of X would overflow; rescale it (multiply it by a "
            f"power of ten) before fitting")


def target_location_scale(y: np.ndarray) -> tuple:
    """(location, scale) to standardise a target y (n,), finite: its mean and standard
    deviation (computed on y / max|y| when the squares would overflow); for a constant y its
    magnitude |mean| (1 for y = 0), so that the fit keeps the target's scale. ValueError when
    the scale is outside [1 / MAGNITUDE_LIMIT, MAGNITUDE_LIMIT]."""
    y = np.asarray(y, dtype=np.float64)
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if top == 0.0:
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        loc, sd = float(np.mean(y)), float(np.std(y))
    if not (np.isfinite(loc) and np.isfinite(sd)):          # squares beyond float64
        z = y / top
        loc, sd = top * float(np.mean(z)), top * float(np.std(z))
    scale = sd if sd > 0 else abs(loc)
    if not (1.0 / MAGNITUDE_LIMIT <= scale <= MAGNITUDE_LIMIT):
        raise ValueError(
            f"y varies on a scale of {scale:.3g}, outside [{1.0 / MAGNITUDE_LIMIT:.3g}, "
            f"{MAGNITUDE_LIMIT:.3g}], where the noise precision and the weights in the units of "
            f"y would overflow; rescale y (multiply it by a power of ten) before fitting")
    return loc, scale


def group_indicator(gidx: np.ndarray, G: int) -> sp.csr_matrix:
    """(p x G) 0/1 matrix: feature j belongs to group gidx[j]."""
    return sp.csr_matrix((np.ones(gidx.shape[0]), (np.arange(gidx.shape[0]), gidx)),
                         shape=(gidx.shape[0], G))


def row_group_sums(direct, blocks, indices, gidx, G: int) -> sp.csr_matrix:
    """(n x G) sums of each group's columns on every row of the design
    ``[direct | blocks[0][indices[0]] | ...]`` (no expansion); ``gidx`` (p,) over all features."""
    direct = sp.csr_matrix(direct)
    p0 = direct.shape[1]
    sums = direct @ group_indicator(gidx[:p0], G)
    start = p0
    for M, index in zip(blocks, indices):
        stop = start + M.shape[1]
        block_sums = sp.csr_matrix(M) @ group_indicator(gidx[start:stop], G)
        sums = sums + block_sums[np.asarray(index)]
        start = stop
    return sp.csr_matrix(sums)


def constant_group_sums(row_sums: sp.spmatrix, rtol: float = 1e-12) -> np.ndarray:
    """For an (n x G) sparse matrix of per-row sums of each group's columns, the constant c_g
    when group g's columns add up to the same non-zero c_g on every row (one-hot blocks,
    normalised multi-hot blocks), else 0."""
    S = sp.csc_matrix(row_sums)
    S.sum_duplicates()
    n, G = S.shape
    out = np.zeros(G)
    for g in range(G):
        vals = S.data[S.indptr[g]:S.indptr[g + 1]]
        if n and vals.shape[0] == n:
            c = vals[0]
            if c != 0 and np.all(np.abs(vals - c) <= rtol * abs(c)):
                out[g] = c
    return out


def _maxabs(M: sp.spmatrix, rows_used=None) -> np.ndarray:
    """Largest |entry| of every column of M (over ``rows_used``, a boolean mask, if given)."""
    M = sp.csc_matrix(M)
    if rows_used is not None:
        M = sp.csc_matrix(M[np.flatnonzero(rows_used)])
    out = np.zeros(M.shape[1])
    data = np.abs(M.data)
    for j in np.flatnonzero(np.diff(M.indptr)):
        out[j] = data[M.indptr[j]:M.indptr[j + 1]].max()
    return out


#: group row structures (``row_structure``)
SINGLE, MULTI_HOT, GENERAL = 0, 1, 2


def row_structure(M, gidx: np.ndarray, G: int, rows_used=None) -> np.ndarray:
    """The structure (G,) of every group's entries on the rows of M (``rows_used``: a mask):
    ``SINGLE`` when no row has more than one non-zero in the group, ``MULTI_HOT`` when some row
    has several and on every row they are equal, ``GENERAL`` otherwise. O(nnz log nnz)."""
    M = sp.csr_matrix(M)
    if rows_used is not None:
        M = sp.csr_matrix(M[np.flatnonzero(rows_used)])
    M.sum_duplicates()
    out = np.full(G, SINGLE, dtype=np.int64)
    if M.nnz == 0:
        return out
    row = np.repeat(np.arange(M.shape[0], dtype=np.int64), np.diff(M.indptr))
    group = np.asarray(gidx, dtype=np.int64)[M.indices]
    key = row * G + group
    order = np.argsort(key, kind="stable")
    key, data, group = key[order], M.data[order], group[order]
    same_cell = key[1:] == key[:-1]                       # two entries of one (row, group)
    several = np.zeros(G, dtype=bool)
    several[group[1:][same_cell]] = True
    unequal = np.zeros(G, dtype=bool)
    unequal[group[1:][same_cell & (data[1:] != data[:-1])]] = True
    out[several] = MULTI_HOT
    out[unequal] = GENERAL
    return out


def _scales(maxabs, gidx, gsum, structure) -> np.ndarray:
    """Column scales from per-column max-abs values (module docstring): shared within
    multi-hot groups and within constant-sum groups with several non-zeros per row, 1 for
    columns (or such groups) that are zero on every training row."""
    _check_magnitudes(maxabs)
    s = maxabs.astype(np.float64, copy=True)
    shared = (structure == MULTI_HOT) | ((gsum != 0) & (structure != SINGLE))
    for g in np.flatnonzero(shared):
        members = gidx == g
        s[members] = s[members].max()
    s[~(s > 0)] = 1.0
    return s


def column_scales(X, gidx: np.ndarray) -> np.ndarray:
    """Scales s (p,) of the columns of a matrix X (n x p) with feature groups ``gidx`` (p,)."""
    gidx = np.asarray(gidx, dtype=np.int64)
    G = int(gidx.max()) + 1 if gidx.size else 1
    gsum = constant_group_sums(row_group_sums(X, [], [], gidx, G))
    return _scales(_maxabs(X), gidx, gsum, row_structure(X, gidx, G))


def relational_scales(direct, blocks, indices, gidx: np.ndarray) -> np.ndarray:
    """Scales s (p,) of the features of a relational design (direct columns, then every
    block's): those of its expanded matrix, computed without expanding it."""
    gidx = np.asarray(gidx, dtype=np.int64)
    G = int(gidx.max()) + 1 if gidx.size else 1
    gsum = constant_group_sums(row_group_sums(direct, blocks, indices, gidx, G))
    p0 = direct.shape[1]
    parts = [_maxabs(direct)]
    structure = row_structure(direct, gidx[:p0], G)
    present = np.bincount(gidx[:p0], minlength=G) > 0
    start = p0
    for M, index in zip(blocks, indices):
        stop = start + M.shape[1]
        used = np.zeros(M.shape[0], dtype=bool)
        used[np.asarray(index)] = True
        parts.append(_maxabs(M, used))
        block_groups = gidx[start:stop]
        here = np.bincount(block_groups, minlength=G) > 0
        structure = np.maximum(structure, row_structure(M, block_groups, G, used))
        structure[here & present] = GENERAL           # a group spread over several parts
        present |= here
        start = stop
    return _scales(np.concatenate(parts), gidx, gsum, structure)


def scale_columns(M, scale: np.ndarray) -> sp.csr_matrix:
    """The CSR matrix M with column j divided by ``scale[j]`` (a new matrix; entries of columns
    with scale 1 are copied exactly)."""
    out = sp.csr_matrix(M, dtype=np.float64, copy=True)
    if np.any(scale != 1.0):
        out.data = out.data / scale[out.indices]
    return out
