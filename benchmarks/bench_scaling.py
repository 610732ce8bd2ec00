#!/usr/bin/env python
"""Scaling run: seconds per Gibbs sweep against the number of ratings and the rank.

Simulated ratings with power-law popularity (user and item ids drawn with probability
proportional to (id + 1)^-0.8; users = rows / 50, items = rows / 200; one-hot user and item
columns, as in a recommender). Each configuration runs in a fresh process (so its peak memory is
its own): build the design (``FMData``), initialise, one warm-up sweep, then the median wall
time of ``sweeps`` sweeps as a fit runs them (the default moves), plus the share of the exact
refresh a fit makes every ``driver.REFRESH_EVERY`` sweeps. Prints a table and the slopes of
log(seconds per sweep) against log(non-zeros) at a fixed rank and against log(rank) at a fixed
size: linear cost means slopes near 1.

    python benchmarks/bench_scaling.py [--rows 1e5 3e5 1e6 3e6 1e7] [--ranks 4 8 16 32 64]
        [--base-rows 1e6] [--base-rank 8] [--threads N] [--json out.json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from _tables import Col, Stream, cpu_model

_ROOT = Path(__file__).resolve().parent.parent

#: the table: one row per configuration
COLUMNS = [Col("rows", "d", 10), Col("nnz", "d", 10, gap=1), Col("rank", "d", 5, gap=1),
           Col("build s", ".2f", 8, gap=1), Col("sweep s", ".4f", 9, gap=1),
           Col("peak MiB", ".0f", 9, gap=1)]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numba
import numpy as np
import scipy.sparse as sp
from bayesfm.models._config import DEFAULT_MOVES
from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.design import FMData
n, k, sweeps, threads = {n}, {k}, {sweeps}, {threads}
if threads:
    numba.set_num_threads(threads)
rng = np.random.default_rng(0)
def powerlaw_ids(m, size):
    p = (np.arange(m) + 1.0) ** -0.8
    return rng.choice(m, size=size, p=p / p.sum())
U, I = max(n // 50, 10), max(n // 200, 10)
u, i = powerlaw_ids(U, n), powerlaw_ids(I, n)
y = 3.5 + 0.3 * rng.standard_normal(U)[u] + 0.3 * rng.standard_normal(I)[i] \
    + rng.standard_normal(n)
rows = np.arange(n)
X = sp.csr_matrix((np.ones(2 * n), (np.r_[rows, rows], np.r_[u, U + i])), shape=(n, U + I))
t0 = time.perf_counter()
data = FMData.from_matrix(X, np.r_[np.zeros(U, dtype=np.int64), np.ones(I, dtype=np.int64)])
del X
build = time.perf_counter() - t0
y = (y - y.mean()) / y.std()
priors = Priors()
noise = driver.SweepNoise.build(data, k, priors)
state = driver.init_state(data, y, k, rng)
moves = driver.Moves.of(data, DEFAULT_MOVES)
driver.step(data, y, state, priors, rng, noise, moves=moves)
times = []
for s in range(sweeps):
    t0 = time.perf_counter()
    driver.step(data, y, state, priors, rng, noise, refresh=False, moves=moves)
    times.append(time.perf_counter() - t0)
t0 = time.perf_counter()
driver.refresh_cache(data, y, state)
# the median sweep, with the exact refresh of every REFRESH_EVERY-th sweep in its share
refresh = time.perf_counter() - t0
per = float(np.median(times)) + refresh / driver.REFRESH_EVERY
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({{"rows": n, "rank": k, "nnz": int(data.indices.shape[0]), "users": U,
                  "items": I, "build_s": build, "sweep_s": per, "peak_mib": peak,
                  "threads": numba.get_num_threads()}}))
"""


def run(n, k, sweeps, threads):
    code = CHILD.format(root=str(_ROOT), n=int(n), k=int(k), sweeps=sweeps, threads=threads or 0)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"rows {n} rank {k} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, nargs="+", default=[1e5, 3e5, 1e6, 3e6, 1e7])
    ap.add_argument("--ranks", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--base-rows", type=float, default=1e6)
    ap.add_argument("--base-rank", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    print(f"CPU {cpu_model()}; cpus {len(os.sched_getaffinity(0))}; seconds per sweep (median "
          f"of 5-25 sweeps after a warm-up, with the refresh's share); peak RSS of the process")
    table = Stream(COLUMNS, markdown=args.markdown)
    runs = [(n, args.base_rank, 5 if n >= 5e6 else 9 if n >= 1e6 else 25) for n in args.rows]
    runs += [(args.base_rows, k, 9) for k in args.ranks]
    by_rows, by_rank = [], []
    for j, (n, k, sweeps) in enumerate(runs):
        r = run(n, k, sweeps, args.threads)
        (by_rows if j < len(args.rows) else by_rank).append(r)
        table.row([r[c] for c in ("rows", "nnz", "rank", "build_s", "sweep_s", "peak_mib")])
    s_nnz = slope([r["nnz"] for r in by_rows], [r["sweep_s"] for r in by_rows])
    s_rank = slope([r["rank"] for r in by_rank], [r["sweep_s"] for r in by_rank])
    s_mem = slope([r["nnz"] for r in by_rows], [r["peak_mib"] for r in by_rows])
    print(f"\nlog-log slope of time per sweep vs nnz (rank {args.base_rank}): {s_nnz:.3f}")
    print(f"log-log slope of time per sweep vs rank ({int(args.base_rows)} rows): {s_rank:.3f}")
    print(f"log-log slope of peak memory vs nnz: {s_mem:.3f}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"cpu": cpu_model(), "by_rows": by_rows, "by_rank": by_rank,
                       "slope_nnz": s_nnz, "slope_rank": s_rank, "slope_memory": s_mem}, fh,
                      indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
