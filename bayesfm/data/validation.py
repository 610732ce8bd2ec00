"""Checking and converting user input (design matrices, targets, feature groups).

Every error names the argument and, where it applies, the first offending row (0-based).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp

from bayesfm.exceptions import DataConversionWarning

__all__ = ["check_matrix", "check_target", "check_groups", "check_labels"]


def _first_bad_row_sparse(M: sp.spmatrix) -> int | None:
    coo = M.tocoo()
    bad = ~np.isfinite(coo.data)
    if not bad.any():
        return None
    return int(coo.row[bad].min())


def _check_sparse_structure(X, name: str) -> None:
    """ValueError naming the problem when a CSR, CSC or COO matrix's index arrays are not
    consistent with its shape (scipy would fail later with its own words, or C++'s)."""
    n_rows, n_cols = X.shape
    if X.format in ("csr", "csc"):
        major, minor = (n_rows, n_cols) if X.format == "csr" else (n_cols, n_rows)
        what = "row" if X.format == "csr" else "column"
        indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
        if indptr.ndim != 1 or indptr.shape[0] != major + 1:
            raise ValueError(f"{name} is a malformed {X.format.upper()} matrix: indptr has "
                             f"{indptr.shape[0]} entries, its shape {X.shape} needs {major + 1}")
        if indptr[0] != 0:
            raise ValueError(f"{name} is a malformed {X.format.upper()} matrix: indptr[0] is "
                             f"{int(indptr[0])}, not 0")
        steps = np.diff(indptr)
        if (steps < 0).any():
            i = int(np.flatnonzero(steps < 0)[0])
            raise ValueError(f"{name} is a malformed {X.format.upper()} matrix: indptr decreases "
                             f"at {what} {i} ({int(indptr[i])} then {int(indptr[i + 1])})")
        if indptr[-1] > min(indices.shape[0], np.asarray(X.data).shape[0]):
            raise ValueError(f"{name} is a malformed {X.format.upper()} matrix: indptr ends at "
                             f"{int(indptr[-1])} but there are {indices.shape[0]} indices and "
                             f"{np.asarray(X.data).shape[0]} values")
        used = indices[:indptr[-1]]
        bad = (used < 0) | (used >= minor)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            at = int(np.searchsorted(indptr, k, side="right") - 1)
            other = "column" if what == "row" else "row"
            raise ValueError(f"{name} is a malformed {X.format.upper()} matrix: {what} {at} "
                             f"holds {other} index {int(used[k])}, outside 0..{minor - 1}")
    elif X.format == "coo":
        for axis, idx, size in (("row", X.row, n_rows), ("column", X.col, n_cols)):
            idx = np.asarray(idx)
            bad = (idx < 0) | (idx >= size)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name} is a malformed COO matrix: entry {k} has {axis} index "
                                 f"{int(idx[k])}, outside 0..{size - 1}")


def _ragged(X, name: str) -> str | None:
    """A message when ``X`` is a list (or tuple) of rows of different lengths."""
    if not isinstance(X, (list, tuple)) or not X:
        return None
    lengths = []
    for row in X:
        try:
            lengths.append(len(row))
        except TypeError:
            lengths.append(None)
    if len(set(lengths)) > 1:
        i = next(i for i, m in enumerate(lengths) if m != lengths[0])
        first = "a number" if lengths[0] is None else f"{lengths[0]} entries"
        this = "a number" if lengths[i] is None else f"{lengths[i]} entries"
        return (f"{name} is ragged: its rows must all have the same length, but row 0 has "
                f"{first} and row {i} has {this}")
    return None


def _no_complex(a, name):
    if np.iscomplexobj(a):
        raise ValueError(f"{name} has dtype {a.dtype}. Complex data not supported: {name} must "
                         f"hold real numbers")


def check_matrix(X, name: str = "X", n_features: int | None = None,
                 owner: str = "the estimator") -> sp.csr_matrix:
    """Return ``X`` (dense array-like or any scipy.sparse format) as a float64 CSR matrix.

    Raises TypeError for non-numeric input and ValueError for complex numbers, ragged lists of
    rows, a sparse matrix whose index arrays do not fit its shape (an index out of bounds or
    negative, indptr not starting at 0 or decreasing: naming the row), a wrong number of
    dimensions, an empty matrix, NaN or infinite entries (naming the first bad row), or, when
    ``n_features`` is given, a different number of columns (``owner`` names who expects them).
    The messages contain the phrases of scikit-learn's own (``Reshape your data``, ``0
    feature(s)``, ``is expecting``), so code written for scikit-learn recognises them.
    """
    if X is None:
        raise TypeError(f"{name} must be a 2-d array or a scipy.sparse matrix, got None")
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-d, got {X.ndim} dimensions")
        _check_sparse_structure(X, name)
        _no_complex(X, name)
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
        M = sp.csr_matrix(X, dtype=np.float64, copy=True)
        bad = _first_bad_row_sparse(M)
    else:
        ragged = _ragged(X, name)
        if ragged is not None:
            raise ValueError(ragged)
        A = np.asarray(X)
        _no_complex(A, name)
        if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == np.bool_):
            try:
                A = A.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold numbers, got dtype {A.dtype}: {exc}") from None
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-d (rows x features), got shape {A.shape}. "
                             f"Reshape your data: {name}.reshape(-1, 1) if it is one feature, "
                             f"{name}.reshape(1, -1) if it is one row")
        A = A.astype(np.float64, copy=False)
        finite = np.isfinite(A)
        bad = None
        if not finite.all():
            bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        M = sp.csr_matrix(A) if bad is None else None
    if bad is not None:
        raise ValueError(f"{name} contains NaN or infinity; first bad row: {bad}")
    n, p = M.shape
    if n == 0:
        raise ValueError(f"{name} is empty: found array with 0 sample(s) (shape={M.shape}) while "
                         f"a minimum of 1 is required")
    if p == 0:
        raise ValueError(f"{name} is empty: found array with 0 feature(s) (shape={M.shape}) "
                         f"while a minimum of 1 is required.")
    if n_features is not None and p != n_features:
        raise ValueError(f"{name} has {p} features, but {owner} is expecting {n_features} "
                         f"features as input (the columns of the training data)")
    M.sum_duplicates()
    M.sort_indices()
    return M


