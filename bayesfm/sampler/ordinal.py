"""Ordered probit (and binary probit, K = 2): class probabilities and the cutpoint MH step.

Model: y_i = k (k = 0..K-1) when the latent z_i ~ Normal(yhat_i, 1) falls in (c_k, c_{k+1}],
with c_0 = -inf, c_K = +inf and c_1 = 0 fixed (the global bias w0 carries the location, so the
model is identified). The free cutpoints are parametrised by the log gaps
delta_m = log(c_{m+2} - c_{m+1}), m = 0..K-3, with independent Normal(loc, scale^2) priors.

The cutpoint step integrates z out (Albert and Chib 2001): delta is drawn from its conditional
given yhat by an independence Metropolis-Hastings step whose proposal is a multivariate t (5
degrees of freedom) centred at the mode of that conditional, with the inverse negative Hessian
as scale; then z is drawn given the new cutpoints. The mode is found by damped Newton iterations
to convergence (started from the previous mode, so it takes one or two passes), which makes the
proposal a function of yhat alone. This mixes well on large n, unlike the Gibbs step that draws
each cutpoint uniformly between neighbouring latents.

Its passes over the rows (the log-likelihood, with or without derivatives) run over fixed
slices of the rows in parallel, summed in slice order (``N_SLICES``): the same draws on any
number of threads.

The step's small dense algebra (D x D, D = K - 2) goes through ``sampler.smallalg``, never
BLAS or LAPACK, so its draws are the same, bit for bit, on every CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from bayesfm._numba_cache import njit
from bayesfm.sampler import execution, smallalg
from bayesfm.sampler._jit import kernel

__all__ = ["log_ndtr", "log_diff_ndtr", "ordinal_loglik", "ordinal_loglik_derivs",
           "class_probabilities", "cutpoints_from_delta", "delta_from_cutpoints",
           "CutpointSampler"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
#: the work of one row of a log-likelihood pass in the units of ``execution.threads_for`` (a
#: row's erfc, log and exp calls take about as long as 30 multiply-adds of a sweep)
_ROW_WORK = 30


@njit(cache=True)
def log_ndtr(z):
    """log Phi(z), accurate in both tails."""
    if z == np.inf:
        return 0.0
    if z == -np.inf:
        return -np.inf
    if z > 0.0:
        return math.log1p(-0.5 * math.erfc(z * _SQRT1_2))
    if z > -20.0:
        return math.log(0.5 * math.erfc(-z * _SQRT1_2))
    # asymptotic series of the Mills ratio; the first omitted term is below 1e-10 here
    z2 = 1.0 / (z * z)
    series = 1.0 - z2 * (1.0 - 3.0 * z2 * (1.0 - 5.0 * z2 * (1.0 - 7.0 * z2)))
    return -0.5 * z * z - _LOG_SQRT_2PI - math.log(-z) + math.log(series)


@njit(cache=True)
def log_diff_ndtr(a, b):
    """log(Phi(b) - Phi(a)) for a < b, without cancellation in either tail."""
    if a == -np.inf:
        return log_ndtr(b)
    if b == np.inf:
        return log_ndtr(-a)
    if b <= 0.0:
        lb = log_ndtr(b)
        return lb + math.log1p(-math.exp(log_ndtr(a) - lb))
    if a >= 0.0:
        la = log_ndtr(-a)
        return la + math.log1p(-math.exp(log_ndtr(-b) - la))
    return math.log1p(-(0.5 * math.erfc(-a * _SQRT1_2) + 0.5 * math.erfc(b * _SQRT1_2)))


@njit(cache=True)
def _phi_ratio(x, logp):
    """(phi(x) / P, x * phi(x) / P) with phi the standard normal density; 0 at infinite x."""
    if x == np.inf or x == -np.inf:
        return 0.0, 0.0
    r = math.exp(-0.5 * x * x - _LOG_SQRT_2PI - logp)
    return r, x * r


#: the log-likelihood passes split the rows into this many fixed slices, each summed on its own
#: and the slices' sums added in slice order: the same result, bit for bit, on any number of
#: threads
N_SLICES = 16


@kernel(parallel=True)
def ordinal_loglik(yhat, cls, bounds):
    """sum_i log P(y_i | yhat_i, cutpoints); ``bounds`` (K + 1,) = -inf, c_1..c_{K-1}, +inf.
    Slices of rows in parallel (``N_SLICES``)."""
    n = yhat.shape[0]
    step = (n + N_SLICES - 1) // N_SLICES
    part = np.zeros(N_SLICES)
    for s in prange(N_SLICES):
        t = 0.0
        for i in range(s * step, min(n, (s + 1) * step)):
            k = cls[i]
            t += log_diff_ndtr(bounds[k] - yhat[i], bounds[k + 1] - yhat[i])
        part[s] = t
    total = 0.0
    for s in range(N_SLICES):
        total += part[s]
    return total


@kernel(parallel=True)
def ordinal_loglik_derivs(yhat, cls, bounds, grad, hess):
    """The log-likelihood, and its gradient (K+1,) and Hessian (K+1, K+1) with respect to the
    entries of ``bounds`` (only the finite ones get non-zero entries). One pass over the rows,
    slices of rows in parallel (``N_SLICES``)."""
    n = yhat.shape[0]
    K1 = bounds.shape[0]
    step = (n + N_SLICES - 1) // N_SLICES
    part = np.zeros(N_SLICES)
    pg = np.zeros((N_SLICES, K1))
    ph = np.zeros((N_SLICES, K1, K1))
    for s in prange(N_SLICES):
        t = 0.0
        g = pg[s]
        h = ph[s]
        for i in range(s * step, min(n, (s + 1) * step)):
            k = cls[i]
            a = bounds[k] - yhat[i]
            b = bounds[k + 1] - yhat[i]
            logp = log_diff_ndtr(a, b)
            t += logp
            ra, xa = _phi_ratio(a, logp)
            rb, xb = _phi_ratio(b, logp)
            g[k + 1] += rb
            g[k] -= ra
            h[k + 1, k + 1] += -xb - rb * rb
            h[k, k] += xa - ra * ra
            h[k, k + 1] += ra * rb
            h[k + 1, k] += ra * rb
        part[s] = t
    grad[:] = 0.0
    hess[:, :] = 0.0
    total = 0.0
    for s in range(N_SLICES):
        total += part[s]
        for u in range(K1):
            grad[u] += pg[s, u]
            for v in range(K1):
                hess[u, v] += ph[s, u, v]
    return total


@njit(cache=True)
def class_probabilities(yhat_draws, cut_draws, out):
    """Posterior mean class probabilities: ``out[i, k]`` = mean over draws s of
    P(y = k | yhat_draws[s, i], cut_draws[s]); ``cut_draws`` (S, K-1), ``out`` (n, K).

    Differences of normal CDFs (one erfc per cutpoint): absolute error ~1e-16 per class, which
    is all a probability needs; the log-likelihood uses ``log_diff_ndtr`` instead."""
    S, n = yhat_draws.shape
    K = cut_draws.shape[1] + 1
    out[:, :] = 0.0
    for s in range(S):
        for i in range(n):
            m = yhat_draws[s, i]
            prev = 0.0
            for k in range(K - 1):
                cdf = 0.5 * math.erfc((m - cut_draws[s, k]) * _SQRT1_2)
                out[i, k] += cdf - prev
                prev = cdf
            out[i, K - 1] += 1.0 - prev
    out /= S


def cutpoints_from_delta(delta: np.ndarray) -> np.ndarray:
    """Cutpoints (K-1,) = 0, then cumulative sums of exp(delta)."""
    return np.concatenate([[0.0], np.cumsum(smallalg.exp(delta))])


def delta_from_cutpoints(cuts: np.ndarray) -> np.ndarray:
    """Inverse of ``cutpoints_from_delta`` (the first cutpoint must be 0)."""
    return smallalg.log(np.diff(cuts))


class CutpointSampler:
    """The cutpoint MH step for one chain (holds the log gaps, the last mode, the counts).

    Parameters: ``cls`` (n,) class index per row (0..K-1), ``K`` classes, the prior
    ``Normal(loc, scale^2)`` of each log gap, and the initial log gaps ``delta`` (K-2,).
    """

    nu = 5.0  # degrees of freedom of the t proposal
    max_step = 2.0  # longest Newton step in the log gaps

    def __init__(self, cls, K, loc, scale, delta):
        self.cls = np.ascontiguousarray(cls, dtype=np.int64)
        self.K = int(K)
        self.loc = float(loc)
        self.scale = float(scale)
        self.delta = np.array(delta, dtype=np.float64)
        self.mode = self.delta.copy()
        self.n_proposed = 0
        self.n_accepted = 0
        self._grad = np.zeros(self.K + 1)
        self._hess = np.zeros((self.K + 1, self.K + 1))

    @property
    def cutpoints(self) -> np.ndarray:
        return cutpoints_from_delta(self.delta)

    def bounds(self, delta=None) -> np.ndarray:
        cuts = cutpoints_from_delta(self.delta if delta is None else delta)
        return np.concatenate([[-np.inf], cuts, [np.inf]])

    def logpost(self, yhat, delta) -> float:
        """Log posterior of the log gaps given yhat, up to a constant (-inf off the domain)."""
        if not np.all(np.abs(delta) < 700.0):
            return -np.inf
        d = delta - self.loc
        lp = (execution.call(ordinal_loglik, _ROW_WORK * yhat.shape[0], yhat, self.cls,
                             self.bounds(delta))
              - 0.5 * smallalg.dot(d, d) / self.scale**2)
        return lp if np.isfinite(lp) else -np.inf

    def logpost_derivs(self, yhat, delta):
        """Log posterior of delta given yhat, its gradient (D,) and Hessian (D, D)."""
        D = delta.shape[0]
        if not np.all(np.abs(delta) < 700.0):
            return -np.inf, np.full(D, np.nan), np.full((D, D), np.nan)
        lp = execution.call(ordinal_loglik_derivs, _ROW_WORK * yhat.shape[0], yhat, self.cls,
                            self.bounds(delta), self._grad, self._hess)
        # bounds index j = 2..K-1 holds c_j, which depends on delta_m for m <= j - 2
        gc = self._grad[2:self.K]
        Hc = self._hess[2:self.K, 2:self.K]
        e = smallalg.exp(delta)
        J = np.tril(np.ones((D, D))) * e[None, :]
        Jt = np.ascontiguousarray(J.T)
        tail = np.cumsum(gc[::-1])[::-1]          # sum over j >= m of gc[j]
        d = delta - self.loc
        lp -= 0.5 * smallalg.dot(d, d) / self.scale**2
        g = smallalg.matvec(Jt, gc) - d / self.scale**2
        H = (smallalg.matmul(smallalg.matmul(Jt, Hc), J) + np.diag(e * tail)
             - np.eye(D) / self.scale**2)
        return lp, g, H

    def _newton_direction(self, g, H):
        """(-H)^{-1} g, regularised when -H is not clearly positive definite (a Cholesky pivot
        at most 1e-8 of ``top``, the largest absolute row sum, which bounds the eigenvalues:
        -H + s I with s = 1e-3 top, 1e-2 top, ... until it is); the gradient itself when the
        Hessian is unusable (rounding noise far in the tails)."""
        D = g.shape[0]
        negH = -H
        if np.all(np.isfinite(negH)):
            top = max(1.0, float(np.max(np.sum(np.abs(negH), axis=1))))
            L = smallalg.cholesky(negH, 1e-8 * top)
            shift = 1e-3 * top
            while L is None and shift < 1e12 * top:
                L = smallalg.cholesky(negH + shift * np.eye(D), 1e-8 * top)
                shift *= 10.0
            if L is not None:
                step = smallalg.solve_spd(L, g)
                if np.all(np.isfinite(step)):
                    return step
        norm = math.sqrt(smallalg.dot(g, g))
        return g / norm * self.max_step if norm > 0 and np.isfinite(norm) else np.zeros(D)

    def _find_mode(self, yhat):
        """Damped Newton iterations from the previous mode to the mode of delta | yhat.

        Stops when the Newton decrement g' (-H)^{-1} g (twice the expected gain in log
        posterior) is below 1e-9; with quadratic convergence the mode is then exact to far below
        its posterior standard deviation. Returns the mode and the Hessian there.
        """
        m = self.mode.copy()
        lp, g, H = self.logpost_derivs(yhat, m)
        if not (np.isfinite(lp) and np.all(np.isfinite(H))):
            m = np.full_like(m, self.loc)           # restart from the prior mean
            lp, g, H = self.logpost_derivs(yhat, m)
        for _ in range(50):
            step = self._newton_direction(g, H)
            if smallalg.dot(g, step) < 1e-9:
                break
            norm = math.sqrt(smallalg.dot(step, step))
            t = min(1.0, self.max_step / norm)      # a trust region of max_step in log gaps
            while True:
                cand = m + t * step
                lp_c, g_c, H_c = self.logpost_derivs(yhat, cand)
                # accept unless the log posterior clearly fell (beyond its rounding noise)
                ok = np.isfinite(lp_c) and np.all(np.isfinite(H_c))
                if (ok and lp_c >= lp - 1e-6) or t < 1e-6:
                    break
                t *= 0.5
            if not ok:
                break
            m, lp, g, H = cand, lp_c, g_c, H_c
        return m, H

    def step(self, rng: np.random.Generator, yhat: np.ndarray) -> bool:
        """One independence-MH update of the log gaps given yhat; returns whether it moved."""
        D = self.delta.shape[0]
        if D == 0:
            return False
        mode, H = self._find_mode(yhat)
        self.mode = mode
        # t proposal with scale matrix (-H)^{-1} = R^{-T} R^{-1} for -H = R R^T (Cholesky):
        # x = mode + R^{-T} z / sqrt(g / nu), and (x - mode)' (-H) (x - mode) = |R^T (x - mode)|^2
        R = smallalg.cholesky(-H) if np.all(np.isfinite(H)) else None
        z = rng.standard_normal(D)
        g = rng.standard_gamma(self.nu / 2.0) * 2.0
        if R is not None:
            Rt = np.ascontiguousarray(R.T)
            shift = smallalg.solve_upper(Rt, z)
            if not np.all(np.isfinite(shift)):
                R = None
        if R is None:                           # the Hessian is unusable: prior-scale proposal
            Rt = np.eye(D) / self.scale
            shift = self.scale * z
        prop = mode + shift / math.sqrt(g / self.nu)

        def log_q(x):
            r = smallalg.matvec(Rt, x - mode)
            return -0.5 * (self.nu + D) * math.log1p(smallalg.dot(r, r) / self.nu)

        log_ratio = (self.logpost(yhat, prop) - self.logpost(yhat, self.delta)
                     + log_q(self.delta) - log_q(prop))
        self.n_proposed += 1
        u = rng.random()
        accept = bool(np.isfinite(log_ratio) or log_ratio == np.inf) and math.log(u) < log_ratio
        if accept:
            self.delta = prop
            self.n_accepted += 1
        return accept
