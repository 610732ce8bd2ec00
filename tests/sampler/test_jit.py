"""The kernel builds of ``sampler._jit``: the registry is complete, and the serial builds call
serial builds only."""

import importlib
import inspect
import pkgutil

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import bayesfm
from bayesfm.sampler import _jit


def _dispatchers():
    """Every Numba dispatcher defined in a module of bayesfm: (module name, name, dispatcher)."""
    out = []
    for info in pkgutil.walk_packages(bayesfm.__path__, "bayesfm."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                out.append((info.name, name, value))
    return out


def test_every_parallel_kernel_and_every_caller_of_one_is_registered():
    found = _dispatchers()
    assert len(found) > 30
    missing = []
    for module, name, disp in found:
        parallel = bool(disp.targetoptions.get("parallel"))
        calls_kernel = any(_jit.is_kernel(disp.py_func.__globals__.get(g))
                           for g in disp.py_func.__code__.co_names)
        if (parallel or calls_kernel) and not _jit.is_kernel(disp):
            missing.append(f"{module}.{name}")
    assert not missing, f"not registered with sampler._jit.kernel: {missing}"


def test_registered_kernels_have_serial_builds_that_call_serial_builds():
    for disp in _jit.registered():
        serial = _jit.serial_build(disp)
        assert serial is disp.serial.dispatcher
        assert not serial.targetoptions.get("parallel")
        assert serial.py_func.__qualname__.endswith("_serial")
        for g in serial.py_func.__code__.co_names:
            callee = serial.py_func.__globals__.get(g)
            assert not _jit.is_kernel(callee), (disp.py_func.__qualname__, g)
        # the same signature, the same source
        assert inspect.signature(serial.py_func) == inspect.signature(disp.py_func)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_for_threads_picks_the_build_of_the_thread_count():
    from bayesfm.sampler.kernels import _sums
    from bayesfm.sampler.threads import num_threads

    with num_threads(1):
        assert _jit.for_threads(_sums) is _sums.serial.dispatcher
    with num_threads(2):
        assert _jit.for_threads(_sums) is _sums
    e = np.random.default_rng(0).normal(size=10_000)
    assert _sums(e) == _sums.serial(e)
