"""The sampler's likelihoods: what the regression sweep is run on, and what else each sweep
draws (the sampler's half of an observation model; ``models.observation`` is the estimators'
half, and makes these with its ``likelihood``).

* ``Gaussian(y)``: y is the target itself; the noise precision alpha is sampled.
* ``OrderedProbit(cls, K, ...)``: the target is the latent z of Albert and Chib, redrawn at the
  start of every sweep (after the cutpoint MH step); alpha is held at 1. Binary probit is K = 2
  (a single cutpoint fixed at 0, nothing to sample).

Each likelihood exposes ``latent`` (bool), ``sample_alpha`` (bool), ``target`` (n,),
``update_target(rng, yhat) -> (target, info)`` (``info``: that sweep's statistics, name ->
float, as named by ``sweep_stat_names``), ``to_state()`` (plain values and arrays, with its
``kind``; ``from_state`` of this module rebuilds it), and what it adds to the chain's
``DrawStore``:
``extra_shapes`` (name -> shape of one draw; filled by ``extras()`` at every kept sweep) and
``sweep_stat_names`` (the ``info`` of every sweep). Its own state (the latent target, the
cutpoint sampler) travels with the chain; what it records lives in the store.
"""

from __future__ import annotations

import numpy as np

from bayesfm.sampler.ordinal import CutpointSampler
from bayesfm.sampler.truncnorm import draw_interval_latent

__all__ = ["Gaussian", "OrderedProbit", "from_state"]


class Gaussian:
    """y_i ~ Normal(yhat_i, 1/alpha)."""

    kind = "Gaussian"
    latent = False
    sample_alpha = True
    extra_shapes: dict = {}
    sweep_stat_names: tuple = ()

    def __init__(self, y):
        self.target = np.ascontiguousarray(y, dtype=np.float64)

    def update_target(self, rng, yhat):
        return self.target, {}

    def to_state(self) -> dict:
        return {"kind": self.kind, "target": self.target}

    @classmethod
    def from_state(cls, state: dict) -> "Gaussian":
        return cls(state["target"])

    def extras(self) -> dict:
        return {}


class OrderedProbit:
    """y_i = k when z_i ~ Normal(yhat_i, 1) falls in (c_k, c_{k+1}] (see ``sampler.ordinal``).

    ``cls`` (n,) class indices 0..K-1; ``delta0`` (K-2,) initial log gaps of the cutpoints;
    ``cut_loc``, ``cut_scale`` the Normal prior of each log gap. Records the cutpoints of every
    kept sweep (``extras``: ``cutpoints`` (K - 1,)) and, with K > 2, the MH outcome of every
    sweep (its ``info``: ``accepted``, 1.0 or 0.0).
    """

    kind = "OrderedProbit"
    latent = True
    sample_alpha = False

    def __init__(self, cls, K, cut_loc=0.0, cut_scale=2.0, delta0=None):
        cls = np.ascontiguousarray(cls, dtype=np.int64)
        if delta0 is None:
            delta0 = np.zeros(max(K - 2, 0))
        self.cls = cls
        self.K = int(K)
        self.cuts = CutpointSampler(cls, K, cut_loc, cut_scale, delta0)
        self.target = np.zeros(cls.shape[0])
        self.extra_shapes = {"cutpoints": (self.K - 1,)}
        self.sweep_stat_names = ("accepted",) if self.K > 2 else ()

    def update_target(self, rng, yhat):
        """The cutpoint MH step (K > 2; its outcome is the sweep's ``accepted``, 1.0 or 0.0),
        then the latent target given yhat and the cutpoints, in place."""
        info = {}
        if self.K > 2:
            info["accepted"] = float(self.cuts.step(rng, yhat))
        draw_interval_latent(rng, yhat, self.cls, self.cuts.bounds(), self.target)
        return self.target, info

    def to_state(self) -> dict:
        """Classes, latent target, the cutpoint sampler's log gaps, last mode and counts."""
        cuts = self.cuts
        return {"kind": self.kind, "target": self.target, "cls": self.cls, "K": self.K,
                "loc": cuts.loc, "scale": cuts.scale, "delta": cuts.delta, "mode": cuts.mode,
                "n_proposed": cuts.n_proposed, "n_accepted": cuts.n_accepted}

    @classmethod
    def from_state(cls, state: dict) -> "OrderedProbit":
        out = cls(state["cls"], state["K"], state["loc"], state["scale"], state["delta"])
        out.target = state["target"]
        out.cuts.mode = state["mode"]
        out.cuts.n_proposed = state["n_proposed"]
        out.cuts.n_accepted = state["n_accepted"]
        return out

    def extras(self) -> dict:
        return {"cutpoints": self.cuts.cutpoints}

    @property
    def acceptance_rate(self) -> float:
        c = self.cuts
        return c.n_accepted / c.n_proposed if c.n_proposed else float("nan")


_KINDS = {model.kind: model for model in (Gaussian, OrderedProbit)}


def from_state(state: dict):
    """The observation model whose ``to_state()`` gave ``state`` (chosen by its ``kind``)."""
    kind = state.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown sampler observation model {kind!r} (known: "
                         f"{', '.join(sorted(_KINDS))})")
    return _KINDS[kind].from_state(state)
