"""Atomic writes: the temporary files of writers killed outright are cleaned up by the next
write to the same target, and a failed write names its target."""

import errno
import os
import subprocess
import sys

import pytest

from bayesfm.atomic import atomic_write, remove_stale_temporaries


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".tmp-{_dead_pid()}-k3j9x2ab-model.bfm"
    stale.write_bytes(b"x" * 1000)                       # what kill -9 during save leaves
    live = tmp_path / f".tmp-{os.getpid()}-a1b2c3d4-model.bfm"
    live.write_bytes(b"y")                                # a running writer's: kept
    other = tmp_path / f".tmp-{_dead_pid()}-zzzzzzzz-other.bfm"
    other.write_bytes(b"z")                               # another target's: not ours to touch
    atomic_write(tmp_path / "model.bfm", lambda fh: fh.write(b"new"))
    assert (tmp_path / "model.bfm").read_bytes() == b"new"
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "model.bfm"])
    assert remove_stale_temporaries(tmp_path, "other.bfm") == [str(other)]


def test_a_failed_write_names_the_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.bfm"
    target.write_bytes(b"old")

    def full(fh):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"No space left on device \(writing .*model\.bfm\)") as info:
        atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bfm"]
