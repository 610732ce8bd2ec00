"""One Markov chain as a value: everything needed to continue it exactly where it stopped.

``Chain`` bundles the sampler state (parameters and exact caches), the chain's own
``numpy.random.Generator``, the observation model (latent targets, cutpoints), the kept draws and
the global sweep counter. ``advance(chain, data, priors, n)`` runs n more sweeps, applying burn-in
and thinning by the global sweep index, so running 200 sweeps and then 100 gives the same draws,
bit for bit, as running 300 at once; and chunked, parallel or remote execution (processes, Dask)
gives the same draws as a plain loop. A chain pickles, so it can travel to a worker and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesfm.priors import Priors
from bayesfm.sampler import driver, likelihoods
from bayesfm.sampler.accumulate import PredictionMoments
from bayesfm.sampler.design import FMData
from bayesfm.sampler.state import FMState
from bayesfm.sampler.storage import DrawStore

__all__ = ["Chain", "new_chain", "advance"]


@dataclass
class Chain:
    """A chain: state, generator, observation model, kept draws and per-sweep statistics.

    The store holds the kept draws and the statistics of every sweep done (``resid_rms``, the
    root mean square residual target - yhat; the cutpoint MH outcome of ordinal models).
    """

    state: FMState
    rng: np.random.Generator
    likelihood: object
    store: DrawStore
    n_burn: int
    thin: int
    sweeps_done: int = 0
    accum: object = None    # sampler.accumulate.PredictionMoments of evaluation sets, or None
    moves: tuple = ()       # extra exact moves by name (driver.run_chain's ``moves``)

    @property
    def n_draws(self) -> int:
        return self.store.n_draws

    def to_state(self) -> dict:
        """Everything needed to continue the chain, as plain values, arrays and its generator
        (``from_state`` rebuilds it: continuing then gives the same draws as not stopping)."""
        return {"state": self.state.to_state(), "rng": self.rng,
                "likelihood": self.likelihood.to_state(), "store": self.store.to_state(),
                "accum": None if self.accum is None else self.accum.to_state(),
                "n_burn": self.n_burn, "thin": self.thin, "sweeps_done": self.sweeps_done,
                "moves": list(self.moves)}

    @classmethod
    def from_state(cls, state: dict) -> "Chain":
        accum = state["accum"]
        return cls(state=FMState.from_state(state["state"]), rng=state["rng"],
                   likelihood=likelihoods.from_state(state["likelihood"]),
                   store=DrawStore.from_state(state["store"]), n_burn=state["n_burn"],
                   thin=state["thin"], sweeps_done=state["sweeps_done"],
                   accum=None if accum is None else PredictionMoments.from_state(accum),
                   moves=tuple(state.get("moves", ())))


def new_chain(data: FMData, likelihood, rank: int, seed, init_scale: float, n_burn: int,
              thin: int, keep_weights: bool = True, eval_sets: dict | None = None,
              moves: tuple = ()) -> Chain:
    """A fresh chain with its own generator (``seed``: anything ``default_rng`` accepts).

    ``keep_weights=False`` keeps no draws of w and V; ``eval_sets`` (name -> CSR matrix) have
    their prediction moments accumulated at every kept sweep (``sampler.accumulate``);
    ``moves`` names extra exact moves (``driver.run_chain``)."""
    rng = np.random.default_rng(seed)
    state = driver.init_state(data, likelihood.target, rank, rng, init_scale)
    store = driver.new_store(data, rank, likelihood, keep_weights=keep_weights)
    accum = PredictionMoments(eval_sets) if eval_sets else None
    return Chain(state=state, rng=rng, likelihood=likelihood, store=store, n_burn=n_burn,
                 thin=thin, accum=accum, moves=tuple(moves))


def advance(chain: Chain, data: FMData, priors: Priors, n_sweeps: int,
            sample_hyper: bool = True) -> Chain:
    """Run ``n_sweeps`` more sweeps of ``chain`` (in place) and return it."""
    start = chain.sweeps_done
    chain.store.grow(driver.n_kept(start, start + n_sweeps, chain.n_burn, chain.thin))
    driver.run_chain(data, chain.likelihood, chain.state, priors, chain.rng, n_sweeps,
                     chain.n_burn, chain.thin, store=chain.store, sample_hyper=sample_hyper,
                     accum=chain.accum, start=start, moves=chain.moves)
    chain.sweeps_done = start + n_sweeps
    return chain
