"""The validated configuration of a fit, computed once from the constructor arguments.

scikit-learn's convention: ``__init__`` stores its arguments untouched and ``fit`` validates
them. ``FitConfig.from_estimator`` does that once per fit (every error names the argument); the
fit then reads only the config, and records what it used in fitted attributes (``n_burn_``,
``thin_``, ...), so a later ``set_params`` changes no reported figure of the fitted model.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bayesfm.priors import Priors

__all__ = ["FitConfig", "check_int"]


def check_int(name, v, low):
    """``v`` as an int >= ``low``; TypeError / ValueError naming ``name`` otherwise."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    return int(v)


#: the largest ``init_scale``: initial latent factors of that spread already give interactions
#: 100 times the standardised target's; beyond it a fit starts so far out that its burn-in
#: does not come back (init_scale=1e6 left the training RMSE at 1.7e6 after a whole fit)
MAX_INIT_SCALE = 10.0


@dataclass(frozen=True)
class FitConfig:
    """What a fit uses: sampling (``rank``, sweeps, burn-in, thinning, start, priors, storage),
    the automatic stop (``auto`` with ``check_every``, ``max_iter``, ``max_time``) and the
    chains. ``n_iter`` is the first run's sweeps per chain (with ``auto``: burn-in plus one
    check interval)."""

    rank: int
    n_iter: int
    n_burn: int
    thin: int
    init_scale: float
    priors: Priors
    keep_draws: bool
    n_chains: int
    auto: bool
    check_every: int
    max_iter: int
    max_time: float | None
    moves: tuple = ()

    @classmethod
    def from_estimator(cls, est) -> "FitConfig":
        """Validate the constructor arguments of ``est`` (at fit time, as scikit-learn does)."""
        rank = check_int("rank", est.rank, 1)
        auto = isinstance(est.n_iter, str)
        if auto and est.n_iter != "auto":
            raise ValueError(f"n_iter must be a positive integer or 'auto', got {est.n_iter!r}")
        n_burn = check_int("n_burn", est.n_burn, 0)
        thin = check_int("thin", est.thin, 1)
        check_every = max_iter = 0
        max_time = None
        if auto:
            check_every = check_int("check_every", est.check_every, 1)
            max_iter = check_int("max_iter", est.max_iter, 1)
            if n_burn + check_every > max_iter:
                raise ValueError(f"max_iter ({max_iter}) must be at least n_burn + check_every "
                                 f"({n_burn + check_every})")
            if est.max_time is not None and (isinstance(est.max_time, bool) or not isinstance(
                    est.max_time, numbers.Real) or not est.max_time > 0):
                raise ValueError(f"max_time must be None or a positive number of seconds, got "
                                 f"{est.max_time!r}")
            max_time = None if est.max_time is None else float(est.max_time)
            n_iter = n_burn + check_every
        else:
            n_iter = check_int("n_iter", est.n_iter, 1)
            if n_burn >= n_iter:
                raise ValueError(f"n_burn ({n_burn}) must be smaller than n_iter ({n_iter}) so "
                                 f"that at least one draw is kept")
        init_scale = est.init_scale
        if isinstance(init_scale, bool) or not isinstance(init_scale, numbers.Real):
            raise TypeError(f"init_scale must be a number, got {type(init_scale).__name__} "
                            f"{init_scale!r}")
        if not np.isfinite(init_scale) or not 0 <= init_scale <= MAX_INIT_SCALE:
            raise ValueError(f"init_scale must be a number in [0, {MAX_INIT_SCALE:g}] (the "
                             f"spread of the initial latent factors, on the standardised "
                             f"target's scale), got {init_scale!r}")
        priors = est.priors
        if priors is None:
            priors = Priors()
        elif not isinstance(priors, Priors):
            raise TypeError(f"priors must be a bayesfm.Priors or None, got {type(priors).__name__}")
        n_chains = check_int("n_chains", est.n_chains, 1)
        check_execution(est)
        if est.keep_draws not in (True, False):
            raise ValueError(f"keep_draws must be True or False, got {est.keep_draws!r}")
        rs = est.random_state
        if not (rs is None or isinstance(rs, (numbers.Integral, np.random.Generator,
                                              np.random.SeedSequence))) or isinstance(rs, bool):
            raise TypeError("random_state must be None, an int, a numpy SeedSequence or a "
                            f"numpy Generator, got {type(rs).__name__}")
        if isinstance(rs, numbers.Integral) and rs < 0:
            raise ValueError(f"random_state must be >= 0, got {rs}")
        return cls(rank=rank, n_iter=n_iter, n_burn=n_burn, thin=thin,
                   init_scale=float(init_scale), priors=priors, keep_draws=bool(est.keep_draws),
                   n_chains=n_chains, auto=auto, check_every=check_every, max_iter=max_iter,
                   max_time=max_time, moves=check_moves(getattr(est, "moves", ())))


#: the extra exact moves an estimator can make (``sampler.driver.run_chain``'s ``moves``)
MOVES = ("scale", "magnitude", "split", "shift", "joint")
#: the estimators' default ``moves``: the ones that won on effective draws per second
#: (``benchmarks/bench_mixing.py``; see the model page)
DEFAULT_MOVES = ("shift", "joint")


#: the estimators' default ``max_draws_bytes``: 1 GiB of kept draws, all chains together
DEFAULT_DRAWS_BYTES = 1 << 30


def check_moves(moves) -> tuple:
    """``moves`` (None, a name or a sequence of names of ``MOVES``) as a tuple of names."""
    if moves is None:
        return ()
    names = [moves] if isinstance(moves, str) else moves
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(f"moves must be None, a name or a sequence of names of {MOVES}, got "
                        f"{type(moves).__name__}") from None
    unknown = [m for m in names if m not in MOVES]
    if unknown:
        raise ValueError(f"moves: unknown move {unknown[0]!r} (known: {', '.join(MOVES)})")
    return names


def check_execution(est) -> None:
    """Validate the arguments that say how chains run and what they keep (read live at every
    run: ``n_jobs``, ``n_threads`` and ``progress`` change no draw; ``max_draws_bytes`` thins
    the draws of the runs that would pass it)."""
    if est.n_jobs is not None:
        check_int("n_jobs", est.n_jobs, -64)
        if est.n_jobs == 0:
            raise ValueError("n_jobs must be None, a positive number of processes, or "
                             "negative (all CPUs but |n_jobs| - 1); got 0")
    if est.n_threads is not None:
        check_int("n_threads", est.n_threads, 1)
    if est.progress not in (None, True, False):
        raise ValueError(f"progress must be None, True or False, got {est.progress!r}")
    budget = getattr(est, "max_draws_bytes", None)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, numbers.Real)
                               or not np.isfinite(budget) or budget <= 0):
        raise ValueError(f"max_draws_bytes must be None or a positive number of bytes, got "
                         f"{budget!r}")


def chain_seeds(random_state, n_chains: int) -> list:
    """One seed per chain, spawned from ``random_state`` (None, int, SeedSequence, Generator)."""
    if isinstance(random_state, np.random.Generator):
        return random_state.spawn(n_chains)
    ss = (random_state if isinstance(random_state, np.random.SeedSequence)
          else np.random.SeedSequence(random_state))
    return ss.spawn(n_chains)
