"""A dependency-free progress bar for fits (one line on standard error)."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows sweeps done out of ``total``, the number of chains and the current training RMSE.

    ``enabled`` None means: only when standard error is a terminal. ``scale`` converts the
    sampler's residual RMS to the units of y.
    """

    def __init__(self, total: int, n_chains: int, enabled=None, scale: float = 1.0,
                 stream=None):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total = total
        self.n_chains = n_chains
        self.scale = scale
        self.start = time.perf_counter()
        self.done = 0
        self._base = None
        self._shown = False

    def update(self, chains) -> None:
        if not self.enabled:
            return
        sweeps = min(c.sweeps_done for c in chains)
        if self._base is None:
            self._base = sweeps - min(sweeps, self.total)
        self.done = sweeps - self._base
        rms = [c.resid_rms[-1] for c in chains if c.resid_rms]
        rmse = self.scale * sum(rms) / len(rms) if rms else float("nan")
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                          f"sweeps x {self.n_chains} chains | train RMSE {rmse:.4f} | "
                          f"{elapsed:.1f} s")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
