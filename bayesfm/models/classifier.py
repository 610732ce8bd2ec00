"""Binary classification with a probit link: ``FMClassifier``."""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri_exp

from bayesfm.models._docs import _COMMON_DOC
from bayesfm.models._inputs import central_probs, check_levels
from bayesfm.models.base import LabelFM
from bayesfm.models.observation import ProbitObservation

__all__ = ["FMClassifier"]


class FMClassifier(LabelFM):
    """Factorization Machine binary classifier (probit link) fitted by Gibbs sampling.

    P(y = classes_[1] | x) = Phi(yhat(x)). Each sweep draws the Albert-Chib latent variables
    z_i ~ Normal(yhat_i, 1) truncated by the label, then runs the FM updates on z with the noise
    precision held at 1 (it is not identified in a probit model). Priors and hyperpriors as in
    ``FMRegressor``, on the latent scale.

    Labels may be any two values (0/1, -1/+1, strings); ``classes_`` holds them sorted, and the
    second is the "positive" class.

    S below is n_chains x draws per chain; see ``FMRegressor`` for the attributes the two share.

    Parameters
    ----------{params}

    Attributes
    ----------
    classes_ : ndarray (2,)
        The two labels, sorted; the second is the positive class.
    w0_, w_, V_, mu_w_, lambda_w_, mu_v_, lambda_v_ : ndarray
        Draws (shapes as in ``FMRegressor``), on the latent scale.
    eval_predictions_ : dict of bayesfm.models.evaluation.EvalPrediction
        Accumulated predictions of the ``eval_sets`` given to ``fit``; ``proba`` is the
        posterior mean probability of ``classes_[1]``.
    groups_, group_index_, n_features_in_ : list, ndarray, int
        As in ``FMRegressor``.
    """


    def fit(self, X, y, groups=None, client=None, eval_sets=None):
        """Sample the posterior given ``X`` (n, p) and labels ``y`` (n,) of two classes.

        ``X``: dense or sparse (n, p), a pandas DataFrame (encoded by ``encoder``), or a
        ``bayesfm.data.relational.RelationalData`` (repeated blocks given once, never expanded
        by the sampler; its block names are the default groups).

        ``groups``, ``client`` and ``eval_sets`` as in ``FMRegressor.fit`` (the accumulated
        ``eval_predictions_[name].proba`` is the predicted probability of ``classes_[1]``).
        Returns self."""
        return self._fit(X, y, groups, client, eval_sets)

    def _make_observation(self, y, n_rows, config):
        return ProbitObservation.from_target(y, n_rows)

    def predict_draws(self, X) -> np.ndarray:
        """P(y = classes_[1] | x) for every kept draw: array (n_draws, n_rows)."""
        return ndtr(self.decision_draws(X))

    def decision_function(self, X) -> np.ndarray:
        """The probit of the posterior predictive probability, Phi^-1(P(y = classes_[1] | x)):
        array (n,); positive where ``predict`` gives ``classes_[1]``, and ranking the rows as
        ``predict_proba`` does.

        (The posterior mean of yhat, ``decision_draws(X).mean(axis=0)``, is not a decision
        function of this classifier: the mean of Phi(yhat) over the draws need not rank, nor
        cross 1/2, as the mean of yhat does.) Computed in log space, so it stays finite where
        the probability rounds to 0 or 1."""
        Xr = self._check_predict_X(X)
        out = np.empty(Xr.shape[0])
        for rows, draws in self._blocks(Xr):
            log_n = np.log(draws.shape[0])
            log_p1 = logsumexp(log_ndtr(draws), axis=0) - log_n        # log P(y = 1)
            log_p0 = logsumexp(log_ndtr(-draws), axis=0) - log_n       # log P(y = 0)
            out[rows] = np.where(log_p1 < log_p0, ndtri_exp(log_p1), -ndtri_exp(log_p0))
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Posterior mean class probabilities: array (n, 2), columns in the order of classes_."""
        Xr = self._check_predict_X(X)
        p1 = np.empty(Xr.shape[0])
        for rows, draws in self._blocks(Xr):
            p1[rows] = ndtr(draws).mean(axis=0)
        return np.column_stack([1.0 - p1, p1])

    def predict_interval(self, X, level=0.9) -> np.ndarray:
        """Credible interval of the probability P(y = classes_[1] | x) per row of X: array (n, 2)
        of (lower, upper) (quantiles over the draws of Phi(yhat_s(x))); with several levels (a
        sequence of L numbers), (n, L, 2), level by level in the order given.

        It says how well the posterior knows the probability (wide for a row unlike the training
        rows, a new user for instance); ``predict_proba`` is its posterior mean, the probability
        of classes_[1] for a new observation."""
        levels, scalar = check_levels(level)
        Xr = self._check_predict_X(X)
        probs = central_probs(levels)
        out = np.empty((Xr.shape[0], probs.shape[0]))
        for rows, draws in self._blocks(Xr):
            out[rows] = np.quantile(ndtr(draws), probs, axis=0).T
        out = out.reshape(out.shape[0], levels.shape[0], 2)
        return out[:, 0] if scalar else out

    def predict(self, X) -> np.ndarray:
        """The more probable class of each row: array (n,) of labels."""
        positive = self.predict_proba(X)[:, 1] > 0.5
        return self.classes_[positive.astype(np.int64)]


FMClassifier.__doc__ = FMClassifier.__doc__.replace("{params}", _COMMON_DOC.rstrip())
