"""Gibbs sampler core: Numba kernels (``kernels``) and the thin driver (``driver``)."""
