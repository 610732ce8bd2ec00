#!/usr/bin/env python
"""Benchmark: bayesfm.FMRegressor against myFM's MyFMRegressor on MovieLens-100k.

Both libraries fit a Bayesian Factorization Machine by Gibbs sampling on the same "ids only"
design matrices (user one-hot + item one-hot) of a predefined MovieLens-100k split (u1 by
default), for every rank in ``--ranks``, in one process. Matched settings:

* the same rank and number of Gibbs iterations (``--n-iter``);
* the same feature groups (bayesfm ``groups=data.groups``; myFM ``group_shapes=[943, 1682]``);
* the same initial scale of the latent factors (bayesfm ``init_scale=0.1``, myFM
  ``init_stdev=0.1``);
* the same kept draws: bayesfm discards ``--n-burn`` sweeps, myFM keeps
  ``n_kept_samples = n_iter - n_burn``;
* fixed seeds (``--seed``); each library's default threads (myFM's ``predict`` with
  ``n_workers=None`` is serial; bayesfm, ``n_threads=None``, runs its kernels on all CPUs when
  the problem is large enough, else serially).

The priors are each library's defaults (libFM-like in both, not identical constants; see
``bayesfm/priors.py``).

Timing: ``time.perf_counter`` around ``fit`` and around ``predict`` on the test rows; each
timing is repeated ``--repeats`` times and the minimum is reported. bayesfm's Numba kernels
compile on first use (or load from the on-disk cache, ``cache=True``), in a serial and a parallel
build, and bayesfm picks the build by the size of the problem; a short fit + predict (3 sweeps)
of the same problem at every rank comes first, so every build the timed runs use is ready, compile
time is excluded and the warm-up time is printed (the script checks that no registered kernel,
serial or parallel build, compiled a new signature during the timed runs). myFM's tqdm progress
bar (written to stderr inside its ``fit``, with no option to turn it off) is silenced by pointing
file descriptor 2 at /dev/null during myFM's calls.

Run (from the repository root)::

    BAYESFM_DATA=/path/to/data python benchmarks/bench_regression.py [--ranks 10 32]
        [--n-iter 200] [--n-burn 5] [--repeats 1] [--seed 0] [--split u1] [--json out.json]
        [--markdown]

Exit status: 0 on success, 2 when MovieLens-100k cannot be found (or on bad arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy

# Prefer the checkout this script lives in (works without installing the package); the table
# helpers sit next to this script.
_BENCH_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _BENCH_DIR.parent
if (_REPO_ROOT / "bayesfm" / "__init__.py").is_file():
    sys.path.insert(0, str(_REPO_ROOT))
if str(_BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(_BENCH_DIR))

import numba  # noqa: E402
from _tables import Col, best_of, ratios, table  # noqa: E402

import bayesfm  # noqa: E402
from bayesfm import FMRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, N_ITEMS, N_USERS, SPLITS, load_movielens_100k  # noqa: E402

# accumulate, kernels, relational: the modules whose kernels _jit.registered() lists (bayesfm
# imports them already; named here so that the watched list does not depend on it)
from bayesfm.sampler import _jit, accumulate, kernels, relational  # noqa: E402,F401
from bayesfm.sampler import threads as _threads  # noqa: E402

try:
    import myfm  # noqa: E402
    _MYFM_ERROR = None
except (ImportError, OSError) as exc:  # OSError: a broken compiled extension
    myfm = None
    _MYFM_ERROR = f"{type(exc).__name__}: {exc}"



# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _ranks_arg(text: str) -> list[int]:
    out = []
    for part in text.replace(",", " ").split():
        try:
            r = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"rank must be an integer, got {part!r}") from None
        if r < 1:
            raise argparse.ArgumentTypeError(f"rank must be >= 1, got {r}")
        out.append(r)
    if not out:
        raise argparse.ArgumentTypeError("no rank given")
    return out


def add_common_args(ap: argparse.ArgumentParser, data_dirs: str) -> None:
    """The options both comparisons with myFM take (this script and bench_classification.py);
    ``data_dirs`` names what --data must hold."""
    ap.add_argument("--n-iter", type=int, default=200,
                    help="Gibbs iterations for both libraries (default 200)")
    ap.add_argument("--n-burn", type=int, default=5,
                    help="burn-in sweeps of bayesfm; myFM keeps n_iter - n_burn samples "
                         "(default 5, myFM's own default)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat every timing this many times and report the minimum (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both samplers (default 0)")
    ap.add_argument("--split", default="u1", choices=SPLITS,
                    help="MovieLens-100k split u1..u5, ua, ub (default u1)")
    ap.add_argument("--data", default=None,
                    help=f"directory holding {data_dirs} (default: ${DATA_ENV})")
    ap.add_argument("--json", metavar="PATH", default=None,
                    help="also write the results as JSON to PATH (written atomically)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def check_common_args(ap: argparse.ArgumentParser, args, at_least_one=("repeats",)) -> None:
    """Reject bad values of the common options (``at_least_one``: the options, as attribute
    names, that must be >= 1)."""
    if args.n_iter < 1:
        ap.error(f"--n-iter must be >= 1, got {args.n_iter}")
    if not 0 <= args.n_burn < args.n_iter:
        ap.error(f"--n-burn must be in [0, n_iter) = [0, {args.n_iter}), got {args.n_burn}")
    for name in at_least_one:
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0, got {args.seed}")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="bayesfm vs myFM (Gibbs-sampled Bayesian FM regression) on MovieLens-100k, "
                    "ids-only features. Data from --data or $" + DATA_ENV + ".")
    ap.add_argument("--ranks", type=_ranks_arg, nargs="+", default=[[10, 32]],
                    help="ranks to run, e.g. '--ranks 10 32' or '--ranks 10,32' (default 10 32)")
    add_common_args(ap, "ml-100k/")
    args = ap.parse_args(argv)
    args.ranks = [r for group in args.ranks for r in group]
    check_common_args(ap, args)
    return args


@contextlib.contextmanager
def stderr_silenced():
    """Point file descriptor 2 at /dev/null (silences tqdm and any C++ output), then restore."""
    if sys.stderr is not None:
        sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        if sys.stderr is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - y) ** 2)))


def watched_kernels(extra: dict | None = None) -> dict:
    """The Numba dispatchers whose compiled signatures we watch (to detect compilation inside
    the timings), by name: every registered kernel (``bayesfm.sampler._jit.registered()``) and
    its serial build (``<module>.<name>.serial``), then ``extra`` (name -> dispatcher)."""
    out = {}
    for k in _jit.registered():
        name = f"{k.py_func.__module__.rsplit('.', 1)[-1]}.{k.py_func.__name__}"
        out[name] = k
        out[f"{name}.serial"] = k.serial.dispatcher
    return {**out, **(extra or {})}


def kernel_signature_counts(watched: dict) -> dict:
    return {name: len(d.signatures) for name, d in watched.items()}


def kernel_cache_stats(watched: dict) -> tuple[int, int]:
    """(signatures loaded from Numba's on-disk cache, signatures compiled) over ``watched``."""
    hits = misses = 0
    for d in watched.values():
        stats = getattr(d, "stats", None)
        if stats is not None:
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


def new_signatures(before: dict, after: dict) -> dict:
    """name -> (signatures before, after), for the dispatchers that compiled new ones."""
    return {k: (before[k], after[k]) for k in after if after[k] != before.get(k, 0)}


def print_machine(info: dict, extra_versions: str = "") -> None:
    """The machine and versions lines every benchmark prints before its table, and a note when
    myFM is not importable."""
    print(f"machine : {info['platform']}, {info['processor']}, cpu_count={info['cpu_count']}"
          f" (available to this process: {info['cpus_available']}), Python {info['python']}")
    print(f"versions: numpy {info['numpy']}, scipy {info['scipy']}, numba {info['numba']}, "
          f"{extra_versions}bayesfm {info['bayesfm']} ({info['bayesfm_path']}), "
          f"myfm {info['myfm'] if myfm is not None else 'NOT AVAILABLE'}")
    if myfm is None:
        print(f"NOTE: myfm could not be imported ({_MYFM_ERROR}); running bayesfm only. "
              f"Install it with: pip install myfm==0.4.0")


def print_warm_up(what: str, t_bfm: float, t_myfm, hits: int, misses: int) -> None:
    print(f"warm-up : bayesfm Numba kernels ready after {what} in {t_bfm:.2f} s "
          f"({hits} signature(s) loaded from the on-disk cache, {misses} compiled)"
          + (f"; myFM warm-up {t_myfm:.2f} s" if t_myfm is not None else "")
          + ". Compile time is EXCLUDED from the timings below.", flush=True)


def print_after_table(recompiled: dict) -> None:
    if recompiled:
        print(f"WARNING: Numba compiled new signatures during the timed runs {recompiled}; "
              f"some compile time is included.")
    if myfm is None:
        print("(myFM columns are n/a: myfm is not importable)")


def machine_info() -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "bayesfm": getattr(bayesfm, "__version__", "?"),
        "bayesfm_path": str(Path(bayesfm.__file__).resolve().parent),
        "myfm": getattr(myfm, "__version__", "?") if myfm is not None else None,
    }


