"""Observation models: what the regression sweep is run on, and what else each sweep draws.

* ``Gaussian(y)``: y is the target itself; the noise precision alpha is sampled.
* ``OrderedProbit(cls, K, ...)``: the target is the latent z of Albert and Chib, redrawn at the
  start of every sweep (after the cutpoint MH step); alpha is held at 1. Binary probit is K = 2
  (a single cutpoint fixed at 0, nothing to sample).

Each model exposes ``latent`` (bool), ``sample_alpha`` (bool), ``target`` (n,) and
``update_target(rng, yhat) -> target``; latent models also ``record()`` their own draws.
"""

from __future__ import annotations

import numpy as np

from bayesfm.sampler.ordinal import CutpointSampler
from bayesfm.sampler.truncnorm import draw_interval_latent

__all__ = ["Gaussian", "OrderedProbit"]


class Gaussian:
    """y_i ~ Normal(yhat_i, 1/alpha)."""

    latent = False
    sample_alpha = True

    def __init__(self, y):
        self.target = np.ascontiguousarray(y, dtype=np.float64)

    def update_target(self, rng, yhat):
        return self.target

    def record(self):
        pass


class OrderedProbit:
    """y_i = k when z_i ~ Normal(yhat_i, 1) falls in (c_k, c_{k+1}] (see ``sampler.ordinal``).

    ``cls`` (n,) class indices 0..K-1; ``delta0`` (K-2,) initial log gaps of the cutpoints;
    ``cut_loc``, ``cut_scale`` the Normal prior of each log gap. Kept draws of the cutpoints are
    appended to ``cutpoint_draws`` by ``record``; ``accepted`` has the MH outcome of every sweep.
    """

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
        self.cutpoint_draws = []
        self.accepted = []      # MH outcome of every sweep (K > 2)

    def update_target(self, rng, yhat):
        if self.K > 2:
            self.accepted.append(self.cuts.step(rng, yhat))
        draw_interval_latent(rng, yhat, self.cls, self.cuts.bounds(), self.target)
        return self.target

    def record(self):
        self.cutpoint_draws.append(self.cuts.cutpoints)

    @property
    def acceptance_rate(self) -> float:
        c = self.cuts
        return c.n_accepted / c.n_proposed if c.n_proposed else float("nan")
