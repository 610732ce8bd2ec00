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
order from the same random numbers as ``kernels.gibbs_sweep`` on the expanded X, so the two
agree up to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bayesfm.sampler.kernels import (_accumulate_row, _alpha_and_w0, _factor_columns,
                                     _hyper_update, _linear_columns, _translation_moves)

__all__ = ["relational_recompute", "relational_sweep"]


@njit(cache=True)
def relational_recompute(indptr, indices, data, bc_indptr, bc_indices, bc_data, psi, p0,
                         counts, y, w0, w, Vt, e, q):
    """Exact e (n,) and q (k, n) from the parameters, without expanding the blocks."""
    n = y.shape[0]
    k = Vt.shape[0]
    M = counts.shape[0]
    B = psi.shape[0]
    base = np.zeros(n)
    # direct columns, scattered over rows
    for j in range(p0):
        wj = w[j]
        vv = 0.0
        for f in range(k):
            vv += Vt[f, j] * Vt[f, j]
        for idx in range(indptr[j], indptr[j + 1]):
            x = data[idx]
            base[indices[idx]] += wj * x - 0.5 * vv * x * x
    # block columns, scattered over block rows
    lin_b = np.zeros(M)
    qb = np.zeros((k, M))
    for jb in range(bc_indptr.shape[0] - 1):
        j = p0 + jb
        wj = w[j]
        vv = 0.0
        for f in range(k):
            vv += Vt[f, j] * Vt[f, j]
        for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
            r = bc_indices[idx]
            x = bc_data[idx]
            lin_b[r] += wj * x - 0.5 * vv * x * x
            for f in range(k):
                qb[f, r] += Vt[f, j] * x
    for i in range(n):
        for b in range(B):
            base[i] += lin_b[psi[b, i]]
    for f in range(k):
        qf = q[f]
        qf[:] = 0.0
        for j in range(p0):
            v = Vt[f, j]
            if v == 0.0:
                continue
            for idx in range(indptr[j], indptr[j + 1]):
                qf[indices[idx]] += v * data[idx]
        for i in range(n):
            for b in range(B):
                qf[i] += qb[f, psi[b, i]]
            base[i] += 0.5 * qf[i] * qf[i]
    for i in range(n):
        e[i] = y[i] - (w0 + base[i])


@njit(cache=True)
def _linear_block(bc_indptr, bc_indices, bc_data, psi_b, r0, r1, f0, f1, p0, counts, colsq,
                  gidx, e, w, alpha, mu_w, lam_w, z_w, E, D):
    """Draw w_j for the columns of one block through E_r = sum of e over the block row's
    observations; the residual of every observation is shifted once at the end."""
    n = e.shape[0]
    for r in range(r0, r1):
        E[r] = 0.0
        D[r] = 0.0
    for i in range(n):
        E[psi_b[i]] += e[i]
    for jb in range(f0, f1):
        j = p0 + jb
        g = gidx[j]
        s = 0.0
        for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
            s += bc_data[idx] * E[bc_indices[idx]]
        wj = w[j]
        prec = alpha * colsq[j] + lam_w[g]
        mean = (alpha * (s + wj * colsq[j]) + lam_w[g] * mu_w[g]) / prec
        wn = mean + z_w[j] / np.sqrt(prec)
        d = wn - wj
        if d != 0.0:
            for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
                r = bc_indices[idx]
                x = bc_data[idx]
                E[r] -= d * x * counts[r]
                D[r] += d * x
        w[j] = wn
    for i in range(n):
        e[i] -= D[psi_b[i]]


@njit(cache=True)
def _factor_block(bc_indptr, bc_indices, bc_data, psi_b, r0, r1, f0, f1, p0, counts, gidx,
                  e, qf, vf, zf, alpha, mu_vf, lam_vf, E, S1, S2, T, QB, QB0, SQ):
    """Draw v_jf of one factor f for the columns of one block (block rows r0..r1-1, block
    features f0..f1-1), through the block-row aggregates; then update e and qf of every row."""
    n = e.shape[0]
    for r in range(r0, r1):
        E[r] = 0.0
        S1[r] = 0.0
        S2[r] = 0.0
        T[r] = 0.0
        QB[r] = 0.0
        SQ[r] = 0.0
    for jb in range(f0, f1):
        v = vf[p0 + jb]
        if v == 0.0:
            continue
        for idx in range(bc_indptr[jb], bc_indptr[jb + 1]):
            QB[bc_indices[idx]] += v * bc_data[idx]
    for r in range(r0, r1):
        QB0[r] = QB[r]
    for i in range(n):
        r = psi_b[i]
        qi = qf[i]
        ei = e[i]
        E[r] += ei
        S1[r] += qi
        S2[r] += qi * qi
        T[r] += qi * ei
    for jb in range(f0, f1):
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
        lam = lam_vf[g]
        prec = alpha * shh + lam
        mean = (alpha * (she + v * shh) + lam * mu_vf[g]) / prec
        vn = mean + zf[j] / np.sqrt(prec)
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
    # bring e and q of the observations up to date (SQ holds the change of sum v^2 x^2)
    for i in range(n):
        r = psi_b[i]
        dq = QB[r] - QB0[r]
        qrest = qf[i] - QB0[r]
        e[i] -= qrest * dq + 0.5 * (QB[r] * QB[r] - QB0[r] * QB0[r]) - 0.5 * SQ[r]
        qf[i] += dq


