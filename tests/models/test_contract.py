"""The contract the three estimators share (``FMRegressor``, ``FMClassifier``,
``FMOrdinalRegressor``): reproducibility, row-blocked prediction, the scikit-learn protocol
(``get_params`` / ``set_params`` / ``clone`` / ``repr``), input formats and input validation.

Every test runs once per estimator (``est``: "regressor", "classifier", "ordinal"); what differs
between them (their draws, prediction methods, a target of the right kind, a prior they use, a
target they refuse, ...) is in their ``Spec``. Tests of what only one estimator has (fitted
shapes, classes, intervals, probabilities, cutpoints) stay in its own module.

Everything runs on one small design with fixed seeds (60 rows, 5 columns, values on a grid of
0.25 so that every input format holds them exactly) and small settings (rank 2, 30 sweeps,
10 of burn-in, 2 chains in this process).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

import bayesfm.models._predict
import bayesfm.models.base
from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor, NotFittedError, Priors
from bayesfm.data.encoders import TableEncoder
from bayesfm.exceptions import DataConversionWarning
from tests.helpers import assert_msg, comparable_params
from tests.statistical.fm_prior import fm_yhat as fm_function

# ---------------------------------------------------------------------------------------------
# the estimators and what differs between them
# ---------------------------------------------------------------------------------------------

N, P, RANK = 60, 5, 2
SMALL = dict(rank=RANK, n_iter=30, n_burn=10, thin=1, n_chains=2, n_jobs=1, random_state=0)
GROUPS = ["b", "a", "b", "c", "a"]   # first appearance order: b, a, c

#: the shared pooled draws of every estimator
COMMON_DRAWS = ("w0_", "w_", "V_", "mu_w_", "lambda_w_", "mu_v_", "lambda_v_")

#: the constructor defaults every estimator shares (``extra_defaults`` adds the others)
DEFAULTS = dict(rank=8, n_iter=300, n_burn=100, thin=1, init_scale=0.1, priors=None,
                keep_draws=True, n_chains=4, n_jobs=None, n_threads=None, progress=None,
                max_iter=5000, max_time=None, check_every=100, encoder=None, random_state=None,
                moves=("shift", "joint"), max_draws_bytes=2**30)


def interval(kind):
    return ("predict_interval", dict(level=0.9, kind=kind))


@dataclass(frozen=True)
class Spec:
    cls: type
    #: the target of the estimator's kind from the latent values z of the simulation
    target: callable
    #: the number of classes of that target (0: a continuous target)
    n_classes: int
    #: pooled draw attributes (one per field of ``draws_``)
    draws: tuple
    #: output label -> (method, keyword arguments): every prediction of the estimator
    outputs: dict
    #: outputs that are labels (they may coincide between two chains of different seeds)
    label_outputs: tuple = ()
    #: outputs that reduce over the draws in row blocks (``bayesfm.models._predict``)
    blocked: tuple = ()
    #: outputs that are the FM function itself for every draw
    fm_outputs: tuple = ("decision_draws",)
    #: per-sweep statistics (one per entry of ``sweep_stats_``), and the ones that depend on
    #: the seed for sure (continuous values)
    sweeps: tuple = ()
    varying_sweeps: tuple = ()
    #: other fitted scalars that a chain determines
    scalars: tuple = ()
    #: fitted attributes that describe the target (set by fit, besides the draws)
    target_attrs: tuple = ()
    #: a prior of the CTOR dict below
    ctor_priors: Priors = None
    #: constructor arguments that only this estimator has: in CTOR, defaults, set_params
    extra_ctor: dict = field(default_factory=dict)
    extra_defaults: dict = field(default_factory=dict)
    extra_set: dict = field(default_factory=dict)
    #: (constructor arguments, what their repr shows) only this estimator has
    extra_repr: tuple = ()
    #: y -> a target of the right shape that fit refuses (ValueError)
    refused_target: callable = None
    #: y -> another valid target (new labels, other units)
    other_target: callable = None
    #: (priors that are not the default, a draw attribute they change)
    used_priors: tuple = ()

    @property
    def methods(self) -> tuple:
        """The prediction methods (taking X only)."""
        return tuple(dict.fromkeys(m for m, _ in self.outputs.values()))


def ordinal_target(z):
    return 1 + np.searchsorted(np.quantile(z, [0.25, 0.5, 0.75]), z)


def _with_nan(y):
    y = np.asarray(y, dtype=float).copy()
    y[9] = np.nan
    return y


SPECS = {
    "regressor": Spec(
        cls=FMRegressor,
        target=lambda z: 1.0 + z,
        n_classes=0,
        draws=COMMON_DRAWS + ("alpha_",),
        outputs={"predict": ("predict", {}), "predict_draws": ("predict_draws", {}),
                 "decision_draws": ("decision_draws", {}),
                 "predict_interval[predictive]": interval("predictive"),
                 "predict_interval[mean]": interval("mean")},
        blocked=("predict", "predict_interval[predictive]", "predict_interval[mean]"),
        fm_outputs=("decision_draws", "predict_draws"),
        sweeps=("train_rmse_",), varying_sweeps=("train_rmse_",),
        target_attrs=("y_mean_", "y_scale_"),
        ctor_priors=Priors(a0=2.0),
        refused_target=_with_nan,
        other_target=lambda y: 100.0 * y + 50.0,
        used_priors=(Priors(b0=50.0, lambda0=1.0), "alpha_"),
    ),
    "classifier": Spec(
        cls=FMClassifier,
        target=lambda z: (z > 0).astype(np.int64),
        n_classes=2,
        draws=COMMON_DRAWS,
        outputs={"predict": ("predict", {}), "predict_proba": ("predict_proba", {}),
                 "predict_draws": ("predict_draws", {}),
                 "decision_function": ("decision_function", {}),
                 "decision_draws": ("decision_draws", {})},
        label_outputs=("predict",),
        blocked=("predict", "predict_proba", "decision_function"),
        target_attrs=("classes_",),
        ctor_priors=Priors(b_lambda=2.0),
        refused_target=lambda y: np.zeros_like(y),            # one class
        other_target=lambda y: np.where(y == 1, "yes", "no"),
        used_priors=(Priors(b_lambda=50.0, lambda0=1.0), "V_"),
    ),
    "ordinal": Spec(
        cls=FMOrdinalRegressor,
        target=ordinal_target,
        n_classes=4,
        draws=COMMON_DRAWS + ("cutpoints_",),
        outputs={"predict": ("predict", {}), "predict_proba": ("predict_proba", {}),
                 "predict_draws": ("predict_draws", {}),
                 "predict_expected": ("predict_expected", {}),
                 "decision_function": ("decision_function", {}),
                 "decision_draws": ("decision_draws", {})},
        label_outputs=("predict",),
        blocked=("predict", "predict_proba", "predict_expected", "decision_function"),
        sweeps=("cutpoint_accepted_",),
        scalars=("cutpoint_acceptance_",),
        target_attrs=("classes_",),
        ctor_priors=Priors(cut_scale=1.0),
        extra_ctor=dict(classes=["low", "mid", "high"]),
        extra_defaults=dict(classes=None),
        extra_set=dict(classes=[1, 2, 3]),
        extra_repr=((dict(classes=["a", "b"]), "classes=['a', 'b']"),),
        refused_target=lambda y: np.full_like(y, 2),          # one class
        other_target=lambda y: 10 * y,
        used_priors=(Priors(cut_loc=-1.0, cut_scale=0.3), "cutpoints_"),
    ),
}
ESTIMATORS = list(SPECS)


def pytest_generate_tests(metafunc):
    """``est`` runs every test once per estimator; a test taking ``api_method`` runs once per
    prediction method of that estimator and for ``score``."""
    if "est" not in metafunc.fixturenames:
        return
    if "api_method" in metafunc.fixturenames:
        cases = [(e, m) for e in ESTIMATORS for m in SPECS[e].methods + ("score",)]
        metafunc.parametrize(("est", "api_method"), cases, ids=[f"{e}-{m}" for e, m in cases])
    else:
        metafunc.parametrize("est", ESTIMATORS)


@functools.lru_cache(maxsize=None)
def _data(est):
    """X (N, P), multiples of 0.25 (exact in float32) with 40% zeros, and a target of the
    estimator's kind from an FM latent function plus unit Normal noise."""
    rng = np.random.default_rng(2024)
    X = rng.integers(-4, 5, size=(N, P)) * 0.25
    X[rng.random((N, P)) < 0.4] = 0.0
    w = rng.normal(0.0, 0.8, size=P)
    V = rng.normal(0.0, 0.5, size=(P, RANK))
    z = fm_function(X, 0.0, w, V) + rng.normal(size=N)
    y = SPECS[est].target(z)
    if SPECS[est].n_classes:     # every class well represented
        labels, counts = np.unique(y, return_counts=True)
        assert labels.shape[0] == SPECS[est].n_classes and counts.min() >= 10
    return X, y


