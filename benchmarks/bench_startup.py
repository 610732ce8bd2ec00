#!/usr/bin/env python
"""Start-up time: ``import bayesfm`` and the first small fit, with Numba's on-disk cache empty
(cold: every kernel is compiled) and then filled (warm: kernels are loaded from the cache).

Each measurement runs in a fresh process with ``NUMBA_CACHE_DIR`` pointing at a new temporary
folder (cold) and then at the same folder again (warm), ``--repeats`` times (best shown).

    python benchmarks/bench_startup.py [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _tables import Col, table

_ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import bayesfm
t_import = time.perf_counter() - t0
import numpy as np
import scipy.sparse as sp
rng = np.random.default_rng(0)
n, U, I = 2000, 50, 40
u, i = rng.integers(0, U, n), rng.integers(0, I, n)
rows = np.arange(n)
X = sp.csr_matrix((np.ones(2 * n), (np.r_[rows, rows], np.r_[u, U + i])), shape=(n, U + I))
y = rng.normal(size=n)
t1 = time.perf_counter()
m = bayesfm.FMRegressor(rank=4, n_iter=20, n_burn=5, n_chains=1, progress=False).fit(X, y)
m.predict_interval(X[:100])
t_fit = time.perf_counter() - t1
heavy = sorted(k for k in ("arviz", "matplotlib", "pandas") if k in sys.modules)
print(json.dumps({{"import_s": t_import, "first_fit_s": t_fit, "heavy_modules": heavy}}))
"""


def measure(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(_ROOT))], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            cold.append(measure(d))
            warm.append(measure(d))
    cols = [Col("", width=6, left=True), Col("import bayesfm s", ".3f", gap=1),
            Col("first fit s", ".2f", 12, gap=1)]
    rows = [[name, *(min(r[key] for r in rs) for key in ("import_s", "first_fit_s"))]
            for name, rs in (("cold", cold), ("warm", warm))]
    print(f"best of {args.repeats}")
    print(table(cols, rows, rule=False, markdown=args.markdown))
    print(f"heavy modules loaded by import + fit: {warm[0]['heavy_modules'] or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
