"""The readers of untrusted files, fuzzed (hypothesis): a libFM file or a saved model with
bytes flipped, inserted or cut off is either read correctly or refused by bayesfm with a
ValueError naming the file; never another exception, and never a silently different model."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import bayesfm
from bayesfm import FMOrdinalRegressor, FMRegressor
from bayesfm.data.libfm import read_libfm, write_libfm

from .strategies import raised_by_bayesfm

#: edits of a file: (position as a share of its length, what to do, a byte)
EDITS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                           st.sampled_from(["flip", "insert", "delete", "cut"]),
                           st.integers(0, 255)), min_size=1, max_size=4)


def _edit(raw: bytes, edits) -> bytes:
    b = bytearray(raw)
    for share, what, byte in edits:
        if not b:
            break
        at = int(share * len(b))
        if what == "flip":
            b[at] ^= byte or 1
        elif what == "insert":
            b.insert(at, byte)
        elif what == "delete":
            del b[at]
        else:
            del b[at:]
    return bytes(b)


LIBFM_BYTES = st.sampled_from([b" ", b":", b"\n", b"#", b"-", b"e", b".", b"nan", b"inf",
                               b"\r", b"\x00", b"\xff", b"qid", b"99999999999999999999"])


@given(st.integers(0, 2**32 - 1), EDITS, st.lists(LIBFM_BYTES, max_size=3), st.booleans())
def test_an_edited_libfm_file_is_read_or_refused_naming_it(tmp_path_factory, seed, edits,
                                                          tokens, zero_based):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    X = sp.random(n, p, density=0.6, format="csr", random_state=rng)
    path = tmp_path_factory.mktemp("libfm") / "data.libfm"
    write_libfm(path, X, rng.normal(size=n), zero_based=zero_based)
    raw = _edit(path.read_bytes(), edits)
    for token in tokens:
        at = int(rng.integers(0, len(raw) + 1))
        raw = raw[:at] + token + raw[at:]
    path.write_bytes(raw)
    try:
        data = read_libfm(path, zero_based=zero_based)
    except ValueError as exc:
        assert raised_by_bayesfm(exc), f"not raised by bayesfm: {exc!r}"
        assert str(path) in str(exc)
        return
    assert data.X.shape[0] == data.y.shape[0]
    assert np.isfinite(data.X.data).all() and np.isfinite(data.y).all()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Saved models (with and without chains) and what they predict."""
    rng = np.random.default_rng(0)
    X = sp.random(30, 5, density=0.5, format="csr", random_state=rng)
    out = []
    for cls, y, chains in ((FMRegressor, rng.normal(size=30), False),
                           (FMOrdinalRegressor, rng.integers(0, 3, 30), True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(rank=2, n_iter=8, n_burn=2, n_chains=2, n_jobs=1, progress=False,
                        random_state=1).fit(X, y)
        path = tmp_path_factory.mktemp("model") / "model.bfm"
        model.save(path, chains=chains)
        out.append((path.read_bytes(), model.predict_draws(X), X))
    return out


@given(st.integers(0, 1), EDITS)
def test_an_edited_saved_model_is_refused_or_unchanged(saved, tmp_path_factory, which, edits):
    raw, draws, X = saved[which]
    edited = _edit(raw, edits)
    path = tmp_path_factory.mktemp("edited") / "model.bfm"
    path.write_bytes(edited)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bayesfm.load(path)
    except ValueError as exc:
        assert raised_by_bayesfm(exc), f"not raised by bayesfm: {exc!r}"
        assert str(path) in str(exc)
        return
    # an edit the format does not depend on (zip metadata): the same model
    np.testing.assert_array_equal(model.predict_draws(X), draws)
