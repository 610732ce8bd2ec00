"""``python -m bayesfm.demo``: a small end-to-end fit that prints the RMSE and an interval.

Uses MovieLens-100k (split u1) when it can be found (``$BAYESFM_DATA``), otherwise a simulated
ratings set drawn from a known FM; it says which.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

from bayesfm import FMRegressor


def simulated_ratings(n_users=300, n_items=200, n_ratings=20000, rank=3, seed=0):
    """Ratings from a known FM on user and item one-hot features, on a 1..5-like scale."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_ratings)
    items = rng.integers(0, n_items, n_ratings)
    U = rng.normal(0, 0.5, (n_users, rank))
    W = rng.normal(0, 0.5, (n_items, rank))
    bu = rng.normal(0, 0.3, n_users)
    bi = rng.normal(0, 0.3, n_items)
    y = 3.5 + bu[users] + bi[items] + np.sum(U[users] * W[items], axis=1) \
        + rng.normal(0, 0.8, n_ratings)
    X = sp.csr_matrix((np.ones(2 * n_ratings),
                       np.stack([users, n_users + items], axis=1).ravel(),
                       np.arange(0, 2 * n_ratings + 1, 2)), shape=(n_ratings, n_users + n_items))
    groups = ["user"] * n_users + ["item"] * n_items
    cut = int(0.8 * n_ratings)
    return X[:cut], y[:cut], X[cut:], y[cut:], groups


def main(argv=None, download: bool = False) -> int:
    try:
        from bayesfm.datasets import load_movielens_100k

        d = load_movielens_100k(split="u1", side_info=False, implicit=False,
                                download=download)
        source = "MovieLens-100k, split u1 (user + item one-hot)"
        Xtr, ytr, Xte, yte, groups = d.X_train, d.y_train, d.X_test, d.y_test, d.groups
        rank, n_iter = 10, 200
    except (FileNotFoundError, ValueError) as exc:
        source = f"simulated ratings ({exc})"
        Xtr, ytr, Xte, yte, groups = simulated_ratings()
        rank, n_iter = 4, 200
    print(f"data: {source}")
    print(f"train rows {Xtr.shape[0]}, test rows {Xte.shape[0]}, features {Xtr.shape[1]}")
    t = time.perf_counter()
    model = FMRegressor(rank=rank, n_iter=n_iter, n_burn=50, random_state=0)
    model.fit(Xtr, ytr, groups=groups)
    fit_s = time.perf_counter() - t
    pred = model.predict(Xte)
    interval = model.predict_interval(Xte, level=0.9)
    rmse = float(np.sqrt(np.mean((pred - yte) ** 2)))
    coverage = float(np.mean((yte >= interval[:, 0]) & (yte <= interval[:, 1])))
    print(f"fit: rank {rank}, {n_iter} sweeps, {model.n_draws_} kept draws, {fit_s:.1f} s "
          f"(includes Numba compilation on the first run)")
    print(f"test RMSE: {rmse:.4f}")
    print(f"90% predictive interval coverage on test: {coverage:.3f}")
    print(f"first test row: y = {yte[0]:.2f}, prediction {pred[0]:.2f}, "
          f"90% interval [{interval[0, 0]:.2f}, {interval[0, 1]:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
