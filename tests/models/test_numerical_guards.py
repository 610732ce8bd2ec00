"""Inputs at the edge of float64 give a right answer or a clear error naming what to change,
never silent NaN (issue 28's numerical cases)."""

import numpy as np
import pytest

from bayesfm import FMRegressor, Priors
from bayesfm.data.scaling import MAGNITUDE_LIMIT, target_location_scale
from bayesfm.models.base import _check_finite

KW = dict(rank=2, n_iter=60, n_burn=20, n_chains=2, n_jobs=1, random_state=0)


def _data(n=120, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    return X, X @ rng.normal(size=p) + 0.3 * rng.normal(size=n)


@pytest.mark.parametrize("factor", [1e-310, 1e-200, 1e200, 1e300])
def test_a_column_beyond_float64s_reach_is_refused_by_number(factor):
    X, y = _data()
    X[:, 2] *= factor
    with pytest.raises(ValueError, match=r"column 2 of X .*rescale it"):
        FMRegressor(**KW).fit(X, y)


def test_columns_within_reach_fit_as_the_unscaled_ones():
    X, y = _data()
    Xs = X.copy()
    Xs[:, 1] *= 1e-120
    Xs[:, 3] *= 1e120
    a = FMRegressor(**KW).fit(X, y)
    b = FMRegressor(**KW).fit(Xs, y)
    np.testing.assert_allclose(b.predict(Xs), a.predict(X), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_a_target_beyond_float64s_reach_is_refused(factor):
    X, y = _data()
    with pytest.raises(ValueError, match="rescale y"):
        FMRegressor(**KW).fit(X, y * factor)


def test_a_constant_target_keeps_its_magnitude():
    X, _ = _data()
    y = np.full(X.shape[0], 2.0 ** -10)
    model = FMRegressor(**KW).fit(X, y)
    assert model.y_scale_ == 2.0 ** -10
    pred = model.predict(X)
    assert np.max(np.abs(pred - y)) < 0.1 * y[0]                 # was off by 49 times y
    lo, hi = model.predict_interval(X[:5]).T
    assert np.all(hi - lo < 2 * y[0])                              # was 0.53 wide
    assert target_location_scale(np.zeros(5)) == (0.0, 1.0)
    assert target_location_scale(np.full(3, -4.0)) == (-4.0, 4.0)


def test_target_scale_without_overflow():
    y = np.array([1.0, -1.0, 3.0]) * 1e150          # squares overflow, the scale does not
    loc, scale = target_location_scale(y)
    assert np.isfinite(scale) and np.isclose(scale / 1e150, np.std([1.0, -1.0, 3.0]))
    assert np.isclose(loc / 1e150, 1.0)
    assert MAGNITUDE_LIMIT > scale


def test_init_scale_is_bounded():
    X, y = _data()
    with pytest.raises(ValueError, match="init_scale"):
        FMRegressor(init_scale=1e6, **KW).fit(X, y)
    FMRegressor(init_scale=10.0, **KW).fit(X, y)


@pytest.mark.parametrize("bad", [dict(b0=1e300), dict(a_lambda=1e-300), dict(mu0=-1e200),
                                 dict(lambda0=1e101)])
def test_priors_that_would_overflow_are_refused(bad):
    with pytest.raises(ValueError, match=f"Priors.{next(iter(bad))} must be within"):
        Priors(**bad)


def test_a_non_finite_draw_names_the_quantity_chain_and_sweep():
    raw = {"w0": np.zeros(6), "V": np.zeros((6, 3, 2))}
    raw["V"][4, 1, 0] = np.nan
    with pytest.raises(FloatingPointError, match=r"non-finite V in chain 1 at sweep 130 "
                                                 r"\(kept draw 14\)"):
        _check_finite(raw, 1, 10, 102, 2)
    _check_finite({"w0": np.zeros(3), "w": np.zeros((3, 0))}, 0, 0, 0, 1)


@pytest.mark.parametrize("value, message", [(np.nan, "non-finite .* in chain 0 at sweep"),
                                            (np.inf, "divided by zero")])
def test_a_fit_that_overflows_says_so(value, message):
    X, y = _data()
    model = FMRegressor(**KW).fit(X, y)
    model._chains[0].state.w[1] = value
    with pytest.raises(FloatingPointError, match=message):
        model.sample_more(5)


def test_a_stray_huge_feature_index_is_refused_before_allocating():
    import scipy.sparse as sp

    X = sp.csr_matrix((np.ones(4), ([0, 1, 2, 3], [0, 1, 2, 2 ** 40])), shape=(4, 2 ** 40 + 1))
    with pytest.raises(ValueError, match=r"X has 1099511627777 columns: .* GiB, more than half "
                                         r"of this machine's memory"):
        FMRegressor(**KW).fit(X, np.arange(4.0))


@pytest.mark.parametrize("make, message", [
    (lambda: __import__("scipy.sparse").sparse.csr_matrix(
        (np.ones(2), np.array([0, 7]), np.array([0, 1, 2])), shape=(2, 3)),
     "row 1 holds column index 7, outside 0..2"),
    (lambda: __import__("scipy.sparse").sparse.csr_matrix(
        (np.ones(2), np.array([0, -1]), np.array([0, 1, 2])), shape=(2, 3)),
     "row 1 holds column index -1"),
    (lambda: __import__("scipy.sparse").sparse.csr_matrix(
        (np.ones(2), np.array([0, 1]), np.array([0, 2, 1])), shape=(2, 3)),
     "indptr decreases at row 1"),
    (lambda: [[1.0, 2.0], [3.0]], "ragged: .* row 0 has 2 entries and row 1 has 1 entries"),
])
def test_malformed_input_gets_our_own_words(make, message):
    X = make()
    for call in (lambda: FMRegressor(**KW).fit(X, np.arange(2.0)),):
        with pytest.raises(ValueError, match=message):
            call()
    good = FMRegressor(**KW).fit(np.eye(3), np.arange(3.0))
    if not isinstance(X, list):
        with pytest.raises(ValueError, match=message):
            good.predict(X)


class _ForeignTable:
    """A table of another library: it speaks only the dataframe interchange protocol."""

    def __init__(self, frame):
        self._frame = frame

    def __dataframe__(self, nan_as_null=False, allow_copy=True):
        import warnings

        with warnings.catch_warnings():         # pandas 3 deprecates the protocol
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._frame.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)


def test_a_foreign_table_with_strings_is_encoded_as_a_pandas_one():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": [f"u{i % 7}" for i in range(90)],
                          "item": [f"i{i % 5}" for i in range(90)],
                          "age": rng.normal(size=90)})
    y = rng.normal(size=90)
    ours = FMRegressor(**KW).fit(_ForeignTable(frame), y)
    ref = FMRegressor(**KW).fit(frame, y)
    assert list(ours.feature_names_in_) == list(ref.feature_names_in_)
    np.testing.assert_array_equal(ours.predict(_ForeignTable(frame)), ref.predict(frame))