def _one_d(a, name):
    """``a`` as 1-d: a column vector (n, 1) is raveled with a DataConversionWarning."""
    if a.ndim == 2 and a.shape[1] == 1:
        warnings.warn(DataConversionWarning(
            f"A column-vector y was passed when a 1d array was expected: {name} of shape "
            f"{a.shape} is read as shape ({a.shape[0]},); pass {name}.ravel() to avoid this "
            f"warning"), stacklevel=4)
        return a.ravel()
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {a.shape}")
    return a


def _not_none(y, name):
    if y is None:
        raise ValueError(f"this estimator requires y to be passed, but the target {name} is "
                         f"None")


def check_target(y, n_rows: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as a float64 vector of length ``n_rows``; errors name the first bad row.

    A column vector (n, 1) is accepted with a ``DataConversionWarning``."""
    _not_none(y, name)
    a = np.asarray(y)
    _no_complex(a, name)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}: {exc}") from None
    a = _one_d(a, name).astype(np.float64)
    if a.shape[0] != n_rows:
        raise ValueError(f"{name} has {a.shape[0]} entries but X has {n_rows} rows")
    finite = np.isfinite(a)
    if not finite.all():
        raise ValueError(f"{name} contains NaN or infinity; first bad row: "
                         f"{int(np.flatnonzero(~finite)[0])}")
    return a


def check_groups(groups, n_features: int):
    """Map per-column group labels to indices.

    Returns ``(gidx, labels)``: ``gidx`` (p,) int64 in 0..G-1, ``labels`` the G distinct labels in
    order of first appearance. ``groups=None`` puts every feature in one group labelled 0.
    """
    if groups is None:
        return np.zeros(n_features, dtype=np.int64), [0]
    if isinstance(groups, (str, bytes)) or np.ndim(groups) != 1:
        raise ValueError(f"groups must be a 1-d sequence with one label per column of X, "
                         f"got {type(groups).__name__} of {np.ndim(groups)} dimensions")
    labels_in = list(groups)
    if len(labels_in) != n_features:
        raise ValueError(f"groups has {len(labels_in)} labels but X has {n_features} columns")
    index: dict = {}
    gidx = np.empty(n_features, dtype=np.int64)
    for j, lab in enumerate(labels_in):
        if isinstance(lab, numbers.Real) and not isinstance(lab, numbers.Integral):
            if lab != lab:  # NaN
                raise ValueError(f"groups contains NaN at column {j}")
        key = lab.item() if isinstance(lab, np.generic) else lab
        try:
            gidx[j] = index.setdefault(key, len(index))
        except TypeError:
            raise TypeError(f"groups labels must be hashable; column {j} has "
                            f"{type(lab).__name__}") from None
    return gidx, list(index)


def check_labels(y, n_rows: int, name: str = "y") -> np.ndarray:
    """Return class labels ``y`` as a 1-d array of length ``n_rows`` (any dtype).

    Raises ValueError for a wrong shape or length, and for missing labels (None or NaN), naming
    the first bad row. A column vector (n, 1) is accepted with a ``DataConversionWarning``.
    """
    _not_none(y, name)
    a = _one_d(np.asarray(y), name)
    if a.shape[0] != n_rows:
        raise ValueError(f"{name} has {a.shape[0]} entries but X has {n_rows} rows")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
    elif a.dtype == object:
        bad = np.array([v is None or (isinstance(v, float) and v != v) for v in a], dtype=bool)
    else:
        bad = np.zeros(a.shape[0], dtype=bool)
    if bad.any():
        raise ValueError(f"{name} has a missing or non-finite label; first bad row: "
                         f"{int(np.flatnonzero(bad)[0])}")
    return a


def sorted_classes(labels: np.ndarray, name: str = "y") -> np.ndarray:
    """The distinct labels in sorted order; ValueError when they cannot be ordered."""
    try:
        return np.unique(labels)
    except TypeError as exc:
        raise ValueError(f"the labels of {name} cannot be sorted ({exc}); use labels of one "
                         f"type, or give their order explicitly") from None


def encode_labels(labels: np.ndarray, classes: np.ndarray, name: str = "y") -> np.ndarray:
    """Index (int64) of every label in ``classes``; ValueError naming the first unknown label."""
    index = {}
    for k, c in enumerate(classes.tolist()):
        index[c] = k
    out = np.empty(labels.shape[0], dtype=np.int64)
    for i, v in enumerate(labels.tolist()):
        k = index.get(v)
        if k is None:
            raise ValueError(f"{name} has the label {v!r} at row {i}, which is not one of the "
                             f"known classes {classes.tolist()}")
        out[i] = k
    return out
