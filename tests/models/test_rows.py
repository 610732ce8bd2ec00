"""The rows protocol (``models._rows``): a matrix and a relational design answer the same
questions the same way (scales, designs, predictions, slices, state), and ``rows_of`` is the
one place that tells them apart."""

import numpy as np
import pytest

from bayesfm.models._rows import MatrixRows, RelationalDataRows, rows_from_state, rows_of
from tests.sampler.test_relational import _design


@pytest.fixture(scope="module")
def both():
    rel, _ = _design(seed=3, n=120)
    return rows_of(rel), rows_of(rel.expand()), rel


def test_rows_of_tells_the_kinds_apart_once(both):
    rel_rows, mat_rows, rel = both
    assert isinstance(rel_rows, RelationalDataRows) and isinstance(mat_rows, MatrixRows)
    assert rows_of(rel_rows) is rel_rows and rows_of(mat_rows) is mat_rows
    assert rel_rows.value is rel and rel_rows.shape == mat_rows.shape == rel.shape
    assert rel_rows.default_groups() == rel.default_groups() and mat_rows.default_groups() is None
    p = rel.n_features
    with pytest.raises(ValueError, match=f"X has {p} features, but Model is expecting {p + 1}"):
        rows_of(rel, n_features=p + 1, owner="Model")
    with pytest.raises(ValueError, match=f"{p + 1}"):
        rows_of(rel.expand(), n_features=p + 1, owner="Model")


def test_both_kinds_give_the_same_scales_designs_rows_and_predictions(both):
    rel_rows, mat_rows, rel = both
    gidx = np.unique(rel.default_groups(), return_inverse=True)[1]
    scale = rel_rows.column_scales(gidx)
    np.testing.assert_allclose(scale, mat_rows.column_scales(gidx), rtol=1e-12)
    a, b = rel_rows.design(scale, gidx), mat_rows.design(scale, gidx)
    assert a.n_features == b.n_features and a.n_rows == b.n_rows     # (blocks are not expanded:
    np.testing.assert_array_equal(a.gsum, b.gsum)                   # fewer stored non-zeros)
    picked = [0, 5, 17, 119]
    assert (rel_rows.expand(picked) != mat_rows.expand(picked)).nnz == 0
    rng = np.random.default_rng(0)
    S, p, k = 3, rel.n_features, 2
    w0, w, V = rng.normal(size=S), rng.normal(size=(S, p)), rng.normal(size=(S, p, k))
    for sl in (slice(None), slice(10, 31), slice(100, 120)):
        out_rel = np.empty((S, rel_rows[sl].shape[0]))
        out_mat = np.empty_like(out_rel)
        rel_rows[sl].predict_into(1, w0, w, V, out_rel)
        mat_rows[sl].predict_into(1, w0, w, V, out_mat)
        np.testing.assert_allclose(out_rel, out_mat, rtol=1e-10, atol=1e-10)


def test_evaluation_sets_and_state(both):
    rel_rows, mat_rows, rel = both
    assert mat_rows.matrix("eval_sets['a']") is mat_rows.value
    with pytest.raises(TypeError, match=r"eval_sets\['a'\]: give a matrix"):
        rel_rows.matrix("eval_sets['a']")
    for rows in both[:2]:
        back = rows_from_state(rows.to_state())
        assert type(back) is type(rows) and back.shape == rows.shape
        assert (back.expand(range(rows.shape[0])) != rows.expand(range(rows.shape[0]))).nnz == 0
