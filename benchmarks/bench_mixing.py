#!/usr/bin/env python
"""Mixing: effective samples per second on the rows that decide convergence, bayesfm and myFM.

Data: MovieLens-100k ``u1``. Tracked quantities: yhat at 100 fixed training rows, 50 drawn at
random and 50 from the 100 users with the fewest training ratings (one row each from 50 of
them; seeded): the rarely seen users are the slowest to mix. Three cases, rank ``--rank`` (10),
defaults otherwise, ``--chains`` (4) chains of ``--sweeps`` sweeps (1000; ``--burn`` 100 of them
burn-in), run on the machine's cores (bayesfm: chains in processes; myFM: one process per chain,
as many at a time as there are cores):

    ids          user and item one-hot, FMRegressor against myFM's MyFMRegressor (same groups)
    relational   the side-information and implicit-feedback blocks (RelationalData), bayesfm
                 only, ``--sweeps-other`` sweeps (500)
    ordinal      ids, FMOrdinalRegressor on the stars 1..5, bayesfm only, ``--sweeps-other``

"bayesfm" runs without extra moves (``moves=()``, the plain coordinate-wise sweep of libFM);
every ``--moves`` set adds a run "bayesfm+<moves>" of the ids and ordinal cases (the
estimators' default is ``--moves shift,joint``).

Printed per case and library: wall seconds, max R-hat and median bulk ESS of the tracked rows,
the mean bulk ESS of the 10 slowest rows and that per second (the figure of merit), and, for
bayesfm, the worst factor-averaged R-hat and ESS of lambda_v over the groups (what sets the prior
spread of every rarely seen user). Then the ratio bayesfm / myFM of the figure of merit (ids).
R-hat and ESS are ``bayesfm.diagnostics``' (rank-normalised split R-hat, bulk ESS; the ArviZ
definitions), for both libraries.

    BAYESFM_DATA=/path/to/data python benchmarks/bench_mixing.py [--moves scale ...] [--json out]

About 4-5 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import Col, cpu_model, table  # noqa: E402

N_TRACKED, N_SLOWEST = 100, 10


def tracked_rows(user_of_row: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices of the tracked training rows (module docstring), sorted."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(user_of_row)
    users = np.flatnonzero(counts)
    rarest = users[np.argsort(counts[users], kind="stable")[:100]]
    picked = rng.choice(rarest, N_TRACKED // 2, replace=False)
    rare_rows = [rng.choice(np.flatnonzero(user_of_row == u)) for u in picked]
    others = np.setdiff1d(np.arange(user_of_row.shape[0]), rare_rows)
    rows = np.concatenate([rare_rows, rng.choice(others, N_TRACKED - len(rare_rows),
                                                 replace=False)])
    return np.sort(rows)


def summary(yhat: np.ndarray, seconds: float) -> dict:
    """Figures of the tracked rows' draws ``yhat`` (chains, draws, rows)."""
    from bayesfm.diagnostics import ess_bulk, rhat

    r, ess = rhat(yhat), ess_bulk(yhat)
    slowest = float(np.mean(np.sort(ess)[:N_SLOWEST]))
    return {"seconds": seconds, "max_rhat": float(np.max(r)), "median_ess": float(np.median(ess)),
            "slowest10_ess": slowest, "slowest10_ess_per_s": slowest / seconds}


def lambda_v_figures(model) -> dict:
    """Worst factor-averaged R-hat and bulk ESS of lambda_v over the groups."""
    from bayesfm.diagnostics import ess_bulk, rhat

    lam = model.draws_["lambda_v"].mean(axis=3)          # (chains, draws, groups)
    return {"lambda_v_rhat": float(np.max(rhat(lam))), "lambda_v_ess": float(np.min(ess_bulk(lam)))}


def run_bayesfm(cls, X, y, rows_X, groups, args, sweeps, moves=()) -> dict:
    model = cls(rank=args.rank, n_iter=sweeps, n_burn=args.burn, n_chains=args.chains,
                random_state=args.seed, progress=False, moves=moves)
    start = time.perf_counter()
    model.fit(X, y, groups=groups)
    seconds = time.perf_counter() - start
    yhat = model.decision_draws(rows_X).reshape(args.chains, -1, N_TRACKED)
    return {**summary(yhat, seconds), **lambda_v_figures(model)}


def _myfm_chain(X, y, rows_X, rank, sweeps, burn, seed, group_shapes):
    """One myFM chain: yhat at the tracked rows for its kept samples (draws, rows)."""
    import myfm

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)                     # myFM's progress bar (this worker process only)
    fm = myfm.MyFMRegressor(rank=rank, init_stdev=0.1, random_seed=seed)
    fm.fit(X, y, n_iter=sweeps, n_kept_samples=sweeps - burn, group_shapes=group_shapes)
    Xd = rows_X.toarray()
    out = []
    for w0, w, V in zip(fm.w0_samples, fm.w_samples, fm.V_samples):
        q = Xd @ V
        out.append(w0 + Xd @ w + 0.5 * (np.sum(q * q, 1) - (Xd**2) @ np.sum(V * V, 1)))
    return np.array(out)


