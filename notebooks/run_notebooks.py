"""Execute the notebooks of this folder, as CI does or to refresh their committed outputs.

    python notebooks/run_notebooks.py --quick            # CI setting, outputs discarded
    python notebooks/run_notebooks.py --inplace NAME...  # full setting, outputs written back

The notebooks read ``BAYESFM_DATA`` (the datasets folder) and ``BAYESFM_QUICK`` ("1": fewer
sweeps, for CI) from the environment; this script sets ``BAYESFM_QUICK`` and keeps the rest. It
also sets ``BAYESFM_PROGRESS=0``: the fits show their progress bar to someone running a notebook
in Jupyter, but not in the committed outputs or in CI.
A notebook is written back only after it ran without error, atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def notebook_paths(names=()):
    """The notebooks to run: all ``NN_*.ipynb`` of this folder, or those named."""
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if names:
        wanted = {Path(n).stem for n in names}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            raise SystemExit(f"no such notebook: {', '.join(sorted(unknown))}")
        paths = [p for p in paths if p.stem in wanted]
    return paths


def execute(path, quick=True, timeout=900):
    """Run one notebook in a fresh kernel (working directory: this folder); return
    ``(notebook, seconds)``. Raises ``nbclient.exceptions.CellExecutionError`` on a failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = {name: os.environ.get(name) for name in ("BAYESFM_QUICK", "PYTHONPATH",
                                                     "BAYESFM_PROGRESS")}
    old_path = saved["PYTHONPATH"]
    os.environ["BAYESFM_QUICK"] = "1" if quick else "0"
    os.environ["BAYESFM_PROGRESS"] = "0"
    # the kernel imports bayesfm from this checkout even where it is not installed
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent)] + ([old_path] if old_path
                                                                        else []))
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(HERE)}})
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return nb, seconds


def write_atomic(nb, path):
    import nbformat

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="CI setting (BAYESFM_QUICK=1)")
    parser.add_argument("--inplace", action="store_true", help="write the outputs back")
    args = parser.parse_args(argv)
    if "BAYESFM_DATA" not in os.environ:
        print("BAYESFM_DATA is not set (the datasets folder, e.g. ../shared/data)",
              file=sys.stderr)
        return 2
    for path in notebook_paths(args.names):
        nb, seconds = execute(path, quick=args.quick)
        if args.inplace:
            write_atomic(nb, path)
        print(f"{path.name}: {seconds:.1f} s ({'quick' if args.quick else 'full'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
