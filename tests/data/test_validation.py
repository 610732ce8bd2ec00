"""Checking user input (``data.validation``): what is accepted and how it is converted, and every
refusal naming the argument and, where it applies, the first bad row."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.data.validation import (
    check_groups,
    check_labels,
    check_matrix,
    check_target,
    encode_labels,
    sorted_classes,
)
from bayesfm.exceptions import DataConversionWarning


@pytest.mark.parametrize("make", [np.array, sp.csr_matrix, sp.csc_matrix, sp.coo_matrix,
                                  lambda a: a.tolist(), lambda a: a.astype(np.int32),
                                  lambda a: a.astype(object), lambda a: a != 0])
def test_check_matrix_converts_every_accepted_form_to_sorted_float_csr(make):
    A = np.array([[0, 2, 0], [1, 0, 3]])
    M = check_matrix(make(A))
    assert sp.isspmatrix_csr(M) and M.dtype == np.float64 and M.has_sorted_indices
    want = (A != 0).astype(float) if np.asarray(make(A)).dtype == bool else A
    np.testing.assert_array_equal(M.toarray(), want)


def test_check_matrix_sums_duplicates_and_copies():
    coo = sp.coo_matrix(([1.0, 2.0, 5.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    M = check_matrix(coo)
    assert M.nnz == 2 and M[0, 1] == 3.0
    src = sp.csr_matrix(np.eye(2))
    check_matrix(src).data[:] = 7.0
    assert src[0, 0] == 1.0                          # the caller's matrix is not changed


@pytest.mark.parametrize("X, kind, message", [
    (None, TypeError, "X must be a 2-d array or a scipy.sparse matrix, got None"),
    ([["a", "b"]], TypeError, "X must hold numbers"),
    (np.ones((2, 2)) * 1j, ValueError, "Complex data not supported"),
    (np.ones(3), ValueError, r"Reshape your data: X.reshape\(-1, 1\)"),
    (np.ones((0, 3)), ValueError, "0 sample"),
    (np.ones((3, 0)), ValueError, "0 feature"),
    (np.array([[1.0, 2.0], [1.0, np.nan], [np.inf, 0.0]]), ValueError, "first bad row: 1"),
    (sp.csr_matrix(np.array([[1.0, 0], [0, 0], [np.inf, 0.0]])), ValueError,
     "first bad row: 2"),
])
def test_check_matrix_refusals_name_the_argument_and_row(X, kind, message):
    with pytest.raises(kind, match=message):
        check_matrix(X)


def test_check_matrix_counts_the_columns_for_its_owner():
    with pytest.raises(ValueError, match="rows has 3 features, but FMRegressor is expecting 4 "
                                         "features"):
        check_matrix(np.ones((2, 3)), "rows", n_features=4, owner="FMRegressor")


def test_check_target():
    np.testing.assert_array_equal(check_target([1, 2, 3], 3), [1.0, 2.0, 3.0])
    assert check_target(np.array([True, False]), 2).dtype == np.float64
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        assert check_target(np.ones((4, 1)), 4).shape == (4,)
    for y, kind, message in [(None, ValueError, "requires y to be passed"),
                             ([1.0, 2.0], ValueError, "y has 2 entries but X has 3 rows"),
                             ([1.0, np.nan, np.inf], ValueError, "first bad row: 1"),
                             (["a", "b", "c"], TypeError, "y must hold numbers"),
                             (np.ones((3, 2)), ValueError, "y must be 1-d"),
                             ([1j, 2, 3], ValueError, "Complex")]:
        with pytest.raises(kind, match=message):
            check_target(y, 3)


def test_check_groups_maps_labels_in_order_of_appearance():
    gidx, labels = check_groups(["u", "i", "u", np.int64(3), 3], 5)
    np.testing.assert_array_equal(gidx, [0, 1, 0, 2, 2])
    assert labels == ["u", "i", 3] and gidx.dtype == np.int64
    gidx, labels = check_groups(None, 4)
    assert labels == [0] and not gidx.any()
    for groups, kind, message in [("uuu", ValueError, "1-d sequence"),
                                  (["a"], ValueError, "groups has 1 labels but X has 3 columns"),
                                  ([1.0, float("nan"), 1.0], ValueError, "NaN at column 1"),
                                  ([[1], [2], [3]], ValueError, "1-d"),
                                  (["a", {}, "b"], TypeError, "column 1 has dict")]:
        with pytest.raises(kind, match=message):
            check_groups(groups, 3)


def test_labels_classes_and_their_codes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = check_labels(["b", "a", "b"], 3)
    classes = sorted_classes(a)
    assert classes.tolist() == ["a", "b"]
    np.testing.assert_array_equal(encode_labels(a, classes), [1, 0, 1])
    with pytest.raises(ValueError, match="first bad row: 2"):
        check_labels(np.array(["x", "y", None], dtype=object), 3)
    with pytest.raises(ValueError, match="first bad row: 0"):
        check_labels([np.nan, 1.0], 2)
    with pytest.raises(ValueError, match="label 'c' at row 1, which is not one of the known"):
        encode_labels(np.array(["a", "c"]), classes)
    with pytest.raises(ValueError, match="cannot be sorted"):
        sorted_classes(np.array(["a", 1, None], dtype=object))
