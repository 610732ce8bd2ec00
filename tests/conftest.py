"""Test-session set-up: Numba's cache keyed by the sources (``bayesfm._numba_cache``), set
before anything imports Numba, so a test never runs compiled code older than its source."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("_bayesfm_numba_cache",
                                               ROOT / "bayesfm" / "_numba_cache.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)          # (not through the package: it imports numba)
_module.configure(ROOT)
