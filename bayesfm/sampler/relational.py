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

Memory traffic: a block's draws read and write the aggregates of its rows, kept as the columns
of one (M, 8) array so that one cache line holds all of a row's (``N_AGG``); the pass that sums
them over the observations also writes the previous block's draws back to e and q (one pass per
block and factor, plus one for the last block); every block row's factor sums are computed
once per sweep (``_block_factor_sums``), not once per factor.

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

#: the block-row aggregates of a sweep are the columns of one (M, N_AGG) array, so that every
#: value a column's draw reads or writes for a block row sits in one cache line: E, S1, S2, T
#: (sums over the row's observations, module docstring), QB (the block's factor sum of the row),
#: SQ (the change of its sum of v^2 x^2), C (observations using the row), QB0 (QB before the
#: block's draws). The linear draws use E, and QB as the change D of the row's linear term.
A_E, A_S1, A_S2, A_T, A_QB, A_SQ, A_C, A_QB0 = range(8)
N_AGG = 8


@njit(cache=True)
def _write_back(a, i, e, qf):
    """Bring e_i and q_if of observation i up to date from its block row's aggregates ``a``
    (the net change QB - QB0 of the block's factor sum and SQ, that of its sum of v^2 x^2)."""
    qb0 = a[A_QB0]
    qb = a[A_QB]
    dq = qb - qb0
    qrest = qf[i] - qb0
    e[i] -= qrest * dq + 0.5 * (qb * qb - qb0 * qb0) - 0.5 * a[A_SQ]
    qf[i] += dq


@kernel(parallel=True)
def _aggregate(psi_b, r0, r1, e, qf, A, psi_w):
    """Block-row sums over the observations of one block: A[r, A_E] = sum e_i,
    A[r, A_S1] = sum q_i, A[r, A_S2] = sum q_i^2, A[r, A_T] = sum q_i e_i over the i with
    psi_b[i] = r (r0 <= r < r1). One streaming pass over the observations per slice, slices in
    parallel. With ``psi_w`` (n,) (an empty array: none), the same pass first writes the draws
    of another block (rows psi_w) back to e and qf (``_write_back``): the fused "write back
    one block, sum the next" pass."""
    n = e.shape[0]
    m = r1 - r0
    write_back = psi_w.shape[0] == n
    part = np.zeros((N_SLICES, m, 4))
    step = (n + N_SLICES - 1) // N_SLICES
    for s in prange(N_SLICES):
        ps = part[s]
        # the row's four sums are carried in registers while consecutive observations share
        # it (the same additions in the same order as adding to ps each time)
        r = -1
        se = 0.0
        s1 = 0.0
        s2 = 0.0
        st = 0.0
        for i in range(s * step, min(n, (s + 1) * step)):
            if write_back:
                _write_back(A[psi_w[i]], i, e, qf)
            ri = psi_b[i] - r0
            if ri != r:
                if r >= 0:
                    ps[r, 0] = se
                    ps[r, 1] = s1
                    ps[r, 2] = s2
                    ps[r, 3] = st
                r = ri
                se = ps[r, 0]
                s1 = ps[r, 1]
                s2 = ps[r, 2]
                st = ps[r, 3]
            qi = qf[i]
            ei = e[i]
            se += ei
            s1 += qi
            s2 += qi * qi
            st += qi * ei
        if r >= 0:
            ps[r, 0] = se
            ps[r, 1] = s1
            ps[r, 2] = s2
            ps[r, 3] = st
    for r in prange(m):
        a = 0.0
        b = 0.0
        c = 0.0
        d = 0.0
        for s in range(N_SLICES):
            a += part[s, r, 0]
            b += part[s, r, 1]
            c += part[s, r, 2]
            d += part[s, r, 3]
        A[r0 + r, A_E] = a
        A[r0 + r, A_S1] = b
        A[r0 + r, A_S2] = c
        A[r0 + r, A_T] = d


@njit(cache=True)
def _draw_w_block(jb, bc_indptr, bc_indices, bc_data, p0, colsq, gidx, w, alpha, mu_w,
                  lam_w, z_w, A):
    """Draw w_j of block column jb through the block-row sums A[:, A_E] of the residual; records
    the change per block row in A[:, A_QB] (the residuals are shifted later)."""
    j = p0 + jb
    g = gidx[j]
    s = 0.0
    for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
        s += bc_data[idx] * A[bc_indices[idx], A_E]
    wj = w[j]
    wn = normal_coordinate(wj, colsq[j], s, alpha, mu_w[g], lam_w[g], z_w[j])
    d = wn - wj
    if d != 0.0:
        for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
            a = A[bc_indices[idx]]
            x = bc_data[idx]
            a[A_E] -= d * x * a[A_C]
            a[A_QB] += d * x
    w[j] = wn


