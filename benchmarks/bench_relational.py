#!/usr/bin/env python
"""Benchmark: relational blocks on MovieLens-100k u1 with side information + implicit feedback.

In one process run:
1. bayesfm ``FMRegressor`` on ``load_movielens_100k(side_info=True, implicit=True)`` (a user
   block and an item block, never expanded) against myFM's ``MyFMRegressor`` fitted with the same
   two blocks as ``myfm.RelationBlock`` and the same feature groups, one chain each, for every
   rank in ``--ranks`` (default 10 and 32), ``--n-iter`` sweeps (200): RMSE, fit and predict
   times, and the ratio bayesfm / myFM.
2. bayesfm relational against bayesfm on the expanded design matrix (same seed, same draws to
   rounding): seconds per sweep of each over ``--expanded-sweeps`` sweeps (default 10; the
   expanded design has about 25 million non-zeros), and the speed-up.

Numba compilation is excluded (short runs of every timed problem first, as in
``bench_regression.py``, and a check that no kernel compiled during the timings); myFM's progress
bar is silenced.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_relational.py [--ranks 10 32]
        [--n-iter 200] [--n-burn 5] [--expanded-sweeps 10] [--seed 0] [--json out.json]
        [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

_BENCH_DIR = Path(__file__).resolve().parent
if str(_BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(_BENCH_DIR))

import bench_regression as _br  # noqa: E402
from _tables import Col, ratio, table  # noqa: E402

from bayesfm import FMRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, load_movielens_100k  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[10, 32])
    ap.add_argument("--n-iter", type=int, default=200)
    ap.add_argument("--n-burn", type=int, default=5)
    ap.add_argument("--expanded-sweeps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None,
                    help=f"directory holding ml-100k/ (default ${DATA_ENV})")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if not 0 <= args.n_burn < args.n_iter:
        ap.error("--n-burn must be >= 0 and < --n-iter")
    if args.expanded_sweeps < 1:
        ap.error("--expanded-sweeps must be >= 1")
    return args


def bayesfm_fit(X, y, groups, rank, n_iter, n_burn, seed):
    model = FMRegressor(rank=rank, n_iter=n_iter, n_burn=n_burn, init_scale=0.1, n_chains=1,
                        n_jobs=1, progress=False, random_state=seed)
    t0 = time.perf_counter()
    model.fit(X, y, groups=groups)
    return model, time.perf_counter() - t0


def myfm_blocks(X):
    """Our RelationalData as myFM RelationBlocks (same matrices, same row indices)."""
    _, mats, idx = X.parts()
    return [_br.myfm.RelationBlock(index.astype(np.int64), M) for M, index in zip(mats, idx)]


def format_table(results: list[dict], markdown: bool = False) -> str:
    cols = [Col("rank", "d"), Col("RMSE bayesfm", ".4f"), Col("RMSE myFM", ".4f"),
            Col("fit bayesfm", ".2f"), Col("fit myFM", ".2f"), Col("fit ratio", ".2f"),
            Col("total ratio", ".2f")]
    rows = []
    for r in results:
        total_myfm = None if r["fit_myfm"] is None else r["fit_myfm"] + r["pred_myfm"]
        rows.append([r["rank"], r["rmse_bayesfm"], r["rmse_myfm"], r["fit_bayesfm"],
                     r["fit_myfm"], ratio(r["fit_bayesfm"], r["fit_myfm"]),
                     ratio(r["fit_bayesfm"] + r["pred_bayesfm"], total_myfm)])
    return table(cols, rows, rule=False, markdown=markdown)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        d = load_movielens_100k(path=args.data, split="u1", side_info=True, implicit=True)
    except FileNotFoundError as exc:
        print(f"error: {exc} (set {DATA_ENV})", file=sys.stderr)
        return 2
    info = _br.machine_info()
    print("bayesfm relational blocks vs myFM RelationBlock; MovieLens-100k u1, side + implicit")
    _br.print_machine(info)
    groups = list(d.groups)
    codes = {g: k for k, g in enumerate(dict.fromkeys(groups))}
    grouping = [codes[g] for g in groups]
    n = args.expanded_sweeps
    Xe = d.X_train.expand()
    print(f"data    : train {d.X_train.shape[0]} rows x {d.X_train.shape[1]} features in "
          f"{len(codes)} groups; expanded nnz {Xe.nnz}")

    def warm(rank, n_iter, n_burn):
        if rank == "expanded":      # one sweep of the timed fit on the expanded design
            return bayesfm_fit(Xe, d.y_train, groups, args.ranks[0], 1, 0, args.seed)
        return _br.run_bayesfm(d, rank, n_iter, n_burn, args.seed)

    compiled_since, _ = _br.warm_up_watched(
        warm, None, [*args.ranks, "expanded"],
        "a short fit+predict at every rank and an expanded sweep")

    results = []
    for rank in args.ranks:
        fit_s, pred_s, rmse_b, _ = _br.run_bayesfm(d, rank, args.n_iter, args.n_burn, args.seed)
        row = {"rank": rank, "rmse_bayesfm": rmse_b, "fit_bayesfm": fit_s,
               "pred_bayesfm": pred_s, "rmse_myfm": None, "fit_myfm": None, "pred_myfm": None}
        if _br.myfm is not None:
            fm = _br.myfm.MyFMRegressor(rank=rank, init_stdev=0.1, random_seed=args.seed)
            with _br.stderr_silenced():
                t0 = time.perf_counter()
                fm.fit(None, d.y_train, X_rel=myfm_blocks(d.X_train), grouping=grouping,
                       n_iter=args.n_iter, n_kept_samples=args.n_iter - args.n_burn)
                row["fit_myfm"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                pm = fm.predict(None, myfm_blocks(d.X_test))
                row["pred_myfm"] = time.perf_counter() - t0
            row["rmse_myfm"] = _br.rmse(pm, d.y_test)
        results.append(row)
        print(f"  rank {rank} done")

    print(f"\n{args.n_iter} sweeps, one chain each; times in seconds; ratio = bayesfm / myFM")
    print(format_table(results, markdown=args.markdown), flush=True)

    rank = args.ranks[0]
    _, t_rel = bayesfm_fit(d.X_train, d.y_train, groups, rank, n, 0, args.seed)
    _, t_exp = bayesfm_fit(Xe, d.y_train, groups, rank, n, 0, args.seed)
    speedup = t_exp / t_rel
    recompiled = compiled_since()
    print(f"\nrelational vs expanded, rank {rank}, {n} sweeps: {t_rel / n * 1e3:.1f} ms vs "
          f"{t_exp / n * 1e3:.1f} ms per sweep: speed-up {speedup:.1f}x")
    _br.print_after_table(recompiled)
    if args.json:
        _br.write_json_atomic(args.json, {
            "machine": info, "results": results,
            "relational_vs_expanded": {"rank": rank, "sweeps": n, "relational_s": t_rel,
                                       "expanded_s": t_exp, "speedup": speedup}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
