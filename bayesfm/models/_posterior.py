"""The pooled draws of a fit, in user units: one store, grown by doubling.

For every named field (w0, w, V, alpha, the hyperparameters, the cutpoints, and the tracked
predictions ``yhat`` at the diagnostic rows) a ``sampler.table.DrawTable`` of all chains holds
the draws of every chain in its first ``n_draws`` slots; per-sweep statistics (train_rmse, the
cutpoint MH outcomes) likewise (chains, capacity, ) over ``n_sweeps``. Appending the new draws
of a run costs O(new draws) (the buffers double when full), so ``sample_more`` and every check
of the automatic stop cost what they add, not the whole history.

``draws()`` gives (chains, draws, ...) views; ``flat(name)`` the pooled (chains * draws, ...)
chain-major array, a view too once the buffers are trimmed to their content (which ``flat``
does, once, when they have spare room).
"""

from __future__ import annotations

import numpy as np

from bayesfm.sampler.table import DrawTable

__all__ = ["Posterior"]


class Posterior:
    """Draws (``n_draws`` per chain) and sweep statistics (``n_sweeps`` per chain) of a fit."""

    def __init__(self, n_chains: int):
        self.n_chains = n_chains
        self._draws = DrawTable(n_chains)
        self._sweeps = DrawTable(n_chains)

    @property
    def n_draws(self) -> int:
        return self._draws.n

    @property
    def n_sweeps(self) -> int:
        return self._sweeps.n

    @property
    def names(self) -> tuple:
        return self._draws.names

    def append_draws(self, per_chain: list) -> None:
        """Append the same number of new draws to every chain: ``per_chain[c]`` maps names to
        arrays (m, ...) (the first append fixes the names, shapes and dtypes). The caller gives
        the arrays up: the first append of one chain's draws keeps them without a copy."""
        self._draws.append(_stacked(per_chain), adopt=True)

    def append_sweeps(self, per_chain: list) -> None:
        """As ``append_draws``, for per-sweep statistics (m,)."""
        self._sweeps.append(_stacked(per_chain))

    def draws(self, exclude=("yhat",)) -> dict:
        """The draws, name -> (chains, draws, ...) views (without the tracked predictions)."""
        return self._draws.to_state(exclude)

    def field(self, name) -> np.ndarray:
        """One field, (chains, draws, ...) view."""
        return self._draws.view(name)

    def flat(self, name) -> np.ndarray:
        """One field pooled over chains, chain-major: (chains * draws, ...)."""
        self._draws.trim()
        arr = self._draws.view(name)
        return arr.reshape((arr.shape[0] * arr.shape[1],) + arr.shape[2:])

    def sweeps(self, name) -> np.ndarray:
        """One sweep statistic, (chains, sweeps) view."""
        return self._sweeps.view(name)

    def set_field(self, name, values) -> None:
        """Add or replace field ``name`` with ``values`` (chains, n_draws, ...)."""
        self._draws.put(name, values)

    def to_state(self, exclude=("yhat",)) -> dict:
        """The draws (but ``exclude``) and sweep statistics, (chains, n, ...) arrays."""
        return {"n_chains": self.n_chains, "draws": self._draws.to_state(exclude),
                "sweeps": self._sweeps.to_state()}

    @classmethod
    def from_state(cls, state: dict) -> "Posterior":
        out = cls(int(state["n_chains"]))
        out._draws = DrawTable.from_state(state["draws"], out.n_chains)
        out._sweeps = DrawTable.from_state(state["sweeps"], out.n_chains)
        return out

    def keep_every(self, step: int) -> None:
        """Keep every ``step``-th draw of every chain (the first included; sweep statistics
        untouched): what the draws would be had the chains been thinned ``step`` times more."""
        self._draws.keep_every(step)

    @property
    def draw_bytes(self) -> int:
        """Bytes of one draw of every chain, all fields (0 before the first draws)."""
        return self._draws.slot_bytes

    def has_sweeps(self, name) -> bool:
        return name in self._sweeps.names

    @property
    def sweep_names(self) -> tuple:
        return self._sweeps.names


def _stacked(per_chain: list) -> dict:
    """[name -> (m, ...) per chain] as name -> (chains, m, ...) (one chain: views)."""
    if not per_chain or not per_chain[0]:
        return {}
    if len(per_chain) == 1:
        return {name: rows[None] for name, rows in per_chain[0].items()}
    return {name: np.stack([rows[name] for rows in per_chain]) for name in per_chain[0]}
