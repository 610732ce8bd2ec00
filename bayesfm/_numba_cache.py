"""Numba's on-disk cache in a directory keyed by the package's sources.

Numba's own cache invalidates a compiled function only when the file that defines it changes:
after an edit of ``kernels._draw_w``, the relational sweep (defined in another file, calling it)
would keep running its old cached code. So ``import bayesfm`` points Numba's cache at

    <user cache>/bayesfm/numba/<hash of the package's path>/<hash of its sources that use Numba>

(``<user cache>``: ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
``%LOCALAPPDATA%`` on Windows; a temporary directory when that is not writable): any edit of a
kernel source gives a fresh cache, so compiled code never outlives its source, in an editable
install run from a notebook or a script as much as under ``make`` and pytest; the caches of
the same checkout's earlier sources are removed. An installed copy never writes into its own
directory. A ``NUMBA_CACHE_DIR`` set by the user is left as it is (``make`` and the test
session set it to ``.numba-cache/<source hash>`` in the checkout, which ``make clean`` clears).

    python -m bayesfm._numba_cache ROOT     # prints the directory make uses for the checkout

Imports only the standard library at module level (the test session loads it before Numba).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["source_hash", "cache_dir", "configure", "user_cache_base", "package_cache_dir",
           "configure_package", "njit", "package_cache"]

#: the directory ``configure_package`` chose (None: Numba's own setting applies)
_TARGET = None


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


def user_cache_base() -> Path:
    """The platform's per-user cache directory."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base)


def package_cache_dir(package_dir, base=None) -> Path:
    """``<base>/bayesfm/numba/<path hash>/<source hash>`` for the package at ``package_dir``
    (``base``: ``user_cache_base()``)."""
    package_dir = Path(package_dir).resolve()
    where = hashlib.sha256(str(package_dir).encode()).hexdigest()[:12]
    root = Path(base) if base is not None else user_cache_base()
    return root / "bayesfm" / "numba" / where / source_hash(package_dir)


def _usable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def configure_package(package_dir=None) -> Path | None:
    """Choose the cache directory of bayesfm's kernels: ``package_cache_dir`` (module
    docstring) unless the user set ``NUMBA_CACHE_DIR``; returns the directory chosen (None:
    Numba's own setting applies, also when no cache directory is writable). Only bayesfm's
    kernels use it (``njit``): Numba's configuration, the environment and other Numba users in
    the process are left alone; a worker process imports bayesfm and chooses the same."""
    global _TARGET
    if os.environ.get("NUMBA_CACHE_DIR"):
        _TARGET = None
        return None
    package_dir = Path(package_dir or Path(__file__).resolve().parent)
    target = None
    for base in (None, Path(tempfile.gettempdir()) / f"bayesfm-cache-{_user_tag()}"):
        candidate = package_cache_dir(package_dir, base)
        if _usable(candidate):
            target = candidate
            break
    if target is None:
        return None
    for other in target.parent.iterdir():           # earlier sources of this checkout
        if other != target and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    _TARGET = str(target)
    return target


@contextlib.contextmanager
def package_cache():
    """Within the block, Numba's cache directory is the package's (``configure_package``)."""
    if _TARGET is None:
        yield
        return
    from numba.core import config

    previous = config.CACHE_DIR
    config.CACHE_DIR = _TARGET
    try:
        yield
    finally:
        config.CACHE_DIR = previous


def njit(*args, **options):
    """``numba.njit``, with the package's cache directory for ``cache=True`` (Numba reads the
    directory when the function is decorated). ``@njit(cache=True)`` or ``njit(...)(func)``."""
    import numba

    if args and callable(args[0]) and not options:
        return numba.njit(args[0])

    def wrap(func):
        with package_cache():
            return numba.njit(*args, **options)(func)

    return wrap


def _user_tag() -> str:
    try:
        return str(os.getuid())
    except AttributeError:                          # Windows
        return os.environ.get("USERNAME", "user")


if __name__ == "__main__":
    print(cache_dir(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
