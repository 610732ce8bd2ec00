"""Shapes of the Gamma full conditionals.

They depend only on the prior constants and the counts (rows, group sizes), never on the state,
so the driver draws the standard gammas for a whole sweep at once and the kernel divides them by
the state-dependent rates. Kept in one place so the shapes are easy to read against the reference::

    alpha     : (a0 + n) / 2
    lambda_g  : (a_lambda + n_g + 1) / 2      (the +1 comes from the Normal prior on mu_g)
"""

from __future__ import annotations

import numpy as np

__all__ = ["alpha_shape", "lambda_shape"]


def alpha_shape(a0: float, n_rows: int) -> float:
    """Shape of the Gamma conditional of the noise precision alpha."""
    return 0.5 * (a0 + n_rows)


def lambda_shape(a_lambda: float, group_sizes: np.ndarray) -> np.ndarray:
    """Shapes (G,) of the Gamma conditionals of the group precisions lambda_g."""
    return 0.5 * (a_lambda + np.asarray(group_sizes, dtype=np.float64) + 1.0)
