"""Relational design matrices (Rendle 2013; myFM's RelationBlock): repeated blocks given once.

A ratings design often repeats the same rows: every rating of user u carries u's side features
and u's implicit-feedback block. ``RelationalData`` holds the direct part ``X_direct`` (n x p0,
may have no columns) and blocks ``B_b`` (m_b x p_b) with an index ``psi_b`` (n,) saying which
block row each observation uses. The design it stands for is

    X = [X_direct | B_1[psi_1] | B_2[psi_2] | ...]      (n x (p0 + p_1 + p_2 + ...))

with the features in that order. The sampler never builds X: its cost per sweep is
O(k (nnz(X_direct) + sum_b nnz(B_b) + n * blocks)) instead of O(k nnz(X)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from bayesfm.data.validation import check_matrix

__all__ = ["RelationBlock", "RelationalData", "stack_blocks"]


@dataclass
class RelationBlock:
    """One repeated block: ``matrix`` (m x p_b; dense or sparse) and ``index`` (n,), the block
    row of every observation. ``name`` labels the block (default group label of its columns)."""

    matrix: object
    index: object
    name: str | None = None


@dataclass
class RelationalData:
    """``X_direct`` (n x p0, dense, sparse or None) and a list of ``RelationBlock``.

    ``groups`` (optional, p,) labels every feature of the full design; by default the direct
    columns form group "direct" and each block's columns the group named after the block
    ("block0", "block1", ... when unnamed).
    """

    X_direct: object = None
    blocks: list = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.blocks, (list, tuple)) or not all(
                isinstance(b, RelationBlock) for b in self.blocks):
            raise TypeError("blocks must be a list of RelationBlock")
        n = None
        mats, idxs = [], []
        for k, block in enumerate(self.blocks):
            M = check_matrix(block.matrix, f"blocks[{k}].matrix")
            index = np.asarray(block.index)
            if index.ndim != 1:
                raise ValueError(f"blocks[{k}].index must be 1-d, got shape {index.shape}")
            if index.size and not np.issubdtype(index.dtype, np.integer):
                raise TypeError(f"blocks[{k}].index must hold integers, got {index.dtype}")
            if n is None:
                n = index.shape[0]
            elif index.shape[0] != n:
                raise ValueError(f"blocks[{k}].index has {index.shape[0]} rows, blocks[0] "
                                 f"has {n}")
            bad = np.flatnonzero((index < 0) | (index >= M.shape[0]))
            if bad.size:
                raise ValueError(f"blocks[{k}].index[{bad[0]}] = {index[bad[0]]} is not a row "
                                 f"of blocks[{k}].matrix ({M.shape[0]} rows)")
            mats.append(M)
            idxs.append(index.astype(np.int64))
        if self.X_direct is not None:
            D = check_matrix(self.X_direct, "X_direct") if not (
                sp.issparse(self.X_direct) and self.X_direct.shape[1] == 0) else \
                sp.csr_matrix(self.X_direct, dtype=np.float64)
            if n is not None and D.shape[0] != n:
                raise ValueError(f"X_direct has {D.shape[0]} rows but the block indices have {n}")
            n = D.shape[0]
        else:
            if n is None:
                raise ValueError("RelationalData needs X_direct or at least one block")
            D = sp.csr_matrix((n, 0))
        if n == 0:
            raise ValueError("RelationalData has no rows")
        self._direct = D
        self._mats = mats
        self._idx = idxs

    @property
    def n_rows(self) -> int:
        return int(self._direct.shape[0])

    @property
    def n_features(self) -> int:
        return int(self._direct.shape[1] + sum(M.shape[1] for M in self._mats))

    @property
    def shape(self):
        return (self.n_rows, self.n_features)

    def default_groups(self) -> list:
        """Group label per feature: "direct" for X_direct, the block's name for its columns."""
        labels = ["direct"] * self._direct.shape[1]
        for k, (block, M) in enumerate(zip(self.blocks, self._mats)):
            labels += [block.name if block.name is not None else f"block{k}"] * M.shape[1]
        return labels

    def expand(self, rows=None) -> sp.csr_matrix:
        """The full design X (or its ``rows``) as a CSR matrix; for tests and prediction."""
        sel = slice(None) if rows is None else np.asarray(rows)
        parts = [self._direct[sel]]
        for M, index in zip(self._mats, self._idx):
            parts.append(M[index[sel]])
        return sp.hstack(parts, format="csr", dtype=np.float64)

    def parts(self):
        """(X_direct CSR, [block matrices CSR], [indices int64]) as validated."""
        return self._direct, self._mats, self._idx

    def to_state(self) -> dict:
        """The validated parts as plain values and sparse matrices (``from_state`` inverts)."""
        return {"direct": self._direct,
                "blocks": [{"matrix": M, "index": index, "name": block.name}
                           for M, index, block in zip(self._mats, self._idx, self.blocks)]}

    @classmethod
    def from_state(cls, state: dict) -> "RelationalData":
        return cls(state["direct"], [RelationBlock(b["matrix"], b["index"], b["name"])
                                     for b in state["blocks"]])


def stack_blocks(mats, indices, n_rows: int):
    """The blocks of a relational design stacked, as the sampler and the prediction read them:
    ``(stacked, roff, psi)`` with ``stacked`` the block-diagonal CSR matrix of the block
    matrices (M x sum p_b; block b's rows start at ``roff[b]``, its columns at the sum of the
    earlier blocks' widths; duplicates summed, indices sorted), ``roff`` (B + 1,) int64 and
    ``psi`` (B, n_rows) int64, the global (stacked) block row of every observation in every
    block."""
    mats = [sp.csr_matrix(M, dtype=np.float64) for M in mats]
    stacked = sp.block_diag(mats, format="csr") if mats else sp.csr_matrix((0, 0))
    stacked = sp.csr_matrix(stacked, dtype=np.float64)
    stacked.sum_duplicates()
    stacked.sort_indices()
    roff = np.concatenate([[0], np.cumsum([M.shape[0] for M in mats])]).astype(np.int64)
    psi = np.zeros((len(mats), n_rows), dtype=np.int64)
    for b, index in enumerate(indices):
        psi[b] = np.asarray(index, dtype=np.int64) + roff[b]
    return stacked, roff, psi