def test_polars_frames_when_polars_is_installed():
    pl = pytest.importorskip("polars", reason="polars is not installed (optional)")
    frame = pl.DataFrame({"user": ["u0", "u1", "u0", "u2"] * 10, "x": np.arange(40.0)})
    model = FMRegressor(**KW).fit(frame, np.arange(40.0))
    assert model.predict(frame).shape == (40,)


def test_a_fit_worse_than_the_mean_says_so(monkeypatch):
    X, y = _data()
    ok = FMRegressor(**KW)
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("error")
        ok.fit(X, y)                                   # a sound fit: no warning
    bad = FMRegressor(**KW).fit(X, y)
    bad.train_rmse_ = np.full_like(bad.train_rmse_, 2 * np.std(y))
    with pytest.warns(UserWarning, match=r"training RMSE .* not below the standard deviation of y.*"
                                         r"diagnose\(\)"):
        bad._warn_if_worse_than_the_mean()


@pytest.mark.parametrize("cls, per_cell", [("FMRegressor", 1), ("FMOrdinalRegressor", 9)])
def test_draws_larger_than_memory_are_refused_before_allocating(monkeypatch, cls, per_cell):
    """predict_draws of many rows asks for draws x rows floats at once: refused with our words
    (how many rows at a time fit) when that exceeds half the machine's memory; predict works
    in blocks of rows and still answers. The memory is made small here instead of the rows
    large."""
    import bayesfm
    from bayesfm.models import base

    X, y = _data(n=200)
    model = getattr(bayesfm, cls)(**KW).fit(X, np.digitize(y, [-1, 1]) if per_cell > 1 else y)
    need = 8 * per_cell * model.n_draws_ * 200
    monkeypatch.setattr(base, "_machine_memory", lambda: need)          # half of it is too little
    with pytest.raises(MemoryError, match=r"the draws at 200 rows \(80 draws x \d+ value\(s\) "
                                          r"per row\) would take .* pass the rows in parts "
                                          r"\(about 25 at a time\)"):
        model.predict_draws(X)
    assert model.predict(X).shape == (200,)
    monkeypatch.setattr(base, "_machine_memory", lambda: 2 * need)      # exactly half: allowed
    assert model.predict_draws(X).shape[:2] == (80, 200)
