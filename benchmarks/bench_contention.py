#!/usr/bin/env python
"""Shared cores: fit time on an idle machine and beside one CPU-bound process, for bayesfm's
thread settings and myFM, in one run.

Case: MovieLens-100k u1, user + item one-hot, rank 10, ``--n-iter`` sweeps (200), one chain
(and the default four chains in worker processes). Rows:

    bayesfm 1 thread       n_threads=1
    bayesfm 2 fixed        n_threads=<all CPUs>: every sweep on all threads (the default
                           before the adaptive policy)
    bayesfm default        n_threads=None: at most all CPUs, fewer while they are busy
                           (``bayesfm.sampler.execution``)
    bayesfm 4 chains       the default fit: four chains, worker processes
    myFM                   MyFMRegressor 0.4.0 / 0.5.0, same rank, groups and sweeps

Conditions: ``idle`` and ``busy`` (a ``python -c "while True: pass"`` process started before the
fit and ended after it). Every (row, condition) pair is timed ``--repeats`` times (5), the
conditions alternating within a repeat; the table gives medians (and min-max). Each bayesfm fit
starts from all threads (the thread choice that a previous fit left is forgotten). Numba
compilation is excluded (warm-up fits of every build first).

Then the joint-distribution test (``test_geweke_joint_distribution`` of
``tests/statistical/test_geweke.py``) is timed as a pytest run, idle and busy (``--no-geweke``
skips it).

It prints the targets of the shared-cores issue: default busy / 1 thread busy <= 1.15; the
default's idle speed-up over 1 thread within 5% of the fixed all-threads one; Geweke busy / idle
<= 2.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_contention.py [--n-iter 200]
        [--repeats 3] [--no-geweke] [--json out.json] [--markdown]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

_BENCH_DIR = Path(__file__).resolve().parent
ROOT = _BENCH_DIR.parent
for _p in (_BENCH_DIR, ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import bench_regression as _br  # noqa: E402
from _tables import Col, cpu_model, ratio, table  # noqa: E402

from bayesfm import FMRegressor  # noqa: E402
from bayesfm.data.movielens import DATA_ENV, load_movielens_100k  # noqa: E402
from bayesfm.sampler import execution  # noqa: E402
from bayesfm.sampler.threads import usable_cpus  # noqa: E402


@contextlib.contextmanager
def busy_process(active: bool):
    """A CPU-bound process beside the block (when ``active``)."""
    if not active:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def fit_bayesfm(data, n_iter, n_threads, n_chains=1, seed=0):
    execution._LAST_CHOICE.clear()          # every fit starts from all threads
    model = FMRegressor(rank=10, n_iter=n_iter, n_burn=5, init_scale=0.1, n_chains=n_chains,
                        n_threads=n_threads, progress=False, random_state=seed)
    t0 = time.perf_counter()
    model.fit(data.X_train, data.y_train, groups=list(data.groups))
    seconds = time.perf_counter() - t0
    return seconds, _br.rmse(model.predict(data.X_test), data.y_test)


def fit_myfm(data, n_iter, seed=0):
    codes = {g: k for k, g in enumerate(dict.fromkeys(data.groups))}
    fm = _br.myfm.MyFMRegressor(rank=10, init_stdev=0.1, random_seed=seed)
    with _br.stderr_silenced():
        t0 = time.perf_counter()
        fm.fit(data.X_train, data.y_train, grouping=[codes[g] for g in data.groups],
               n_iter=n_iter, n_kept_samples=n_iter - 5)
        seconds = time.perf_counter() - t0
    return seconds, _br.rmse(fm.predict(data.X_test), data.y_test)


def time_geweke() -> float:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/statistical/test_geweke.py::test_geweke_joint_distribution"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError("the Geweke test failed:\n" + proc.stdout[-2000:])
    return seconds


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get(DATA_ENV))
    ap.add_argument("--n-iter", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-geweke", dest="geweke", action="store_false")
    ap.add_argument("--no-myfm", dest="myfm", action="store_false")
    ap.add_argument("--no-chains", dest="chains", action="store_false",
                    help="leave out the four-chain row")
    ap.add_argument("--no-fits", dest="fits", action="store_false",
                    help="only the Geweke timing")
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    if not args.data:
        ap.error(f"no data: set {DATA_ENV} or pass --data (a directory holding ml-100k/)")
    if args.repeats < 1 or args.n_iter < 10:
        ap.error("--repeats must be >= 1 and --n-iter >= 10")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    info = _br.machine_info()
    info["cpu_model"] = cpu_model()
    _br.print_machine(info)
    print(f"CPU: {info['cpu_model']}; {usable_cpus()} usable CPUs; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data = load_movielens_100k(path=args.data, split="u1", side_info=False, implicit=False)
    cpus = usable_cpus()
    rows = {"bayesfm 1 thread": lambda: fit_bayesfm(data, args.n_iter, 1),
            f"bayesfm {cpus} fixed": lambda: fit_bayesfm(data, args.n_iter, cpus),
            "bayesfm default": lambda: fit_bayesfm(data, args.n_iter, None)}
    if args.chains:
        rows["bayesfm 4 chains"] = lambda: fit_bayesfm(data, args.n_iter, None, n_chains=4)
    if args.myfm and _br.myfm is not None:
        rows[f"myFM {_br.myfm.__version__}"] = lambda: fit_myfm(data, args.n_iter)
    if args.fits:
        run_fits(args, info, data, cpus, rows)
    geweke = None
    if args.geweke:
        geweke = {}
        time_geweke()                           # warm-up: its kernels compiled or loaded
        for cond in ("idle", "busy"):
            with busy_process(cond == "busy"):
                geweke[cond] = time_geweke()
        print(f"Geweke joint-distribution test (pytest run): idle {geweke['idle']:.1f} s, busy "
              f"{geweke['busy']:.1f} s, ratio {geweke['busy'] / geweke['idle']:.2f} "
              f"(target <= 2)")
    if args.json:
        _br.write_json_atomic(args.json, {
            "machine": info, "n_iter": args.n_iter, "repeats": args.repeats,
            "times": {f"{r}|{c}": v for (r, c), v in RESULTS.get("times", {}).items()},
            "rmse": RESULTS.get("rmse"), "geweke": geweke})
    return 0


RESULTS: dict = {}


def run_fits(args, info, data, cpus, rows) -> None:
    """Time every row idle and busy, print the table and the targets."""
    t0 = time.perf_counter()
    for threads in (1, cpus):                   # compile / load every build
        fit_bayesfm(data, 12, threads)
    if args.chains:
        fit_bayesfm(data, 12, None, n_chains=4)
    print(f"warm-up {time.perf_counter() - t0:.1f} s")

    times = {(r, c): [] for r in rows for c in ("idle", "busy")}
    rmses = {r: [] for r in rows}
    for rep in range(args.repeats):
        for cond in (("idle", "busy") if rep % 2 == 0 else ("busy", "idle")):
            for name, fit in rows.items():
                with busy_process(cond == "busy"):
                    seconds, err = fit()
                times[(name, cond)].append(seconds)
                rmses[name].append(err)
        print(f"repeat {rep + 1}/{args.repeats} done", flush=True)
    RESULTS.update(times=times, rmse=rmses)

    def med(name, cond):
        return statistics.median(times[(name, cond)])

    out_rows = []
    for name in rows:
        idle, busy = med(name, "idle"), med(name, "busy")
        spread = (f"{min(times[(name, 'idle')]):.2f}-{max(times[(name, 'idle')]):.2f} / "
                  f"{min(times[(name, 'busy')]):.2f}-{max(times[(name, 'busy')]):.2f}")
        out_rows.append([name, idle, busy, ratio(busy, idle), spread,
                         float(np.median(rmses[name]))])
    cols = [Col("fit", left=True), Col("idle s", ".2f"), Col("busy s", ".2f"),
            Col("slowdown", ".2f"), Col("min-max idle / busy", left=True),
            Col("RMSE", ".4f")]
    print(f"\nML-100k u1 ids, rank 10, {args.n_iter} sweeps, medians of {args.repeats} "
          f"(busy: one CPU-bound process beside); {info['cpu_model']}, {cpus} CPUs")
    print(table(cols, out_rows, markdown=args.markdown))

    one, fixed, auto = "bayesfm 1 thread", f"bayesfm {cpus} fixed", "bayesfm default"
    busy_ratio = ratio(med(auto, "busy"), med(one, "busy"))
    speedup_auto = ratio(med(one, "idle"), med(auto, "idle"))
    speedup_fixed = ratio(med(one, "idle"), med(fixed, "idle"))
    print(f"\ndefault busy / 1 thread busy: {busy_ratio:.3f} (target <= 1.15)")
    print(f"idle speed-up over 1 thread: default {speedup_auto:.3f}, {cpus} fixed "
          f"{speedup_fixed:.3f}; ratio {speedup_auto / speedup_fixed:.3f} (target >= 0.95)")
    myfm_name = next((r for r in rows if r.startswith("myFM")), None)
    if myfm_name:
        print(f"bayesfm default / myFM: idle {ratio(med(auto, 'idle'), med(myfm_name, 'idle')):.3f}"
              f", busy {ratio(med(auto, 'busy'), med(myfm_name, 'busy')):.3f}")


if __name__ == "__main__":
    sys.exit(main())
