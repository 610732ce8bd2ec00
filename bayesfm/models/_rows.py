"""The rows a user gives, behind one protocol: a design matrix or a relational design.

``rows_of(X)`` is the one place that looks at what kind of rows ``X`` is; everything after it
(fitting, prediction, evaluation sets, saving) asks the rows, which answer the same questions
whatever they are:

* ``shape``, ``nnz``, ``rows[a:b]`` (a slice, as rows again) and ``value`` (what the user gave,
  validated: the CSR matrix or the ``RelationalData``; what ``X_train_`` holds);
* ``default_groups()`` (the feature groups when the user gives none; None: one group),
  ``column_scales(gidx)`` (``data.scaling``), ``design(scale, gidx)`` (the sampler's design on
  the scaled columns, a pure function of its arguments), ``expand(rows)`` (a CSR matrix of some
  rows: the diagnostic rows);
* ``bind(posterior, groups, group_index, column_scale)``: the rows ready to predict from that
  posterior (rows with new categories draw their parameters here, once per call; others are
  ready as they are);
* ``predict_into(threads, w0, w, V, out, chain)``: yhat (S, rows) for the S draws of chain
  ``chain`` through the prediction kernel that reads this kind of rows (a relational design is
  never expanded);
* ``matrix(name)``: the rows as a CSR matrix for an evaluation set (a relational design refuses,
  naming ``name``);
* ``to_state()`` and ``rows_from_state(state)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bayesfm.data.relational import RelationalData, stack_blocks
from bayesfm.data.scaling import column_scales, relational_scales, scale_columns
from bayesfm.data.validation import check_matrix
from bayesfm.sampler import execution
from bayesfm.sampler.design import FMData, RelationalFMData
from bayesfm.sampler.kernels import predict_draws_csr
from bayesfm.sampler.records import CSR
from bayesfm.sampler.records import RelationalRows as _RowsRecord
from bayesfm.sampler.relational import relational_predict_draws

__all__ = ["MatrixRows", "RelationalDataRows", "NewCategories", "NewCategoryRows", "rows_of",
           "rows_from_state", "new_column_scales", "block_row_columns",
           "with_folded_block_rows"]


class MatrixRows:
    """Rows of a design matrix (validated: CSR float64, n x p)."""

    def __init__(self, X):
        self.value = X

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def nnz(self) -> int:
        return int(self.value.nnz)

    def __getitem__(self, rows):
        return MatrixRows(self.value[rows])

    def default_groups(self):
        return None

    def column_scales(self, gidx) -> np.ndarray:
        return column_scales(self.value, gidx)

    def design(self, scale, gidx) -> FMData:
        return FMData.from_matrix(scale_columns(self.value, scale), gidx)

    def expand(self, rows) -> sp.csr_matrix:
        return self.value[rows]

    def bind(self, posterior, groups, group_index, column_scale):
        return self

    def predict_into(self, threads, w0, w, V, out, chain=0) -> None:
        execution.run(predict_draws_csr, threads, CSR.of(self.value), self.shape[0], w0, w, V,
                      out)

    def matrix(self, name) -> sp.csr_matrix:
        return self.value

    def to_state(self):
        return self.value


class RelationalDataRows:
    """Rows start..stop-1 of a ``RelationalData`` (validated), in the form the relational
    prediction kernel reads (``records.RelationalRows``, built on first use); sliced like a
    matrix without expanding it."""

    def __init__(self, rel: RelationalData):
        self.value = rel
        self.start, self.stop = 0, rel.n_rows
        self.shape = (rel.n_rows, rel.n_features)
        self._record = None

    @property
    def record(self) -> _RowsRecord:
        if self._record is None:
            D, mats, idx = self.value.parts()
            D = sp.csr_matrix(D)
            D.sort_indices()
            stacked, _, psi = stack_blocks(mats, idx, D.shape[0])
            self._record = _RowsRecord(CSR.of(D), CSR.of(stacked), psi, int(D.shape[1]))
        return self._record

    @property
    def nnz(self) -> int:
        rec = self.record
        return int(rec.direct.indices.shape[0] + rec.blocks.indices.shape[0])

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        sub = RelationalDataRows(self.value)
        sub._record = self.record
        sub.start, sub.stop = self.start + start, self.start + stop
        sub.shape = (stop - start, self.shape[1])
        return sub

    def default_groups(self) -> list:
        return self.value.default_groups()

    def column_scales(self, gidx) -> np.ndarray:
        return relational_scales(*self.value.parts(), gidx)

    def design(self, scale, gidx) -> RelationalFMData:
        direct, mats, idx = self.value.parts()
        p0 = direct.shape[1]
        offsets = np.cumsum([p0] + [M.shape[1] for M in mats])
        return RelationalFMData.from_parts(
            scale_columns(direct, scale[:p0]),
            [scale_columns(M, scale[a:b]) for M, a, b in zip(mats, offsets, offsets[1:])],
            idx, gidx)

    def expand(self, rows) -> sp.csr_matrix:
        return self.value.expand(np.asarray(rows) + self.start)

    def bind(self, posterior, groups, group_index, column_scale):
        return self

    def predict_into(self, threads, w0, w, V, out, chain=0) -> None:
        execution.run(relational_predict_draws, threads, self.record, self.start, self.stop,
                      w0, w, V, out)

    def matrix(self, name) -> sp.csr_matrix:
        raise TypeError(f"{name}: give a matrix (a relational design's rows: "
                        f"RelationalData.expand()), not RelationalData")

    def to_state(self) -> dict:
        return self.value.to_state()


class NewCategories:
    """Rows to predict whose last columns are categories the fit never saw (a new user, a new
    item): ``X`` (n, p + m), the p training columns first, then m new columns; ``groups`` (m,)
    the feature group (a label of the fitted ``groups_``) of each new column. ``X`` may also be
    a DataFrame (``groups`` None) for an estimator fitted on one: its categories unseen at fit
    are the new columns (``TableEncoder.transform_new``), which is also what a DataFrame passed
    as it is gets, with ``random_state`` 0.

    For a ``RelationalData`` ``X`` (the training columns only), ``new_rows`` says which block
    rows are new entities (a block's name or position -> its new row indices: a user who was
    not in training, with their side features and an all-zero id part): each gets a one-hot id
    column of its own (value 1) in the group ``groups[block]`` (a dict; default: the block's
    name), drawn from that group's prior in every row that points to it.

    A new category is a draw from its group's prior: for every kept draw s, its weight and
    factors are w ~ Normal(mu_w[g], 1/lambda_w[g]) and v_f ~ Normal(mu_v[g, f],
    1/lambda_v[g, f]) of that draw (what the posterior says of a column without data), in the
    units of the group's columns (its shared column scale), independently for every new column
    and shared by all rows of one call that hold it. Predictions are then averages over the
    draws as always, so their intervals widen by what the model does not know of the newcomer.
    ``random_state`` fixes those draws (default 0, so the same rows predict the same; None:
    fresh ones at every call)."""

    def __init__(self, X, groups=None, random_state=0, new_rows=None):
        self.X = X
        self.groups = groups
        self.random_state = random_state
        self.new_rows = new_rows


class NewCategoryRows:
    """Rows of known columns (``base``, protocol rows of p columns) with m new category columns
    ``new`` (CSR, n x m) in groups ``gidx`` (m,), whose parameters are drawn by ``bind``."""

    def __init__(self, base, new, gidx, labels, random_state, block_rows=None):
        self.base, self.new, self.gidx, self.labels = base, new, gidx, labels
        self.random_state = random_state
        self.block_rows = block_rows        # (m, 2) (block, row) of new block rows, or None
        self.shape = base.shape
        self.w_new = self.V_new = None
        self._hit = None                    # the rows holding new categories (``_hit_rows``)

    @property
    def nnz(self) -> int:
        return self.base.nnz + int(self.new.nnz)

    def __getitem__(self, rows):
        sub = NewCategoryRows(self.base[rows], self.new[rows], self.gidx, self.labels,
                              self.random_state, self.block_rows)
        sub.w_new, sub.V_new = self.w_new, self.V_new
        return sub

    def bind(self, posterior, groups, group_index, column_scale):
        """Draw the new columns' parameters from their groups' priors, every kept draw (user
        units: the fitted mu and lambda are in those of y, the group's shared column scale
        converts to those of the column)."""
        if self.w_new is not None:
            return self
        scale = new_column_scales(self.gidx, self.labels, group_index, column_scale)
        mu_w, lam_w = posterior.field("mu_w"), posterior.field("lambda_w")
        mu_v, lam_v = posterior.field("mu_v"), posterior.field("lambda_v")
        C, S = mu_w.shape[:2]
        m, k = self.gidx.shape[0], mu_v.shape[3]
        rng = np.random.default_rng(self.random_state)
        z_w = rng.standard_normal((C, S, m))
        z_v = rng.standard_normal((C, S, m, k))
        g = self.gidx
        bound = NewCategoryRows(self.base, self.new, g, self.labels, self.random_state,
                                self.block_rows)
        bound.w_new = (mu_w[:, :, g] + z_w / np.sqrt(lam_w[:, :, g])) / scale
        bound.V_new = ((mu_v[:, :, g, :] + z_v / np.sqrt(lam_v[:, :, g, :]))
                       / scale[:, None])
        return bound

    def predict_into(self, threads, w0, w, V, out, chain=0) -> None:
        """The known columns' yhat, plus for the rows holding new categories their linear
        terms, their pairwise terms and their interactions with the known columns:
        sum_j w_j x_j + <q_known, q_new> + (|q_new|^2 - sum_j |v_j|^2 x_j^2) / 2, with
        q = sum_j v_j x_j over the known or the new columns."""
        if self.w_new is None:
            raise RuntimeError("NewCategoryRows.predict_into before bind")
        self.base.predict_into(threads, w0, w, V, out, chain)
        hit, known, new, new_sq = self._hit_rows()
        if not hit.shape[0]:
            return
        w_new, V_new = self.w_new[chain], self.V_new[chain]
        for s in range(out.shape[0]):
            q_known = known @ V[s, :known.shape[1]]    # (V may hold folded columns after)
            q_new = new @ V_new[s]
            out[s, hit] += (new @ w_new[s] + np.sum(q_known * q_new, axis=1)
                            + 0.5 * (np.sum(q_new * q_new, axis=1)
                                     - new_sq @ np.sum(V_new[s] * V_new[s], axis=1)))

    def _hit_rows(self):
        """(rows holding a new category, their known columns (CSR), their new columns, those
        squared), made once (every chain's predictions use them)."""
        if self._hit is None:
            hit = np.flatnonzero(np.diff(self.new.indptr))
            new = self.new[hit]
            known = self.base.expand(hit) if hit.shape[0] else None
            self._hit = (hit, known, new, new.multiply(new).tocsr())
        return self._hit

    def expand(self, rows):
        raise TypeError("rows with NewCategories have no single matrix")

    def matrix(self, name):
        raise TypeError(f"{name}: give a matrix of the training columns, not NewCategories")

    def to_state(self):
        raise TypeError("rows with NewCategories are not saved")


def new_column_scales(gidx, labels, group_index, column_scale) -> np.ndarray:
    """The scale of each new column (m,): the one scale its group's fitted columns share
    (``gidx`` (m,) their groups, ``labels`` (m,) their group labels, for the message)."""
    scale = np.empty(gidx.shape[0])
    for j, g in enumerate(gidx):
        s = np.unique(column_scale[group_index == g])
        if s.shape[0] != 1:
            raise ValueError(f"NewCategories: group {labels[j]!r} is not a group of "
                             f"categories (its training columns have different scales, so "
                             f"a new column's scale is unknown); new columns belong to "
                             f"one-hot or multi-hot groups")
        scale[j] = s[0]
    return scale


def _new_block_rows(X: NewCategories, name, n_features, owner, group_labels):
    """NewCategoryRows of a RelationalData whose ``new_rows`` blocks rows are new entities."""
    rel = X.X
    if rel.n_features != n_features:
        raise ValueError(f"{name} has {rel.n_features} features, but {owner} is expecting "
                         f"{n_features} features as input")
    if not isinstance(X.new_rows, dict) or not X.new_rows:
        raise ValueError(f"{name}: NewCategories of a RelationalData needs new_rows, a dict "
                         f"block -> the block's new row indices")
    _, mats, idx = rel.parts()
    names = [block.name for block in rel.blocks]
    groups = X.groups if isinstance(X.groups, dict) else {}
    obs, cols, labels, block_rows = [], [], [], []
    for key, rows in X.new_rows.items():
        b = names.index(key) if key in names else key
        if not isinstance(b, (int, np.integer)) or not 0 <= b < len(mats):
            raise ValueError(f"{name}: new_rows names the block {key!r}, which is not one of "
                             f"{names}")
        label = groups.get(key, names[b] if names[b] is not None else f"block{b}")
        rows = np.unique(np.asarray(rows, dtype=np.int64).ravel())
        bad = rows[(rows < 0) | (rows >= mats[b].shape[0])]
        if bad.shape[0]:
            raise ValueError(f"{name}: new_rows[{key!r}] holds {int(bad[0])}, not a row of "
                             f"the block ({mats[b].shape[0]} rows)")
        hit = np.flatnonzero(np.isin(idx[b], rows))
        obs.append(hit)
        cols.append(len(labels) + np.searchsorted(rows, idx[b][hit]))
        labels += [label] * rows.shape[0]
        block_rows += [(b, int(r)) for r in rows]
    gidx = _group_indices(labels, group_labels, name)
    obs, cols = np.concatenate(obs), np.concatenate(cols)
    new = sp.csr_matrix((np.ones(obs.shape[0]), (obs, cols)), shape=(rel.n_rows, len(labels)))
    return NewCategoryRows(RelationalDataRows(rel), new, gidx, labels, X.random_state,
                           np.array(block_rows, dtype=np.int64).reshape(-1, 2))


def block_row_columns(rel: RelationalData, block_rows, n_columns: int) -> sp.csr_matrix:
    """The rows of ``rel`` as a CSR matrix (n x ``n_columns``) of one-hot id columns of block
    rows: ``block_rows`` (r, 3) holds (block, block row, column) triples; row i has a 1 in
    column c when its index into block b is that block row."""
    _, _, idx = rel.parts()
    obs, cols = [], []
    for b in np.unique(block_rows[:, 0]):
        mine = block_rows[block_rows[:, 0] == b]
        if b >= len(idx):
            continue
        order = np.argsort(mine[:, 1])
        rows, columns = mine[order, 1], mine[order, 2]
        hit = np.flatnonzero(np.isin(idx[b], rows))
        obs.append(hit)
        cols.append(columns[np.searchsorted(rows, idx[b][hit])])
    obs = np.concatenate(obs) if obs else np.zeros(0, np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    out = sp.csr_matrix((np.ones(obs.shape[0]), (obs, cols)), shape=(rel.n_rows, n_columns))
    out.sort_indices()
    return out


def with_folded_block_rows(rows, folded, posterior, group_index):
    """Rows to predict (bound, ``bind``) of a relational model with block rows folded in
    (``folded`` (r, 3): block, block row, column): rows that point to one of those block rows
    get its column, with the posterior's draws of it (``fold_in``); other rows as they are."""
    base = rows.base if isinstance(rows, NewCategoryRows) else rows
    if not isinstance(base, RelationalDataRows):
        return rows
    local = np.column_stack([folded[:, :2], np.arange(folded.shape[0])])
    extra = block_row_columns(base.value, local, folded.shape[0])
    if not extra.nnz:
        return rows
    cols = folded[:, 2]
    w_new = posterior.field("w")[:, :, cols]
    V_new = posterior.field("V")[:, :, cols, :]
    gidx, labels, new = group_index[cols], ["folded"] * cols.shape[0], extra
    if isinstance(rows, NewCategoryRows):
        new = sp.hstack([extra, rows.new], format="csr")
        w_new = np.concatenate([w_new, rows.w_new], axis=2)
        V_new = np.concatenate([V_new, rows.V_new], axis=2)
        gidx, labels = np.concatenate([gidx, rows.gidx]), labels + list(rows.labels)
    out = NewCategoryRows(base, new, gidx, labels, None)
    out.w_new, out.V_new = w_new, V_new
    return out


def _group_indices(labels, group_labels, name) -> np.ndarray:
    index = {lab: g for g, lab in enumerate(group_labels)}
    unknown = [lab for lab in labels if lab not in index]
    if unknown:
        raise ValueError(f"{name}: NewCategories groups {unknown} are not groups of the fit "
                         f"(groups_: {list(group_labels)})")
    return np.array([index[lab] for lab in labels], dtype=np.int64)


def _new_categories(X: NewCategories, name, n_features, owner, group_labels):
    if n_features is None or group_labels is None:
        raise TypeError(f"{name}: NewCategories are rows to predict after the fit, not "
                        f"training rows or evaluation sets (those hold the training columns "
                        f"only)")
    if isinstance(X.X, RelationalData):
        return _new_block_rows(X, name, n_features, owner, group_labels)
    M = check_matrix(X.X, f"{name}.X", owner=owner)
    labels = list(X.groups) if np.ndim(X.groups) == 1 else None
    m = M.shape[1] - n_features
    if labels is None or m < 1 or len(labels) != m:
        raise ValueError(f"{name}: NewCategories needs X with the {n_features} training columns "
                         f"then one column per new category, and groups with one label per new "
                         f"column; got X with {M.shape[1]} columns and "
                         f"{'no list of' if labels is None else len(labels)} group labels")
    gidx = _group_indices(labels, group_labels, name)
    M = M.tocsc()
    return NewCategoryRows(MatrixRows(M[:, :n_features].tocsr()), M[:, n_features:].tocsr(),
                           gidx, labels, X.random_state)


def rows_of(X, name: str = "X", n_features=None, owner: str = "the estimator",
            group_labels=None):
    """``X`` behind the protocol: rows as they are, a ``RelationalData``, ``NewCategories``
    (``group_labels``: the fitted ``groups_``), or anything ``data.validation.check_matrix``
    accepts (validated, ``n_features`` columns when given; errors name ``name`` and the
    estimator ``owner``)."""
    if isinstance(X, NewCategories):
        return _new_categories(X, name, n_features, owner, group_labels)
    if isinstance(X, (MatrixRows, RelationalDataRows, NewCategoryRows)):
        rows = X
    elif isinstance(X, RelationalData):
        rows = RelationalDataRows(X)
    else:
        return MatrixRows(check_matrix(X, name, n_features=n_features, owner=owner))
    if n_features is not None and rows.shape[1] != n_features:
        raise ValueError(f"{name} has {rows.shape[1]} features, but {owner} is expecting "
                         f"{n_features} features as input")
    return rows


def rows_from_state(state):
    """The rows ``to_state()`` described."""
    if isinstance(state, dict):
        return RelationalDataRows(RelationalData.from_state(state))
    return MatrixRows(state)
