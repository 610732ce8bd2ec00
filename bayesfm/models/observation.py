"""Observation models at the level of the estimators: what y is, and everything that depends on
it.

Each estimator fits with one observation model, kept after the fit as ``observation_``; the
ArviZ bridge, the diagnostics and the command line ask it, never the estimator's class, so a
subclass of an estimator behaves as its base. An observation model

* reads y (``from_target``: validated, encoded, with what the fit needs of it: the scale of y,
  the classes, the initial cutpoints) and makes the sampler's likelihood for a chain
  (``likelihood``);
* maps the sampler's raw draws to the user's units (``user_draws``) and its per-sweep
  statistics to fitted ones (``sweep_stats``: ``train_rmse`` in units of y, the cutpoint MH
  outcomes);
* gives the pointwise log-likelihood of observed values (``encode`` then ``log_likelihood``)
  and posterior-predictive replicates (``replicate``), per draw, for the ArviZ bridge;
* gives the command line's prediction columns and test metrics (``prediction_columns``,
  ``metrics``);
* describes itself in a few JSON-able numbers and labels (``describe`` / ``from_description``)
  for the saved-model format.

Draws arrive as dicts of (chains, draws, ...) arrays in user units (``BaseFM.draws_``); yhat as
(chains, draws, rows).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtri

from bayesfm.data.scaling import target_location_scale
from bayesfm.data.validation import check_labels, check_target, encode_labels, sorted_classes
from bayesfm.sampler.likelihoods import Gaussian, OrderedProbit
from bayesfm.sampler.ordinal import delta_from_cutpoints

__all__ = ["GaussianObservation", "ProbitObservation", "OrderedProbitObservation",
           "from_description"]

_LATENT_NAMES = {"w0": "w0", "w": "w", "V": "V", "mu_w": "mu_w", "lam_w": "lambda_w",
                 "mu_v": "mu_v", "lam_v": "lambda_v"}


def _auc(score, positive):
    ranks = np.argsort(np.argsort(score, kind="mergesort"), kind="mergesort") + 1.0
    n1, n0 = positive.sum(), (~positive).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


class GaussianObservation:
    """y ~ Normal(yhat, 1/alpha), fitted on the standardised target (y - y_mean) / y_scale;
    draws are mapped back: w0 -> y_mean + s w0, w -> s w, V -> sqrt(s) V, alpha -> alpha / s^2
    (s = y_scale), so fitting a y + b (a > 0) gives a yhat + b."""

    kind = "gaussian"
    probit = False

    def __init__(self, y_mean: float, y_scale: float):
        self.y_mean = float(y_mean)
        self.y_scale = float(y_scale)

    @classmethod
    def from_target(cls, y, n_rows: int):
        """(observation model, target for the likelihood, validated y), y (n,) float64."""
        yv = check_target(y, n_rows)
        return cls(*target_location_scale(yv)), yv, yv

    def likelihood(self, y):
        return Gaussian((np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_scale)

    def user_draws(self, raw: dict) -> dict:
        """The draws in the units of y; ``raw``'s w and V (the caller's own arrays, the largest)
        are scaled in place."""
        s, r = self.y_scale, np.sqrt(self.y_scale)
        w, V = raw["w"], raw["V"]
        w *= s
        V *= r
        return {"w0": self.y_mean + s * raw["w0"], "w": w, "V": V,
                "alpha": raw["alpha"] / s**2, "mu_w": s * raw["mu_w"],
                "lambda_w": raw["lam_w"] / s**2, "mu_v": r * raw["mu_v"],
                "lambda_v": raw["lam_v"] / s}

    def sweep_stats(self, raw: dict) -> dict:
        return {"train_rmse": self.y_scale * raw["resid_rms"]}

    @property
    def rmse_scale(self) -> float:
        """Converts the sampler's residual RMS to the units of y (the progress bar)."""
        return self.y_scale

    @property
    def eval_loc_scale(self) -> tuple:
        return self.y_mean, self.y_scale

    def encode(self, y, n_rows: int) -> np.ndarray:
        return check_target(y, n_rows)

    def log_likelihood(self, yobs, yhat, draws) -> np.ndarray:
        sd = 1.0 / np.sqrt(draws["alpha"])[:, :, None]
        z = (yobs[None, None, :] - yhat) / sd
        return -0.5 * z**2 - np.log(sd) - 0.5 * np.log(2 * np.pi)

    def replicate(self, rng, yhat, draws) -> np.ndarray:
        sd = 1.0 / np.sqrt(draws["alpha"])[:, :, None]
        return yhat + sd * rng.standard_normal(yhat.shape)

    def prediction_columns(self, model, X, level):
        mean = model.predict(X)
        lo, hi = model.predict_interval(X, level=level).T
        return {"prediction": mean, "lower": lo, "upper": hi}, mean

    def metrics(self, model, point, cols, y) -> dict:
        y = np.asarray(y, dtype=np.float64)
        inside = (y >= cols["lower"]) & (y <= cols["upper"])
        return {"RMSE": float(np.sqrt(np.mean((point - y) ** 2))),
                "MAE": float(np.mean(np.abs(point - y))), "coverage": float(inside.mean())}

    def fitted_attributes(self) -> dict:
        """The estimator's fitted attributes that come from y."""
        return {"y_mean_": self.y_mean, "y_scale_": self.y_scale}

    def describe(self) -> dict:
        return {"kind": self.kind, "y_mean": self.y_mean, "y_scale": self.y_scale}


