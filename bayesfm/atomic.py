"""Atomic file writes: write a temporary file next to the target, then rename it over the target.

An interrupted or failed write (KeyboardInterrupt included) removes the temporary file and
leaves any existing target untouched, so no partial file is ever seen under the target's name.
An existing target's permission bits are kept; a new file gets 0o644.
"""

from __future__ import annotations

import os
import stat
import tempfile

__all__ = ["atomic_write", "atomic_write_path"]


def atomic_write_path(path, write) -> None:
    """Call ``write(tmp_path)`` (for writers that want a file name), then rename to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path, write) -> None:
    """Call ``write(fh)`` with a binary file open on a temporary file, then rename to ``path``."""
    def to_file(tmp):
        with open(tmp, "wb") as fh:
            write(fh)

    atomic_write_path(path, to_file)