@kernel(parallel=True)
def _linear_block(bc_indptr, bc_indices, bc_data, psi_b, r0, r1, border,
                  bcptr, c0, c1, p0, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w, A):
    """Draw w_j for the columns of one block (block rows r0..r1-1, colour classes c0..c1-1)
    through E_r = sum of e over the block row's observations; the residual of every
    observation is shifted once at the end. Block rows, class members and observations in
    parallel (each iteration on its own data: exact for any number of threads)."""
    n = e.shape[0]
    _aggregate(psi_b, r0, r1, e, e, A, psi_b[:0])     # only E is needed
    for r in range(r0, r1):
        A[r, A_QB] = 0.0
    for c in range(c0, c1):
        a = bcptr[c]
        b = bcptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_w_block(border[t], bc_indptr, bc_indices, bc_data, p0, colsq, gidx,
                              w, alpha, mu_w, lam_w, z_w, A)
        else:
            for t in range(a, b):
                _draw_w_block(border[t], bc_indptr, bc_indices, bc_data, p0, colsq, gidx,
                              w, alpha, mu_w, lam_w, z_w, A)
    for i in prange(n):
        e[i] -= A[psi_b[i], A_QB]


@njit(cache=True)
def _draw_v_block(jb, bc_indptr, bc_indices, bc_data, p0, gidx, vf, zf, alpha, mu_vf,
                  lam_vf, A):
    """Draw v_jf (one factor) of block column jb through the block-row aggregates A, updating
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
        shh += x * x * (A[r, A_S2] - 2.0 * vx * A[r, A_S1] + A[r, A_C] * vx * vx)
        she += x * (A[r, A_T] - vx * A[r, A_E])
    vn = normal_coordinate(v, shh, she, alpha, mu_vf[g], lam_vf[g], zf[j])
    d = vn - v
    if d != 0.0:
        for idx in range(start, stop):
            r = bc_indices[idx]
            x = bc_data[idx]
            c = A[r, A_C]
            vx = v * x
            delta = d * x
            e_old = A[r, A_E]
            s1 = A[r, A_S1]
            s2 = A[r, A_S2]
            resid = s1 - c * vx              # sum_i (q_if - v x)
            A[r, A_E] = e_old - delta * resid
            A[r, A_T] = A[r, A_T] - delta * (s2 - vx * s1) + delta * e_old - delta * delta * resid
            A[r, A_S1] = s1 + c * delta
            A[r, A_S2] = s2 + 2.0 * delta * s1 + c * delta * delta
            A[r, A_QB] += delta
            vnx = vn * x
            A[r, A_SQ] += vnx * vnx - vx * vx
    vf[j] = vn


@kernel(parallel=True)
def _block_factor_sums(br_indptr, br_indices, br_data, p0, Vt, QB):
    """QB[r, f] = sum_j v_jf x_rj over block row r's features, every block row and factor
    (block rows in parallel; the sum for each factor in the row's order, as one factor at a
    time would make it)."""
    k = Vt.shape[0]
    for r in prange(QB.shape[0]):
        for f in range(k):
            QB[r, f] = 0.0
        for idx in range(br_indptr[r], br_indptr[r + 1]):
            j = p0 + br_indices[idx]
            x = br_data[idx]
            for f in range(k):
                QB[r, f] += Vt[f, j] * x


@kernel(parallel=True)
def _factor_block(bc_indptr, bc_indices, bc_data, QBf, psi_b, r0, r1, border, bcptr, c0, c1,
                  p0, gidx, e, qf, vf, zf, alpha, mu_vf, lam_vf, A, psi_w):
    """Draw v_jf of one factor f for the columns of one block (block rows r0..r1-1, colour
    classes c0..c1-1) through the block-row aggregates A, summed over the observations in the
    same pass that writes the previous block's draws back (``psi_w``: its rows; empty for
    none). ``QBf`` (M,): the block rows' factor sums before the draws. The caller writes this
    block's draws back to e and qf (``_write_back``). Block rows, class members and
    observations in parallel (exact)."""
    for r in prange(r0, r1):
        A[r, A_QB] = QBf[r]
        A[r, A_QB0] = QBf[r]
        A[r, A_SQ] = 0.0
    _aggregate(psi_b, r0, r1, e, qf, A, psi_w)
    for c in range(c0, c1):
        a = bcptr[c]
        b = bcptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_v_block(border[t], bc_indptr, bc_indices, bc_data, p0, gidx, vf,
                              zf, alpha, mu_vf, lam_vf, A)
        else:
            for t in range(a, b):
                _draw_v_block(border[t], bc_indptr, bc_indices, bc_data, p0, gidx, vf,
                              zf, alpha, mu_vf, lam_vf, A)


@kernel(parallel=True)
def _write_back_block(psi_b, A, e, qf):
    """Write the draws of one block back to e and qf of every observation (in parallel)."""
    for i in prange(e.shape[0]):
        _write_back(A[psi_b[i]], i, e, qf)


@njit(cache=True)
def _aggregates(counts):
    """A fresh (M, N_AGG) aggregate array with every block row's observation count in A_C."""
    A = np.zeros((counts.shape[0], N_AGG))
    A[:, A_C] = counts
    return A


