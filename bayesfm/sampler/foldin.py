"""Folding in new rows after a fit: the parameters of the columns they bring, drawn given each
kept draw of the others (the sampler's half of ``BaseFM.fold_in``).

The standard fold-in approximation: the fitted parameters do not see the new rows. For every
kept draw s of a chain, with its w0, w, V, noise precision and group hyperparameters held fixed,
the updated columns U (the new categories the rows bring) are drawn from their full
conditionals given the new rows, by the sweep's own coordinate updates (``kernels.draw_w`` and
``kernels.draw_v_column``: the same ``normal_coordinate``, no second copy of a conditional):
w_j for j in U, then v_j1 .. v_jk for j in U, one column after another. Their draws form one
Markov chain per fitted chain, warm-started from draw to draw: ``n_first`` sweeps at the chain's
first draw (from a draw of the groups' prior), then ``n_sweeps`` at each later one. With the
other parameters fixed the chain leaves the exact conditional p(theta_U | theta_rest, new rows)
invariant; the conditional moves slowly from one kept draw to the next, so a sweep or two per
draw follow it (``tests/statistical/test_fold_in.py`` checks both).

Probit models add the latent z_i ~ Normal(yhat_i, 1) truncated to the interval of row i's class,
redrawn at the start of each sweep (``truncnorm.draw_interval_latent``) with the draw's
cutpoints.

Units: the kernel works on the columns divided by their scales, with y in its own units (the
posterior's user units; ``w * scale``, ``V * scale`` per column): the full conditionals are
equivariant under the scaling of y, so the draws are those of the fit's internal units, mapped.
Cost O(draws x sweeps x nnz(U) x k) plus O(draws x nnz(rows) x k) for the residuals and factor
sums at each draw. Serial and deterministic: the same ``rng`` gives the same draws, bit for bit.
"""

from __future__ import annotations

import numpy as np

from bayesfm._numba_cache import njit
from bayesfm.sampler._jit import kernel
from bayesfm.sampler.kernels import draw_v_column, draw_w, row_value
from bayesfm.sampler.truncnorm import draw_interval_latent

__all__ = ["fold_in_chain"]


@njit(cache=True)
def _normals(rng, out):
    flat = out.reshape(-1)
    for t in range(flat.shape[0]):
        flat[t] = rng.standard_normal()


@kernel()
def fold_in_chain(rng, rows, ucols, cols, colsq, ugidx, target, latent, cls, bounds, w0, W, V,
                  alpha, mu_w, lam_w, mu_v, lam_v, n_first, n_sweeps):
    """Draw the updated columns' parameters at every draw of one chain, in place.

    ``rows`` (a ``records.CSR``, n x P) the new rows over all P columns (scaled); ``ucols`` (a
    ``records.CSR`` holding the CSC arrays of the n x u updated columns) and ``colsq`` (u,)
    their squared column sums; ``cols`` (u,) their indices among the P; ``ugidx`` (u,) their
    groups. ``target`` (n,): y (regression; ``latent`` False), or the latent z (probit, updated
    in place), then ``cls`` (n,) the class indices and ``bounds`` (S, K + 1) each draw's
    interval ends (-inf, cutpoints, +inf). The S draws of the chain: ``w0`` (S,), ``W`` (S, P),
    ``V`` (S, P, k) (the updated columns' entries of draw 0 hold the starting state; those of
    every draw are overwritten with its fold-in draw), ``alpha`` (S,), ``mu_w``, ``lam_w``
    (S, G), ``mu_v``, ``lam_v`` (S, G, k). ``n_first`` sweeps at draw 0, ``n_sweeps`` at each
    later draw.
    """
    S = w0.shape[0]
    n = target.shape[0]
    k = V.shape[2]
    u = cols.shape[0]
    wu = np.empty(u)
    Vu = np.empty((k, u))
    for t in range(u):
        wu[t] = W[0, cols[t]]
        for f in range(k):
            Vu[f, t] = V[0, cols[t], f]
    e = np.empty(n)
    Q = np.empty((n, k))
    z_w = np.empty(u)
    z_v = np.empty((k, u))
    yhat = np.empty(n)
    for s in range(S):
        Ws = W[s]
        Vs = V[s]
        for t in range(u):
            Ws[cols[t]] = wu[t]
            for f in range(k):
                Vs[cols[t], f] = Vu[f, t]
        for i in range(n):
            e[i] = target[i] - row_value(rows.indptr, rows.indices, rows.data, i, w0[s], Ws, Vs,
                                         Q[i])
        for _ in range(n_first if s == 0 else n_sweeps):
            if latent:
                for i in range(n):
                    yhat[i] = target[i] - e[i]
                draw_interval_latent(rng, yhat, cls, bounds[s], target)
                for i in range(n):
                    e[i] = target[i] - yhat[i]
            _normals(rng, z_w)
            _normals(rng, z_v)
            for t in range(u):
                draw_w(t, ucols.indptr, ucols.indices, ucols.data, colsq, ugidx, e, wu,
                        alpha[s], mu_w[s], lam_w[s], z_w)
            for t in range(u):
                draw_v_column(t, ucols.indptr, ucols.indices, ucols.data, ugidx, e, Q, Vu, z_v,
                               alpha[s], mu_v[s], lam_v[s])
        for t in range(u):
            Ws[cols[t]] = wu[t]
            for f in range(k):
                Vs[cols[t], f] = Vu[f, t]
