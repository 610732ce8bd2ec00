"""Encode a pandas DataFrame (user, item, side columns) as a design matrix and feature groups.

``TableEncoder`` learns a column layout from a frame at ``fit`` and turns any frame with the same
columns into a float64 CSR matrix ``X`` (n rows x p features), with ``groups_`` holding, for every
feature, its hyperprior group: the name of the source column it came from for categorical and
multi-hot columns, and one group ``"numeric"`` shared by all numeric columns (as the columns of a
plain matrix share one group by default; ``numeric_groups="per_column"`` gives each its own).

Numbers are data, not something to encode: by default a numeric column enters the design as it
is, so a frame of numeric columns gives the same design, the same groups and the same fit as the
matrix of its values (the estimators scale every column internally, so units do not matter; see
``bayesfm.data.scaling``).

How each source column is encoded (decided at ``fit``, in the frame's column order):

* **categorical** -- bool, ``category``, string and object columns (unless multi-hot): a one-hot
  block, one feature per category seen at fit, in sorted order (values of mixed, unorderable types
  are sorted by type name, then text). Categories occurring in fewer than ``min_count`` rows are
  dropped. Feature names are ``"col=value"``, e.g. ``"user=42"``.
  Integer or float columns are *numeric* unless listed in ``categorical`` (for id columns such as
  ``categorical=["user", "item"]``), or cast first (``df["user"].astype("category")``).
* **numeric** -- int and float columns (not bool): one feature named after the column, the value
  as is (``numeric_scaling="none"``, the default); with ``"standardize"`` it is
  ``(x - mean) / sd``, mean and population sd (ddof=0) learned at fit (an sd of 0 is replaced by
  1), which centres the column (and so makes it dense).
  Missing or infinite values are an error (ValueError naming the column and the first bad row,
  0-based position).
* **multi-hot** -- columns whose cells are lists, tuples, sets or numpy arrays (detected
  automatically), or columns declared in ``multi_hot``: one feature per distinct item seen at fit
  (sorted, items in fewer than ``min_count`` rows dropped), named ``"col=item"``. A row's items are
  a set (repeats count once) and the row is normalised so its entries sum to 1 -- each of its k
  known items gets 1/k, as in Rendle's implicit-feedback and genre blocks. A row with no known
  item (empty list, missing cell, only unseen items) is all zero. Declared columns may hold
  delimited strings (``"Comedy|Drama"``), split on the column's separator; the pieces are
  stripped of surrounding whitespace and empty pieces ignored.

Missing values (None, NaN, pd.NA) in categorical and multi-hot columns contribute nothing (an
all-zero row in that block); they are not an error. At ``transform``, categories and items not
kept at fit (unseen, or dropped by ``min_count``) likewise contribute nothing; ``transform_new``
instead gives each of them a column of its own after the fitted ones (what the estimators'
predictions use: a new category is a draw from its group's prior, ``bayesfm.NewCategories``), a
multi-hot row then normalised over its known and new items together.

``transform`` finds columns by name, so their order in the frame does not matter. Columns seen at
fit but absent are an error naming them; extra columns are ignored silently (so a frame that
still holds the target column can be passed as is). Errors: a non-DataFrame is a TypeError; an
empty frame (no rows or no columns), duplicate column names, or values a column cannot hold
(unhashable cells in a categorical column, text in a numeric one) are a ValueError.

pandas is imported only when a method that needs it runs, never at import of this module.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from bayesfm.exceptions import NotFittedError

__all__ = ["TableEncoder"]

_LIST_TYPES = (list, tuple, set, frozenset, np.ndarray)
DEFAULT_SEPARATOR = "|"
_SCALINGS = ("none", "standardize")
_NUMERIC_GROUPS = ("shared", "per_column")
#: the group label of the numeric columns with numeric_groups="shared"
NUMERIC_GROUP = "numeric"


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("TableEncoder needs pandas; install it (pip install pandas)") from None
    return pd


def _plain(v):
    """A numpy scalar as the matching Python scalar (plain, stable attributes); others as is."""
    return v.item() if isinstance(v, np.generic) else v


def _sorted(values) -> list:
    values = [_plain(v) for v in values]
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _parse_multi_hot(multi_hot) -> dict:
    """``multi_hot`` as a dict column -> separator (a str, or None for no splitting)."""
    if multi_hot is None:
        return {}
    if isinstance(multi_hot, str):
        return {multi_hot: DEFAULT_SEPARATOR}
    if hasattr(multi_hot, "items"):
        out = {}
        for col, sep in multi_hot.items():
            if sep is not None and not (isinstance(sep, str) and sep):
                raise ValueError(f"multi_hot separator for column {col!r} must be a non-empty "
                                 f"string or None, got {sep!r}")
            out[col] = sep
        return out
    try:
        cols = list(multi_hot)
    except TypeError:
        raise TypeError("multi_hot must be None, a column name, a sequence of column names or a "
                        f"dict column -> separator, got {type(multi_hot).__name__}") from None
    return {col: DEFAULT_SEPARATOR for col in cols}


def _check_frame(df, pd, method: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"TableEncoder.{method} expects a pandas DataFrame, "
                        f"got {type(df).__name__}")
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise ValueError(f"TableEncoder.{method}: the DataFrame is empty (shape {df.shape}); it "
                         "needs at least one row and one column")
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise ValueError(f"TableEncoder.{method}: duplicate column names "
                         f"{_sorted(set(dup.tolist()))}")


def _first_listlike(values) -> int | None:
    mask = np.fromiter((isinstance(v, _LIST_TYPES) for v in values), dtype=bool,
                       count=len(values))
    return int(np.flatnonzero(mask)[0]) if mask.any() else None


def _column_kind(s, col, declared: dict, forced: set, pd) -> str:
    if col in declared:
        return "multi_hot"
    if col in forced:
        return "categorical"
    t = pd.api.types
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype) or t.is_bool_dtype(dt):
        return "categorical"
    if t.is_complex_dtype(dt) or t.is_datetime64_any_dtype(dt) or t.is_timedelta64_dtype(dt):
        raise TypeError(f"column {col!r} has dtype {dt}, which TableEncoder does not encode; "
                        "convert it to numbers or to strings/categories first")
    if t.is_numeric_dtype(dt):
        return "numeric"
    if dt == np.dtype(object) and _first_listlike(s.to_numpy()) is not None:
        return "multi_hot"
    return "categorical"


def _numeric_values(s, col) -> np.ndarray:
    try:
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"numeric column {col!r} cannot be converted to float: {exc}") from None
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"numeric column {col!r} contains NaN or infinity (missing values are "
                         f"not allowed in numeric columns); first bad row: "
                         f"{int(np.flatnonzero(bad)[0])}")
    return x


def _lookup(cats: list, values, col, pd) -> np.ndarray:
    """Position of each value in ``cats``; -1 for missing or unknown values."""
    n = len(values)
    if not cats:
        return np.full(n, -1, dtype=np.int64)
    index = pd.Index(cats)
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        src = index.get_indexer(values.cat.categories)
        codes = values.cat.codes.to_numpy()
        out = np.full(n, -1, dtype=np.int64)
        ok = codes >= 0
        out[ok] = src[codes[ok]]
        return out
    try:
        return index.get_indexer(values).astype(np.int64, copy=False)
    except TypeError:
        arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values, object)
        first = _first_listlike(arr)
        where = f"; first list-valued cell at row {first}" if first is not None else ""
        raise ValueError(f"column {col!r} holds unhashable values (dicts, or lists in a column "
                         f"that was not list-valued at fit){where}") from None


def _items(s, sep, col, pd):
    """A multi-hot column as (row position, item) pairs, missing items and empty pieces dropped."""
    base = s.reset_index(drop=True)
    if base.dtype == object:
        base = base.explode()
    rows = base.index.to_numpy(dtype=np.int64)
    vals = base.to_numpy(dtype=object)
    if sep is not None:
        if base.dtype != object and pd.api.types.is_string_dtype(base.dtype):
            is_str = ~pd.isna(vals)
        else:
            is_str = np.fromiter((isinstance(v, str) for v in vals), dtype=bool, count=len(vals))
        if is_str.any():
            parts = pd.Series(vals[is_str], dtype=object).str.split(sep, regex=False).explode()
            parts = parts.str.strip()
            parts = parts[parts != ""]
            rows = np.concatenate([rows[~is_str], rows[is_str][parts.index.to_numpy()]])
            vals = np.concatenate([vals[~is_str], parts.to_numpy(dtype=object)])
    keep = ~pd.isna(vals)
    return rows[keep], vals[keep]


def _unique_pairs(rows: np.ndarray, codes: np.ndarray, k: int):
    key = np.unique(rows * np.int64(k) + codes)
    return key // k, key % k


#: offset marking new-column indices among category codes (beyond any fitted column count)
_NEW = 1 << 40


def _known(block):
    """(the categories of a categorical or multi-hot block: those kept at fit, then those
    learned after it (``learn_new``), their columns (int64, one more: a sentinel))."""
    cats = list(block["categories"]) + list(block.get("added", ()))
    colmap = np.concatenate([np.arange(block["start"], block["stop"]),
                             np.asarray(block.get("added_columns", ()), dtype=np.int64), [-1]])
    return cats, colmap.astype(np.int64)


class TableEncoder:
    """Learn a one-hot / numeric / multi-hot layout from a DataFrame and encode frames with it.

    Parameters
    ----------
    multi_hot : None, str, sequence of str, or dict str -> str or None
        Columns to encode as multi-hot even if their cells are not lists (list, tuple, set and
        ndarray cells are detected without this). Given as names, string cells are split on
        ``"|"``; given as a dict column -> separator, on that separator (None: each string is a
        single item).
    numeric_scaling : {"none", "standardize"}, default "none"
        ``"none"``: numeric features are the values as they are (the estimators make the fit
        independent of each column's units). ``"standardize"``: ``(x - mean) / sd`` with mean
        and sd (ddof=0) of the fit frame, sd 0 replaced by 1 (centred columns).
    numeric_groups : {"shared", "per_column"}, default "shared"
        Hyperprior groups of the numeric features: one group ``"numeric"`` for all of them (as
        the columns of a matrix share one group by default), or one per column (a group of one
        weight learns its prior from that weight alone).
    min_count : int >= 1
        Categories and multi-hot items seen in fewer than ``min_count`` rows of the fit frame get
        no feature (they then contribute nothing, like unseen values).

    Attributes
    ----------
    columns_ : list
        The source columns in fit order.
    blocks_ : list of dict
        One per source column: ``column``, ``kind`` ("categorical", "numeric" or
        "multi_hot"), ``start``/``stop`` (its feature range ``X[:, start:stop]``), and
        ``categories`` (categorical, multi_hot), ``separator`` (multi_hot), ``mean`` and
        ``scale`` (numeric). A column with no category kept has ``start == stop``.
    feature_names_ : ndarray (p,) of str
        For example "user=42", "genres=Comedy", "age".
    groups_ : ndarray (p,)
        The hyperprior group of each feature (pass as ``groups``): its source column's name,
        or ``"numeric"`` for the numeric columns with ``numeric_groups="shared"`` (``"numeric_"``
        if a column is itself named "numeric").
    n_features_ : int
        p, the number of features.

    See the module docstring for how missing, unseen and extra values and columns are handled.
    """

    def __init__(self, multi_hot=None, numeric_scaling="none", min_count=1,
                 categorical=None, numeric_groups="shared"):
        self.multi_hot = multi_hot
        self.numeric_scaling = numeric_scaling
        self.min_count = min_count
        self.categorical = categorical
        self.numeric_groups = numeric_groups

    def __repr__(self):
        return (f"TableEncoder(multi_hot={self.multi_hot!r}, "
                f"numeric_scaling={self.numeric_scaling!r}, min_count={self.min_count!r}, "
                f"categorical={self.categorical!r}, numeric_groups={self.numeric_groups!r})")

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn style, so ``clone`` copies the encoder)."""
        return {"multi_hot": self.multi_hot, "numeric_scaling": self.numeric_scaling,
                "min_count": self.min_count, "categorical": self.categorical,
                "numeric_groups": self.numeric_groups}

    #: the fitted attributes, what ``to_state`` keeps besides the parameters
    _FITTED = ("columns_", "blocks_", "feature_names_", "groups_", "n_features_")

    def to_state(self) -> dict:
        """The parameters and (once fitted) the fitted layout, as plain values and arrays."""
        fitted = None
        if hasattr(self, "blocks_"):
            fitted = {name: getattr(self, name) for name in self._FITTED}
        return {"params": self.get_params(), "fitted": fitted}

    @classmethod
    def from_state(cls, state: dict) -> "TableEncoder":
        out = cls(**state["params"])
        for name, value in (state["fitted"] or {}).items():
            if name in ("feature_names_", "groups_") and not isinstance(value, np.ndarray):
                value = np.asarray(value, dtype=object if name == "groups_" else str)
            setattr(out, name, value)
        return out

    def set_params(self, **params) -> "TableEncoder":
        """Set constructor arguments; unknown names raise ValueError. Returns self."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for TableEncoder; valid "
                                 f"parameters: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def _forced_categorical(self) -> set:
        cat = self.categorical
        if cat is None:
            return set()
        if isinstance(cat, str):
            return {cat}
        return set(cat)

    def _check_params(self) -> dict:
        if self.numeric_scaling not in _SCALINGS:
            raise ValueError(f"numeric_scaling must be one of {_SCALINGS}, "
                             f"got {self.numeric_scaling!r}")
        if self.numeric_groups not in _NUMERIC_GROUPS:
            raise ValueError(f"numeric_groups must be one of {_NUMERIC_GROUPS}, "
                             f"got {self.numeric_groups!r}")
        mc = self.min_count
        if isinstance(mc, bool) or not isinstance(mc, numbers.Integral) or mc < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {mc!r}")
        return _parse_multi_hot(self.multi_hot)

    def fit(self, df) -> "TableEncoder":
        """Learn the layout of ``df`` (a pandas DataFrame); returns self."""
        pd = _pandas()
        declared = self._check_params()
        _check_frame(df, pd, "fit")
        present = set(df.columns)
        absent = [c for c in declared if c not in present]
        if absent:
            raise ValueError(f"multi_hot names columns not in the DataFrame: {absent}")
        forced = self._forced_categorical()
        absent = [c for c in forced if c not in present]
        if absent:
            raise ValueError(f"categorical names columns not in the DataFrame: {absent}")
        both = sorted(str(c) for c in forced & set(declared))
        if both:
            raise ValueError(f"columns both categorical and multi_hot: {both}")
        min_count = int(self.min_count)
        blocks, names, groups = [], [], []
        numeric_label = None                      # "per_column": the column's own name
        if self.numeric_groups == "shared":
            numeric_label = NUMERIC_GROUP
            while numeric_label in present:       # never share a group with a column's
                numeric_label += "_"
        start = 0
        for col in df.columns:
            s = df[col]
            kind = _column_kind(s, col, declared, forced, pd)
            block = {"column": col, "kind": kind}
            if kind == "numeric":
                x = _numeric_values(s, col)
                mean, scale = 0.0, 1.0
                if self.numeric_scaling == "standardize":
                    mean, scale = float(x.mean()), float(x.std())
                    if not (np.isfinite(scale) and scale > 0):
                        scale = 1.0
                block.update(mean=mean, scale=scale)
                feats = [str(col)]
            elif kind == "categorical":
                try:
                    counts = s.value_counts(dropna=True, sort=False)
                except TypeError as exc:
                    raise TypeError(f"column {col!r}: categorical values must be hashable "
                                    f"({exc})") from None
                cats = _sorted(counts.index[counts.to_numpy() >= min_count].tolist())
                block["categories"] = cats
                feats = [f"{col}={c}" for c in cats]
            else:
                sep = declared.get(col)
                rows, vals = _items(s, sep, col, pd)
                try:
                    codes, uniques = pd.factorize(vals)
                except TypeError as exc:
                    raise TypeError(f"multi-hot column {col!r}: items must be hashable "
                                    f"({exc})") from None
                k = len(uniques)
                cats = []
                if k:
                    _, ucodes = _unique_pairs(rows, codes.astype(np.int64), k)
                    counts = np.bincount(ucodes, minlength=k)
                    cats = _sorted(np.asarray(uniques, dtype=object)[counts >= min_count])
                block.update(categories=cats, separator=sep)
                feats = [f"{col}={c}" for c in cats]
            block["start"], block["stop"] = start, start + len(feats)
            start += len(feats)
            blocks.append(block)
            names += feats
            shared = kind == "numeric" and numeric_label is not None
            groups += [numeric_label if shared else col] * len(feats)
        if start == 0:
            raise ValueError("TableEncoder.fit: no features -- every column is categorical or "
                             "multi-hot with no value kept (all missing, or below min_count)")
        self.columns_ = list(df.columns)
        self.blocks_ = blocks
        self.feature_names_ = np.array(names, dtype=str)
        if all(isinstance(c, str) for c in self.columns_):
            self.groups_ = np.array(groups, dtype=str)
        else:
            self.groups_ = np.empty(len(groups), dtype=object)
            self.groups_[:] = groups
        self.n_features_ = start
        return self

    def transform(self, df) -> sp.csr_matrix:
        """Encode ``df`` with the fitted layout: a float64 CSR matrix (len(df), n_features_)."""
        return self._encode(df, with_new=False)[0]

    def transform_new(self, df):
        """Encode ``df`` with the fitted layout plus one column per category (or multi-hot
        item) not kept at fit: ``(X, siblings, names)``, X a float64 CSR matrix (len(df),
        n_features_ + m), the m new columns after the fitted ones in order of first appearance
        (source column by source column); ``siblings`` (m,) int64, for each new column a fitted
        column of the same source column (its group); ``names`` (m,) ``"col=value"``. Values of a
        source column of which no category was kept at fit have no sibling and contribute
        nothing, as in ``transform``."""
        return self._encode(df, with_new=True)

    def _encode(self, df, with_new: bool, keep_added: bool = False):
        if not hasattr(self, "blocks_"):
            raise NotFittedError("this TableEncoder is not fitted yet; call fit(df) first")
        pd = _pandas()
        _check_frame(df, pd, "transform")
        present = set(df.columns)
        absent = [c for c in self.columns_ if c not in present]
        if absent:
            raise ValueError(f"TableEncoder.transform: the DataFrame lacks columns seen at fit: "
                             f"{absent}")
        n = len(df)
        all_rows, all_cols, all_vals = [], [], []
        siblings, names, added = [], [], []
        for b in self.blocks_:
            col, kind, start = b["column"], b["kind"], b["start"]
            if b["stop"] == start:
                continue
            s = df[col]
            if kind == "numeric":
                x = (_numeric_values(s, col) - b["mean"]) / b["scale"]
                rows = np.flatnonzero(x != 0)
                cols = np.full(len(rows), start, dtype=np.int64)
                vals = x[rows]
            elif kind == "categorical":
                cats, colmap = _known(b)
                codes = _lookup(cats, s, col, pd)
                if with_new:
                    values = s.to_numpy(dtype=object)
                    fresh = np.flatnonzero((codes < 0) & ~pd.isna(values))
                    codes = codes.copy()
                    codes[fresh] = self._new_codes(values[fresh], b, siblings, names, added,
                                                   pd)
                rows = np.flatnonzero(codes >= 0)
                cols = np.where(codes[rows] < _NEW, colmap[np.minimum(codes[rows], len(cats))],
                                codes[rows] - _NEW)
                vals = np.ones(len(rows))
            else:
                rows, items = _items(s, b["separator"], col, pd)
                cats, colmap = _known(b)
                codes = _lookup(cats, items, col, pd)
                k = len(cats)
                fresh = np.flatnonzero(codes < 0) if with_new else np.zeros(0, np.int64)
                if fresh.size:      # new items coded k + j, j the new column's position
                    new = self._new_codes(items[fresh], b, siblings, names, added, pd) - _NEW
                    codes = codes.copy()
                    codes[fresh] = k + new - self.n_features_
                ok = codes >= 0
                rows, codes = _unique_pairs(rows[ok], codes[ok], k + len(names))
                vals = 1.0 / np.bincount(rows, minlength=n)[rows]
                cols = np.where(codes < k, colmap[np.minimum(codes, k)],
                                self.n_features_ + codes - k)
            all_rows.append(rows)
            all_cols.append(cols)
            all_vals.append(vals)
        r = np.concatenate(all_rows) if all_rows else np.zeros(0, np.int64)
        c = np.concatenate(all_cols) if all_cols else np.zeros(0, np.int64)
        v = np.concatenate(all_vals) if all_vals else np.zeros(0)
        X = sp.csr_matrix((v.astype(np.float64), (r, c)),
                          shape=(n, self.n_features_ + len(names)), dtype=np.float64)
        X.sum_duplicates()
        X.sort_indices()
        out = X, np.array(siblings, dtype=np.int64), np.array(names, dtype=object)
        return out + (added,) if keep_added else out

    def learn_new(self, df):
        """``transform_new(df)``, and the new categories become fitted ones: column
        ``n_features_ + j`` is the j-th new one from now on (``transform`` encodes it; its
        feature name and group are appended). What ``fold_in`` does, after which those
        categories have parameters of their own. Returns ``(X, siblings, names)`` as
        ``transform_new`` (the columns of X are those of the extended layout)."""
        X, siblings, names, added = self._encode(df, with_new=True, keep_added=True)
        p = self.n_features_
        for j, (block, value) in enumerate(added):
            block.setdefault("added", []).append(_plain(value))
            block.setdefault("added_columns", []).append(p + j)
        self.feature_names_ = np.concatenate([self.feature_names_,
                                              np.asarray(names, dtype=str)]).astype(str)
        groups = self.groups_[siblings] if len(siblings) else self.groups_[:0]
        self.groups_ = np.concatenate([self.groups_, groups]).astype(self.groups_.dtype)
        self.n_features_ = p + len(names)
        return X, siblings, names

    def _new_codes(self, values, block, siblings, names, added, pd) -> np.ndarray:
        """Column indices (offset by ``_NEW``) of the new ``values`` of ``block``, registering a
        column (its sibling, name, and (block, value) in ``added``) for each distinct one, in
        order of first appearance."""
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        first = self.n_features_ + len(names)
        for value in uniques:
            siblings.append(block["start"])
            names.append(f"{block['column']}={value}")
            added.append((block, value))
        return _NEW + first + codes.astype(np.int64)

    def fit_transform(self, df) -> sp.csr_matrix:
        """``fit(df)`` then ``transform(df)``."""
        return self.fit(df).transform(df)
