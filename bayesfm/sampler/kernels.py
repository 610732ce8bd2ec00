"""Numba kernels of the Gibbs sampler for Bayesian Factorization Machines.

Every function here is a small function over NumPy arrays and scalars: no Python objects, no
globals, no randomness of its own. The random numbers a sweep needs (standard normals and
standard gammas) are drawn beforehand by the driver from a ``numpy.random.Generator`` and passed
in, so a kernel is a deterministic function of its inputs and the same seed gives the same draws,
bit for bit.

Conventions (see ``docs/model.md`` and the reference notes for the full conditionals):

* ``X`` is given column-major (CSC) to the sweep: ``indptr`` (p + 1,), ``indices`` (nnz,),
  ``data`` (nnz,), without duplicate entries; and row-major (CSR) to ``recompute_cache``.
  ``colsq[j]`` is ``sum_i x_ij**2``.
* ``gidx`` (p,) is the hyperprior group of each feature, ``gsize`` (G,) the number of features of
  each group.
* ``Vt`` (k, p) holds the latent factors factor-major (``Vt[f, j] = v_jf``).
* ``e`` (n,) is the residual ``y - yhat`` and ``Q`` (n, k) the per-factor sums
  ``Q[i, f] = sum_j v_jf x_ij`` (row-major: a row's k sums share cache lines); the sweep keeps
  both up to date after every single draw. (The relational sweep keeps them factor-major,
  ``q`` (k, n): see ``sampler.relational``.)
* Gamma variates are parametrised by shape and rate: ``Gamma(a, b) = StandardGamma(a) / b``.
* ``order`` (p,) and ``cptr`` (C + 1,) are the colour classes of ``sampler.colouring``: columns
  sharing no row, whose coefficients are drawn in parallel (``prange``) when the class is large.
* The top-level kernels take the records of ``sampler.records`` (design, parameters, prior
  constants, noise); the small helpers take arrays. A ``prange`` body never reads a record's
  field (Numba 0.68 cannot lower that): kernels unpack the fields they need before the loop.
  Kernels with a parallel loop, or calling one, are declared with ``sampler._jit.kernel``,
  which also makes their serial builds.

Every coordinate update is the same Gaussian full conditional (``normal_coordinate``), and every
row value the same FM formula (``row_value``); both are written once here.

Parallel loops never change a result with the number of threads: each parallel iteration reads
and writes only its own rows (or its own factor), and sums over rows are taken over fixed chunks
of ``CHUNK`` rows whose partial sums are then added in chunk order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from bayesfm._numba_cache import njit
from bayesfm.sampler._jit import kernel
from bayesfm.sampler._prefetch import PREFETCH_AHEAD, prefetch_row
from bayesfm.sampler.smallalg import gaussian_draw

__all__ = [
    "recompute_cache",
    "gibbs_sweep",
    "predict_draws_csr",
    "mixture_normal_quantiles",
    "normal_coordinate",
    "row_value",
    "ALL_STAGES",
    "STAGE_V_JOINT",
    "HYPER_STAGES",
    "STAGE_NAMES",
    "CHUNK",
    "PAR_MIN",
]

#: rows per chunk of a deterministic parallel reduction or row loop
CHUNK = 4096
#: colour classes with fewer columns than this are drawn in a plain loop (same result)
PAR_MIN = 16

#: the stages of a sweep, in their order, as bits of the sweeps' ``stages`` argument: a sweep
#: runs the stages whose bit is set (``ALL_STAGES`` in sampling; without the hyperparameter
#: stages when they are held fixed; one at a time in ``benchmarks/profile_sweep.py``, which
#: times the real kernels that way instead of a copy of their orchestration)
STAGE_ALPHA_W0 = 1      # noise precision alpha and global bias w0
STAGE_HYPER_W = 2       # (lambda_w, mu_w) of every group
STAGE_W = 4             # the linear weights
STAGE_TRANSLATION = 8   # the translation moves of constant-sum groups
STAGE_HYPER_V = 16      # (lambda_v, mu_v) of every group and factor
STAGE_V = 32            # the latent factors
ALL_STAGES = 63
#: not a stage but a variant of ``STAGE_V``: every column's k factors drawn at once from their
#: k-dimensional conditional (``_draw_v_joint``) instead of one after another; off in
#: ``ALL_STAGES``, set by the driver for ``moves=("joint",)``
STAGE_V_JOINT = 64
HYPER_STAGES = STAGE_HYPER_W | STAGE_TRANSLATION | STAGE_HYPER_V
STAGE_NAMES = ("alpha_w0", "hyper_w", "w", "translation", "hyper_v", "V")


@njit(cache=True)
def normal_coordinate(theta, shh, she, alpha, mu, lam, z):
    """A draw of one coefficient theta from its full conditional, given the current value.

    The likelihood enters through h_i (the derivative of yhat_i in theta; yhat is linear in any
    single coefficient) as ``shh`` = sum_i h_i^2 and ``she`` = sum_i h_i e_i, with e the
    residual at the current theta; the prior is Normal(mu, 1/lam); ``z`` a standard normal:

        precision = alpha shh + lam,
        mean      = (alpha (she + theta shh) + lam mu) / precision,
        returns     mean + z / sqrt(precision).
    """
    prec = alpha * shh + lam
    mean = (alpha * (she + theta * shh) + lam * mu) / prec
    return mean + z / math.sqrt(prec)


@njit(cache=True)
def _accumulate_row(indptr, indices, data, i, j0, w, V, qi):
    """Add row i of a CSR matrix (its column c is feature j0 + c) to the factor sums ``qi``
    (k,); return its linear term sum_j w_j x_j and its sum_j sum_f (v_jf x_j)^2. ``V`` (p, k)."""
    k = qi.shape[0]
    lin = 0.0
    sq = 0.0
    for idx in range(indptr[i], indptr[i + 1]):
        j = j0 + indices[idx]
        x = data[idx]
        lin += w[j] * x
        for f in range(k):
            t = V[j, f] * x
            qi[f] += t
            sq += t * t
    return lin, sq


@njit(cache=True)
def _pair(qi):
    """sum_f q_f^2 of a row's factor sums."""
    pair = 0.0
    for f in range(qi.shape[0]):
        pair += qi[f] * qi[f]
    return pair


