"""The thin driver around the kernels: initialise, step, and run a chain with burn-in and thinning.

``init_state``, ``step`` and ``sweep`` are the sampler core (in the spirit of blackjax: small
functions over a small state record, a step returning ``(state, info)``, what it observed);
``run_chain`` loops ``sweep`` and hands kept draws and every sweep's info to a ``DrawStore``.
Burn-in and thinning refer to the global sweep index of a chain (``is_kept``, ``n_kept``), so a
chain run in pieces keeps the same sweeps as one run at once.
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
from bayesfm.sampler import conditionals, execution
from bayesfm.sampler.design import FMData
from bayesfm.sampler.kernels import ALL_STAGES, HYPER_STAGES, STAGE_V_JOINT
from bayesfm.sampler.moves import (
    N_MH,
    magnitude_moves,
    scale_moves,
    shift_factor_sums,
    shift_moves,
    split_moves,
)
from bayesfm.sampler.records import CSR, Noise, PriorConsts
from bayesfm.sampler.state import FMState
from bayesfm.sampler.storage import DrawStore

__all__ = ["init_state", "step", "sweep", "run_chain", "SweepNoise", "REFRESH_EVERY",
           "prior_constants", "is_kept", "n_kept"]

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


def init_state(data, y: np.ndarray, rank: int, rng: np.random.Generator,
               init_scale: float = 0.1) -> FMState:
    """Initial state: w0 = w = 0, V ~ Normal(0, init_scale^2), alpha = lambda = 1, mu = 0.
    ``data`` is a design of ``sampler.design`` (``FMData`` or ``RelationalFMData``)."""
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
        q=np.empty(data.cache_shape(rank)),
    )
    refresh_cache(data, y, state)
    return state


def refresh_cache(data, y: np.ndarray, state: FMState) -> None:
    """Recompute ``state.e`` and ``state.q`` exactly from the parameters (``state.q`` is
    reallocated when its shape does not fit ``data``)."""
    shape = data.cache_shape(state.rank)
    if state.q.shape != shape:
        state.q = np.empty(shape)
    state.t = np.array(y, dtype=np.float64, copy=True)
    data.recompute(y, state)


def prior_constants(priors: Priors) -> PriorConsts:
    """``priors`` as the kernels read it."""
    return PriorConsts(float(priors.a0), float(priors.b0), float(priors.b_lambda),
                       float(priors.c0), float(priors.mu0), float(priors.m0),
                       float(priors.lambda0))


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


def split_noise(z, g, p: int, G: int, k: int) -> Noise:
    """One sweep's normals ``z`` and gammas ``g`` as the kernels' record (views): ``z[0]`` is
    w0's normal, then w (p,), V (k, p), mu_w (G,), mu_v (k, G), the translation moves (G,);
    ``g[0]`` alpha's gamma, then lambda_w (G,), lambda_v (k, G)."""
    o = 1
    z_w = z[o:o + p]; o += p
    z_v = z[o:o + k * p].reshape(k, p); o += k * p
    z_muw = z[o:o + G]; o += G
    z_muv = z[o:o + k * G].reshape(k, G); o += k * G
    z_t = z[o:o + G]
    return Noise(float(z[0]), z_w, z_v, z_muw, z_muv, z_t, float(g[0]), g[1:1 + G],
                 g[1 + G:].reshape(k, G))


def draw_noise(rng: np.random.Generator, data, rank: int, noise: "SweepNoise") -> Noise:
    """The random numbers of one sweep, drawn from the chain's generator."""
    p = data.n_features
    z = standard_normals(rng, noise.n_normals, 1, 1 + p + rank * p)
    g = rng.standard_gamma(noise.gamma_shapes)
    return split_noise(z, g, p, data.n_groups, rank)


