"""Predictions of evaluation sets accumulated during sampling (the bounded-memory mode)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import ndtri

__all__ = ["EvalPrediction", "pool_moments", "cornish_fisher_quantiles"]


def _central(raw1, raw2, raw3, raw4):
    """Mean, variance, skewness and excess kurtosis from raw moments E[Y^r]. Powers are
    products (NumPy's ``power`` has CPU-specific SIMD versions; products round the same on
    every CPU)."""
    mu = raw1
    mu2 = mu * mu
    var = np.maximum(raw2 - mu2, 0.0)
    m3 = raw3 - 3 * mu * raw2 + 2 * mu2 * mu
    m4 = raw4 - 4 * mu * raw3 + 6 * mu2 * raw2 - 3 * mu2 * mu2
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(var > 0, m3 / np.where(var > 0, sd * sd * sd, 1.0), 0.0)
        kurt = np.where(var > 0, m4 / np.where(var > 0, var**2, 1.0) - 3.0, 0.0)
    return mu, var, skew, kurt


def cornish_fisher_quantiles(mean, var, skew, kurt, probs):
    """Quantiles (n, m) at ``probs`` (m,) from the first four moments (n,) each, by the
    Cornish-Fisher expansion:

        q = mean + sd (z + (z^2 - 1) g1/6 + (z^3 - 3z) g2/24 - (2z^3 - 5z) g1^2/36),

    z the standard normal quantile, g1 the skewness, g2 the excess kurtosis. Exact for a normal
    distribution; the corrections are clipped to |g1| <= 1, |g2| <= 4 (beyond, the expansion is
    no longer monotone and the normal quantile is the safer answer), and the result is sorted
    along probs so that intervals are never inverted."""
    z = ndtri(np.asarray(probs, dtype=np.float64))[None, :]
    g1 = np.clip(skew, -1.0, 1.0)[:, None]
    g2 = np.clip(kurt, -4.0, 4.0)[:, None]
    z2, z3 = z * z, z * z * z                   # products, not power (``_central``)
    w = z + (z2 - 1) * g1 / 6 + (z3 - 3 * z) * g2 / 24 - (2 * z3 - 5 * z) * g1**2 / 36
    q = mean[:, None] + np.sqrt(var)[:, None] * w
    return np.sort(q, axis=1) if np.all(np.diff(probs) >= 0) else q


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

    def to_state(self) -> dict:
        """The fields as plain values and arrays (``from_state`` inverts)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state(cls, state: dict) -> "EvalPrediction":
        return cls(**state)

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
        (``cornish_fisher_quantiles``)."""
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
            raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
        if kind not in ("predictive", "mean"):
            raise ValueError(f"kind must be 'predictive' or 'mean', got {kind!r}")
        probs = np.array([(1 - level) / 2, (1 + level) / 2])
        if kind == "mean":
            return cornish_fisher_quantiles(self.mean, self.sd**2, self._skew, self._kurt, probs)
        return cornish_fisher_quantiles(self.mean, self.predictive_sd**2, self._pskew,
                                        self._pkurt, probs)
