"""Pinned draws: tiny seeded runs whose draws must not change when the code is reorganised.

Every refactoring of the sampler, the estimators or the storage keeps these draws. The runs cover
the flat and the relational sweep, the Gaussian, probit and ordinal models, the serial and the
parallel kernel builds (one and two threads), a fit continued with ``sample_more`` and one made
in one go, and the bounded-memory accumulators. The pinned values are in
``tests/fixtures/pinned_draws.npz``, written by ``python tests/test_pinned_draws.py --write``:
rewrite them only for a change that is meant to change the draws, and say so in the commit.

The comparison allows a relative difference of 1e-12 (last-bit differences of a libm function
on another machine); any real change of the sampler, of its random stream or of the order of
its updates changes the draws by far more after a few sweeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "pinned_draws.npz"
RTOL = 1e-12


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


def _driver_runs():
    """The sampler core on one and two kernel threads (serial and parallel builds), flat and
    relational, with the estimators' thread policy bypassed."""
    from bayesfm.data.relational import RelationalData  # noqa: F401
    from bayesfm.priors import Priors
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
        for threads in (1, 2):
            t = (target - target.mean()) / target.std()
            chain = new_chain(data, Gaussian(t), 3, np.random.SeedSequence(11), 0.1, 5, 1)
            with KERNEL_LOCK, num_threads(threads):
                advance(chain, data, Priors(), 25)
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


def test_draws_are_the_pinned_ones(runs):
    pinned = np.load(FIXTURE)
    assert sorted(pinned.files) == sorted(runs), "the set of pinned runs changed"
    bad = []
    for key in sorted(runs):
        a, b = runs[key], pinned[key]
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=RTOL * 1e-3):
            diff = np.max(np.abs(a - b)) if a.shape == b.shape else "shape"
            bad.append(f"{key}: {a.shape} vs pinned {b.shape}, max |diff| {diff}")
    assert not bad, "draws differ from the pinned ones:\n" + "\n".join(bad)


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
