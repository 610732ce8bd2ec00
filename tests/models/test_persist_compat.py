"""Files written by an older bayesfm (format version 1, ``tests/fixtures/models_v1.py``) load,
predict and continue exactly as the code that wrote them did."""

import json
import zipfile

import numpy as np
import pytest

from bayesfm import load
from tests.fixtures import models_v1

EXPECTED = models_v1.HERE / "expected.npz"
CASES = models_v1.cases()


def _expected(name):
    with np.load(EXPECTED) as z:
        return {key.split("/", 1)[1]: z[key] for key in z.files if key.startswith(name + "/")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_version_1_file_loads_and_predicts_identically(name):
    path = models_v1.HERE / f"{name}.bfm"
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("bayesfm-model.json"))["format_version"] == 1
    if name.endswith("frame_chains"):
        pytest.importorskip("pandas")
    data, _, chains, kinds = CASES[name]
    rows, _ = data()
    want = _expected(name)
    model = load(path)
    got = models_v1.outputs(model, rows, kinds)
    if chains:
        got.update(models_v1.continued(model))
    assert sorted(got) == sorted(want)
    for key, value in got.items():
        np.testing.assert_array_equal(value, want[key], err_msg=f"{name}: {key}")


def test_the_comparison_sees_a_changed_draw(monkeypatch):
    """Power: a model with one draw of one factor moved (by one ulp, by 1e-6) does not pass as
    identical."""
    model = load(models_v1.HERE / "regressor.bfm")
    V = model.draws_["V"]
    V[0, 0, 0, 0] = np.nextafter(V[0, 0, 0, 0], np.inf)
    V[0, 1, 0, 0] *= 1 + 1e-6
    data, _, _, kinds = CASES["regressor"]
    rows, _ = data()
    got = models_v1.outputs(model, rows, kinds)
    want = _expected("regressor")
    assert not np.array_equal(got["V"], want["V"])
    assert not np.array_equal(got["predict"], want["predict"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_version_1_file_saved_again_is_version_2_and_the_same(name, tmp_path):
    if name.endswith("frame_chains"):
        pytest.importorskip("pandas")
    data, _, chains, kinds = CASES[name]
    rows, _ = data()
    load(models_v1.HERE / f"{name}.bfm").save(tmp_path / "again.bfm", chains=chains)
    with zipfile.ZipFile(tmp_path / "again.bfm") as zf:
        assert json.loads(zf.read("bayesfm-model.json"))["format_version"] == 2
    model = load(tmp_path / "again.bfm")
    got = models_v1.outputs(model, rows, kinds)
    if chains:
        got.update(models_v1.continued(model))
    want = _expected(name)
    assert sorted(got) == sorted(want)
    for key, value in got.items():
        np.testing.assert_array_equal(value, want[key], err_msg=f"{name}: {key}")
