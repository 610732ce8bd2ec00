"""Each parallel kernel comes in two builds: parallel (``prange`` loops run on Numba's threads)
and serial (the same code compiled without ``parallel``: the loops are plain loops). ``get``
picks the build for the calling thread: the serial one when it runs kernels on one thread.

Why both: a serial build never enters Numba's threading layer, so it costs nothing to launch
(a parallel loop of the ``workqueue`` layer costs about 0.1 ms to start, OpenMP's about 1 us)
and it is safe in a process forked from one that has used OpenMP (GNU OpenMP aborts such a
child at its first parallel loop). Chains in worker processes run on one thread each unless
there are spare cores, so they use the serial builds. The two builds give the same results, bit
for bit: every parallel loop of these kernels is written so that its iterations are independent
(see ``sampler.kernels``).

The serial twin of a kernel is its Python function compiled again with the names of the other
parallel kernels bound to their twins, under its own name (``<name>_serial``) so that Numba's
on-disk cache keeps both.
"""

from __future__ import annotations

import types

import numba
from numba import njit

from bayesfm.sampler import accumulate, kernels, relational

__all__ = ["get", "PARALLEL_KERNELS"]

#: (module, name) of every kernel with a parallel loop or calling one, callees first
PARALLEL_KERNELS = (
    (kernels, "_sums"), (kernels, "_shift"), (kernels, "_alpha_and_w0"),
    (kernels, "_linear_columns"), (kernels, "_factor_columns"), (kernels, "_factor_hyper"),
    (kernels, "_latent_columns"), (kernels, "recompute_cache"), (kernels, "gibbs_sweep"),
    (kernels, "predict_draws_csr"), (kernels, "mixture_normal_quantiles"),
    (relational, "relational_recompute"), (relational, "_aggregate"),
    (relational, "_linear_block"), (relational, "_factor_block"),
    (relational, "relational_sweep"), (relational, "relational_predict_draws"),
    (accumulate, "accumulate_moments"),
)


def _twin(dispatcher, bindings):
    py = dispatcher.py_func
    scope = dict(py.__globals__)
    scope.update(bindings)
    func = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
    func.__qualname__ = py.__qualname__ + "_serial"
    func.__module__ = py.__module__
    func.__doc__ = py.__doc__
    return njit(cache=True)(func)


_PARALLEL = {}
_SERIAL = {}
for _module, _name in PARALLEL_KERNELS:
    _PARALLEL[_name] = getattr(_module, _name)
    _SERIAL[_name] = _twin(_PARALLEL[_name], _SERIAL)


def get(name: str):
    """The build of kernel ``name`` for the calling thread: serial when Numba runs it on one
    thread (``numba.get_num_threads() == 1``), else parallel."""
    return (_SERIAL if numba.get_num_threads() == 1 else _PARALLEL)[name]
