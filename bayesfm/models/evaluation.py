"""Predictions of evaluation sets accumulated during sampling (the bounded-memory mode)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bayesfm.sampler.accumulate import _central, cornish_fisher_quantiles

__all__ = ["EvalPrediction", "pool_moments"]


def pool_moments(accums, name):
    """Raw moments (8, n) of evaluation set ``name`` pooled over chains (each chain's draws
    weigh equally), and the number of draws."""
    total = sum(a.n_draws for a in accums)
    if total == 0:
        raise ValueError("no draws were accumulated yet")
    return sum(a.sums[name] for a in accums) / total, total


@dataclass
class EvalPrediction:
    """The posterior of the predictions of one evaluation set, in the units of y.

    Attributes (n = rows of the set): ``mean`` (n,) posterior mean of the regression function
    yhat(x) (for probit models, of the latent mean); ``sd`` (n,) its posterior standard
    deviation; ``predictive_sd`` (n,) standard deviation of a new observation (regression);
    ``proba`` (n,) posterior mean of P(y = positive class) (probit models, else None);
    ``n_draws`` the draws accumulated. ``interval(level, kind)`` gives interval bounds.
    """

    mean: np.ndarray
    sd: np.ndarray
    predictive_sd: np.ndarray
    proba: np.ndarray | None
    n_draws: int
    _skew: np.ndarray
    _kurt: np.ndarray
    _pskew: np.ndarray
    _pkurt: np.ndarray

    @classmethod
    def from_raw(cls, raw, n_draws, loc=0.0, scale=1.0, probit=False):
        """From pooled raw moments (8, n) on the sampler's scale; ``loc + scale * value`` maps
        them to the units of y (scale > 0)."""
        mean, var, skew, kurt = _central(raw[0], raw[1], raw[2], raw[3])
        _, pvar, pskew, pkurt = _central(raw[0], raw[4], raw[5], raw[6])
        return cls(mean=loc + scale * mean, sd=scale * np.sqrt(var),
                   predictive_sd=scale * np.sqrt(pvar), proba=raw[7].copy() if probit else None,
                   n_draws=int(n_draws), _skew=skew, _kurt=kurt, _pskew=pskew, _pkurt=pkurt)

    def interval(self, level: float = 0.9, kind: str = "predictive") -> np.ndarray:
        """Central ``level`` interval per row: array (n, 2).

        ``kind="predictive"``: for a new observation (mixture over draws of
        Normal(yhat_s, 1/alpha_s)); ``kind="mean"``: credible interval of yhat(x). Quantiles by
        the Cornish-Fisher expansion on the exact first four moments
        (``sampler.accumulate.cornish_fisher_quantiles``)."""
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
            raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
        if kind not in ("predictive", "mean"):
            raise ValueError(f"kind must be 'predictive' or 'mean', got {kind!r}")
        probs = np.array([(1 - level) / 2, (1 + level) / 2])
        if kind == "mean":
            return cornish_fisher_quantiles(self.mean, self.sd**2, self._skew, self._kurt, probs)
        return cornish_fisher_quantiles(self.mean, self.predictive_sd**2, self._pskew,
                                        self._pkurt, probs)
