"""Bayesian Factorization Machine regression: ``FMRegressor``."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from bayesfm.data.validation import check_target
from bayesfm.models._docs import _COMMON_DOC
from bayesfm.models._inputs import central_probs, check_levels
from bayesfm.models.base import BaseFM
from bayesfm.models.observation import GaussianObservation
from bayesfm.sampler import execution
from bayesfm.sampler.kernels import mixture_normal_quantiles

__all__ = ["FMRegressor"]


class FMRegressor(BaseFM):
    """Factorization Machine regression fitted by Gibbs sampling (no tuning needed).

    The model is ``y = w0 + sum_j w_j x_j + sum_{j<l} <v_j, v_l> x_j x_l + noise`` with Gaussian
    noise of precision alpha, Normal priors on w0, w and V, and Normal-Gamma hyperpriors per
    feature group (see ``bayesfm.Priors``). The target is standardised internally (mean 0,
    standard deviation 1) and every draw is mapped back, so fitting ``a*y + b`` (a > 0) gives
    ``a*pred + b`` and the priors need no rescaling for the units of y.

    S below is n_chains x draws per chain, chain-major; ``draws_`` holds the same draws with
    shape (chains, draws, ...).

    Parameters
    ----------{params}
    Attributes
    ----------
    w0_ : ndarray (S,)
        Draws of the global bias (units of y).
    w_ : ndarray (S, p)
        Draws of the linear weights ((S, 0) with ``keep_draws=False``).
    V_ : ndarray (S, p, k)
        Draws of the latent factors, scaled by the square root of y's scale ((S, 0, k) with
        ``keep_draws=False``).
    alpha_ : ndarray (S,)
        Draws of the noise precision (1 / units of y squared).
    mu_w_, lambda_w_ : ndarray (S, G)
        Group means and precisions of w.
    mu_v_, lambda_v_ : ndarray (S, G, k)
        Group means and precisions of V, per factor.
    groups_ : list
        The G group labels, in order of first appearance.
    group_index_ : ndarray (p,)
        Group (0..G-1) of every feature.
    train_rmse_ : ndarray (n_chains, sweeps)
        Training RMSE after every sweep (units of y).
    draws_ : dict of ndarray (n_chains, draws, ...)
        The same draws, per chain.
    eval_predictions_ : dict of bayesfm.models.evaluation.EvalPrediction
        Accumulated predictions of the ``eval_sets`` given to ``fit`` (mean, sd, intervals).
    n_chains_, draws_per_chain_, sweeps_per_chain_ : int
        Chains, kept draws per chain and sweeps per chain.
    n_iter_ : int
        Sweeps per chain run so far (scikit-learn's name for ``sweeps_per_chain_``).
    sampling_seconds_ : float
        Wall seconds spent sampling (all chains, every run of this fit: ``fit`` and
        ``sample_more``); ``diagnose`` divides ESS by it.
    column_scale_ : ndarray (p,)
        The scale each column of X was divided by for sampling (``bayesfm.data.scaling``: the
        largest |x| of the column, shared within one-hot groups, 1 for 0/1 columns); the
        priors of w and V apply to the coefficients of the scaled columns, the draws above are
        in the units of X.
    convergence_ : dict
        With ``n_iter="auto"``: what the automatic stop did: ``converged``, ``reason``
        ("converged", "max_iter reached", "max_time reached", "interrupted"),
        ``sweeps_per_chain``, ``draws_per_chain``, ``seconds``, ``check_seconds`` (the time
        the checks took), ``checks`` (R-hat and ESS at every check) and ``held_back`` (for a
        fit that stopped unconverged: one sentence naming the block that held it back and
        what to do; empty otherwise).
    interrupted_ : bool
        True when the last run was stopped by Ctrl-C.
    y_mean_, y_scale_ : float
        The standardisation of y: its mean and standard deviation (for a constant y, |y|; 1
        when y is 0).
    n_features_in_ : int
        Number of columns of X.
    """

    _estimator_type = "regressor"

    def fit(self, X, y, groups=None, client=None, eval_sets=None):
        """Sample the posterior of the FM given ``X`` (n, p) and ``y`` (n,).

        ``X``: dense or sparse (n, p), a pandas DataFrame (encoded by ``encoder``), or a
        ``bayesfm.data.relational.RelationalData`` (repeated blocks given once, never expanded
        by the sampler; its block names are the default groups).
        ``groups`` is one label per column of X (any hashable values; features with the same
        label share hyperparameters) or None for a single group. ``client``: a
        ``dask.distributed.Client`` to run the chains on (default: the active one, if any).
        ``eval_sets``: dict name -> X of rows whose predictions are accumulated during sampling
        (mean, sd, intervals: ``eval_predictions_[name]``), whatever ``keep_draws`` is.
        Returns self.
        """
        return self._fit(X, y, groups, client, eval_sets)

    def _make_observation(self, y, n_rows, config):
        return GaussianObservation.from_target(y, n_rows)

    def predict(self, X) -> np.ndarray:
        """Posterior mean of the regression function at each row of X: array (n,)."""
        return self._predict_mean(X)

    def predict_draws(self, X) -> np.ndarray:
        """The regression function for every kept draw: array (n_draws, n_rows)."""
        return self.decision_draws(X)

    def predict_interval(self, X, level=0.9, kind: str = "predictive") -> np.ndarray:
        """Central ``level`` interval per row of X, in the units of y: array (n, 2) of (lower,
        upper); with several levels (a sequence of L numbers), (n, L, 2), level by level in the
        order given.

        ``kind="predictive"``: interval for a new observation y at x, the exact quantiles of the
        posterior predictive distribution (a mixture over draws of Normal(yhat_s(x), 1/alpha_s)):
        a new y falls inside with probability ``level``. ``kind="mean"``: credible interval of
        the regression function yhat(x), the mean of y at x (quantiles of the draws).
        """
        levels, scalar = check_levels(level)
        if kind not in ("predictive", "mean"):
            raise ValueError(f"kind must be 'predictive' or 'mean', got {kind!r}")
        Xr = self._check_predict_X(X)
        probs = central_probs(levels)
        out = np.empty((Xr.shape[0], probs.shape[0]))
        sds = 1.0 / np.sqrt(self.alpha_)
        for rows, draws in self._blocks(Xr):
            if kind == "mean":
                out[rows] = np.quantile(draws, probs, axis=0).T
            else:
                block = np.empty((draws.shape[1], probs.shape[0]))
                threads = execution.resolve_n_threads(getattr(self, "n_threads", None))
                execution.run(mixture_normal_quantiles, threads, draws, sds, probs,
                              ndtri(probs), block)
                out[rows] = block
        out = out.reshape(out.shape[0], levels.shape[0], 2)
        return out[:, 0] if scalar else out

    def score(self, X, y) -> float:
        """Coefficient of determination R^2 of ``predict(X)`` against y."""
        yv = check_target(y, self._check_predict_X(X).shape[0])
        resid = yv - self.predict(X)
        ss = np.sum((yv - yv.mean()) ** 2)
        return float(1 - np.sum(resid**2) / ss) if ss > 0 else float("nan")


FMRegressor.__doc__ = FMRegressor.__doc__.replace("{params}", _COMMON_DOC.rstrip())
