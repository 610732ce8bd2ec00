"""libFM / svmlight files: exact round trips, errors that name file, line and token, atomic
writes, and the real Frappe and a9a files (when BAYESFM_DATA has them)."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm.data import libfm
from bayesfm.data.libfm import LibFMData, read_groups, read_libfm, write_libfm


def _random_data(seed, n=40, p=25, density=0.3):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.standard_normal(k) * 10.0 ** rng.integers(-300, 300, k))
    X.data[:5] = [1e-3, -2.0, 0.5, 5e-324, -1.7976931348623157e308]  # tiny, huge, simple
    y = rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)
    y[:4] = [1.0, -1.0, 0.0, -1e-310]
    return X, y


@pytest.mark.parametrize("zero_based", [True, False])
@pytest.mark.parametrize("with_groups", [False, True])
def test_round_trip_is_exact(tmp_path, zero_based, with_groups):
    X, y = _random_data(1 + zero_based + 2 * with_groups)
    X = X.tolil()
    X[3, :] = 0  # an empty row
    X[:, -1] = 0  # a last column that is never written
    X = X.tocsr()
    path = tmp_path / "d.libfm"
    kw = {}
    if with_groups:
        groups = np.arange(X.shape[1]) % 4
        kw = dict(group_file=tmp_path / "d.meta", groups=groups)
    write_libfm(path, X, y, zero_based=zero_based, **kw)
    read_kw = dict(group_file=kw["group_file"]) if with_groups else dict(n_features=X.shape[1])
    d = read_libfm(path, zero_based=zero_based, **read_kw)
    assert isinstance(d, LibFMData)
    assert isinstance(d.X, sp.csr_matrix) and d.X.dtype == np.float64
    assert d.X.shape == X.shape  # the unseen last column comes from n_features / the meta file
    np.testing.assert_array_equal(d.X.toarray(), X.toarray())
    assert d.y.dtype == np.float64
    np.testing.assert_array_equal(d.y, y)
    assert np.signbit(d.y[3])  # -1e-310, a subnormal
    if with_groups:
        assert d.groups.dtype == np.int64
        np.testing.assert_array_equal(d.groups, groups)
        np.testing.assert_array_equal(read_groups(kw["group_file"]), groups)
    else:
        assert d.groups is None
    # without n_features, p is the largest index used
    assert read_libfm(path, zero_based=zero_based).X.shape == (X.shape[0], X.shape[1] - 1)


def test_written_format(tmp_path):
    X = np.array([[0.0, 2.5, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [-1e-3, 0.0, 3.0, 0.0]])
    y = [1, -1, 0.25]
    path = tmp_path / "f.libfm"
    write_libfm(path, X, y)
    assert path.read_text() == "1 1:2.5 3:1\n-1\n0.25 0:-0.001 2:3\n"
    write_libfm(path, sp.coo_matrix(X), y, zero_based=False)
    assert path.read_text() == "1 2:2.5 4:1\n-1\n0.25 1:-0.001 3:3\n"


def test_reader_conventions(tmp_path):
    path = tmp_path / "c.libfm"
    path.write_bytes(b"# header comment\n\n1 4:1 0:2.5e0  # trailing comment\r\n"
                     b"  -1\t2:0 3:-0.5 \n\n0.5 1:1e-3\n")
    d = read_libfm(path)
    np.testing.assert_array_equal(d.y, [1.0, -1.0, 0.5])
    assert d.X.shape == (3, 5)
    np.testing.assert_array_equal(d.X.toarray(), [[2.5, 0, 0, 0, 1], [0, 0, 0, -0.5, 0],
                                                  [0, 1e-3, 0, 0, 0]])
    assert d.X.nnz == 4  # the explicit 2:0 is left out
    assert d.X.has_sorted_indices


def test_meta_file_longer_than_data_and_n_features(tmp_path):
    path = tmp_path / "d.libfm"
    path.write_text("1 0:1 2:1\n")
    meta = tmp_path / "d.meta"
    meta.write_text("0\n0\n1\n2\n\n")  # trailing blank line allowed
    d = read_libfm(path, group_file=meta)
    assert d.X.shape == (1, 4)
    np.testing.assert_array_equal(d.groups, [0, 0, 1, 2])
    assert read_libfm(path, n_features=4, group_file=meta).X.shape == (1, 4)
    with pytest.raises(ValueError, match=r"d\.meta has 4 group ids .* n_features is 5"):
        read_libfm(path, n_features=5, group_file=meta)
    meta.write_text("0\n1\n")
    with pytest.raises(ValueError, match=r"d\.meta has 2 group ids but .*d\.libfm uses 3"):
        read_libfm(path, group_file=meta)


# ------------------------------------------------------------------------------------------
# errors

GOOD = "1 1:1 2:0.5\n-1 3:1\n"  # valid 0- and 1-based


@pytest.mark.parametrize("bad_line, kw, what", [
    ("1 3\n", {}, "no colon"),
    ("1 3.5:1\n", {}, "'3.5'"),
    ("1 a:1\n", {}, "'a:1'"),
    ("1 :1\n", {}, "':1'"),
    ("1 3:x\n", {}, "'3:x'"),
    ("1 3:\n", {}, "'3:'"),
    ("1 3:1:2\n", {}, "'3:1:2'"),
    ("1 1_0:1\n", {}, "'1_0:1'"),
    ("1 3:1_0\n", {}, "'3:1_0'"),
    ("abc 3:1\n", {}, "label 'abc' is not a number"),
    ("1:1 3:1\n", {}, "label '1:1' is not a number"),
    ("nan 3:1\n", {}, "label 'nan' is not finite"),
    ("-inf 3:1\n", {}, "label '-inf' is not finite"),
    ("1 3:nan\n", {}, "'3:nan' is not finite"),
    ("1 3:inf\n", {}, "'3:inf' is not finite"),
    ("1 2:1e308 3:1e308\n", {}, None),  # the sum overflows, but every value is fine
    ("1 -3:1\n", {}, "negative feature index in token '-3:1'"),
    ("1 3:1 5:2 3:4\n", {}, "duplicate feature index 3"),
    ("1 7:1\n", dict(n_features=7), "feature index 7 in token '7:1' is out of range"),
    ("1 0:1\n", dict(zero_based=False), "feature index 0 in token '0:1'"),
    ("1 8:1\n", dict(zero_based=False, n_features=7), "feature index 8 in token '8:1'"),
    ("1 99999999999999999999:1\n", {}, "too large"),
])
def test_malformed_line_names_file_line_and_token(tmp_path, bad_line, kw, what):
    path = tmp_path / "bad.libfm"
    path.write_text(GOOD + bad_line + GOOD)
    if what is None:
        assert read_libfm(path, **kw).X.shape[0] == 5
        return
    with pytest.raises(ValueError) as info:
        read_libfm(path, **kw)
    msg = str(info.value)
    assert str(path) in msg and "line 3:" in msg and what in msg, msg


def test_valid_edges_of_the_index_range(tmp_path):
    path = tmp_path / "ok.libfm"
    path.write_text("1 6:1\n")
    assert read_libfm(path, n_features=7).X.shape == (1, 7)
    assert read_libfm(path, n_features=6, zero_based=False).X.toarray()[0, 5] == 1


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  \n"])
def test_empty_file(tmp_path, text):
    path = tmp_path / "empty.libfm"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"empty\.libfm: the file is empty"):
        read_libfm(path)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_libfm(tmp_path / "nope.libfm")
    path = tmp_path / "d.libfm"
    path.write_text(GOOD)
    with pytest.raises(FileNotFoundError):
        read_libfm(path, group_file=tmp_path / "nope.meta")


@pytest.mark.parametrize("text, kw, what", [
    ("0\n1\n1.5\n", {}, "line 3: the group id '1.5' is not a non-negative integer"),
    ("0\n1\nx\n", {}, "line 3: the group id 'x'"),
    ("0\n1\n-2\n", {}, "line 3: negative group id '-2'"),
    ("0\n1\n2 3\n", {}, "line 3: expected one group id per line"),
    ("0\n1\n\n2\n", {}, "line 3: blank line inside the group file"),
    ("0\n1\n2\n", dict(n_features=4), "has 3 group ids (lines) but n_features is 4"),
    ("", {}, "the group file is empty"),
])
def test_group_file_errors(tmp_path, text, kw, what):
    path = tmp_path / "g.meta"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_groups(path, **kw)
    assert str(path) in str(info.value) and what in str(info.value), str(info.value)


def test_write_validates_its_input(tmp_path):
    path = tmp_path / "w.libfm"
    X = np.eye(3)
    with pytest.raises(ValueError, match="y has 2 entries but X has 3 rows"):
        write_libfm(path, X, [1, 2])
    with pytest.raises(ValueError, match="X must be 2-d"):
        write_libfm(path, np.ones(3), [1, 2, 3])
    with pytest.raises(ValueError, match="NaN or infinity"):
        write_libfm(path, np.array([[1.0, np.nan]]), [1])
    with pytest.raises(ValueError, match="NaN or infinity"):
        write_libfm(path, X, [1, np.inf, 0])
    with pytest.raises(ValueError, match="both group_file and groups"):
        write_libfm(path, X, [1, 2, 3], groups=[0, 0, 1])
    with pytest.raises(ValueError, match="groups has 2 entries but X has 3 columns"):
        write_libfm(path, X, [1, 2, 3], group_file=tmp_path / "g", groups=[0, 1])
    with pytest.raises(ValueError, match="groups must be >= 0"):
        write_libfm(path, X, [1, 2, 3], group_file=tmp_path / "g", groups=[0, -1, 1])
    with pytest.raises(ValueError, match="groups must hold integers"):
        write_libfm(path, X, [1, 2, 3], group_file=tmp_path / "g", groups=[0, 0.5, 1])
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------
# atomic writes

@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failed_write_leaves_old_files_and_no_temporaries(tmp_path, monkeypatch, exc):
    path = tmp_path / "old.libfm"
    meta = tmp_path / "old.meta"
    path.write_text("old data\n")
    meta.write_text("old meta\n")
    X, y = _random_data(7, n=50)
    monkeypatch.setattr(libfm, "_CHUNK_ROWS", 10)  # several chunks reach the file before failing
    real = libfm._format_float
    calls = []
    seen_partial = []

    def failing(v):
        calls.append(v)
        if len(calls) == 200:
            tmps = [f for f in tmp_path.iterdir() if f.name.startswith(".tmp-")]
            seen_partial.extend(f.stat().st_size for f in tmps)
            raise exc("formatting failed")
        return real(v)

    monkeypatch.setattr(libfm, "_format_float", failing)
    with pytest.raises(exc, match="formatting failed"):
        write_libfm(path, X, y, group_file=meta, groups=np.zeros(X.shape[1], dtype=int))
    assert seen_partial and seen_partial[0] > 0  # data had been written to a temporary file
    assert path.read_text() == "old data\n" and meta.read_text() == "old meta\n"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["old.libfm", "old.meta"]


def test_failed_group_write_keeps_the_old_data_file(tmp_path, monkeypatch):
    path = tmp_path / "old.libfm"
    path.write_text("old data\n")
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".meta"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(libfm.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        write_libfm(path, np.eye(2), [1, 2], group_file=tmp_path / "new.meta", groups=[0, 1])
    assert path.read_text() == "old data\n"
    assert [f.name for f in tmp_path.iterdir()] == ["old.libfm"]


def test_write_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "p.libfm"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    write_libfm(path, np.eye(2), [1, 2])
    assert path.read_text() == "1 0:1\n2 1:1\n"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [f.name for f in tmp_path.iterdir()] == ["p.libfm"]


# ------------------------------------------------------------------------------------------
# real data (BAYESFM_DATA)

def _data_file(*parts) -> Path:
    root = os.environ.get("BAYESFM_DATA")
    if not root:
        pytest.skip("BAYESFM_DATA is not set (it names the folder holding the datasets)")
    path = Path(root, *parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.dataset
@pytest.mark.parametrize("name, n_rows, n_pos", [
    ("frappe.test.libfm", 28860, 9536),
    ("frappe.validation.libfm", 57722, 19063),
])  # counts from $BAYESFM_DATA/SOURCES.md
def test_frappe(tmp_path, name, n_rows, n_pos):
    path = _data_file("frappe", "nfm_libfm", name)
    d = read_libfm(path)
    assert d.X.shape[0] == n_rows and d.y.shape == (n_rows,)
    assert set(np.unique(d.y)) == {-1.0, 1.0} and int((d.y == 1).sum()) == n_pos
    np.testing.assert_array_equal(np.diff(d.X.indptr), 10)  # 10 one-hot features per row
    assert np.all(d.X.data == 1.0)
    assert d.X.shape[1] <= 5382  # feature indices 0..5381 over all Frappe files
    full = read_libfm(path, n_features=5382)
    assert full.X.shape == (n_rows, 5382)
    # writing gives the same file, up to the CRLF line ends
    out = tmp_path / name
    write_libfm(out, d.X, d.y)
    assert out.read_bytes() == path.read_bytes().replace(b"\r\n", b"\n")


@pytest.mark.dataset
@pytest.mark.parametrize("name, n_rows, n_pos", [("a9a", 32561, 7841), ("a9a.t", 16281, 3846)])
def test_a9a_matches_scikit_learn(name, n_rows, n_pos):
    path = _data_file("a9a", name)
    datasets = pytest.importorskip("sklearn.datasets")
    d = read_libfm(path, zero_based=False, n_features=123)
    X_ref, y_ref = datasets.load_svmlight_file(str(path), n_features=123, zero_based=False)
    assert d.X.shape == X_ref.shape == (n_rows, 123)
    assert d.X.nnz == X_ref.nnz
    assert (d.X != X_ref).nnz == 0
    np.testing.assert_array_equal(d.X.indptr, X_ref.indptr)
    np.testing.assert_array_equal(d.X.indices, X_ref.indices)
    np.testing.assert_array_equal(d.X.data, X_ref.data)
    np.testing.assert_array_equal(d.y, y_ref)
    assert int((d.y == 1).sum()) == n_pos
    # read as 0-based, every index lands one column to the right
    shifted = read_libfm(path).X
    assert shifted[:, 0].nnz == 0
    assert (shifted[:, 1:124] != d.X[:, :shifted.shape[1] - 1]).nnz == 0
