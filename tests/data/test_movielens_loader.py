"""The MovieLens-100k loader: where it looks, what it returns, how it fails."""

import numpy as np
import pytest

from bayesfm.data import movielens
from bayesfm.datasets import load_movielens_100k


def test_missing_data_names_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(movielens.DATA_ENV, str(tmp_path))
    monkeypatch.setenv(movielens.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="BAYESFM_DATA"):
        load_movielens_100k()


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_movielens_100k(split="u9")


def _write_tiny(root):
    d = root / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text("1\t1\t5\t0\n")
    (d / "u1.base").write_text("1\t1\t5\t0\n943\t1682\t1\t0\n2\t3\t4\t0\n")
    (d / "u1.test").write_text("2\t1\t3\t0\n")
    return d


def test_reads_a_split_from_a_path(tmp_path):
    _write_tiny(tmp_path)
    data = load_movielens_100k(path=tmp_path, split="u1", side_info=False,
                               implicit=False)
    assert data.X_train.shape == (3, 943 + 1682)
    assert data.X_test.shape == (1, 943 + 1682)
    np.testing.assert_array_equal(data.y_train, [5, 1, 4])
    row = data.X_train[1].toarray().ravel()
    assert row[942] == 1 and row[943 + 1681] == 1 and row.sum() == 2
    assert list(np.unique(data.groups)) == ["item", "user"]
    assert data.feature_names[0] == "user=1" and data.feature_names[943] == "item=1"


def test_reads_from_the_environment_variable(tmp_path, monkeypatch):
    _write_tiny(tmp_path)
    monkeypatch.setenv(movielens.DATA_ENV, str(tmp_path))
    assert load_movielens_100k(side_info=False, implicit=False).X_train.shape[0] == 3


def test_out_of_range_ids(tmp_path):
    d = _write_tiny(tmp_path)
    (d / "u1.base").write_text("944\t1\t5\t0\n")
    with pytest.raises(ValueError, match="out of the MovieLens-100k range"):
        load_movielens_100k(path=tmp_path, side_info=False, implicit=False)
