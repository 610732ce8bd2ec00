"""MovieLens-100k: find the files and build ids-only design matrices for its predefined splits.

The data is never shipped with bayesfm (its licence forbids redistribution). It is found, in
order, at the ``path`` argument, under the directory named by the environment variable
``BAYESFM_DATA`` (which holds an ``ml-100k/`` folder with the GroupLens files), or in the cache
directory (``$BAYESFM_CACHE``, default ``~/.cache/bayesfm``). With ``download=True`` a missing
copy is fetched from GroupLens into the cache: the official zip is downloaded and unpacked into
a temporary folder, the MD5 of ``u.data`` is checked, and only then is the folder renamed into
place (an interrupted or corrupt download leaves nothing behind).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["RatingsData", "RelationalRatings", "find_movielens_100k", "load_movielens_100k",
           "fetch_movielens_100k", "DATA_ENV", "CACHE_ENV"]

DATA_ENV = "BAYESFM_DATA"
CACHE_ENV = "BAYESFM_CACHE"
MOVIELENS_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
#: MD5 of ml-100k/u.data in the GroupLens release (100,000 ratings)
U_DATA_MD5 = "6e47046882bad158b0efbb84cd5cb987"
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


def cache_dir() -> Path:
    """Where downloaded datasets live: $BAYESFM_CACHE, else ~/.cache/bayesfm."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "bayesfm"


def _md5(file: Path) -> str:
    h = hashlib.md5()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_movielens_100k(cache=None, url: str = MOVIELENS_100K_URL, timeout: float = 60.0) -> Path:
    """Download and unpack MovieLens-100k into ``cache`` (default ``cache_dir()``); returns the
    ``ml-100k`` folder. Checks the MD5 of ``u.data``; raises FileNotFoundError when the download
    fails (no network) and ValueError when the checksum does not match."""
    root = Path(cache) if cache is not None else cache_dir()
    dest = root / "ml-100k"
    if (dest / "u.data").is_file() and _md5(dest / "u.data") == U_DATA_MD5:
        return dest
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        archive = work / "ml-100k.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except (urllib.error.URLError, OSError) as exc:
            raise FileNotFoundError(f"could not download MovieLens-100k from {url}: {exc}; "
                                    f"set {DATA_ENV} or pass path=") from None
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(work / "unpacked")
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{url}: not a valid zip archive ({exc})") from None
        unpacked = work / "unpacked" / "ml-100k"
        if not (unpacked / "u.data").is_file():
            raise ValueError(f"{url}: the archive has no ml-100k/u.data")
        digest = _md5(unpacked / "u.data")
        if digest != U_DATA_MD5:
            raise ValueError(f"{url}: checksum mismatch for u.data (md5 {digest}, expected "
                             f"{U_DATA_MD5}); the download was discarded")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(unpacked, dest)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_movielens_100k(path=None, download: bool = False) -> Path:
    """The ``ml-100k`` directory: ``path`` itself or ``path/ml-100k``, else under $BAYESFM_DATA,
    else in the cache; with ``download`` a missing copy is fetched into the cache.

    Raises FileNotFoundError saying where it looked.
    """
    candidates = []
    if path is not None:
        candidates += [Path(path), Path(path) / "ml-100k"]
    env = os.environ.get(DATA_ENV)
    if env:
        candidates += [Path(env) / "ml-100k", Path(env)]
    candidates.append(cache_dir() / "ml-100k")
    for c in candidates:
        if (c / "u1.base").is_file() and (c / "u.data").is_file():
            return c
    if download:
        return fetch_movielens_100k()
    where = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"MovieLens-100k not found (looked in: {where}). Pass path=, set {DATA_ENV} to a "
        f"directory holding ml-100k/ (the GroupLens files u.data, u1.base, ...), or use "
        f"download=True.")


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


@dataclass
class RelationalRatings:
    """A split in relational form (``bayesfm.data.relational.RelationalData`` for train and
    test): a user block and an item block, each row holding the entity's one-hot id, its side
    information and its implicit feedback; ``feature_names`` and ``groups`` (one label per
    feature: user, user_age, user_gender, user_occupation, user_zip, user_implicit, item,
    item_genre, item_year, item_implicit)."""

    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    groups: np.ndarray
    feature_names: np.ndarray


def _one_hot(codes: np.ndarray, n_cols: int) -> sp.csr_matrix:
    n = codes.shape[0]
    return sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_cols))


def _codes(values):
    uniq, inv = np.unique(np.asarray(values), return_inverse=True)
    return inv, [str(u) for u in uniq]


def _implicit(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """Normalised multi-hot: row r holds 1/sqrt(|N(r)|) for each distinct c in N(r) (the
    SVD++ normalisation of Koren 2008, as libFM's and myFM's implicit-feedback examples)."""
    M = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n_rows, n_cols))
    M.sum_duplicates()
    M.data[:] = 1.0
    counts = np.asarray(M.sum(axis=1)).ravel()
    scale = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
    return sp.csr_matrix(sp.diags(scale) @ M)


