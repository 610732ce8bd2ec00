"""Numba's cache keyed by the kernel sources: in the test session and in any plain run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bayesfm import _numba_cache

ROOT = Path(__file__).resolve().parents[1]


def test_the_session_cache_is_keyed_by_the_sources():
    cache = Path(os.environ["NUMBA_CACHE_DIR"])
    assert cache.parent.name == ".numba-cache"
    assert cache.name == _numba_cache.source_hash(ROOT / "bayesfm")
    import numba

    assert numba.config.CACHE_DIR == os.environ["NUMBA_CACHE_DIR"]


def test_the_key_changes_with_a_kernel_source_and_not_with_other_files(tmp_path):
    pkg = tmp_path / "bayesfm"
    (pkg / "sampler").mkdir(parents=True)
    (pkg / "sampler" / "kernels.py").write_text("from numba import njit\n")
    (pkg / "cli.py").write_text("print('hello')\n")
    before = _numba_cache.source_hash(pkg)
    (pkg / "cli.py").write_text("print('bye')\n")
    assert _numba_cache.source_hash(pkg) == before
    (pkg / "sampler" / "kernels.py").write_text("from numba import njit\n# edit\n")
    assert _numba_cache.source_hash(pkg) != before


CALLEE = ("from bayesfm._numba_cache import njit\n\n\n"
          "@njit(cache=True)\ndef value():\n    return {}\n")
CALLER = ("from bayesfm._numba_cache import njit\nfrom bayesfm._probe_callee import value\n\n\n"
          "@njit(cache=True)\ndef caller():\n    return value() + 1.0\n")
RUN = ("import bayesfm, numba\nfrom bayesfm._probe_caller import caller\n"
       "print(caller())\n")


def _run_copy(root, env):
    out = subprocess.run([sys.executable, "-c", RUN], cwd=root, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return float(out.stdout.split()[-1])


def test_an_edited_callee_is_seen_by_its_caller_without_make(tmp_path):
    """An installed or editable copy run by a plain script (no make, no pytest session, no
    NUMBA_CACHE_DIR): the package keys Numba's cache by its kernel sources, so after an edit of
    a kernel in one file, a cached kernel of another file that calls it runs the new code
    (Numba's default cache would keep the caller's stale machine code: it checks only the
    caller's own file), and nothing is written into the package's directory."""
    root = tmp_path / "copy"
    shutil.copytree(ROOT / "bayesfm", root / "bayesfm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pkg = root / "bayesfm"
    (pkg / "_probe_callee.py").write_text(CALLEE.format("1.0"))
    (pkg / "_probe_caller.py").write_text(CALLER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(root), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    assert _run_copy(root, env) == 2.0
    assert _run_copy(root, env) == 2.0          # from the cache
    (pkg / "_probe_callee.py").write_text(CALLEE.format("5.0"))
    assert _run_copy(root, env) == 6.0
    cached = list((tmp_path / "cache" / "bayesfm" / "numba").rglob("*.nbi"))
    assert any("_probe_caller" in p.name for p in cached), cached
    assert not list(pkg.rglob("*.nbi")) and not list(pkg.rglob("*.nbc"))
    # one source version per checkout is kept: the first one's directory is gone
    versions = [p for p in (tmp_path / "cache" / "bayesfm" / "numba").iterdir()]
    assert len(versions) == 1 and len(list(versions[0].iterdir())) == 1


def test_a_user_cache_dir_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _numba_cache.configure_package() is None         # Numba's own setting applies
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    chosen = _numba_cache.configure_package()
    assert chosen == _numba_cache.package_cache_dir(ROOT / "bayesfm", tmp_path / "xdg")
    assert chosen.name == _numba_cache.source_hash(ROOT / "bayesfm")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _numba_cache.configure_package() is None         # back to the session's state
