#!/usr/bin/env python
"""Profile one Gibbs sweep: where the time goes, part by part.

Times the parts of a sweep with the code the chains run, not a copy of it: the sweep's random
numbers (``driver.draw_noise``), the exact cache refresh (``driver.refresh_cache``), each stage of
the sweep kernel on its own (the design's ``sweep`` with one bit of ``kernels.STAGE_*`` set: the
same kernel, argument records and order as sampling), and the copy of a draw into the store:

    rng          standard normals and gammas for the sweep (numpy Generator)
    refresh      exact recomputation of the residual e and the factor sums q
    alpha_w0     noise precision and global bias
    hyper_w      group hyperparameters of w
    w            the linear weights, colour class by colour class
    translation  the translation moves of constant-sum groups
    hyper_v      group hyperparameters of V
    V            the latent factors
    storage      copying the draw into the store

for MovieLens-100k u1 ids-only at ranks 10 and 32 and for the relational side + implicit design
at rank 10 (other cases: ml1m, epinions). The sum of the parts (with an exact refresh every
sweep) is compared with a plain ``driver.step`` loop that refreshes every ``REFRESH_EVERY``
sweeps, as ``run_chain`` does (``step``). The builds are those ``--threads`` selects (serial with
one thread).

    BAYESFM_DATA=/path/to/data python benchmarks/profile_sweep.py [--sweeps 50] [--threads N]
        [--cases ids:10 ...] [--markdown]
"""

from __future__ import annotations

import argparse
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
from _tables import Col, Stream  # noqa: E402

from bayesfm.data.movielens import load_movielens_100k  # noqa: E402
from bayesfm.priors import Priors  # noqa: E402
from bayesfm.sampler import driver, kernels  # noqa: E402
from bayesfm.sampler.design import FMData, RelationalFMData  # noqa: E402
from bayesfm.sampler.storage import DrawStore  # noqa: E402
from bayesfm.sampler.threads import KERNEL_LOCK  # noqa: E402

PARTS = ("rng", "refresh") + kernels.STAGE_NAMES + ("storage",)


def _groups_to_index(groups):
    _, gidx = np.unique(np.asarray(groups), return_inverse=True)
    return gidx


def build(case, data_dir):
    if case in ("ml1m", "epinions"):
        from bench_speed import load_case

        name = {"ml1m": "ml1m-r32", "epinions": "epinions-r16"}[case]
        X, y, _, _, groups, _ = load_case(name, data_dir or os.environ["BAYESFM_DATA"])
        return FMData.from_matrix(X, _groups_to_index(groups)), (y - y.mean()) / y.std()
    if case == "ids":
        d = load_movielens_100k(data_dir, "u1", side_info=False, implicit=False)
        y = d.y_train
        return FMData.from_matrix(d.X_train, _groups_to_index(d.groups)), (y - y.mean()) / y.std()
    d = load_movielens_100k(data_dir, "u1", side_info=True, implicit=True)
    y = d.y_train
    gidx = _groups_to_index(d.groups)
    data = RelationalFMData.from_parts(*d.X_train.parts(), gidx)
    return data, (y - y.mean()) / y.std()


class Timer:
    def __init__(self):
        self.t = dict.fromkeys(PARTS, 0.0)

    def run(self, part, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.t[part] += time.perf_counter() - t0
        return out


def profiled_sweep(data, y, state, priors, rng, noise, store, tm):
    """One sweep, its parts timed one by one: the sweep kernel run once per stage."""
    z = tm.run("rng", driver.draw_noise, rng, data, state.rank, noise)
    tm.run("refresh", driver.refresh_cache, data, y, state)   # (run_chain: every 20th sweep)
    consts = driver.prior_constants(priors)
    w0, alpha = state.w0, state.alpha
    with KERNEL_LOCK:
        for bit, name in enumerate(kernels.STAGE_NAMES):
            w0, alpha = tm.run(name, data.sweep, state.params(), w0, alpha, consts, z, True,
                               1 << bit)
    state.w0, state.alpha = float(w0), float(alpha)
    tm.run("storage", store.record, state)


def profile(case, rank, data_dir, sweeps, warm=5):
    data, y = build(case, data_dir)
    priors = Priors()
    noise = driver.SweepNoise.build(data, rank, priors)
    rng = np.random.default_rng(0)
    state = driver.init_state(data, y, rank, rng)
    store = DrawStore(sweeps + warm, data.n_features, rank, data.n_groups)
    tm = Timer()
    for _ in range(warm):
        profiled_sweep(data, y, state, priors, rng, noise, store, tm)
    tm = Timer()
    for _ in range(sweeps):
        profiled_sweep(data, y, state, priors, rng, noise, store, tm)
    parts = {name: 1e3 * v / sweeps for name, v in tm.t.items()}
    t0 = time.perf_counter()
    for s in range(sweeps):
        driver.step(data, y, state, priors, rng, noise, refresh=s % driver.REFRESH_EVERY == 0)
    step_ms = 1e3 * (time.perf_counter() - t0) / sweeps
    return data, parts, step_ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--cases", nargs="+", default=["ids:10", "ids:32", "relational:10"],
                    help="case:rank items; cases ids, relational (MovieLens-100k u1), ml1m "
                         "(ml-1m/pmf_moviedata), epinions (epinions_tang)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"numba threads: {numba.get_num_threads()}; ms per sweep, mean of {args.sweeps}")
    table = Stream([Col("case", width=22, left=True), Col("nnz", "d", 9, gap=1),
                    *(Col(p, ".2f", 11, gap=1) for p in PARTS),
                    Col("sum", ".2f", 8, gap=1), Col("step", ".2f", 8, gap=1)],
                   markdown=args.markdown)
    for item in args.cases:
        case, rank = item.split(":")
        rank = int(rank)
        data, parts, step_ms = profile(case, rank, args.data, args.sweeps)
        table.row([f"{case} rank {rank}", data.nnz, *(parts[p] for p in PARTS),
                   sum(parts.values()), step_ms])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
