"""Storage of kept draws behind one small interface (preallocated arrays, filled in order)."""

from __future__ import annotations

import numpy as np

from bayesfm.sampler.state import FMState

__all__ = ["DrawStore"]


class DrawStore:
    """Kept draws of one chain, on the sampler's internal scale.

    Arrays (S = number of draws): ``w0`` (S,), ``alpha`` (S,), ``w`` (S, p), ``V`` (S, p, k),
    ``mu_w``/``lam_w`` (S, G), ``mu_v``/``lam_v`` (S, G, k). ``n_draws`` counts those recorded.
    With ``weights=False`` the weights are not kept (``w`` (S, 0), ``V`` (S, 0, k)): the bounded
    memory mode, where predictions are accumulated instead (``sampler.accumulate``).
    """

    _names = ("w0", "alpha", "w", "V", "mu_w", "lam_w", "mu_v", "lam_v")

    def __init__(self, n_draws: int, n_features: int, rank: int, n_groups: int,
                 weights: bool = True):
        self.weights = bool(weights)
        S, k, G = n_draws, rank, n_groups
        p = n_features if self.weights else 0
        self.w0 = np.empty(S)
        self.alpha = np.empty(S)
        self.w = np.empty((S, p))
        self.V = np.empty((S, p, k))
        self.mu_w = np.empty((S, G))
        self.lam_w = np.empty((S, G))
        self.mu_v = np.empty((S, G, k))
        self.lam_v = np.empty((S, G, k))
        self.n_draws = 0

    @property
    def capacity(self) -> int:
        return self.w0.shape[0]

    def record(self, state: FMState) -> None:
        """Copy the parameters of ``state`` into the next free slot."""
        s = self.n_draws
        if s >= self.capacity:
            raise IndexError("DrawStore is full")
        self.w0[s] = state.w0
        self.alpha[s] = state.alpha
        if self.weights:
            self.w[s] = state.w
            self.V[s] = state.Vt.T
        self.mu_w[s] = state.mu_w
        self.lam_w[s] = state.lam_w
        self.mu_v[s] = state.mu_v
        self.lam_v[s] = state.lam_v
        self.n_draws = s + 1

    def grow(self, n_more: int) -> None:
        """Make room for ``n_more`` further draws (the recorded ones are kept)."""
        for name in self._names:
            old = getattr(self, name)
            new = np.empty((old.shape[0] + n_more,) + old.shape[1:])
            new[: self.n_draws] = old[: self.n_draws]
            setattr(self, name, new)

    def append(self, other: "DrawStore") -> None:
        """Append the recorded draws of ``other`` (same shapes) after this store's own."""
        m = other.n_draws
        if m == 0:
            return
        free = self.capacity - self.n_draws
        if free < m:
            self.grow(max(m - free, self.capacity))     # doubling: appends cost O(1) each
        for name in self._names:
            getattr(self, name)[self.n_draws:self.n_draws + m] = getattr(other, name)[:m]
        self.n_draws += m

    def take(self, m: int) -> "DrawStore":
        """Remove the first ``m`` recorded draws and return them as a new store."""
        if not 0 <= m <= self.n_draws:
            raise ValueError(f"cannot take {m} of {self.n_draws} draws")
        head = self.empty_like()
        head.grow(m)
        for name in self._names:
            arr = getattr(self, name)
            getattr(head, name)[:m] = arr[:m]
            rest = arr[m:self.n_draws].copy()
            setattr(self, name, rest)
        head.n_draws = m
        self.n_draws -= m
        return head

    def empty_like(self) -> "DrawStore":
        """An empty store for the same shapes."""
        S, p, k = self.V.shape
        return DrawStore(0, p, k, self.mu_w.shape[1], self.weights)

    def arrays(self) -> dict:
        """The recorded draws (only the filled slots) as a dict of arrays."""
        return {name: getattr(self, name)[: self.n_draws] for name in self._names}
