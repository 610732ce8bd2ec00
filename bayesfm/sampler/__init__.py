"""Gibbs sampler core: Numba kernels (``kernels``) and the thin driver (``driver``)."""

# imported first: it selects Numba's threading layer before any parallel kernel runs
from bayesfm.sampler import threads

__all__ = ["threads"]
