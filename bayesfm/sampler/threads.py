"""Threads of the parallel kernels: the threading layer, the thread count, one lock (the
primitives; ``sampler.execution`` decides the threads and build of every kernel call with them).

* **Layer.** Numba's own choice (OpenMP where available, whose parallel loops start in about a
  microsecond; its ``workqueue`` fallback takes about 0.1 ms). A kernel run on one thread uses its
  serial build (``sampler._jit``), which never enters the layer: chains in forked worker
  processes with one thread each are therefore safe even after the parent used GNU OpenMP (which
  aborts a forked child at its first parallel loop). Workers that need several threads are
  forked only when ``fork_safe()``, else spawned.
* **Count.** ``n_threads`` (None: all CPUs this process may use) is applied with
  ``numba.set_num_threads`` for the duration of a call (it is per calling thread), capped at
  Numba's pool size.
* **Lock.** The ``workqueue`` layer must not be entered by two Python threads at once, so every
  kernel call of bayesfm holds ``KERNEL_LOCK`` (chains sharing a process take turns rather than
  oversubscribe the cores).

No result depends on the number of threads (see ``sampler.kernels``).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numba

__all__ = ["KERNEL_LOCK", "usable_cpus", "num_threads", "fork_safe", "threads_for_work",
           "MIN_PARALLEL_WORK"]

KERNEL_LOCK = threading.RLock()

#: below this much work per sweep (non-zeros x (rank + 1)) the kernels run on one thread (their
#: serial builds): a sweep of a small problem takes well under a millisecond, less than waking
#: the other threads for every parallel loop, which on a busy machine can take a scheduler time
#: slice each
MIN_PARALLEL_WORK = 1_000_000


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_for_work(n_threads: int, work: float) -> int:
    """``n_threads``, or 1 when ``work`` (non-zeros x (rank + 1)) is below MIN_PARALLEL_WORK.
    Results never depend on the thread count, so this is purely a matter of speed."""
    return int(n_threads) if work >= MIN_PARALLEL_WORK else 1


def clamp_threads(n: int) -> int:
    """``n`` within 1..NUMBA_NUM_THREADS: the kernel threads Numba will actually use."""
    return max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def num_threads(n: int):
    """Run the block with ``n`` kernel threads (restores the previous count). Numba is told
    only when the count changes: each of its calls takes its start-up lock, a cost that
    dominated the sweep of a small design."""
    previous = numba.get_num_threads()
    n = clamp_threads(n)
    if n == previous:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def fork_safe() -> bool:
    """Whether a forked child may run parallel kernels: no layer started yet, or a fork-safe
    one (``workqueue``, ``tbb``) rather than OpenMP."""
    try:
        layer = numba.threading_layer()
    except ValueError:          # no parallel kernel has run in this process
        return True
    return layer in ("workqueue", "tbb")
