"""Kernel builds: every kernel with a parallel loop, and every kernel that calls one, compiled
twice, parallel and serial, from one definition.

    @kernel(parallel=True)            # has prange loops
    def _sums(e): ...

    @kernel()                         # no loop of its own in parallel, but calls _sums
    def _alpha_and_w0(e, ...): ... _sums(e) ...

``kernel`` compiles the function with ``njit(cache=True, parallel=...)`` and returns that
dispatcher (so other kernels call it as usual), registered, with the serial build reachable as
its ``.serial`` attribute: the same Python function compiled again without ``parallel``, under
the name ``<name>_serial`` (so Numba's disk cache keeps both), with every registered kernel it
calls replaced by that kernel's serial build, so that a serial build never enters Numba's
threading layer. The serial builds are made on first use, when every module is loaded.

Why both: a serial build costs nothing to launch (a parallel loop of the ``workqueue`` layer
takes about 0.1 ms to start, OpenMP's about 1 us) and is safe in a process forked from one that
has used GNU OpenMP (which aborts such a child at its first parallel loop). Chains in worker
processes run on one thread each unless there are spare cores, so they use the serial builds.
The two builds give the same results, bit for bit: every parallel loop of the kernels is written
so that its iterations are independent (see ``sampler.kernels``).

``for_threads(k)`` is the build of ``k`` for the calling thread: serial when Numba runs it on one
thread (``numba.get_num_threads() == 1``). ``registered()`` lists the kernels (the test of the
registry checks it is complete: every kernel with a parallel loop or calling a registered one is
registered). This module imports numba only, so any kernel module can use it without cycles.
"""

from __future__ import annotations

import types

import numba

from bayesfm._numba_cache import njit

__all__ = ["kernel", "for_threads", "registered", "serial_build"]

_KERNELS: dict = {}          # id(parallel dispatcher) -> parallel dispatcher
_SERIAL: dict = {}           # id(parallel dispatcher) -> serial dispatcher


class _SerialBuild:
    """The serial build of one kernel, built on first use; call it like the kernel."""

    __slots__ = ("_parallel",)

    def __init__(self, parallel_dispatcher):
        self._parallel = parallel_dispatcher

    @property
    def dispatcher(self):
        return serial_build(self._parallel)

    def __call__(self, *args):
        return serial_build(self._parallel)(*args)


def kernel(parallel: bool = False):
    """Decorator: compile with ``njit(cache=True, parallel=parallel)`` and register the kernel
    (module docstring); ``parallel`` is False for a kernel that only calls parallel ones."""
    def wrap(func):
        dispatcher = njit(cache=True, parallel=parallel)(func)
        _KERNELS[id(dispatcher)] = dispatcher
        dispatcher.serial = _SerialBuild(dispatcher)
        return dispatcher

    return wrap


def is_kernel(obj) -> bool:
    return id(obj) in _KERNELS and _KERNELS[id(obj)] is obj


def serial_build(dispatcher):
    """The serial build of a registered kernel (made on first use)."""
    twin = _SERIAL.get(id(dispatcher))
    if twin is None:
        if not is_kernel(dispatcher):
            raise KeyError(f"{dispatcher!r} is not a registered kernel")
        py = dispatcher.py_func
        scope = dict(py.__globals__)
        for name in py.__code__.co_names:
            value = scope.get(name)
            if value is not None and is_kernel(value):
                scope[name] = serial_build(value)
        func = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__,
                                  py.__closure__)
        func.__qualname__ = py.__qualname__ + "_serial"
        func.__module__ = py.__module__
        func.__doc__ = py.__doc__
        twin = njit(cache=True)(func)
        _SERIAL[id(dispatcher)] = twin
    return twin


def for_threads(dispatcher, n_threads: int | None = None):
    """The build of ``dispatcher`` (a registered kernel) for ``n_threads`` kernel threads (None:
    as many as Numba runs kernels on in the calling thread): its serial build on one, else the
    parallel one."""
    if n_threads is None:
        n_threads = numba.get_num_threads()
    return serial_build(dispatcher) if n_threads == 1 else dispatcher


def registered() -> list:
    """The registered kernels (parallel dispatchers), in registration order."""
    return list(_KERNELS.values())
