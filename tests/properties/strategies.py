"""Shared by the property-based tests: hypothesis strategies for small random sparse designs,
and the check that an exception was raised by bayesfm itself."""

import traceback
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

import bayesfm

PACKAGE = Path(bayesfm.__file__).resolve().parent

#: the values a design may hold: signs, units far from 1, exact zeros left out by sparsity
VALUE_SCALES = (1e-3, 0.5, 1.0, 3.0, 1e3)


@st.composite
def designs(draw, min_rows=1, max_rows=30, max_cols=8):
    """(X (n, p) CSR float64, seed): random sparsity and values; every column may be empty,
    rows may be empty."""
    n = draw(st.integers(min_rows, max_rows))
    p = draw(st.integers(1, max_cols))
    density = draw(st.sampled_from([0.1, 0.3, 0.6, 1.0]))
    scale = draw(st.sampled_from(VALUE_SCALES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng,
                  data_rvs=lambda m: scale * rng.normal(size=m))
    X.sort_indices()
    return X, seed


@st.composite
def relational_designs(draw):
    """(RelationalData, seed): 0-3 direct columns and one or two blocks, each block a one-hot id
    of its rows plus 0-3 random side columns; some block rows unused."""
    from bayesfm.data.relational import RelationalData, RelationBlock

    n = draw(st.integers(1, 40))
    direct = draw(st.integers(0, 3))
    n_blocks = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    blocks = []
    for b in range(n_blocks):
        m = draw(st.integers(1, 8))
        side = draw(st.integers(0, 3))
        parts = [sp.identity(m, format="csr")]
        if side:
            parts.append(sp.random(m, side, density=0.5, random_state=rng,
                                   data_rvs=lambda k: rng.normal(size=k)))
        M = sp.hstack(parts, format="csr")
        blocks.append(RelationBlock(M, rng.integers(0, m, n), f"b{b}"))
    D = sp.random(n, direct, density=0.6, random_state=rng, format="csr",
                  data_rvs=lambda k: rng.normal(size=k)) if direct else None
    return RelationalData(D, blocks), seed


def raised_by_bayesfm(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback (the raise) is in bayesfm's code."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return PACKAGE in Path(frame.filename).resolve().parents
