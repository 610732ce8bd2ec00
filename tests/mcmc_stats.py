"""Monte Carlo error helpers shared by the statistical tests."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri


def iid_se(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean of independent draws along axis 0."""
    x = np.asarray(x, dtype=float)
    return x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def batch_means_se(x: np.ndarray, n_batches: int = 40) -> np.ndarray:
    """Standard error of the mean of an autocorrelated chain (axis 0), by batch means.

    The chain is cut into ``n_batches`` contiguous batches; with batches much longer than the
    autocorrelation time their means are nearly independent.
    """
    x = np.asarray(x, dtype=float)
    b = x.shape[0] // n_batches
    means = x[: b * n_batches].reshape((n_batches, b) + x.shape[1:]).mean(axis=1)
    return means.std(axis=0, ddof=1) / np.sqrt(n_batches)


def bonferroni_z(n_tests: int, family_alpha: float = 1e-3) -> float:
    """Two-sided critical |z| for ``n_tests`` comparisons at family-wise level ``family_alpha``."""
    return float(ndtri(1.0 - family_alpha / (2.0 * n_tests)))