@dataclass(frozen=True)
class PairMoves:
    """The moves of ``sampler.moves`` on a design of two groups ``a`` and ``b`` (of ``n_a`` and
    ``n_b`` columns) with at most one column of each per row: ``scale`` (each factor's scale
    between the groups), ``magnitude`` (each factor's size in both) and ``split`` (the scale
    between the groups with their factor hyperparameters), as asked."""

    a: int
    b: int
    n_a: int
    n_b: int
    scale: bool
    magnitude: bool
    split: bool = False

    @classmethod
    def of(cls, data, names=("scale",)) -> "PairMoves | None":
        """The moves ``names`` on ``data``, or None when none is asked or it has not the
        symmetry: exactly two groups, every row holding at most one column of each (a flat
        design, not a relational one)."""
        scale, magnitude, split = "scale" in names, "magnitude" in names, "split" in names
        if (not (scale or magnitude or split) or not isinstance(data, FMData)
                or data.n_groups != 2
                or not data.n_rows):
            return None
        rows = np.repeat(np.arange(data.n_rows), np.diff(data.r_indptr))
        per_row = np.bincount(rows * 2 + data.gidx[data.r_indices], minlength=2 * data.n_rows)
        if per_row.max(initial=0) > 1:
            return None
        n_a, n_b = (int(n) for n in data.gsize)
        return cls(0, 1, n_a, n_b, scale, magnitude, split)

    def run(self, data, state: FMState, priors: Priors, rng: np.random.Generator) -> None:
        """The moves, their random numbers drawn from ``rng`` (scale first, then magnitude,
        then split)."""
        rows = CSR(data.r_indptr, data.r_indices, data.r_data)
        Q = state.q.T if data.factor_major else state.q           # (n, k) either way
        work = data.nnz * (state.rank + 1)
        if self.scale:
            z = rng.standard_normal((state.rank, N_MH))
            u = rng.random((state.rank, N_MH))
            execution.call(scale_moves, work, rows, state.Vt, data.gidx, self.a, self.b,
                           state.mu_v, state.lam_v,
                           conditionals.scale_log_jacobian(self.n_a, self.n_b),
                           2.4 / np.sqrt(2.0 * (self.n_a + self.n_b)), z, u, Q)
        if self.magnitude:
            z = rng.standard_normal((state.rank, N_MH))
            u = rng.random((state.rank, N_MH))
            execution.call(magnitude_moves, work, rows, state.Vt, data.gidx, self.a, self.b,
                           state.mu_v, state.lam_v, float(state.alpha),
                           conditionals.magnitude_log_jacobian(self.n_a, self.n_b),
                           float(self.n_a + self.n_b), z, u, state.e, Q)
        if self.split:
            z = rng.standard_normal((state.rank, N_MH))
            u = rng.random((state.rank, N_MH))
            execution.call(split_moves, work, rows, state.Vt, data.gidx, self.a, self.b,
                           state.mu_v, state.lam_v, float(priors.c0), float(priors.mu0),
                           float(priors.b_lambda), z, u, Q)


@dataclass(frozen=True)
class ShiftMoves:
    """The shift moves of ``sampler.moves`` (``shift_moves``): one per group whose columns are
    one-hot with a constant value (every row holds exactly one of them), ``groups`` (M,) with
    their values ``cvals`` (M,)."""

    groups: np.ndarray
    cvals: np.ndarray

    @classmethod
    def of(cls, data) -> "ShiftMoves | None":
        """The shift moves of ``data``'s one-hot groups, or None when it has none (or it is
        relational, or has no rows)."""
        if not isinstance(data, FMData) or not data.n_rows:
            return None
        n = data.n_rows
        group = data.gidx[data.r_indices]                       # of every entry, row by row
        counts = np.bincount(group, minlength=data.n_groups)
        one_hot = []
        for g in np.flatnonzero((counts == n) & (np.asarray(data.gsum) != 0.0)):
            # n entries of g, rows in increasing order: exactly one per row iff no row repeats
            rows = np.searchsorted(data.r_indptr, np.flatnonzero(group == g), side="right") - 1
            if np.all(np.diff(rows) == 1):
                one_hot.append(g)
        if not one_hot:
            return None
        groups = np.asarray(one_hot, dtype=np.int64)
        return cls(groups, np.asarray(data.gsum, dtype=np.float64)[groups])

    def run(self, data, state: FMState, priors: Priors, rng: np.random.Generator) -> None:
        """The moves, group by group, their normals drawn from ``rng``."""
        z = rng.standard_normal((self.groups.size, state.rank))
        Q = state.q.T if data.factor_major else state.q           # (n, k) either way
        S = np.empty((self.groups.size, state.rank))
        shift_moves(state.Vt, state.w, data.gidx, self.groups, self.cvals, state.mu_v,
                    state.lam_v, state.mu_w, state.lam_w, float(priors.c0), float(priors.mu0),
                    z, S)
        execution.call(shift_factor_sums, Q.size * self.groups.size, Q, S)


