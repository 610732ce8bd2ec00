"""Ordinal regression with an ordered probit link: ``FMOrdinalRegressor``."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from bayesfm.data.validation import check_labels, sorted_classes
from bayesfm.models._config import DEFAULT_DRAWS_BYTES, DEFAULT_MOVES
from bayesfm.models._docs import _COMMON_DOC
from bayesfm.models._inputs import check_levels
from bayesfm.models.base import LabelFM
from bayesfm.models.observation import OrderedProbitObservation
from bayesfm.sampler.ordinal import class_probabilities

__all__ = ["FMOrdinalRegressor"]


class FMOrdinalRegressor(LabelFM):
    """Factorization Machine ordinal regression (ordered probit) fitted by Gibbs sampling.

    y = classes_[k] when the latent z ~ Normal(yhat(x), 1) falls between the cutpoints c_k and
    c_{k+1} (c_0 = -inf, c_1 = 0 fixed for identifiability, c_K = +inf). Each sweep draws the
    cutpoints by a Metropolis-Hastings step with the latent variables integrated out (Albert and
    Chib 2001: independence t proposal at the conditional mode of the log gaps), then the latent
    variables given the cutpoints, then the FM updates on them with the noise variance fixed at 1.
    The prior on the cutpoints is in ``bayesfm.Priors`` (``cut_loc``, ``cut_scale``).

    The bounded-memory mode (``keep_draws=False``, ``eval_sets``) is not available for this
    estimator yet.

    Parameters
    ----------{params}
    classes : sequence or None
        The labels in increasing order. None sorts the distinct labels of y (they must be
        orderable: all numbers, or all strings...). Give it when the natural order is not the
        sort order (for example ["low", "medium", "high"]) or when a level may be absent from y.

    Attributes
    ----------
    classes_ : ndarray (K,)
        The ordered labels.
    cutpoints_ : ndarray (S, K-1)
        Cutpoint draws (the first is 0).
    cutpoint_acceptance_ : float
        MH acceptance rate of the cutpoint step over all sweeps (NaN with two classes).
    cutpoint_accepted_ : ndarray (n_chains, sweeps) of bool
        The MH outcome of every sweep (with two classes there is no cutpoint to sample:
        shape (n_chains, 0)).
    w0_, w_, V_, mu_w_, lambda_w_, mu_v_, lambda_v_ : ndarray
        Draws on the latent scale (as ``FMClassifier``).
    """

    _multi_class = True
    _sklearn_expected_failed_checks = {
        "check_classifiers_regression_target": (
            "ordered labels may be any numbers, half-star ratings (0.5, 1.0, ..., 5.0) "
            "included, so numbers that are not integers are labels here, not a continuous "
            "target to refuse"),
        "check_classifiers_train": (
            "the check's three classes (blobs around random centres) have no order, and an "
            "ordinal model lays the classes along one latent axis in their sorted order: it "
            "reaches an accuracy of about 0.70 there, the check asks 0.83 of a classifier of "
            "unordered classes"),
        "check_decision_proba_consistency": (
            "decision_function is the posterior mean of the latent yhat and predict_proba the "
            "posterior mean of the class probabilities Phi(c_k - yhat) - Phi(c_{k-1} - yhat); "
            "a mean of a non-linear function need not rank the rows as the mean of its "
            "argument does (FMClassifier's decision_function is the probit of its predictive "
            "probability instead, and passes)"),
        "check_classifiers_classes": (
            "on two classes the check reads decision_function > 0 as the decision for "
            "classes_[1]; the ordinal's decision_function is the posterior mean of the latent "
            "yhat, whose sign need not agree with the more probable class, which predict "
            "returns (the first cutpoint is 0, but the mean of Phi(yhat) over the draws can "
            "cross 1/2 elsewhere than the mean of yhat crosses 0)"),
    }

    def __init__(self, rank=8, n_iter=300, n_burn=100, thin=1, init_scale=0.1, priors=None,
                 keep_draws=True, n_chains=4, n_jobs=None, n_threads=None, progress=None,
                 max_iter=5000, max_time=None, check_every=100, encoder=None, classes=None,
                 random_state=None, moves=DEFAULT_MOVES, max_draws_bytes=DEFAULT_DRAWS_BYTES):
        super().__init__(rank=rank, n_iter=n_iter, n_burn=n_burn, thin=thin,
                         init_scale=init_scale, priors=priors, keep_draws=keep_draws,
                         n_chains=n_chains, n_jobs=n_jobs, n_threads=n_threads,
                         progress=progress, max_iter=max_iter, max_time=max_time,
                         check_every=check_every, encoder=encoder, random_state=random_state,
                         moves=moves, max_draws_bytes=max_draws_bytes)
        self.classes = classes

    def _resolve_classes(self, labels):
        if self.classes is None:
            return sorted_classes(labels)
        if isinstance(self.classes, (str, bytes)) or np.ndim(self.classes) != 1:
            raise ValueError("classes must be a 1-d sequence of labels in increasing order")
        items = list(self.classes)
        if len({type(c) for c in items}) > 1:
            classes = np.empty(len(items), dtype=object)   # keep mixed types as they are
            classes[:] = items
        else:
            classes = np.asarray(items)
        if len(set(classes.tolist())) != classes.shape[0]:
            raise ValueError(f"classes has repeated labels: {classes.tolist()}")
        if classes.shape[0] < 2:
            raise ValueError(f"classes must list at least two labels (a single class cannot be "
                             f"modelled), got {items!r}")
        return classes

    def fit(self, X, y, groups=None, client=None):
        """Sample the posterior given ``X`` (n, p) and ordered labels ``y`` (n,).

        ``X``, ``groups`` and ``client`` as in ``FMRegressor.fit``. Returns self."""
        return self._fit(X, y, groups, client)

    def _make_observation(self, y, n_rows, config):
        classes = self._resolve_classes(check_labels(y, n_rows))
        if classes.shape[0] < 2:
            raise ValueError(f"y has one class only ({classes[0]!r}); ordinal regression needs "
                             f"at least two")
        return OrderedProbitObservation.from_target(y, n_rows, classes, config.priors.cut_loc,
                                                    config.priors.cut_scale)

    _accumulates_predictions = False

    def _after_absorb(self):
        super()._after_absorb()
        if not self._posterior.has_sweeps("cutpoint_accepted"):      # two classes
            # (the posterior's chain count: a model loaded without its chains has none)
            self.cutpoint_accepted_ = np.zeros((self._posterior.n_chains, 0), dtype=bool)
        acc = self.cutpoint_accepted_
        self.cutpoint_acceptance_ = float(acc.mean()) if acc.size else float("nan")

    def decision_function(self, X) -> np.ndarray:
        """Posterior mean of the latent mean yhat at each row of X: array (n,) (larger means
        higher classes; ``predict_proba`` gives the class probabilities, which need not rank
        the rows as this mean does: see ``_sklearn_expected_failed_checks``)."""
        return self._predict_mean(X)

    def predict_proba(self, X) -> np.ndarray:
        """The posterior predictive distribution over the classes at each row of X: array
        (n, K), columns in the order of classes_, rows summing to 1 (the posterior mean of the
        class probabilities: the probability of each class for a new observation at x)."""
        Xr = self._check_predict_X(X)
        out = np.empty((Xr.shape[0], self.classes_.shape[0]))
        for rows, draws in self._blocks(Xr):
            block = np.empty((draws.shape[1], out.shape[1]))
            class_probabilities(draws, self.cutpoints_, block)
            out[rows] = block
        return out

    def predict_draws(self, X) -> np.ndarray:
        """Class probabilities for every kept draw: array (n_draws, n_rows, K). An array
        larger than half the machine's memory (with its work space) is refused (MemoryError,
        saying how many rows at a time fit)."""
        Xr = self._check_predict_X(X)
        self._check_draws_memory(Xr.shape[0], 2 * len(self.classes_) + 3)
        yhat = self._draws_csr(Xr)
        S = yhat.shape[0]
        cdf = np.concatenate([np.zeros((S, yhat.shape[1], 1)),
                              ndtr(self.cutpoints_[:, None, :] - yhat[:, :, None]),
                              np.ones((S, yhat.shape[1], 1))], axis=2)
        return np.diff(cdf, axis=2)

    def predict_set(self, X, level=0.9) -> np.ndarray:
        """The smallest set of classes whose predictive probability reaches ``level``, per row
        of X: a boolean mask (n, K) over classes_ (True: in the set); with several levels (a
        sequence of L numbers), (n, L, K), level by level in the order given.

        Classes join in order of decreasing ``predict_proba`` (ties: the lower class first)
        until their probabilities sum to at least ``level``: a new observation falls in the set
        with probability at least ``level``, and no smaller set of classes has as much. The set
        need not be contiguous (two likely ratings with an unlikely one between them)."""
        levels, scalar = check_levels(level)
        proba = self.predict_proba(X)
        order = np.argsort(-proba, axis=1, kind="stable")
        ranked = np.take_along_axis(proba, order, axis=1)
        before = np.cumsum(ranked, axis=1) - ranked           # probability of the classes ahead
        out = np.zeros((proba.shape[0], levels.shape[0], proba.shape[1]), dtype=bool)
        for j, lev in enumerate(levels):
            # a class joins while the classes ahead of it fall short of the level (at 1e-12:
            # probabilities that sum to the level up to rounding reach it)
            np.put_along_axis(out[:, j], order, before < lev - 1e-12, axis=1)
        return out[:, 0] if scalar else out

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row: array (n,) of labels."""
        best = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[best]

    def predict_expected(self, X) -> np.ndarray:
        """Posterior expected label, sum_k classes_[k] P(y = classes_[k] | x): array (n,).

        Needs numeric labels (for star ratings it is the expected rating, the quantity to
        compare with an RMSE)."""
        self._check_fitted()
        if not np.issubdtype(np.asarray(self.classes_).dtype, np.number):
            raise TypeError(f"predict_expected needs numeric class labels; classes_ are "
                            f"{self.classes_.tolist()} (use predict_proba)")
        return self.predict_proba(X) @ self.classes_.astype(np.float64)


FMOrdinalRegressor.__doc__ = FMOrdinalRegressor.__doc__.replace("{params}", _COMMON_DOC.rstrip())
