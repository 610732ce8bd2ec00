"""Shapes of the Gamma full conditionals.

They depend only on the prior constants and the counts (rows, group sizes), never on the state,
so the driver draws the standard gammas for a whole sweep at once and the kernel divides them by
the state-dependent rates. Kept in one place so the shapes are easy to read against the reference::

    alpha     : (a0 + n) / 2
    lambda_g  : (a_lambda + n_g + 1) / 2      (the +1 comes from the Normal prior on mu_g)

and the power of c (s) in the density of a scale (magnitude) move (``sampler.moves``):
n_A - n_B (n_A + n_B).
"""

from __future__ import annotations

import numpy as np

__all__ = ["alpha_shape", "lambda_shape", "scale_log_jacobian", "magnitude_log_jacobian"]


def alpha_shape(a0: float, n_rows: int) -> float:
    """Shape of the Gamma conditional of the noise precision alpha."""
    return 0.5 * (a0 + n_rows)


def lambda_shape(a_lambda: float, group_sizes: np.ndarray) -> np.ndarray:
    """Shapes (G,) of the Gamma conditionals of the group precisions lambda_g."""
    return 0.5 * (a_lambda + np.asarray(group_sizes, dtype=np.float64) + 1.0)


def scale_log_jacobian(n_a: int, n_b: int) -> float:
    """The power of c in the density of a scale move's c against dc / c: the Jacobian
    c^(n_A - n_B) of scaling n_A coordinates by c and n_B by 1 / c."""
    return float(n_a - n_b)


def magnitude_log_jacobian(n_a: int, n_b: int) -> float:
    """The power of s in the density of a magnitude move's s against ds / s: the Jacobian
    s^(n_A + n_B) of scaling n_A + n_B coordinates by s."""
    return float(n_a + n_b)
