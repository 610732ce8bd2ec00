"""Every rejected input is refused by bayesfm itself (hypothesis over random designs and
corruptions): a TypeError or ValueError raised by our own code, whose message names what is
wrong, never an exception from numpy, scipy or numba passing through."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor, Priors

from .strategies import designs, raised_by_bayesfm

FAST = dict(rank=2, n_iter=6, n_burn=2, n_chains=2, n_jobs=1, n_threads=1, progress=False,
            random_state=0)


def _refused_by_us(call, *names):
    """``call()`` raises TypeError or ValueError from a line of bayesfm, and its message
    contains one of ``names`` (the argument it is about)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((TypeError, ValueError)) as excinfo:
            call()
    assert raised_by_bayesfm(excinfo.value), (
        f"{type(excinfo.value).__name__} not raised by bayesfm: {excinfo.value}")
    msg = str(excinfo.value)
    assert any(name in msg for name in names), f"{msg!r} names none of {names}"


def _ragged(X, rng):
    rows = X.toarray().tolist()
    rows[rng.integers(len(rows))].append(1.0)
    return rows


def _bad_value(value):
    def corrupt(X, rng):
        A = X.toarray()
        A[rng.integers(A.shape[0]), rng.integers(A.shape[1])] = value
        return A
    return corrupt


def _sparse_index(kind):
    def corrupt(X, rng):
        M = X.copy()
        if M.nnz == 0:
            M = sp.csr_matrix((np.ones(1), ([0], [0])), shape=X.shape)
        M.indices = M.indices.astype(np.int64)
        M.indptr = M.indptr.astype(np.int64)
        t = rng.integers(M.nnz)
        if kind == "too large":
            M.indices[t] = X.shape[1] + rng.integers(0, 2**40)
        elif kind == "negative":
            M.indices[t] = -1 - rng.integers(0, 5)
        else:                                   # indptr decreasing
            M.indptr[-1] = M.indptr[-2] - 1 if M.shape[0] > 1 else -1
        return M
    return corrupt


def _strings(X, rng):
    A = X.toarray().astype(object)
    A[rng.integers(A.shape[0]), rng.integers(A.shape[1])] = "u7"
    return A


X_CORRUPTIONS = {
    "ragged rows": _ragged,
    "NaN": _bad_value(np.nan),
    "infinity": _bad_value(-np.inf),
    "a string": _strings,
    "complex": lambda X, rng: X.toarray() + 1j,
    "3-d": lambda X, rng: X.toarray()[:, :, None],
    "1-d": lambda X, rng: X.toarray()[:, 0],
    "index too large": _sparse_index("too large"),
    "negative index": _sparse_index("negative"),
    "indptr decreasing": _sparse_index("indptr"),
    "None": lambda X, rng: None,
}


@given(designs(min_rows=3), st.sampled_from(sorted(X_CORRUPTIONS)),
       st.sampled_from(["fit", "predict"]), st.sampled_from(["regressor", "classifier",
                                                              "ordinal"]))
def test_a_bad_X_is_refused_by_us(design, corruption, where, kind):
    X, seed = design
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    cls = {"regressor": FMRegressor, "classifier": FMClassifier,
           "ordinal": FMOrdinalRegressor}[kind]
    y = rng.normal(size=n) if kind == "regressor" else np.r_[0, 1, 2, rng.integers(0, 3, n - 3)]
    if kind == "classifier":
        y = y % 2
    bad = X_CORRUPTIONS[corruption](X, rng)
    if where == "fit":
        _refused_by_us(lambda: cls(**FAST).fit(bad, y), "X")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(**FAST).fit(X, y)
        _refused_by_us(lambda: model.predict(bad), "X")


def _y_corruptions(n, rng):
    y = rng.normal(size=n)
    short = y[:-1]
    nan = y.copy()
    nan[rng.integers(n)] = np.nan
    return {"one entry short": short, "NaN": nan, "2-d": np.c_[y, y], "strings":
            np.array(["a"] * n, dtype=object), "None": None}


@given(designs(min_rows=3), st.sampled_from(["one entry short", "NaN", "2-d", "strings",
                                             "None"]))
def test_a_bad_y_is_refused_by_us(design, corruption):
    X, seed = design
    bad = _y_corruptions(X.shape[0], np.random.default_rng(seed))[corruption]
    _refused_by_us(lambda: FMRegressor(**FAST).fit(X, bad), "y", "target")


BAD_PARAMETERS = [
    ("rank", 0), ("rank", -3), ("rank", 2.5), ("rank", "8"), ("rank", None), ("rank", True),
    ("n_iter", 0), ("n_iter", "many"), ("n_iter", 7.0), ("n_burn", -1), ("n_burn", 6),
    ("thin", 0), ("init_scale", -0.1), ("init_scale", float("nan")), ("init_scale", 1e6),
    ("init_scale", "0.1"), ("n_chains", 0), ("n_chains", 1.5), ("random_state", -1),
    ("random_state", "seed"), ("moves", "bogus"), ("moves", 3), ("priors", {"a0": 1}),
    ("max_draws_bytes", -1), ("max_draws_bytes", "1GB"), ("n_jobs", 0), ("n_jobs", "all"),
    ("n_threads", 0), ("n_threads", 2.5), ("keep_draws", "yes"),
]


@given(designs(min_rows=3), st.sampled_from(BAD_PARAMETERS))
def test_a_bad_parameter_is_refused_by_us_naming_it(design, bad):
    X, seed = design
    name, value = bad
    y = np.random.default_rng(seed).normal(size=X.shape[0])
    _refused_by_us(lambda: FMRegressor(**{**FAST, name: value}).fit(X, y), name)


def test_bad_groups_and_priors_are_refused_by_us():
    X = sp.random(10, 3, density=0.5, format="csr", random_state=0)
    y = np.arange(10.0)
    for groups in (["a", "b"], [0, 1, None, 2], np.zeros((3, 1))):
        _refused_by_us(lambda: FMRegressor(**FAST).fit(X, y, groups=groups), "groups")
    for name in ("a0", "b0", "c0"):
        _refused_by_us(lambda: Priors(**{name: -1.0}), name)
