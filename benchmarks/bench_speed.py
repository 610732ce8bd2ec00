#!/usr/bin/env python
"""Speed benchmark: bayesfm on one and on all threads against myFM 0.4.0, in one process run,
alternated and repeated.

Cases (``--cases``, default all):

    ml100k-r10   MovieLens-100k u1, user + item one-hot, rank 10
    ml100k-r32   the same, rank 32
    ml100k-rel   MovieLens-100k u1 with side information + implicit feedback as relation
                 blocks (both libraries), rank 10
    ml100k-ord   MovieLens-100k u1 ids, ordinal (ratings 1..5; myFM's MyFMOrderedProbit), rank 10
    ml100k-4ch   MovieLens-100k u1 ids, rank 10: bayesfm's 4 chains on all cores (default jobs
                 and threads) against its 1 chain on 1 thread (the ratio is 4-chain seconds /
                 1-chain seconds, 2 on 2 cores for perfect process parallelism; no myFM)
    ml1m-r32     the 1M-rating MovieLens copy (ml-1m/pmf_moviedata, its train/probe split), ids,
                 rank 32
    epinions-r16 Epinions (epinions_tang, 922k ratings, 318k columns), ids, a fixed random
                 90/10 split (seed 0), rank 16

Every fit runs one chain of ``--n-iter`` sweeps (200) with the same rank, hyperprior groups and
initial scale; bayesfm keeps the draws after ``--n-burn`` (5) and myFM keeps as many samples. On
Epinions, keeping 195 draws of a 318k x 16 factor matrix would take 8 GB per library: bayesfm
runs in its bounded-memory mode (test predictions accumulated during sampling, no draws of w
and V kept) and myFM keeps its last ``--epinions-kept`` (20) samples. Numba compilation is
excluded: short runs of every case on 1 and on all threads first (as in ``bench_regression.py``),
and a check that no kernel compiled during the timings.

Timing: each case runs ``--repeats`` (3) rounds; a round fits myFM, bayesfm on 1 thread and on all
threads once each, in an order that rotates from round to round (so a slow spell of a shared
machine falls on each contestant in turn), and its ratios are bayesfm / myFM of that round. The
table gives the median fit seconds, the median ratio and its spread (the lowest and highest
round, ``lo-hi``), and test RMSE of the first round (each library's rounds give the same RMSE:
same seed); the CPU model heads the output.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_speed.py [--cases ml100k-r10 ...]
        [--n-iter 200] [--repeats 3] [--json out.json] [--markdown]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

_BENCH_DIR = Path(__file__).resolve().parent
for _p in (_BENCH_DIR, _BENCH_DIR.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import bench_regression as _br  # noqa: E402
import numba  # noqa: E402
from _tables import Col, Stream, cpu_model, ratio  # noqa: E402

from bayesfm import FMOrdinalRegressor, FMRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, load_movielens_100k  # noqa: E402

CASES = ("ml100k-r10", "ml100k-r32", "ml100k-rel", "ml100k-ord", "ml100k-4ch", "ml1m-r32",
         "epinions-r16")
#: the cases without myFM: bayesfm against itself
SELF_CASES = ("ml100k-4ch",)


def _ids_design(users, items, n_users, n_items):
    n = users.shape[0]
    rows = np.arange(n)
    X = sp.hstack([sp.csr_matrix((np.ones(n), (rows, users)), shape=(n, n_users)),
                   sp.csr_matrix((np.ones(n), (rows, items)), shape=(n, n_items))],
                  format="csr")
    return X


def _read_csv_gz(path, usecols):
    with gzip.open(path, "rt") as fh:
        header = fh.readline().strip().split(",")
        cols = [header.index(c) for c in usecols]
        data = np.loadtxt(fh, delimiter=",", usecols=cols, dtype=object)
    return data


def load_case(name, root):
    """(X_train, y_train, X_test, y_test, groups, relational) for a case."""
    if name.startswith("ml100k"):
        rel = name == "ml100k-rel"
        d = load_movielens_100k(path=root, split="u1", side_info=rel, implicit=rel)
        return d.X_train, d.y_train, d.X_test, d.y_test, list(d.groups), rel
    if name == "ml1m-r32":
        path = Path(root) / "ml-1m" / "pmf_moviedata" / "ratings_no_timestamp.csv.gz"
        raw = _read_csv_gz(path, ["user_id", "movie_id", "rating", "pmf_split"])
        train = raw[:, 3] == "train"
        u_ids, u = np.unique(raw[:, 0].astype(np.int64), return_inverse=True)
        i_ids, i = np.unique(raw[:, 1].astype(np.int64), return_inverse=True)
        y = raw[:, 2].astype(np.float64)
    elif name == "epinions-r16":
        path = Path(root) / "epinions_tang" / "rating.csv.gz"
        raw = _read_csv_gz(path, ["user", "product", "rating"]).astype(np.int64)
        u_ids, u = np.unique(raw[:, 0], return_inverse=True)
        i_ids, i = np.unique(raw[:, 1], return_inverse=True)
        y = raw[:, 2].astype(np.float64)
        train = np.random.default_rng(0).random(y.shape[0]) < 0.9
    else:
        raise ValueError(name)
    X = _ids_design(u, i, u_ids.shape[0], i_ids.shape[0])
    groups = ["user"] * u_ids.shape[0] + ["item"] * i_ids.shape[0]
    return X[train], y[train], X[~train], y[~train], groups, False


def rank_of(name):
    return int(name.rsplit("-r", 1)[1]) if "-r" in name and name[-1].isdigit() else 10


def run_bayesfm(case, Xtr, ytr, Xte, yte, groups, rank, n_iter, n_burn, threads, seed):
    """One fit and predict; returns (test RMSE, fit seconds, predict seconds). ``threads``:
    kernel threads of the one chain, or for ml100k-4ch the number of chains: 1 (on 1 thread),
    or 4 with the estimator's default jobs and threads (on all cores)."""
    bounded = case == "epinions-r16"
    kw = dict(rank=rank, n_iter=n_iter, n_burn=n_burn, init_scale=0.1, n_chains=1, n_jobs=1,
              n_threads=threads, keep_draws=not bounded, progress=False, random_state=seed)
    if case in SELF_CASES and threads > 1:
        kw.update(n_chains=threads, n_jobs=None, n_threads=None)
    model = (FMOrdinalRegressor if case == "ml100k-ord" else FMRegressor)(**kw)
    t0 = time.perf_counter()
    extra = {"eval_sets": {"test": Xte}} if bounded else {}
    model.fit(Xtr, ytr, groups=groups, **extra)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if bounded:
        pred = model.eval_predictions_["test"].mean
    elif case == "ml100k-ord":
        pred = model.predict_expected(Xte)
    else:
        pred = model.predict(Xte)
    return _br.rmse(pred, yte), fit_s, time.perf_counter() - t0


