"""How kernels run: the one owner of the kernel lock, of the threads of every kernel call, of
the build it uses, and of the thread policy on busy machines.

Every kernel call of bayesfm goes through ``run(kernel, threads, *args)`` (or ``call(kernel,
work, *args)``, which first asks ``threads_for(work)``):

* **Threads of a call.** The calling thread's budget (``budget(n)``; outside one, Numba's
  thread count for this thread, by default all its threads), but one when the call's work
  (non-zeros x (rank + 1), or that times the draws for predictions) is below
  ``sampler.threads.MIN_PARALLEL_WORK``:
  a small problem's parallel loops would cost more to start than they save, and on a busy
  machine each can wait a scheduler time slice for a thread that lost its core.
* **Build.** One thread: the kernel's serial build (``sampler._jit``), which never enters
  Numba's threading layer; more: the parallel build on that many threads.
* **Lock.** ``KERNEL_LOCK`` is held for the call (``sampler.threads``).

**Adaptive threads** (``adaptive(max_threads)``, used by ``parallel.run_chains`` when the user
left ``n_threads`` at None): a parallel loop waits for its slowest thread, and a sweep runs
many short parallel loops, so when another process takes one of the cores a sweep on all
threads can take longer than on one (measured on 2 cores beside one busy process: 2.8x). The
chain's sweeps then go through a ``ThreadPace``, which times them and chooses, at sweep
boundaries, among the thread counts max, max/2, ..., 1 the one whose sweeps are fastest now: it
runs the current count and every so often probes a neighbouring count for two sweeps, switching
when the probe is clearly faster (sweeps below ``SWITCH_RATIO`` of the current ones). Probes
come ``MIN_EPOCH`` sweeps after a switch, then ever less often (the gap doubles up to
``MAX_EPOCH``); a current count whose sweeps become clearly slower than the last measured
alternative is probed at once. Results never depend on the thread count (``sampler.kernels``),
so none of this changes a draw; it costs a few per cent of sweeps at a slower count.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

import numba
import numpy as np

from bayesfm.sampler._jit import for_threads
from bayesfm.sampler.threads import (
    KERNEL_LOCK,
    clamp_threads,
    num_threads,
    threads_for_work,
    usable_cpus,
)

__all__ = ["run", "call", "threads_for", "budget", "adaptive", "current_pace", "ThreadPace",
           "KERNEL_LOCK", "resolve_n_threads", "threads_for_design"]

_LOCAL = threading.local()


def resolve_n_threads(n_threads) -> int:
    """Threads for the kernels: None means all usable CPUs; capped at Numba's pool size."""
    n = usable_cpus() if n_threads is None else int(n_threads)
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


def threads_for_design(data, rank: int, n_threads) -> int:
    """Kernel threads for sweeps over ``data`` (a design of ``sampler.design``) at ``rank``:
    ``n_threads`` (None: all usable CPUs), but one for small problems (``threads_for_work``)
    and for designs whose columns mostly conflict (less than half of the non-zeros in colour
    classes large enough to be drawn in parallel, e.g. dense features: the bulk of a sweep
    cannot run in parallel and the parallel loops would only add their start-up)."""
    threads = threads_for_work(resolve_n_threads(n_threads), data.nnz * (rank + 1))
    if threads > 1 and data.large_class_share() < 0.5:
        threads = 1
    return threads



def threads_for(work: float) -> int:
    """Threads for a kernel call of ``work`` (non-zeros x (rank + 1), or an equivalent count of
    multiply-adds) in the calling thread: its budget, or 1 below
    ``sampler.threads.MIN_PARALLEL_WORK`` (``threads.threads_for_work``)."""
    return threads_for_work(numba.get_num_threads(), work)


def run(kernel, threads: int, *args):
    """``kernel(*args)`` (a registered kernel, ``sampler._jit``) on ``threads`` threads: the
    serial build on one, the parallel build on more (``_jit.for_threads``); under
    ``KERNEL_LOCK``."""
    n = clamp_threads(threads)
    # the serial build never enters Numba's threading layer: for it the thread count is not
    # set (each set takes Numba's start-up lock: most of a small design's sweep)
    with KERNEL_LOCK, contextlib.nullcontext() if n == 1 else num_threads(n):
        return for_threads(kernel, n)(*args)


def call(kernel, work: float, *args):
    """``run(kernel, threads_for(work), *args)``."""
    return run(kernel, threads_for(work), *args)


@contextlib.contextmanager
def budget(n: int):
    """Kernel calls of the block (in the calling thread) use at most ``n`` threads."""
    with num_threads(n):
        yield


def current_pace():
    """The ``ThreadPace`` of the calling thread's ``adaptive`` block, or None."""
    return getattr(_LOCAL, "pace", None)


@contextlib.contextmanager
def adaptive(max_threads: int):
    """Within the block, the calling thread's chain sweeps choose their thread count among
    max_threads, max_threads/2, ..., 1 (``ThreadPace``); a budget of ``max_threads`` for the
    rest. With ``max_threads`` 1 this is just ``budget(1)``. The choice made last is where the
    next block with the same ``max_threads`` starts."""
    previous = current_pace()
    pace = ThreadPace(max_threads) if max_threads > 1 else None
    _LOCAL.pace = pace
    try:
        with budget(max_threads):
            yield pace
    finally:
        _LOCAL.pace = previous
        if pace is not None:
            _LAST_CHOICE[max_threads] = pace.current