@pytest.fixture
def spec(est):
    return SPECS[est]


@pytest.fixture
def data(est):
    X, y = _data(est)
    return X.copy(), y.copy()


@pytest.fixture(scope="module")
def _fits():
    return {}


@pytest.fixture
def fitted(est, _fits):
    """The estimator fitted with SMALL on ``data``, shared by read-only tests (never modified
    by a test)."""
    if est not in _fits:
        X, y = _data(est)
        model = small_model(est)
        assert model.fit(X, y) is model
        _fits[est] = model
    return _fits[est]


def small_model(est, **kw):
    return SPECS[est].cls(**{**SMALL, **kw})


def call(model, method, X, y=None):
    if method == "score":
        return model.score(X, y)
    return getattr(model, method)(X)


def outputs(spec, model, X):
    return {label: getattr(model, method)(X, **kw) for label, (method, kw) in spec.outputs.items()}


def snapshot(spec, model, X):
    """Everything a chain determines: the pooled draws, the per-chain draws, the sweep
    statistics, fitted scalars and every prediction at X (copies)."""
    out = {name: np.array(getattr(model, name), copy=True) for name in spec.draws + spec.sweeps}
    out.update({f"draws_[{k}]": np.array(v, copy=True) for k, v in model.draws_.items()})
    out.update({name: getattr(model, name) for name in spec.scalars})
    out.update(outputs(spec, model, X))
    return out


