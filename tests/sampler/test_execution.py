"""sampler.execution: the threads of every kernel call, and the thread policy on busy cores
(``ThreadPace``, driven here by a simulated clock: sweep times as a busy or idle machine gives
them)."""

import numba
import numpy as np
import pytest

from bayesfm.sampler import execution, threads
from bayesfm.sampler.execution import MAX_EPOCH, ThreadPace

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                reason="Numba has a single thread on this machine")


class Machine:
    """A simulated clock: a sweep on n threads takes ``seconds[n]`` (changeable), with a
    little deterministic jitter."""

    def __init__(self, seconds):
        self.seconds = dict(seconds)
        self.now = 0.0
        self.rng = np.random.default_rng(0)

    def clock(self):
        return self.now

    def sweep(self, pace, measure=True):
        n = pace.start()
        self.now += self.seconds[n] * (1 + 0.05 * self.rng.random())
        pace.stop(measure)
        return n


def _run(pace, machine, sweeps):
    return [machine.sweep(pace, measure=(s % 20 != 0)) for s in range(sweeps)]


def test_idle_cores_keep_all_threads():
    machine = Machine({2: 1.0, 1: 1.7})
    pace = ThreadPace(2, start=2, clock=machine.clock)
    used = _run(pace, machine, 600)
    assert pace.current == 2
    assert used.count(1) <= 0.04 * len(used), used.count(1)      # the probes only


def test_a_busy_core_moves_the_sweeps_to_one_thread():
    machine = Machine({2: 2.8, 1: 1.0})
    pace = ThreadPace(2, start=2, clock=machine.clock)
    used = _run(pace, machine, 600)
    assert used[10:].count(2) <= 0.04 * len(used), used.count(2)
    assert pace.switches and pace.switches[0][0] <= 10           # within the first sweeps
    extra = sum(machine.seconds[n] for n in used) / (len(used) * machine.seconds[1])
    assert extra < 1.1                                           # the cost of probing


def test_the_count_follows_the_load_as_it_changes():
    machine = Machine({2: 1.0, 1: 1.7})
    pace = ThreadPace(2, start=2, clock=machine.clock)
    _run(pace, machine, 300)
    assert pace.current == 2
    machine.seconds = {2: 2.8, 1: 1.7}                           # another process starts
    used = _run(pace, machine, 300)
    assert pace.current == 1 and used[12:].count(2) <= 6, used[:40]
    machine.seconds = {2: 1.0, 1: 1.7}                           # and ends
    used = _run(pace, machine, 2 * MAX_EPOCH)
    assert pace.current == 2 and used[-MAX_EPOCH:].count(1) <= 8      # probes: 2 sweeps each


def test_counts_halve_down_to_one():
    assert ThreadPace(8, start=8).counts == [1, 2, 4, 8]
    assert ThreadPace(6, start=6).counts == [1, 3, 6]


def test_a_pace_that_never_switched_would_fail():
    """Power: a policy that keeps all threads (the behaviour before this module) fails the
    busy-machine check above by far."""
    machine = Machine({2: 2.8, 1: 1.0})
    pace = ThreadPace(2, start=2, clock=machine.clock)
    pace._neighbour = lambda: None                               # never probes
    used = _run(pace, machine, 200)
    assert used.count(2) == len(used)


def test_small_calls_run_on_one_thread_whatever_the_budget():
    with execution.budget(2):
        assert execution.threads_for(threads.MIN_PARALLEL_WORK - 1) == 1
        assert execution.threads_for(threads.MIN_PARALLEL_WORK) == 2
    with execution.budget(1):
        assert execution.threads_for(10 * threads.MIN_PARALLEL_WORK) == 1


def test_adaptive_blocks_remember_their_choice_and_restore_the_budget():
    before = numba.get_num_threads()
    with execution.adaptive(2) as pace:
        assert execution.current_pace() is pace
        pace.current = 1
    assert execution.current_pace() is None
    assert numba.get_num_threads() == before
    assert ThreadPace(2).current == 1                           # starts where the last ended
    execution._LAST_CHOICE.clear()
    assert ThreadPace(2).current == 2
    with execution.adaptive(1) as pace:
        assert pace is None and numba.get_num_threads() == 1