@njit(cache=True)
def relational_sweep(
    indptr, indices, data, bc_indptr, bc_indices, bc_data, psi, roff, foff, counts, p0,
    colsq, gidx, gsize, gsum,
    e, q, w0, w, Vt, alpha, mu_w, lam_w, mu_v, lam_v,
    a0, b0, b_lam, c0, mu0, m0, lam0,
    z_w0, z_w, z_v, z_muw, z_muv, z_t, g_alpha, g_lamw, g_lamv,
    sample_alpha, sample_hyper,
):
    """One Gibbs sweep on relational data; same arguments, order and result as
    ``kernels.gibbs_sweep`` on the expanded design (up to rounding). Returns (w0, alpha)."""
    k = Vt.shape[0]
    B = psi.shape[0]
    M = counts.shape[0]
    w0, alpha = _alpha_and_w0(e, w0, alpha, a0, b0, m0, lam0, z_w0, g_alpha, sample_alpha)
    if sample_hyper:
        _hyper_update(w, gidx, gsize, mu_w, lam_w, c0, mu0, b_lam, g_lamw, z_muw)
    _linear_columns(indptr, indices, data, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w, 0, p0)
    E = np.zeros(M)
    D = np.zeros(M)
    for b in range(B):
        _linear_block(bc_indptr, bc_indices, bc_data, psi[b], roff[b], roff[b + 1], foff[b],
                      foff[b + 1], p0, counts, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w, E, D)
    if sample_hyper:
        w0 = _translation_moves(gsum, gidx, w, mu_w, lam_w, w0, lam0, m0, c0, mu0, z_t)
        for f in range(k):
            _hyper_update(Vt[f], gidx, gsize, mu_v[:, f], lam_v[:, f], c0, mu0, b_lam,
                          g_lamv[f], z_muv[f])
    S1 = np.zeros(M)
    S2 = np.zeros(M)
    T = np.zeros(M)
    QB = np.zeros(M)
    QB0 = np.zeros(M)
    SQ = np.zeros(M)
    for f in range(k):
        _factor_columns(indptr, indices, data, gidx, e, q[f], Vt[f], z_v[f], alpha,
                        mu_v[:, f], lam_v[:, f], 0, p0)
        for b in range(B):
            _factor_block(bc_indptr, bc_indices, bc_data, psi[b], roff[b], roff[b + 1],
                          foff[b], foff[b + 1], p0, counts, gidx, e, q[f], Vt[f], z_v[f],
                          alpha, mu_v[:, f], lam_v[:, f], E, S1, S2, T, QB, QB0, SQ)
    return w0, alpha


@njit(cache=True)
def relational_predict_draws(d_indptr, d_indices, d_data, br_indptr, br_indices, br_data,
                             psi, p0, i0, i1, w0s, ws, Vs, out):
    """FM predictions of rows i0..i1-1 of a relational design for every draw, without
    expanding it: ``out[s, i - i0]``. Direct part as CSR (``d_*``), blocks stacked as CSR
    (``br_*``, block-feature indices), ``psi`` (B, n) global block rows; ``ws`` (S, p),
    ``Vs`` (S, p, k)."""
    S = w0s.shape[0]
    k = Vs.shape[2]
    M = br_indptr.shape[0] - 1
    B = psi.shape[0]
    lin_b = np.zeros(M)
    sq_b = np.zeros(M)
    q_b = np.zeros((M, k))
    qi = np.zeros(k)
    for s in range(S):
        for r in range(M):
            q_b[r, :] = 0.0
            lin_b[r], sq_b[r] = _accumulate_row(br_indptr, br_indices, br_data, r, p0, ws[s],
                                                Vs[s], q_b[r])
        for i in range(i0, i1):
            qi[:] = 0.0
            lin, sq = _accumulate_row(d_indptr, d_indices, d_data, i, 0, ws[s], Vs[s], qi)
            for b in range(B):
                r = psi[b, i]
                lin += lin_b[r]
                sq += sq_b[r]
                for f in range(k):
                    qi[f] += q_b[r, f]
            pair = 0.0
            for f in range(k):
                pair += qi[f] * qi[f]
            out[s, i - i0] = w0s[s] + lin + 0.5 * (pair - sq)
