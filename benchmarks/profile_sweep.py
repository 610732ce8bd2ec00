#!/usr/bin/env python
"""Profile one Gibbs sweep: where the time goes, part by part.

Runs the parts of ``driver.step`` one by one (the same kernels the sweep calls, in the same
order, on the same state) and times each over ``--sweeps`` sweeps after a warm-up:

    rng       standard normals and gammas for the sweep (numpy Generator)
    refresh   exact recomputation of the residual e and the factor sums q
    alpha_w0  noise precision and global bias (two passes over the rows)
    hyper     group hyperparameters of w and V (and the translation moves)
    w         the linear weights, column by column
    V         the latent factors, factor by factor, column by column
    storage   copying the draw into the store

for MovieLens-100k u1 ids-only at ranks 10 and 32 and for the relational side + implicit design
at rank 10. The sum of the parts (with an exact refresh every sweep) is compared with a plain
``driver.step`` loop that refreshes every ``REFRESH_EVERY`` sweeps, as ``run_chain`` does
(``step``). The builds are those ``--threads`` selects (serial with one thread).

    BAYESFM_DATA=/path/to/data python benchmarks/profile_sweep.py [--sweeps 50] [--threads N]
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

from bayesfm.data.movielens import load_movielens_100k  # noqa: E402
from bayesfm.priors import Priors  # noqa: E402
from bayesfm.sampler import dispatch, driver, kernels  # noqa: E402
from bayesfm.sampler.state import FMData, RelationalFMData  # noqa: E402
from bayesfm.sampler.storage import DrawStore  # noqa: E402

PARTS = ("rng", "refresh", "alpha_w0", "hyper", "w", "V", "storage")


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


def _order(data):
    """The column order the sweep uses with the current thread count (see driver._sweep)."""
    return data.order if numba.get_num_threads() == 1 else data.porder


def _border(data):
    return data.border if numba.get_num_threads() == 1 else data.bporder


def profiled_sweep(data, y, state, priors, rng, noise, store, tm):
    """The parts of ``driver.step`` + ``run_chain``'s storage, timed one by one."""
    p, G, k = data.n_features, data.n_groups, state.rank
    z = tm.run("rng", rng.standard_normal, noise.n_normals)
    g = tm.run("rng", rng.standard_gamma, noise.gamma_shapes)
    z_w, z_v, z_muw, z_muv, z_t, g_lamw, g_lamv = driver.split_noise(z, g, p, G, k)
    tm.run("refresh", driver.refresh_cache, data, y, state)   # (run_chain: every 20th sweep)
    w0, alpha = tm.run("alpha_w0", dispatch.get("_alpha_and_w0"), state.e, state.w0, state.alpha,
                       priors.a0, priors.b0, priors.m0, priors.lambda0, z[0], g[0], True)
    tm.run("hyper", kernels._hyper_update, state.w, data.gidx, data.gsize, state.mu_w,
           state.lam_w, priors.c0, priors.mu0, priors.b_lambda, g_lamw, z_muw)
    rel = isinstance(data, RelationalFMData)
    tm.run("w", dispatch.get("_linear_columns"), data.indptr, data.indices, data.data, data.colsq,
           data.gidx, state.e, state.w, alpha, state.mu_w, state.lam_w, z_w, _order(data),
           data.cptr)
    M = data.counts.shape[0] if rel else 0
    E, D = np.zeros(M), np.zeros(M)
    if rel:
        for b in range(data.psi.shape[0]):
            tm.run("w", dispatch.get("_linear_block"), data.bc_indptr, data.bc_indices, data.bc_data,
                   data.psi[b], data.roff[b], data.roff[b + 1],
                   _border(data), data.bcptr, data.bcls[b], data.bcls[b + 1], data.p0,
                   data.counts, data.colsq, data.gidx, state.e, state.w, alpha, state.mu_w,
                   state.lam_w, z_w, E, D)
    w0 = tm.run("hyper", kernels._translation_moves, data.gsum, data.gidx, state.w, state.mu_w,
                state.lam_w, w0, priors.lambda0, priors.m0, priors.c0, priors.mu0, z_t)
    tm.run("hyper", dispatch.get("_factor_hyper"), state.Vt, data.gidx, data.gsize, state.mu_v,
           state.lam_v, priors.c0, priors.mu0, priors.b_lambda, g_lamv, z_muv)
    aggs = [E] + [np.zeros(M) for _ in range(6)]
    if not rel:
        tm.run("V", dispatch.get("_latent_columns"), data.indptr, data.indices, data.data, data.gidx,
               state.e, state.q, state.Vt, z_v, alpha, state.mu_v, state.lam_v, data.order,
               data.cptr)
    for f in range(k if rel else 0):
        tm.run("V", dispatch.get("_factor_columns"), data.indptr, data.indices, data.data, data.gidx,
               state.e, state.q[f], state.Vt[f], z_v[f], alpha, state.mu_v[:, f],
               state.lam_v[:, f], _order(data), data.cptr)
        if rel:
            for b in range(data.psi.shape[0]):
                tm.run("V", dispatch.get("_factor_block"), data.bc_indptr, data.bc_indices,
                       data.bc_data, data.br_indptr, data.br_indices, data.br_data, data.psi[b],
                       data.roff[b], data.roff[b + 1], _border(data),
                       data.bcptr, data.bcls[b], data.bcls[b + 1], data.p0, data.counts,
                       data.gidx, state.e, state.q[f], state.Vt[f], z_v[f], alpha,
                       state.mu_v[:, f], state.lam_v[:, f], *aggs)
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
    args = ap.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"numba threads: {numba.get_num_threads()}; ms per sweep, mean of {args.sweeps}")
    cols = " ".join(f"{p:>9}" for p in PARTS)
    print(f"{'case':<22} {'nnz':>9} {cols} {'sum':>8} {'step':>8}")
    for item in args.cases:
        case, rank = item.split(":")
        rank = int(rank)
        data, parts, step_ms = profile(case, rank, args.data, args.sweeps)
        nnz = data.indices.shape[0] + (data.bc_indices.shape[0] if case == "relational" else 0)
        vals = " ".join(f"{parts[p]:9.2f}" for p in PARTS)
        print(f"{case + ' rank ' + str(rank):<22} {nnz:>9} {vals} {sum(parts.values()):8.2f} "
              f"{step_ms:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
