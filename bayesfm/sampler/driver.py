"""The thin driver around the kernels: initialise, step, and run a chain with burn-in and thinning.

``init_state`` and ``step`` are the sampler core (in the spirit of blackjax: small functions over a
small state record); ``run_chain`` loops ``step`` and hands kept draws to a ``DrawStore``.
All randomness comes from one ``numpy.random.Generator``: per sweep, one block of standard normals
and one block of standard gammas, always the same number whatever is held fixed, so a seed fixes
the draws bit for bit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from bayesfm.priors import Priors
from bayesfm.sampler import conditionals
from bayesfm.sampler import dispatch
from bayesfm.sampler.state import FMData, FMState, RelationalFMData
from bayesfm.sampler.storage import DrawStore
from bayesfm.sampler.threads import KERNEL_LOCK

__all__ = ["init_state", "step", "run_chain", "SweepNoise", "REFRESH_EVERY"]

#: run_chain recomputes the caches e and q exactly at every sweep whose global index is a
#: multiple of this (in between they are only updated incrementally, which is exact up to
#: rounding); the schedule follows the global sweep index, so chunked, parallel and continued
#: runs recompute at the same sweeps and stay bit-identical
REFRESH_EVERY = 20

#: when a sweep needs at least this many normals for w and V (p (k + 1)), they are drawn in
#: STREAMS equal slices, each from its own generator seeded from the chain's generator, on
#: several threads (numpy releases the GIL while filling an array); the slices and seeds do not
#: depend on the number of threads, so neither do the draws
SPLIT_NORMALS = 1 << 20
STREAMS = 8
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=STREAMS, thread_name_prefix="bayesfm-rng")
    return _POOL


def standard_normals(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """``n`` standard normals for one sweep; with ``hi - lo >= SPLIT_NORMALS`` the slice
    ``lo:hi`` comes from STREAMS generators seeded by ``rng`` (filled in parallel), the rest
    from ``rng`` itself."""
    if hi - lo < SPLIT_NORMALS:
        return rng.standard_normal(n)
    z = np.empty(n)
    seeds = rng.integers(0, 2**63, size=STREAMS)
    z[:lo] = rng.standard_normal(lo)
    z[hi:] = rng.standard_normal(n - hi)
    edges = np.linspace(lo, hi, STREAMS + 1).astype(np.int64)

    def fill(b):
        gen = np.random.Generator(np.random.PCG64(int(seeds[b])))
        gen.standard_normal(out=z[edges[b]:edges[b + 1]])

    workers = max(1, min(STREAMS, numba.get_num_threads()))
    if workers == 1:
        for b in range(STREAMS):
            fill(b)
    else:
        list(_pool().map(fill, range(STREAMS)))
    return z


def init_state(data: FMData, y: np.ndarray, rank: int, rng: np.random.Generator,
               init_scale: float = 0.1) -> FMState:
    """Initial state: w0 = w = 0, V ~ Normal(0, init_scale^2), alpha = lambda = 1, mu = 0."""
    p, G = data.n_features, data.n_groups
    Vt = init_scale * rng.standard_normal((rank, p)) if init_scale > 0 else np.zeros((rank, p))
    state = FMState(
        w0=0.0,
        alpha=1.0,
        w=np.zeros(p),
        Vt=np.ascontiguousarray(Vt),
        mu_w=np.zeros(G),
        lam_w=np.ones(G),
        mu_v=np.zeros((G, rank)),
        lam_v=np.ones((G, rank)),
        e=np.empty(data.n_rows),
        q=np.empty(cache_shape(data, rank)),
    )
    refresh_cache(data, y, state)
    return state


def cache_shape(data, rank: int) -> tuple:
    """Shape of the factor sums cache: (n, k) when the sweep goes column by column (it reads a
    row's k sums together), (k, n) when it goes factor by factor (``FMData.factor_major``, and
    relational data)."""
    if isinstance(data, RelationalFMData) or data.factor_major:
        return (rank, data.n_rows)
    return (data.n_rows, rank)


def refresh_cache(data, y: np.ndarray, state: FMState) -> None:
    """Recompute ``state.e`` and ``state.q`` exactly from the parameters (``state.q`` is
    reallocated when its shape does not fit ``data``)."""
    shape = cache_shape(data, state.rank)
    if state.q.shape != shape:
        state.q = np.empty(shape)
    state.t = np.array(y, dtype=np.float64, copy=True)
    with KERNEL_LOCK:
        if isinstance(data, RelationalFMData):
            dispatch.get("relational_recompute")(
                data.d_rindptr, data.d_rindices, data.d_rdata, data.br_indptr, data.br_indices,
                data.br_data, data.psi, data.p0, y, state.w0, state.w, state.Vt, state.e,
                state.q)
            return
        Q = state.q.T if data.factor_major else state.q          # always (n, k) here
        dispatch.get("recompute_cache")(data.r_indptr, data.r_indices, data.r_data, y,
                                        state.w0, state.w, state.Vt, state.e, Q)


@dataclass(frozen=True)
class SweepNoise:
    """The shapes of the standard gammas one sweep needs (fixed for a given data set and prior)."""

    gamma_shapes: np.ndarray  # (1 + G + k*G,): alpha, lambda_w[g], lambda_v[f, g]
    n_normals: int            # 1 + p + k*p + G + k*G + G

    @classmethod
    def build(cls, data: FMData, rank: int, priors: Priors) -> "SweepNoise":
        lam = conditionals.lambda_shape(priors.a_lambda, data.gsize)
        shapes = np.concatenate([[conditionals.alpha_shape(priors.a0, data.n_rows)], lam,
                                 np.tile(lam, rank)])
        G, p = data.n_groups, data.n_features
        return cls(gamma_shapes=shapes, n_normals=1 + p + rank * p + G + rank * G + G)


def split_noise(z, g, p: int, G: int, k: int):
    """Views of one sweep's normals ``z`` and gammas ``g`` for each use:
    ``(z_w (p,), z_v (k, p), z_muw (G,), z_muv (k, G), z_t (G,), g_lamw (G,), g_lamv (k, G))``
    (``z[0]`` is w0's normal and ``g[0]`` alpha's gamma)."""
    o = 1
    z_w = z[o:o + p]; o += p
    z_v = z[o:o + k * p].reshape(k, p); o += k * p
    z_muw = z[o:o + G]; o += G
    z_muv = z[o:o + k * G].reshape(k, G); o += k * G
    z_t = z[o:o + G]
    return z_w, z_v, z_muw, z_muv, z_t, g[1:1 + G], g[1 + G:].reshape(k, G)


def step(data: FMData, y: np.ndarray, state: FMState, priors: Priors, rng: np.random.Generator,
         noise: SweepNoise, sample_alpha: bool = True, sample_hyper: bool = True,
         refresh: bool = True, target_changed: bool = True) -> FMState:
    """One Gibbs sweep on target ``y`` (n,); updates ``state`` in place and returns it.

    ``y`` may change between calls (the latent targets of probit models, the fresh y of a
    joint-distribution test). With ``refresh`` (or when the caches are missing) the caches are
    first recomputed exactly; otherwise the residual is moved to the new target,
    e += y - state.t (skipped when ``target_changed`` is False: the caller guarantees y equals
    the previous target), and the incrementally updated caches are used.
    """
    p, k = data.n_features, state.rank
    z = standard_normals(rng, noise.n_normals, 1, 1 + p + k * p)
    g = rng.standard_gamma(noise.gamma_shapes)
    z_w, z_v, z_muw, z_muv, z_t, g_lamw, g_lamv = split_noise(z, g, p, data.n_groups, k)
    with KERNEL_LOCK:
        w0, alpha = _sweep(data, y, state, priors, z, g, z_w, z_v, z_muw, z_muv, z_t, g_lamw,
                           g_lamv, sample_alpha, sample_hyper, refresh, target_changed)
    state.w0 = float(w0)
    state.alpha = float(alpha)
    return state


def _sweep(data, y, state, priors, z, g, z_w, z_v, z_muw, z_muv, z_t, g_lamw, g_lamv,
           sample_alpha, sample_hyper, refresh, target_changed):
    if (refresh or state.t is None or state.t.shape != y.shape
            or state.q.shape != cache_shape(data, state.rank)):
        refresh_cache(data, y, state)
    elif target_changed:
        state.e += y - state.t
        state.t[:] = y
    params = (state.e, state.q, state.w0, state.w, state.Vt, state.alpha,
              state.mu_w, state.lam_w, state.mu_v, state.lam_v,
              priors.a0, priors.b0, priors.b_lambda, priors.c0, priors.mu0, priors.m0,
              priors.lambda0, z[0], z_w, z_v, z_muw, z_muv, z_t, g[0], g_lamw, g_lamv,
              sample_alpha, sample_hyper)
    serial = numba.get_num_threads() == 1       # (the same draws in either order)
    order = data.order if serial else data.porder
    if isinstance(data, RelationalFMData):
        w0, alpha = dispatch.get("relational_sweep")(
            data.indptr, data.indices, data.data, data.bc_indptr, data.bc_indices, data.bc_data,
            data.br_indptr, data.br_indices, data.br_data, data.psi, data.roff, data.counts,
            data.p0, data.border if serial else data.bporder, data.bcptr, data.bcls,
            data.colsq, data.gidx, data.gsize, data.gsum, order, data.cptr, *params)
    else:
        w0, alpha = dispatch.get("gibbs_sweep")(
            data.indptr, data.indices, data.data, data.colsq, data.gidx, data.gsize, data.gsum,
            order, data.cptr, data.factor_major, *params)
    return w0, alpha


def n_kept(n_iter: int, n_burn: int, thin: int) -> int:
    """Number of draws kept by ``run_chain``."""
    return len(range(n_burn, n_iter, thin))


def run_chain(data: FMData, likelihood, state: FMState, priors: Priors,
              rng: np.random.Generator, n_iter: int, n_burn: int, thin: int = 1,
              store: DrawStore | None = None, sample_alpha: bool | None = None,
              sample_hyper: bool = True, callback=None, accum=None, start: int = 0):
    """Run ``n_iter`` sweeps, keeping every ``thin``-th draw after the first ``n_burn``.

    ``likelihood`` is an observation model of ``bayesfm.sampler.likelihoods`` (for latent
    models, each sweep first redraws the latent target given the current yhat). ``sample_alpha``
    None means the likelihood's own choice. Returns ``(state, store, resid_rms)`` where
    ``resid_rms`` (n_iter,) is the root mean square of the residual (target - yhat) after each
    sweep, on the sampler's scale. ``callback(it, state)``, if given, runs after every sweep.
    ``accum``, a ``sampler.accumulate.PredictionMoments``, adds every kept draw's predictions.
    ``start`` is the global index of the first sweep (for the cache refresh schedule,
    ``REFRESH_EVERY``).
    """
    if sample_alpha is None:
        sample_alpha = likelihood.sample_alpha
    noise = SweepNoise.build(data, state.rank, priors)
    if store is None:
        store = DrawStore(n_kept(n_iter, n_burn, thin), data.n_features, state.rank,
                          data.n_groups)
    resid_rms = np.empty(n_iter)
    target = likelihood.target
    for it in range(n_iter):
        if likelihood.latent:
            yhat = target - state.e
            target = likelihood.update_target(rng, yhat)
        step(data, target, state, priors, rng, noise, sample_alpha, sample_hyper,
             refresh=(start + it) % REFRESH_EVERY == 0, target_changed=likelihood.latent)
        resid_rms[it] = np.sqrt(np.mean(state.e * state.e)) if data.n_rows else 0.0
        if it >= n_burn and (it - n_burn) % thin == 0:
            store.record(state)
            likelihood.record()
            if accum is not None:
                with KERNEL_LOCK:
                    accum.record(state)
        if callback is not None:
            callback(it, state)
    return state, store, resid_rms
