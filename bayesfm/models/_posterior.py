"""The pooled draws of a fit, in user units: one store, grown by doubling.

For every named field (w0, w, V, alpha, the hyperparameters, the cutpoints, and the tracked
predictions ``yhat`` at the diagnostic rows) a buffer of shape (chains, capacity, ...) holds
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

__all__ = ["Posterior"]


class _Buffers:
    """Named (chains, capacity, ...) arrays with ``n`` slots filled per chain."""

    def __init__(self, n_chains: int):
        self.n_chains = n_chains
        self.arrays: dict = {}
        self.n = 0

    def append(self, per_chain: list) -> None:
        """Append the same number m of new rows to every chain: ``per_chain[c]`` maps names to
        arrays (m, ...). The first append fixes the names and shapes."""
        if not per_chain:
            return
        m = next(iter(per_chain[0].values())).shape[0] if per_chain[0] else 0
        if not self.arrays:
            for name, arr in per_chain[0].items():
                self.arrays[name] = np.empty((self.n_chains, max(m, 1)) + arr.shape[1:],
                                             dtype=arr.dtype)
        need = self.n + m
        cap = next(iter(self.arrays.values())).shape[1] if self.arrays else 0
        if need > cap:
            size = max(need, 2 * cap)
            for name, old in self.arrays.items():
                new = np.empty((self.n_chains, size) + old.shape[2:], dtype=old.dtype)
                new[:, :self.n] = old[:, :self.n]
                self.arrays[name] = new
        for c, rows in enumerate(per_chain):
            for name, arr in rows.items():
                self.arrays[name][c, self.n:need] = arr
        self.n = need

    def view(self, name) -> np.ndarray:
        return self.arrays[name][:, :self.n]

    def trim(self) -> None:
        """Shrink the buffers to their content (pooled views become possible)."""
        for name, arr in self.arrays.items():
            if arr.shape[1] != self.n:
                self.arrays[name] = np.ascontiguousarray(arr[:, :self.n])

    def __getstate__(self):
        self.trim()
        return self.__dict__


class Posterior:
    """Draws (``n_draws`` per chain) and sweep statistics (``n_sweeps`` per chain) of a fit."""

    def __init__(self, n_chains: int):
        self.n_chains = n_chains
        self._draws = _Buffers(n_chains)
        self._sweeps = _Buffers(n_chains)

    @property
    def n_draws(self) -> int:
        return self._draws.n

    @property
    def n_sweeps(self) -> int:
        return self._sweeps.n

    @property
    def names(self) -> tuple:
        return tuple(self._draws.arrays)

    def append_draws(self, per_chain: list) -> None:
        self._draws.append(per_chain)

    def append_sweeps(self, per_chain: list) -> None:
        self._sweeps.append(per_chain)

    def draws(self, exclude=("yhat",)) -> dict:
        """The draws, name -> (chains, draws, ...) views (without the tracked predictions)."""
        return {name: self._draws.view(name) for name in self._draws.arrays
                if name not in exclude}

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
        values = np.asarray(values)
        if values.shape[:2] != (self.n_chains, self.n_draws):
            raise ValueError(f"{name}: {values.shape[:2]} draws, the posterior has "
                             f"{(self.n_chains, self.n_draws)}")
        self._draws.trim()
        self._draws.arrays[name] = values

    def to_state(self, exclude=("yhat",)) -> dict:
        """The draws (but ``exclude``) and sweep statistics, (chains, n, ...) arrays."""
        return {"n_chains": self.n_chains, "draws": self.draws(exclude),
                "sweeps": {name: self.sweeps(name) for name in self.sweep_names}}

    @classmethod
    def from_state(cls, state: dict) -> "Posterior":
        out = cls(int(state["n_chains"]))
        for table, arrays in ((out._draws, state["draws"]), (out._sweeps, state["sweeps"])):
            out_arrays = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
            if out_arrays:
                table.arrays = out_arrays
                table.n = next(iter(out_arrays.values())).shape[1]
        return out

    def has_sweeps(self, name) -> bool:
        return name in self._sweeps.arrays

    @property
    def sweep_names(self) -> tuple:
        return tuple(self._sweeps.arrays)
