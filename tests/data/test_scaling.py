"""data.scaling, directly: group sums, row structure, column scales (relational equal to the
expanded form) and scaling itself."""

import numpy as np
import scipy.sparse as sp

from bayesfm.data.scaling import (
    GENERAL,
    MULTI_HOT,
    SINGLE,
    column_scales,
    constant_group_sums,
    relational_scales,
    row_group_sums,
    row_structure,
    scale_columns,
)


def _design(seed=0, n=50):
    """One-hot users (4), a normalised multi-hot block (3 columns, 1/k), two dense columns."""
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    users = sp.csr_matrix((np.ones(n), (rows, rng.integers(0, 4, n))), shape=(n, 4))
    multi = (rng.random((n, 3)) < 0.5).astype(float)
    multi[multi.sum(axis=1) == 0, 0] = 1.0
    multi /= multi.sum(axis=1, keepdims=True)
    dense = rng.normal(size=(n, 2)) * [1.0, 250.0]
    X = sp.hstack([users, sp.csr_matrix(multi), sp.csr_matrix(dense)], format="csr")
    gidx = np.array([0] * 4 + [1] * 3 + [2, 2])
    return X, gidx


def test_constant_group_sums_find_one_hot_and_normalised_blocks():
    X, gidx = _design()
    sums = constant_group_sums(row_group_sums(X, [], [], gidx, 3))
    np.testing.assert_array_equal(sums, [1.0, 1.0, 0.0])
    doubled = sp.csr_matrix(X.multiply(np.r_[np.full(4, 2.0), np.ones(5)]))
    np.testing.assert_array_equal(constant_group_sums(row_group_sums(doubled, [], [], gidx, 3)),
                                  [2.0, 1.0, 0.0])
    missing = sp.csr_matrix(X.toarray() * (np.arange(X.shape[0]) > 0)[:, None])   # a zero row
    assert constant_group_sums(row_group_sums(missing, [], [], gidx, 3))[0] == 0.0


def test_row_structure_tells_single_multi_hot_and_general():
    X, gidx = _design()
    np.testing.assert_array_equal(row_structure(X, gidx, 3), [SINGLE, MULTI_HOT, GENERAL])
    only_first = np.zeros(X.shape[0], dtype=bool)
    only_first[0] = True
    assert row_structure(X, gidx, 3, rows_used=only_first)[0] == SINGLE


def test_column_scales_are_max_abs_and_shared_within_multi_hot_groups():
    X, gidx = _design()
    s = column_scales(X, gidx)
    dense = np.abs(X[:, 7:].toarray()).max(axis=0)
    np.testing.assert_array_equal(s[:4], 1.0)                      # one-hot: untouched
    assert np.all(s[4:7] == s[4]) and s[4] == np.abs(X[:, 4:7].toarray()).max()
    np.testing.assert_array_equal(s[7:], dense)                     # one by one
    zero = sp.hstack([X, sp.csr_matrix((X.shape[0], 1))], format="csr")
    assert column_scales(zero, np.r_[gidx, 2])[-1] == 1.0           # a zero column keeps 1


def test_scaling_makes_units_irrelevant():
    X, gidx = _design()
    units = np.r_[np.ones(4), np.full(3, 7.0), 0.01, 1e4]            # multi-hot: one unit
    Xu = sp.csr_matrix(X.multiply(units))
    a = scale_columns(X, column_scales(X, gidx)).toarray()
    b = scale_columns(Xu, column_scales(Xu, gidx)).toarray()
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    same = scale_columns(X, np.ones(X.shape[1]))
    assert same is not X and np.array_equal(same.toarray(), X.toarray())


def test_relational_scales_equal_those_of_the_expanded_design():
    rng = np.random.default_rng(3)
    n, m = 40, 6
    direct = sp.csr_matrix(rng.normal(size=(n, 2)) * [1.0, 30.0])
    block = sp.hstack([sp.identity(m, format="csr"),
                       sp.csr_matrix(rng.normal(size=(m, 2)) * [5.0, 0.1])], format="csr")
    idx = rng.integers(0, m - 1, n)                   # the last block row is never used
    gidx = np.array([0, 0] + [1] * m + [2, 2])
    expanded = sp.hstack([direct, block[idx]], format="csr")
    np.testing.assert_array_equal(relational_scales(direct, [block], [idx], gidx),
                                  column_scales(expanded, gidx))


def test_a_general_group_is_scaled_column_by_column_a_constant_sum_one_shares():
    general = sp.csr_matrix(np.array([[1.0, 20.0], [3.0, 1.0]]))        # unequal, no constant sum
    np.testing.assert_array_equal(column_scales(general, np.array([0, 0])), [3.0, 20.0])
    constant = sp.csr_matrix(np.array([[1.0, 20.0], [20.0, 1.0]]))      # every row sums to 21
    np.testing.assert_array_equal(column_scales(constant, np.array([0, 0])), [20.0, 20.0])
