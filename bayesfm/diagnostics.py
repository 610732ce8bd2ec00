"""Convergence diagnostics on identified quantities: rank-normalised split R-hat, bulk and tail
effective sample sizes (Vehtari, Gelman, Simpson, Carpenter, Buerkner 2021), vectorised over many
quantities at once.

The latent factors V are not identified (V R for any rotation R gives the same model), so their
R-hat and ESS are noise and are not reported. ``diagnose`` reports w0, alpha, the group means and
precisions of w, the factor-averaged group hyperparameters of V (invariant under relabelling the
factors), every linear weight w_j, the cutpoints (ordinal), and yhat at a fixed random subset of
training rows (which carries the pairwise interactions).

The verdict ("converged") uses only the quantities the likelihood identifies. alpha, yhat and the
cutpoints always are. w0, w and their hyperparameters are not when a feature group sums to a
constant on every row (one-hot users or items, normalised multi-hot blocks): then
w0 + t, w_j - t (j in the group) leaves every prediction unchanged, the prior alone pins that
direction down and a Gibbs sampler drifts along it slowly; likewise shifting all the latent
vectors of such a group, compensated in the weights of the other group. Those blocks are still
reported, marked "ref", so their drift is visible, but they do not decide the verdict. The V
hyperparameters are never used for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from bayesfm._numba_cache import njit

__all__ = ["rhat", "ess_bulk", "ess_tail", "diagnose", "Diagnosis", "RHAT_MAX", "ESS_MIN",
           "TAIL_PROB", "held_back_sentence"]

RHAT_MAX = 1.01
ESS_MIN = 400.0


def _as3d(x):
    """(chains, draws, ...) -> (chains, draws, m)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"draws must have shape (chains, draws, ...), got {x.shape}")
    return x.reshape(x.shape[0], x.shape[1], -1)