@njit(cache=True)
def row_value(indptr, indices, data, i, w0, w, V, qi):
    """yhat of row i of a CSR matrix: w0 + sum_j w_j x_j + 1/2 sum_f (q_f^2 - sum_j v_jf^2 x_j^2)
    with q_f = sum_j v_jf x_j, left in ``qi`` (k,). ``V`` (p, k)."""
    qi[:] = 0.0
    lin, sq = _accumulate_row(indptr, indices, data, i, 0, w, V, qi)
    return w0 + lin + 0.5 * (_pair(qi) - sq)


@kernel(parallel=True)
def recompute_cache(rows, y, w0, w, Vt, e, Q):
    """Recompute the residual ``e`` (n,) and the factor sums ``Q`` (n, k) exactly, in place.

    ``rows`` is X row-major (a ``records.CSR``): each row gathers its factor sums from contiguous
    rows of V, which is much faster than scattering from the columns. Cost O(k * nnz), rows in
    parallel (each row on its own: exact for any number of threads). Called every
    ``driver.REFRESH_EVERY`` sweeps so rounding error from the incremental updates cannot
    accumulate.
    """
    n = y.shape[0]
    V = np.ascontiguousarray(Vt.T)
    indptr, indices, data = rows.indptr, rows.indices, rows.data   # (no records in prange)
    for i in prange(n):
        e[i] = y[i] - row_value(indptr, indices, data, i, w0, w, V, Q[i])


@njit(cache=True)
def _hyper_update(theta, gidx, gsize, mu, lam, c0, mu0, b_lam, g_lam, z_mu):
    """Draw (lambda_g, mu_g) for every group g from their full conditionals, in place.

    ``theta`` (p,) are the parameters whose prior is Normal(mu[g], 1/lam[g]); ``g_lam`` (G,) are
    standard gammas of shape (a_lambda + n_g + 1)/2 and ``z_mu`` (G,) standard normals.

        lambda_g ~ Gamma((a_lambda + n_g + 1)/2,
                         (b_lambda + c0 (mu_g - mu0)^2 + sum_t (theta_t - mu_g)^2) / 2)
        mu_g     ~ Normal((c0 mu0 + sum_t theta_t) / (c0 + n_g), 1 / ((c0 + n_g) lambda_g))
    """
    G = gsize.shape[0]
    s1 = np.zeros(G)
    s2 = np.zeros(G)
    for j in range(theta.shape[0]):
        g = gidx[j]
        t = theta[j]
        s1[g] += t
        d = t - mu[g]
        s2[g] += d * d
    for g in range(G):
        dm = mu[g] - mu0
        rate = 0.5 * (b_lam + c0 * dm * dm + s2[g])
        lam[g] = g_lam[g] / rate
        prec = (c0 + gsize[g]) * lam[g]
        mu[g] = (c0 * mu0 + s1[g]) / (c0 + gsize[g]) + z_mu[g] / math.sqrt(prec)


