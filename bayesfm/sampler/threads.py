"""Threads of the parallel kernels: the threading layer, the thread count, one lock.

* **Layer.** Unless the user chose one (``NUMBA_THREADING_LAYER``), bayesfm selects Numba's
  built-in ``workqueue`` layer before its first parallel kernel runs: chains run in forked worker
  processes, and GNU OpenMP (which Numba would otherwise prefer) aborts a process that forks after
  using it. The setting is process-wide (it also applies to the user's own parallel Numba code).
  If another layer is already active, ``fork_safe()`` is False and worker processes are spawned.
* **Count.** ``n_threads`` (None: all CPUs this process may use) is applied with
  ``numba.set_num_threads`` for the duration of a call (it is per calling thread), capped at
  Numba's pool size.
* **Lock.** The ``workqueue`` layer must not be entered by two Python threads at once, so every
  parallel kernel call of bayesfm holds ``KERNEL_LOCK`` (chains sharing a process take turns).

No result depends on the number of threads (see ``sampler.kernels``).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numba

__all__ = ["KERNEL_LOCK", "usable_cpus", "resolve_n_threads", "num_threads", "fork_safe",
           "threads_for_work", "MIN_PARALLEL_WORK"]

KERNEL_LOCK = threading.RLock()

#: below this much work per sweep (non-zeros x (rank + 1)) the kernels run on one thread: a
#: sweep of a small problem takes well under a millisecond, less than waking the other threads
#: some thirty times (once per parallel loop), which on a busy machine can take a scheduler
#: time slice each
MIN_PARALLEL_WORK = 1_000_000

if "NUMBA_THREADING_LAYER" not in os.environ:
    try:
        numba.threading_layer()          # raises ValueError while no layer is initialised
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_n_threads(n_threads) -> int:
    """Threads for the kernels: None means all usable CPUs; capped at Numba's pool size."""
    n = usable_cpus() if n_threads is None else int(n_threads)
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


def threads_for_work(n_threads: int, work: float) -> int:
    """``n_threads``, or 1 when ``work`` (non-zeros x (rank + 1)) is below MIN_PARALLEL_WORK.
    Results never depend on the thread count, so this is purely a matter of speed."""
    return int(n_threads) if work >= MIN_PARALLEL_WORK else 1


@contextlib.contextmanager
def num_threads(n: int):
    """Run the block with ``n`` kernel threads (restores the previous count)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def fork_safe() -> bool:
    """Whether forking now is safe for the threading layer (no GNU OpenMP in use)."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        return numba.config.THREADING_LAYER in ("workqueue", "tbb", "forksafe", "safe")
    return layer in ("workqueue", "tbb")