def _side_blocks(root: Path, train: np.ndarray, side_info: bool, implicit: bool):
    """User and item block matrices with their feature names and group labels."""
    u_parts = [sp.identity(N_USERS, format="csr")]
    u_names = [f"user={u}" for u in range(1, N_USERS + 1)]
    u_groups = ["user"] * N_USERS
    i_parts = [sp.identity(N_ITEMS, format="csr")]
    i_names = [f"item={i}" for i in range(1, N_ITEMS + 1)]
    i_groups = ["item"] * N_ITEMS
    if side_info:
        users = [line.split("|") for line in
                 (root / "u.user").read_text(encoding="latin-1").splitlines() if line]
        if len(users) != N_USERS:
            raise ValueError(f"{root / 'u.user'}: expected {N_USERS} users, got {len(users)}")
        age = np.array([int(u[1]) for u in users])
        bins = np.digitize(age, [18, 25, 35, 45, 50, 56])
        for label, values in (("user_age", [f"age<{[18, 25, 35, 45, 50, 56, 999][b]}"
                                            for b in bins]),
                              ("user_gender", [u[2] for u in users]),
                              ("user_occupation", [u[3] for u in users]),
                              ("user_zip", [u[4][:1] for u in users])):
            codes, cats = _codes(values)
            u_parts.append(_one_hot(codes, len(cats)))
            u_names += [f"{label}={c}" for c in cats]
            u_groups += [label] * len(cats)
        items = [line.split("|") for line in
                 (root / "u.item").read_text(encoding="latin-1").splitlines() if line]
        if len(items) != N_ITEMS:
            raise ValueError(f"{root / 'u.item'}: expected {N_ITEMS} items, got {len(items)}")
        genres = np.array([[int(g) for g in it[5:24]] for it in items], dtype=np.float64)
        gsum = genres.sum(axis=1, keepdims=True)
        genres = np.divide(genres, gsum, out=np.zeros_like(genres), where=gsum > 0)
        i_parts.append(sp.csr_matrix(genres))
        i_names += [f"item_genre={g}" for g in range(19)]
        i_groups += ["item_genre"] * 19
        years = [it[2][-4:] if it[2] else "" for it in items]
        decade = [f"{y[:3]}0s" if y.isdigit() else "unknown" for y in years]
        codes, cats = _codes(decade)
        i_parts.append(_one_hot(codes, len(cats)))
        i_names += [f"item_year={c}" for c in cats]
        i_groups += ["item_year"] * len(cats)
    if implicit:
        users, items = train[:, 0] - 1, train[:, 1] - 1
        u_parts.append(_implicit(users, items, N_USERS, N_ITEMS))
        u_names += [f"user_implicit=item{i}" for i in range(1, N_ITEMS + 1)]
        u_groups += ["user_implicit"] * N_ITEMS
        i_parts.append(_implicit(items, users, N_ITEMS, N_USERS))
        i_names += [f"item_implicit=user{u}" for u in range(1, N_USERS + 1)]
        i_groups += ["item_implicit"] * N_USERS
    U = sp.hstack(u_parts, format="csr")
    Itm = sp.hstack(i_parts, format="csr")
    return U, Itm, u_names + i_names, u_groups + i_groups


def load_movielens_100k(path=None, split: str = "u1", side_info: bool = True,
                        implicit: bool = True, download: bool = False):
    """Load a predefined split (u1..u5, ua, ub).

    With ``side_info`` and ``implicit`` both False: user one-hot + item one-hot ("ids only")
    CSR matrices in a ``RatingsData`` (columns 0..942 users 1..943, group "user"; 943..2624 items
    1..1682, group "item").

    With either True (the default: both): a ``RelationalRatings`` whose X are
    ``RelationalData`` with a user block (one-hot id; with ``side_info`` age bracket, gender,
    occupation and first zip digit one-hot; with ``implicit`` the items the user rated in the
    training split, each 1/sqrt|N(u)|) and an item block (one-hot id; genres normalised to sum 1
    and release decade; the users who rated the item in the training split, each 1/sqrt|N(i)|).
    Implicit feedback comes from the training split only, so nothing of the test split is used.
    ``download``: fetch into the cache if missing (see ``fetch_movielens_100k``).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = find_movielens_100k(path, download=download)
    train = _read_ratings(root / f"{split}.base")
    test = _read_ratings(root / f"{split}.test")
    if side_info or implicit:
        from bayesfm.data.relational import RelationalData, RelationBlock

        U, Itm, names, groups = _side_blocks(root, train, side_info, implicit)

        def relational(r):
            return RelationalData(None, [RelationBlock(U, r[:, 0] - 1, "user_block"),
                                         RelationBlock(Itm, r[:, 1] - 1, "item_block")])

        return RelationalRatings(
            X_train=relational(train), y_train=train[:, 2].astype(np.float64),
            X_test=relational(test), y_test=test[:, 2].astype(np.float64),
            groups=np.array(groups), feature_names=np.array(names))
    groups = np.array(["user"] * N_USERS + ["item"] * N_ITEMS)
    names = np.array([f"user={u}" for u in range(1, N_USERS + 1)]
                     + [f"item={i}" for i in range(1, N_ITEMS + 1)])
    return RatingsData(
        X_train=_ids_design(train), y_train=train[:, 2].astype(np.float64),
        X_test=_ids_design(test), y_test=test[:, 2].astype(np.float64),
        groups=groups, feature_names=names,
    )
