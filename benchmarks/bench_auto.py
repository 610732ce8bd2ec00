#!/usr/bin/env python
"""The automatic stop (``n_iter="auto"``) on MovieLens-100k ``u1``, with every default.

Three fits, each in its own process (so that its peak memory is its own), each with
``max_time`` at its target (``--limit-ids`` 60 s, ``--limit-other`` 180 s):

    ids          user and item one-hot, FMRegressor, rank 10
    relational   side information and implicit feedback (RelationalData), FMRegressor, rank 10
    ordinal      ids, FMOrdinalRegressor on the stars 1..5, rank 10

Printed per fit: whether it converged and why it stopped, sweeps per chain, seconds, the
verdict's max R-hat and min bulk and tail ESS (``convergence_``), the share of the time the
checks took, the bytes of the kept draws, and the peak resident memory of the fitting process
and of its largest worker process (``getrusage``'s high-water marks).

    BAYESFM_DATA=/path/to/data python benchmarks/bench_auto.py [--cases ids] [--moves shift,joint]
        [--json out]

At most about 7 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import Col, cpu_model, table  # noqa: E402

CASES = ("ids", "relational", "ordinal")


def fit_case(case: str, args) -> dict:
    """One automatic fit of ``case``; its figures (this process's peak memory included)."""
    import numpy as np

    from bayesfm import FMOrdinalRegressor, FMRegressor
    from bayesfm.data.movielens import load_movielens_100k

    limit = args.limit_ids if case == "ids" else args.limit_other
    data = load_movielens_100k(args.data, split="u1", side_info=case == "relational",
                               implicit=case == "relational")
    cls = FMOrdinalRegressor if case == "ordinal" else FMRegressor
    y = data.y_train.astype(np.int64) if case == "ordinal" else data.y_train
    extra = {} if args.moves is None else {"moves": tuple(m for m in args.moves.split(",") if m)}
    model = cls(rank=args.rank, n_iter="auto", max_time=limit, random_state=args.seed,
                progress=False, **extra)
    start = time.perf_counter()
    model.fit(data.X_train, y, groups=data.groups)
    seconds = time.perf_counter() - start
    conv = model.convergence_
    last = conv["checks"][-1] if conv["checks"] else {}
    kept = sum(a.nbytes for a in model.draws_.values())
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"case": case, "converged": conv["converged"], "reason": conv["reason"],
            "sweeps": conv["sweeps_per_chain"], "draws": conv["draws_per_chain"],
            "seconds": seconds, "limit": limit, "max_rhat": last.get("max_rhat"),
            "min_ess_bulk": last.get("min_ess_bulk"), "min_ess_tail": last.get("min_ess_tail"),
            "check_share": conv.get("check_seconds", float("nan")) / seconds,
            "n_checks": len(conv["checks"]), "kept_mb": kept / 1e6,
            "peak_mb": self_kb / 1024, "peak_worker_mb": child_kb / 1024,
            "held_back": conv.get("held_back", ""), "checks": conv["checks"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("BAYESFM_DATA"))
    ap.add_argument("--rank", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-ids", type=float, default=60.0)
    ap.add_argument("--limit-other", type=float, default=180.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--moves", default=None,
                    help="comma-separated moves instead of the estimators' default")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)    # a child's single case
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    if args.data is None:
        ap.error("give --data or set BAYESFM_DATA")
    if args.one:
        print(json.dumps(fit_case(args.one, args)))
        return 0

    print(f"CPU: {cpu_model()}; {os.cpu_count()} CPUs; rank {args.rank}; every fit "
          f"n_iter='auto' with its defaults and max_time at its target", flush=True)
    results = []
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        if case not in CASES:
            ap.error(f"unknown case {case!r} (known: {', '.join(CASES)})")
        cmd = [sys.executable, __file__, "--one", case, "--data", args.data,
               "--rank", str(args.rank), "--seed", str(args.seed),
               "--limit-ids", str(args.limit_ids), "--limit-other", str(args.limit_other)]
        if args.moves is not None:
            cmd += ["--moves", args.moves]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{case}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
            return 1
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{case}: done in {results[-1]['seconds']:.1f} s", flush=True)

    cols = [Col("case", left=True), Col("converged", left=True), Col("stop", left=True),
            Col("sweeps", "d"), Col("seconds", ".1f"), Col("limit", ".0f"),
            Col("max R-hat", ".4f"), Col("min ESS bulk", ".0f"), Col("min ESS tail", ".0f"),
            Col("checks", "d"), Col("checks' share", ".1%"), Col("kept MB", ".1f"),
            Col("peak MB", ".0f"), Col("worker peak MB", ".0f")]
    rows = [(r["case"], "yes" if r["converged"] else "no", r["reason"], r["sweeps"],
             r["seconds"], r["limit"], r["max_rhat"], r["min_ess_bulk"], r["min_ess_tail"],
             r["n_checks"], r["check_share"], r["kept_mb"], r["peak_mb"], r["peak_worker_mb"])
            for r in results]
    print(table(cols, rows, markdown=args.markdown))
    for r in results:
        if r["held_back"]:
            print(f"{r['case']}: {r['held_back']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "args": vars(args),
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
