"""Exact truncated-normal draws (Robert 1995) and the latent variables of probit models.

``std_truncnorm(rng, a, b)`` draws from the standard normal restricted to [a, b] (either end may
be infinite) by one of three exact rejection samplers, chosen by where the interval lies:

* an interval holding the origin and wider than sqrt(2 pi): normal proposals (acceptance > 0.49);
* a narrow interval: uniform proposals with acceptance exp((m^2 - x^2)/2), m the point of the
  interval nearest the origin;
* a tail (a >= 0, b far enough): translated exponential proposals with the optimal rate
  lambda = (a + sqrt(a^2 + 4))/2 (acceptance tends to 1 as a grows).

Nothing is ever computed as a difference of normal CDFs, so the draws stay exact and finite in
the far tails (a = 40 or -a = 1e3 work as well as a = 0). (Whether an end is open or closed does
not matter for a continuous distribution.) ``rng`` is a ``numpy.random.Generator``
(Numba shares its state), so the draws are reproducible from the seed.
"""

from __future__ import annotations

import math

import numpy as np

from bayesfm._numba_cache import njit

__all__ = ["std_truncnorm", "draw_interval_latent"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


@njit(cache=True)
def _uniform_rejection(rng, a, b):
    if a > 0.0:
        m2 = a * a
    elif b < 0.0:
        m2 = b * b
    else:
        m2 = 0.0
    while True:
        x = a + (b - a) * rng.random()
        if rng.random() <= math.exp(0.5 * (m2 - x * x)):
            return x


@njit(cache=True)
def _exponential_rejection(rng, a, b):
    lam = 0.5 * (a + math.sqrt(a * a + 4.0))
    while True:
        x = a + rng.standard_exponential() / lam
        if x > b:
            continue
        d = x - lam
        if rng.random() <= math.exp(-0.5 * d * d):
            return x


@njit(cache=True)
def _positive_side(rng, a, b):
    """0 <= a < b <= inf."""
    if b < np.inf:
        s = math.sqrt(a * a + 4.0)
        # Robert (1995): the uniform proposal beats the exponential one on short intervals
        bound = 2.0 * math.sqrt(math.e) / (a + s) * math.exp(0.25 * (a * a - a * s))
        if b - a <= bound:
            return _uniform_rejection(rng, a, b)
    return _exponential_rejection(rng, a, b)


@njit(cache=True)
def std_truncnorm(rng, a, b):
    """One draw of Normal(0, 1) truncated to [a, b], a < b (infinite ends allowed)."""
    if not a < b:
        return a if a == b else np.nan
    if a >= 0.0:
        return _positive_side(rng, a, b)
    if b <= 0.0:
        return -_positive_side(rng, -b, -a)
    if b - a > _SQRT_2PI:
        while True:
            x = rng.standard_normal()
            if a <= x <= b:
                return x
    return _uniform_rejection(rng, a, b)


@njit(cache=True)
def draw_interval_latent(rng, yhat, cls, bounds, z):
    """Latent variables of (ordered) probit models (Albert and Chib 1993): z_i ~ Normal(yhat_i, 1)
    truncated to (bounds[cls[i]], bounds[cls[i] + 1]]; ``bounds`` (K + 1,) is -inf, c_1, ...,
    c_{K-1}, +inf. Binary probit is K = 2 with the single cutpoint 0. Fills ``z`` (n,)."""
    for i in range(yhat.shape[0]):
        m = yhat[i]
        k = cls[i]
        z[i] = m + std_truncnorm(rng, bounds[k] - m, bounds[k + 1] - m)
