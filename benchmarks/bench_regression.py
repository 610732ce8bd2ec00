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
* fixed seeds (``--seed``); prediction single-threaded on both sides (myFM's default
  ``predict`` with ``n_workers=None`` is serial, bayesfm's kernels are serial).

The priors are each library's defaults (libFM-like in both, not identical constants; see
``bayesfm/priors.py``).

Timing: ``time.perf_counter`` around ``fit`` and around ``predict`` on the test rows; each
timing is repeated ``--repeats`` times and the minimum is reported. bayesfm's Numba kernels
compile on first use (or load from the on-disk cache, ``cache=True``); they are warmed up on a
tiny problem first, so compile time is excluded and the warm-up time is printed. myFM's tqdm
progress bar (written to stderr inside its ``fit``, with no option to turn it off) is silenced by
pointing file descriptor 2 at /dev/null during myFM's calls.

Run (from the repository root)::

    BAYESFM_DATA=/path/to/data python benchmarks/bench_regression.py [--ranks 10 32]
        [--n-iter 200] [--n-burn 5] [--repeats 1] [--seed 0] [--split u1] [--json out.json]

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
import scipy.sparse as sp

# Prefer the checkout this script lives in (works without installing the package).
_REPO_ROOT = Path(__file__).resolve().parent.parent
if (_REPO_ROOT / "bayesfm" / "__init__.py").is_file():
    sys.path.insert(0, str(_REPO_ROOT))

import numba  # noqa: E402

import bayesfm  # noqa: E402
from bayesfm import FMRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, N_ITEMS, N_USERS, load_movielens_100k  # noqa: E402
from bayesfm.sampler import kernels as _kernels  # noqa: E402

try:
    import myfm  # noqa: E402
    _MYFM_ERROR = None
except (ImportError, OSError) as exc:  # OSError: a broken compiled extension
    myfm = None
    _MYFM_ERROR = f"{type(exc).__name__}: {exc}"