@kernel(parallel=True)
def _sums(e):
    """(sum e_i, sum e_i^2) over fixed chunks of rows, added in chunk order (exact for any
    number of threads)."""
    n = e.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    s1 = np.zeros(n_chunks)
    s2 = np.zeros(n_chunks)
    for c in prange(n_chunks):
        a = 0.0
        b = 0.0
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            a += e[i]
            b += e[i] * e[i]
        s1[c] = a
        s2[c] = b
    t1 = 0.0
    t2 = 0.0
    for c in range(n_chunks):
        t1 += s1[c]
        t2 += s2[c]
    return t1, t2


@kernel(parallel=True)
def _shift(e, d):
    for i in prange(e.shape[0]):
        e[i] -= d


@kernel()
def _alpha_and_w0(e, w0, alpha, a0, b0, m0, lam0, z_w0, g_alpha, sample_alpha):
    """Draw alpha (if sampled) and w0; updates ``e`` in place; returns (w0, alpha)."""
    n = e.shape[0]
    se, sse = _sums(e)
    if sample_alpha:
        alpha = g_alpha / (0.5 * (b0 + sse))
    prec = alpha * n + lam0
    mean = (alpha * (se + n * w0) + lam0 * m0) / prec
    w0_new = mean + z_w0 / math.sqrt(prec)
    _shift(e, w0_new - w0)
    return w0_new, alpha


@njit(cache=True)
def _draw_w(j, indptr, indices, data, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w):
    """Draw w_j of CSC column j from its full conditional, updating ``e`` on its rows."""
    g = gidx[j]
    start = indptr[j]
    stop = indptr[j + 1]
    s = 0.0
    for idx in range(start, stop):
        if idx + PREFETCH_AHEAD < stop:
            prefetch_row(e, indices[idx + PREFETCH_AHEAD])
        s += data[idx] * e[indices[idx]]
    wj = w[j]
    wn = normal_coordinate(wj, colsq[j], s, alpha, mu_w[g], lam_w[g], z_w[j])
    d = wn - wj
    if d != 0.0:
        for idx in range(start, stop):
            e[indices[idx]] -= d * data[idx]
    w[j] = wn


@kernel(parallel=True)
def _linear_columns(indptr, indices, data, colsq, gidx, e, w, alpha, mu_w, lam_w, z_w,
                    order, cptr):
    """Draw w_j for every column, colour class by colour class (``order``, ``cptr``); the
    members of a class share no row, so a large class is drawn in parallel."""
    for c in range(cptr.shape[0] - 1):
        a = cptr[c]
        b = cptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_w(order[t], indptr, indices, data, colsq, gidx, e, w, alpha, mu_w, lam_w,
                        z_w)
        else:
            for t in range(a, b):
                _draw_w(order[t], indptr, indices, data, colsq, gidx, e, w, alpha, mu_w, lam_w,
                        z_w)


@njit(cache=True)
def _draw_v(j, indptr, indices, data, gidx, e, qf, vf, zf, alpha, mu_vf, lam_vf):
    """Draw v_jf (one factor f) of CSC column j, updating ``e`` and ``qf`` on its rows."""
    g = gidx[j]
    start = indptr[j]
    stop = indptr[j + 1]
    v = vf[j]
    shh = 0.0
    she = 0.0
    for idx in range(start, stop):
        i = indices[idx]
        x = data[idx]
        h = x * (qf[i] - v * x)
        shh += h * h
        she += h * e[i]
    vn = normal_coordinate(v, shh, she, alpha, mu_vf[g], lam_vf[g], zf[j])
    d = vn - v
    if d != 0.0:
        for idx in range(start, stop):
            i = indices[idx]
            x = data[idx]
            h = x * (qf[i] - v * x)
            e[i] -= d * h
            qf[i] += d * x
    vf[j] = vn