def assert_same(a, b):
    assert set(a) == set(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_spec_lists_every_draw_and_sweep_statistic(spec, fitted):
    """The lists the contract compares are complete (a new field must be added to them)."""
    assert set(fitted.draws_) == {name[:-1] for name in spec.draws}
    assert set(fitted.sweep_stats_) == {name[:-1] for name in spec.sweeps}
    for name in spec.scalars + spec.target_attrs:
        assert hasattr(fitted, name), name


def test_fit_returns_self(est, data):
    X, y = data
    model = small_model(est)
    assert model.fit(X, y) is model


# ---------------------------------------------------------------------------------------------
# 1. reproducibility
# ---------------------------------------------------------------------------------------------

def test_same_seed_bit_identical(est, spec, data):
    X, y = data
    a = small_model(est, random_state=123).fit(X, y)
    b = small_model(est, random_state=123).fit(X, y)
    assert_same(snapshot(spec, a, X), snapshot(spec, b, X))


def test_refit_same_estimator_bit_identical(est, spec, data):
    X, y = data
    model = small_model(est, random_state=5)
    first = snapshot(spec, model.fit(X, y), X)
    second = snapshot(spec, model.fit(X, y), X)
    assert_same(first, second)


def test_different_seeds_differ(est, spec, data):
    X, y = data
    a = small_model(est, random_state=1).fit(X, y)
    b = small_model(est, random_state=2).fit(X, y)
    for name in spec.draws + spec.varying_sweeps:
        assert not np.array_equal(getattr(a, name), getattr(b, name)), name
    out_a, out_b = outputs(spec, a, X), outputs(spec, b, X)
    for label in out_a:
        if label not in spec.label_outputs:
            assert not np.array_equal(out_a[label], out_b[label]), label


def test_seed_sequence_and_generator(est, spec, data):
    X, y = data
    a = snapshot(spec, small_model(est, random_state=np.random.SeedSequence(42)).fit(X, y), X)
    b = snapshot(spec, small_model(est, random_state=np.random.SeedSequence(42)).fit(X, y), X)
    c = snapshot(spec, small_model(est, random_state=np.random.default_rng(42)).fit(X, y), X)
    d = snapshot(spec, small_model(est, random_state=42).fit(X, y), X)
    assert_same(a, b)
    # default_rng(42) and default_rng(SeedSequence(42)) are the same stream
    assert_same(c, d)
    assert_same(a, d)


def test_clone_refit_reproduces(est, spec, fitted, data):
    X, y = data
    c = clone(fitted).fit(X, y)
    assert_same(snapshot(spec, c, X), snapshot(spec, fitted, X))


# ---------------------------------------------------------------------------------------------
# 2. prediction
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows", [3, 7])
def test_blocked_prediction_matches_unblocked(spec, fitted, data, monkeypatch, rows):
    """Row blocking (used to bound memory for large X) does not change any prediction."""
    X, _ = data
    seen = []
    real_row_blocks = bayesfm.models.base.row_blocks

    def spy(n_rows, n_draws):
        blocks = list(real_row_blocks(n_rows, n_draws))
        seen.append([b.stop - b.start for b in blocks])
        return iter(blocks)

    monkeypatch.setattr(bayesfm.models.base, "row_blocks", spy)
    full = outputs(spec, fitted, X)
    assert seen and all(sizes == [N] for sizes in seen)     # one block each, unpatched
    monkeypatch.setattr(bayesfm.models._predict, "BLOCK_CELLS", rows * fitted.n_draws_ + 1)
    for label, (method, kw) in spec.outputs.items():
        seen.clear()
        blocked = getattr(fitted, method)(X, **kw)
        assert np.array_equal(full[label], blocked), label
        if label in spec.blocked:
            # the reduction really went through blocks of `rows` rows
            assert seen, label
            for sizes in seen:
                assert sizes == [rows] * (N // rows) + ([N % rows] if N % rows else []), label


def test_decision_draws_match_parameters(spec, fitted, data):
    """decision_draws evaluates w0 + x.w + sum_{j<l} <v_j, v_l> x_j x_l for every draw."""
    Xs = data[0][:15]
    S = fitted.n_draws_
    for label in spec.fm_outputs:
        method, kw = spec.outputs[label]
        draws = getattr(fitted, method)(Xs, **kw)
        assert draws.shape == (S, Xs.shape[0]), label
        for s in (0, S // 2, S - 1):
            expect = fm_function(Xs, fitted.w0_[s], fitted.w_[s], fitted.V_[s])
            np.testing.assert_allclose(draws[s], expect, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fmt", ["list", "csr", "csc", "coo", "lil", "csr_array", "float32"])
def test_input_formats_identical_draws(est, spec, fitted, data, fmt):
    X, y = data
    conv = {
        "list": lambda A: A.tolist(),
        "csr": sp.csr_matrix,
        "csc": sp.csc_matrix,
        "coo": sp.coo_matrix,
        "lil": sp.lil_matrix,
        "csr_array": sp.csr_array,
        # multiples of 0.25 are exact in float32, so the float64 conversion is lossless
        "float32": lambda A: A.astype(np.float32),
    }[fmt]
    model = small_model(est).fit(conv(X), y)
    for name in spec.draws:
        assert np.array_equal(getattr(model, name), getattr(fitted, name)), name
    # prediction accepts every format too, with the same result
    got, expect = outputs(spec, model, conv(X)), outputs(spec, fitted, X)
    for label in expect:
        assert np.array_equal(got[label], expect[label]), label


def test_groups_order_of_first_appearance(est, data):
    X, y = data
    model = small_model(est).fit(X, y, groups=GROUPS)
    assert list(model.groups_) == ["b", "a", "c"]
    np.testing.assert_array_equal(model.group_index_, [0, 1, 0, 2, 1])
    S = model.n_draws_
    assert model.mu_w_.shape == (S, 3)
    assert model.lambda_w_.shape == (S, 3)
    assert model.mu_v_.shape == (S, 3, RANK)
    assert model.lambda_v_.shape == (S, 3, RANK)


def test_priors_none_is_default(est, spec, data):
    X, y = data
    a = small_model(est, priors=Priors()).fit(X, y)
    b = small_model(est, priors=None).fit(X, y)
    assert_same(snapshot(spec, a, X), snapshot(spec, b, X))   # None means Priors()


def test_priors_are_used(est, spec, data):
    X, y = data
    priors, name = spec.used_priors
    a = small_model(est).fit(X, y)
    b = small_model(est, priors=priors).fit(X, y)
    assert not np.array_equal(getattr(a, name), getattr(b, name))


# ---------------------------------------------------------------------------------------------
# 3. scikit-learn conventions
# ---------------------------------------------------------------------------------------------

def ctor_args(spec):
    return dict(rank=3, n_iter=40, n_burn=5, thin=2, init_scale=0.5, priors=spec.ctor_priors,
                keep_draws=True, n_chains=2, n_jobs=1, n_threads=1, progress=False, max_iter=800,
                max_time=30.0, check_every=20, encoder=TableEncoder(min_count=2),
                random_state=17, moves=("scale",), max_draws_bytes=5e8, **spec.extra_ctor)


def test_get_params_returns_constructor_args(spec):
    ctor = ctor_args(spec)
    model = spec.cls(**ctor)
    assert model.get_params(deep=False) == ctor
    # exactly the constructor's arguments
    signature = inspect.signature(spec.cls.__init__).parameters
    assert set(model.get_params(deep=False)) == set(signature) - {"self"}
    nested = {f"encoder__{k}": v for k, v in ctor["encoder"].get_params().items()}
    assert model.get_params() == {**ctor, **nested}
    assert model.get_params()["encoder__min_count"] == 2
    defaults = {**DEFAULTS, **spec.extra_defaults}
    assert spec.cls().get_params() == defaults
    assert spec.cls().get_params(deep=False) == defaults


def test_set_params(spec):
    model = spec.cls()
    assert model.set_params(rank=4, n_iter=50, random_state=3, **spec.extra_set) is model
    assert model.rank == 4 and model.n_iter == 50 and model.random_state == 3
    assert model.get_params()["rank"] == 4
    for name, value in spec.extra_set.items():
        assert getattr(model, name) == value and model.get_params()[name] == value


def test_set_params_unknown_name(spec):
    for name in ("rnak", "clases"):
        model = spec.cls()
        with pytest.raises(ValueError) as ei:
            model.set_params(**{name: 3})
        assert_msg(ei, name)
        assert model.rank == 8
        assert model.get_params() == spec.cls().get_params()


def test_clone_unfitted_equal_params(spec):
    model = spec.cls(**ctor_args(spec))
    c = clone(model)
    assert c is not model
    assert comparable_params(c) == comparable_params(model)


def test_clone_of_fitted_is_not_fitted(spec, fitted, data):
    X, y = data
    c = clone(fitted)
    assert comparable_params(c) == comparable_params(fitted)
    for name in spec.draws + spec.target_attrs + ("draws_", "n_draws_"):
        assert not hasattr(c, name), name
    assert [k for k in vars(c) if k.endswith("_")] == []
    for method in spec.methods + ("score",):
        with pytest.raises(NotFittedError):
            call(c, method, X, y)


def test_repr(spec):
    name = spec.cls.__name__
    assert repr(spec.cls()) == f"{name}()"
    r = repr(spec.cls(rank=3, random_state=0))
    assert r.startswith(f"{name}(") and "rank=3" in r and "random_state=0" in r
    assert "n_iter" not in r
    assert "a0=2.0" in repr(spec.cls(priors=Priors(a0=2.0)))
    for kw, shown in spec.extra_repr:
        assert shown in repr(spec.cls(**kw))


# ---------------------------------------------------------------------------------------------
# 4. errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, exc", [
    ("rank", 0, ValueError),
    ("rank", -2, ValueError),
    ("rank", 1.5, TypeError),
    ("rank", 2.0, TypeError),
    ("rank", True, TypeError),
    ("rank", "2", TypeError),
    ("n_iter", 0, ValueError),
    ("n_iter", 2.0, TypeError),
    ("n_iter", 10.0, TypeError),
    ("thin", 0, ValueError),
    ("thin", 1.5, TypeError),
    ("n_burn", -1, ValueError),
    ("init_scale", -0.1, ValueError),
    ("init_scale", np.inf, ValueError),
    ("init_scale", np.nan, ValueError),
    ("random_state", -1, ValueError),
    ("random_state", "seed", TypeError),
    ("random_state", 1.5, TypeError),
])
def test_bad_constructor_params(est, data, name, value, exc):
    X, y = data
    with pytest.raises(exc) as ei:
        small_model(est, **{name: value}).fit(X, y)
    assert_msg(ei, name)


NONFINITE = {"nan": (np.nan, np.nan), "inf": (np.inf, np.inf), "-inf": (-np.inf, -np.inf),
             "nan+inf": (np.nan, np.inf)}
MATRIX_FORMATS = {"dense": np.asarray, "csr": sp.csr_matrix, "csc": sp.csc_matrix,
                  "coo": sp.coo_matrix}


@pytest.mark.parametrize("bad", list(NONFINITE))
def test_nonfinite_X_names_row(est, data, bad):
    """The first bad row is named, also when a later row comes first in the storage order
    (column-major for csc)."""
    X, y = data
    early, late = NONFINITE[bad]
    X[21, 0] = late
    X[4, 3] = early
    for conv in MATRIX_FORMATS.values():
        with pytest.raises(ValueError) as ei:
            small_model(est).fit(conv(X), y)
        assert_msg(ei, r"\bX\b", r"\b4\b")


def test_nonfinite_y_names_row(est, data):
    X, y = data
    for bad in (np.nan, np.inf, -np.inf):
        yb = y.astype(float)
        yb[9] = bad
        yb[30] = bad
        with pytest.raises(ValueError) as ei:
            small_model(est).fit(X, yb)
        assert_msg(ei, r"\by\b", r"\b9\b")


def test_wrong_length_y(est, data):
    X, y = data
    for n_y in (N - 2, N - 1, N + 1):
        with pytest.raises(ValueError) as ei:
            small_model(est).fit(X, np.concatenate([y, y])[:n_y])
        assert_msg(ei, r"\by\b", rf"\b{n_y}\b", rf"\b{N}\b")


@pytest.mark.parametrize("which", ["X", "y"])
def test_none_inputs(est, data, which):
    X, y = data
    args = {"X": X, "y": y}
    args[which] = None
    with pytest.raises(TypeError if which == "X" else ValueError) as ei:
        small_model(est).fit(args["X"], args["y"])
    assert_msg(ei, rf"\b{which}\b")


def test_y_two_dimensional(est, data):
    X, y = data
    for y2 in (y.reshape(1, N), y.reshape(N // 2, 2), np.column_stack([y, y])):
        with pytest.raises(ValueError) as ei:
            small_model(est).fit(X, y2)
        assert_msg(ei, r"\by\b", "1-d")


def test_y_column_vector_is_read_as_1d_with_a_warning(est, spec, data):
    """As scikit-learn estimators do: y of shape (n, 1) is raveled, with a
    DataConversionWarning (a UserWarning; an instance of scikit-learn's when scikit-learn is
    imported)."""
    X, y = data
    assert issubclass(DataConversionWarning, UserWarning)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        a = small_model(est).fit(X, y.reshape(-1, 1))
    b = small_model(est).fit(X, y)
    assert_same(snapshot(spec, a, X), snapshot(spec, b, X))


def test_predict_wrong_number_of_columns(fitted, data, api_method):
    for n_cols in (P - 1, P + 1, P + 2):
        for fmt in ("dense", "csr"):
            Xn = MATRIX_FORMATS[fmt](np.ones((4, n_cols)))
            with pytest.raises(ValueError) as ei:
                call(fitted, api_method, Xn, data[1][:4])
            assert_msg(ei, rf"\b{n_cols}\b", rf"\b{P}\b")


def test_nan_in_predict_X_names_row(fitted, data, api_method):
    X, y = data
    for bad in (np.nan, np.inf):
        for fmt in ("dense", "csr"):
            Xb = X.copy()
            Xb[21, 0] = bad
            Xb[4, 3] = bad
            with pytest.raises(ValueError) as ei:
                call(fitted, api_method, MATRIX_FORMATS[fmt](Xb), y)
            assert_msg(ei, r"\bX\b", r"\b4\b")


def test_predict_before_fit(spec, data, api_method):
    X, y = data
    with pytest.raises(NotFittedError) as ei:
        call(spec.cls(), api_method, X, y)
    assert isinstance(ei.value, ValueError)
    assert isinstance(ei.value, AttributeError)
    assert_msg(ei, spec.cls.__name__, "fit")


FAILED_FITS = {
    "param": lambda spec, X, y: ((X, y), dict(rank=0)),
    "target": lambda spec, X, y: ((X, spec.refused_target(y)), {}),
}


def failing_fit(est, cause, X, y):
    """(an estimator, a fit call that raises ValueError) for the given cause of failure."""
    spec = SPECS[est]
    if cause == "groups":
        return small_model(est), lambda m: m.fit(X, y, groups=["a"] * (P - 1))
    args, kw = FAILED_FITS[cause](spec, X, y)
    return small_model(est, **kw), lambda m: m.fit(*args)


@pytest.mark.parametrize("cause", ["param", "target", "groups"])
def test_failed_fit_keeps_estimator_unfitted(est, spec, data, cause):
    X, y = data
    model, fit = failing_fit(est, cause, X, y)
    with pytest.raises(ValueError):
        fit(model)
    for method in spec.methods + ("score",):
        with pytest.raises(NotFittedError):
            call(model, method, X, y)
    with pytest.raises(NotFittedError):
        model.n_draws_
    for name in spec.draws:
        assert not hasattr(model, name), name


@pytest.mark.parametrize("cause", ["param", "target", "groups"])
def test_failed_fit_sets_no_fitted_attribute(est, data, cause):
    """scikit-learn's convention: fitted state lives in attributes ending in ``_``, and
    ``check_is_fitted`` reads them; a refused fit leaves none (also when it is refused after y
    was read: at the groups check)."""
    X, y = data
    model, fit = failing_fit(est, cause, X, y)
    with pytest.raises(ValueError):
        fit(model)
    assert [k for k in vars(model) if k.endswith("_")] == []
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(model)


def fitted_state(spec, model, X):
    out = snapshot(spec, model, X)
    out.update({name: np.array(getattr(model, name), copy=True) for name in spec.target_attrs})
    return out


@pytest.mark.parametrize("cause", ["param", "target", "groups"])
def test_failed_refit_keeps_previous_fit(est, spec, fitted, data, cause):
    """A refused refit (with another target: new labels, other units) leaves the previous fit
    as it was, or no fit at all; not the new target's classes_ (y_mean_, y_scale_) with the
    previous fit's draws."""
    X, y = data
    model = clone(fitted).fit(X, y)
    before = fitted_state(spec, model, X)
    with pytest.raises(ValueError):
        if cause == "param":
            model.set_params(rank=0).fit(X, spec.other_target(y))
        elif cause == "target":
            model.fit(X, spec.refused_target(y))
        else:
            model.fit(X, spec.other_target(y), groups=["a"] * (P - 1))
    if not [k for k in vars(model) if k.endswith("_")]:
        with pytest.raises(NotFittedError):
            model.n_draws_
        return
    assert_same(before, fitted_state(spec, model, X))