def write_json_atomic(path: str, payload: dict) -> None:
    """Write ``payload`` to ``path`` via a temporary file in the same directory + os.replace."""
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def json_clean(x):
    """``x`` (nested dicts and lists) with every non-finite float as None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


# ------------------------------------------------------------------------------------------------
# the two contestants
# ------------------------------------------------------------------------------------------------
def run_bayesfm(data, rank, n_iter, n_burn, seed):
    """One fit + predict of bayesfm; returns (fit_s, predict_s, rmse, n_draws)."""
    # one chain in this process, as myFM runs one: the same work on both sides
    model = FMRegressor(rank=rank, n_iter=n_iter, n_burn=n_burn, init_scale=0.1,
                        n_chains=1, n_jobs=1, progress=False, random_state=seed)
    gc.collect()
    t0 = time.perf_counter()
    model.fit(data.X_train, data.y_train, groups=data.groups)
    t1 = time.perf_counter()
    pred = model.predict(data.X_test)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, rmse(pred, data.y_test), model.n_draws_


def run_myfm(data, rank, n_iter, n_burn, seed):
    """One fit + predict of myFM; returns (fit_s, predict_s, rmse, n_draws)."""
    model = myfm.MyFMRegressor(rank=rank, init_stdev=0.1, random_seed=seed)
    gc.collect()
    with stderr_silenced():
        t0 = time.perf_counter()
        model.fit(data.X_train, data.y_train, n_iter=n_iter, n_kept_samples=n_iter - n_burn,
                  group_shapes=[N_USERS, N_ITEMS])
        t1 = time.perf_counter()
        pred = model.predict(data.X_test)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, rmse(pred, data.y_test), len(model.predictor_.samples)


#: sweeps (and burn-in) of the warm-up runs
WARM_ITER, WARM_BURN = 3, 1


@contextlib.contextmanager
def min_parallel_work(value):
    """Run the block with bayesfm's threshold of work for the parallel kernel builds
    (``bayesfm.sampler.threads.MIN_PARALLEL_WORK``) set to ``value``, then restore it."""
    saved = _threads.MIN_PARALLEL_WORK
    _threads.MIN_PARALLEL_WORK = value
    try:
        yield
    finally:
        _threads.MIN_PARALLEL_WORK = saved


def warm_up(run_bfm, run_other, items) -> tuple[float, float | None]:
    """Short runs (``WARM_ITER`` sweeps) of every timed problem, ``run_bfm(item, n_iter, n_burn)``
    for bayesfm and ``run_other`` (or None) for myFM; returns (bayesfm_s, myfm_s or None).

    They are the timed problems themselves (the same argument types and code paths), so Numba
    compiles (or loads from its on-disk cache) what the timed runs call, before any timing.
    bayesfm runs a kernel's serial build when the work of the call (non-zeros x (rank + 1), x
    draws for a prediction) is below ``MIN_PARALLEL_WORK``, and a short run has fewer draws
    than the timed one: so bayesfm's runs are made twice, as they are and with that threshold
    at 0, which compiles both builds of every kernel the problem may use.
    """
    t0 = time.perf_counter()
    for threshold in (_threads.MIN_PARALLEL_WORK, 0):
        with min_parallel_work(threshold):
            for item in items:
                run_bfm(item, WARM_ITER, WARM_BURN)
    t_bfm = time.perf_counter() - t0
    t_myfm = None
    if run_other is not None:
        t0 = time.perf_counter()
        for item in items:
            run_other(item, WARM_ITER, WARM_BURN)
        t_myfm = time.perf_counter() - t0
    return t_bfm, t_myfm


def warm_up_watched(run_bfm, run_other, items, what: str, extra_watched=None):
    """``warm_up(run_bfm, run_other, items)`` and its line (``what`` was run), watching the
    kernels (``watched_kernels(extra_watched)``). Returns (a function giving the signatures
    compiled since, ``new_signatures``; the warm-up entries of the JSON output)."""
    watched = watched_kernels(extra_watched)
    t_bfm, t_myfm = warm_up(run_bfm, run_other, items)
    before = kernel_signature_counts(watched)
    hits, misses = kernel_cache_stats(watched)
    print_warm_up(what, t_bfm, t_myfm, hits, misses)
    entries = {"warmup_s": {"bayesfm": t_bfm, "myfm": t_myfm},
               "numba_cache": {"hits": hits, "compiled": misses}}
    return (lambda: new_signatures(before, kernel_signature_counts(watched))), entries


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------
#: the timing columns of the two comparisons with myFM (this one and bench_classification's):
#: fit seconds of each library, their ratio, predict seconds of each, the total ratio
TIMING_COLS = [Col("fit bayesfm s", ".2f"), Col("fit myFM s", ".2f"), Col("fit ratio", ".2f"),
               Col("pred bayesfm s", ".3f"), Col("pred myFM s", ".3f"),
               Col("total ratio", ".2f")]


def timing_cells(r: dict) -> list:
    """The values of TIMING_COLS for a result with "bayesfm", "myfm" (or None) and ratios."""
    b, m = r["bayesfm"], r["myfm"] or {}
    return [b["fit_s"], m.get("fit_s"), r["fit_ratio"], b["predict_s"], m.get("predict_s"),
            r["total_ratio"]]


def format_table(results: list[dict], markdown: bool = False) -> str:
    cols = [Col("rank", "d"), Col("RMSE bayesfm", ".4f"), Col("RMSE myFM", ".4f"), *TIMING_COLS]
    rows = [[r["rank"], r["bayesfm"]["rmse"], (r["myfm"] or {}).get("rmse"), *timing_cells(r)]
            for r in results]
    return table(cols, rows, markdown=markdown)


def summarise(timings: list[tuple]) -> dict:
    """Minimum over repeats of fit, predict and fit+predict; RMSE and draws of the first run."""
    rmses = [t[2] for t in timings]
    return {**best_of([t[0] for t in timings], [t[1] for t in timings]),
            "rmse": rmses[0], "rmse_all_repeats": rmses, "n_draws": timings[0][3]}


def compare(args, items, bfm, other, summarise, *, fields, label, check, extra_watched=None,
            note=None, warm="a short fit+predict"):
    """The comparison with myFM of this script and of bench_classification.py, for every item
    (a rank, a case):

    1. warm-up: ``warm_up_watched(bfm, other, items, warm, extra_watched)``;
    2. ``args.repeats`` timed runs of each library per item, taking turns: ``bfm(item,
       args.n_iter, args.n_burn)`` and ``other(...)`` (None: myFM is missing), each side's runs
       summarised by ``summarise``; then a line ``label(item) done: kept draws ...`` (plus
       ``note(b)``) and a warning when ``check`` = (key, words) of a summary differs between
       repeats;
    3. a check that no watched kernel compiled meanwhile.

    Returns (results: ``fields(item)``, the "bayesfm" and "myfm" summaries and the ratios, one
    dict an item; the recompiled signatures; the warm-up and compile-check entries of the JSON
    output)."""
    compiled_since, checks = warm_up_watched(bfm, other, items, warm, extra_watched)
    key, words = check
    results = []
    for item in items:
        runs = {"bayesfm": [], "myfm": []}
        for _ in range(args.repeats):
            runs["bayesfm"].append(bfm(item, args.n_iter, args.n_burn))
            if other is not None:
                runs["myfm"].append(other(item, args.n_iter, args.n_burn))
        b = summarise(runs["bayesfm"])
        m = summarise(runs["myfm"]) if runs["myfm"] else None
        results.append({**fields(item), "bayesfm": b, "myfm": m, **ratios(b, m)})
        line = f"kept draws bayesfm {b['n_draws']}" + (f", myFM {m['n_draws']}" if m else "")
        print(f"  {label(item)} done: {line}{note(b) if note else ''}", flush=True)
        for name, sm in (("bayesfm", b), ("myFM", m)):
            if sm and any(r != sm[key] for r in sm[f"{key}_all_repeats"]):
                print(f"  WARNING: {name} {words} between repeats with a fixed seed: "
                      f"{sm[f'{key}_all_repeats']}")
    recompiled = compiled_since()
    return results, recompiled, {**checks, "compile_time_excluded": not recompiled}


def common_settings(args) -> dict:
    """The settings both comparisons with myFM write to their JSON output."""
    return {"n_iter": args.n_iter, "n_burn": args.n_burn,
            "myfm_n_kept_samples": args.n_iter - args.n_burn, "init_scale": 0.1,
            "seed": args.seed, "repeats": args.repeats,
            "timing": "min over repeats, time.perf_counter",
            "myfm_available": myfm is not None, "myfm_import_error": _MYFM_ERROR}


def write_results(path, benchmark: str, machine: dict, settings: dict, checks: dict,
                  results: list) -> None:
    """The JSON output of a comparison with myFM (``--json``), written atomically."""
    write_json_atomic(path, {"benchmark": benchmark, "machine": machine, "settings": settings,
                             **checks, "results": json_clean(results)})
    print(f"JSON written to {path}")


# ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = parse_args(argv)

    try:
        data = load_movielens_100k(path=args.data, split=args.split, side_info=False,
                                   implicit=False)
    except FileNotFoundError as exc:
        print(f"error: MovieLens-100k data not found: {exc}\n"
              f"Set the environment variable {DATA_ENV} to a directory holding ml-100k/ "
              f"(e.g. {DATA_ENV}=/path/to/data), or pass --data.", file=sys.stderr)
        return 2

    info = machine_info()
    n_kept = args.n_iter - args.n_burn
    print("bayesfm vs myFM: Bayesian FM regression by Gibbs sampling, MovieLens-100k")
    print_machine(info)
    print(f"data    : split {args.split}, ids only (user one-hot + item one-hot), "
          f"train {data.X_train.shape[0]} x {data.X_train.shape[1]}, test {data.X_test.shape[0]} "
          f"rows, groups user={N_USERS} item={N_ITEMS}")
    print(f"settings: ranks {args.ranks}, n_iter {args.n_iter}, bayesfm n_burn {args.n_burn} / "
          f"myFM n_kept_samples {n_kept}, init scale 0.1, seed {args.seed}, "
          f"repeats {args.repeats} (minimum reported), default threads")

    def bfm(rank, n_iter, n_burn):
        return run_bayesfm(data, rank, n_iter, n_burn, args.seed)

    def other(rank, n_iter, n_burn):
        return run_myfm(data, rank, n_iter, n_burn, args.seed)

    results, recompiled, checks = compare(
        args, args.ranks, bfm, other if myfm is not None else None, summarise,
        fields=lambda rank: {"rank": rank}, label=lambda rank: f"rank {rank:>3}",
        check=("rmse", "RMSE differs"), warm=f"a {WARM_ITER}-sweep fit+predict at every rank")

    print()
    print(f"MovieLens-100k {args.split}, ids only, n_iter {args.n_iter}, kept draws {n_kept}; "
          f"times in seconds (min of {args.repeats}); ratio = bayesfm / myFM "
          f"(> 1: bayesfm slower); total = fit + predict")
    print(format_table(results, markdown=args.markdown))
    print_after_table(recompiled)
    if args.json:
        settings = {"dataset": "MovieLens-100k", "split": args.split, "features": "ids only",
                    "ranks": args.ranks, **common_settings(args)}
        write_results(args.json, "bench_regression", info, settings, checks, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
