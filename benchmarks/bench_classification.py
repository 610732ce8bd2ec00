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
``n_kept_samples = n_iter - n_burn``); fixed seeds; each library's default threads. The priors
are each library's defaults.

Timing: ``time.perf_counter`` around ``fit`` and around the prediction on the test rows (the call
that produces what the metrics need: expected ratings or class probabilities); each timing is
repeated ``--repeats`` times and the minimum is reported. bayesfm's Numba code (every registered
kernel in its serial and parallel build, the truncated-normal latent draws, the ordered-probit
likelihood and class probabilities) is warmed up by short runs of every case first (as in
``bench_regression.py``), so compile time is excluded and the warm-up time is printed. myFM's tqdm
progress bar is silenced by pointing file descriptor 2 at /dev/null during its calls.

Run (from the repository root)::

    BAYESFM_DATA=/path/to/data python benchmarks/bench_classification.py
        [--cases ml100k-ordinal ml100k-binary a9a] [--n-iter 200] [--n-burn 5] [--repeats 1]
        [--seed 0] [--split u1] [--json out.json] [--markdown]

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
from _tables import Col, best_of, table  # noqa: E402

from bayesfm import FMClassifier, FMOrdinalRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, N_ITEMS, N_USERS, load_movielens_100k  # noqa: E402
from bayesfm.sampler import ordinal as _ordinal  # noqa: E402
from bayesfm.sampler import truncnorm as _truncnorm  # noqa: E402

myfm = _br.myfm
_MYFM_ERROR = _br._MYFM_ERROR

CASES = ("ml100k-ordinal", "ml100k-binary", "a9a")
A9A_FEATURES = 123

#: the Numba code, besides the registered kernels and their serial builds, whose compiled
#: signatures we watch (to detect compilation in timings): called from Python, not a kernel
_WATCHED_EXTRA = {
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
    ap.add_argument("--ml100k-rank", type=int, default=10,
                    help="rank of the two MovieLens cases (default 10)")
    ap.add_argument("--a9a-rank", type=int, default=8, help="rank of the a9a case (default 8)")
    _br.add_common_args(ap, "ml-100k/ and a9a/")
    args = ap.parse_args(argv)
    seen = []
    for group in args.cases:
        seen += [c for c in group if c not in seen]
    args.cases = [c for c in CASES if c in seen]  # canonical order, no duplicates
    _br.check_common_args(ap, args, ("ml100k_rank", "a9a_rank", "repeats"))
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
        metrics = {"rmse": _br.rmse(expected, case["y_test"])}
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
    with _br.stderr_silenced():
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
        metrics = {"rmse": _br.rmse(expected, case["y_test"])}
    else:
        metrics = binary_metrics(case["y_test"], p1, case["metrics"])
    return t1 - t0, t2 - t1, metrics, len(model.predictor_.samples), {}


def cutpoint_note(b: dict) -> str:
    """The ordinal case's addition to its "done" line."""
    if "cutpoint_acceptance" not in b:
        return ""
    return f"; bayesfm cutpoint MH acceptance {b['cutpoint_acceptance']:.2f}"


def summarise(runs: list[tuple]) -> dict:
    """Minimum over repeats of fit, predict and fit+predict; metrics of the first run."""
    return {**best_of([r[0] for r in runs], [r[1] for r in runs]),
            "metrics": runs[0][2], "metrics_all_repeats": [r[2] for r in runs],
            "n_draws": runs[0][3], **runs[0][4]}


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------
def format_table(results: list[dict], markdown: bool = False) -> str:
    """One row per (case, metric); the timings sit on the first row of each case."""
    cols = [Col("case", left=True), Col("rank", "d"), Col("metric", left=True),
            Col("bayesfm", ".4f"), Col("myFM", ".4f"), *_br.TIMING_COLS]
    rows = []
    for r in results:
        b, m = r["bayesfm"], r["myfm"]
        for j, name in enumerate(r["metrics"]):
            label, better = _METRICS[name]
            first = [r["case"], r["rank"]] if j == 0 else ["", ""]
            rows.append([*first, f"{label} ({better})", b["metrics"][name],
                         m["metrics"][name] if m else None,
                         *(_br.timing_cells(r) if j == 0 else [""] * len(_br.TIMING_COLS))])
    return table(cols, rows, markdown=markdown)


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

    info = _br.machine_info()
    n_kept = args.n_iter - args.n_burn
    print("bayesfm vs myFM: Bayesian FM probit models by Gibbs sampling "
          "(ordinal and binary targets)")
    _br.print_machine(info, f"scikit-learn {sklearn.__version__}, ")
    for c in cases:
        groups = (f"groups user={N_USERS} item={N_ITEMS}" if c["group_shapes"]
                  else "one group")
        print(f"data    : {c['name']}: {c['describe']}; {c['shape']}; {groups}")
    print(f"settings: n_iter {args.n_iter}, bayesfm n_burn {args.n_burn} / myFM n_kept_samples "
          f"{n_kept}, init scale 0.1, seed {args.seed}, repeats {args.repeats} (minimum "
          f"reported), default threads")

    def bfm(case, n_iter, n_burn):
        return run_bayesfm(case, n_iter, n_burn, args.seed)

    def other(case, n_iter, n_burn):
        return run_myfm(case, n_iter, n_burn, args.seed)

    results, recompiled, checks = _br.compare(
        args, cases, bfm, other if myfm is not None else None, summarise,
        fields=lambda c: {"case": c["name"], "rank": c["rank"], "metrics": c["metrics"]},
        label=lambda c: f"{c['name']:<15}", check=("metrics", "metrics differ"),
        extra_watched=_WATCHED_EXTRA, note=cutpoint_note,
        warm=f"a {_br.WARM_ITER}-sweep fit+predict of every case")

    print()
    print(f"n_iter {args.n_iter}, kept draws {n_kept}; metrics on the test rows, "
          f"(lower)/(higher) = which is better; times in seconds (min of {args.repeats}); "
          f"ratio = bayesfm / myFM (> 1: bayesfm slower); total = fit + predict")
    print(format_table(results, markdown=args.markdown))
    _br.print_after_table(recompiled)
    if args.json:
        settings = {"cases": {c["name"]: {"data": c["describe"], "shape": c["shape"],
                                          "rank": c["rank"], "group_shapes": c["group_shapes"],
                                          "metrics": c["metrics"]} for c in cases},
                    "split": args.split, **_br.common_settings(args), "ece_bins": 10}
        machine = {**info, "scikit_learn": sklearn.__version__}
        _br.write_results(args.json, "bench_classification", machine, settings, checks, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
