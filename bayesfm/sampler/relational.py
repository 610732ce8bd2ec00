"""Numba kernels of the relational Gibbs sweep (Rendle 2013): the blocks are never expanded.

The design is X = [X_direct | B_1[psi_1] | ...] (``RelationalFMData``). Every sum over the rows
of X that a coordinate update needs is computed per block row from aggregates over the
observations using that row: for block b and block row r (c_r observations),

    E_r = sum_i e_i,   S1_r = sum_i q_if,   S2_r = sum_i q_if^2,   T_r = sum_i q_if e_i.

For a block feature j with value x = x_rj:

    w_j : sum_i h^2 = sum_r x^2 c_r (precomputed in colsq), sum_i h e = sum_r x E_r
    v_jf: h_i = x (q_if - v x), so sum_i h^2 = x^2 (S2 - 2 v x S1 + c v^2 x^2) and
          sum_i h e = x (T - v x E)

and after a draw the aggregates are updated in closed form (O(1) per block row). The residual e
and the factor sums q of the observations are brought up to date once per block (and factor),
in one pass over the observations, from the net change of the block's contribution: with
qrest_i = q_if - QB_r (the part of q not from block b, unchanged meanwhile),

    e_i -= qrest_i dQB_r + (QB_r,new^2 - QB_r,old^2)/2 - dSQ_r/2,   q_if += dQB_r

(SQ_r = sum over the block's features of v^2 x^2). A sweep costs
O(k (nnz(X_direct) + sum_b nnz(B_b) + n * blocks)); it draws the same coordinates in the same
order from the same random numbers as ``kernels.gibbs_sweep`` on the expanded X (V factor by
factor, columns in ``RelationalFMData.sweep_classes`` order), so the two agree up to rounding.

Parallel parts (exact for any number of threads): aggregates are summed over fixed slices of
the observations whose partial sums are added in slice order (``_aggregate``), the members of a
colour class of a block's columns (no block row in common: e.g. a block's one-hot ids) are
drawn at once, and the final pass over the observations writes each observation on its own.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from bayesfm._numba_cache import njit
from bayesfm.sampler._jit import kernel
from bayesfm.sampler.kernels import (
    CHUNK,
    PAR_MIN,
    STAGE_ALPHA_W0,
    STAGE_HYPER_V,
    STAGE_HYPER_W,
    STAGE_TRANSLATION,
    STAGE_V,
    STAGE_W,
    _accumulate_row,
    _alpha_and_w0,
    _factor_columns,
    _factor_hyper,
    _hyper_update,
    _linear_columns,
    _pair,
    _translation_moves,
    normal_coordinate,
)

__all__ = ["relational_recompute", "relational_sweep", "relational_predict_draws"]


@njit(cache=True)
def _observation(d_indptr, d_indices, d_data, psi, i, w, V, lin_b, sq_b, qb, qi):
    """yhat_i - w0 of observation i from its direct row and its block rows' terms; fills its
    factor sums ``qi`` (k,)."""
    qi[:] = 0.0
    lin, sq = _accumulate_row(d_indptr, d_indices, d_data, i, 0, w, V, qi)
    for b in range(psi.shape[0]):
        r = psi[b, i]
        lin += lin_b[r]
        sq += sq_b[r]
        for f in range(qi.shape[0]):
            qi[f] += qb[r, f]
    return lin + 0.5 * (_pair(qi) - sq)


@kernel(parallel=True)
def _block_row_terms(blocks, p0, w, V, lin_b, sq_b, qb):
    """Every block row's linear term, squared term and factor sums (``_accumulate_row``), block
    rows in parallel."""
    indptr, indices, data = blocks.indptr, blocks.indices, blocks.data   # (no records in prange)
    for r in prange(lin_b.shape[0]):
        qb[r, :] = 0.0
        lin_b[r], sq_b[r] = _accumulate_row(indptr, indices, data, r, p0, w, V, qb[r])


@kernel(parallel=True)
def relational_recompute(rows, y, w0, w, Vt, e, q):
    """Exact e (n,) and q (k, n) from the parameters, without expanding the blocks: every block
    row's terms once (block rows in parallel), then every observation from its direct row and
    its block rows (observations in parallel; each on its own, so exact for any thread count).
    ``rows`` is a ``records.RelationalRows``."""
    n = y.shape[0]
    k = Vt.shape[0]
    M = rows.blocks.indptr.shape[0] - 1
    V = np.ascontiguousarray(Vt.T)
    lin_b = np.empty(M)
    sq_b = np.empty(M)
    qb = np.empty((M, k))
    _block_row_terms(rows.blocks, rows.p0, w, V, lin_b, sq_b, qb)
    d_indptr, d_indices, d_data = rows.direct       # (no records in prange)
    psi = rows.psi
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        qi = np.zeros(k)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            part = _observation(d_indptr, d_indices, d_data, psi, i, w, V, lin_b, sq_b, qb, qi)
            for f in range(k):
                q[f, i] = qi[f]
            e[i] = y[i] - (w0 + part)


#: observations are split into this many fixed slices for the block-row sums; each slice sums
#: into its own partial aggregates, which are then added in slice order (exact for any number of
#: threads)
N_SLICES = 4


@kernel(parallel=True)
def _aggregate(psi_b, r0, r1, e, qf, E, S1, S2, T):
    """Block-row sums over the observations of one block: E_r = sum e_i, S1_r = sum q_i,
    S2_r = sum q_i^2, T_r = sum q_i e_i over the i with psi_b[i] = r (r0 <= r < r1). One
    streaming pass over the observations per slice, slices in parallel."""
    n = e.shape[0]
    m = r1 - r0
    part = np.zeros((N_SLICES, 4, m))
    step = (n + N_SLICES - 1) // N_SLICES
    for s in prange(N_SLICES):
        pe = part[s, 0]
        p1 = part[s, 1]
        p2 = part[s, 2]
        pt = part[s, 3]
        for i in range(s * step, min(n, (s + 1) * step)):
            r = psi_b[i] - r0
            qi = qf[i]
            ei = e[i]
            pe[r] += ei
            p1[r] += qi
            p2[r] += qi * qi
            pt[r] += qi * ei
    for r in prange(m):
        a = 0.0
        b = 0.0
        c = 0.0
        d = 0.0
        for s in range(N_SLICES):
            a += part[s, 0, r]
            b += part[s, 1, r]
            c += part[s, 2, r]
            d += part[s, 3, r]
        E[r0 + r] = a
        S1[r0 + r] = b
        S2[r0 + r] = c
        T[r0 + r] = d


@njit(cache=True)
def _draw_w_block(jb, bc_indptr, bc_indices, bc_data, p0, counts, colsq, gidx, w, alpha, mu_w,
                  lam_w, z_w, E, D):
    """Draw w_j of block column jb through the block-row sums E of the residual; records the
    change per block row in D (the residuals are shifted later)."""
    j = p0 + jb
    g = gidx[j]
    s = 0.0
    for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
        s += bc_data[idx] * E[bc_indices[idx]]
    wj = w[j]
    wn = normal_coordinate(wj, colsq[j], s, alpha, mu_w[g], lam_w[g], z_w[j])
    d = wn - wj
    if d != 0.0:
        for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
            r = bc_indices[idx]
            x = bc_data[idx]
            E[r] -= d * x * counts[r]
            D[r] += d * x
    w[j] = wn


@kernel(parallel=True)
def _linear_block(bc_indptr, bc_indices, bc_data, psi_b, r0, r1, border,
                  bcptr, c0, c1, p0, counts, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w, E, D):
    """Draw w_j for the columns of one block (block rows r0..r1-1, colour classes c0..c1-1)
    through E_r = sum of e over the block row's observations; the residual of every
    observation is shifted once at the end. Block rows, class members and observations in
    parallel (each iteration on its own data: exact for any number of threads)."""
    n = e.shape[0]
    _aggregate(psi_b, r0, r1, e, e, E, D, D, D)     # only E is needed: D is scratch here
    for r in range(r0, r1):
        D[r] = 0.0
    for c in range(c0, c1):
        a = bcptr[c]
        b = bcptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_w_block(border[t], bc_indptr, bc_indices, bc_data, p0, counts, colsq, gidx,
                              w, alpha, mu_w, lam_w, z_w, E, D)
        else:
            for t in range(a, b):
                _draw_w_block(border[t], bc_indptr, bc_indices, bc_data, p0, counts, colsq, gidx,
                              w, alpha, mu_w, lam_w, z_w, E, D)
    for i in prange(n):
        e[i] -= D[psi_b[i]]


@njit(cache=True)
def _draw_v_block(jb, bc_indptr, bc_indices, bc_data, p0, counts, gidx, vf, zf, alpha, mu_vf,
                  lam_vf, E, S1, S2, T, QB, SQ):
    """Draw v_jf (one factor) of block column jb through the block-row aggregates, updating
    them in closed form (see the module docstring)."""
    j = p0 + jb
    g = gidx[j]
    v = vf[j]
    start = bc_indptr[jb]
    stop = bc_indptr[jb + 1]
    shh = 0.0
    she = 0.0
    for idx in range(start, stop):
        r = bc_indices[idx]
        x = bc_data[idx]
        vx = v * x
        shh += x * x * (S2[r] - 2.0 * vx * S1[r] + counts[r] * vx * vx)
        she += x * (T[r] - vx * E[r])
    vn = normal_coordinate(v, shh, she, alpha, mu_vf[g], lam_vf[g], zf[j])
    d = vn - v
    if d != 0.0:
        for idx in range(start, stop):
            r = bc_indices[idx]
            x = bc_data[idx]
            c = counts[r]
            vx = v * x
            delta = d * x
            e_old = E[r]
            s1 = S1[r]
            s2 = S2[r]
            resid = s1 - c * vx              # sum_i (q_if - v x)
            E[r] = e_old - delta * resid
            T[r] = T[r] - delta * (s2 - vx * s1) + delta * e_old - delta * delta * resid
            S1[r] = s1 + c * delta
            S2[r] = s2 + 2.0 * delta * s1 + c * delta * delta
            QB[r] += delta
            vnx = vn * x
            SQ[r] += vnx * vnx - vx * vx
    vf[j] = vn


@kernel(parallel=True)
def _factor_block(bc_indptr, bc_indices, bc_data, br_indptr, br_indices, br_data, psi_b,
                  r0, r1, border, bcptr, c0, c1, p0, counts, gidx, e, qf, vf,
                  zf, alpha, mu_vf, lam_vf, E, S1, S2, T, QB, QB0, SQ):
    """Draw v_jf of one factor f for the columns of one block (block rows r0..r1-1, colour
    classes c0..c1-1) through the block-row aggregates; then update e and qf of every
    observation. Block rows, class members and observations in parallel (exact)."""
    n = e.shape[0]
    for r in prange(r0, r1):
        qb = 0.0
        for idx in range(br_indptr[r], br_indptr[r + 1]):
            qb += vf[p0 + br_indices[idx]] * br_data[idx]
        QB[r] = qb
        QB0[r] = qb
        SQ[r] = 0.0
    _aggregate(psi_b, r0, r1, e, qf, E, S1, S2, T)
    for c in range(c0, c1):
        a = bcptr[c]
        b = bcptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_v_block(border[t], bc_indptr, bc_indices, bc_data, p0, counts, gidx, vf,
                              zf, alpha, mu_vf, lam_vf, E, S1, S2, T, QB, SQ)
        else:
            for t in range(a, b):
                _draw_v_block(border[t], bc_indptr, bc_indices, bc_data, p0, counts, gidx, vf,
                              zf, alpha, mu_vf, lam_vf, E, S1, S2, T, QB, SQ)
    # bring e and q of the observations up to date (SQ holds the change of sum v^2 x^2)
    for i in prange(n):
        r = psi_b[i]
        dq = QB[r] - QB0[r]
        qrest = qf[i] - QB0[r]
        e[i] -= qrest * dq + 0.5 * (QB[r] * QB[r] - QB0[r] * QB0[r]) - 0.5 * SQ[r]
        qf[i] += dq


@kernel()
def relational_sweep(d, s, w0, alpha, pr, z, sample_alpha, stages):
    """One Gibbs sweep on relational data (``d`` a ``records.RelationalDesign``; the other
    arguments as in ``kernels.gibbs_sweep``, with ``s.q`` (k, n)); the same coordinates in the
    same order, from the same random numbers, as ``kernels.gibbs_sweep`` with ``factor_major`` on
    the expanded design in the column order of ``RelationalFMData.sweep_classes``, with the same
    result up to rounding. Returns (w0, alpha)."""
    k = s.Vt.shape[0]
    B = d.psi.shape[0]
    M = d.counts.shape[0]
    if stages & STAGE_ALPHA_W0:
        w0, alpha = _alpha_and_w0(s.e, w0, alpha, pr.a0, pr.b0, pr.m0, pr.lam0, z.z_w0,
                                  z.g_alpha, sample_alpha)
    if stages & STAGE_HYPER_W:
        _hyper_update(s.w, d.gidx, d.gsize, s.mu_w, s.lam_w, pr.c0, pr.mu0, pr.b_lam, z.g_lamw,
                      z.z_muw)
    if stages & STAGE_W:
        _linear_columns(d.indptr, d.indices, d.data, d.colsq, d.gidx, s.e, s.w, alpha, s.mu_w,
                        s.lam_w, z.z_w, d.order, d.cptr)
        E = np.zeros(M)
        D = np.zeros(M)
        for b in range(B):
            _linear_block(d.bc_indptr, d.bc_indices, d.bc_data, d.psi[b], d.roff[b],
                          d.roff[b + 1], d.border, d.bcptr, d.bcls[b], d.bcls[b + 1], d.p0,
                          d.counts, d.colsq, d.gidx, s.e, s.w, alpha, s.mu_w, s.lam_w, z.z_w, E,
                          D)
    if stages & STAGE_TRANSLATION:
        w0 = _translation_moves(d.gsum, d.gidx, s.w, s.mu_w, s.lam_w, w0, pr.lam0, pr.m0, pr.c0,
                                pr.mu0, z.z_t)
    if stages & STAGE_HYPER_V:
        _factor_hyper(s.Vt, d.gidx, d.gsize, s.mu_v, s.lam_v, pr.c0, pr.mu0, pr.b_lam, z.g_lamv,
                      z.z_muv)
    if stages & STAGE_V:
        E = np.zeros(M)
        S1 = np.zeros(M)
        S2 = np.zeros(M)
        T = np.zeros(M)
        QB = np.zeros(M)
        QB0 = np.zeros(M)
        SQ = np.zeros(M)
        for f in range(k):
            _factor_columns(d.indptr, d.indices, d.data, d.gidx, s.e, s.q[f], s.Vt[f], z.z_v[f],
                            alpha, s.mu_v[:, f], s.lam_v[:, f], d.order, d.cptr)
            for b in range(B):
                _factor_block(d.bc_indptr, d.bc_indices, d.bc_data, d.br_indptr, d.br_indices,
                              d.br_data, d.psi[b], d.roff[b], d.roff[b + 1], d.border, d.bcptr,
                              d.bcls[b], d.bcls[b + 1], d.p0, d.counts, d.gidx, s.e, s.q[f],
                              s.Vt[f], z.z_v[f], alpha, s.mu_v[:, f], s.lam_v[:, f], E, S1, S2,
                              T, QB, QB0, SQ)
    return w0, alpha


@kernel(parallel=True)
def relational_predict_draws(rows, i0, i1, w0s, ws, Vs, out):
    """FM predictions of rows i0..i1-1 of a relational design (``records.RelationalRows``) for
    every draw, without expanding it: ``out[s, i - i0]``; ``ws`` (S, p), ``Vs`` (S, p, k). Block
    rows, then chunks of rows, in parallel (each output on its own)."""
    S = w0s.shape[0]
    k = Vs.shape[2]
    M = rows.blocks.indptr.shape[0] - 1
    n = i1 - i0
    n_chunks = (n + CHUNK - 1) // CHUNK
    lin_b = np.empty(M)
    sq_b = np.empty(M)
    q_b = np.empty((M, k))
    d_indptr, d_indices, d_data = rows.direct       # (no records in prange)
    psi = rows.psi
    for s in range(S):
        _block_row_terms(rows.blocks, rows.p0, ws[s], Vs[s], lin_b, sq_b, q_b)
        for c in prange(n_chunks):
            qi = np.zeros(k)
            for i in range(i0 + c * CHUNK, min(i1, i0 + (c + 1) * CHUNK)):
                out[s, i - i0] = w0s[s] + _observation(d_indptr, d_indices, d_data, psi, i,
                                                       ws[s], Vs[s], lin_b, sq_b, q_b, qi)
