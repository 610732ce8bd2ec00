"""The progress bar of fits: sweeps per chain, chains, rate, time left, current training RMSE.

Drawn by tqdm's ``auto`` front end: a widget in Jupyter (with ipywidgets installed; plain text
otherwise), a text line on a terminal. ``enabled=None`` (the estimators' ``progress=None``) shows
it where someone is watching: in a Jupyter kernel, or when standard error is a terminal; never
when the environment variable ``CI`` is set (continuous integration) or in other non-interactive
runs (a pipe, a log file, a batch job). The environment variable ``BAYESFM_PROGRESS`` overrides
that guess: ``0`` never shows it, ``1`` always does (an explicit ``progress=True/False`` of the
estimator overrides both). tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ProgressBar", "interactive"]

_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:          # noqa: BLE001 -- any failure means: not in a kernel
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def interactive(stream=None) -> bool:
    """Whether ``progress=None`` shows a bar here (module docstring)."""
    forced = os.environ.get("BAYESFM_PROGRESS", "").strip().lower()
    if forced in _FALSE:
        return False
    if forced in _TRUE:
        return True
    if os.environ.get("CI", "").strip().lower() not in ("", *_FALSE):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty or _in_jupyter_kernel()


class ProgressBar:
    """Progress of ``total`` sweeps per chain of ``n_chains`` chains.

    ``update(chains)`` after every chunk: the sweeps every chain has done beyond ``start`` (the
    sweeps they had done when the bar was made; chains run side by side), and the mean training
    RMSE of their last sweeps, in the units of
    y (``scale`` converts the sampler's residual RMS; probit models have no RMSE to show).
    ``total`` None: an open-ended run (no time left shown).
    """

    def __init__(self, total, n_chains: int, enabled=None, scale: float | None = 1.0,
                 stream=None, description: str | None = None, start: int = 0):
        self.enabled = interactive(stream) if enabled is None else bool(enabled)
        self.total = total
        self.n_chains = n_chains
        self.scale = scale
        self.start = start
        self.done = 0
        self._bar = None
        if self.enabled:
            from tqdm.auto import tqdm

            unit = "chain" if n_chains == 1 else "chains"
            self._bar = tqdm(total=total, unit="sweep", file=stream, dynamic_ncols=True,
                             desc=description or f"{n_chains} {unit}", leave=True)

    def update(self, chains) -> None:
        if self._bar is None:
            return
        done = min(c.sweeps_done for c in chains) - self.start
        rms = [r for r in (c.store.last_sweep("resid_rms") for c in chains) if r is not None]
        if self.scale is not None and rms:
            self._bar.set_postfix_str(f"train RMSE {self.scale * sum(rms) / len(rms):.4f}",
                                      refresh=False)
        self._bar.update(done - self.done)
        self.done = done

    def close(self, finished: bool = False) -> None:
        """Close the bar; ``finished``: the run ended normally before ``total`` (an automatic
        stop), so the bar is shown complete rather than cut short."""
        if self._bar is not None:
            if finished and self.total is not None and self.done < self.total:
                self._bar.total = self.done
                self._bar.refresh()
            self._bar.close()
            self._bar = None
