"""The shared base of the estimators: parameters, checks, prediction from stored draws."""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from bayesfm.data.validation import check_matrix
from bayesfm.exceptions import NotFittedError
from bayesfm.priors import Priors
from bayesfm.sampler import driver
from bayesfm.sampler.kernels import predict_draws_csr
from bayesfm.sampler.state import FMData

__all__ = ["BaseFM"]

#: rows x draws handled per block when reducing predictions, to bound memory
_BLOCK_CELLS = 1 << 22


class BaseFM:
    """scikit-learn style parameter handling and draw-based prediction for the FM estimators.

    Subclasses define ``__init__`` (storing their arguments unchanged) and ``fit``; fitted
    estimators hold the draws ``w0_`` (S,), ``w_`` (S, p) and ``V_`` (S, p, k) on the scale of
    the regression function.
    """

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments; unknown names raise ValueError. Returns self."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (imported only when scikit-learn asks)."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = getattr(self, "_estimator_type", "regressor")
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False) if kind == "classifier" else None,
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(sparse=True),
            non_deterministic=False,
        )

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in self._param_names():
            value = getattr(self, name)
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or value is not default and value != default:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- checks -------------------------------------------------------------------------------
    def _check_params(self):
        """Validate the constructor arguments (at fit time, as scikit-learn does)."""
        def _int(name, low):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
            if v < low:
                raise ValueError(f"{name} must be >= {low}, got {v}")
            return int(v)

        rank = _int("rank", 1)
        n_iter = _int("n_iter", 1)
        n_burn = _int("n_burn", 0)
        thin = _int("thin", 1)
        if n_burn >= n_iter:
            raise ValueError(f"n_burn ({n_burn}) must be smaller than n_iter ({n_iter}) so that "
                             f"at least one draw is kept")
        init_scale = self.init_scale
        if isinstance(init_scale, bool) or not isinstance(init_scale, numbers.Real):
            raise TypeError(f"init_scale must be a number, got {type(init_scale).__name__} "
                            f"{init_scale!r}")
        if not np.isfinite(init_scale) or init_scale < 0:
            raise ValueError(f"init_scale must be a finite number >= 0, got {init_scale!r}")
        priors = self.priors
        if priors is None:
            priors = Priors()
        elif not isinstance(priors, Priors):
            raise TypeError(f"priors must be a bayesfm.Priors or None, got {type(priors).__name__}")
        rs = self.random_state
        if not (rs is None or isinstance(rs, (numbers.Integral, np.random.Generator,
                                              np.random.SeedSequence))) or isinstance(rs, bool):
            raise TypeError("random_state must be None, an int, a numpy SeedSequence or a "
                            f"numpy Generator, got {type(rs).__name__}")
        if isinstance(rs, numbers.Integral) and rs < 0:
            raise ValueError(f"random_state must be >= 0, got {rs}")
        return rank, n_iter, n_burn, thin, float(init_scale), priors

    def _sample(self, Xr, gidx, likelihood, rank, n_iter, n_burn, thin, init_scale, priors):
        """Run one chain on ``likelihood``; returns (draws dict, residual RMS per sweep)."""
        data = FMData.from_matrix(Xr, gidx)
        rng = self._rng()
        state = driver.init_state(data, likelihood.target, rank, rng, init_scale)
        state, store, resid = driver.run_chain(data, likelihood, state, priors, rng, n_iter,
                                               n_burn, thin)
        return store.arrays(), resid

    def _rng(self) -> np.random.Generator:
        rs = self.random_state
        if isinstance(rs, np.random.Generator):
            return rs
        return np.random.default_rng(rs)

    def _check_fitted(self):
        if not hasattr(self, "w0_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) "
                                 f"before using it")

    def _check_predict_X(self, X):
        self._check_fitted()
        return check_matrix(X, "X", n_features=self.n_features_in_)

    # -- prediction ---------------------------------------------------------------------------
    @property
    def n_draws_(self) -> int:
        """Number of kept posterior draws."""
        self._check_fitted()
        return int(self.w0_.shape[0])

    def _draws_csr(self, Xr) -> np.ndarray:
        out = np.empty((self.w0_.shape[0], Xr.shape[0]))
        predict_draws_csr(Xr.indptr.astype(np.int64), Xr.indices.astype(np.int64), Xr.data,
                          Xr.shape[0], self.w0_, self.w_, self.V_, out)
        return out

    def _blocks(self, Xr):
        """Yield (row slice, draws (S, rows)) over row blocks of a CSR matrix."""
        S = max(1, self.w0_.shape[0])
        step = max(1, _BLOCK_CELLS // S)
        for start in range(0, Xr.shape[0], step):
            rows = slice(start, min(start + step, Xr.shape[0]))
            yield rows, self._draws_csr(Xr[rows])

    def decision_draws(self, X) -> np.ndarray:
        """The FM regression function yhat for every kept draw: array (n_draws, n_rows).

        For regression this is the predicted mean of y; for the probit models it is the mean of
        the latent variable."""
        return self._draws_csr(self._check_predict_X(X))

    def decision_function(self, X) -> np.ndarray:
        """Posterior mean of the FM regression function yhat at each row of X: array (n,)."""
        return self._predict_mean(X)

    def _predict_mean(self, X) -> np.ndarray:
        Xr = self._check_predict_X(X)
        out = np.empty(Xr.shape[0])
        for rows, draws in self._blocks(Xr):
            out[rows] = draws.mean(axis=0)
        return out
