"""The test session runs with Numba's cache keyed by the kernel sources."""

import os
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