def run_myfm(case, Xtr, ytr, Xte, yte, groups, rank, n_iter, n_burn, seed, kept_epinions):
    codes = {g: k for k, g in enumerate(dict.fromkeys(groups))}
    grouping = [codes[g] for g in groups]
    kept = kept_epinions if case == "epinions-r16" else n_iter - n_burn
    if case == "ml100k-ord":
        fm = _br.myfm.MyFMOrderedProbit(rank=rank, init_stdev=0.1, random_seed=seed)
        labels = np.unique(ytr)
        with _br.stderr_silenced():
            t0 = time.perf_counter()
            fm.fit(Xtr, np.searchsorted(labels, ytr), grouping=grouping, n_iter=n_iter,
                   n_kept_samples=kept)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = fm.predict_proba(Xte) @ labels
        return _br.rmse(pred, yte), fit_s, time.perf_counter() - t0
    fm = _br.myfm.MyFMRegressor(rank=rank, init_stdev=0.1, random_seed=seed)
    with _br.stderr_silenced():
        t0 = time.perf_counter()
        if case == "ml100k-rel":
            _, mats, idx = Xtr.parts()
            blocks = [_br.myfm.RelationBlock(ix.astype(np.int64), M) for M, ix in zip(mats, idx)]
            fm.fit(None, ytr, X_rel=blocks, grouping=grouping, n_iter=n_iter,
                   n_kept_samples=kept)
            fit_s = time.perf_counter() - t0
            _, mats, idx = Xte.parts()
            blocks = [_br.myfm.RelationBlock(ix.astype(np.int64), M) for M, ix in zip(mats, idx)]
            t0 = time.perf_counter()
            pred = fm.predict(None, blocks)
        else:
            fm.fit(Xtr, ytr, grouping=grouping, n_iter=n_iter, n_kept_samples=kept)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = fm.predict(Xte)
    return _br.rmse(pred, yte), fit_s, time.perf_counter() - t0


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--n-iter", type=int, default=200)
    ap.add_argument("--n-burn", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternated rounds per case (median and spread reported)")
    ap.add_argument("--epinions-kept", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="the 'all threads' setting (default: all usable CPUs)")
    ap.add_argument("--data", default=None, help=f"datasets folder (default ${DATA_ENV})")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if not 0 <= args.n_burn < args.n_iter:
        ap.error("need 0 <= --n-burn < --n-iter")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    return args


def table_columns(all_threads: int) -> list:
    t = f"{all_threads}t"
    return [Col("case", width=12, left=True), Col("rows", "d", 7, gap=1),
            Col("cols", "d", 6, gap=1), Col("RMSE myFM", ".4f", 9),
            Col("RMSE 1t", ".4f", 7, gap=1), Col(f"RMSE {t}", ".4f", 7, gap=1),
            Col("myFM s", ".2f", 6), Col("1t s", ".2f", 6, gap=1), Col(f"{t} s", ".2f", 6, gap=1),
            Col("ratio 1t", "", 15), Col(f"ratio {t}", "", 15, gap=1)]


def spread(values) -> dict:
    """Median, lowest and highest of the rounds' values (None when there are none)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "lo": None, "hi": None, "all": []}
    return {"median": float(np.median(values)), "lo": float(min(values)),
            "hi": float(max(values)), "all": [float(v) for v in values]}


def ratio_cell(sp: dict) -> str:
    """"median (lo-hi)" of a ratio's rounds, or n/a."""
    if sp["median"] is None:
        return "n/a"
    return f"{sp['median']:.2f} ({sp['lo']:.2f}-{sp['hi']:.2f})"


def contestants(case: str, all_threads: int) -> list:
    """The round's contestants: (name, what run_bayesfm's ``threads`` is, or None for myFM)."""
    if case in SELF_CASES:
        return [("base", 1), (f"{all_threads}t", 4)]
    return [("myfm", None), ("1t", 1), (f"{all_threads}t", all_threads)]


def time_case(case, data, args, all_threads) -> dict:
    """``args.repeats`` alternated rounds of a case: every contestant's (rmse, fit_s,
    predict_s) per round and the paired ratios' median and spread."""
    Xtr, ytr, Xte, yte, groups, _ = data
    rank = rank_of(case)
    who = contestants(case, all_threads)
    runs = {name: [] for name, _ in who}
    for rnd in range(args.repeats):
        for name, threads in who[rnd % len(who):] + who[:rnd % len(who)]:
            if threads is None:
                if _br.myfm is None:
                    continue
                out = run_myfm(case, Xtr, ytr, Xte, yte, groups, rank, args.n_iter, args.n_burn,
                               args.seed, args.epinions_kept)
            else:
                out = run_bayesfm(case, Xtr, ytr, Xte, yte, groups, rank, args.n_iter,
                                  args.n_burn, threads, args.seed)
            runs[name].append(dict(zip(("rmse", "fit_s", "predict_s"), out)))
    base = who[0][0]
    row = {"case": case, "rank": rank, "rows": int(Xtr.shape[0]), "cols": int(Xtr.shape[1]),
           "runs": runs}
    for name, _ in who[1:]:
        base_fits = [r["fit_s"] for r in runs[base]] or [None] * args.repeats
        row[f"ratio_{name}"] = spread([ratio(r["fit_s"], b)
                                       for r, b in zip(runs[name], base_fits)])
    row["fit_s"] = {name: spread([r["fit_s"] for r in rs]) for name, rs in runs.items()}
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    root = args.data or os.environ.get(DATA_ENV)
    if not root or not Path(root).is_dir():
        print(f"error: datasets folder not found (set {DATA_ENV} or --data)", file=sys.stderr)
        return 2
    info = _br.machine_info()
    info["cpu_model"] = cpu_model()
    all_threads = args.threads or len(os.sched_getaffinity(0))
    _br.print_machine(info)
    print(f"CPU     : {info['cpu_model']}")
    print(f"threads : 1 and {all_threads} (numba {numba.config.THREADING_LAYER} layer)")
    data = {case: load_case(case, root) for case in args.cases}

    def bfm(item, n_iter, n_burn):
        case, threads = item
        Xtr, ytr, Xte, yte, groups, _ = data[case]
        return run_bayesfm(case, Xtr, ytr, Xte, yte, groups, rank_of(case), n_iter, n_burn,
                           threads, args.seed)

    compiled_since, _ = _br.warm_up_watched(
        bfm, None, [(c, t) for c in args.cases for _, t in contestants(c, all_threads)
                    if t is not None],
        "a short run of every case on 1 and all threads")
    print(f"{args.n_iter} sweeps, one chain; median fit seconds of {args.repeats} alternated "
          f"rounds; ratio = bayesfm fit / myFM fit of the same round, median (lowest-highest); "
          f"{', '.join(SELF_CASES)}: 4 chains on all cores / 1 chain on 1 thread (its myFM "
          f"columns: the 1 chain)\n")
    table = Stream(table_columns(all_threads), markdown=args.markdown)
    results = []
    for case in args.cases:
        row = time_case(case, data[case], args, all_threads)
        results.append(row)
        names = [contestants(case, all_threads)[0][0], "1t", f"{all_threads}t"]
        first = {n: (row["runs"][n][0] if row["runs"].get(n) else {}) for n in names}
        none = {"median": None}
        table.row([case, row["rows"], row["cols"], *(first[n].get("rmse") for n in names),
                   *(row["fit_s"].get(n, none)["median"] for n in names),
                   *(ratio_cell(row.get(f"ratio_{n}", none)) for n in names[1:])])
    _br.print_after_table(compiled_since())
    if args.json:
        _br.write_json_atomic(args.json, {"machine": info, "n_iter": args.n_iter,
                                          "n_burn": args.n_burn, "threads": all_threads,
                                          "repeats": args.repeats, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
