#!/usr/bin/env python
"""New users and items: coverage and RMSE of predictions for categories the fit never saw.

Data: all 100,000 MovieLens-100k ratings (``u.data``). ``--new-users`` (10%) of the users and
``--new-items`` (5%) of the items are held out of training entirely (seeded); of the other
ratings, ``--test-share`` (10%) are held out as test rows of seen users and items. Test rows are
reported by kind: *new user* (held-out user, seen item), *new item* (seen user, held-out item),
*both new*, and *seen*.

Model: ``FMRegressor``, user and item one-hot, rank ``--rank`` (10), ``--n-iter`` sweeps (200,
``n_burn`` half of them), ``--chains`` chains (4), seed 0. Paths, each on the same fit where
they share one:

    matrix      one column for every user and item, the held-out ones included (columns without
                training rows keep drawing from their group's prior: the Bayesian answer)
    frame       a DataFrame fitted through TableEncoder(categorical=["user", "item"]): the
                held-out users and items are categories unseen at fit, predicted as draws from
                their group's prior (``bayesfm.NewCategories``, what a frame gets by default)
    frame-drop  the same fit, predicted with the unseen categories left out (w = 0, v = 0:
                ``encoder_.transform``; the behaviour before new categories were drawn)

Printed per path and kind: rows, RMSE of ``predict``, coverage and mean width of the 90%
predictive interval. Targets of the new-categories issue: 90% coverage between 0.88 and 0.92
for new users and new items through the frame path; new-user RMSE through the frame path no
worse than through the matrix path.

Fold-in (``--fold-shares``, default 0.1; ``--fold-shares ""`` skips it): for each share, that
share of the users (seeded) is held out of a frame fit on all other ratings; each held-out
user's earlier half of ratings (by timestamp) is folded in (``fold_in``), the later half is
evaluated. Printed: RMSE, 90% coverage and width on the later halves with the prior draws (before
folding), after ``fold_in``, and after a full refit on the training and folded rows together (the
same settings), with the seconds of ``fold_in`` and of the refit. Targets of the fold-in issue
(the first share): RMSE within 0.01 of the refit, coverage between 0.88 and 0.92, ``fold_in`` at
least 10 times faster than the refit. More shares show when a refit pays off.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_cold_start.py [--chains 4] [--json out]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import Col, cpu_model, table  # noqa: E402

KINDS = ("new user", "new item", "both new", "seen")


def split(ratings, new_users: float, new_items: float, test_share: float, seed: int):
    """(train rows, test rows, kind of every test row) of ``ratings`` (n, 4) user item y t."""
    rng = np.random.default_rng(seed)
    users, items = np.unique(ratings[:, 0]), np.unique(ratings[:, 1])
    held_u = rng.choice(users, int(round(new_users * users.size)), replace=False)
    held_i = rng.choice(items, int(round(new_items * items.size)), replace=False)
    nu, ni = np.isin(ratings[:, 0], held_u), np.isin(ratings[:, 1], held_i)
    seen = np.flatnonzero(~nu & ~ni)
    test_seen = rng.choice(seen, int(round(test_share * seen.size)), replace=False)
    train = np.setdiff1d(seen, test_seen)
    test = np.concatenate([np.flatnonzero(nu & ~ni), np.flatnonzero(~nu & ni),
                           np.flatnonzero(nu & ni), test_seen])
    kind = np.concatenate([np.full((nu & ~ni).sum(), 0), np.full((~nu & ni).sum(), 1),
                           np.full((nu & ni).sum(), 2), np.full(test_seen.size, 3)])
    return ratings[train], ratings[test], kind


def one_hot(r, n_users: int, n_items: int) -> sp.csr_matrix:
    n = r.shape[0]
    U = sp.csr_matrix((np.ones(n), (np.arange(n), r[:, 0] - 1)), shape=(n, n_users))
    Im = sp.csr_matrix((np.ones(n), (np.arange(n), r[:, 1] - 1)), shape=(n, n_items))
    return sp.hstack([U, Im], format="csr")


def scores(pred, iv, y, kind) -> list:
    out = []
    for k, name in enumerate(KINDS):
        sel = kind == k
        if not sel.any():
            out.append((name, 0, None, None, None))
            continue
        inside = (y[sel] >= iv[sel, 0]) & (y[sel] <= iv[sel, 1])
        out.append((name, int(sel.sum()), float(np.sqrt(np.mean((pred[sel] - y[sel]) ** 2))),
                    float(inside.mean()), float(np.mean(iv[sel, 1] - iv[sel, 0]))))
    return out


def fold_in_study(ratings, share: float, kw: dict, seed: int) -> dict:
    """Fit on the users not held out, fold in the held-out users' earlier halves, evaluate on
    their later halves; the same with a refit (see the module docstring)."""
    import pandas as pd

    from bayesfm import FMRegressor
    from bayesfm.data.encoders import TableEncoder

    rng = np.random.default_rng(seed + 1)
    users = np.unique(ratings[:, 0])
    held = np.isin(ratings[:, 0], rng.choice(users, int(round(share * users.size)),
                                             replace=False))
    order = np.lexsort((ratings[:, 3], ratings[:, 0]))          # by user, then time
    r = ratings[order]
    held = held[order]
    rank_in_user = np.arange(len(r)) - np.searchsorted(r[:, 0], r[:, 0])
    count = np.bincount(r[:, 0])[r[:, 0]]
    early = held & (rank_in_user < count // 2)
    late = held & ~early
    frame = pd.DataFrame({"user": r[:, 0], "item": r[:, 1]})
    y = r[:, 2].astype(float)

    def model():
        return FMRegressor(encoder=TableEncoder(categorical=["user", "item"]), **kw)

    def evaluate(m):
        pred, iv = m.predict(frame[late]), m.predict_interval(frame[late], 0.9)
        yl = y[late]
        return {"RMSE": float(np.sqrt(np.mean((pred - yl) ** 2))),
                "coverage": float(np.mean((yl >= iv[:, 0]) & (yl <= iv[:, 1]))),
                "width": float(np.mean(iv[:, 1] - iv[:, 0]))}

    start = time.perf_counter()
    fitted = model().fit(frame[~held], y[~held])
    t_fit = time.perf_counter() - start
    out = {"share": share, "train rows": int((~held).sum()), "folded rows": int(early.sum()),
           "evaluated rows": int(late.sum()), "fit seconds": t_fit}
    out["prior"] = evaluate(fitted)
    start = time.perf_counter()
    fitted.fold_in(frame[early], y[early])
    out["fold_in seconds"] = time.perf_counter() - start
    out["fold_in"] = evaluate(fitted)
    start = time.perf_counter()
    refit = model().fit(frame[~late], y[~late])
    out["refit seconds"] = time.perf_counter() - start
    out["refit"] = evaluate(refit)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("BAYESFM_DATA"))
    ap.add_argument("--new-users", type=float, default=0.10)
    ap.add_argument("--new-items", type=float, default=0.05)
    ap.add_argument("--test-share", type=float, default=0.10)
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--n-iter", type=int, default=200)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fold-shares", default="0.1",
                    help="comma-separated shares of users held out and folded in ('' skips)")
    ap.add_argument("--skip-new", action="store_true",
                    help="skip the new-categories table (fold-in study only)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    import pandas as pd

    from bayesfm.data.movielens import find_movielens_100k

    root = find_movielens_100k(args.data)
    ratings = np.loadtxt(root / "u.data", dtype=np.int64, delimiter="\t")
    train, test, kind = split(ratings, args.new_users, args.new_items, args.test_share,
                              args.seed)
    n_users, n_items = int(ratings[:, 0].max()), int(ratings[:, 1].max())
    y_tr, y_te = train[:, 2].astype(float), test[:, 2].astype(float)
    print(f"CPU: {cpu_model()}; {os.cpu_count()} CPUs; bayesfm fits: rank {args.rank}, "
          f"{args.n_iter} sweeps ({args.n_iter // 2} burn-in), {args.chains} chains")
    print(f"MovieLens-100k: {len(train)} training ratings; test rows: "
          + ", ".join(f"{name} {int((kind == k).sum())}" for k, name in enumerate(KINDS)))
    kw = dict(rank=args.rank, n_iter=args.n_iter, n_burn=args.n_iter // 2,
              n_chains=args.chains, random_state=0, progress=False)
    results = {}

    checks = []
    if not args.skip_new:
        checks += new_categories(args, pd, train, test, kind, n_users, n_items, y_tr, y_te, kw,
                                 results)
    shares = [float(v) for v in args.fold_shares.split(",") if v.strip()]
    studies = [fold_in_study(ratings, share, kw, args.seed) for share in shares]
    if studies:
        cols = [Col("held-out users", ".2f"), Col("train rows", "d"), Col("folded", "d"),
                Col("evaluated", "d"), Col("way", left=True), Col("RMSE", ".4f"),
                Col("90% coverage", ".3f"), Col("width", ".2f"), Col("seconds", ".2f")]
        rows = []
        for st in studies:
            for way, secs in (("prior", None), ("fold_in", st["fold_in seconds"]),
                              ("refit", st["refit seconds"])):
                res = st[way]
                rows.append((st["share"], st["train rows"], st["folded rows"],
                             st["evaluated rows"], way, res["RMSE"], res["coverage"],
                             res["width"], secs))
        print(table(cols, rows, markdown=args.markdown))
        st = studies[0]
        gap = st["fold_in"]["RMSE"] - st["refit"]["RMSE"]
        cov = st["fold_in"]["coverage"]
        speed = st["refit seconds"] / st["fold_in seconds"]
        checks += [("fold_in RMSE within 0.01 of the refit's", gap, abs(gap) <= 0.01),
                   ("fold_in 90% coverage in [0.88, 0.92]", cov, 0.88 <= cov <= 0.92),
                   ("fold_in at least 10x faster than the refit", speed, speed >= 10)]
    for text, value, ok in checks:
        print(f"{'MET ' if ok else 'MISS'} {text}: {value:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "fold_in": studies,
                                               "cpu": cpu_model(), "args": vars(args)},
                                              indent=1))
    return 0


def new_categories(args, pd, train, test, kind, n_users, n_items, y_tr, y_te, kw, results):
    """The new-categories table (module docstring); returns its checks."""
    from bayesfm import FMRegressor
    from bayesfm.data.encoders import TableEncoder

    start = time.perf_counter()
    groups = ["user"] * n_users + ["item"] * n_items
    matrix = FMRegressor(**kw).fit(one_hot(train, n_users, n_items), y_tr, groups=groups)
    X_te = one_hot(test, n_users, n_items)
    results["matrix"] = scores(matrix.predict(X_te), matrix.predict_interval(X_te, 0.9), y_te,
                               kind)
    t_matrix = time.perf_counter() - start

    start = time.perf_counter()
    frame_tr = pd.DataFrame({"user": train[:, 0], "item": train[:, 1]})
    frame_te = pd.DataFrame({"user": test[:, 0], "item": test[:, 1]})
    frame = FMRegressor(encoder=TableEncoder(categorical=["user", "item"]), **kw).fit(
        frame_tr, y_tr)
    results["frame"] = scores(frame.predict(frame_te), frame.predict_interval(frame_te, 0.9),
                              y_te, kind)
    dropped = frame.encoder_.transform(frame_te)
    results["frame-drop"] = scores(frame.predict(dropped), frame.predict_interval(dropped, 0.9),
                                   y_te, kind)
    t_frame = time.perf_counter() - start

    cols = [Col("path", left=True), Col("rows", left=True), Col("n", "d"),
            Col("RMSE", ".4f"), Col("90% coverage", ".3f"), Col("width", ".2f")]
    rows = [(path, name, n, rmse, cov, width)
            for path, res in results.items() for name, n, rmse, cov, width in res]
    print(table(cols, rows, markdown=args.markdown))
    print(f"seconds: matrix fit + predict {t_matrix:.1f}, frame fit + both predicts "
          f"{t_frame:.1f}")

    by = {path: {r[0]: r for r in res} for path, res in results.items()}
    checks = []
    for name in ("new user", "new item"):
        cov = by["frame"][name][3]
        checks.append((f"frame {name} 90% coverage in [0.88, 0.92]", cov,
                       cov is not None and 0.88 <= cov <= 0.92))
    rf, rm = by["frame"]["new user"][2], by["matrix"]["new user"][2]
    checks.append(("frame new-user RMSE <= matrix new-user RMSE", rf - rm, rf <= rm + 1e-12))
    return checks


if __name__ == "__main__":
    sys.exit(main())
