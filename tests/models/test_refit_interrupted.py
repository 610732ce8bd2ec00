"""A second fit refused or interrupted (a real SIGINT, Python's Ctrl-C) during its set-up
leaves the estimator exactly as the first fit left it: predictions, column scales, chains and
their continuation (issue 28: the new data's column scales were left beside the old chains,
and sample_more then drew w 1000 times too small)."""

import signal
import sys

import numpy as np
import pytest

from bayesfm import FMRegressor
from bayesfm.models import _rows as rows_module
from bayesfm.models import base as base_module

KW = dict(rank=2, n_iter=40, n_burn=10, n_chains=2, n_jobs=1, random_state=0)


def _data(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 5)) * scale
    return X, X.sum(axis=1) / scale + 0.3 * rng.normal(size=100)


def _ctrl_c(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)              # delivered as KeyboardInterrupt here


PHASES = [(base_module, "_check_model_size"), (base_module, "check_groups"),
          (rows_module.MatrixRows, "column_scales"), (rows_module.MatrixRows, "design"),
          (base_module, "new_chain"), (rows_module.MatrixRows, "expand")]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT as a terminal sends it")
@pytest.mark.parametrize("owner, name", PHASES, ids=[p[1] for p in PHASES])
def test_a_refit_interrupted_in_its_set_up_leaves_the_first_fit_whole(monkeypatch, owner, name):
    previous = None                     # a suite run in the background may ignore SIGINT
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        X, y = _data(0)
        model = FMRegressor(**KW).fit(X, y)
        before = dict(model.__dict__)
        pred = model.predict(X)
        Xn, yn = _data(1, scale=1000.0)                 # other data, other column scales
        monkeypatch.setattr(owner, name, _ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            model.fit(Xn, yn)
        monkeypatch.undo()
        assert model.__dict__.keys() == before.keys()
        assert all(model.__dict__[k] is before[k] for k in before), [
            k for k in before if model.__dict__[k] is not before[k]]
        np.testing.assert_array_equal(model.predict(X), pred)
        model.sample_more(10)                           # the continuation of the first fit
        ref = FMRegressor(**{**KW, "n_iter": 50}).fit(X, y)
        np.testing.assert_array_equal(model.w_, ref.w_)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def test_a_refused_refit_leaves_the_first_fit_whole():
    X, y = _data(0)
    model = FMRegressor(**KW).fit(X, y)
    before = dict(model.__dict__)
    bad = X.copy()
    bad[3, 2] = 1e-320                                  # a subnormal column: refused late
    bad[:, 2] *= 1e-318
    with pytest.raises(ValueError, match="column 2"):
        model.fit(bad, y)
    assert all(model.__dict__[k] is before[k] for k in before)
