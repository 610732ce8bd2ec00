"""The worker pool under the process-parallel chains: answers, errors, and workers that die,
above all a worker killed while it sends a result (which hung ProcessPoolExecutor's manager
thread, and with it the interpreter's exit)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bayesfm.sampler.workers import WorkerDied, WorkerPool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_SETUP = {}


def _init(tag):
    _SETUP["tag"] = tag


def _tagged(x):
    return (_SETUP["tag"], x * 2)


def _fail(message):
    raise ValueError(message)


def _sleep(seconds):
    time.sleep(seconds)
    return os.getpid()


def _pid_and_big_result(n_bytes):
    return os.getpid(), b"x" * n_bytes


def _pool(n=2):
    return WorkerPool(n, multiprocessing.get_context("fork"), _init, ("set up",))


def _wait_all(pool, futures, limit=30.0):
    deadline = time.time() + limit
    while not all(f.done() for f in futures):
        assert time.time() < deadline, "the pool did not answer"
        pool.wait([f for f in futures if not f.done()])


def test_answers_come_back_from_set_up_workers_in_any_number():
    pool = _pool(2)
    try:
        futures = [pool.submit(_tagged, i) for i in range(7)]     # more jobs than workers
        _wait_all(pool, futures)
        assert [f.result() for f in futures] == [("set up", 2 * i) for i in range(7)]
    finally:
        pool.close(cancel=False)


def test_an_error_is_raised_here_with_the_workers_traceback():
    pool = _pool(1)
    try:
        fut = pool.submit(_fail, "bad chunk")
        _wait_all(pool, [fut])
        with pytest.raises(ValueError, match="bad chunk") as info:
            fut.result()
        assert "in the worker process" in str(info.value.__cause__)
        assert "_fail" in str(info.value.__cause__)
        ok = pool.submit(_tagged, 1)                               # the worker lives on
        _wait_all(pool, [ok])
        assert ok.result() == ("set up", 2)
    finally:
        pool.close(cancel=False)


def test_a_worker_killed_while_it_runs_a_job_is_reported():
    pool = _pool(1)
    try:
        fut = pool.submit(_sleep, 30)
        time.sleep(0.5)
        os.kill(pool._workers[0].process.pid, signal.SIGKILL)
        _wait_all(pool, [fut], limit=10)
        with pytest.raises(WorkerDied, match="exit code -9"):
            fut.result()
    finally:
        pool.close(cancel=True)


def test_a_worker_killed_mid_send_gives_an_error_not_a_wait():
    """The result (64 MB) fills the pipe; the worker is killed while it writes the rest. The
    parent then reads half a message: end-of-file, reported, within seconds."""
    pool = _pool(1)
    try:
        fut = pool.submit(_pid_and_big_result, 64 << 20)
        time.sleep(1.0)                                 # the worker is blocked in its send
        os.kill(pool._workers[0].process.pid, signal.SIGKILL)
        waiter = threading.Thread(target=_wait_all, args=(pool, [fut], 10.0), daemon=True)
        waiter.start()
        waiter.join(15)
        assert not waiter.is_alive(), "reading from the killed worker blocked"
        with pytest.raises(WorkerDied):
            fut.result()
    finally:
        pool.close(cancel=True)


def test_cancel_ends_running_workers_at_once():
    pool = _pool(2)
    futures = [pool.submit(_sleep, 60) for _ in range(3)]
    time.sleep(0.3)
    procs = [w.process for w in pool._workers]
    start = time.time()
    pool.close(cancel=True)
    assert time.time() - start < 5
    assert not any(p.is_alive() for p in procs)
    assert futures[2].cancelled()                      # never sent to a worker


def test_the_interpreter_exits_after_a_cancel_mid_send(tmp_path):
    """The case that hung ProcessPoolExecutor at exit: a worker terminated while it sends."""
    script = tmp_path / "cancel.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, time
        from bayesfm.sampler.workers import WorkerPool
        from tests.sampler.test_workers import _init, _pid_and_big_result
        pool = WorkerPool(2, multiprocessing.get_context("fork"), _init, ("set up",))
        futures = [pool.submit(_pid_and_big_result, 64 << 20) for _ in range(2)]
        time.sleep(1.0)
        pool.close(cancel=True)
        print("closed")
    """))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "closed"


def test_a_worker_that_died_idle_is_replaced_by_the_others_or_reported():
    pool = _pool(2)
    try:
        first = [pool.submit(_tagged, i) for i in range(2)]
        _wait_all(pool, first)
        victim = pool._workers[0].process
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        more = [pool.submit(_tagged, i) for i in range(3)]          # the other worker does them
        _wait_all(pool, more)
        assert [f.result() for f in more] == [("set up", 2 * i) for i in range(3)]
        last = pool._workers[0].process
        os.kill(last.pid, signal.SIGKILL)
        last.join(5)
        orphan = pool.submit(_tagged, 9)                              # no worker is left
        _wait_all(pool, [orphan])
        with pytest.raises(WorkerDied, match="no worker process is left"):
            orphan.result()
    finally:
        pool.close(cancel=True)


def _hold_numbas_init_lock(seconds):
    """What a chain's worker does around every chunk (set its thread count: Numba takes its
    start-up lock), here held long enough to be cancelled inside it."""
    from numba.np.ufunc import parallel as numba_parallel

    numba_parallel._launch_threads()
    with numba_parallel._backend_init_process_lock:
        time.sleep(seconds)


def test_a_worker_cancelled_inside_numbas_lock_does_not_block_the_parent(tmp_path):
    """The Ctrl-C hang caught with its stacks (1 in about 300 trials): a chain's worker
    terminated while it held Numba's threading start-up lock, which forked workers shared with
    the parent, left the parent's next set_num_threads waiting for ever. The chains' worker
    set-up (``parallel._init_worker``) gives each worker its own lock."""
    script = tmp_path / "cancel_in_lock.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, threading, time
        import numba
        from bayesfm.sampler import parallel
        from bayesfm.sampler.workers import WorkerPool
        from tests.sampler.test_workers import _hold_numbas_init_lock
        numba.get_num_threads()          # the parent's lock exists, as after any fit
        pool = WorkerPool(1, multiprocessing.get_context("fork"), parallel._init_worker,
                          (None, None, 1))
        pool.submit(_hold_numbas_init_lock, 60)
        time.sleep(1.5)                  # the worker holds the lock now
        pool.close(cancel=True)
        done = threading.Event()
        threading.Thread(target=lambda: (numba.set_num_threads(1), done.set()),
                         daemon=True).start()
        print("parent free" if done.wait(20) else "parent blocked", flush=True)
    """))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=90)
    assert out.stdout.strip() == "parent free", out.stdout + out.stderr[-2000:]
