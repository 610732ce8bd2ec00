"""The changing record of a chain: the sampler state (parameters and exact caches)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bayesfm.sampler.records import Params

__all__ = ["FMState"]


@dataclass
class FMState:
    """Everything one Gibbs sweep reads and writes (on the sampler's internal scale).

    Attributes
    ----------
    w0, alpha : float
        Global bias and noise precision.
    w : ndarray (p,)
        Linear weights.
    Vt : ndarray (k, p)
        Latent factors, factor-major (``Vt[f, j] = v_jf``).
    mu_w, lam_w : ndarray (G,)
        Group means and precisions of w.
    mu_v, lam_v : ndarray (G, k)
        Group means and precisions of V, per factor.
    e : ndarray (n,)
        Cached residual y - yhat.
    q : ndarray (n, k), or (k, n) (``cache_shape`` of the design)
        Cached per-factor sums sum_j v_jf x_ij of every row i and factor f.
    t : ndarray (n,) or None
        The target y the residual e refers to (None until the caches are first computed).
    """

    w0: float
    alpha: float
    w: np.ndarray
    Vt: np.ndarray
    mu_w: np.ndarray
    lam_w: np.ndarray
    mu_v: np.ndarray
    lam_v: np.ndarray
    e: np.ndarray
    q: np.ndarray
    t: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return int(self.Vt.shape[0])

    def to_state(self) -> dict:
        """The fields as plain values and arrays (what a saved chain holds)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["w0"], out["alpha"] = float(self.w0), float(self.alpha)
        return out

    @classmethod
    def from_state(cls, state: dict) -> "FMState":
        return cls(**state)

    def copy(self) -> "FMState":
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.copy() if isinstance(value, np.ndarray) else value
        return FMState(**out)

    def params(self) -> Params:
        """The arrays a sweep updates in place, as the kernels' record (views, no copies)."""
        return Params(self.e, self.q, self.w, self.Vt, self.mu_w, self.lam_w, self.mu_v,
                      self.lam_v)