@dataclass(frozen=True)
class Moves:
    """The extra exact moves a chain makes (``run_chain``'s ``moves``), where the design has
    their symmetry: ``pair`` (scale, magnitude), ``shift``, and ``joint`` (the sweep draws every
    column's latent vector at once)."""

    pair: PairMoves | None = None
    shift: ShiftMoves | None = None
    joint: bool = False

    @classmethod
    def of(cls, data, names=()) -> "Moves | None":
        """The moves ``names`` that apply to ``data``; None when none does."""
        moves = cls(PairMoves.of(data, names),
                    ShiftMoves.of(data) if "shift" in names else None,
                    "joint" in names and isinstance(data, FMData))
        return moves if moves.pair or moves.shift or moves.joint else None

    def run(self, data, state: FMState, priors: Priors, rng: np.random.Generator) -> None:
        """The moves made after a sweep, random numbers drawn in this order: scale,
        magnitude, split, shift."""
        if self.pair is not None:
            self.pair.run(data, state, priors, rng)
        if self.shift is not None:
            self.shift.run(data, state, priors, rng)


def step(data, y: np.ndarray, state: FMState, priors: Priors, rng: np.random.Generator,
         noise: SweepNoise, sample_alpha: bool = True, sample_hyper: bool = True,
         refresh: bool = True, target_changed: bool = True,
         moves: Moves | None = None) -> tuple:
    """One Gibbs sweep on target ``y`` (n,); updates ``state`` in place and returns
    ``(state, info)``, ``info["resid_rms"]`` the root mean square of the residual y - yhat
    after the sweep (0 without rows).

    ``y`` may change between calls (the latent targets of probit models, the fresh y of a
    joint-distribution test). With ``refresh`` (or when the caches are missing) the caches are
    first recomputed exactly; otherwise the residual is moved to the new target,
    e += y - state.t (skipped when ``target_changed`` is False: the caller guarantees y equals
    the previous target), and the incrementally updated caches are used. ``moves``: the extra
    moves (``Moves.of(data, names)``; None: none): ``moves.joint`` draws every column's latent
    vector at once (``kernels.STAGE_V_JOINT``) from the same random numbers, and the others run
    after the sweep, with random numbers drawn after the sweep's, so a chain without them draws
    as before. They run only with ``sample_hyper``.
    """
    z = draw_noise(rng, data, state.rank, noise)
    if (refresh or state.t is None or state.t.shape != y.shape
            or state.q.shape != data.cache_shape(state.rank)):
        refresh_cache(data, y, state)
    elif target_changed:
        state.e += y - state.t
        state.t[:] = y
    stages = ALL_STAGES if sample_hyper else ALL_STAGES & ~HYPER_STAGES
    if moves is not None and moves.joint and sample_hyper:
        stages |= STAGE_V_JOINT
    w0, alpha = data.sweep(state.params(), state.w0, state.alpha, prior_constants(priors), z,
                           sample_alpha, stages)
    state.w0 = float(w0)
    state.alpha = float(alpha)
    if moves is not None and sample_hyper:
        moves.run(data, state, priors, rng)
    # np.mean's own sum and division, without its Python wrapper (the same bits)
    resid_rms = np.sqrt(np.add.reduce(state.e * state.e) / data.n_rows) if data.n_rows else 0.0
    return state, {"resid_rms": resid_rms}


def sweep(data, likelihood, state: FMState, priors: Priors, rng: np.random.Generator,
          noise: SweepNoise, sample_alpha: bool = True, sample_hyper: bool = True,
          refresh: bool = True, moves: Moves | None = None) -> tuple:
    """One sweep of a chain with observation model ``likelihood``: for latent models first the
    latent target given the current yhat (and the cutpoints), then ``step``. Returns
    ``(state, info)``: the likelihood's statistics of the sweep and ``resid_rms``."""
    info = {}
    if likelihood.latent:
        _, info = likelihood.update_target(rng, likelihood.target - state.e)
    state, step_info = step(data, likelihood.target, state, priors, rng, noise, sample_alpha,
                            sample_hyper, refresh=refresh, target_changed=likelihood.latent,
                            moves=moves)
    info.update(step_info)
    return state, info


