"""TableEncoder: DataFrame -> (CSR design matrix, groups) layout, values, errors, pickling."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

pd = pytest.importorskip("pandas")

from bayesfm.data.encoders import TableEncoder  # noqa: E402
from bayesfm.exceptions import NotFittedError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _frame():
    return pd.DataFrame({
        "user": pd.Categorical([42, 7, 42, 3]),
        "item": ["b", "a", "c", "a"],
        "genres": [["Comedy", "Drama"], ["Drama"], [], ["Action", "Comedy", "Drama"]],
        "age": [20.0, 30.0, 40.0, 50.0],
    })


def _block(enc, col):
    (b,) = [b for b in enc.blocks_ if b["column"] == col]
    return b


def test_one_hot_layout_and_names():
    enc = TableEncoder()
    X = enc.fit_transform(_frame())
    assert sp.isspmatrix_csr(X) and X.dtype == np.float64
    assert X.shape == (4, 3 + 3 + 3 + 1) and enc.n_features_ == 10
    assert list(enc.feature_names_) == [
        "user=3", "user=7", "user=42", "item=a", "item=b", "item=c",
        "genres=Action", "genres=Comedy", "genres=Drama", "age"]
    assert [(b["column"], b["kind"], b["start"], b["stop"]) for b in enc.blocks_] == [
        ("user", "categorical", 0, 3), ("item", "categorical", 3, 6),
        ("genres", "multi_hot", 6, 9), ("age", "numeric", 9, 10)]
    A = X.toarray()
    np.testing.assert_array_equal(A[:, 0:3], [[0, 0, 1], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(A[:, 3:6], [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])


def test_groups_one_per_categorical_column_and_one_for_the_numeric_ones():
    df = _frame().assign(height=[1.5, 1.7, 1.8, 1.6])
    enc = TableEncoder().fit(df)
    assert list(enc.groups_) == (["user"] * 3 + ["item"] * 3 + ["genres"] * 3
                                 + ["numeric", "numeric"])
    assert enc.groups_.shape == enc.feature_names_.shape == (enc.n_features_,)
    enc = TableEncoder(numeric_groups="per_column").fit(df)
    assert list(enc.groups_[-2:]) == ["age", "height"]
    # a column named "numeric" keeps its own group
    enc = TableEncoder().fit(df.assign(numeric=["a", "b", "a", "b"]))
    assert list(enc.groups_[-4:]) == ["numeric_", "numeric_", "numeric", "numeric"]
    with pytest.raises(ValueError, match="numeric_groups"):
        TableEncoder(numeric_groups="none").fit(df)


def test_numeric_frame_is_the_matrix_of_its_values():
    """A frame of numbers is the same data as the matrix of those numbers: same design, one
    group (as a matrix's columns share one by default)."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 4))
    A[A < -1] = 0.0
    enc = TableEncoder()
    X = enc.fit_transform(pd.DataFrame(A))
    np.testing.assert_array_equal(X.toarray(), A)
    assert (X != sp.csr_matrix(A)).nnz == 0 and X.nnz == np.count_nonzero(A)
    assert set(enc.groups_) == {"numeric"}


def test_bool_column_is_one_hot():
    enc = TableEncoder()
    X = enc.fit_transform(pd.DataFrame({"flag": [True, False, True]}))
    assert list(enc.feature_names_) == ["flag=False", "flag=True"]
    np.testing.assert_array_equal(X.toarray(), [[0, 1], [1, 0], [0, 1]])


def test_min_count_drops_rare_categories_and_items():
    df = pd.DataFrame({"c": ["a", "a", "b"], "g": [["x", "y"], ["x", "x"], ["z"]]})
    enc = TableEncoder(min_count=2).fit(df)
    assert list(enc.feature_names_) == ["c=a", "g=x"]
    np.testing.assert_array_equal(enc.transform(df).toarray(), [[1, 1], [1, 1], [0, 0]])


def test_numeric_as_is_by_default_or_standardised_with_fit_statistics():
    X = TableEncoder().fit_transform(_frame())
    np.testing.assert_array_equal(X[:, 9].toarray().ravel(), [20.0, 30.0, 40.0, 50.0])
    enc = TableEncoder(numeric_scaling="standardize")
    X = enc.fit_transform(_frame())
    age = np.array([20.0, 30.0, 40.0, 50.0])
    np.testing.assert_allclose(X[:, 9].toarray().ravel(), (age - age.mean()) / age.std())
    b = _block(enc, "age")
    assert b["mean"] == pytest.approx(35.0) and b["scale"] == pytest.approx(age.std())
    new = _frame().assign(age=[35.0, 100.0, 35.0, 35.0])
    np.testing.assert_allclose(enc.transform(new)[:, 9].toarray().ravel(),
                               (new["age"].to_numpy() - 35.0) / age.std())


def test_numeric_constant_column_scale_one_and_none_scaling():
    df = pd.DataFrame({"k": [5, 5, 5], "n": pd.array([1, 2, 4], dtype="Int64")})
    X = TableEncoder(numeric_scaling="standardize").fit_transform(df)
    np.testing.assert_allclose(X.toarray()[:, 0], 0.0)
    X = TableEncoder(numeric_scaling="none").fit_transform(df)
    np.testing.assert_array_equal(X.toarray(), [[5, 1], [5, 2], [5, 4]])


def test_multi_hot_from_lists_rows_sum_to_one():
    enc = TableEncoder()
    X = enc.fit_transform(_frame())
    G = X.toarray()[:, 6:9]
    np.testing.assert_allclose(G, [[0, .5, .5], [0, 0, 1], [0, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(G.sum(axis=1), [1, 1, 0, 1])


def test_multi_hot_from_declared_separator_string_column():
    lists = pd.DataFrame({"genres": [["Comedy", "Drama"], ["Drama"], [], None]})
    strings = pd.DataFrame({"genres": ["Comedy|Drama", "Drama", "", None]})
    want = TableEncoder().fit_transform(lists).toarray()
    for mh in ({"genres": "|"}, ["genres"], "genres"):
        enc = TableEncoder(multi_hot=mh)
        got = enc.fit_transform(strings).toarray()
        assert list(enc.feature_names_) == ["genres=Comedy", "genres=Drama"]
        np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(want, [[.5, .5], [0, 1], [0, 0], [0, 0]])
    enc = TableEncoder(multi_hot={"genres": ","})
    X = enc.fit_transform(pd.DataFrame({"genres": ["a, b", "b,b"]}))
    assert list(enc.feature_names_) == ["genres=a", "genres=b"]
    np.testing.assert_allclose(X.toarray(), [[.5, .5], [0, 1]])  # repeats count once


def test_transform_new_frame_unseen_values_and_shuffled_columns():
    df = _frame()
    enc = TableEncoder().fit(df)
    X = enc.transform(df)
    new = pd.DataFrame({
        "age": [30.0, 20.0, 99.0],
        "genres": [["Drama"], ["Comedy", "Drama"], ["Western", "Drama"]],
        "extra": [1, 2, 3],  # ignored
        "item": ["a", "b", "zzz"],
        "user": pd.Categorical([7, 42, 999]),
    })
    Y = enc.transform(new).toarray()
    assert Y.shape == (3, enc.n_features_)
    np.testing.assert_allclose(Y[0], X[1].toarray().ravel())
    np.testing.assert_allclose(Y[1], X[0].toarray().ravel())
    # unseen user, item and genre contribute nothing; known genre takes the whole row weight
    np.testing.assert_array_equal(Y[2, 0:6], 0)
    np.testing.assert_allclose(Y[2, 6:9], [0, 0, 1])
    Z = enc.transform(df[["age", "genres", "item", "user"]])
    np.testing.assert_array_equal(Z.toarray(), X.toarray())


def test_missing_columns_error_names_them():
    enc = TableEncoder().fit(_frame())
    with pytest.raises(ValueError, match=r"lacks columns.*'item'.*'age'"):
        enc.transform(_frame().drop(columns=["item", "age"]))


def test_numeric_nan_error_names_column_and_row():
    df = _frame()
    df.loc[2, "age"] = np.nan
    with pytest.raises(ValueError, match=r"'age'.*first bad row: 2"):
        TableEncoder().fit(df)
    enc = TableEncoder().fit(_frame())
    with pytest.raises(ValueError, match=r"'age'.*first bad row: 2"):
        enc.transform(df)


def test_categorical_missing_contributes_nothing():
    df = pd.DataFrame({"item": ["a", None, "b", np.nan], "n": [1.0, 2.0, 3.0, 4.0]})
    enc = TableEncoder()
    X = enc.fit_transform(df).toarray()
    assert list(enc.feature_names_) == ["item=a", "item=b", "n"]
    np.testing.assert_array_equal(X[:, :2], [[1, 0], [0, 0], [0, 1], [0, 0]])
    X = enc.fit_transform(df.assign(item=pd.Categorical(df["item"]))).toarray()
    np.testing.assert_array_equal(X[:, :2], [[1, 0], [0, 0], [0, 1], [0, 0]])


def test_input_validation():
    enc = TableEncoder()
    with pytest.raises(TypeError, match="pandas DataFrame"):
        enc.fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        enc.fit(pd.DataFrame({"a": []}))
    with pytest.raises(ValueError, match="duplicate"):
        enc.fit(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(NotFittedError):
        TableEncoder().transform(_frame())
    with pytest.raises(ValueError, match="numeric_scaling"):
        TableEncoder(numeric_scaling="minmax").fit(_frame())
    with pytest.raises(ValueError, match="min_count"):
        TableEncoder(min_count=0).fit(_frame())
    with pytest.raises(ValueError, match="multi_hot.*'nope'"):
        TableEncoder(multi_hot=["nope"]).fit(_frame())
    with pytest.raises(TypeError, match="pandas DataFrame"):
        TableEncoder().fit(_frame()).transform(_frame()["age"])


def test_pickle_round_trip():
    df = _frame()
    enc = TableEncoder(multi_hot={"item": None}, min_count=1).fit(df)
    back = pickle.loads(pickle.dumps(enc))
    assert back.blocks_ == enc.blocks_
    np.testing.assert_array_equal(back.feature_names_, enc.feature_names_)
    np.testing.assert_array_equal(back.groups_, enc.groups_)
    np.testing.assert_array_equal(back.transform(df).toarray(), enc.transform(df).toarray())


def test_import_does_not_import_pandas():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = "import bayesfm.data.encoders, sys; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(ROOT))


def test_transform_new_gives_each_unseen_value_a_column():
    """transform_new: the fitted columns as transform gives them (but for multi-hot rows, now
    normalised over known and new items), then one column per unseen category or item in order
    of first appearance, repeated values sharing theirs; siblings are fitted columns of the same
    source column; missing values stay empty."""
    df = _frame()
    enc = TableEncoder().fit(df)
    p = enc.n_features_
    plain, siblings, names = enc.transform_new(df)
    assert plain.shape == (len(df), p) and siblings.shape == (0,) and names.shape == (0,)
    np.testing.assert_array_equal(plain.toarray(), enc.transform(df).toarray())
    new = pd.DataFrame({
        "age": [30.0, 20.0, 99.0, 1.0],
        "genres": [["Noir"], ["Comedy", "Noir"], ["Western", "Drama"], None],
        "item": ["zzz", "b", "zzz", None],
        "user": pd.Categorical([999, 42, 5, 999]),
    })
    X, siblings, names = enc.transform_new(new)
    assert list(names) == ["user=999", "user=5", "item=zzz", "genres=Noir", "genres=Western"]
    fitted = list(enc.feature_names_)
    for j, name in zip(siblings, names):
        assert fitted[j].split("=")[0] == name.split("=")[0]
    A = X.toarray()
    assert A.shape == (4, p + 5)
    np.testing.assert_array_equal(A[:, p:p + 2], [[1, 0], [0, 0], [0, 1], [1, 0]])   # users
    np.testing.assert_array_equal(A[:, p + 2], [1, 0, 1, 0])                        # item zzz
    np.testing.assert_allclose(A[:, p + 3:], [[1, 0], [.5, 0], [0, .5], [0, 0]])     # genres
    drama = fitted.index("genres=Drama")
    assert A[2, drama] == 0.5
    assert A[3].sum() == 2.0                            # row 3: its age (1) and user 999
    known = enc.transform(new).toarray()
    assert known[2, drama] == 1.0                       # transform: unseen items dropped