@kernel(parallel=True)
def _factor_columns(indptr, indices, data, gidx, e, qf, vf, zf, alpha, mu_vf, lam_vf,
                    order, cptr):
    """Draw v_jf of one factor f for every column, colour class by colour class, updating
    ``e`` and ``qf``; a large class is drawn in parallel."""
    for c in range(cptr.shape[0] - 1):
        a = cptr[c]
        b = cptr[c + 1]
        if b - a >= PAR_MIN:
            for t in prange(a, b):
                _draw_v(order[t], indptr, indices, data, gidx, e, qf, vf, zf, alpha, mu_vf,
                        lam_vf)
        else:
            for t in range(a, b):
                _draw_v(order[t], indptr, indices, data, gidx, e, qf, vf, zf, alpha, mu_vf,
                        lam_vf)


@kernel(parallel=True)
def _factor_hyper(Vt, gidx, gsize, mu_v, lam_v, c0, mu0, b_lam, g_lamv, z_muv):
    """(lambda_v, mu_v) of every factor; factors in parallel (each owns its column of mu_v)."""
    for f in prange(Vt.shape[0]):
        _hyper_update(Vt[f], gidx, gsize, mu_v[:, f], lam_v[:, f], c0, mu0, b_lam, g_lamv[f],
                      z_muv[f])


@njit(cache=True)
def _draw_v_column(j, indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v):
    """Draw v_j1, ..., v_jk of CSC column j one after another, each from its full conditional,
    updating ``e`` and ``Q`` (n, k) on the column's rows: the rows are fetched once for all k
    factors and stay in cache."""
    g = gidx[j]
    start = indptr[j]
    stop = indptr[j + 1]
    for f in range(Vt.shape[0]):
        v = Vt[f, j]
        shh = 0.0
        she = 0.0
        for idx in range(start, stop):
            i = indices[idx]
            x = data[idx]
            h = x * (Q[i, f] - v * x)
            shh += h * h
            she += h * e[i]
        vn = normal_coordinate(v, shh, she, alpha, mu_v[g, f], lam_v[g, f], z_v[f, j])
        d = vn - v
        if d != 0.0:
            for idx in range(start, stop):
                i = indices[idx]
                x = data[idx]
                h = x * (Q[i, f] - v * x)
                e[i] -= d * h
                Q[i, f] += d * x
        Vt[f, j] = vn


#: the members of a large colour class are drawn in this many fixed runs of columns, in
#: parallel; each run allocates the joint draw's work space once (not once per column: on
#: data with many short columns the allocations were a tenth of the stage)
LATENT_RUNS = 64


@njit(cache=True)
def _draw_latent(j, indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v, joint, P,
                 H, W):
    if joint:
        _draw_v_joint(j, indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v, P, H,
                      W)
    else:
        _draw_v_column(j, indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v)


@njit(cache=True)
def _joint_work(k):
    """Work space of ``_draw_v_joint``: (P (k, k), H (4, k), W (5, k))."""
    return np.zeros((k, k)), np.zeros((4, k)), np.zeros((5, k))