class _ProbitBase:
    """The probit models' shared part: labels encoded as class indices, latent draws as is."""

    probit = True
    rmse_scale = None
    eval_loc_scale = (0.0, 1.0)

    def __init__(self, classes):
        self.classes = classes

    def fitted_attributes(self) -> dict:
        """The estimator's fitted attributes that come from y."""
        return {"classes_": self.classes}

    def encode(self, y, n_rows: int) -> np.ndarray:
        return encode_labels(check_labels(y, n_rows), self.classes)

    def user_draws(self, raw: dict) -> dict:
        return {_LATENT_NAMES[name]: raw[name] for name in _LATENT_NAMES}


class ProbitObservation(_ProbitBase):
    """P(y = classes[1] | x) = Phi(yhat(x)); the noise precision is fixed at 1."""

    kind = "probit"

    @classmethod
    def from_target(cls, y, n_rows: int):
        """(observation model, class indices (n,), validated labels) from two labels;
        ValueError for one class, more than two, or a continuous target."""
        labels = check_labels(y, n_rows)
        if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
            raise ValueError("Unknown label type: continuous. FMClassifier needs class labels, "
                             "and y holds numbers that are not integers (use FMRegressor for a "
                             "continuous target)")
        classes = sorted_classes(labels)
        if classes.shape[0] != 2:
            if classes.shape[0] == 1:
                raise ValueError(f"y has one class only ({classes[0]!r}); a classifier needs "
                                 f"two")
            raise ValueError(f"Only binary classification is supported. The type of the target "
                             f"is multiclass: y has {classes.shape[0]} classes, and FMClassifier "
                             f"is binary (use FMOrdinalRegressor for ordered labels)")
        return cls(classes), encode_labels(labels, classes), labels

    def likelihood(self, cls):
        return OrderedProbit(cls, 2)

    def sweep_stats(self, raw: dict) -> dict:
        return {}

    def log_likelihood(self, yobs, yhat, draws) -> np.ndarray:
        sign = np.where(yobs == 1, 1.0, -1.0)[None, None, :]
        return log_ndtr(sign * yhat)

    def replicate(self, rng, yhat, draws) -> np.ndarray:
        return (yhat + rng.standard_normal(yhat.shape) > 0).astype(np.int64)

    def prediction_columns(self, model, X, level):
        p = model.predict_proba(X)[:, 1]
        lo, hi = model.predict_interval(X, level=level).T
        labels = model.classes_[(p > 0.5).astype(np.int64)]
        return {"probability": p, "lower": lo, "upper": hi, "label": labels}, p

    def metrics(self, model, point, cols, y) -> dict:
        positive = np.asarray(y) == model.classes_[1]
        p = np.clip(point, 1e-15, 1 - 1e-15)
        return {"accuracy": float(np.mean(cols["label"] == np.asarray(y))),
                "AUC": _auc(point, positive),
                "log-loss": float(-np.mean(np.where(positive, np.log(p), np.log(1 - p))))}

    def describe(self) -> dict:
        return {"kind": self.kind}


