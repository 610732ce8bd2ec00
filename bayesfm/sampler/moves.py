"""Exact moves along directions the likelihood cannot see, beyond the sweep's translation moves.

**Scale moves** (``scale_moves``), for a design of exactly two groups A and B (users and items)
in which every row holds at most one column of each: then every pairwise term of a prediction
pairs a column of A with one of B, and for a factor f the map

    v_af -> c v_af (a in A),   v_bf -> v_bf / c (b in B),   c > 0,

leaves every prediction unchanged. It acts on the n_A + n_B coordinates with Jacobian
c^(n_A - n_B), and c runs over the multiplicative group, whose Haar measure is dc / c; so (Liu and
Sabatti 2000) drawing c from

    p(c) dc/c  proportional to  pi(T_c(V)) c^(n_A - n_B) dc / c

and applying T_c leaves the posterior invariant. Only the priors of the v's change with c: in
t = log c,

    log p(t) = -lam_A/2 (e^2t S2_A - 2 e^t mu_A S1_A) - lam_B/2 (e^-2t S2_B - 2 e^-t mu_B S1_B)
               + j t,     j = n_A - n_B (``conditionals.scale_log_jacobian``),

with S1, S2 the sums of v_f and v_f^2 over each group's columns (O(p) per factor). t is drawn by
``N_MH`` random-walk Metropolis steps with a fixed step ``2.4 / sqrt(2 (n_A + n_B))`` (the
curvature of log p at a typical state is about 2 (n_A + n_B)); each step is exact, so is the
move. A Gibbs chain creeps along these ridges: the split of each factor's scale between users and
items, and with it lambda_v of both groups, is set by the priors alone.

The factor sums of the changed factors are recomputed from the rows (O(nnz) per changed factor,
rows in parallel, each on its own); the residual does not change.

**Split moves** (``split_moves``), on the same designs: the scale move carried to the factor
hyperparameters of both groups. For a factor f and c = e^t > 0,

    v_af -> c v_af, mu_A -> c mu_A, lam_A -> lam_A / c^2    (a in A; mu, lam of factor f)
    v_bf -> v_bf / c, mu_B -> mu_B / c, lam_B -> lam_B c^2  (b in B)

leaves every prediction and every prior density of the v's given their hyperparameters
unchanged: lam_A (c v_a - c mu_A)^2 / c^2 = lam_A (v_a - mu_A)^2, and the normalising powers
(lam_A / c^2)^(n_A/2) cancel the Jacobian c^(n_A) of the v's (likewise for B; the Jacobians of
mu and lam cancel between the groups, and so do the powers of c of their Normal-Gamma priors).
What is left is the hyperprior of the new values, mu ~ N(mu0, 1/(c0 lam)), lam ~ Gamma(a/2,
b/2), against the Haar measure dt:

    log p(t) = -c0 lam_A/2 (mu_A - mu0 e^-t)^2 - c0 lam_B/2 (mu_B - mu0 e^t)^2
               - b/2 (lam_A e^-2t + lam_B e^2t)

(mu0 = 0: e^2t is generalised inverse Gaussian with index 0). The sweep moves lam_A and lam_B
only together with the v's, which pin each of them down within about 1/sqrt(n_A) of
n_A / sum (v_a - mu_A)^2: so their ratio, the split of the factor's scale between users and
items, is set by the hyperprior alone and a Gibbs chain creeps along it (on MovieLens ids,
lambda_v of users and of items each have R-hat 1.8 after 1300 sweeps, their product mixes).
t moves by ``N_MH`` random-walk Metropolis steps of size 2.4 / sqrt((4 b + 2 c0 mu0^2)
sqrt(lam_A lam_B)), about the curvature of log p at its mode; the product lam_A lam_B is the same
at every point of the move's orbit, so the walk is symmetric and each step exact. Then the factor
sums of the changed factors are recomputed (O(nnz)); the residual does not change.

**Magnitude moves** (``magnitude_moves``), on the same designs: v_af -> s v_af and v_bf -> s v_bf
(s > 0) for both groups scale factor f's pairwise terms P_if = q_if^A q_if^B (the row's sums of
factor f over each group's columns) by s^2, so the likelihood sees s: with r = s^2 - 1,

    log p(t) = -alpha/2 (r^2 sum_i P_if^2 - 2 r sum_i P_if e_i)
               - lam_A/2 (s^2 S2_A - 2 s mu_A S1_A) - lam_B/2 (s^2 S2_B - 2 s mu_B S1_B)
               + (n_A + n_B) t,                       t = log s,

(Jacobian s^(n_A + n_B) against the Haar measure ds/s). t moves by ``N_MH`` Metropolis-Hastings
steps whose size follows the curvature at the current state, 2.4 / sqrt(4 alpha sum P^2 +
2 (n_A + n_B)) (the proposal's asymmetry is in the acceptance ratio). Then e_i -= r P_if and
q_if *= s, O(n) per factor. This is the direction the sampler is slowest along on MovieLens ids:
the total size of the interactions, trace(V_A'V_A V_B'V_B), identified but weakly.

**Shift moves** (``shift_moves``), for every group A whose columns are one-hot with a constant
value: every row holds exactly one column of A, with value c_A (``FMData.gsum``). Then for a
k-vector s the map

    v_a -> v_a + s (a in A),   mu_v[A] -> mu_v[A] + s,   w_j -> w_j - c_A <s, v_j> (j not in A)

leaves every prediction unchanged (the row's pairs with its A column gain c_A x_ij <s, v_j>,
which its linear terms lose) and the prior of the v_a given mu_v[A] too. It is a translation
(Jacobian 1, Haar measure ds), so s is drawn from its conditional, Gaussian from the priors of
mu_v[A] and of the moved w_j alone:

    precision  P = diag(c0 lam_v[A]) + c_A^2 sum_{j not in A} lam_w[g_j] v_j v_j'
    P m = -c0 lam_v[A] * (mu_v[A] - mu0) + c_A sum_{j not in A} lam_w[g_j] (w_j - mu_w[g_j]) v_j

(O(p k^2 + k^3) per group), and q_i += c_A s on every row. This is the exchange between the
linear and the pairwise part of a prediction: a common component of the users' vectors acts on
every item as a linear weight; without the move the Gibbs chain trades one for the other
slowly (on MovieLens ids the linear part w0 + w_u + w_i of the slowest rows has a bulk ESS of
15-90 in 3600 draws while w0, w_u and w_i each have 600-3400).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from bayesfm._numba_cache import njit
from bayesfm.sampler._jit import kernel
from bayesfm.sampler.smallalg import gaussian_draw

__all__ = ["scale_moves", "split_moves", "magnitude_moves", "shift_moves", "shift_factor_sums",
           "N_MH"]

#: Metropolis steps per factor and sweep
N_MH = 4


@njit(cache=True)
def _log_p(t, s1a, s2a, s1b, s2b, mua, lama, mub, lamb, jac):
    c = math.exp(t)
    return (-0.5 * lama * (c * c * s2a - 2.0 * c * mua * s1a)
            - 0.5 * lamb * (s2b / (c * c) - 2.0 * mub * s1b / c) + jac * t)


@njit(cache=True)
def _group_sums(vf, gidx, a, b):
    s1a = s2a = s1b = s2b = 0.0
    for j in range(vf.shape[0]):
        v = vf[j]
        if gidx[j] == a:
            s1a += v
            s2a += v * v
        elif gidx[j] == b:
            s1b += v
            s2b += v * v
    return s1a, s2a, s1b, s2b


@njit(cache=True)
def _scale_between(vf, gidx, a, b, c):
    """v_af *= c for the columns of group a, v_bf /= c for those of group b (in place)."""
    for j in range(vf.shape[0]):
        if gidx[j] == a:
            vf[j] *= c
        elif gidx[j] == b:
            vf[j] /= c


@kernel(parallel=True)
def _rescale_sums(indptr, indices, data, Vt, Q, changed):
    """Q[i, f] = sum_j v_jf x_ij for the factors f with ``changed[f]``, rows in parallel."""
    k = Vt.shape[0]
    for i in prange(Q.shape[0]):
        for f in range(k):
            if changed[f]:
                q = 0.0
                for idx in range(indptr[i], indptr[i + 1]):
                    q += Vt[f, indices[idx]] * data[idx]
                Q[i, f] = q


@kernel()
def scale_moves(rows, Vt, gidx, a, b, mu_v, lam_v, jac, step, z, u, Q):
    """One scale move per factor (module docstring), in place; returns the number of factors
    moved. ``rows`` the design row-major (``records.CSR``), ``Vt`` (k, p), ``gidx`` (p,), ``a``,
    ``b`` the two groups, ``mu_v``, ``lam_v`` (G, k), ``jac`` the Jacobian power, ``step`` the
    random-walk step in log c, ``z`` (k, N_MH) standard normals, ``u`` (k, N_MH) uniforms,
    ``Q`` (n, k) the factor sums (updated)."""
    k = Vt.shape[0]
    changed = np.zeros(k, dtype=np.bool_)
    n_moved = 0
    for f in range(k):
        s1a, s2a, s1b, s2b = _group_sums(Vt[f], gidx, a, b)
        mua, lama, mub, lamb = mu_v[a, f], lam_v[a, f], mu_v[b, f], lam_v[b, f]
        t = 0.0
        lp = _log_p(t, s1a, s2a, s1b, s2b, mua, lama, mub, lamb, jac)
        for m in range(z.shape[1]):
            tn = t + step * z[f, m]
            lpn = _log_p(tn, s1a, s2a, s1b, s2b, mua, lama, mub, lamb, jac)
            if math.log(u[f, m]) < lpn - lp:
                t, lp = tn, lpn
        if t != 0.0:
            c = math.exp(t)
            _scale_between(Vt[f], gidx, a, b, c)
            changed[f] = True
            n_moved += 1
    if n_moved:
        _rescale_sums(rows.indptr, rows.indices, rows.data, Vt, Q, changed)
    return n_moved


@njit(cache=True)
def _split_log_p(t, mua, lama, mub, lamb, c0, mu0, b):
    ct, cb = math.exp(-t), math.exp(t)
    da, db = mua - mu0 * ct, mub - mu0 * cb
    return (-0.5 * c0 * (lama * da * da + lamb * db * db)
            - 0.5 * b * (lama * ct * ct + lamb * cb * cb))


@kernel()
def split_moves(rows, Vt, gidx, a, b, mu_v, lam_v, c0, mu0, b_lambda, z, u, Q):
    """One split move per factor (module docstring), in place; returns the number of factors
    moved. ``rows`` the design row-major (``records.CSR``), ``Vt`` (k, p), ``gidx`` (p,), ``a``,
    ``b`` the two groups, ``mu_v``, ``lam_v`` (G, k) (updated), ``c0``, ``mu0``, ``b_lambda``
    the hyperprior's constants, ``z`` (k, N_MH) standard normals, ``u`` (k, N_MH) uniforms,
    ``Q`` (n, k) the factor sums (updated)."""
    k = Vt.shape[0]
    changed = np.zeros(k, dtype=np.bool_)
    n_moved = 0
    for f in range(k):
        mua, lama, mub, lamb = mu_v[a, f], lam_v[a, f], mu_v[b, f], lam_v[b, f]
        step = 2.4 / math.sqrt((4.0 * b_lambda + 2.0 * c0 * mu0 * mu0) * math.sqrt(lama * lamb))
        t = 0.0
        lp = _split_log_p(t, mua, lama, mub, lamb, c0, mu0, b_lambda)
        for m in range(z.shape[1]):
            tn = t + step * z[f, m]
            lpn = _split_log_p(tn, mua, lama, mub, lamb, c0, mu0, b_lambda)
            if math.log(u[f, m]) < lpn - lp:
                t, lp = tn, lpn
        if t != 0.0:
            c = math.exp(t)
            _scale_between(Vt[f], gidx, a, b, c)
            mu_v[a, f] = mua * c
            mu_v[b, f] = mub / c
            lam_v[a, f] = lama / (c * c)
            lam_v[b, f] = lamb * (c * c)
            changed[f] = True
            n_moved += 1
    if n_moved:
        _rescale_sums(rows.indptr, rows.indices, rows.data, Vt, Q, changed)
    return n_moved


@njit(cache=True)
def _magnitude_log_p(t, spp, spe, alpha, s1a, s2a, s1b, s2b, mua, lama, mub, lamb, jac):
    s = math.exp(t)
    r = s * s - 1.0
    return (-0.5 * alpha * (r * r * spp - 2.0 * r * spe)
            - 0.5 * lama * (s * s * s2a - 2.0 * s * mua * s1a)
            - 0.5 * lamb * (s * s * s2b - 2.0 * s * mub * s1b) + jac * t)


@njit(cache=True)
def _magnitude_step(spp, alpha, n_ab):
    return 2.4 / math.sqrt(4.0 * alpha * spp + 2.0 * n_ab)


@kernel()
def magnitude_moves(rows, Vt, gidx, a, b, mu_v, lam_v, alpha, jac, n_ab, z, u, e, Q):
    """One magnitude move per factor (module docstring), in place; returns the number of factors
    moved. ``rows`` the design row-major (``records.CSR``), ``Vt`` (k, p), ``gidx`` (p,), ``a``,
    ``b`` the two groups, ``mu_v``, ``lam_v`` (G, k), ``alpha`` the noise precision, ``jac`` the
    Jacobian power, ``n_ab`` = n_A + n_B, ``z`` (k, N_MH) standard normals, ``u`` (k, N_MH)
    uniforms, ``e`` (n,) the residual and ``Q`` (n, k) the factor sums (both updated)."""
    k = Vt.shape[0]
    n = e.shape[0]
    P = np.empty(n)
    n_moved = 0
    for f in range(k):
        vf = Vt[f]
        spp = spe = 0.0
        for i in range(n):
            qa = qb = 0.0
            for idx in range(rows.indptr[i], rows.indptr[i + 1]):
                j = rows.indices[idx]
                if gidx[j] == a:
                    qa += vf[j] * rows.data[idx]
                elif gidx[j] == b:
                    qb += vf[j] * rows.data[idx]
            P[i] = qa * qb
            spp += P[i] * P[i]
            spe += P[i] * e[i]
        s1a, s2a, s1b, s2b = _group_sums(vf, gidx, a, b)
        mua, lama, mub, lamb = mu_v[a, f], lam_v[a, f], mu_v[b, f], lam_v[b, f]
        t = 0.0
        lp = _magnitude_log_p(t, spp, spe, alpha, s1a, s2a, s1b, s2b, mua, lama, mub, lamb,
                              jac)
        for m in range(z.shape[1]):
            # the state after moving by t has sum P^2 = e^(4t) spp: the step follows it
            sd = _magnitude_step(math.exp(4.0 * t) * spp, alpha, n_ab)
            tn = t + sd * z[f, m]
            sd_back = _magnitude_step(math.exp(4.0 * tn) * spp, alpha, n_ab)
            lpn = _magnitude_log_p(tn, spp, spe, alpha, s1a, s2a, s1b, s2b, mua, lama, mub,
                                   lamb, jac)
            d = tn - t
            log_q = (-0.5 * d * d / (sd_back * sd_back) - math.log(sd_back)
                     + 0.5 * d * d / (sd * sd) + math.log(sd))
            if math.log(u[f, m]) < lpn - lp + log_q:
                t, lp = tn, lpn
        if t != 0.0:
            s = math.exp(t)
            r = s * s - 1.0
            for j in range(vf.shape[0]):
                if gidx[j] == a or gidx[j] == b:
                    vf[j] *= s
            for i in range(n):
                e[i] -= r * P[i]
                Q[i, f] *= s
            n_moved += 1
    return n_moved


@njit(cache=True)
def shift_moves(Vt, w, gidx, groups, cvals, mu_v, lam_v, mu_w, lam_w, c0, mu0, z, S):
    """One shift move for each group ``groups[m]`` (of constant value ``cvals[m]``), in turn
    (module docstring), in place. ``Vt`` (k, p), ``w`` (p,), ``gidx`` (p,), ``mu_v``, ``lam_v``
    (G, k), ``mu_w``, ``lam_w`` (G,), ``c0``, ``mu0`` the prior constants, ``z`` (len(groups),
    k) standard normals. Every row's factor sums move by the same c_m s_m for group m (the
    residual does not change): ``S`` (len(groups), k) receives them, for the caller to add to
    the factor sums (``shift_factor_sums``). Sums in index order: the same bits on any thread
    count."""
    k, p = Vt.shape
    P = np.empty((k, k))
    rhs = np.empty(k)
    u = np.empty(k)
    sv = np.empty(k)
    for m in range(groups.shape[0]):
        a = groups[m]
        c = cvals[m]
        for f in range(k):
            for t in range(k):
                P[f, t] = 0.0
            rhs[f] = 0.0
        for j in range(p):
            g = gidx[j]
            if g == a:
                continue
            lw = lam_w[g]
            dw = w[j] - mu_w[g]
            for f in range(k):
                vf = Vt[f, j]
                rhs[f] += lw * dw * vf
                for t in range(f + 1):
                    P[f, t] += lw * vf * Vt[t, j]
        for f in range(k):
            rhs[f] = c * rhs[f] - c0 * lam_v[a, f] * (mu_v[a, f] - mu0)
            for t in range(f + 1):
                P[f, t] *= c * c
            P[f, f] += c0 * lam_v[a, f]
        gaussian_draw(P, rhs, z[m], u, sv)
        for j in range(p):
            if gidx[j] == a:
                for f in range(k):
                    Vt[f, j] += sv[f]
            else:
                x = 0.0
                for f in range(k):
                    x += sv[f] * Vt[f, j]
                w[j] -= c * x
        for f in range(k):
            mu_v[a, f] += sv[f]
            S[m, f] = c * sv[f]


@kernel(parallel=True)
def shift_factor_sums(Q, S):
    """Q[i, f] += S[m, f] for the groups m in turn (``shift_moves``): the additions the moves
    make, in their order, rows in parallel (each on its own: the same bits on any thread
    count). ``Q`` (n, k) the factor sums, ``S`` (M, k)."""
    for i in prange(Q.shape[0]):
        for m in range(S.shape[0]):
            for f in range(Q.shape[1]):
                Q[i, f] += S[m, f]
