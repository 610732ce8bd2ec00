"""The cache hint of the kernels (``sampler._prefetch``): it compiles for the arrays the kernels
give it and changes no value."""

import numba
import numpy as np
import pytest
from numba import njit

from bayesfm.sampler._prefetch import PREFETCH_AHEAD, prefetch_row


@njit
def _gather_sum(Q, e, rows, ahead):
    s = 0.0
    for t in range(rows.shape[0]):
        if t + ahead < rows.shape[0]:
            prefetch_row(Q, rows[t + ahead])
            prefetch_row(e, np.int32(rows[t + ahead]))
        i = rows[t]
        s += e[i]
        for f in range(Q.shape[1]):
            s += Q[i, f]
    return s


def test_a_prefetched_gather_reads_the_same_values():
    rng = np.random.default_rng(0)
    Q, e = rng.normal(size=(5000, 7)), rng.normal(size=5000)
    rows = np.sort(rng.integers(0, 5000, 3000))
    want = _gather_sum(Q, e, rows, 10**9)          # never prefetches
    assert _gather_sum(Q, e, rows, PREFETCH_AHEAD) == want
    assert _gather_sum(Q, e, rows, 0) == want        # the row about to be read: still the same


def test_only_one_and_two_dimensional_arrays_are_accepted():
    @njit
    def bad(A):
        prefetch_row(A, 0)

    with pytest.raises(numba.core.errors.TypingError):
        bad(np.zeros((2, 2, 2)))
