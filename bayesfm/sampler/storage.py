"""One chain's record of what it sampled: kept draws, extra per-draw fields, per-sweep
statistics (emcee's backend: one storage object with room for extra fields).

* **Draws** (one row per kept sweep), on the sampler's internal scale: ``w0`` (S,), ``alpha``
  (S,), ``w`` (S, p), ``V`` (S, p, k), ``mu_w`` / ``lam_w`` (S, G), ``mu_v`` / ``lam_v``
  (S, G, k), and the observation model's extra fields (``extras``: name -> shape of one draw,
  e.g. the ordinal cutpoints (K - 1,)). With ``weights=False`` w and V are not kept
  ((S, 0) and (S, 0, k): the bounded-memory mode, ``sampler.accumulate``).
* **Sweep statistics** (one value per sweep, burn-in included): ``resid_rms`` (the root mean
  square of the residual after the sweep) and the observation model's (``sweep_stats``: names,
  e.g. the cutpoint MH outcome ``accepted``).

Both are ``sampler.table.DrawTable``s of one chain, preallocated and grown by doubling, so
recording and appending cost O(1) per draw.
"""

from __future__ import annotations

from bayesfm.sampler.state import FMState
from bayesfm.sampler.table import DrawTable

__all__ = ["DrawStore"]

_CORE = ("w0", "alpha", "w", "V", "mu_w", "lam_w", "mu_v", "lam_v")


class DrawStore:
    """Kept draws and per-sweep statistics of one chain (module docstring)."""

    def __init__(self, n_draws: int, n_features: int, rank: int, n_groups: int,
                 weights: bool = True, extras: dict | None = None, sweep_stats=()):
        self.weights = bool(weights)
        p = n_features if self.weights else 0
        k, G = rank, n_groups
        shapes = {"w0": (), "alpha": (), "w": (p,), "V": (p, k), "mu_w": (G,), "lam_w": (G,),
                  "mu_v": (G, k), "lam_v": (G, k)}
        shapes.update(extras or {})
        self._draws = DrawTable(1, shapes, n_draws)
        self._sweeps = DrawTable(1, {name: () for name in ("resid_rms",) + tuple(sweep_stats)})

    # -- draws ------------------------------------------------------------------------------
    @property
    def n_draws(self) -> int:
        return self._draws.n

    @property
    def capacity(self) -> int:
        return self._draws.capacity

    @property
    def extra_names(self) -> tuple:
        return tuple(name for name in self._draws.names if name not in _CORE)

    def record(self, state: FMState, extras: dict | None = None) -> None:
        """Copy the parameters of ``state`` (and the extra fields) into the next slot."""
        values = {"w0": state.w0, "alpha": state.alpha, "mu_w": state.mu_w,
                  "lam_w": state.lam_w, "mu_v": state.mu_v, "lam_v": state.lam_v}
        if self.weights:
            values["w"] = state.w
            values["V"] = state.Vt.T
        else:
            values["w"] = values["V"] = 0.0          # zero-width arrays
        if extras:
            values.update(extras)
        self._draws.add(values)

    @property
    def draw_bytes(self) -> int:
        """Bytes of one kept draw (all fields)."""
        return self._draws.slot_bytes

    def grow(self, n_more: int) -> None:
        """Make room for ``n_more`` further draws (the recorded ones are kept)."""
        self._draws.reserve(n_more)

    def take(self, m: int) -> dict:
        """Remove the first ``m`` recorded draws and return them: name -> array (m, ...)."""
        return _one_chain(self._draws.take(m))

    def arrays(self) -> dict:
        """The recorded draws (views of the filled slots): name -> array (S, ...)."""
        return _one_chain(self._draws.filled())

    # -- per-sweep statistics -----------------------------------------------------------------
    @property
    def n_sweeps(self) -> int:
        return self._sweeps.n

    def record_sweep(self, stats: dict) -> None:
        """Append one sweep's statistics (``resid_rms`` and the observation model's)."""
        self._sweeps.add(stats)

    def take_sweeps(self, m: int) -> dict:
        """Remove the first ``m`` sweeps' statistics and return them: name -> array (m,)."""
        return _one_chain(self._sweeps.take(m))

    def sweeps(self) -> dict:
        """The recorded sweep statistics (views): name -> array (sweeps,)."""
        return _one_chain(self._sweeps.filled())

    def last_sweep(self, name: str) -> float | None:
        """The latest value of sweep statistic ``name``, or None before the first sweep."""
        return float(self._sweeps.arrays[name][0, self._sweeps.n - 1]) if self._sweeps.n else None

    # -- state ------------------------------------------------------------------------------
    def to_state(self) -> dict:
        """The recorded draws and sweep statistics (views) and the layout, as plain values."""
        return {"weights": self.weights, "draws": self.arrays(), "sweeps": self.sweeps(),
                "extras": {name: self._draws.row_shape(name) for name in self.extra_names},
                "sweep_stats": [n for n in self._sweeps.names if n != "resid_rms"]}

    @classmethod
    def from_state(cls, state: dict) -> "DrawStore":
        draws = state["draws"]
        w, V, mu_w = draws["w"], draws["V"], draws["mu_w"]
        out = cls(0, w.shape[1], V.shape[2], mu_w.shape[1], state["weights"],
                  extras={name: tuple(shape) for name, shape in state["extras"].items()},
                  sweep_stats=tuple(state["sweep_stats"]))
        out._draws.append({name: arr[None] for name, arr in draws.items()})
        out._sweeps.append({name: arr[None] for name, arr in state["sweeps"].items()})
        return out

    # -- chunks ------------------------------------------------------------------------------
    def append(self, other: "DrawStore") -> None:
        """Append the draws and sweep statistics recorded in ``other`` (same layout)."""
        self._draws.extend(other._draws)
        self._sweeps.extend(other._sweeps)

    def empty_like(self) -> "DrawStore":
        """An empty store with the same layout."""
        out = DrawStore.__new__(DrawStore)
        out.weights = self.weights
        out._draws = self._draws.empty_like()
        out._sweeps = self._sweeps.empty_like()
        return out


def _one_chain(arrays: dict) -> dict:
    """name -> (1, m, ...) arrays of a one-chain table as name -> (m, ...)."""
    return {name: arr[0] for name, arr in arrays.items()}
