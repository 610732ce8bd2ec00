"""Atomic file writes: write a temporary file next to the target, then rename it over the target.

An interrupted or failed write (KeyboardInterrupt included) removes the temporary file and
leaves any existing target untouched, so no partial file is ever seen under the target's name.
An existing target's permission bits are kept; a new file gets 0o644. An error of the write
(a full disk) names the target.

A process killed outright (kill -9, a power cut) cannot remove its temporary file. The name of
the temporary file carries the writer's process id, ``.tmp-<pid>-<random>-<target name>``, and
every later write to the same target removes the temporary files of writers that are no longer
running, so such leftovers (as large as a saved model) do not pile up.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile

__all__ = ["atomic_write", "atomic_write_path", "remove_stale_temporaries"]


def atomic_write_path(path, write) -> None:
    """Call ``write(tmp_path)`` (for writers that want a file name), then rename to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    name = os.path.basename(path)
    remove_stale_temporaries(folder, name)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix="-" + name, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename != path:
            raise type(exc)(exc.errno, f"{exc.strerror} (writing {path})", path) from exc
        raise


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                 # exists (another user's), or cannot tell: keep its file
    return True


def remove_stale_temporaries(folder, name: str) -> list:
    """Remove the temporary files ``.tmp-<pid>-*-<name>`` in ``folder`` whose writer (pid) is no
    longer running; returns their paths."""
    pattern = re.compile(r"\.tmp-(\d+)-.+-" + re.escape(name) + r"\Z")
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry)
        if match and not _running(int(match.group(1))):
            try:
                os.unlink(os.path.join(folder, entry))
                removed.append(os.path.join(folder, entry))
            except OSError:
                pass
    return removed


def atomic_write(path, write) -> None:
    """Call ``write(fh)`` with a binary file open on a temporary file, then rename to ``path``."""
    def to_file(tmp):
        with open(tmp, "wb") as fh:
            write(fh)

    atomic_write_path(path, to_file)