def run_myfm(X, y, rows_X, args, group_shapes) -> dict:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(args.chains, os.cpu_count() or 1)) as pool:
        jobs = [pool.submit(_myfm_chain, X, y, rows_X, args.rank, args.sweeps, args.burn,
                            args.seed + c, group_shapes) for c in range(args.chains)]
        yhat = np.stack([job.result() for job in jobs])
    return summary(yhat, time.perf_counter() - start)


def relational_rows(rel, rows):
    """The rows ``rows`` of a RelationalData, as one."""
    from bayesfm.data.relational import RelationalData, RelationBlock

    return RelationalData(None, [RelationBlock(b.matrix, np.asarray(b.index)[rows], b.name)
                                 for b in rel.blocks])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("BAYESFM_DATA"))
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--sweeps-other", type=int, default=500)
    ap.add_argument("--burn", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default="ids,relational,ordinal")
    ap.add_argument("--no-myfm", dest="myfm", action="store_false")
    ap.add_argument("--moves", action="append", default=[],
                    help="comma-separated extra moves (the estimators' moves=): the ids and "
                         "ordinal cases are also run with them, as 'bayesfm+<moves>' (the "
                         "relational design has not their symmetry); may be repeated, one run "
                         "per set")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    from bayesfm import FMOrdinalRegressor, FMRegressor
    from bayesfm.data.movielens import N_ITEMS, N_USERS, load_movielens_100k

    ids = load_movielens_100k(args.data, split="u1", side_info=False, implicit=False)
    user_of_row = ids.X_train[:, :N_USERS].indices       # one user per row
    rows = tracked_rows(user_of_row, args.seed)
    rows_X = sp.csr_matrix(ids.X_train[rows])
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    try:
        import myfm
        have_myfm = args.myfm
        myfm_version = myfm.__version__
    except ImportError:
        have_myfm, myfm_version = False, None
    print(f"CPU: {cpu_model()}; {os.cpu_count()} CPUs; rank {args.rank}, {args.chains} chains, "
          f"burn-in {args.burn}; myFM {myfm_version if have_myfm else 'not run'}")
    results = {}
    move_sets = [tuple(m.strip() for m in ms.split(",") if m.strip()) for ms in args.moves]
    move_sets = [ms for ms in move_sets if ms]
    runs = [("bayesfm+" + "+".join(ms), ms) for ms in move_sets]
    if "ids" in cases:
        results["ids", "bayesfm"] = run_bayesfm(FMRegressor, ids.X_train, ids.y_train, rows_X,
                                                ids.groups, args, args.sweeps)
        for lib, ms in runs:
            results["ids", lib] = run_bayesfm(FMRegressor, ids.X_train, ids.y_train, rows_X,
                                              ids.groups, args, args.sweeps, ms)
        if have_myfm:
            results["ids", "myFM"] = run_myfm(ids.X_train, ids.y_train, rows_X, args,
                                              [N_USERS, N_ITEMS])
    if "relational" in cases:
        rel = load_movielens_100k(args.data, split="u1", side_info=True, implicit=True)
        results["relational", "bayesfm"] = run_bayesfm(
            FMRegressor, rel.X_train, rel.y_train, relational_rows(rel.X_train, rows),
            rel.groups, args, args.sweeps_other)
    if "ordinal" in cases:
        for lib, mv in [("bayesfm", ())] + runs:
            results["ordinal", lib] = run_bayesfm(
                FMOrdinalRegressor, ids.X_train, ids.y_train.astype(np.int64), rows_X,
                ids.groups, args, args.sweeps_other, mv)

    cols = [Col("case", left=True), Col("library", left=True), Col("sweeps", "d"),
            Col("seconds", ".1f"), Col("max R-hat", ".3f"), Col("median ESS", ".0f"),
            Col("10 slowest ESS", ".0f"), Col("per second", ".2f"),
            Col("lambda_v R-hat", ".3f"), Col("lambda_v ESS", ".0f")]
    out = []
    for (case, lib), r in results.items():
        sweeps = args.sweeps if case == "ids" else args.sweeps_other
        out.append((case, lib, sweeps, r["seconds"], r["max_rhat"], r["median_ess"],
                    r["slowest10_ess"], r["slowest10_ess_per_s"], r.get("lambda_v_rhat"),
                    r.get("lambda_v_ess")))
    print(table(cols, out, markdown=args.markdown))
    if ("ids", "myFM") in results:
        for lib in ["bayesfm"] + [lib for lib, _ in runs]:
            if ("ids", lib) in results:
                ratio = (results["ids", lib]["slowest10_ess_per_s"]
                         / results["ids", "myFM"]["slowest10_ess_per_s"])
                print(f"ids: ESS per second of the 10 slowest rows, {lib} / myFM = "
                      f"{ratio:.2f} (target: 5)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"cpu": cpu_model(), "args": vars(args),
             "results": {f"{c}/{lib}": r for (c, lib), r in results.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
