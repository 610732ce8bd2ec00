"""Pinned draws: tiny seeded runs whose draws must not change when the code is reorganised.

Every refactoring of the sampler, the estimators or the storage keeps these draws. The runs cover
the flat and the relational sweep, the Gaussian, probit and ordinal models, the serial and the
parallel kernel builds (one and two threads), a fit continued with ``sample_more`` and one made
in one go, and the bounded-memory accumulators. The pinned values are in
``tests/fixtures/pinned_draws.npz``, written by ``python tests/test_pinned_draws.py --write``:
rewrite them only for a change that is meant to change the draws, and say so in the commit.

What the tests guarantee:

* **Across machines** (``test_draws_are_the_pinned_ones``): the draws equal the pinned ones bit
  for bit on any x86-64 CPU, with the pinned versions of the dependencies and the same C
  library (glibc's libm). The sampler never lets the CPU choose how a sum is rounded: no BLAS or
  LAPACK (their kernels are picked per CPU and sum in different orders; ``sampler.smallalg``
  replaces them), no NumPy transcendental with CPU-specific SIMD versions on the sampler's path,
  no fast-math in the kernels (so the compiler may not fuse or reorder floating-point
  operations for the host's vector width or FMA). ``test_same_draws_on_an_older_cpu`` checks
  it on every run by emulating another CPU: OpenBLAS's oldest x86-64 kernels, NumPy without its
  SIMD dispatch targets and Numba compiling for a generic x86-64.
* **On one machine** (``test_thread_counts_and_continuation_give_identical_draws`` here, and
  the chain, job and thread tests elsewhere): one and two kernel threads, chunked or continued
  runs give the same draws, bit for bit.

Because the comparison is exact, it fails for any real change of the sampler: a change of one
unit in the last place of one conditional's draw per sweep, or two updates of a sweep run in the
other order (``test_the_comparison_sees_a_one_ulp_change_and_a_swapped_order``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "pinned_draws.npz"


def _one_hot_design(seed=0, n=120, n_users=12, n_items=9, dense=2):
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    rows = np.arange(n)
    parts = [sp.csr_matrix((np.ones(n), (rows, u)), shape=(n, n_users)),
             sp.csr_matrix((np.ones(n), (rows, i)), shape=(n, n_items)),
             sp.csr_matrix(rng.normal(size=(n, dense)) * [1.0, 30.0][:dense])]
    X = sp.hstack(parts, format="csr")
    groups = ["user"] * n_users + ["item"] * n_items + ["side"] * dense
    f = (rng.normal(size=n_users)[u] + rng.normal(size=n_items)[i]
         + 0.3 * X[:, -dense:].toarray() @ [1.0, 0.01][:dense])
    return X, groups, f + 0.5 * rng.normal(size=n), rng


def _relational_design(seed=1, n=150, n_users=10, n_items=8):
    from bayesfm.data.relational import RelationalData, RelationBlock

    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    U = sp.hstack([sp.identity(n_users, format="csr"),
                   sp.csr_matrix(rng.normal(size=(n_users, 2)))], format="csr")
    implicit = (rng.random((n_items, n_users)) < 0.4).astype(float)
    implicit /= np.maximum(implicit.sum(axis=1, keepdims=True), 1)
    I = sp.hstack([sp.identity(n_items, format="csr"), sp.csr_matrix(implicit)], format="csr")
    direct = sp.csr_matrix(rng.normal(size=(n, 1)))
    X = RelationalData(direct, [RelationBlock(U, u, "user"), RelationBlock(I, i, "item")])
    y = rng.normal(size=n_users)[u] + rng.normal(size=n_items)[i] + 0.5 * rng.normal(size=n)
    return X, y


def _fit_arrays(model, prefix):
    out = {f"{prefix}/{name}": np.asarray(arr) for name, arr in sorted(model.draws_.items())}
    for attr in ("train_rmse_", "cutpoint_accepted_"):
        if hasattr(model, attr):
            out[f"{prefix}/{attr}"] = np.asarray(getattr(model, attr), dtype=np.float64)
    return out


def _estimator_runs():
    from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor

    X, groups, y, rng = _one_hot_design()
    kw = dict(rank=2, n_burn=6, thin=2, n_chains=2, n_jobs=1, random_state=3)
    runs = {}
    once = FMRegressor(n_iter=26, **kw).fit(X, y, groups)
    runs.update(_fit_arrays(once, "regression"))
    continued = FMRegressor(n_iter=14, **kw).fit(X, y, groups).sample_more(12)
    runs.update(_fit_arrays(continued, "regression_continued"))
    runs.update(_fit_arrays(FMClassifier(n_iter=26, **kw).fit(X, y > np.median(y), groups),
                            "probit"))
    cls = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    runs.update(_fit_arrays(FMOrdinalRegressor(n_iter=26, **kw).fit(X, cls, groups), "ordinal"))
    Xr, yr = _relational_design()
    runs.update(_fit_arrays(FMRegressor(n_iter=26, **kw).fit(Xr, yr), "relational"))
    runs.update(_fit_arrays(FMOrdinalRegressor(n_iter=20, **kw).fit(
        Xr, np.digitize(yr, [-0.5, 0.5])), "relational_ordinal"))
    bounded = FMRegressor(n_iter=26, keep_draws=False, **kw).fit(X, y, groups,
                                                                eval_sets={"test": X[:30]})
    runs.update(_fit_arrays(bounded, "bounded"))
    ev = bounded.eval_predictions_["test"]
    runs["bounded/eval_mean"] = ev.mean
    runs["bounded/eval_interval"] = ev.interval(0.9)
    return runs


def _driver_runs(wrap=None):
    """The sampler core on one and two kernel threads (serial and parallel builds), flat and
    relational, with the estimators' thread policy bypassed. ``wrap(design)``, if given,
    replaces each design (the power check's modified sweeps)."""
    from bayesfm.data.relational import RelationalData  # noqa: F401
    from bayesfm.priors import Priors
    from bayesfm.sampler import threads as kernel_threads
    from bayesfm.sampler.chain import advance, new_chain
    from bayesfm.sampler.design import FMData, RelationalFMData
    from bayesfm.sampler.likelihoods import Gaussian
    from bayesfm.sampler.threads import KERNEL_LOCK, num_threads

    X, groups, y, _ = _one_hot_design(seed=4, n=200)
    _, gidx = np.unique(np.asarray(groups), return_inverse=True)
    Xr, yr = _relational_design(seed=5)
    rel_groups = np.array(Xr.default_groups())
    _, rel_gidx = np.unique(rel_groups, return_inverse=True)
    designs = {"flat": (FMData.from_matrix(X, gidx), y),
               "flat_factor_major": (FMData.from_matrix(X, gidx, factor_major=True), y),
               "relational": (RelationalFMData.from_parts(*Xr.parts(), rel_gidx), yr)}
    runs = {}
    for name, (data, target) in designs.items():
        data = data if wrap is None else wrap(data)
        for threads in (1, 2):
            t = (target - target.mean()) / target.std()
            chain = new_chain(data, Gaussian(t), 3, np.random.SeedSequence(11), 0.1, 5, 1)
            # parallel builds even for these small designs (MIN_PARALLEL_WORK 0)
            min_work, kernel_threads.MIN_PARALLEL_WORK = kernel_threads.MIN_PARALLEL_WORK, 0
            try:
                with KERNEL_LOCK, num_threads(threads):
                    advance(chain, data, Priors(), 25)
            finally:
                kernel_threads.MIN_PARALLEL_WORK = min_work
            d = chain.store.arrays()
            for field in ("w0", "alpha", "w", "V", "mu_v", "lam_v"):
                runs[f"driver_{name}_t{threads}/{field}"] = np.asarray(d[field])
    return runs


def all_runs() -> dict:
    runs = _estimator_runs()
    runs.update(_driver_runs())
    return runs


@pytest.fixture(scope="module")
def runs():
    return all_runs()


def test_the_pinned_fixture_exists():
    assert FIXTURE.is_file(), f"{FIXTURE} is missing: python tests/test_pinned_draws.py --write"


def differences(runs: dict, pinned) -> list:
    """One line for every run whose arrays are not those pinned, bit for bit."""
    bad = []
    for key in sorted(runs):
        a, b = runs[key], pinned[key]
        if a.shape != b.shape or not np.array_equal(a, b):
            diff = np.max(np.abs(a - b)) if a.shape == b.shape else "shape"
            bad.append(f"{key}: {a.shape} vs pinned {b.shape}, max |diff| {diff}")
    return bad


def test_draws_are_the_pinned_ones(runs):
    pinned = np.load(FIXTURE)
    assert sorted(pinned.files) == sorted(runs), "the set of pinned runs changed"
    bad = differences(runs, pinned)
    assert not bad, "draws differ from the pinned ones:\n" + "\n".join(bad)


class _SwappedOrder:
    """A design whose sweep draws the latent factors first, then the other stages."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name):
        return getattr(self._data, name)

    def sweep(self, params, w0, alpha, priors, noise, sample_alpha, stages):
        from bayesfm.sampler.kernels import STAGE_V

        self._data.sweep(params, w0, alpha, priors, noise, sample_alpha, stages & STAGE_V)
        return self._data.sweep(params, w0, alpha, priors, noise, sample_alpha,
                                stages & ~STAGE_V)


def test_the_comparison_sees_a_one_ulp_change_and_a_swapped_order(runs, monkeypatch):
    """Power: the smallest real changes of the sampler fail the comparison."""
    from bayesfm.sampler import driver

    pinned = np.load(FIXTURE)
    driver_keys = [k for k in runs if k.startswith("driver_")]
    assert not differences({k: runs[k] for k in driver_keys}, pinned)
    step = driver.step

    def one_ulp_step(data, y, state, *args, **kwargs):
        # alpha's draw one unit in the last place larger, every sweep
        out = step(data, y, state, *args, **kwargs)
        state.alpha = float(np.nextafter(state.alpha, np.inf))
        return out

    monkeypatch.setattr(driver, "step", one_ulp_step)
    nudged = differences(_driver_runs(), pinned)
    monkeypatch.setattr(driver, "step", step)
    swapped = differences(_driver_runs(wrap=_SwappedOrder), pinned)
    assert len(nudged) == 6 and all("/alpha" in line for line in nudged), nudged
    assert len(swapped) == len(driver_keys), swapped


def _emulation_env() -> dict:
    """Environment for a process that computes as another x86-64 CPU would: OpenBLAS's
    Prescott kernels (SSE3), NumPy without the SIMD targets it dispatches to at run time, Numba
    compiling for a generic x86-64 (kept apart from the host's code in Numba's cache)."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__
    except ImportError:                             # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__
    dispatched = [f for f in __cpu_dispatch__ if f not in __cpu_baseline__]
    env = dict(os.environ, OPENBLAS_CORETYPE="Prescott", NUMBA_CPU_NAME="generic",
               NPY_DISABLE_CPU_FEATURES=" ".join(dispatched),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path))
    env.pop("NUMBA_CPU_FEATURES", None)
    return env


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                    reason="emulates another x86-64 CPU under Linux")
def test_same_draws_on_an_older_cpu(tmp_path):
    """All pinned runs in a process that computes as an older x86-64 CPU (``_emulation_env``)
    give the pinned draws, bit for bit (about 30 s: Numba compiles for the generic CPU)."""
    script = tmp_path / "other_cpu.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "import test_pinned_draws as t\n"
        "bad = t.differences(t.all_runs(), np.load(t.FIXTURE))\n"
        "print('\\n'.join(bad) if bad else 'SAME')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=_emulation_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "SAME", "draws differ on the emulated CPU:\n" + proc.stdout


def test_thread_counts_and_continuation_give_identical_draws(runs):
    for name in ("flat", "flat_factor_major", "relational"):
        for field in ("w0", "alpha", "w", "V", "mu_v", "lam_v"):
            np.testing.assert_array_equal(runs[f"driver_{name}_t1/{field}"],
                                          runs[f"driver_{name}_t2/{field}"])
    for key in [k for k in runs if k.startswith("regression/")]:
        np.testing.assert_array_equal(runs[key], runs[key.replace("regression/",
                                                                  "regression_continued/")])


if __name__ == "__main__":
    if "--write" not in sys.argv[1:]:
        raise SystemExit("python tests/test_pinned_draws.py --write   (rewrites the fixture)")
    sys.path.insert(0, str(ROOT))
    arrays = all_runs()
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {len(arrays)} arrays to {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