class OrderedProbitObservation(_ProbitBase):
    """y = classes[k] when z ~ Normal(yhat, 1) falls between the cutpoints c_k and c_{k+1}
    (c_1 = 0 fixed); Normal(cut_loc, cut_scale^2) priors on the log gaps of the cutpoints, which
    start at the normal quantiles of the cumulative class frequencies of the training labels
    (``delta0``)."""

    kind = "ordered_probit"

    def __init__(self, classes, cut_loc: float, cut_scale: float, delta0):
        super().__init__(classes)
        self.cut_loc = float(cut_loc)
        self.cut_scale = float(cut_scale)
        self.delta0 = np.asarray(delta0, dtype=np.float64)

    @classmethod
    def from_target(cls, y, n_rows: int, classes, cut_loc: float, cut_scale: float):
        """(observation model, class indices (n,), validated labels) from ordered labels and
        their order ``classes`` (K,)."""
        labels = check_labels(y, n_rows)
        if classes.shape[0] < 2:
            raise ValueError(f"y has one class only ({classes[0]!r}); ordinal regression needs "
                             f"at least two")
        idx = encode_labels(labels, classes)
        K = classes.shape[0]
        freq = (np.bincount(idx, minlength=K) + 0.5) / (idx.shape[0] + 0.5 * K)
        cuts = ndtri(np.cumsum(freq)[:-1])
        cuts = cuts - cuts[0]
        delta0 = delta_from_cutpoints(np.maximum.accumulate(cuts + 1e-3 * np.arange(K - 1)))
        return cls(classes, cut_loc, cut_scale, delta0), idx, labels

    def likelihood(self, cls):
        return OrderedProbit(cls, self.classes.shape[0], self.cut_loc, self.cut_scale,
                             self.delta0)

    def user_draws(self, raw: dict) -> dict:
        out = super().user_draws(raw)
        out["cutpoints"] = raw["cutpoints"]
        return out

    def sweep_stats(self, raw: dict) -> dict:
        """The MH outcome of every sweep (none with two classes: no cutpoint is sampled)."""
        return {"cutpoint_accepted": raw["accepted"].astype(bool)} if "accepted" in raw else {}

    def _bounds(self, draws):
        cuts = draws["cutpoints"]                                    # (C, S, K-1)
        C, S = cuts.shape[:2]
        lo = np.concatenate([np.full((C, S, 1), -np.inf), cuts], axis=2)
        hi = np.concatenate([cuts, np.full((C, S, 1), np.inf)], axis=2)
        return lo, hi

    def log_likelihood(self, yobs, yhat, draws) -> np.ndarray:
        lo, hi = self._bounds(draws)
        C, S = lo.shape[:2]
        k = np.broadcast_to(yobs.astype(np.int64)[None, None, :], (C, S, yobs.size))
        a = np.take_along_axis(lo, k, axis=2) - yhat
        b = np.take_along_axis(hi, k, axis=2) - yhat
        # log(Phi(b) - Phi(a)) on the side of the median, without cancellation
        flip = a > 0
        a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
        lb, la = log_ndtr(b2), log_ndtr(a2)
        with np.errstate(divide="ignore"):
            return lb + np.log1p(-np.exp(la - lb))

    def replicate(self, rng, yhat, draws) -> np.ndarray:
        z = yhat + rng.standard_normal(yhat.shape)
        return (z[:, :, :, None] > draws["cutpoints"][:, :, None, :]).sum(axis=3)

    def prediction_columns(self, model, X, level):
        proba = model.predict_proba(X)
        cols = {}
        numeric = np.issubdtype(np.asarray(model.classes_).dtype, np.number)
        if numeric:
            cols["expected"] = proba @ model.classes_.astype(np.float64)
        cols["label"] = model.classes_[np.argmax(proba, axis=1)]
        for k, c in enumerate(model.classes_):
            cols[f"p_{c}"] = proba[:, k]
        return cols, cols.get("expected")

    def metrics(self, model, point, cols, y) -> dict:
        out = {"accuracy": float(np.mean(cols["label"] == np.asarray(y)))}
        if point is not None:
            out["RMSE"] = float(np.sqrt(np.mean((point - np.asarray(y, dtype=float)) ** 2)))
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "cut_loc": self.cut_loc, "cut_scale": self.cut_scale,
                "delta0": self.delta0.tolist()}


def from_description(desc: dict, classes=None):
    """The observation model ``describe()`` described (``classes``: the fitted labels)."""
    kind = desc.get("kind")
    if kind == GaussianObservation.kind:
        return GaussianObservation(desc["y_mean"], desc["y_scale"])
    if kind == ProbitObservation.kind:
        return ProbitObservation(classes)
    if kind == OrderedProbitObservation.kind:
        return OrderedProbitObservation(classes, desc["cut_loc"], desc["cut_scale"],
                                        desc["delta0"])
    raise ValueError(f"unknown observation model {kind!r}")
