"""Tables and timing summaries of the benchmark scripts: one copy, used by all of them.

A table is a list of columns (``Col``: header, number format, minimum width, alignment, gap
before it) and rows of values. A value is shown as it is when it is a string, as ``n/a`` when
it is None or NaN (a library that is not installed, a ratio without a denominator), and by the
column's format spec otherwise:

    cols = [Col("rank", "d"), Col("RMSE bayesfm", ".4f"), Col("fit ratio", ".2f")]
    print(table(cols, [[10, 0.9073, 0.57], [32, 0.9076, None]]))

* ``table(cols, rows)`` formats all rows at once, every column as wide as its widest cell, with
  a rule of dashes under the header (``rule=False``: none);
* ``Stream(cols)`` prints the header at once and each row as it comes (``.row(values)``), for
  runs that take long; its columns are as wide as their header or ``Col.width``;
* ``markdown=True`` (both) gives a Markdown table instead: pipes, and ``---:`` under the
  right-aligned columns.

Timing summaries: ``best_of`` (minimum over repeats of fit, predict and fit + predict, with
every repeat kept for the JSON output), ``ratio`` and ``ratios`` (bayesfm / myFM, None when a
side is missing).
"""

from __future__ import annotations

import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NA", "Col", "cell", "table", "Stream", "ratio", "ratios", "best_of"]

#: what a missing value shows
NA = "n/a"


@dataclass(frozen=True)
class Col:
    """One column: ``head``, the format spec of its values (``".4f"``; strings are shown as
    they are), a minimum ``width``, left or right alignment, and ``gap`` spaces before it (not
    before the first column)."""

    head: str
    spec: str = ""
    width: int = 0
    left: bool = False
    gap: int = 2


def cell(value, spec: str = "") -> str:
    """``value`` as a table cell: strings unchanged, None and NaN as ``n/a``, else formatted."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    return format(value, spec)


def _line(cols, cells, widths, markdown) -> str:
    if markdown:
        return "| " + " | ".join(cells) + " |"
    out = ""
    for j, (c, text, w) in enumerate(zip(cols, cells, widths)):
        out += (" " * c.gap if j else "") + (text.ljust(w) if c.left else text.rjust(w))
    return out.rstrip()


def _header(cols, widths, rule, markdown) -> list[str]:
    head = [_line(cols, [c.head for c in cols], widths, markdown)]
    if markdown:
        head.append("|" + "|".join("---" if c.left else "---:" for c in cols) + "|")
    elif rule:
        head.append(_line(cols, ["-" * w for w in widths], widths, markdown))
    return head


def table(cols, rows, *, rule: bool = True, markdown: bool = False) -> str:
    """All ``rows`` (sequences of values, one a column) as one string, each column as wide as
    its widest cell; a rule of dashes under the header unless ``rule=False``."""
    cells = [[cell(v, c.spec) for c, v in zip(cols, row)] for row in rows]
    widths = [max([len(c.head), c.width] + [len(r[j]) for r in cells])
              for j, c in enumerate(cols)]
    lines = _header(cols, widths, rule, markdown)
    lines += [_line(cols, r, widths, markdown) for r in cells]
    return "\n".join(lines)


class Stream:
    """A table printed row by row (flushed), for long runs: the header when made, then each
    ``row(values)``; a column is as wide as its header or its ``width``, whichever is more."""

    def __init__(self, cols, *, rule: bool = False, markdown: bool = False, file=None):
        self.cols = list(cols)
        self.markdown = markdown
        self.file = file
        self.widths = [max(len(c.head), c.width) for c in self.cols]
        for text in _header(self.cols, self.widths, rule, markdown):
            self._print(text)

    def _print(self, text: str) -> None:
        print(text, file=self.file or sys.stdout, flush=True)

    def row(self, values) -> None:
        self._print(_line(self.cols, [cell(v, c.spec) for c, v in zip(self.cols, values)],
                          self.widths, self.markdown))


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ratio(num, den):
    """``num / den``; None when either is missing (None or NaN) or ``den`` is 0."""
    if num is None or den is None or math.isnan(num) or math.isnan(den) or den == 0:
        return None
    return num / den


def ratios(b: dict, m: dict | None, keys=("fit", "predict", "total")) -> dict:
    """``{"<key>_ratio": b["<key>_s"] / m["<key>_s"]}`` for every key (None without ``m``)."""
    return {f"{k}_ratio": ratio(b[f"{k}_s"], m[f"{k}_s"]) if m else None for k in keys}


def best_of(fits, preds) -> dict:
    """Minimum over repeats of the fit and predict seconds and of their sum (the repeats of a
    fit and its predict are paired), with every repeat kept."""
    fits, preds = list(fits), list(preds)
    return {
        "fit_s": min(fits),
        "predict_s": min(preds),
        "total_s": min(f + p for f, p in zip(fits, preds)),
        "fit_s_all_repeats": fits,
        "predict_s_all_repeats": preds,
    }