def is_kept(sweep_index: int, n_burn: int, thin: int) -> bool:
    """Whether the sweep of global index ``sweep_index`` (from 0) is kept: every ``thin``-th
    after the first ``n_burn``."""
    return sweep_index >= n_burn and (sweep_index - n_burn) % thin == 0


def n_kept(start: int, stop: int, n_burn: int, thin: int) -> int:
    """How many of the sweeps of global index start..stop-1 are kept (``is_kept``)."""
    first = max(start, n_burn)
    if first >= stop:
        return 0
    first += (-(first - n_burn)) % thin
    return len(range(first, stop, thin))


def run_chain(data: FMData, likelihood, state: FMState, priors: Priors,
              rng: np.random.Generator, n_iter: int, n_burn: int, thin: int = 1,
              store: DrawStore | None = None, sample_alpha: bool | None = None,
              sample_hyper: bool = True, callback=None, accum=None, start: int = 0,
              moves: tuple = ()):
    """Run ``n_iter`` sweeps, of global indices ``start``..``start + n_iter - 1``, keeping every
    ``thin``-th draw after the first ``n_burn`` sweeps of the chain (``is_kept``).

    ``likelihood`` is an observation model of ``bayesfm.sampler.likelihoods`` (for latent
    models, each sweep first redraws the latent target given the current yhat). ``sample_alpha``
    None means the likelihood's own choice. Every kept draw (with the likelihood's extra fields)
    and every sweep's statistics (``resid_rms``, the root mean square of the residual target -
    yhat after the sweep, on the sampler's scale, and the likelihood's) go to ``store`` (a new
    one when None). Returns ``(state, store)``. ``callback(it, state)``, if given, runs after
    every sweep. ``accum``, a ``sampler.accumulate.PredictionMoments``, adds every kept draw's
    predictions. ``start`` is the global index of the first sweep (burn-in and thinning count
    from the chain's first sweep, and so does the cache refresh schedule, ``REFRESH_EVERY``).
    ``moves``: extra exact moves by name (``"scale"``, ``"magnitude"``: ``PairMoves``, made where
    the design has the symmetry; ``"shift"``: ``ShiftMoves``, for one-hot groups; ``"joint"``:
    the sweep draws every column's latent vector at once, on flat designs: ``Moves``). Within
    ``execution.adaptive``, every sweep's thread count is chosen by the block's ``ThreadPace``
    from the measured times of the sweeps before it (the sweeps with an exact cache refresh are
    not compared).
    """
    if sample_alpha is None:
        sample_alpha = likelihood.sample_alpha
    noise = SweepNoise.build(data, state.rank, priors)
    extra = Moves.of(data, moves) if state.rank else None
    if store is None:
        store = new_store(data, state.rank, likelihood,
                          n_kept(start, start + n_iter, n_burn, thin))
    pace = execution.current_pace()
    for it in range(n_iter):
        refresh = (start + it) % REFRESH_EVERY == 0
        if pace is not None:
            pace.start()
        state, info = sweep(data, likelihood, state, priors, rng, noise, sample_alpha,
                            sample_hyper, refresh, extra)
        if pace is not None:
            pace.stop(measure=not refresh)
        store.record_sweep(info)
        if is_kept(start + it, n_burn, thin):
            store.record(state, likelihood.extras())
            if accum is not None:
                accum.record(state)
        if callback is not None:
            callback(it, state)
    return state, store


def new_store(data, rank: int, likelihood, n_draws: int = 0,
              keep_weights: bool = True) -> DrawStore:
    """An empty ``DrawStore`` for chains on ``data`` with ``likelihood``'s extra fields."""
    return DrawStore(n_draws, data.n_features, rank, data.n_groups, keep_weights,
                     extras=likelihood.extra_shapes, sweep_stats=likelihood.sweep_stat_names)