@kernel()
def relational_sweep(d, s, w0, alpha, pr, z, sample_alpha, stages):
    """One Gibbs sweep on relational data (``d`` a ``records.RelationalDesign``; the other
    arguments as in ``kernels.gibbs_sweep``, with ``s.q`` (k, n)); the same coordinates in the
    same order, from the same random numbers, as ``kernels.gibbs_sweep`` with ``factor_major`` on
    the expanded design in the column order of ``RelationalFMData.sweep_classes``, with the same
    result up to rounding. Returns (w0, alpha)."""
    k = s.Vt.shape[0]
    B = d.psi.shape[0]
    if stages & STAGE_ALPHA_W0:
        w0, alpha = _alpha_and_w0(s.e, w0, alpha, pr.a0, pr.b0, pr.m0, pr.lam0, z.z_w0,
                                  z.g_alpha, sample_alpha)
    if stages & STAGE_HYPER_W:
        _hyper_update(s.w, d.gidx, d.gsize, s.mu_w, s.lam_w, pr.c0, pr.mu0, pr.b_lam, z.g_lamw,
                      z.z_muw)
    if stages & STAGE_W:
        _linear_columns(d.indptr, d.indices, d.data, d.colsq, d.gidx, s.e, s.w, alpha, s.mu_w,
                        s.lam_w, z.z_w, d.order, d.cptr)
        A = _aggregates(d.counts)
        for b in range(B):
            _linear_block(d.bc_indptr, d.bc_indices, d.bc_data, d.psi[b], d.roff[b],
                          d.roff[b + 1], d.border, d.bcptr, d.bcls[b], d.bcls[b + 1], d.p0,
                          d.colsq, d.gidx, s.e, s.w, alpha, s.mu_w, s.lam_w, z.z_w, A)
    if stages & STAGE_TRANSLATION:
        w0 = _translation_moves(d.gsum, d.gidx, s.w, s.mu_w, s.lam_w, w0, pr.lam0, pr.m0, pr.c0,
                                pr.mu0, z.z_t)
    if stages & STAGE_HYPER_V:
        _factor_hyper(s.Vt, d.gidx, d.gsize, s.mu_v, s.lam_v, pr.c0, pr.mu0, pr.b_lam, z.g_lamv,
                      z.z_muv)
    if stages & STAGE_V:
        A = _aggregates(d.counts)
        # every block row's factor sums, once: v_.f of the block columns changes only when
        # factor f's blocks are drawn
        QB = np.empty((d.counts.shape[0], k))
        _block_factor_sums(d.br_indptr, d.br_indices, d.br_data, d.p0, s.Vt, QB)
        QBt = np.ascontiguousarray(QB.T)
        for f in range(k):
            _factor_columns(d.indptr, d.indices, d.data, d.gidx, s.e, s.q[f], s.Vt[f], z.z_v[f],
                            alpha, s.mu_v[:, f], s.lam_v[:, f], d.order, d.cptr)
            for b in range(B):
                psi_w = d.psi[b - 1] if b > 0 else d.psi[b, :0]
                _factor_block(d.bc_indptr, d.bc_indices, d.bc_data, QBt[f], d.psi[b], d.roff[b],
                              d.roff[b + 1], d.border, d.bcptr, d.bcls[b], d.bcls[b + 1], d.p0,
                              d.gidx, s.e, s.q[f], s.Vt[f], z.z_v[f], alpha, s.mu_v[:, f],
                              s.lam_v[:, f], A, psi_w)
            _write_back_block(d.psi[B - 1], A, s.e, s.q[f])
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
