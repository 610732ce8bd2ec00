"""``fold_in``: the parameters of the new categories that new rows bring (a new user with a few
ratings), drawn for every kept draw given that draw's other parameters, without refitting.

``prepare`` reads the rows (a DataFrame whose unseen categories become columns of their own,
``NewCategories`` of a matrix or of a ``RelationalData`` with ``new_rows``, or a matrix with
extra columns and their ``groups``) and their y;
``draw`` runs the sampler's fold-in chain (``sampler.foldin``) over every fitted chain and
returns the extended w and V in user units. The estimator then takes the new columns as its own
(``BaseFM.fold_in``). The approximation is the standard one: the fitted parameters do not see
the new rows (see ``docs/model.md``, "Folding in new rows", for when to refit instead).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bayesfm.data.scaling import scale_columns
from bayesfm.models._inputs import check_rows, is_frame
from bayesfm.models._rows import (
    MatrixRows,
    NewCategories,
    NewCategoryRows,
    block_row_columns,
    new_column_scales,
)
from bayesfm.sampler import execution
from bayesfm.sampler.colouring import balanced_order, colour_classes
from bayesfm.sampler.foldin import fold_in_chain
from bayesfm.sampler.records import CSR

__all__ = ["FoldIn", "prepare", "draw"]


@dataclass
class FoldIn:
    """What the rows to fold in bring: ``X`` (CSR, n x P: the model's p columns, then the m new
    ones; only rows that hold a new column), ``target`` (n,) y as the likelihood reads it,
    ``gidx`` (m,) and ``scale`` (m,) the new columns' groups and scales, ``names`` (m,) their
    feature names (or None), ``encoder`` the extended encoder (or None), ``block_rows`` (m, 2)
    the (block, row) of each new column of relational rows (or None), ``n_rows`` the rows
    folded in."""

    X: sp.csr_matrix
    target: np.ndarray
    gidx: np.ndarray
    scale: np.ndarray
    names: object
    encoder: object
    block_rows: object = None
    update_cols: object = None
    n_new_rows: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_updated(self) -> int:
        return 0 if self.update_cols is None else int(self.update_cols.shape[0])

    @property
    def m(self) -> int:
        return int(self.gidx.shape[0])


def prepare(model, X, y, groups=None, update=None) -> FoldIn:
    """The rows to fold in, checked (errors name the argument and the first bad row)."""
    owner = type(model).__name__
    p = model.n_features_in_
    encoder, names = None, None
    if isinstance(X, NewCategories) and is_frame(X.X):
        X = X.X
    if is_frame(X):
        if getattr(model, "encoder_", None) is None:
            raise TypeError(f"this {owner} was fitted on a matrix; fold in a matrix with its "
                            f"{p} columns then the new ones (and their groups), not a "
                            f"DataFrame")
        encoder = copy.deepcopy(model.encoder_)
        full, siblings, names = encoder.learn_new(X)
        labels = [model.groups_[model.group_index_[j]] for j in siblings]
        rows = NewCategoryRows(MatrixRows(full[:, :p]), full[:, p:].tocsr(),
                               model.group_index_[siblings], labels, 0)
        names = [str(name) for name in names]
    else:
        if groups is not None and not isinstance(X, NewCategories):
            X = NewCategories(X, groups)
        elif groups is not None:
            raise ValueError("fold_in: give the new columns' groups in NewCategories or as "
                             "groups, not both")
        rows = check_rows(owner, X, p, getattr(model, "encoder_", None),
                          fit_groups=(model.groups_, model.group_index_))
    if not isinstance(rows, NewCategoryRows):
        rows = NewCategoryRows(rows, sp.csr_matrix((rows.shape[0], 0)),
                               np.zeros(0, np.int64), [], 0)
    update_groups = _update_groups(model, update)
    if not rows.gidx.shape[0] and not update_groups.shape[0]:
        raise ValueError(f"fold_in: X brings no new category (no column beyond the model's "
                         f"{p}); fold_in draws the parameters of new users, items or other "
                         f"categories from their rows (a DataFrame with unseen categories, "
                         f"NewCategories, or a matrix with extra columns and their groups), "
                         f"and those of known ones of the groups named in update")
    n = rows.shape[0]
    if isinstance(rows.base, MatrixRows):
        known = rows.base.value
    else:                   # relational: the design's columns, then those folded in before
        known = _relational_known(model, rows)
    target = model.observation_.encode(y, n)
    scale = new_column_scales(rows.gidx, rows.labels, model.group_index_, model.column_scale_)
    full = sp.hstack([known, rows.new], format="csr")
    # known columns of the update groups that the rows hold (never those folded in before)
    P_train = model.column_scale_.shape[0] - len(getattr(model, "folded_features_", ()))
    in_groups = np.isin(model.group_index_[:P_train], update_groups)
    held = np.zeros(P_train, dtype=bool)
    held[np.unique(known.indices[known.indices < P_train])] = True
    update_cols = np.flatnonzero(in_groups & held).astype(np.int64)
    hit = np.diff(rows.new.indptr) > 0
    if update_cols.shape[0]:
        hit |= np.diff((known[:, update_cols]).tocsr().indptr) > 0
    if not hit.any():
        raise ValueError("fold_in: no row of X holds a new category" + (
            " or a known one of the groups in update" if update_groups.shape[0] else
            " (every new column is all zero)"))
    if not hit.all():
        first = int(np.flatnonzero(~hit)[0])
        what = ("neither a new category nor a known one of update's groups"
                if update_groups.shape[0] else "no new category")
        warnings.warn(f"fold_in: {int((~hit).sum())} of {n} rows hold {what} (the first: "
                      f"row {first}) and are left out (other known categories' parameters "
                      f"change only by a refit, or name their group in update)", UserWarning,
                      stacklevel=3)
        full, target = full[hit], target[hit]
    n_new_rows = int(full.shape[0])
    if update_cols.shape[0]:                 # the training rows of those columns join them
        Xt, yt = _training_rows(model, update_cols, full.shape[1], owner)
        full = sp.vstack([Xt, full], format="csr")
        target = np.concatenate([yt, target])
    full.sort_indices()
    return FoldIn(full, np.ascontiguousarray(target), rows.gidx, scale, names, encoder,
                  rows.block_rows, update_cols, n_new_rows)


def _update_groups(model, update) -> np.ndarray:
    """The group indices of the labels in ``update`` (None: none)."""
    if update is None:
        return np.zeros(0, np.int64)
    labels = [update] if isinstance(update, str) or np.ndim(update) == 0 else list(update)
    index = {lab: g for g, lab in enumerate(model.groups_)}
    unknown = [lab for lab in labels if lab not in index]
    if unknown:
        raise ValueError(f"fold_in: update names groups {unknown} that are not groups of the "
                         f"fit (groups_: {list(model.groups_)})")
    return np.array([index[lab] for lab in labels], dtype=np.int64)


def _training_rows(model, cols, n_columns: int, owner: str):
    """(the training rows holding one of the known columns ``cols`` (CSR, n_columns wide), their
    targets as the likelihood reads them)."""
    X = getattr(model, "X_train_", None)
    if X is None:
        raise ValueError(f"fold_in: update needs the training rows, which this {owner} does not "
                         f"hold (it was loaded from a file saved without chains=True)")
    if not sp.issparse(X):
        raise NotImplementedError("fold_in: update of known categories is available for fits "
                                  "on a matrix or a DataFrame, not on RelationalData yet")
    idx = np.unique(X.tocsc()[:, cols].indices)
    Xt = X[idx].tocsr()
    Xt.resize((idx.shape[0], n_columns))
    yt = model.observation_.encode(model.y_train_, X.shape[0])[idx]
    return Xt, yt


def _relational_known(model, rows) -> sp.csr_matrix:
    """The known columns of relational rows to fold in (n x P): the expanded design, then the
    columns of block rows folded in before (``folded_block_rows_``); new_rows that name one of
    those are refused."""
    rel = rows.base.value
    P = model.column_scale_.shape[0]
    before = getattr(model, "folded_block_rows_", np.zeros((0, 3), np.int64))
    again = [tuple(br) for br in rows.block_rows if
             np.any((before[:, 0] == br[0]) & (before[:, 1] == br[1]))]
    if again:
        b, r = again[0]
        raise ValueError(f"fold_in: new_rows names row {r} of block {b}, which was folded in "
                         f"before (it is a known entity now: give its rows without new_rows)")
    expanded = rel.expand(np.arange(rel.n_rows))
    folded = block_row_columns(rel, before, P)
    return sp.hstack([expanded, folded[:, expanded.shape[1]:]], format="csr")


def draw(post, observation, column_scale, group_index, fold: FoldIn, n_sweeps: int,
         n_first: int, random_state, n_threads=None):
    """(w (chains, draws, P), V (chains, draws, P, k)) in user units: the draws of ``post``
    (a ``Posterior`` of a fit with ``observation``, ``column_scale`` and ``group_index`` (p,))
    with the m new columns' fold-in draws appended (P = p + m), and those of the known columns
    ``fold.update_cols`` replaced by theirs."""
    p, m = column_scale.shape[0], fold.m
    upd = fold.update_cols if fold.update_cols is not None else np.zeros(0, np.int64)
    keep = np.ones(p)
    keep[upd] = 0.0
    known = (fold.X[:, :p] @ sp.diags(keep)).tocsr()         # the columns held fixed
    known.eliminate_zeros()
    known.sort_indices()
    scale = np.concatenate([column_scale[upd], fold.scale])  # the updated columns' scales
    new = scale_columns(sp.hstack([fold.X[:, upd], fold.X[:, p:]], format="csr"), scale)
    new.sort_indices()
    new_cols = new.tocsc()
    new_cols.sort_indices()
    u = new.shape[1]
    colsq = np.asarray(new_cols.multiply(new_cols).sum(axis=0), dtype=np.float64).ravel()
    order, cptr = colour_classes(new_cols.indptr, new_cols.indices, new.indptr, new.indices, u)
    order = balanced_order(order, cptr)
    w0, w, V = post.field("w0"), post.field("w"), post.field("V")
    C, S = w0.shape
    k = V.shape[3]
    mu_w, lam_w = post.field("mu_w"), post.field("lambda_w")
    mu_v, lam_v = post.field("mu_v"), post.field("lambda_v")
    alpha = post.field("alpha") if "alpha" in post.names else np.ones((C, S))
    latent = bool(observation.probit)
    cls = fold.target.astype(np.int64) if latent else np.zeros(0, np.int64)
    if "cutpoints" in post.names:
        cuts = post.field("cutpoints")
        bounds = np.concatenate([np.full((C, S, 1), -np.inf), cuts,
                                 np.full((C, S, 1), np.inf)], axis=2)
    else:
        bounds = np.tile(np.array([-np.inf, 0.0, np.inf]), (C, S, 1))
    g = fold.gidx
    ug = np.concatenate([group_index[upd], g]).astype(np.int64)
    Wn = np.empty((C, S, u))
    Vn = np.empty((C, S, u, k))
    records = (CSR.of(known), CSR.of(new), CSR.of(new_cols), colsq, ug, order, cptr)
    seeds = np.random.SeedSequence(random_state).spawn(C)
    work = (n_sweeps * new.nnz + known.nnz + new.nnz) * (k + 1)       # of one draw's loops
    r = upd.shape[0]
    with execution.budget(execution.resolve_n_threads(n_threads)):
        threads = execution.threads_for(work)
        for c in range(C):
            rng = np.random.default_rng(seeds[c])
            # known columns start from their draw, new ones from a draw of their prior
            Wn[c, 0, :r] = w[c, 0, upd] * column_scale[upd]
            Vn[c, 0, :r] = V[c, 0, upd] * column_scale[upd, None]
            Wn[c, 0, r:] = mu_w[c, 0, g] + rng.standard_normal(m) / np.sqrt(lam_w[c, 0, g])
            Vn[c, 0, r:] = mu_v[c, 0, g] + rng.standard_normal((m, k)) / np.sqrt(lam_v[c, 0, g])
            target = (np.zeros(fold.n_rows) if latent
                      else np.asarray(fold.target, dtype=np.float64).copy())
            c_ = np.ascontiguousarray
            execution.run(fold_in_chain, threads, rng, *records, target, latent, cls,
                          c_(bounds[c]), c_(w0[c]), c_(w[c]), c_(V[c]), c_(alpha[c]),
                          c_(mu_w[c]), c_(lam_w[c]), c_(mu_v[c]), c_(lam_v[c]), Wn[c], Vn[c],
                          n_first, n_sweeps)
    Wn /= scale
    Vn /= scale[:, None]
    w_out = np.concatenate([w, Wn[:, :, r:]], axis=2)
    V_out = np.concatenate([V, Vn[:, :, r:]], axis=2)
    w_out[:, :, upd] = Wn[:, :, :r]
    V_out[:, :, upd] = Vn[:, :, :r]
    return w_out, V_out
