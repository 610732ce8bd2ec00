"""Reading and writing libFM / svmlight (LIBSVM) text files and libFM group ("meta") files.

Data file format: one row per line, whitespace separated::

    label idx:val idx:val ...

``label`` and every ``val`` are decimal floats (``1``, ``-1``, ``0.5``, ``1e-3``); ``idx`` is a
non-negative integer feature index, 0-based for libFM (the default) or 1-based for LIBSVM files
such as a9a (``zero_based=False``). As in svmlight, everything from a ``#`` to the end of the
line is a comment, and lines that are empty after removing the comment are skipped. A line may
hold a label alone (a row with no non-zero feature). Windows line ends (CRLF) are accepted.
svmlight's ``qid:`` tokens are not supported (they are reported as a bad index).

Group file format (libFM's ``--meta`` file): one integer per line, line ``j + 1`` giving the
group id (>= 0) of matrix column ``j``; blank lines are allowed only at the end of the file.

Errors in a file are ValueErrors naming the file, the 1-based line number and the offending
token. This module does not import model code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bayesfm.atomic import atomic_write as _atomic_write
from bayesfm.data.validation import check_matrix, check_target

__all__ = ["LibFMData", "read_libfm", "read_groups", "write_libfm"]


@dataclass
class LibFMData:
    """The content of a libFM / svmlight file.

    ``X`` (n, p) float64 CSR matrix holding the non-zero values (column indices sorted, always
    0-based); ``y`` (n,) float64 labels; ``groups`` (p,) int64 group id per column, read from a
    group file, or None when none was given.
    """

    X: sp.csr_matrix
    y: np.ndarray
    groups: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# reading

#: feature indices from here on are rejected (they would not fit the index arrays)
_MAX_INDEX = 2 ** 62


def _show(tok: bytes) -> str:
    return repr(tok.decode("utf-8", errors="replace"))


def _fail(name: str, lineno: int, message: str) -> ValueError:
    return ValueError(f"{name}, line {lineno}: {message}")


def _is_finite(v: float) -> bool:
    return v - v == 0.0  # False for NaN and +-inf


def _check_label(name: str, lineno: int, tok: bytes) -> float:
    try:
        if b"_" in tok:
            raise ValueError
        v = float(tok)
    except ValueError:
        raise _fail(name, lineno, f"the label {_show(tok)} is not a number") from None
    if not _is_finite(v):
        raise _fail(name, lineno, f"the label {_show(tok)} is not finite (NaN or infinity)")
    return v


def _diagnose_features(name: str, lineno: int, feats: list, zero_based: bool,
                       n_features: int | None) -> None:
    """Slow path: find and report the first bad ``idx:val`` token of a line (or return)."""
    seen: dict[int, bytes] = {}
    for tok in feats:
        idx_s, sep, val_s = tok.partition(b":")
        if not sep:
            raise _fail(name, lineno, f"malformed token {_show(tok)}: expected 'index:value' "
                                      f"(no colon)")
        try:
            if b"_" in idx_s:
                raise ValueError
            idx = int(idx_s)
        except ValueError:
            raise _fail(name, lineno, f"malformed token {_show(tok)}: the feature index "
                                      f"{_show(idx_s)} is not an integer") from None
        if idx < 0:
            raise _fail(name, lineno, f"negative feature index in token {_show(tok)}")
        if idx >= _MAX_INDEX:
            raise _fail(name, lineno, f"feature index {idx} in token {_show(tok)} is too large")
        try:
            if b"_" in val_s:
                raise ValueError
            val = float(val_s)
        except ValueError:
            raise _fail(name, lineno, f"malformed token {_show(tok)}: the value "
                                      f"{_show(val_s)} is not a number") from None
        if not _is_finite(val):
            raise _fail(name, lineno, f"the value in token {_show(tok)} is not finite "
                                      f"(NaN or infinity)")
        if not zero_based and idx == 0:
            raise _fail(name, lineno, f"feature index 0 in token {_show(tok)}, but the file is "
                                      f"read as 1-based (zero_based=False)")
        col = idx if zero_based else idx - 1
        if n_features is not None and col >= n_features:
            raise _fail(name, lineno, f"feature index {idx} in token {_show(tok)} is out of "
                                      f"range for n_features={n_features} "
                                      f"({'0' if zero_based else '1'}-based indices)")
        if idx in seen:
            raise _fail(name, lineno, f"duplicate feature index {idx} (tokens "
                                      f"{_show(seen[idx])} and {_show(tok)})")
        seen[idx] = tok


def read_libfm(path, n_features: int | None = None, group_file=None,
               zero_based: bool = True) -> LibFMData:
    """Read a libFM / svmlight text file (format in the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The data file.
    n_features : int or None
        Number of columns p of ``X``. None: the largest index in the file + 1 (0-based), or the
        largest index (1-based), or the length of the group file if that is larger.
    group_file : str or os.PathLike or None
        A libFM ``--meta`` file with one group id per column. With ``n_features`` given it must
        have exactly ``n_features`` lines; otherwise it may list more features than the data
        uses (p becomes its length) but not fewer.
    zero_based : bool, default True
        True for 0-based indices (libFM); False for 1-based ones (LIBSVM, e.g. a9a), where the
        file's index ``i`` is column ``i - 1``.

    Returns
    -------
    LibFMData
        ``X`` (n, p) float64 CSR (zero values left out), ``y`` (n,) float64, ``groups`` (p,)
        int64 or None.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        For a malformed token, a non-numeric or non-finite label or value, a negative (or, in a
        1-based file, zero) index, an index out of range of ``n_features``, a duplicate index
        within a line (each naming the file, line and token); for a file without data lines;
        and for a group file that does not match p.
    """
    name = os.fspath(path)
    if n_features is not None:
        n_features = int(n_features)
        if n_features < 0:
            raise ValueError(f"n_features must be >= 0, got {n_features}")
    limit = _MAX_INDEX if n_features is None else (n_features if zero_based else n_features + 1)
    labels: list[float] = []
    indices: list[int] = []
    values: list[float] = []
    indptr: list[int] = [0]
    max_idx = -1
    n_rows = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            cut = raw.find(b"#")
            if cut >= 0:
                raw = raw[:cut]
            toks = raw.split()
            if not toks:
                continue
            labels.append(_check_label(name, lineno, toks[0]))
            n_rows += 1
            if len(toks) > 1:
                feats = toks[1:]
                try:
                    if b"_" in raw:
                        raise ValueError
                    parts = [t.partition(b":") for t in feats]
                    idx = list(map(int, [q[0] for q in parts]))
                    vals = list(map(float, [q[2] for q in parts]))
                except ValueError:
                    _diagnose_features(name, lineno, feats, zero_based, n_features)
                    raise _fail(name, lineno, "cannot parse the line")  # not reached
                lo = min(idx)
                hi = max(idx)
                s = sum(vals)
                if (lo < (0 if zero_based else 1) or len(set(idx)) != len(idx)
                        or hi >= limit or not _is_finite(s)):
                    # a real problem, or merely a sum that overflowed: let the slow path decide
                    _diagnose_features(name, lineno, feats, zero_based, n_features)
                if hi > max_idx:
                    max_idx = hi
                if 0.0 in vals:
                    keep = [(i, v) for i, v in zip(idx, vals) if v != 0.0]
                    indices.extend(i for i, _ in keep)
                    values.extend(v for _, v in keep)
                else:
                    indices.extend(idx)
                    values.extend(vals)
            indptr.append(len(indices))
    if n_rows == 0:
        raise ValueError(f"{name}: the file is empty (no data lines)")

    p_data = max_idx + 1 if zero_based else max(max_idx, 0)
    groups = None
    if group_file is not None:
        groups = read_groups(group_file, n_features=n_features)
        if n_features is None:
            if groups.shape[0] < p_data:
                raise ValueError(
                    f"{os.fspath(group_file)} has {groups.shape[0]} group ids but {name} uses "
                    f"{p_data} features (largest index {max_idx}, "
                    f"{'0' if zero_based else '1'}-based): one group id per feature is needed")
            n_features = groups.shape[0]
    p = p_data if n_features is None else n_features

    ind = np.asarray(indices, dtype=np.int64)
    if not zero_based:
        ind -= 1
    ind_dtype = np.int32 if max(p, len(indices)) < np.iinfo(np.int32).max else np.int64
    X = sp.csr_matrix((np.asarray(values, dtype=np.float64), ind.astype(ind_dtype),
                       np.asarray(indptr, dtype=ind_dtype)), shape=(n_rows, p))
    X.sort_indices()
    return LibFMData(X=X, y=np.asarray(labels, dtype=np.float64), groups=groups)


def read_groups(path, n_features: int | None = None) -> np.ndarray:
    """Read a libFM group (``--meta``) file: line ``j + 1`` holds the integer group id (>= 0)
    of column ``j``.

    Returns a (p,) int64 array, p the number of lines (blank lines are allowed only at the end).
    Raises ValueError naming the file and line for a non-integer or negative id or a blank line
    inside the file, for an empty file, and, when ``n_features`` is given, for a different
    number of ids. FileNotFoundError if the file does not exist.
    """
    name = os.fspath(path)
    ids: list[int] = []
    blank_at = None
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            toks = raw.split()
            if not toks:
                if blank_at is None:
                    blank_at = lineno
                continue
            if blank_at is not None:
                raise _fail(name, blank_at, "blank line inside the group file (it needs one "
                                            "group id per line, one line per feature)")
            if len(toks) != 1:
                raise _fail(name, lineno, f"expected one group id per line, got "
                                          f"{len(toks)} tokens: {_show(raw.strip())}")
            tok = toks[0]
            if tok[:1] == b"-" and tok[1:].isdigit():
                raise _fail(name, lineno, f"negative group id {_show(tok)}")
            if not tok.isdigit():
                raise _fail(name, lineno, f"the group id {_show(tok)} is not a non-negative "
                                          f"integer")
            ids.append(int(tok))
    if not ids:
        raise ValueError(f"{name}: the group file is empty (no group ids)")
    if n_features is not None and len(ids) != n_features:
        raise ValueError(f"{name} has {len(ids)} group ids (lines) but n_features is "
                         f"{n_features}: one group id per feature is needed")
    return np.asarray(ids, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# writing

def _format_float(v: float) -> str:
    """Shortest text that reads back as exactly ``v``; integral values without '.0'."""
    s = repr(v)
    return s[:-2] if s.endswith(".0") else s


#: rows formatted before each write to the file
_CHUNK_ROWS = 4096


def write_libfm(path, X, y, zero_based: bool = True, group_file=None, groups=None) -> None:
    """Write ``X`` (n, p) and ``y`` (n,) as a libFM / svmlight text file.

    One line per row, ``label idx:val ...``, with only the non-zero entries, column indices in
    increasing order, 0-based (or 1-based with ``zero_based=False``), and labels and values
    written so that ``read_libfm`` gives back exactly the same float64 numbers. ``X`` may be
    dense or any scipy.sparse format; duplicate sparse entries are summed.

    With ``group_file`` and ``groups`` (p,) non-negative integers, also writes a libFM meta file
    (one group id per line). Every file is written atomically: to a temporary file in the same
    directory, then renamed; if anything fails the old files are left as they were.

    Raises TypeError/ValueError for non-numeric data, mismatched shapes (``len(y)`` must equal
    the number of rows, ``len(groups)`` the number of columns), NaN or infinite values, an
    empty ``X``, or only one of ``group_file`` / ``groups``.
    """
    M = check_matrix(X, name="X")
    n, p = M.shape
    yy = check_target(y, n, name="y")
    if (group_file is None) != (groups is None):
        raise ValueError("give both group_file and groups, or neither")
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.ndim != 1:
            raise ValueError(f"groups must be 1-d, got shape {g.shape}")
        if g.shape[0] != p:
            raise ValueError(f"groups has {g.shape[0]} entries but X has {p} columns")
        if g.dtype.kind not in "iub":
            if g.dtype.kind == "f" and np.all(np.isfinite(g)) and np.all(g == np.round(g)):
                g = g.astype(np.int64)
            else:
                raise ValueError(f"groups must hold integers, got dtype {g.dtype}")
        g = g.astype(np.int64)
        if g.size and g.min() < 0:
            raise ValueError(f"groups must be >= 0; column {int(np.argmin(g))} has {g.min()}")
    M.eliminate_zeros()
    offset = 0 if zero_based else 1

    def write_data(fh) -> None:
        indptr, cols, data = M.indptr, (M.indices.astype(np.int64) + offset).tolist(), \
            M.data.tolist()
        labels = yy.tolist()
        fmt = _format_float
        for start in range(0, n, _CHUNK_ROWS):
            lines = []
            for r in range(start, min(start + _CHUNK_ROWS, n)):
                a, b = int(indptr[r]), int(indptr[r + 1])
                parts = [fmt(labels[r])]
                parts.extend(f"{c}:{fmt(v)}" for c, v in zip(cols[a:b], data[a:b]))
                lines.append(" ".join(parts))
            fh.write(("\n".join(lines) + "\n").encode("ascii"))

    def write_groups(fh) -> None:
        fh.write(("\n".join(map(str, g.tolist())) + "\n").encode("ascii"))

    if g is None:
        _atomic_write(path, write_data)
    else:
        # the data file is renamed only after the group file was written in full
        def write_both(fh) -> None:
            write_data(fh)
            _atomic_write(group_file, write_groups)
        _atomic_write(path, write_both)