#: the Numba kernels whose compiled signatures we watch (to detect compilation inside timings)
_KERNELS = ("recompute_cache", "gibbs_sweep", "_hyper_update", "predict_draws_csr")


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


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="bayesfm vs myFM (Gibbs-sampled Bayesian FM regression) on MovieLens-100k, "
                    "ids-only features. Data from --data or $" + DATA_ENV + ".")
    ap.add_argument("--ranks", type=_ranks_arg, nargs="+", default=[[10, 32]],
                    help="ranks to run, e.g. '--ranks 10 32' or '--ranks 10,32' (default 10 32)")
    ap.add_argument("--n-iter", type=int, default=200,
                    help="Gibbs iterations for both libraries (default 200)")
    ap.add_argument("--n-burn", type=int, default=5,
                    help="burn-in sweeps of bayesfm; myFM keeps n_iter - n_burn samples "
                         "(default 5, myFM's own default)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="repeat every timing this many times and report the minimum (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both samplers (default 0)")
    ap.add_argument("--split", default="u1", help="MovieLens-100k split u1..u5, ua, ub (default u1)")
    ap.add_argument("--data", default=None,
                    help=f"directory holding ml-100k/ (default: ${DATA_ENV})")
    ap.add_argument("--json", metavar="PATH", default=None,
                    help="also write the results as JSON to PATH (written atomically)")
    args = ap.parse_args(argv)
    args.ranks = [r for group in args.ranks for r in group]
    if args.n_iter < 1:
        ap.error(f"--n-iter must be >= 1, got {args.n_iter}")
    if not 0 <= args.n_burn < args.n_iter:
        ap.error(f"--n-burn must be in [0, n_iter) = [0, {args.n_iter}), got {args.n_burn}")
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0, got {args.seed}")
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


def kernel_signature_counts() -> dict:
    return {name: len(getattr(_kernels, name).signatures) for name in _KERNELS}


def kernel_cache_stats() -> tuple[int, int]:
    """(signatures loaded from Numba's on-disk cache, signatures compiled) over the kernels."""
    hits = misses = 0
    for name in _KERNELS:
        stats = getattr(getattr(_kernels, name), "stats", None)
        if stats is not None:
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


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


def _json_float(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


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


def warm_up(seed: int) -> tuple[float, float | None]:
    """Fit + predict a tiny problem with both libraries; returns (bayesfm_s, myfm_s or None).

    For bayesfm this triggers Numba compilation of every kernel used by fit/predict (or loads the
    compiled code from the on-disk cache), with the same argument types as the real run.
    """
    rng = np.random.default_rng(seed)
    n, nu, ni = 60, 7, 5
    users = rng.integers(0, nu, n)
    items = rng.integers(0, ni, n)
    X = sp.csr_matrix((np.ones(2 * n), np.stack([users, nu + items], 1).ravel(),
                       np.arange(0, 2 * n + 1, 2)), shape=(n, nu + ni))
    y = rng.normal(3.5, 1.0, n)
    groups = np.array(["user"] * nu + ["item"] * ni)

    t0 = time.perf_counter()
    FMRegressor(rank=2, n_iter=4, n_burn=1, n_chains=1, n_jobs=1,
                random_state=seed).fit(X, y, groups=groups).predict(X)
    t_bfm = time.perf_counter() - t0

    t_myfm = None
    if myfm is not None:
        t0 = time.perf_counter()
        with stderr_silenced():
            m = myfm.MyFMRegressor(rank=2, init_stdev=0.1, random_seed=seed)
            m.fit(X, y, n_iter=4, n_kept_samples=3, group_shapes=[nu, ni])
            m.predict(X)
        t_myfm = time.perf_counter() - t0
    return t_bfm, t_myfm


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------
def _fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def format_table(results: list[dict]) -> str:
    head = ["rank", "RMSE bayesfm", "RMSE myFM", "fit bayesfm s", "fit myFM s", "fit ratio",
            "pred bayesfm s", "pred myFM s", "total ratio"]
    rows = []
    for r in results:
        rows.append([
            str(r["rank"]),
            _fmt(r["bayesfm"]["rmse"], ".4f"),
            _fmt(r["myfm"]["rmse"], ".4f") if r["myfm"] else "n/a",
            _fmt(r["bayesfm"]["fit_s"], ".2f"),
            _fmt(r["myfm"]["fit_s"], ".2f") if r["myfm"] else "n/a",
            _fmt(r["fit_ratio"], ".2f"),
            _fmt(r["bayesfm"]["predict_s"], ".3f"),
            _fmt(r["myfm"]["predict_s"], ".3f") if r["myfm"] else "n/a",
            _fmt(r["total_ratio"], ".2f"),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)


def summarise(timings: list[tuple]) -> dict:
    """Minimum over repeats of fit, predict and fit+predict; RMSE and draws of the first run."""
    fits = [t[0] for t in timings]
    preds = [t[1] for t in timings]
    rmses = [t[2] for t in timings]
    return {
        "fit_s": min(fits),
        "predict_s": min(preds),
        "total_s": min(f + p for f, p in zip(fits, preds)),
        "rmse": rmses[0],
        "rmse_all_repeats": rmses,
        "fit_s_all_repeats": fits,
        "predict_s_all_repeats": preds,
        "n_draws": timings[0][3],
    }


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
    print(f"machine : {info['platform']}, {info['processor']}, cpu_count={info['cpu_count']}"
          f" (available to this process: {info['cpus_available']}), Python {info['python']}")
    print(f"versions: numpy {info['numpy']}, scipy {info['scipy']}, numba {info['numba']}, "
          f"bayesfm {info['bayesfm']} ({info['bayesfm_path']}), "
          f"myfm {info['myfm'] if myfm is not None else 'NOT AVAILABLE'}")
    if myfm is None:
        print(f"NOTE: myfm could not be imported ({_MYFM_ERROR}); running bayesfm only. "
              f"Install it with: pip install myfm==0.4.0")
    print(f"data    : split {args.split}, ids only (user one-hot + item one-hot), "
          f"train {data.X_train.shape[0]} x {data.X_train.shape[1]}, test {data.X_test.shape[0]} "
          f"rows, groups user={N_USERS} item={N_ITEMS}")
    print(f"settings: ranks {args.ranks}, n_iter {args.n_iter}, bayesfm n_burn {args.n_burn} / "
          f"myFM n_kept_samples {n_kept}, init scale 0.1, seed {args.seed}, "
          f"repeats {args.repeats} (minimum reported), single-threaded predict")

    t_warm_bfm, t_warm_myfm = warm_up(args.seed)
    sig_after_warmup = kernel_signature_counts()
    hits, misses = kernel_cache_stats()
    print(f"warm-up : bayesfm Numba kernels ready after a tiny fit+predict in {t_warm_bfm:.2f} s "
          f"({hits} signature(s) loaded from the on-disk cache, {misses} compiled)"
          + (f"; myFM warm-up {t_warm_myfm:.2f} s" if t_warm_myfm is not None else "")
          + ". Compile time is EXCLUDED from the timings below.")
    sys.stdout.flush()

    results = []
    for rank in args.ranks:
        bfm_runs, myfm_runs = [], []
        for _ in range(args.repeats):
            bfm_runs.append(run_bayesfm(data, rank, args.n_iter, args.n_burn, args.seed))
            if myfm is not None:
                myfm_runs.append(run_myfm(data, rank, args.n_iter, args.n_burn, args.seed))
        b = summarise(bfm_runs)
        m = summarise(myfm_runs) if myfm_runs else None
        res = {
            "rank": rank,
            "bayesfm": b,
            "myfm": m,
            "fit_ratio": b["fit_s"] / m["fit_s"] if m else None,
            "predict_ratio": b["predict_s"] / m["predict_s"] if m else None,
            "total_ratio": b["total_s"] / m["total_s"] if m else None,
        }
        results.append(res)
        draws = f"kept draws bayesfm {b['n_draws']}" + (f", myFM {m['n_draws']}" if m else "")
        print(f"  rank {rank:>3} done: {draws}", flush=True)
        for name, s in (("bayesfm", b), ("myFM", m)):
            if s and len(set(s["rmse_all_repeats"])) > 1:
                print(f"  WARNING: {name} RMSE differs between repeats with a fixed seed: "
                      f"{s['rmse_all_repeats']}")

    sig_after_runs = kernel_signature_counts()
    recompiled = {k: (sig_after_warmup[k], sig_after_runs[k]) for k in _KERNELS
                  if sig_after_runs[k] != sig_after_warmup[k]}

    print()
    print(f"MovieLens-100k {args.split}, ids only, n_iter {args.n_iter}, kept draws {n_kept}; "
          f"times in seconds (min of {args.repeats}); ratio = bayesfm / myFM "
          f"(> 1: bayesfm slower); total = fit + predict")
    print(format_table(results))
    if recompiled:
        print(f"WARNING: Numba compiled new signatures during the timed runs {recompiled}; "
              f"some compile time is included.")
    if myfm is None:
        print("(myFM columns are n/a: myfm is not importable)")

    if args.json:
        payload = {
            "benchmark": "bench_regression",
            "machine": info,
            "settings": {
                "dataset": "MovieLens-100k", "split": args.split, "features": "ids only",
                "ranks": args.ranks, "n_iter": args.n_iter, "n_burn": args.n_burn,
                "myfm_n_kept_samples": n_kept, "init_scale": 0.1, "seed": args.seed,
                "repeats": args.repeats, "timing": "min over repeats, time.perf_counter",
                "myfm_available": myfm is not None, "myfm_import_error": _MYFM_ERROR,
            },
            "warmup_s": {"bayesfm": t_warm_bfm, "myfm": t_warm_myfm},
            "numba_cache": {"hits": hits, "compiled": misses},
            "compile_time_excluded": not recompiled,
            "results": [
                {k: ({kk: _json_float(vv) if not isinstance(vv, list) else vv
                      for kk, vv in v.items()} if isinstance(v, dict) else _json_float(v))
                 for k, v in r.items()}
                for r in results
            ],
        }
        write_json_atomic(args.json, payload)
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
