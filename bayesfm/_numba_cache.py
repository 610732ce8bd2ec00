"""A Numba cache directory keyed by the package's sources, for development runs.

Numba's on-disk cache invalidates a compiled function only when the file that defines it
changes: after an edit of ``kernels._draw_w``, the relational sweep (defined in another file,
calling it) would keep running its old cached code. Tests and ``make`` targets therefore point
``NUMBA_CACHE_DIR`` at ``.numba-cache/<hash of the source files that use Numba>``: any edit of
one gives a fresh cache, so compiled code never outlives its source (and the caches of other
versions are removed). Installed copies (users) keep Numba's
default cache next to the sources, which an upgrade replaces as a whole.

    python -m bayesfm._numba_cache ROOT     # prints the directory for the checkout at ROOT
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

__all__ = ["source_hash", "cache_dir", "configure"]


def source_hash(package_dir) -> str:
    """SHA-256 (16 hex digits) of the paths and contents of the package's ``.py`` files that use
    Numba (the others cannot change compiled code)."""
    digest = hashlib.sha256()
    for path in sorted(Path(package_dir).rglob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(str(path.relative_to(package_dir)).encode())
            digest.update(text)
    return digest.hexdigest()[:16]


def cache_dir(root) -> Path:
    """``ROOT/.numba-cache/<source hash>`` for the checkout at ``root``."""
    root = Path(root)
    return root / ".numba-cache" / source_hash(root / "bayesfm")


def configure(root, prune: bool = True) -> Path:
    """Set ``NUMBA_CACHE_DIR`` (unless already set) to ``cache_dir(root)`` and, with ``prune``,
    remove the caches of other source versions. Must run before Numba is imported."""
    target = Path(os.environ.get("NUMBA_CACHE_DIR") or cache_dir(root))
    if prune and target.parent == Path(root) / ".numba-cache" and target.parent.is_dir():
        for other in target.parent.iterdir():
            if other != target and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    return target


if __name__ == "__main__":
    print(cache_dir(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
