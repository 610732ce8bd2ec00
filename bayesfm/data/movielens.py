"""MovieLens-100k: find the files and build ids-only design matrices for its predefined splits.

The data is never shipped with bayesfm (its licence forbids redistribution). It is found, in
order, at the ``path`` argument or under the directory named by the environment variable
``BAYESFM_DATA`` (which holds an ``ml-100k/`` folder with the GroupLens files).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["RatingsData", "find_movielens_100k", "load_movielens_100k", "DATA_ENV"]

DATA_ENV = "BAYESFM_DATA"
N_USERS = 943
N_ITEMS = 1682
SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


@dataclass
class RatingsData:
    """A train/test split ready for ``fit``.

    ``X_train`` (n_train, p) and ``X_test`` (n_test, p) are CSR matrices; ``y_*`` the ratings;
    ``groups`` (p,) a group label per column; ``feature_names`` (p,) a name per column.
    """

    X_train: sp.csr_matrix
    y_train: np.ndarray
    X_test: sp.csr_matrix
    y_test: np.ndarray
    groups: np.ndarray
    feature_names: np.ndarray


def find_movielens_100k(path=None) -> Path:
    """The ``ml-100k`` directory: ``path`` itself or ``path/ml-100k``, else under $BAYESFM_DATA.

    Raises FileNotFoundError saying where it looked.
    """
    candidates = []
    if path is not None:
        candidates += [Path(path), Path(path) / "ml-100k"]
    env = os.environ.get(DATA_ENV)
    if env:
        candidates += [Path(env) / "ml-100k", Path(env)]
    for c in candidates:
        if (c / "u1.base").is_file() and (c / "u.data").is_file():
            return c
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise FileNotFoundError(
        f"MovieLens-100k not found (looked in: {where}). Pass path= or set {DATA_ENV} to a "
        f"directory holding ml-100k/ (the GroupLens files u.data, u1.base, ...).")


def _read_ratings(file: Path) -> np.ndarray:
    arr = np.loadtxt(file, dtype=np.int64, delimiter="\t", ndmin=2)
    if arr.shape[1] != 4:
        raise ValueError(f"{file}: expected 4 tab-separated columns, got {arr.shape[1]}")
    return arr


def _ids_design(ratings: np.ndarray) -> sp.csr_matrix:
    n = ratings.shape[0]
    users = ratings[:, 0] - 1
    items = ratings[:, 1] - 1
    if users.min() < 0 or users.max() >= N_USERS or items.min() < 0 or items.max() >= N_ITEMS:
        raise ValueError("user or item id out of the MovieLens-100k range")
    indptr = np.arange(0, 2 * n + 1, 2)
    indices = np.stack([users, N_USERS + items], axis=1).ravel()
    return sp.csr_matrix((np.ones(2 * n), indices, indptr), shape=(n, N_USERS + N_ITEMS))


def load_movielens_100k(path=None, split: str = "u1") -> RatingsData:
    """Load a predefined split (u1..u5, ua, ub) as user one-hot + item one-hot matrices.

    Columns 0..942 are users 1..943 (group "user"), columns 943..2624 items 1..1682
    (group "item").
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = find_movielens_100k(path)
    train = _read_ratings(root / f"{split}.base")
    test = _read_ratings(root / f"{split}.test")
    groups = np.array(["user"] * N_USERS + ["item"] * N_ITEMS)
    names = np.array([f"user={u}" for u in range(1, N_USERS + 1)]
                     + [f"item={i}" for i in range(1, N_ITEMS + 1)])
    return RatingsData(
        X_train=_ids_design(train), y_train=train[:, 2].astype(np.float64),
        X_test=_ids_design(test), y_test=test[:, 2].astype(np.float64),
        groups=groups, feature_names=names,
    )
