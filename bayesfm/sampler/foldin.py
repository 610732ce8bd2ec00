"""Folding in new rows after a fit: the parameters of the columns they bring, drawn given each
kept draw of the others (the sampler's half of ``BaseFM.fold_in``).

The standard fold-in approximation: the fitted parameters do not see the new rows. For every
kept draw s of a chain, with its w0, w, V, noise precision and group hyperparameters held fixed,
the updated columns U (the new categories the rows bring, and the known ones ``update`` names)
are drawn from their full conditionals given the new rows, by the sweep's own column kernels
(``kernels._linear_columns`` and ``kernels._latent_columns``, so the same ``normal_coordinate``:
no second copy of a conditional): w_j for j in U, then v_j1 .. v_jk for j in U, column by column
in colour classes (``sampler.colouring``; a large class in parallel, the same draws on any
number of threads). Their draws form one
Markov chain per fitted chain, warm-started from draw to draw: ``n_first`` sweeps at the chain's
first draw (from a draw of the groups' prior), then ``n_sweeps`` at each later one. With the
other parameters fixed the chain leaves the exact conditional p(theta_U | theta_rest, new rows)
invariant; the conditional moves slowly from one kept draw to the next, so a sweep or two per
draw follow it (``tests/statistical/test_fold_in.py`` checks both).

Probit models add the latent z_i ~ Normal(yhat_i, 1) truncated to the interval of row i's class,
redrawn at the start of each sweep (``truncnorm.draw_interval_latent``) with the draw's
cutpoints.

Units: y in its own units, the known columns as they are with their draws in user units, the
new columns divided by their scales (so that their group's prior applies: ``w * scale``,
``V * scale`` in user units); a product x_j w_j is the same either way, and the full
conditionals are equivariant under the scaling of y, so the draws are those of the fit's
internal units, mapped. Cost O(draws x sweeps x nnz(U) x k) plus O(draws x nnz(rows) x k) for
the residuals and factor sums at each draw (rows in parallel). The random numbers come from
``rng`` in a fixed order: the same seed gives the same draws, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from bayesfm._numba_cache import njit
from bayesfm.sampler._jit import kernel
from bayesfm.sampler.kernels import _accumulate_row, _latent_columns, _linear_columns, _pair
from bayesfm.sampler.truncnorm import draw_interval_latent

__all__ = ["fold_in_chain"]


@njit(cache=True)
def _normals(rng, out):
    flat = out.reshape(-1)
    for t in range(flat.shape[0]):
        flat[t] = rng.standard_normal()


@kernel(parallel=True)
def _residuals(known, new, target, w0, w, V, wn, Vn, e, Q):
    """e_i = target_i - yhat_i and the factor sums Q (n, k) of rows whose columns are split in
    two CSR blocks (``known`` with ``w``, ``V``; ``new`` with ``wn``, ``Vn``): the FM formula of
    ``kernels.row_value`` over both. Rows in parallel, each on its own."""
    ki, kj, kx = known.indptr, known.indices, known.data
    ni, nj, nx = new.indptr, new.indices, new.data
    for i in prange(target.shape[0]):
        qi = Q[i]
        qi[:] = 0.0
        lin_a, sq_a = _accumulate_row(ki, kj, kx, i, 0, w, V, qi)
        lin_b, sq_b = _accumulate_row(ni, nj, nx, i, 0, wn, Vn, qi)
        e[i] = target[i] - (w0 + lin_a + lin_b + 0.5 * (_pair(qi) - sq_a - sq_b))


@kernel()
def fold_in_chain(rng, known, new, new_cols, colsq, ugidx, order, cptr, target, latent, cls,
                  bounds, w0, W, V, alpha, mu_w, lam_w, mu_v, lam_v, Wn, Vn, n_first, n_sweeps):
    """Draw the new columns' parameters at every draw of one chain, in place.

    The n new rows as two ``records.CSR``: ``known`` (n x p, the fitted columns as they are) and
    ``new`` (n x m, the new columns divided by their scales), and ``new_cols`` (CSC arrays of
    ``new``) with ``colsq`` (m,) its squared column sums, ``ugidx`` (m,) the new columns'
    groups and ``order``, ``cptr`` their colour classes. ``target`` (n,): y (regression;
    ``latent`` False), or the latent z (probit models, redrawn in place), then ``cls`` (n,)
    the class indices and ``bounds`` (S, K + 1) each draw's interval ends (-inf, cutpoints,
    +inf). The chain's S draws: ``w0`` (S,), ``W`` (S, p), ``V`` (S, p, k), ``alpha`` (S,),
    ``mu_w``, ``lam_w`` (S, G), ``mu_v``, ``lam_v`` (S, G, k), and the new columns' ``Wn``
    (S, m), ``Vn`` (S, m, k): draw 0 holds the starting state, and every draw's entries are
    overwritten with its fold-in draw. ``n_first`` sweeps at draw 0, ``n_sweeps`` at each later
    draw.
    """
    S = w0.shape[0]
    n = target.shape[0]
    k = V.shape[2]
    m = Wn.shape[1]
    wu = Wn[0].copy()
    Vu = np.ascontiguousarray(Vn[0].T)               # (k, m), the sweep's factor-major layout
    e = np.empty(n)
    Q = np.empty((n, k))
    z_w = np.empty(m)
    z_v = np.empty((k, m))
    yhat = np.empty(n)
    for s in range(S):
        Wn[s] = wu
        Vn[s] = Vu.T
        _residuals(known, new, target, w0[s], W[s], V[s], Wn[s], Vn[s], e, Q)
        for _ in range(n_first if s == 0 else n_sweeps):
            if latent:
                for i in range(n):
                    yhat[i] = target[i] - e[i]
                draw_interval_latent(rng, yhat, cls, bounds[s], target)
                for i in range(n):
                    e[i] = target[i] - yhat[i]
            _normals(rng, z_w)
            _normals(rng, z_v)
            _linear_columns(new_cols.indptr, new_cols.indices, new_cols.data, colsq, ugidx, e,
                            wu, alpha[s], mu_w[s], lam_w[s], z_w, order, cptr)
            _latent_columns(new_cols.indptr, new_cols.indices, new_cols.data, ugidx, e, Q, Vu,
                            z_v, alpha[s], mu_v[s], lam_v[s], order, cptr, False)
        Wn[s] = wu
        Vn[s] = Vu.T
