#!/usr/bin/env python
"""Benchmark: bayesfm's probit models against myFM's on ordinal and binary targets.

Per case, in one process, bayesfm and myFM fit a Bayesian Factorization Machine by Gibbs
sampling on the same design matrices:

* ``ml100k-ordinal``: MovieLens-100k (split u1 by default), user one-hot + item one-hot, rank 10.
  ``bayesfm.FMOrdinalRegressor`` (labels 1..5) vs ``myfm.MyFMOrderedProbit`` (labels
  rating - 1 = 0..4). Metric: RMSE of the posterior expected rating against the test ratings
  (bayesfm ``predict_expected``; myFM ``predict_proba(X) @ [1, 2, 3, 4, 5]``).
* ``ml100k-binary``: the same data with target rating >= 4, rank 10. ``bayesfm.FMClassifier`` vs
  ``myfm.MyFMGibbsClassifier``. Metrics: ROC-AUC and log-loss.
* ``a9a``: the LIBSVM a9a data set (UCI Adult, 123 binary features, labels -1/+1), rank 8, no
  feature groups (one group). ``FMClassifier`` vs ``MyFMGibbsClassifier``. Metrics: accuracy
  (threshold 0.5), ROC-AUC, log-loss and the expected calibration error (10 equal-width bins of
  the predicted probability of the positive class).

Matched settings, as in ``bench_regression.py``: the same rank and number of Gibbs iterations
(``--n-iter``); the same feature groups (MovieLens: bayesfm ``groups=data.groups``, myFM
``group_shapes=[943, 1682]``; a9a: one group on both sides); the same initial scale of the latent
factors (0.1); the same kept draws (bayesfm discards ``--n-burn`` sweeps, myFM keeps
``n_kept_samples = n_iter - n_burn``); fixed seeds; single-threaded prediction. The priors are each
library's defaults.

Timing: ``time.perf_counter`` around ``fit`` and around the prediction on the test rows (the call
that produces what the metrics need: expected ratings or class probabilities); each timing is
repeated ``--repeats`` times and the minimum is reported. bayesfm's Numba kernels (the FM sweep,
the truncated-normal latent draws, the ordered-probit likelihood and class probabilities) are
warmed up on tiny problems first, so compile time is excluded and the warm-up time is printed.
myFM's tqdm progress bar is silenced by pointing file descriptor 2 at /dev/null during its calls.

Run (from the repository root)::

    BAYESFM_DATA=/path/to/data python benchmarks/bench_classification.py
        [--cases ml100k-ordinal ml100k-binary a9a] [--n-iter 200] [--n-burn 5] [--repeats 1]
        [--seed 0] [--split u1] [--json out.json]

The data is found under --data or $BAYESFM_DATA: ``ml-100k/`` (GroupLens files) and ``a9a/``
(the LIBSVM files ``a9a`` and ``a9a.t``). Exit status: 0 on success, 2 when the data of a
selected case cannot be found (or on bad arguments).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# The helpers of the regression benchmark (importing it also puts this checkout first on sys.path
# and imports bayesfm, numba and, if possible, myfm).
_BENCH_DIR = Path(__file__).resolve().parent
if str(_BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(_BENCH_DIR))

import bench_regression as _br  # noqa: E402
from bench_regression import (_fmt, _json_float, machine_info, rmse,  # noqa: E402
                              stderr_silenced, write_json_atomic)

from bayesfm import FMClassifier, FMOrdinalRegressor  # noqa: E402
from bayesfm.data.movielens import (DATA_ENV, N_ITEMS, N_USERS, SPLITS,  # noqa: E402
                                    load_movielens_100k)
from bayesfm.sampler import kernels as _kernels  # noqa: E402
from bayesfm.sampler import ordinal as _ordinal  # noqa: E402
from bayesfm.sampler import truncnorm as _truncnorm  # noqa: E402

myfm = _br.myfm
_MYFM_ERROR = _br._MYFM_ERROR

CASES = ("ml100k-ordinal", "ml100k-binary", "a9a")
A9A_FEATURES = 123

#: the Numba dispatchers whose compiled signatures we watch (to detect compilation in timings)
_WATCHED = {
    **{f"kernels.{n}": getattr(_kernels, n)
       for n in ("recompute_cache", "gibbs_sweep", "_hyper_update", "predict_draws_csr")},
    "truncnorm.draw_interval_latent": _truncnorm.draw_interval_latent,
    **{f"ordinal.{n}": getattr(_ordinal, n)
       for n in ("ordinal_loglik", "ordinal_loglik_derivs", "class_probabilities")},
}

#: display name and direction of every metric
_METRICS = {
    "rmse": ("RMSE of E[rating]", "lower"),
    "accuracy": ("accuracy", "higher"),
    "roc_auc": ("ROC-AUC", "higher"),
    "log_loss": ("log-loss", "lower"),
    "ece": ("ECE (10 bins)", "lower"),
}


# ------------------------------------------------------------------------------------------------
# arguments
# ------------------------------------------------------------------------------------------------
def _cases_arg(text: str) -> list[str]:
    out = []
    for part in text.replace(",", " ").split():
        if part == "all":
            out.extend(CASES)
        elif part in CASES:
            out.append(part)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown case {part!r}; choose from {', '.join(CASES)} (or 'all')")
    if not out:
        raise argparse.ArgumentTypeError("no case given")
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="bayesfm vs myFM (Gibbs-sampled Bayesian FM, probit models): ordinal and "
                    "binary MovieLens-100k, a9a. Data from --data or $" + DATA_ENV + ".")
    ap.add_argument("--cases", type=_cases_arg, nargs="+", default=[list(CASES)],
                    help=f"cases to run, e.g. '--cases a9a ml100k-binary' or '--cases a9a,"
                         f"ml100k-binary' (default: all = {' '.join(CASES)})")
    ap.add_argument("--n-iter", type=int, default=200,
                    help="Gibbs iterations for both libraries (default 200)")
    ap.add_argument("--n-burn", type=int, default=5,
                    help="burn-in sweeps of bayesfm; myFM keeps n_iter - n_burn samples "
                         "(default 5, myFM's own default)")
    ap.add_argument("--ml100k-rank", type=int, default=10,
                    help="rank of the two MovieLens cases (default 10)")
    ap.add_argument("--a9a-rank", type=int, default=8, help="rank of the a9a case (default 8)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat every timing this many times and report the minimum (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both samplers (default 0)")
    ap.add_argument("--split", default="u1", choices=SPLITS,
                    help="MovieLens-100k split u1..u5, ua, ub (default u1)")
    ap.add_argument("--data", default=None,
                    help=f"directory holding ml-100k/ and a9a/ (default: ${DATA_ENV})")
    ap.add_argument("--json", metavar="PATH", default=None,
                    help="also write the results as JSON to PATH (written atomically)")
    args = ap.parse_args(argv)
    seen = []
    for group in args.cases:
        seen += [c for c in group if c not in seen]
    args.cases = [c for c in CASES if c in seen]  # canonical order, no duplicates
    if args.n_iter < 1:
        ap.error(f"--n-iter must be >= 1, got {args.n_iter}")
    if not 0 <= args.n_burn < args.n_iter:
        ap.error(f"--n-burn must be in [0, n_iter) = [0, {args.n_iter}), got {args.n_burn}")
    for name in ("ml100k_rank", "a9a_rank", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0, got {args.seed}")
    return args


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def find_a9a(path=None) -> Path:
    """The directory holding the LIBSVM files ``a9a`` and ``a9a.t``: ``path/a9a`` or ``path``,
    else under $BAYESFM_DATA. Raises FileNotFoundError saying where it looked."""
    candidates = []
    if path is not None:
        candidates += [Path(path) / "a9a", Path(path)]
    env = os.environ.get(DATA_ENV)
    if env:
        candidates += [Path(env) / "a9a", Path(env)]
    for c in candidates:
        if (c / "a9a").is_file() and (c / "a9a.t").is_file():
            return c
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise FileNotFoundError(f"a9a not found (looked in: {where}); need the LIBSVM files a9a and "
                            f"a9a.t")


def load_a9a(path=None):
    """(X_train, y_train, X_test, y_test) as CSR float64 matrices with 123 columns and -1/+1."""
    from sklearn.datasets import load_svmlight_file

    root = find_a9a(path)
    X_tr, y_tr = load_svmlight_file(str(root / "a9a"), n_features=A9A_FEATURES,
                                    zero_based=False)
    X_te, y_te = load_svmlight_file(str(root / "a9a.t"), n_features=A9A_FEATURES,
                                    zero_based=False)
    for name, y in (("a9a", y_tr), ("a9a.t", y_te)):
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError(f"{root / name}: labels must be -1/+1, got {np.unique(y)[:10]}")
    return sp.csr_matrix(X_tr), y_tr, sp.csr_matrix(X_te), y_te


def build_cases(args) -> list[dict]:
    """The selected cases with their data (raises FileNotFoundError when data is missing)."""
    cases = []
    ml = None
    if any(c.startswith("ml100k") for c in args.cases):
        ml = load_movielens_100k(path=args.data, split=args.split, side_info=False,
                                 implicit=False)
    if args.cases and "a9a" in args.cases:
        a9a = load_a9a(args.data)
    ml_common = dict(rank=args.ml100k_rank, groups=ml.groups if ml else None,
                     group_shapes=[N_USERS, N_ITEMS]) if ml else {}
    for name in args.cases:
        if name == "ml100k-ordinal":
            cases.append(dict(
                name=name, kind="ordinal", metrics=["rmse"],
                X_train=ml.X_train, X_test=ml.X_test,
                y_train_bfm=ml.y_train, y_train_myfm=(ml.y_train - 1).astype(np.int64),
                y_test=ml.y_test, levels=np.arange(1.0, 6.0),
                describe=f"MovieLens-100k {args.split}, ids only, labels 1..5 (myFM: 0..4)",
                **ml_common))
        elif name == "ml100k-binary":
            cases.append(dict(
                name=name, kind="binary", metrics=["roc_auc", "log_loss"],
                X_train=ml.X_train, X_test=ml.X_test,
                y_train_bfm=(ml.y_train >= 4).astype(np.int64),
                y_train_myfm=(ml.y_train >= 4).astype(np.int64),
                y_test=(ml.y_test >= 4).astype(np.int64), positive=1,
                describe=f"MovieLens-100k {args.split}, ids only, target rating >= 4",
                **ml_common))
        elif name == "a9a":
            X_tr, y_tr, X_te, y_te = a9a
            cases.append(dict(
                name=name, kind="binary", metrics=["accuracy", "roc_auc", "log_loss", "ece"],
                X_train=X_tr, X_test=X_te,
                y_train_bfm=y_tr,                             # -1/+1, classes_ = [-1, 1]
                y_train_myfm=(y_tr > 0).astype(np.int64),     # myFM expects 0/1
                y_test=(y_te > 0).astype(np.int64), positive=1.0,
                rank=args.a9a_rank, groups=None, group_shapes=None,
                describe="a9a (LIBSVM, UCI Adult), 123 binary features, labels -1/+1, one group"))
    for c in cases:
        pos = (f", positive rate train {np.mean(c['y_train_myfm'] > 0):.3f} test "
               f"{np.mean(c['y_test'] > 0):.3f}" if c["kind"] == "binary" else "")
        c["shape"] = (f"train {c['X_train'].shape[0]} x {c['X_train'].shape[1]}, "
                      f"test {c['X_test'].shape[0]} rows{pos}")
    return cases


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------
def expected_calibration_error(y01: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """sum over equal-width bins of [0, 1] of (bin count / n) * |mean p - positive rate|."""
    p = np.asarray(p, dtype=np.float64)
    y01 = np.asarray(y01, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)  # p = 1 goes to the last bin
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y01, minlength=n_bins)
    nz = count > 0
    return float(np.sum(np.abs(sum_p[nz] - sum_y[nz])) / p.shape[0])


def binary_metrics(y01: np.ndarray, p: np.ndarray, names: list[str]) -> dict:
    """The metrics ``names`` of positive-class probabilities ``p`` against labels 0/1."""
    from sklearn.metrics import log_loss, roc_auc_score

    p = np.asarray(p, dtype=np.float64)
    out = {}
    for name in names:
        if name == "accuracy":
            out[name] = float(np.mean((p > 0.5) == (y01 > 0)))
        elif name == "roc_auc":
            out[name] = float(roc_auc_score(y01, p))
        elif name == "log_loss":
            out[name] = float(log_loss(y01, p, labels=[0, 1]))
        elif name == "ece":
            out[name] = expected_calibration_error(y01, p)
        else:
            raise ValueError(name)
    return out


# ------------------------------------------------------------------------------------------------
# the two contestants
# ------------------------------------------------------------------------------------------------
def run_bayesfm(case, n_iter, n_burn, seed):
    """One fit + predict of bayesfm; returns (fit_s, predict_s, metrics, n_draws, extra)."""
    cls = FMOrdinalRegressor if case["kind"] == "ordinal" else FMClassifier
    # one chain in this process, as myFM runs one: the same work on both sides
    model = cls(rank=case["rank"], n_iter=n_iter, n_burn=n_burn, init_scale=0.1, n_chains=1,
                n_jobs=1, progress=False,
                random_state=seed)
    gc.collect()
    t0 = time.perf_counter()
    model.fit(case["X_train"], case["y_train_bfm"], groups=case["groups"])
    t1 = time.perf_counter()
    if case["kind"] == "ordinal":
        expected = model.predict_expected(case["X_test"])
        t2 = time.perf_counter()
        metrics = {"rmse": rmse(expected, case["y_test"])}
        extra = {"cutpoint_acceptance": float(model.cutpoint_acceptance_)}
    else:
        proba = model.predict_proba(case["X_test"])
        t2 = time.perf_counter()
        col = int(np.flatnonzero(model.classes_ == case["positive"])[0])
        metrics = binary_metrics(case["y_test"], proba[:, col], case["metrics"])
        extra = {}
    return t1 - t0, t2 - t1, metrics, model.n_draws_, extra


def run_myfm(case, n_iter, n_burn, seed):
    """One fit + predict of myFM; returns (fit_s, predict_s, metrics, n_draws, extra)."""
    cls = myfm.MyFMOrderedProbit if case["kind"] == "ordinal" else myfm.MyFMGibbsClassifier
    model = cls(rank=case["rank"], init_stdev=0.1, random_seed=seed)
    gc.collect()
    with stderr_silenced():
        t0 = time.perf_counter()
        model.fit(case["X_train"], case["y_train_myfm"], n_iter=n_iter,
                  n_kept_samples=n_iter - n_burn, group_shapes=case["group_shapes"])
        t1 = time.perf_counter()
        if case["kind"] == "ordinal":
            expected = model.predict_proba(case["X_test"]) @ case["levels"]
        else:
            p1 = model.predict_proba(case["X_test"])  # 1-d: P(y = 1)
        t2 = time.perf_counter()
    if case["kind"] == "ordinal":
        metrics = {"rmse": rmse(expected, case["y_test"])}
    else:
        metrics = binary_metrics(case["y_test"], p1, case["metrics"])
    return t1 - t0, t2 - t1, metrics, len(model.predictor_.samples), {}


def warm_up(seed: int, kinds: set) -> tuple[float, float | None]:
    """Fit + predict tiny problems with both libraries; returns (bayesfm_s, myfm_s or None).

    For bayesfm this compiles (or loads from Numba's on-disk cache) every kernel used by
    FMClassifier / FMOrdinalRegressor fit and predict, with the argument types of the real run.
    """
    rng = np.random.default_rng(seed)
    n, nu, ni = 80, 7, 5
    users = rng.integers(0, nu, n)
    items = rng.integers(0, ni, n)
    X = sp.csr_matrix((np.ones(2 * n), np.stack([users, nu + items], 1).ravel(),
                       np.arange(0, 2 * n + 1, 2)), shape=(n, nu + ni))
    groups = np.array(["user"] * nu + ["item"] * ni)
    y_ord = np.tile(np.arange(1.0, 6.0), n // 5)          # every level present
    y_bin = (y_ord >= 4).astype(np.int64)

    t0 = time.perf_counter()
    if "ordinal" in kinds:
        FMOrdinalRegressor(rank=2, n_iter=4, n_burn=1, n_chains=1, n_jobs=1, random_state=seed) \
            .fit(X, y_ord, groups=groups).predict_expected(X)
    if "binary" in kinds:
        FMClassifier(rank=2, n_iter=4, n_burn=1, n_chains=1, n_jobs=1, random_state=seed) \
            .fit(X, y_bin, groups=groups).predict_proba(X)
    t_bfm = time.perf_counter() - t0

    t_myfm = None
    if myfm is not None:
        t0 = time.perf_counter()
        with stderr_silenced():
            if "ordinal" in kinds:
                m = myfm.MyFMOrderedProbit(rank=2, init_stdev=0.1, random_seed=seed)
                m.fit(X, (y_ord - 1).astype(np.int64), n_iter=4, n_kept_samples=3,
                      group_shapes=[nu, ni])
                m.predict_proba(X)
            if "binary" in kinds:
                m = myfm.MyFMGibbsClassifier(rank=2, init_stdev=0.1, random_seed=seed)
                m.fit(X, y_bin, n_iter=4, n_kept_samples=3, group_shapes=[nu, ni])
                m.predict_proba(X)
        t_myfm = time.perf_counter() - t0
    return t_bfm, t_myfm


def kernel_signature_counts() -> dict:
    return {name: len(d.signatures) for name, d in _WATCHED.items()}


def kernel_cache_stats() -> tuple[int, int]:
    """(signatures loaded from Numba's on-disk cache, signatures compiled) over the kernels."""
    hits = misses = 0
    for d in _WATCHED.values():
        stats = getattr(d, "stats", None)
        if stats is not None:
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


def summarise(runs: list[tuple]) -> dict:
    """Minimum over repeats of fit, predict and fit+predict; metrics of the first run."""
    fits = [r[0] for r in runs]
    preds = [r[1] for r in runs]
    return {
        "fit_s": min(fits),
        "predict_s": min(preds),
        "total_s": min(f + p for f, p in zip(fits, preds)),
        "metrics": runs[0][2],
        "metrics_all_repeats": [r[2] for r in runs],
        "fit_s_all_repeats": fits,
        "predict_s_all_repeats": preds,
        "n_draws": runs[0][3],
        **runs[0][4],
    }


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------
def format_table(results: list[dict]) -> str:
    """One row per (case, metric); the timings sit on the first row of each case."""
    head = ["case", "rank", "metric", "bayesfm", "myFM", "fit bayesfm s", "fit myFM s",
            "fit ratio", "pred bayesfm s", "pred myFM s", "total ratio"]
    left = {0, 2}  # left-aligned columns
    rows = []
    for r in results:
        b, m = r["bayesfm"], r["myfm"]
        for j, name in enumerate(r["metrics"]):
            label, better = _METRICS[name]
            cells = [r["case"] if j == 0 else "", str(r["rank"]) if j == 0 else "",
                     f"{label} ({better})",
                     _fmt(b["metrics"][name], ".4f"),
                     _fmt(m["metrics"][name], ".4f") if m else "n/a"]
            if j == 0:
                cells += [_fmt(b["fit_s"], ".2f"), _fmt(m["fit_s"], ".2f") if m else "n/a",
                          _fmt(r["fit_ratio"], ".2f"),
                          _fmt(b["predict_s"], ".3f"), _fmt(m["predict_s"], ".3f") if m else "n/a",
                          _fmt(r["total_ratio"], ".2f")]
            else:
                cells += [""] * 6
            rows.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)

    try:
        import sklearn  # noqa: F401  (a9a reader and the metrics)
    except ImportError as exc:
        print(f"error: scikit-learn is needed for the metrics and the a9a reader ({exc}); "
              f"install it with: pip install scikit-learn (or the project's 'test' extra)",
              file=sys.stderr)
        return 1

    try:
        cases = build_cases(args)
    except FileNotFoundError as exc:
        print(f"error: benchmark data not found: {exc}\n"
              f"Set the environment variable {DATA_ENV} to a directory holding ml-100k/ and/or "
              f"a9a/ (e.g. {DATA_ENV}=/path/to/data), or pass --data; or choose the cases whose "
              f"data you have with --cases.", file=sys.stderr)
        return 2

    info = machine_info()
    n_kept = args.n_iter - args.n_burn
    print("bayesfm vs myFM: Bayesian FM probit models by Gibbs sampling "
          "(ordinal and binary targets)")
    print(f"machine : {info['platform']}, {info['processor']}, cpu_count={info['cpu_count']}"
          f" (available to this process: {info['cpus_available']}), Python {info['python']}")
    print(f"versions: numpy {info['numpy']}, scipy {info['scipy']}, numba {info['numba']}, "
          f"scikit-learn {sklearn.__version__}, bayesfm {info['bayesfm']} "
          f"({info['bayesfm_path']}), "
          f"myfm {info['myfm'] if myfm is not None else 'NOT AVAILABLE'}")
    if myfm is None:
        print(f"NOTE: myfm could not be imported ({_MYFM_ERROR}); running bayesfm only. "
              f"Install it with: pip install myfm==0.4.0")
    for c in cases:
        groups = (f"groups user={N_USERS} item={N_ITEMS}" if c["group_shapes"]
                  else "one group")
        print(f"data    : {c['name']}: {c['describe']}; {c['shape']}; {groups}")
    print(f"settings: n_iter {args.n_iter}, bayesfm n_burn {args.n_burn} / myFM n_kept_samples "
          f"{n_kept}, init scale 0.1, seed {args.seed}, repeats {args.repeats} (minimum "
          f"reported), single-threaded predict")

    t_warm_bfm, t_warm_myfm = warm_up(args.seed, {c["kind"] for c in cases})
    sig_after_warmup = kernel_signature_counts()
    hits, misses = kernel_cache_stats()
    print(f"warm-up : bayesfm Numba kernels ready after tiny fits+predicts in {t_warm_bfm:.2f} s "
          f"({hits} signature(s) loaded from the on-disk cache, {misses} compiled)"
          + (f"; myFM warm-up {t_warm_myfm:.2f} s" if t_warm_myfm is not None else "")
          + ". Compile time is EXCLUDED from the timings below.")
    sys.stdout.flush()

    results = []
    for case in cases:
        bfm_runs, myfm_runs = [], []
        for _ in range(args.repeats):
            bfm_runs.append(run_bayesfm(case, args.n_iter, args.n_burn, args.seed))
            if myfm is not None:
                myfm_runs.append(run_myfm(case, args.n_iter, args.n_burn, args.seed))
        b = summarise(bfm_runs)
        m = summarise(myfm_runs) if myfm_runs else None
        res = {
            "case": case["name"],
            "rank": case["rank"],
            "metrics": case["metrics"],
            "bayesfm": b,
            "myfm": m,
            "fit_ratio": b["fit_s"] / m["fit_s"] if m else None,
            "predict_ratio": b["predict_s"] / m["predict_s"] if m else None,
            "total_ratio": b["total_s"] / m["total_s"] if m else None,
        }
        results.append(res)
        note = f"kept draws bayesfm {b['n_draws']}" + (f", myFM {m['n_draws']}" if m else "")
        if "cutpoint_acceptance" in b:
            note += f"; bayesfm cutpoint MH acceptance {b['cutpoint_acceptance']:.2f}"
        print(f"  {case['name']:<15} done: {note}", flush=True)
        for name, s in (("bayesfm", b), ("myFM", m)):
            if s and any(r != s["metrics"] for r in s["metrics_all_repeats"]):
                print(f"  WARNING: {name} metrics differ between repeats with a fixed seed: "
                      f"{s['metrics_all_repeats']}")

    sig_after_runs = kernel_signature_counts()
    recompiled = {k: (sig_after_warmup[k], sig_after_runs[k]) for k in _WATCHED
                  if sig_after_runs[k] != sig_after_warmup[k]}

    print()
    print(f"n_iter {args.n_iter}, kept draws {n_kept}; metrics on the test rows, "
          f"(lower)/(higher) = which is better; times in seconds (min of {args.repeats}); "
          f"ratio = bayesfm / myFM (> 1: bayesfm slower); total = fit + predict")
    print(format_table(results))
    if recompiled:
        print(f"WARNING: Numba compiled new signatures during the timed runs {recompiled}; "
              f"some compile time is included.")
    if myfm is None:
        print("(myFM columns are n/a: myfm is not importable)")

    if args.json:
        def _clean(d):
            return {k: (_clean(v) if isinstance(v, dict)
                        else [_clean(x) if isinstance(x, dict) else _json_float(x) for x in v]
                        if isinstance(v, list) else _json_float(v))
                    for k, v in d.items()}

        payload = {
            "benchmark": "bench_classification",
            "machine": {**info, "scikit_learn": sklearn.__version__},
            "settings": {
                "cases": {c["name"]: {"data": c["describe"], "shape": c["shape"],
                                      "rank": c["rank"], "group_shapes": c["group_shapes"],
                                      "metrics": c["metrics"]} for c in cases},
                "split": args.split, "n_iter": args.n_iter, "n_burn": args.n_burn,
                "myfm_n_kept_samples": n_kept, "init_scale": 0.1, "seed": args.seed,
                "repeats": args.repeats, "timing": "min over repeats, time.perf_counter",
                "ece_bins": 10,
                "myfm_available": myfm is not None, "myfm_import_error": _MYFM_ERROR,
            },
            "warmup_s": {"bayesfm": t_warm_bfm, "myfm": t_warm_myfm},
            "numba_cache": {"hits": hits, "compiled": misses},
            "compile_time_excluded": not recompiled,
            "results": [_clean(r) for r in results],
        }
        write_json_atomic(args.json, payload)
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
