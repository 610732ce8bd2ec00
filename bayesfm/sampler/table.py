"""One draw table from sweep to file: named fields over the axes (chains, draws, ...).

Every field ``name`` is an array (chains, capacity, ...) of which the first ``n`` slots of every
chain are filled; appending grows the capacity by doubling, so recording a draw costs O(1) and
appending m draws O(m), whatever was recorded before. A chain's store is a table of one chain
(``sampler.storage``), the fit's posterior a table of all of them (``models._posterior``), and a
saved model holds the filled part of each (``to_state``).

The layout (names, one row's shape, dtype) is fixed at construction, or by the first
``append`` when the table is made without one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DrawTable"]


class DrawTable:
    """Named arrays (n_chains, capacity, ...) with ``n`` slots filled in every chain.

    ``shapes`` (name -> shape of one row) fixes the layout, float64; None leaves it to the
    first ``append``. ``capacity`` preallocates that many slots.
    """

    def __init__(self, n_chains: int = 1, shapes: dict | None = None, capacity: int = 0):
        self.n_chains = int(n_chains)
        self.arrays: dict = {}
        self.n = 0
        for name, shape in (shapes or {}).items():
            self.arrays[name] = np.empty((self.n_chains, capacity) + tuple(shape))

    # -- layout -------------------------------------------------------------------------------
    @property
    def names(self) -> tuple:
        return tuple(self.arrays)

    def row_shape(self, name) -> tuple:
        """The shape of one draw of field ``name``."""
        return self.arrays[name].shape[2:]

    @property
    def capacity(self) -> int:
        return next(iter(self.arrays.values())).shape[1] if self.arrays else 1 << 62

    def empty_like(self) -> "DrawTable":
        """An empty table with the same chains and layout."""
        out = DrawTable(self.n_chains)
        out.arrays = {name: np.empty((self.n_chains, 0) + arr.shape[2:], dtype=arr.dtype)
                      for name, arr in self.arrays.items()}
        return out

    # -- growing ------------------------------------------------------------------------------
    def reserve(self, n_more: int) -> None:
        """Room for ``n_more`` slots beyond the filled ones (at least doubling when growing)."""
        need = self.n + n_more
        if need <= self.capacity:
            return
        size = max(need, 2 * self.capacity)
        for name, old in self.arrays.items():
            new = np.empty((self.n_chains, size) + old.shape[2:], dtype=old.dtype)
            new[:, :self.n] = old[:, :self.n]
            self.arrays[name] = new

    def add(self, values: dict) -> None:
        """Fill the next slot of every chain: ``values[name]`` one row (broadcast over the
        chains) or (n_chains, ...)."""
        self.reserve(1)
        for name, arr in self.arrays.items():
            arr[:, self.n] = values[name]
        self.n += 1

    def append(self, values: dict, adopt: bool = False) -> None:
        """Append m slots to every chain: ``values[name]`` (n_chains, m, ...) for every field
        (the first append to a table without a layout fixes it, dtypes included). With
        ``adopt``, a table holding no draws takes C-contiguous arrays of its layout's dtypes as
        its buffers instead of copying them: the caller gives them up."""
        if not values:
            return
        m = next(iter(values.values())).shape[1]
        if adopt and self.n == 0 and self._adoptable(values):
            self.arrays = dict(values)
            self.n = m
            return
        if not self.arrays:
            self.arrays = {name: np.empty((self.n_chains, max(m, 1)) + np.shape(v)[2:],
                                          dtype=np.asarray(v).dtype)
                           for name, v in values.items()}
        self.reserve(m)
        for name, arr in self.arrays.items():
            arr[:, self.n:self.n + m] = values[name]
        self.n += m

    def _adoptable(self, values: dict) -> bool:
        """Whether ``values`` can become the buffers as they are: C-contiguous, of this
        table's chains, and of its layout (names, row shapes, dtypes) when it has one."""
        for name, v in values.items():
            if not (isinstance(v, np.ndarray) and v.flags.c_contiguous
                    and v.shape[0] == self.n_chains):
                return False
            old = self.arrays.get(name)
            if old is not None and (old.shape[2:] != v.shape[2:] or old.dtype != v.dtype):
                return False
        return not self.arrays or set(values) == set(self.arrays)

    def keep_every(self, step: int) -> None:
        """Keep the slots 0, step, 2 step, ... of every chain, compacted into new buffers just
        large enough (so the memory of the dropped slots is released)."""
        step = int(step)
        if step <= 1:
            return
        for name, arr in self.arrays.items():
            self.arrays[name] = np.ascontiguousarray(arr[:, :self.n:step])
        self.n = len(range(0, self.n, step))

    @property
    def slot_bytes(self) -> int:
        """Bytes of one slot of every chain, all fields together."""
        return sum(self.n_chains * int(np.prod(arr.shape[2:], dtype=np.int64)) * arr.itemsize
                   for arr in self.arrays.values())

    def extend(self, other: "DrawTable") -> None:
        """Append the filled slots of ``other`` (same chains and layout)."""
        self.append(other.filled())

    # -- reading ------------------------------------------------------------------------------
    def view(self, name) -> np.ndarray:
        """Field ``name``, (n_chains, n, ...) (a view)."""
        return self.arrays[name][:, :self.n]

    def filled(self) -> dict:
        """Every field, name -> (n_chains, n, ...) views."""
        return {name: arr[:, :self.n] for name, arr in self.arrays.items()}

    def take(self, m: int) -> dict:
        """Remove the first ``m`` slots of every chain and return them: name -> (n_chains, m,
        ...), arrays of the caller's own (taking every slot hands the buffers over, without a
        copy; the table then has no room left)."""
        if not 0 <= m <= self.n:
            raise ValueError(f"cannot take {m} of {self.n} draws")
        if m == self.n and m > 0:
            head = {name: arr[:, :m] for name, arr in self.arrays.items()}
            self.arrays = {name: np.empty((self.n_chains, 0) + arr.shape[2:], dtype=arr.dtype)
                           for name, arr in self.arrays.items()}
            self.n = 0
            return head
        head = {}
        for name, arr in self.arrays.items():
            head[name] = arr[:, :m].copy()
            arr[:, :self.n - m] = arr[:, m:self.n].copy()
        self.n -= m
        return head

    def put(self, name, values) -> None:
        """Add or replace field ``name`` with ``values`` (n_chains, n, ...) (kept as given)."""
        values = np.asarray(values)
        if values.shape[:2] != (self.n_chains, self.n):
            raise ValueError(f"{name}: {values.shape[:2]} draws, the table has "
                             f"{(self.n_chains, self.n)}")
        self.trim()
        self.arrays[name] = values

    def trim(self) -> None:
        """Shrink the arrays to their filled slots (pooled views become possible)."""
        for name, arr in self.arrays.items():
            if arr.shape[1] != self.n:
                self.arrays[name] = np.ascontiguousarray(arr[:, :self.n])

    def __getstate__(self):
        self.trim()
        return self.__dict__

    # -- state --------------------------------------------------------------------------------
    def to_state(self, exclude=()) -> dict:
        """The filled slots (views), name -> (n_chains, n, ...), but the fields ``exclude``."""
        return {name: view for name, view in self.filled().items() if name not in exclude}

    @classmethod
    def from_state(cls, arrays: dict, n_chains: int) -> "DrawTable":
        """A table holding ``arrays`` (name -> (n_chains, n, ...), kept as given)."""
        out = cls(n_chains)
        if arrays:
            out.arrays = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
            out.n = next(iter(out.arrays.values())).shape[1]
        return out
