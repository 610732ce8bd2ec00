"""Estimators on RelationalData: the same draws as on the expanded matrix, and every feature
(prediction, diagnostics, ArviZ) works on it."""

import numpy as np

from bayesfm import FMOrdinalRegressor, FMRegressor
from bayesfm.sampler import design as state
from tests.sampler.test_relational import _design

KW = dict(rank=3, n_iter=60, n_burn=20, n_chains=2, n_jobs=1, random_state=3)


def _index_order(indptr, indices, r_indptr, r_indices, p):
    return np.arange(p, dtype=np.int64), np.arange(p + 1, dtype=np.int64)


def test_fit_on_relational_equals_fit_on_expanded(monkeypatch):
    # every column drawn on its own in index order and V factor by factor, in both designs, so
    # that both sweeps visit the same coordinates in the same order
    # (tests/sampler/test_relational.py checks the colour-class order at the sampler level)
    monkeypatch.setattr(state, "colour_classes", _index_order)
    from_matrix = state.FMData.from_matrix.__func__
    monkeypatch.setattr(state.FMData, "from_matrix", classmethod(
        lambda cls, X, gidx=None, classes=None, factor_major=None:
            from_matrix(cls, X, gidx, classes, True)))
    rel, y = _design(seed=7)
    groups = rel.default_groups()
    a = FMRegressor(**KW).fit(rel, y)
    # the flat design's extra moves (the relational sweep has none): off
    b = FMRegressor(moves=None, **KW).fit(rel.expand(), y, groups=groups)
    assert a.groups_ == ["direct", "u", "i"]
    for name in a.draws_:
        np.testing.assert_allclose(a.draws_[name], b.draws_[name], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(a.predict(rel), b.predict(rel.expand()), atol=1e-8)
    np.testing.assert_allclose(a.predict_interval(rel), b.predict_interval(rel.expand()),
                               atol=1e-7)


def test_relational_ordinal_diagnostics_and_arviz():
    rel, y = _design(seed=8)
    cls = np.digitize(y, [-0.5, 0.5])
    model = FMOrdinalRegressor(**KW).fit(rel, cls)
    assert model.predict_proba(rel).shape == (rel.n_rows, 3)
    report = model.diagnose()
    assert "yhat" in report.blocks
    idata = model.to_inference_data()
    assert idata.sample_stats["train_log_likelihood"].shape == (2, 40)


def test_scores_and_intervals_on_relational_rows():
    rel, y = _design(seed=9)
    model = FMRegressor(**KW).fit(rel, y)
    assert np.isfinite(model.score(rel, y))
    np.testing.assert_allclose(model.predict_draws(rel), model.predict_draws(rel.expand()),
                               atol=1e-10)
    ll = model.to_inference_data(log_likelihood=True).log_likelihood["y"]
    assert ll.shape == (2, 40, rel.n_rows)
