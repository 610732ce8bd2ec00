"""Worker processes that run chunks of chains: one pipe per worker and no helper threads.

Why not ``concurrent.futures.ProcessPoolExecutor``: its workers write their results into one
shared queue that a manager thread reads. An interrupt cancels running chunks by terminating
their workers; a worker terminated while it writes a result leaves half a message in that
queue, the manager thread waits for the rest forever, and the interpreter hangs at exit joining
that thread (2 of 67 Ctrl-C trials did). Here every worker has its own pipe and the parent keeps
only its own end of it, so a worker that dies mid-message gives end-of-file at once; nothing runs
in the background, so nothing can be left waiting.

A worker runs one job at a time: the parent sends a job only to an idle worker and keeps the
rest in submission order.
"""

from __future__ import annotations

import traceback
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import wait as wait_readable

__all__ = ["WorkerPool", "WorkerDied"]


class WorkerDied(RuntimeError):
    """A worker process ended while it ran a job (killed, out of memory, a crash in native
    code)."""


class _RemoteTraceback(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return self.text


def _serve(conn, initializer, initargs) -> None:
    """A worker's life: set up, then answer jobs ``(fn, args)`` with ``(True, result)`` or
    ``(False, (exception, its traceback as text))`` until told to stop (``None``) or the
    parent is gone."""
    initializer(*initargs)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            reply = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 (sent to the parent, raised there)
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            reply = (False, (exc, text))
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 (the result or exception would not pickle)
            text = f"a worker could not send its answer back: {exc!r}"
            conn.send((False, (RuntimeError(text), text)))


class _Worker:
    def __init__(self, ctx, initializer, initargs):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_serve, args=(child, initializer, initargs),
                                   daemon=True)
        self.process.start()
        child.close()               # the parent keeps its end only: a dead worker gives EOF
        self.job = None             # the future of the job it runs


class WorkerPool:
    """``n_workers`` processes of the multiprocessing context ``ctx``, each set up once with
    ``initializer(*initargs)``; ``submit(fn, *args)`` gives a ``concurrent.futures.Future``
    that ``wait`` completes. ``close(cancel=False)`` lets the workers finish and exit;
    ``close(cancel=True)`` terminates them at once (their running jobs are lost)."""

    def __init__(self, n_workers: int, ctx, initializer, initargs=()):
        self._workers = []
        try:
            for _ in range(n_workers):
                self._workers.append(_Worker(ctx, initializer, initargs))
        except BaseException:
            self.close(cancel=True)
            raise
        self._backlog = deque()

    def submit(self, fn, *args) -> Future:
        fut = Future()
        self._backlog.append((fut, fn, args))
        self._dispatch()
        return fut

    def _dispatch(self) -> None:
        """Send the oldest waiting jobs to the idle workers (a worker found dead while idle is
        dropped, so that its jobs go to the others, or fail when none is left)."""
        for worker in list(self._workers):
            if not self._backlog:
                return
            if worker.job is not None:
                continue
            if not worker.process.is_alive():
                self._lost(worker)
                continue
            fut, fn, args = self._backlog.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            worker.job = fut
            try:
                worker.conn.send((fn, args))
            except (BrokenPipeError, ConnectionError, EOFError) as exc:
                self._lost(worker, exc)

    def _lost(self, worker, exc=None) -> None:
        fut, worker.job = worker.job, None
        worker.process.join(timeout=1.0)
        code = worker.process.exitcode
        worker.conn.close()
        self._workers.remove(worker)
        if fut is not None and not fut.done():
            fut.set_exception(WorkerDied(
                f"a worker process ended while it ran a chunk (exit code {code}); the chains "
                "keep their finished chunks"))
        if not self._workers:
            while self._backlog:
                self._backlog.popleft()[0].set_exception(
                    WorkerDied("no worker process is left to run the chunk"))

    def wait(self, futures, timeout: float | None = 0.1) -> list:
        """The futures among ``futures`` that are done, after waiting at most ``timeout``
        seconds for a worker to answer (``None``: until one does)."""
        wanted = set(futures)
        done = [f for f in wanted if f.done()]
        if done:
            return done
        busy = {w.conn: w for w in self._workers if w.job is not None}
        for conn in wait_readable(list(busy), timeout=timeout) if busy else ():
            worker = busy[conn]
            try:
                ok, value = conn.recv()
            except (EOFError, OSError) as exc:
                self._lost(worker, exc)
                continue
            fut, worker.job = worker.job, None
            if ok:
                fut.set_result(value)
            else:
                exc, text = value
                exc.__cause__ = _RemoteTraceback("\n\nin the worker process:\n" + text)
                fut.set_exception(exc)
        self._dispatch()
        return [f for f in wanted if f.done()]

    def close(self, cancel: bool) -> None:
        workers, self._workers = self._workers, []
        for fut, _, _ in self._backlog:
            fut.cancel()
        self._backlog.clear()
        if not cancel:
            for worker in workers:
                try:
                    worker.conn.send(None)
                except OSError:
                    pass
        for worker in workers:
            if cancel:
                worker.process.terminate()
            worker.process.join(timeout=5.0 if cancel else 60.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
