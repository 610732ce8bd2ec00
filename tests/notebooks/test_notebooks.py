"""The notebooks of ``notebooks/``: executed in their quick setting, and checked as committed.

``test_notebook_runs`` executes every ``notebooks/NN_*.ipynb`` top to bottom in a fresh kernel
with ``BAYESFM_QUICK=1`` (fewer sweeps) through ``notebooks/run_notebooks.py``, the same code that
refreshes the committed outputs; the committed file is never written. It needs the datasets
(``BAYESFM_DATA``) and a Jupyter kernel (nbclient, ipykernel) and is skipped, saying why, without
them. The kernel imports bayesfm from this checkout (the repository root is put first on
``PYTHONPATH``), so the notebooks test the code under test even when it is not installed.

``test_notebook_committed`` is cheap and always runs: the committed notebook holds the outputs of
one top-to-bottom run (execution counts 1, 2, 3, ... on every code cell, no error output) and
reads ``BAYESFM_QUICK``, so the quick setting of CI really applies to it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REPO = NOTEBOOKS.parent


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_notebooks",
                                                  NOTEBOOKS / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
PATHS = runner.notebook_paths()


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _expected_outputs(source):
    """What a cell must have produced, judged from its top-level statements: "text" when it
    calls print or display, "image" when it calls ``*.show()`` or a ``plot_*`` function (ArviZ).
    IPython magics and shell lines are ignored."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        body = ast.parse("\n".join(lines)).body
    except SyntaxError:
        return set()
    wanted = set()
    for stmt in body:
        call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
        if not isinstance(call, ast.Call):
            continue
        f = call.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in ("print", "display"):
            wanted.add("text")
        elif name == "show" or name.startswith("plot_"):
            wanted.add("image")
    return wanted


def _skip_reason():
    """Why the notebooks cannot be executed here, or None."""
    data = os.environ.get("BAYESFM_DATA")
    if not data:
        return "BAYESFM_DATA is not set (the datasets folder the notebooks read)"
    if not Path(data).is_dir():
        return f"BAYESFM_DATA={data!r} is not a directory"
    for module in ("nbclient", "nbformat", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[notebooks]')"
    return None


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_committed(path):
    """The committed notebook was run top to bottom in one kernel, cleanly, and reads
    BAYESFM_QUICK."""
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    cells = [c for c in _code_cells(nb) if _source(c).strip()]
    assert cells, f"{path.name} has no code cells"
    counts = [c.get("execution_count") for c in cells]
    missing = [i for i, n in enumerate(counts) if n is None]
    assert not missing, (f"{path.name}: code cells {missing} (0-based, among non-empty code "
                         f"cells) were never executed; refresh with python "
                         f"notebooks/run_notebooks.py --inplace {path.stem}")
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts} are not 1, 2, 3, ...: the outputs do not come "
        f"from one top-to-bottom run in a fresh kernel")
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (
                f"{path.name}: code cell {i} holds an error output: "
                f"{out.get('ename')}: {out.get('evalue')}")
    # A cell that prints or draws at its top level must hold that output (a figure missing from
    # the committed file usually means a non-inline matplotlib backend, e.g. MPLBACKEND=Agg).
    for i, cell in enumerate(cells):
        outputs = cell.get("outputs", [])
        wanted = _expected_outputs(_source(cell))
        if "text" in wanted:
            assert outputs, f"{path.name}: code cell {i} prints but holds no output"
        if "image" in wanted:
            assert any("image/png" in out.get("data", {}) for out in outputs), (
                f"{path.name}: code cell {i} draws a figure but holds no image (use the inline "
                f"backend: %matplotlib inline)")
    assert any("BAYESFM_QUICK" in _source(c) for c in cells), (
        f"{path.name} does not read BAYESFM_QUICK, so CI cannot run it in its quick setting")


@pytest.mark.notebook
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path, monkeypatch, record_property):
    """Execute the notebook in its quick setting (BAYESFM_QUICK=1) in a fresh kernel; the
    committed file is not touched."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from nbclient.exceptions import CellExecutionError

    before = path.read_bytes()
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + (os.pathsep + pythonpath if pythonpath else ""))
    try:
        _, seconds = runner.execute(path, quick=True)
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed in its quick setting:\n{exc}", pytrace=False)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s (quick)")
    assert path.read_bytes() == before, f"{path.name} was modified by the test run"
