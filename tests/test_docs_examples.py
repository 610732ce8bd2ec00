"""Every ```python block of README.md and docs/**/*.md runs, and the outputs they show are real.

For each Markdown file, its ```python fenced blocks are executed in order in one shared namespace
(a later block may use the names of an earlier one), with a fresh temporary directory as the
working directory (files the examples write land there). A file whose examples need
MovieLens-100k (they mention ``BAYESFM_DATA`` or a MovieLens loader) is skipped, with the reason,
when the environment variable ``BAYESFM_DATA`` is not set.

Shown output. A ```text block that directly follows a ```python block (nothing but blank lines
between them) is the output that block prints, and is checked: the printed text must equal the
shown text, except that numbers are compared with a tolerance. Integers must be equal; a number
with a decimal point may differ by at most ``ABS_TOL + REL_TOL * |shown|`` (0.01 + 0.5%), which
absorbs last-digit rounding and small numerical differences. A number shown with ``≈`` before it
(``≈12.3``) is a timing (ESS per second, seconds): any number printed there matches it, and
``--update`` keeps the mark (in place of the space before the number, so columns stay aligned).
The examples are seeded, so one
version of the code prints the same thing every time, bit for bit. A change of the sampler that
alters its floating-point operations (or its use of random numbers) changes every draw after the
first sweeps, and the printed numbers then move by the Monte Carlo noise of these short example
chains, more than the tolerance. That failure is intended (the shown output must be what the code
prints): refresh the outputs then. ``python tests/test_docs_examples.py FILE.md ...`` prints what
each block prints, and with ``--update`` writes it into the shown blocks (review the diff: the
prose around an output sometimes quotes its numbers).

Blocks that are illustrative only are fenced as ```text, ```sh or ```console and are not run;
``::: module.name`` lines (mkdocstrings) are not code blocks.

ArviZ generations. A python block whose first line is ``# ArviZ 1.x ...`` runs only under ArviZ
1.x, one whose first line is ``# ArviZ 0.x ...`` only under ArviZ 0.x (with its shown output);
the pages show the 1.x form first and the 0.x form after it, and CI runs the suite under both
(Python 3.11 and 3.13), so both forms are tested. ``--update`` refreshes only the blocks of the
generation installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABS_TOL = 0.01
REL_TOL = 0.005
PYTHON_LANGS = {"python", "py"}
OUTPUT_LANG = "text"
NEEDS_DATA = re.compile(r"BAYESFM_DATA|load_movielens_100k|find_movielens_100k")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_ARVIZ_MARK = re.compile(r"^#\s*ArviZ\s+([01])\.x\b")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    lang: str
    code: str
    line: int                     # 1-based line of the opening fence
    n_lines: int = 0              # lines between the fences
    output: "Block | None" = None  # the ```text block showing what this block prints
    after_blank_only: bool = field(default=False, repr=False)

    @property
    def arviz(self) -> int | None:
        """The ArviZ major version this block is written for (its first line says), or None."""
        m = _ARVIZ_MARK.match(self.code)
        return int(m.group(1)) if m else None


def doc_files() -> list[Path]:
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    return [f for f in files if f.is_file()]


def extract_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, with shown outputs attached to their python
    blocks. Indented fences (inside list items) are dedented by the fence's indentation."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    last_end = None          # index of the closing fence line of the previous block
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        lang = m.group("info").strip().split(" ")[0].strip("{}.").lower()
        body = []
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                break
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        else:
            raise ValueError(f"unclosed code fence opened at line {i + 1}")
        block = Block(lang, "\n".join(body) + "\n", i + 1, len(body))
        if last_end is not None:
            block.after_blank_only = all(not s.strip() for s in lines[last_end + 1:i])
        if (lang == OUTPUT_LANG and block.after_blank_only and blocks
                and blocks[-1].lang in PYTHON_LANGS):
            blocks[-1].output = block
        blocks.append(block)
        last_end = j
        i = j + 1
    return blocks


def python_blocks(path: Path) -> list[Block]:
    return [b for b in extract_blocks(path.read_text(encoding="utf-8")) if b.lang in PYTHON_LANGS]


def installed_arviz() -> int:
    """The major version of the installed ArviZ."""
    from importlib.metadata import version

    return int(version("arviz").split(".")[0])


def runnable_blocks(path: Path) -> list[Block]:
    """The python blocks of ``path`` that run under the installed ArviZ."""
    major = installed_arviz()
    return [b for b in python_blocks(path) if b.arviz in (None, major)]


def _tokens(text: str):
    """(words, numbers): the text with every number replaced by a marker, whitespace collapsed,
    and the numbers in order."""
    numbers = _NUMBER.findall(text)
    words = " ".join(_NUMBER.sub("#", text).split())
    return words, numbers


#: the mark of a shown number that is a timing (any printed number matches it)
FREE = "≈"


def _free_numbers(shown: str) -> list:
    """Whether each number of ``shown``, in order, carries the mark ``FREE``."""
    return [m.start() > 0 and shown[m.start() - 1] == FREE for m in _NUMBER.finditer(shown)]


def compare_output(printed: str, shown: str) -> str | None:
    """None when ``printed`` matches ``shown`` (see the module docstring), else a message."""
    free = _free_numbers(shown)
    pw, pn = _tokens(printed)
    sw, sn = _tokens(shown.replace(FREE, " "))
    if pw != sw or len(pn) != len(sn):
        return "the text differs"
    for p, s, any_number in zip(pn, sn, free):
        if any_number:
            continue
        exact = not re.search(r"[.eE]", s)
        if exact:
            if p != s:
                return f"integer {p} printed, {s} shown"
        elif abs(float(p) - float(s)) > ABS_TOL + REL_TOL * abs(float(s)):
            return f"number {p} printed, {s} shown (tolerance {ABS_TOL} + {REL_TOL:.1%})"
    return None


def run_file(path: Path, echo: bool = False):
    """Execute the python blocks of ``path`` in one namespace; returns [(block, printed)]."""
    namespace = {"__name__": "__docs_example__"}
    results = []
    rel = path.relative_to(ROOT)
    for block in runnable_blocks(path):
        buf = io.StringIO()
        code = compile(block.code, f"{rel}:{block.line}", "exec")
        start = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            exec(code, namespace)
        printed = buf.getvalue()
        if echo:
            print(f"--- {rel}:{block.line} ({time.perf_counter() - start:.1f} s)")
            print(printed, end="")
        results.append((block, printed))
    return results


DOC_FILES = [f for f in doc_files() if python_blocks(f)]


def test_the_docs_have_examples():
    """Guards against an extractor that silently finds nothing."""
    names = {str(f.relative_to(ROOT)) for f in DOC_FILES}
    assert "README.md" in names and "docs/getting-started.md" in names, sorted(names)
    assert len(names) >= 8, sorted(names)


def test_arviz_specific_blocks_come_in_pairs():
    """Every page with a block for one ArviZ generation has one for the other too, 1.x first."""
    for path in DOC_FILES:
        marks = [b.arviz for b in python_blocks(path) if b.arviz is not None]
        assert marks.count(0) == marks.count(1), (path, marks)
        for first, second in zip(marks[::2], marks[1::2]):
            assert (first, second) == (1, 0), (path, marks)
    blocks = extract_blocks("```python\n# ArviZ 1.x\nx = 1\n```\n```python\n# ArviZ 0.x: old\n"
                            "x = 0\n```\n```python\nx = 2\n```\n")
    assert [b.arviz for b in blocks] == [1, 0, None]


def test_output_comparison_rules():
    assert compare_output("RMSE 0.9123\n", "RMSE 0.9151") is None
    assert compare_output("RMSE 0.9323\n", "RMSE 0.9151") is not None
    assert compare_output("draws 200", "draws 201") is not None
    assert compare_output("[2.11, 5.12]", "[2.10,  5.13]") is None
    assert compare_output("R-hat 1.0", "ESS 1.0") is not None
    assert compare_output("ESS/s  41.5  w", "ESS/s ≈12.0  w") is None
    assert compare_output("ESS/s  41.5  12", "ESS/s ≈12.0  13") is not None
    assert keep_free_marks("a  41.5 b 3\n", "a ≈12.0 b 3") == "a ≈41.5 b 3\n"
    assert keep_free_marks("in 1.5 s", "in ≈1.7 s") == "in ≈1.5 s"
    blocks = extract_blocks("```python\nprint(1)\n```\n\n```text\n1\n```\ntext\n```text\nx\n```\n")
    assert blocks[0].output is blocks[1] and blocks[2].output is None


@pytest.mark.filterwarnings("ignore:Passing a dict or None as alias_mapping")  # arviz + mpl 3.11
@pytest.mark.parametrize("path", DOC_FILES, ids=[str(f.relative_to(ROOT)) for f in DOC_FILES])
def test_doc_examples_run(path, tmp_path, monkeypatch):
    text = "".join(b.code for b in runnable_blocks(path))
    if NEEDS_DATA.search(text) and not os.environ.get("BAYESFM_DATA"):
        pytest.skip(f"{path.relative_to(ROOT)}: its examples need MovieLens-100k; set "
                    f"BAYESFM_DATA to a directory holding ml-100k/")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", ["docs-example"])
    for block, printed in run_file(path):
        if block.output is None:
            continue
        problem = compare_output(printed, block.output.code)
        assert problem is None, (
            f"{path.relative_to(ROOT)}:{block.line}: the output differs from the ```text block at "
            f"line {block.output.line} ({problem}).\n--- printed:\n{printed}--- shown:\n"
            f"{block.output.code}")


def keep_free_marks(printed: str, shown: str) -> str:
    """``printed`` with the mark ``FREE`` before the numbers that carry it in ``shown`` (same
    count of numbers; else ``printed`` unchanged), in place of a column's padding space before
    them if there is one."""
    free = _free_numbers(shown)
    matches = list(_NUMBER.finditer(printed))
    if len(matches) != len(free):
        return printed
    out = printed
    for m, mark in reversed(list(zip(matches, free))):
        if mark:
            i = m.start()
            padded = i > 1 and out[i - 2: i] == "  "         # a column's padding
            out = out[:i - 1] + FREE + out[i:] if padded else out[:i] + FREE + out[i:]
    return out


def update_shown_outputs(path: Path, results) -> int:
    """Replace the shown output of every python block of ``path`` by what it printed (a
    maintenance aid after a deliberate change of the numbers; review the diff). Returns the
    number of blocks changed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = 0
    for block, printed in reversed(results):
        out = block.output
        if out is None:
            continue
        printed = keep_free_marks(printed, out.code)
        if out.code == printed:
            continue
        n_body = out.n_lines
        indent = lines[out.line - 1][: len(lines[out.line - 1]) - len(lines[out.line - 1].lstrip())]
        body = [indent + line + "\n" if line else "\n" for line in printed.splitlines()]
        lines[out.line: out.line + n_body] = body
        changed += 1
    path.write_text("".join(lines), encoding="utf-8")
    return changed


if __name__ == "__main__":
    # python tests/test_docs_examples.py [--update] FILE.md ...: print what every block prints;
    # with --update, also write it into the shown ```text output blocks.
    import tempfile

    sys.path.insert(0, str(ROOT))
    update = "--update" in sys.argv[1:]
    for arg in [a for a in sys.argv[1:] if a != "--update"]:
        target = Path(arg).resolve()
        with tempfile.TemporaryDirectory() as tmp:
            here = os.getcwd()
            os.chdir(tmp)
            try:
                results = run_file(target, echo=True)
            finally:
                os.chdir(here)
        if update:
            print(f"=== {arg}: {update_shown_outputs(target, results)} output block(s) updated")