#: thread count chosen last for a given maximum: where the next adaptive block starts
_LAST_CHOICE: dict = {}

#: a probed count replaces the current one when its sweeps take less than this share of the
#: current count's (a margin over the timing noise of single sweeps)
SWITCH_RATIO = 0.9
#: measured sweeps between probes right after a switch; the gap doubles after every probe that
#: confirms the current count, up to MAX_EPOCH
MIN_EPOCH = 32
MAX_EPOCH = 256
#: measured sweeps of a probe
PROBE_SWEEPS = 2


class ThreadPace:
    """Chooses the thread count of each sweep from the measured times of recent sweeps (module
    docstring). Use: ``threads = pace.start()`` before a sweep (it also sets the calling
    thread's Numba thread count), ``pace.stop(measure)`` after it; ``measure=False`` for sweeps
    that are not comparable (the periodic exact cache refresh). ``history`` holds
    (sweep, threads, seconds) of the last 1000 sweeps timed, ``switches`` the (sweep, old, new)
    changes.
    ``start``: the first count (None: the one chosen last for this maximum, else the maximum);
    ``clock``: seconds now (tests give a simulated one)."""

    def __init__(self, max_threads: int, start: int | None = None, clock=time.perf_counter):
        self.max_threads = int(max_threads)
        self._clock = clock
        counts, n = [], self.max_threads
        while n >= 1:
            counts.append(n)
            n = n // 2 if n > 1 else 0
        self.counts = sorted(set(counts))                     # e.g. [1, 2] or [1, 2, 4, 8]
        first = _LAST_CHOICE.get(self.max_threads, self.max_threads) if start is None else start
        self.current = first if first in self.counts else self.max_threads
        self._times = {c: deque(maxlen=5) for c in self.counts}
        self._estimate: dict = {}       # count -> its sweep time when last measured
        self._since_probe = 0
        self._used: set = set()
        self._countdown = 4             # first probe after a few measured sweeps
        self._epoch = MIN_EPOCH
        self._probe = None              # count being probed
        self._probe_times: list = []
        self._probe_up = False          # alternate probing above and below the current count
        self._running = None
        self._t0 = 0.0
        self.sweeps = 0
        self.history: deque = deque(maxlen=1000)
        self.switches: list = []

    def _neighbour(self) -> int | None:
        i = self.counts.index(self.current)
        below = self.counts[i - 1] if i > 0 else None
        above = self.counts[i + 1] if i + 1 < len(self.counts) else None
        self._probe_up = not self._probe_up
        first, second = (above, below) if self._probe_up else (below, above)
        return first if first is not None else second

    def start(self) -> int:
        """The thread count of the next sweep (set for the calling thread) and start its
        clock."""
        self._running = self._probe if self._probe is not None else self.current
        numba.set_num_threads(min(self._running, numba.config.NUMBA_NUM_THREADS))
        self._t0 = self._clock()
        return self._running

    def stop(self, measure: bool = True) -> None:
        """End the sweep started last; ``measure``: whether its time is comparable."""
        seconds = self._clock() - self._t0
        used, self._running = self._running, None
        self.sweeps += 1
        if used not in self._used:      # a count's first sweep may load its build: not timed
            self._used.add(used)
            return
        if not measure:
            return
        self.history.append((self.sweeps, used, seconds))
        if self._probe is not None:
            self._probe_times.append(seconds)
            if len(self._probe_times) >= PROBE_SWEEPS:
                self._decide()
            return
        self._times[used].append(seconds)
        self._countdown -= 1
        self._since_probe += 1
        if self._countdown <= 0 or (self._since_probe >= 4 and self._worse_than_known()):
            self._probe = self._neighbour()
            self._probe_times = []
            if self._probe is None:
                self._countdown = MAX_EPOCH

    def _worse_than_known(self) -> bool:
        """The current count's last sweeps are clearly slower than another count was when it
        was last measured."""
        recent = list(self._times[self.current])[-3:]
        if len(recent) < 3:
            return False
        others = [t for c, t in self._estimate.items() if c != self.current]
        return bool(others) and float(np.median(recent)) * SWITCH_RATIO > min(others)

    def _decide(self) -> None:
        probe, times = self._probe, self._probe_times
        self._probe, self._probe_times = None, []
        probe_time = float(np.mean(times))
        current = self._times[self.current]
        current_time = float(np.median(current)) if current else np.inf
        self._estimate[probe] = probe_time
        self._since_probe = 0
        if probe_time < SWITCH_RATIO * current_time:
            self.switches.append((self.sweeps, self.current, probe))
            self._estimate[self.current] = current_time
            self.current = probe
            self._times[probe].clear()
            self._times[probe].extend(times)
            self._epoch = MIN_EPOCH
        else:
            self._epoch = min(2 * self._epoch, MAX_EPOCH)
        self._countdown = self._epoch
