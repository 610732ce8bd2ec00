#!/usr/bin/env python
"""How far a sweep is from this machine's limits: memory bandwidth, floating-point rate, and
each case's bytes and flops per sweep.

Measures, on 1 and on all threads:

* **bandwidth**: a STREAM-like triad ``a[i] = b[i] + s * c[i]`` over three arrays of
  ``--triad-mib`` MiB each (far larger than any cache), counted as STREAM counts it (24 bytes per
  element); best of 5;
* **flop rate** of Numba code compiled as the kernels are (no fast-math: no reassociation, no
  fused multiply-add): 8 independent multiply-add chains (scalar), and an elementwise
  ``y = y * m + c`` over an array that stays in L1 (what the vectoriser makes of independent
  lanes); best of 5;

then for each case (MovieLens-100k u1 ids at ranks 10 and 32, its side + implicit relational
design at rank 10, the 1M-rating MovieLens ids at rank 32) one sweep as the fits run it (the
default moves, the exact refresh every ``driver.REFRESH_EVERY`` sweeps; median of ``--sweeps``)
beside a **traffic model** of the sweep: the bytes its passes move if nothing stayed in cache
between them (indices, values, the residual and the factor sums read and written, per
non-zero and per pass) and the flops it does (``model_flat``, ``model_relational``). The bounds
are bytes / bandwidth and flops / the vector flop rate; ``x bound`` is the measured time over the
larger bound: how many times slower than the machine's limit for that traffic. The bandwidth
of the bound is the triad's over arrays as large as the case's working set (``working_set``:
the design, residual and factor sums), i.e. of the cache level it lives in (on ML-100k a few
MB: L2/L3), beside the large-array (memory) triad of the first table. A sweep far above both
bounds is bound by latency and dependent arithmetic (sums carried from one row to the next,
scattered reads), not by bandwidth or flops.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_limits.py [--cases ids:10 ...]
        [--sweeps 20] [--triad-mib 256] [--json out.json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parent.parent
for _p in (_ROOT, _ROOT / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numba  # noqa: E402
from _tables import Col, cpu_model, table  # noqa: E402
from numba import njit, prange  # noqa: E402
from profile_sweep import build  # noqa: E402

from bayesfm.models._config import DEFAULT_MOVES  # noqa: E402
from bayesfm.priors import Priors  # noqa: E402
from bayesfm.sampler import driver  # noqa: E402
from bayesfm.sampler.design import RelationalFMData  # noqa: E402


@njit(parallel=True, cache=False)
def _triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(cache=False)
def _scalar_chains(n, m, c):
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 1.0
    for _ in range(n):
        a0 = a0 * m + c
        a1 = a1 * m + c
        a2 = a2 * m + c
        a3 = a3 * m + c
        a4 = a4 * m + c
        a5 = a5 * m + c
        a6 = a6 * m + c
        a7 = a7 * m + c
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7


@njit(parallel=True, cache=False)
def _vector_lanes(y, reps, m, c):
    n_par = numba.get_num_threads()
    width = y.shape[1]
    for t in prange(n_par):
        row = y[t]
        for _ in range(reps):
            for i in range(width):
                row[i] = row[i] * m + c


def _best(fn, repeats=5):
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine_limits(threads: int, triad_mib: int) -> dict:
    """Triad bandwidth (GB/s) and flop rates (Gflop/s) on ``threads`` threads."""
    numba.set_num_threads(threads)
    n = triad_mib * 2**20 // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bw = 24.0 * n / _best(lambda: _triad(a, b, c, 3.0)) / 1e9
    reps = 20_000_000
    scalar = 16.0 * reps / _best(lambda: _scalar_chains(reps, 0.999999, 1e-9)) / 1e9
    y = np.ones((threads, 1024))
    vreps = 20_000
    vec = 2.0 * y.size * vreps / _best(lambda: _vector_lanes(y, vreps, 0.999999, 1e-9)) / 1e9
    return {"triad_GBps": bw, "scalar_Gflops_1t": scalar, "vector_Gflops": vec}


def triad_at(total_bytes: float, threads: int) -> float:
    """Triad bandwidth (GB/s) over three arrays of ``total_bytes`` together: the bandwidth of
    the cache level (or memory) a working set of that size lives in."""
    numba.set_num_threads(threads)
    n = max(1024, int(total_bytes / 24))
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    reps = max(1, int(2e8 // (24 * n)))

    def run():
        for _ in range(reps):
            _triad(a, b, c, 3.0)

    return 24.0 * n * reps / _best(run) / 1e9


def working_set(data, k: int) -> float:
    """Bytes a sweep keeps touching: the design's indices and values, the residual and the
    factor sums (and a relational design's block-row indices and aggregates)."""
    if isinstance(data, RelationalFMData):
        B = int(data.psi.shape[0])
        return (data.n_rows * (16 + 8 * B) + 16 * data.bc_indices.shape[0]
                + 64 * data.counts.shape[0])
    return 16 * data.nnz + 8 * data.n_rows * (k + 1)


def model_flat(data, k: int) -> tuple[float, float]:
    """(bytes, flops) of one sweep of a flat design with the default moves (V drawn a column
    at a time from its k-dimensional conditional), nothing kept in cache between passes.

    Per non-zero: the linear pass (index, value, e: sum; then e rewritten) 56 B, 6 flops; the
    latent pass builds g_i (k), b (k) and the k x k sums (k(k+1)/2 multiply-adds): index, value,
    e, the row's k factor sums 24 + 8k B, 5k + k(k+1) flops; its update pass reads them again
    and writes e and the k sums, 32 + 16k B, 7k flops. Per column: Cholesky and two triangular
    solves, k^3/3 + 2k^2 flops. The refresh every REFRESH_EVERY sweeps: every non-zero's k
    factors, (16 + 8k B, 2k + 2 flops) / REFRESH_EVERY. The residual's passes (alpha, w0, RMS):
    3 reads of e."""
    nnz, n, p = data.nnz, data.n_rows, data.n_features
    r = driver.REFRESH_EVERY
    bytes_ = nnz * (56 + (24 + 8 * k) + (32 + 16 * k) + (16 + 8 * k) / r) + 3 * 8 * n
    flops = nnz * (6 + 5 * k + k * (k + 1) + 7 * k + (2 * k + 2) / r) + p * (k**3 / 3 + 2 * k * k)
    return bytes_, flops


def model_relational(data, k: int) -> tuple[float, float]:
    """(bytes, flops) of one relational sweep: per factor and block, one pass over the n
    observations (two block-row indices, e and q read and written: 48 B, 12 flops) and the block's
    column draws (per block non-zero, two passes over its index, value and one 64-byte line of
    block-row aggregates: 160 B, 30 flops); the linear stage likewise once; the last block's
    write back per factor (40 B, 8 flops per observation)."""
    n = data.n_rows
    B = int(data.psi.shape[0])
    bnnz = int(data.bc_indices.shape[0])
    per_factor = B * n * 48 + n * 40 + bnnz * 160
    bytes_ = (k + 1) * per_factor + 3 * 8 * n
    flops = (k + 1) * (B * n * 12 + n * 8 + bnnz * 30)
    return bytes_, flops


def time_sweeps(data, y, rank: int, threads: int, sweeps: int) -> float:
    """Median seconds of one sweep as a fit runs it (default moves, periodic refresh)."""
    numba.set_num_threads(threads)
    priors = Priors()
    noise = driver.SweepNoise.build(data, rank, priors)
    rng = np.random.default_rng(0)
    state = driver.init_state(data, y, rank, rng)
    moves = driver.Moves.of(data, DEFAULT_MOVES)
    times = []
    for s in range(sweeps + 3):
        t0 = time.perf_counter()
        driver.step(data, y, state, priors, rng, noise, refresh=s % driver.REFRESH_EVERY == 0,
                    moves=moves)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[3:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=["ids:10", "ids:32", "relational:10",
                                                    "ml1m:32"])
    ap.add_argument("--sweeps", type=int, default=20)
    ap.add_argument("--triad-mib", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="'all threads' (default: all)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    all_t = args.threads or len(os.sched_getaffinity(0))
    counts = sorted({1, all_t})
    limits = {t: machine_limits(t, args.triad_mib) for t in counts}
    print(f"CPU: {cpu_model()}; threads {', '.join(map(str, counts))}")
    print(table([Col("threads", "d"), Col("triad GB/s", ".1f"), Col("scalar Gflop/s (1t)", ".2f"),
                 Col("vector Gflop/s", ".2f")],
                [[t, v["triad_GBps"], v["scalar_Gflops_1t"], v["vector_Gflops"]]
                 for t, v in limits.items()], markdown=args.markdown))
    print()
    rows, results = [], []
    for item in args.cases:
        case, rank = item.split(":")
        rank = int(rank)
        data, y = build(case, args.data)
        model = model_relational if isinstance(data, RelationalFMData) else model_flat
        nbytes, flops = model(data, rank)
        ws = working_set(data, rank)
        for t in counts:
            sec = time_sweeps(data, y, rank, t, args.sweeps)
            ws_bw = triad_at(ws, t)
            bw_s = nbytes / (ws_bw * 1e9)
            fl_s = flops / (limits[t]["vector_Gflops"] * 1e9)
            res = {"case": f"{case} rank {rank}", "threads": t, "nnz": data.nnz,
                   "sweep_ms": 1e3 * sec, "MB": nbytes / 1e6, "Mflop": flops / 1e6,
                   "working_set_MB": ws / 1e6, "ws_triad_GBps": ws_bw,
                   "bw_bound_ms": 1e3 * bw_s, "flop_bound_ms": 1e3 * fl_s,
                   "x_bound": sec / max(bw_s, fl_s)}
            results.append(res)
            rows.append([res["case"], t, res["nnz"], res["sweep_ms"], res["MB"], res["Mflop"],
                         res["working_set_MB"], ws_bw, res["bw_bound_ms"],
                         res["flop_bound_ms"], res["x_bound"]])
    print(table([Col("case", left=True), Col("threads", "d"), Col("nnz", "d"),
                 Col("sweep ms", ".2f"), Col("MB/sweep", ".1f"), Col("Mflop/sweep", ".1f"),
                 Col("working set MB", ".1f"), Col("its triad GB/s", ".1f"),
                 Col("bw bound ms", ".2f"), Col("flop bound ms", ".2f"), Col("x bound", ".1f")],
                rows, markdown=args.markdown))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "limits": limits,
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
