"""Running several chains: in this process, in worker processes, or as Dask tasks.

Chains advance in chunks of sweeps. A chunk runs on a copy of the chain (in a worker process,
on a Dask worker, or here) and only a finished chunk is merged back: its new draws are appended
and the chain's state replaced. So the result never depends on where or in how many chunks the
sweeps ran (each chain has its own generator), a progress report can be made between chunks,
and an interrupt (Ctrl-C) keeps every chunk finished so far, leaving each chain at a sweep
boundary from which it can be continued exactly.
"""

from __future__ import annotations

import copy
import multiprocessing
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait

import numba
from numba.np.ufunc import parallel as numba_parallel

from bayesfm.sampler import execution
from bayesfm.sampler.chain import Chain, advance
from bayesfm.sampler.driver import n_kept
from bayesfm.sampler.threads import fork_safe, usable_cpus
from bayesfm.sampler.workers import WorkerPool

__all__ = ["run_chains", "active_dask_client", "resolve_n_jobs"]

_WORKER = {}


def _threads(n_threads: int, adapt: bool):
    """The thread policy of a chunk: adaptive up to ``n_threads``, or exactly ``n_threads``."""
    return execution.adaptive(n_threads) if adapt else execution.budget(n_threads)


def _own_numba_init_lock() -> None:
    """Give this (forked) process its own copy of the lock Numba takes on every
    ``set_num_threads`` / ``get_num_threads`` call.

    Numba guards its threading layer's start-up with a multiprocessing RLock made in the
    parent (``numba.np.ufunc.parallel._backend_init_process_lock``), a semaphore that forked
    children share with it. A worker terminated while it holds that lock (cancelled chains
    after Ctrl-C; the worker sets its thread count around every chunk) leaves it held for
    ever, and the parent's next ``set_num_threads`` waits for it: the rare Ctrl-C hang of issue
    28, caught with its stacks (the parent in ``_launch_threads``, at ``synchronize.py``'s
    ``__enter__``). The layer is already set up (or is set up by this process alone), so a
    process-private lock loses nothing. Numba versions without the attribute are left as
    they are."""
    if getattr(numba_parallel, "_backend_init_process_lock", None) is not None:
        numba_parallel._backend_init_process_lock = threading.RLock()


def _init_worker(data, priors, n_threads, adapt=False):
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # before any Numba call: this worker never takes the lock it shares with the parent
    _own_numba_init_lock()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    _WORKER["data"] = data
    _WORKER["priors"] = priors
    _WORKER["threads"] = (n_threads, adapt)


def _detach(chain: Chain) -> Chain:
    """A light copy of the chain to run a chunk on: an empty store (the draws and sweep
    statistics recorded so far stay here). The caches e, q travel with the state: a chunk
    continues from them exactly as a single run would."""
    light = copy.copy(chain)
    light.store = chain.store.empty_like()
    light.state = chain.state.copy()
    light.rng = copy.deepcopy(chain.rng)
    light.likelihood = copy.deepcopy(chain.likelihood)
    light.accum = copy.deepcopy(chain.accum)
    return light


def _chunk_in_worker(chain: Chain, n: int, sample_hyper: bool) -> Chain:
    with _threads(*_WORKER["threads"]):
        return advance(chain, _WORKER["data"], _WORKER["priors"], n, sample_hyper)


def _chunk_with(chain: Chain, data, priors, n: int, sample_hyper: bool,
                n_threads: int = 1, adapt: bool = False) -> Chain:
    with _threads(n_threads, adapt):
        return advance(chain, data, priors, n, sample_hyper)


def _merge(chain: Chain, done: Chain) -> None:
    chain.store.append(done.store)
    chain.state = done.state
    chain.rng = done.rng
    chain.likelihood = done.likelihood
    chain.accum = done.accum
    chain.sweeps_done = done.sweeps_done


def active_dask_client():
    """The active ``dask.distributed`` client, if the user has one (dask is never imported
    here unless the user already imported it)."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_client  # noqa: PLC0415 (optional dependency)

        return get_client()
    except (ImportError, ValueError):
        return None


def resolve_n_jobs(n_jobs, n_chains: int) -> int:
    """Worker processes to use: None means one per chain, up to the usable CPUs."""
    cpus = usable_cpus()
    if n_jobs is None:
        return max(1, min(n_chains, cpus))
    if n_jobs < 0:
        return max(1, min(n_chains, cpus + 1 + n_jobs))
    return max(1, min(n_chains, n_jobs))


class _DeferredInterrupt:
    """Within the block, a first Ctrl-C only sets ``requested``; ``check()`` then raises
    KeyboardInterrupt at a safe point (between chunks, never in the middle of a merge). A second
    Ctrl-C interrupts at once. Only in the main thread, and only over Python's default handler."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:          # not the main thread
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def check(self):
        if self.requested:
            raise KeyboardInterrupt


def _chunks(total: int, chunk: int):
    done = 0
    while done < total:
        n = min(chunk, total - done)
        yield n
        done += n