def _split(x):
    """Split every chain in two halves (the middle draw is dropped when the count is odd)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def _z_scale(x):
    """Rank-normalise each quantity over all chains and draws (ranks averaged over ties)."""
    C, S, m = x.shape
    flat = x.reshape(C * S, m)
    ranks = rankdata(flat, method="average", axis=0)
    return ndtri((ranks - 0.375) / (C * S + 0.25)).reshape(C, S, m)


def _rhat_basic(x):
    C, S, m = x.shape
    chain_mean = x.mean(axis=1)
    between = S * chain_mean.var(axis=0, ddof=1)
    within = x.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / S + within * (S - 1) / S) / within)


def _constant(x):
    return (x.max(axis=(0, 1)) - x.min(axis=(0, 1))) < np.finfo(float).resolution


def rhat(draws) -> np.ndarray:
    """Rank-normalised split R-hat (the larger of bulk and folded) per quantity.

    ``draws`` (chains, draws, ...) -> array of the trailing shape (a float for scalars)."""
    x = np.asarray(draws, dtype=np.float64)
    tail_shape = x.shape[2:]
    x3 = _as3d(x)
    s = _split(x3)
    bulk = _rhat_basic(_z_scale(s))
    folded = np.abs(x3 - np.median(x3, axis=(0, 1), keepdims=True))
    tail = _rhat_basic(_z_scale(_split(folded)))
    out = np.maximum(bulk, tail)
    out[_constant(x3)] = np.nan
    return out.reshape(tail_shape) if tail_shape else float(out[0])


@njit(cache=True)
def _geyer_ess(rho, n_total):
    """ESS from the chain-averaged autocorrelations rho (n,), Geyer's initial positive and
    monotone sequences, as in Vehtari et al. (2021) and ArviZ."""
    n = rho.shape[0]
    rho_t = np.zeros(n)
    rho_even = 1.0
    rho_t[0] = rho_even
    rho_odd = rho[1]
    rho_t[1] = rho_odd
    t = 1
    while t < n - 3 and (rho_even + rho_odd) > 0.0:
        rho_even = rho[t + 1]
        rho_odd = rho[t + 2]
        if rho_even + rho_odd >= 0.0:
            rho_t[t + 1] = rho_even
            rho_t[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0.0:
        rho_t[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:
        if rho_t[t + 1] + rho_t[t + 2] > rho_t[t - 1] + rho_t[t]:
            rho_t[t + 1] = 0.5 * (rho_t[t - 1] + rho_t[t])
            rho_t[t + 2] = rho_t[t + 1]
        t += 2
    tau = -1.0 + 2.0 * np.sum(rho_t[: max_t + 1]) + np.sum(rho_t[max_t + 1: max_t + 2])
    tau = max(tau, 1.0 / np.log10(n_total))
    return n_total / tau


def _ess(x):
    """ESS per quantity of (chains, draws, m) draws (no splitting or scaling here)."""
    C, S, m = x.shape
    out = np.full(m, np.nan)
    if S < 4:
        return out
    centred = x - x.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * S)))
    f = np.fft.rfft(centred, n=nfft, axis=1)
    acov = np.fft.irfft(f * np.conjugate(f), n=nfft, axis=1)[:, :S] / S     # (C, S, m)
    mean_var = acov[:, 0].mean(axis=0) * S / (S - 1.0)
    var_plus = mean_var * (S - 1.0) / S
    if C > 1:
        var_plus = var_plus + x.mean(axis=1).var(axis=0, ddof=1)
    const = _constant(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[None, :] - acov.mean(axis=0)) / var_plus[None, :]   # (S, m)
    for j in range(m):
        if const[j]:
            out[j] = C * S
        elif np.all(np.isfinite(rho[:, j])):
            out[j] = _geyer_ess(np.ascontiguousarray(rho[:, j]), float(C * S))
    return out


def ess_bulk(draws) -> np.ndarray:
    """Bulk effective sample size (rank-normalised split chains) per quantity."""
    x = np.asarray(draws, dtype=np.float64)
    out = _ess(_z_scale(_split(_as3d(x))))
    return out.reshape(x.shape[2:]) if x.ndim > 2 else float(out[0])


#: the quantiles of ``ess_tail`` (and so of ``diagnose``): Vehtari et al. (2021) and ArviZ 0.x
TAIL_PROB = (0.05, 0.95)


def ess_tail(draws, prob=TAIL_PROB) -> np.ndarray:
    """Tail effective sample size: the smaller ESS of the indicators of the two quantiles
    ``prob`` (a pair, or p for (p, 1 - p)), by default the 5% and 95% quantiles.

    That default is the definition of Vehtari et al. (2021), ``az.ess(..., method="tail")`` of
    ArviZ 0.x and of 1.x with ``prob=(0.05, 0.95)``. ArviZ 1.x's ``az.summary`` (and its
    ``az.ess`` on xarray input without ``prob``) uses the quantiles of its credible-interval
    probability instead, (0.11, 0.89) by default, and so reports another, usually smaller,
    ``ess_tail`` for the same draws; ``ess_tail(draws, prob=(0.11, 0.89))`` reproduces it."""
    x = np.asarray(draws, dtype=np.float64)
    lo, hi = sorted((prob, 1.0 - prob)) if np.ndim(prob) == 0 else sorted(prob)
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"prob must be a probability in (0, 1) or a pair of them, got {prob!r}")
    x3 = _as3d(x)
    q_lo = np.quantile(x3, lo, axis=(0, 1))
    q_hi = np.quantile(x3, hi, axis=(0, 1))
    e_lo = _ess(_split((x3 <= q_lo).astype(np.float64)))
    e_hi = _ess(_split((x3 <= q_hi).astype(np.float64)))
    out = np.minimum(e_lo, e_hi)
    return out.reshape(x.shape[2:]) if x.ndim > 2 else float(out[0])


@dataclass
class Diagnosis:
    """R-hat and ESS of a fit's quantities.

    ``blocks`` maps a block name (w0, alpha, mu_w, ..., w, yhat) to a dict with ``names`` (the
    quantities), ``rhat``, ``ess_bulk`` and ``ess_tail`` arrays, and ``identified`` (whether the
    block takes part in the verdict). ``converged`` is True when every R-hat of the identified
    blocks is < ``RHAT_MAX`` (1.01) and every ESS > ``ESS_MIN`` (400); ``max_rhat`` etc. are over
    those blocks too. ``seconds``: the wall time of the sampling that made the draws (the
    fit's ``sampling_seconds_``; None when unknown), by which the table divides the smallest
    ESS (``min_ess_per_s``: how fast the block gathers information, the figure to compare
    settings by).
    """

    blocks: dict
    n_chains: int
    draws_per_chain: int
    rhat_max: float = RHAT_MAX
    ess_min: float = ESS_MIN
    notes: list = field(default_factory=list)
    seconds: float | None = None

    def _all(self, key, identified_only=True):
        vals = [np.asarray(b[key], dtype=float).ravel() for b in self.blocks.values()
                if b["identified"] or not identified_only]
        return np.concatenate(vals) if vals else np.array([])

    @property
    def max_rhat(self) -> float:
        r = self._all("rhat")
        return float(np.nanmax(r)) if np.isfinite(r).any() else float("nan")

    @property
    def min_ess_bulk(self) -> float:
        e = self._all("ess_bulk")
        return float(np.nanmin(e)) if np.isfinite(e).any() else float("nan")

    @property
    def min_ess_tail(self) -> float:
        e = self._all("ess_tail")
        return float(np.nanmin(e)) if np.isfinite(e).any() else float("nan")

    @property
    def converged(self) -> bool:
        r, eb, et = self._all("rhat"), self._all("ess_bulk"), self._all("ess_tail")
        if self.n_chains < 2 or r.size == 0 or not np.isfinite(r).any():
            return False
        ok_r = np.all(np.isnan(r) | (r < self.rhat_max))
        ok_e = np.all(np.isnan(eb) | (eb > self.ess_min)) and \
            np.all(np.isnan(et) | (et > self.ess_min))
        return bool(ok_r and ok_e)

    def held_back(self) -> tuple:
        """(block, quantity, shortfall) of the identified block furthest from the thresholds:
        shortfall is the larger of (max R-hat - 1) / (RHAT_MAX - 1) and ESS_MIN / min ESS (a
        rough factor of more draws needed: ESS grows, and R-hat - 1 shrinks, about in
        proportion to the draws); (None, None, 0.0) when nothing is short."""
        best = (None, None, 0.0)
        for row in self.table():
            if not self.blocks[row["block"]]["identified"]:
                continue
            r_short = (row["max_rhat"] - 1.0) / (self.rhat_max - 1.0)
            ess = min(row["min_ess_bulk"], row["min_ess_tail"])
            e_short = self.ess_min / ess if ess > 0 else np.inf
            r_short = r_short if np.isfinite(r_short) else 0.0
            e_short = e_short if np.isfinite(ess) else 0.0
            short = max(r_short, e_short)
            if short > best[2]:
                best = (row["block"], row["worst_rhat"] if r_short >= e_short
                        else row["worst_ess"], float(short))
        return best

    def table(self):
        """One row per block: worst R-hat, smallest ESS, and the quantities responsible."""
        rows = []
        for name, b in self.blocks.items():
            r = np.asarray(b["rhat"], dtype=float)
            eb = np.asarray(b["ess_bulk"], dtype=float)
            et = np.asarray(b["ess_tail"], dtype=float)
            i_r = int(np.nanargmax(r)) if np.isfinite(r).any() else 0
            i_e = int(np.nanargmin(np.minimum(eb, et))) if np.isfinite(eb).any() else 0
            rows.append({
                "block": name, "size": int(r.size), "identified": bool(b["identified"]),
                "max_rhat": float(r[i_r]) if r.size else float("nan"),
                "worst_rhat": b["names"][i_r] if r.size else "",
                "min_ess_bulk": float(np.nanmin(eb)) if np.isfinite(eb).any() else float("nan"),
                "min_ess_tail": float(np.nanmin(et)) if np.isfinite(et).any() else float("nan"),
                "worst_ess": b["names"][i_e] if r.size else "",
                "share_rhat_ok": float(np.mean(np.nan_to_num(r, nan=1.0) < self.rhat_max)),
            })
            ess = min(rows[-1]["min_ess_bulk"], rows[-1]["min_ess_tail"])
            rows[-1]["min_ess_per_s"] = (ess / self.seconds if self.seconds else float("nan"))
        return rows

    def __str__(self) -> str:
        timed = f" in {self.seconds:.1f} s of sampling" if self.seconds else ""
        lines = [f"bayesfm diagnostics: {self.n_chains} chains x {self.draws_per_chain} draws"
                 f"{timed}; thresholds R-hat < {self.rhat_max}, ESS > {self.ess_min:g}",
                 f"{'block':<14}{'use':>4}{'size':>6}{'max R-hat':>11}{'min ESS bulk':>14}"
                 f"{'min ESS tail':>14}{'ESS/s':>9}{'R-hat ok':>10}  worst"]
        for row in self.table():
            use = "yes" if row["identified"] else "ref"
            lines.append(f"{row['block']:<14}{use:>4}{row['size']:>6}{row['max_rhat']:>11.4f}"
                         f"{row['min_ess_bulk']:>14.0f}{row['min_ess_tail']:>14.0f}"
                         f"{row['min_ess_per_s']:>9.1f}"
                         f"{100 * row['share_rhat_ok']:>9.1f}%  {row['worst_rhat']}")
        verdict = "CONVERGED" if self.converged else "NOT CONVERGED"
        lines.append(f"{verdict} (blocks marked yes): max R-hat {self.max_rhat:.4f}, min bulk "
                     f"ESS {self.min_ess_bulk:.0f}, min tail ESS {self.min_ess_tail:.0f}")
        if any(not b["identified"] for b in self.blocks.values()):
            lines.append("ref: reported for reference, not used for the verdict (not identified "
                         "by the likelihood; see bayesfm.diagnostics)")
        lines.extend(self.notes)
        return "\n".join(lines)

    __repr__ = __str__


def _block(draws, names, identified=True):
    return {"names": list(names), "rhat": np.atleast_1d(rhat(draws)),
            "ess_bulk": np.atleast_1d(ess_bulk(draws)),
            "ess_tail": np.atleast_1d(ess_tail(draws)), "identified": bool(identified)}


def constant_sum_groups(model) -> list:
    """Feature groups whose columns add up to the same non-zero value on every training row
    (one-hot or normalised multi-hot blocks): the weights of such a group trade off against w0
    (the fitted ``constant_sum_groups_``)."""
    return list(model.constant_sum_groups_)


def diagnose(model, include_weights: bool = True, verdict_only: bool = False) -> Diagnosis:
    """R-hat and bulk/tail ESS of a fitted estimator's identified quantities.

    Reports w0, alpha (regression), mu_w and lambda_w per group, the factor-averaged mu_v and
    lambda_v per group, every w_j (``include_weights``), the cutpoints (ordinal) and yhat at
    ``model.diagnostic_rows_`` (a fixed random subset of training rows, whose draws the fit
    tracks: ``model.diagnostic_yhat_``). Needs >= 2 chains for R-hat; with fewer than 4 draws
    per chain the values are NaN. ``verdict_only``: only the blocks the verdict uses (what the
    automatic stop checks; the same verdict at a fraction of the cost).

    R-hat is the rank-normalised split R-hat and bulk ESS the rank-normalised split-chain ESS,
    equal (to rounding) to ``az.rhat`` and ``az.ess(method="bulk")`` of both ArviZ generations.
    Tail ESS is at the 5% and 95% quantiles (``TAIL_PROB``), as ArviZ 0.x's ``az.summary``
    reports it; ArviZ 1.x's ``az.summary`` computes ``ess_tail`` at (0.11, 0.89) instead, so its
    column is smaller for the same draws (see ``ess_tail``).

    Reads public and fitted attributes only (``draws_``, ``groups_``,
    ``constant_sum_groups_``, ``diagnostic_yhat_``, ``keep_draws_``, ``sampling_seconds_``
    for the ESS per second).
    """
    d = model.draws_
    C, S = d["w0"].shape[:2]
    groups = [str(g) for g in model.groups_]
    gauge = constant_sum_groups(model)
    linear_ok = not gauge
    blocks = {}

    def add(name, draws, names, identified=True):
        if identified or not verdict_only:
            blocks[name] = _block(draws, names, identified)

    add("w0", d["w0"], ["w0"], linear_ok)
    if "alpha" in d:
        add("alpha", d["alpha"], ["alpha"])
    add("mu_w", d["mu_w"], [f"mu_w[{g}]" for g in groups], linear_ok)
    add("lambda_w", d["lambda_w"], [f"lambda_w[{g}]" for g in groups], linear_ok)
    add("mu_v_mean", d["mu_v"].mean(axis=3), [f"mean_f mu_v[{g}, f]" for g in groups], False)
    add("lambda_v_mean", d["lambda_v"].mean(axis=3),
        [f"mean_f lambda_v[{g}, f]" for g in groups], False)
    if "cutpoints" in d and d["cutpoints"].shape[2] > 1:
        add("cutpoints", d["cutpoints"][:, :, 1:],
            [f"c[{k + 2}]" for k in range(d["cutpoints"].shape[2] - 1)])
    if include_weights and d["w"].shape[2]:
        add("w", d["w"], [f"w[{j}]" for j in range(d["w"].shape[2])], linear_ok)
    notes = []
    if getattr(model, "keep_draws_", True):
        add("yhat", model.diagnostic_yhat_,
            [f"yhat[row {i}]" for i in model.diagnostic_rows_])
    else:
        notes.append("keep_draws=False: no draws of w and V, so no yhat rows are checked")
    if gauge:
        notes.append("groups summing to a constant on every row (w0, w and their "
                     "hyperparameters not identified): " + ", ".join(groups[g] for g in gauge))
    if C < 4:
        notes.append(f"note: {C} chain(s); four or more are recommended for R-hat")
    seconds = getattr(model, "sampling_seconds_", None)
    return Diagnosis(blocks=blocks, n_chains=C, draws_per_chain=S, notes=notes,
                     seconds=float(seconds) if seconds else None)


def held_back_sentence(report: Diagnosis, reason: str, sweeps: int, seconds: float,
                       n_chains: int) -> str:
    """One sentence for a fit that stopped unconverged (``reason``, e.g. "max_time reached"):
    which block held it back, by how much, and what to do (more chains only help where more
    cores than ``n_chains`` are free: chains sharing the cores gather no more draws per
    second)."""
    block, name, short = report.held_back()
    if block is None:
        return (f"not converged ({reason}) after {sweeps} sweeps per chain in {seconds:.0f} s; "
                f"the checks could not be computed: continue with sample_more(n)")
    more = max(1, int(np.ceil((short - 1.0) * sweeps)))
    what = (f"max R-hat {report.max_rhat:.3f}, min bulk ESS {report.min_ess_bulk:.0f}, min tail "
            f"ESS {report.min_ess_tail:.0f}")
    return (f"{reason} after {sweeps} sweeps per chain in {seconds:.0f} s, not converged: "
            f"'{block}' held it back ({name}; {what}); about {short:.1f} times the draws "
            f"would do: continue with sample_more({more}), or refit with a larger max_time, "
            f"or with more chains where more than {n_chains} cores are free")