@kernel(parallel=True)
def _latent_columns(indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v, order,
                    cptr, joint):
    """Draw the latent vectors of every column, colour class by colour class (column by column,
    factor by factor within a column, or with ``joint`` all k factors at once,
    ``_draw_v_joint``); a large class is drawn in parallel, in ``LATENT_RUNS`` runs of columns
    (each column's draw is the same whatever run it is in)."""
    k = Vt.shape[0]
    P, H, W = _joint_work(k)
    for c in range(cptr.shape[0] - 1):
        a = cptr[c]
        b = cptr[c + 1]
        if b - a >= PAR_MIN:
            runs = min(LATENT_RUNS, b - a)
            for r in prange(runs):
                Pr, Hr, Wr = _joint_work(k)
                for t in range(a + (b - a) * r // runs, a + (b - a) * (r + 1) // runs):
                    _draw_latent(order[t], indptr, indices, data, gidx, e, Q, Vt, z_v, alpha,
                                 mu_v, lam_v, joint, Pr, Hr, Wr)
        else:
            for t in range(a, b):
                _draw_latent(order[t], indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v,
                             lam_v, joint, P, H, W)


@njit(cache=True)
def _draw_v_joint(j, indptr, indices, data, gidx, e, Q, Vt, z_v, alpha, mu_v, lam_v, P, H, W):
    """Draw the latent vector v_j = (v_j1, ..., v_jk) of CSC column j at once from its
    k-dimensional Gaussian full conditional, updating ``e`` and ``Q`` (n, k) on its rows.

    yhat_i is linear in v_j: yhat_i = c_i + g_i' v_j, with g_if = x_ij (q_if - x_ij v_jf) (the
    derivative, free of v_j). With A = sum_i g_i g_i' and b = sum_i g_i e_i (e at the current
    v_j), the conditional has

        precision  P = alpha A + diag(lam_v[g]),   P m = alpha (b + A v_j) + lam_v[g] * mu_v[g],

    drawn as m + L^-T z with P = L L' (Cholesky), z = ``z_v[:, j]``: covariance
    L^-T L^-1 = P^-1. Then e_i -= g_i' (v_new - v_j), q_i += x_ij (v_new - v_j). Two passes over
    the column's rows, O(nnz_j k^2 + k^3); for k = 1 it is ``normal_coordinate``'s draw. Sums in
    a fixed order (rows as stored, A's terms added four rows at a time, then index order): the
    same bits on any thread count. Work space (overwritten): ``P`` (k, k), ``H`` (4, k), ``W``
    (5, k) (``_joint_work``).
    """
    g = gidx[j]
    k = Vt.shape[0]
    start = indptr[j]
    stop = indptr[j + 1]
    v = W[0]
    b = W[1]
    rhs = W[2]
    u = W[3]
    dv = W[4]
    for f in range(k):
        v[f] = Vt[f, j]
        b[f] = 0.0
        for t in range(k):
            P[f, t] = 0.0           # lower triangle: sum_i g_i g_i'
    # H: the g_i of 4 rows (P is read and written once per 4 rows)
    idx = start
    while idx < stop:
        n4 = min(4, stop - idx)
        for r in range(n4):
            ahead = idx + r + PREFETCH_AHEAD
            if ahead < stop:
                prefetch_row(Q, indices[ahead])
                prefetch_row(e, indices[ahead])
            i = indices[idx + r]
            x = data[idx + r]
            ei = e[i]
            for f in range(k):
                hf = x * (Q[i, f] - v[f] * x)
                H[r, f] = hf
                b[f] += hf * ei
        for r in range(n4, 4):
            for f in range(k):
                H[r, f] = 0.0
        for f in range(k):
            h0 = H[0, f]
            h1 = H[1, f]
            h2 = H[2, f]
            h3 = H[3, f]
            for t in range(f + 1):
                P[f, t] += (h0 * H[0, t] + h1 * H[1, t]) + (h2 * H[2, t] + h3 * H[3, t])
        idx += n4
    for f in range(k):
        s = b[f]
        for t in range(k):
            s += (P[f, t] if t <= f else P[t, f]) * v[t]
        rhs[f] = alpha * s + lam_v[g, f] * mu_v[g, f]
    for f in range(k):
        for t in range(f + 1):
            P[f, t] *= alpha
        P[f, f] += lam_v[g, f]
    gaussian_draw(P, rhs, z_v[:, j], u, dv)
    for f in range(k):
        Vt[f, j] = dv[f]
        dv[f] -= v[f]
    for idx in range(start, stop):
        ahead = idx + PREFETCH_AHEAD
        if ahead < stop:
            prefetch_row(Q, indices[ahead])
            prefetch_row(e, indices[ahead])
        i = indices[idx]
        x = data[idx]
        s = 0.0
        for f in range(k):
            s += x * (Q[i, f] - v[f] * x) * dv[f]
        e[i] -= s
        for f in range(k):
            Q[i, f] += x * dv[f]


@njit(cache=True)
def _translation_moves(gsum, gidx, w, mu_w, lam_w, w0, lam0, m0, c0, mu0, z_t):
    """Exact moves along the directions the likelihood cannot see; returns the new w0.

    For a group g whose columns add up to the same c_g on every row (one-hot users, items...),
    w0 + c_g t, w_j - t (j in g), mu_w[g] - t leaves every prediction and the prior of w given
    mu_w unchanged; it is a translation (unit Jacobian), so drawing t from its conditional,
    Normal with precision lam0 c_g^2 + c0 lam_w[g] and mean
    (lam0 c_g (m0 - w0) + c0 lam_w[g] (mu_w[g] - mu0)) / precision, leaves the posterior
    invariant (a group move, Liu and Sabatti 2000). Without it a Gibbs chain creeps along these
    ridges: w0 and mu_w mix very slowly on one-hot data. ``z_t`` (G,) standard normals.
    """
    G = gsum.shape[0]
    t = np.zeros(G)
    any_move = False
    for g in range(G):
        c = gsum[g]
        if c == 0.0:
            continue
        prec = lam0 * c * c + c0 * lam_w[g]
        mean = (lam0 * c * (m0 - w0) + c0 * lam_w[g] * (mu_w[g] - mu0)) / prec
        t[g] = mean + z_t[g] / math.sqrt(prec)
        w0 += c * t[g]
        mu_w[g] -= t[g]
        any_move = True
    if any_move:
        for j in range(w.shape[0]):
            w[j] -= t[gidx[j]]
    return w0


@kernel()
def gibbs_sweep(d, s, w0, alpha, pr, z, sample_alpha, stages):
    """One Gibbs sweep of the FM regression sampler; returns the new ``(w0, alpha)``.

    ``d`` the design (``records.FlatDesign``), ``s`` the parameters (``records.Params``, updated
    in place; ``s.e`` and ``s.q`` must be exact, to rounding, on entry), ``pr`` the prior
    constants, ``z`` the sweep's random numbers (``records.Noise``; ``z.z_t`` for the
    translation moves of groups with a constant row sum ``d.gsum``). ``sample_alpha`` False
    holds alpha fixed (probit models); ``stages`` (bits ``STAGE_*``) selects the stages run:
    ``ALL_STAGES``, or without ``HYPER_STAGES`` to hold the group hyperparameters fixed
    (closed-form tests).

    Order: alpha, w0, (lambda_w, mu_w), w, translation moves, (lambda_v, mu_v) for every factor,
    then V column by column (all k factors of a column in turn; libFM goes factor by factor
    instead, an equally valid scan that fetches every row k times, and is used when
    ``d.factor_major``: the relational sweep's order, with ``s.q`` (k, n); or, with the bit
    ``STAGE_V_JOINT``, every column's k factors at once, ``_draw_v_joint``); columns in the
    colour-class order ``d.order`` / ``d.cptr``.
    """
    if stages & STAGE_ALPHA_W0:
        w0, alpha = _alpha_and_w0(s.e, w0, alpha, pr.a0, pr.b0, pr.m0, pr.lam0, z.z_w0,
                                  z.g_alpha, sample_alpha)
    if stages & STAGE_HYPER_W:
        _hyper_update(s.w, d.gidx, d.gsize, s.mu_w, s.lam_w, pr.c0, pr.mu0, pr.b_lam, z.g_lamw,
                      z.z_muw)
    if stages & STAGE_W:
        _linear_columns(d.indptr, d.indices, d.data, d.colsq, d.gidx, s.e, s.w, alpha, s.mu_w,
                        s.lam_w, z.z_w, d.order, d.cptr)
    if stages & STAGE_TRANSLATION:
        w0 = _translation_moves(d.gsum, d.gidx, s.w, s.mu_w, s.lam_w, w0, pr.lam0, pr.m0, pr.c0,
                                pr.mu0, z.z_t)
    if stages & STAGE_HYPER_V:
        _factor_hyper(s.Vt, d.gidx, d.gsize, s.mu_v, s.lam_v, pr.c0, pr.mu0, pr.b_lam, z.g_lamv,
                      z.z_muv)
    if stages & STAGE_V:
        if stages & STAGE_V_JOINT:
            _latent_columns(d.indptr, d.indices, d.data, d.gidx, s.e,
                            s.q.T if d.factor_major else s.q, s.Vt, z.z_v, alpha, s.mu_v,
                            s.lam_v, d.order, d.cptr, True)
        elif d.factor_major:                # q is (k, n) then
            for f in range(s.Vt.shape[0]):
                _factor_columns(d.indptr, d.indices, d.data, d.gidx, s.e, s.q[f], s.Vt[f],
                                z.z_v[f], alpha, s.mu_v[:, f], s.lam_v[:, f], d.order, d.cptr)
        else:
            _latent_columns(d.indptr, d.indices, d.data, d.gidx, s.e, s.q, s.Vt, z.z_v, alpha,
                            s.mu_v, s.lam_v, d.order, d.cptr, False)
    return w0, alpha


@kernel(parallel=True)
def predict_draws_csr(rows, n_rows, w0s, ws, Vs, out):
    """FM predictions for every kept draw: ``out[s, i] = yhat_s(x_i)``.

    ``rows`` is X row-major (``records.CSR``) with ``n_rows`` rows; ``w0s`` (S,), ``ws`` (S, p),
    ``Vs`` (S, p, k), ``out`` (S, n_rows). Draws and chunks of rows in parallel (each output on
    its own).
    """
    S = w0s.shape[0]
    k = Vs.shape[2]
    n_chunks = (n_rows + CHUNK - 1) // CHUNK
    indptr, indices, data = rows.indptr, rows.indices, rows.data   # (no records in prange)
    for t in prange(S * n_chunks):
        s = t // n_chunks
        c = t - s * n_chunks
        qf = np.zeros(k)
        for i in range(c * CHUNK, min(n_rows, (c + 1) * CHUNK)):
            out[s, i] = row_value(indptr, indices, data, i, w0s[s], ws[s], Vs[s], qf)


@njit(cache=True)
def _mixture_cdf_pdf(t, means, sds):
    S = means.shape[0]
    cdf = 0.0
    pdf = 0.0
    for s in range(S):
        z = (t - means[s]) / sds[s]
        cdf += 0.5 * math.erfc(-z / math.sqrt(2.0))
        pdf += math.exp(-0.5 * z * z) / (sds[s] * math.sqrt(2.0 * math.pi))
    return cdf / S, pdf / S


@njit(cache=True)
def _mixture_quantile(prob, zprob, means, sds):
    """Quantile of the equal-weight mixture of Normal(means[s], sds[s]**2).

    Starts from the moment-matched normal's quantile (``zprob`` is the standard normal quantile of
    ``prob``), then Newton's method safeguarded by bisection on a bracket that always holds the
    root.
    """
    S = means.shape[0]
    lo = np.inf
    hi = -np.inf
    m1 = 0.0
    m2 = 0.0
    for s in range(S):
        lo = min(lo, means[s] - 12.0 * sds[s])
        hi = max(hi, means[s] + 12.0 * sds[s])
        m1 += means[s]
        m2 += means[s] * means[s] + sds[s] * sds[s]
    m1 /= S
    var = max(m2 / S - m1 * m1, 0.0)
    scale = math.sqrt(var)
    t = min(max(m1 + zprob * scale, lo), hi)
    tol = 1e-12 * max(scale, 1e-300)
    for _ in range(200):
        cdf, pdf = _mixture_cdf_pdf(t, means, sds)
        diff = cdf - prob
        if diff > 0.0:
            hi = t
        else:
            lo = t
        if abs(diff) < 1e-13 or hi - lo < tol:
            break
        step_ok = pdf > 0.0
        if step_ok:
            tn = t - diff / pdf
            step_ok = lo < tn < hi
        if not step_ok:
            tn = 0.5 * (lo + hi)
        t = tn
    return t


@kernel(parallel=True)
def mixture_normal_quantiles(means, sds, probs, zprobs, out):
    """Per-column quantiles of a Normal mixture over draws.

    ``means`` (S, n), ``sds`` (S,), ``probs`` (m,) in (0, 1) and ``zprobs`` (m,) their standard
    normal quantiles; fills ``out`` (n, m) with the
    quantiles of ``(1/S) sum_s Normal(means[s, i], sds[s]**2)`` for each row i (rows in
    parallel, each on its own).
    """
    n = means.shape[1]
    for i in prange(n):
        col = np.ascontiguousarray(means[:, i])
        for m in range(probs.shape[0]):
            out[i, m] = _mixture_quantile(probs[m], zprobs[m], col, sds)