def run_chains(chains, data, priors, n_sweeps, n_jobs: int = 1, client=None,
               chunk: int | None = None, sample_hyper: bool = True, on_chunk=None,
               n_threads: int = 1, adapt: bool = False):
    """Advance the chains by ``n_sweeps`` sweeps (an int, or one count per chain); returns the
    list of chains (updated in place).

    ``n_jobs`` > 1 runs chains in that many worker processes; ``client``, a Dask client, runs
    them as tasks on its workers instead. ``n_threads`` kernel threads are shared out: each of
    the ``n_jobs`` processes (or each Dask task) gets ``max(1, n_threads // n_jobs)``; with
    ``adapt`` that is a maximum, and the sweeps choose their thread count by their measured
    speed (``execution.adaptive``: fewer threads when other processes take the cores).
    ``on_chunk(chains)`` is called after every batch of merged chunks (``_schedule``).
    KeyboardInterrupt propagates after the finished chunks were merged: every chain stays at a
    sweep boundary (chains may then differ in sweeps done).
    """
    counts = [n_sweeps] * len(chains) if isinstance(n_sweeps, int) else list(n_sweeps)
    if len(counts) != len(chains):
        raise ValueError("n_sweeps must be an int or one count per chain")
    if max(counts, default=0) <= 0:
        return chains
    if chunk is None:
        chunk = max(10, -(-max(counts) // 10))
    plans = [list(_chunks(max(n, 0), chunk)) for n in counts]
    for chain, n in zip(chains, counts):       # room for the run's draws: merging never regrows
        chain.store.grow(n_kept(chain.sweeps_done, chain.sweeps_done + max(n, 0), chain.n_burn,
                                chain.thin))
    with _DeferredInterrupt() as stop, _threads(n_threads, adapt):
        if client is not None:
            runner, run_chunk = _dask(data, priors, client, sample_hyper,
                                      max(1, n_threads // max(1, n_jobs)), adapt)
        elif n_jobs > 1 and sum(1 for p in plans if p) > 1:
            runner, run_chunk = _processes(data, priors, n_jobs, sample_hyper,
                                           max(1, n_threads // n_jobs), adapt)
        else:
            runner = _Inline(stop)

            def run_chunk(chain, n):
                return runner.submit(advance, chain, data, priors, n, sample_hyper)
        _schedule(chains, plans, runner, run_chunk, on_chunk, stop)
    return chains


def _schedule(chains, plans, runner, run_chunk, on_chunk, stop) -> None:
    """The one chunk scheduler: each chain's chunks (``plans[c]``, sweep counts) run one after
    the other on a detached copy (``run_chunk(copy, n)`` gives a future), chains side by side
    as the runner allows, without a barrier: a chain's next chunk is submitted as soon as its
    previous one is merged. After every batch of merged chunks an interrupt requested meanwhile
    is raised (``stop.check``), once the chunks that finished by then are merged too; then
    ``on_chunk(chains)`` runs. On any exception the runner's unfinished chunks are cancelled."""
    remaining = [list(plan) for plan in plans]
    pending = {}

    def submit(c):
        pending[run_chunk(_detach(chains[c]), remaining[c].pop(0))] = c

    def merge(done) -> list:
        merged = []
        for fut in done:
            c = pending.pop(fut)
            _merge(chains[c], fut.result())
            merged.append(c)
        return sorted(merged)

    try:
        for c in range(len(chains)):
            if remaining[c]:
                submit(c)
        while pending:
            merged = merge(runner.wait(list(pending)))
            if stop.requested and pending:
                # keep what finished up to the interrupt, not only what the last wait saw
                merge(runner.wait(list(pending), timeout=0))
            stop.check()
            if merged and on_chunk is not None:
                on_chunk(chains)
            for c in merged:
                if remaining[c]:
                    submit(c)
    except BaseException:
        runner.close(cancel=True)
        raise
    runner.close(cancel=False)


class _Inline:
    """Runs the chunks in this process: a submitted chunk runs when waited for, in the order
    of submission, and none starts once an interrupt is requested (its chain stays where its
    last merged chunk left it)."""

    def __init__(self, stop):
        self.stop = stop
        self.jobs = {}

    def submit(self, fn, *args) -> Future:
        fut = Future()
        self.jobs[fut] = (fn, args)
        return fut

    def wait(self, futures, timeout=None) -> list:
        done = []
        for fut in futures:
            if self.stop.requested:
                break
            fn, args = self.jobs.pop(fut)
            fut.set_result(fn(*args))
            done.append(fut)
        return done

    def close(self, cancel: bool) -> None:
        self.jobs.clear()


class _Pool:
    """A ``concurrent.futures`` executor (Dask's) as the scheduler's runner."""

    def __init__(self, executor):
        self.executor = executor

    def wait(self, futures, timeout: float = 0.1) -> set:
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    def close(self, cancel: bool) -> None:
        self.executor.shutdown(wait=not cancel)     # Dask cancels what is unfinished


def _processes(data, priors, n_jobs, sample_hyper, threads_per_job=1, adapt=False):
    """A pool of ``n_jobs`` worker processes holding the data and priors (sent once), as the
    scheduler's runner (``sampler.workers``: an interrupt terminates the running chunks without
    leaving anything behind to wait on them).
    Workers are forked (fast: nothing to import or compile) unless they need several threads
    and the threading layer in use is not fork-safe (see ``sampler.threads``)."""
    methods = multiprocessing.get_all_start_methods()
    use_fork = "fork" in methods and (threads_per_job == 1 or fork_safe())
    ctx = multiprocessing.get_context("fork" if use_fork else "spawn")
    pool = WorkerPool(n_jobs, ctx, _init_worker, (data, priors, threads_per_job, adapt))

    def run_chunk(chain, n):
        return pool.submit(_chunk_in_worker, chain, n, sample_hyper)

    return pool, run_chunk


def _dask(data, priors, client, sample_hyper, threads_per_task=1, adapt=False):
    """The chunks as Dask tasks through the client's ``concurrent.futures`` executor (data and
    priors scattered once)."""
    # hash=False: unique keys, so another fit scattering equal data cannot release ours
    data_f = client.scatter(data, broadcast=True, hash=False)
    priors_f = client.scatter(priors, broadcast=True, hash=False)
    executor = client.get_executor(pure=False)

    def run_chunk(chain, n):
        return executor.submit(_chunk_with, chain, data_f, priors_f, n, sample_hyper,
                               threads_per_task, adapt)

    return _Pool(executor), run_chunk
