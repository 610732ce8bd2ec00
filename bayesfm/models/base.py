"""The shared base of the estimators: parameters, chains, continuation, prediction from draws.

A fit runs ``n_chains`` independent chains (seeds spawned from ``random_state``), in worker
processes or on a Dask cluster, and pools their kept draws. Every chain stays in the estimator,
so ``sample_more`` continues each one exactly where it stopped. Subclasses say how to read the
target (``_prepare``), which observation model to use (``_new_likelihood``) and how to map
sampler draws to their fitted attributes (``_user_draws``).
"""

from __future__ import annotations

import copy
import inspect
import numbers
import pickle
import time
import warnings

import numpy as np
import scipy.sparse as sp

from bayesfm.atomic import atomic_write
from bayesfm.data.relational import RelationalData, stack_blocks
from bayesfm.data.scaling import column_scales, relational_scales, scale_columns
from bayesfm.data.validation import check_matrix
from bayesfm.exceptions import NotFittedError
from bayesfm.priors import Priors
from bayesfm.progress import ProgressBar
from bayesfm.sampler.chain import new_chain
from bayesfm.sampler import kernels, relational
from bayesfm.sampler._jit import for_threads
from bayesfm.sampler.kernels import PAR_MIN
from bayesfm.models.evaluation import EvalPrediction, pool_moments
from bayesfm.sampler.parallel import active_dask_client, resolve_n_jobs, run_chains
from bayesfm.sampler.threads import (KERNEL_LOCK, num_threads, resolve_n_threads,
                                     threads_for_work)
from bayesfm.sampler.design import FMData, RelationalFMData, _csr
from bayesfm.sampler.records import RelationalRows

__all__ = ["BaseFM", "load"]


class _RelationalRows:
    """Rows start..stop-1 of a RelationalData, in the form the prediction kernel reads
    (``records.RelationalRows``); sliced like a matrix by ``_blocks`` (no expansion)."""

    def __init__(self, rel, start=0, stop=None, arrays=None):
        if arrays is None:
            D, mats, idx = rel.parts()
            D = sp.csr_matrix(D)
            D.sort_indices()
            stacked, _, psi = stack_blocks(mats, idx, D.shape[0])
            arrays = RelationalRows(_csr(D), _csr(stacked), psi, int(D.shape[1]))
        self.arrays = arrays
        self.n_rows = rel.n_rows if rel is not None else None
        self.start = start
        self.stop = self.n_rows if stop is None else stop
        self.shape = (self.stop - self.start, rel.n_features if rel is not None else None)

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        sub = _RelationalRows.__new__(_RelationalRows)
        sub.arrays, sub.n_rows = self.arrays, self.n_rows
        sub.start, sub.stop = self.start + start, self.start + stop
        sub.shape = (stop - start, self.shape[1])
        return sub


def _is_frame(X) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "columns")

#: rows x draws handled per block when reducing predictions, to bound memory
_BLOCK_CELLS = 1 << 22
#: training rows whose yhat is tracked by the convergence diagnostics
_N_DIAGNOSTIC_ROWS = 50

_COMMON_DOC = """
    rank : int, default 8
        Number of latent factors k (>= 1).
    n_iter : int or "auto", default 300
        Gibbs sweeps per chain. "auto" samples until the convergence diagnostics pass (R-hat <
        1.01 and bulk/tail ESS > 400 on identified quantities, see ``diagnose``), checking every
        ``check_every`` sweeps after burn-in, within ``max_iter`` sweeps and ``max_time``
        seconds; ``convergence_`` reports what happened.
    n_burn : int, default 100
        Sweeps discarded at the start of each chain (must be < n_iter).
    thin : int, default 1
        Keep every ``thin``-th sweep after burn-in.
    init_scale : float, default 0.1
        Standard deviation of the initial latent factors. The posterior does not depend on it,
        but the burn-in does: very small values (0.01) start the chain on a plateau where the
        interactions are near zero, and it takes longer to leave it.
    priors : bayesfm.Priors or None
        Hyperprior constants; None means ``Priors()`` (libFM's defaults).
    keep_draws : bool, default True
        Keep the draws of w and V (needed to predict new rows afterwards). False is the
        bounded-memory mode: only the scalar and hyperparameter draws are kept (w0, alpha, mu,
        lambda), and predictions are accumulated during sampling for the ``eval_sets`` given to
        ``fit`` (``eval_predictions_``). Memory per chain, S kept draws, p features, rank k, G
        groups: kept draws 8 S (2 + p (k + 1) + 2 G (k + 1)) bytes; bounded 8 S (2 + 2 G (k + 1))
        bytes plus 64 bytes per evaluation row (and the sampler state, about 8 (k + 2) n bytes
        for n training rows, in both modes).
    n_chains : int, default 4
        Independent chains. Four is the smallest number for which split R-hat is a reliable
        convergence check (Vehtari et al. 2021); predictions pool the draws of all chains.
    n_jobs : int or None, default None
        Worker processes for the chains (None: one per chain, up to the usable CPUs; 1: in this
        process). The draws are the same whatever n_jobs is. When a ``dask.distributed`` client
        is active the chains run as Dask tasks on its workers instead.
    n_threads : int or None, default None
        Threads for the parallel kernels (None: all usable CPUs), shared out among the chains
        run at the same time: each of the n_jobs processes gets ``max(1, n_threads // n_jobs)``.
        Within a chain, coefficients of columns that share no row (the members of a one-hot
        block) are drawn in parallel, and predictions are computed in parallel. The draws are
        the same, bit for bit, whatever n_threads is.
    progress : bool or None, default None
        Progress bar on standard error (sweeps, chains, current training RMSE); None shows it
        only when standard error is a terminal.
    max_iter : int, default 5000
        With ``n_iter="auto"``: the most sweeps per chain.
    max_time : float or None, default None
        With ``n_iter="auto"``: stop after this many seconds (checked between chunks).
    check_every : int, default 100
        With ``n_iter="auto"``: sweeps between two convergence checks.
    encoder : bayesfm.data.encoders.TableEncoder or None, default None
        How a pandas DataFrame given to ``fit`` becomes a design matrix (None: ``TableEncoder()``:
        categorical and string columns one-hot, numeric columns standardised, list-valued columns
        normalised multi-hot, one hyperprior group per source column; integer id columns need
        ``TableEncoder(categorical=["user", "item"])`` or a category dtype). The fitted copy is
        ``encoder_``; predicting on a frame with unseen categories works (they contribute
        nothing), and the feature names reach ``to_inference_data``.
    random_state : int, numpy SeedSequence, numpy Generator or None
        Seed. The chains' generators are spawned from it, so the same int gives the same draws
        bit for bit, whatever n_jobs is.
"""


def load(path):
    """Load an estimator saved with ``save`` (a pickle: load only files you trust)."""
    with open(path, "rb") as fh:
        model = pickle.load(fh)
    if not isinstance(model, BaseFM):
        raise TypeError(f"{path} does not hold a bayesfm estimator (found "
                        f"{type(model).__name__})")
    return model


class BaseFM:
    """scikit-learn style parameters, chains and draw-based prediction for the FM estimators.

    Fitted estimators hold the pooled draws ``w0_`` (S,), ``w_`` (S, p) and ``V_`` (S, p, k)
    (S = chains x draws per chain, chain-major) and per-chain views in ``draws_``.
    """

    _estimator_type = "regressor"
    _common_param_doc = _COMMON_DOC
    #: classifiers: whether more than two classes can be fitted (scikit-learn's tag)
    _multi_class = False
    #: scikit-learn conformance checks that fail by design, with the reason (passed as
    #: ``expected_failed_checks`` to ``check_estimator`` / ``parametrize_with_checks``)
    _sklearn_expected_failed_checks: dict = {}

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments, as scikit-learn's ``get_params``: with ``deep``, also the
        parameters of nested objects that have ``get_params`` (the encoder), as
        ``encoder__min_count`` and so on, so ``GridSearchCV`` can tune them."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = sub
        return out

    def set_params(self, **params):
        """Set constructor arguments, and nested ones as ``encoder__min_count=2`` (scikit-learn's
        convention); unknown names raise ValueError. Returns self."""
        valid = set(self._param_names())
        nested: dict = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {sorted(valid)}")
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            target = getattr(self, name)
            if not hasattr(target, "set_params"):
                raise ValueError(f"cannot set {sorted(name + '__' + k for k in sub_params)}: "
                                 f"{name} is {target!r}, which has no parameters (set {name} "
                                 f"first, e.g. {name}=TableEncoder())")
            target.set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (imported only when scikit-learn asks)."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = getattr(self, "_estimator_type", "regressor")
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=True),
            classifier_tags=(ClassifierTags(multi_class=self._multi_class)
                             if kind == "classifier" else None),
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
    @staticmethod
    def _int(name, v, low):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
        if v < low:
            raise ValueError(f"{name} must be >= {low}, got {v}")
        return int(v)

    def _check_params(self):
        """Validate the constructor arguments (at fit time, as scikit-learn does)."""
        rank = self._int("rank", self.rank, 1)
        auto = isinstance(self.n_iter, str)
        if auto and self.n_iter != "auto":
            raise ValueError(f"n_iter must be a positive integer or 'auto', got {self.n_iter!r}")
        n_burn = self._int("n_burn", self.n_burn, 0)
        thin = self._int("thin", self.thin, 1)
        if auto:
            check_every = self._int("check_every", self.check_every, 1)
            max_iter = self._int("max_iter", self.max_iter, 1)
            if n_burn + check_every > max_iter:
                raise ValueError(f"max_iter ({max_iter}) must be at least n_burn + check_every "
                                 f"({n_burn + check_every})")
            if self.max_time is not None and (isinstance(self.max_time, bool) or not isinstance(
                    self.max_time, numbers.Real) or not self.max_time > 0):
                raise ValueError(f"max_time must be None or a positive number of seconds, got "
                                 f"{self.max_time!r}")
            n_iter = n_burn + check_every
        else:
            n_iter = self._int("n_iter", self.n_iter, 1)
            if n_burn >= n_iter:
                raise ValueError(f"n_burn ({n_burn}) must be smaller than n_iter ({n_iter}) so "
                                 f"that at least one draw is kept")
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
        self._int("n_chains", self.n_chains, 1)
        if self.n_jobs is not None:
            self._int("n_jobs", self.n_jobs, -64)
            if self.n_jobs == 0:
                raise ValueError("n_jobs must be None, a positive number of processes, or "
                                 "negative (all CPUs but |n_jobs| - 1); got 0")
        if self.n_threads is not None:
            self._int("n_threads", self.n_threads, 1)
        if self.keep_draws not in (True, False):
            raise ValueError(f"keep_draws must be True or False, got {self.keep_draws!r}")
        if self.progress not in (None, True, False):
            raise ValueError(f"progress must be None, True or False, got {self.progress!r}")
        rs = self.random_state
        if not (rs is None or isinstance(rs, (numbers.Integral, np.random.Generator,
                                              np.random.SeedSequence))) or isinstance(rs, bool):
            raise TypeError("random_state must be None, an int, a numpy SeedSequence or a "
                            f"numpy Generator, got {type(rs).__name__}")
        if isinstance(rs, numbers.Integral) and rs < 0:
            raise ValueError(f"random_state must be >= 0, got {rs}")
        return rank, n_iter, n_burn, thin, float(init_scale), priors

    def _chain_seeds(self):
        rs = self.random_state
        if isinstance(rs, np.random.Generator):
            return rs.spawn(self.n_chains)
        ss = rs if isinstance(rs, np.random.SeedSequence) else np.random.SeedSequence(rs)
        return ss.spawn(self.n_chains)

    def _check_fitted(self):
        if not hasattr(self, "w0_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) "
                                 f"before using it")
        if self.w0_.shape[0] == 0:
            raise NotFittedError(f"this {type(self).__name__} holds no posterior draws yet (the "
                                 f"fit was interrupted during burn-in); call sample_more(n)")

    def _encode_for_fit(self, X, groups):
        """X as a CSR matrix (a pandas DataFrame goes through a fitted ``TableEncoder``, whose
        source columns become the default groups); returns (X, groups)."""
        if isinstance(X, RelationalData):
            self.encoder_ = None
            return X, (X.default_groups() if groups is None else groups)
        if _is_frame(X):
            from bayesfm.data.encoders import TableEncoder

            encoder = copy.deepcopy(self.encoder) if self.encoder is not None else TableEncoder()
            if not hasattr(encoder, "fit_transform"):
                raise TypeError(f"encoder must be a bayesfm.data.encoders.TableEncoder (or have "
                                f"fit_transform/transform), got {type(encoder).__name__}")
            Xr = check_matrix(encoder.fit_transform(X), "X")
            if groups is None:
                groups = list(encoder.groups_)
            self.encoder_ = encoder
            self.feature_names_in_ = np.asarray(encoder.feature_names_, dtype=object)
            return Xr, groups
        self.encoder_ = None
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return check_matrix(X, "X"), groups

    def _check_predict_X(self, X, fitted=True):
        if fitted:
            self._check_fitted()
        if isinstance(X, _RelationalRows):
            return X
        if isinstance(X, RelationalData):
            if X.n_features != self.n_features_in_:
                raise ValueError(f"X has {X.n_features} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input")
            return _RelationalRows(X)
        if _is_frame(X):
            if getattr(self, "encoder_", None) is None:
                raise TypeError(f"this {type(self).__name__} was fitted on a matrix; pass a "
                                f"matrix with {self.n_features_in_} columns, not a DataFrame")
            X = self.encoder_.transform(X)
        return check_matrix(X, "X", n_features=self.n_features_in_, owner=type(self).__name__)

    # -- fitting ------------------------------------------------------------------------------
    def _eval_matrices(self, eval_sets, p):
        """Validate ``eval_sets`` (dict name -> X) into CSR matrices with p columns."""
        if eval_sets is None:
            return {}
        if not isinstance(eval_sets, dict):
            raise TypeError(f"eval_sets must be a dict of name -> X, got "
                            f"{type(eval_sets).__name__}")
        if not self._accumulates_predictions:
            raise NotImplementedError(f"{type(self).__name__} does not accumulate predictions "
                                      f"of eval_sets (FMRegressor and FMClassifier do)")
        out = {}
        self.n_features_in_ = p
        for name, X in eval_sets.items():
            if not isinstance(name, str):
                raise TypeError(f"eval_sets: names must be strings, got {name!r}")
            try:
                Xe = self._check_predict_X(X, fitted=False)
            except (TypeError, ValueError) as err:
                raise type(err)(f"eval_sets[{name!r}]: {err}") from None
            if isinstance(Xe, _RelationalRows):
                raise TypeError(f"eval_sets[{name!r}]: give a matrix (a relational design's "
                                f"rows: RelationalData.expand()), not RelationalData")
            out[name] = Xe
        return out

    _accumulates_predictions = True

    def _fit(self, Xr, gidx, group_labels, client=None, eval_sets=None):
        """Start the chains on the prepared data and run them (the common part of ``fit``)."""
        rank, n_iter, n_burn, thin, init_scale, priors = self._check_params()
        if not self.keep_draws and not self._accumulates_predictions:
            raise NotImplementedError(f"keep_draws=False is not available for "
                                      f"{type(self).__name__} (FMRegressor and FMClassifier "
                                      f"have it)")
        evals = self._eval_matrices(eval_sets, Xr.shape[1])
        # every column divided by its scale (bayesfm.data.scaling): the sampler works on
        # unit-free coefficients, mapped back to the units of X in _absorb
        if isinstance(Xr, RelationalData):
            direct, mats, idx = Xr.parts()
            scale = relational_scales(direct, mats, idx, gidx)
            p0 = direct.shape[1]
            offsets = np.cumsum([p0] + [M.shape[1] for M in mats])
            data = RelationalFMData.from_parts(
                scale_columns(direct, scale[:p0]),
                [scale_columns(M, scale[a:b]) for M, a, b in zip(mats, offsets, offsets[1:])],
                idx, gidx)
        else:
            scale = column_scales(Xr, gidx)
            data = FMData.from_matrix(scale_columns(Xr, scale), gidx)
        evals = {name: scale_columns(Xe, scale) for name, Xe in evals.items()}
        self.column_scale_ = scale
        chains = [new_chain(data, self._new_likelihood(), rank, seed, init_scale, n_burn, thin,
                            keep_weights=self.keep_draws, eval_sets=evals)
                  for seed in self._chain_seeds()]
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(Xr.shape[0], min(_N_DIAGNOSTIC_ROWS, Xr.shape[0]),
                                  replace=False))
        self._data = data
        self._chains = chains
        self._diag_X = Xr.expand(rows) if isinstance(Xr, RelationalData) else Xr[rows]
        self._train_X = Xr
        self.diagnostic_rows_ = rows
        self.priors_ = priors
        self.groups_ = group_labels
        self.group_index_ = gidx
        self.n_features_in_ = Xr.shape[1]
        self._draw_lists = {}
        self.keep_draws_ = bool(self.keep_draws)
        self.interrupted_ = False
        if isinstance(self.n_iter, str):
            self._run_auto(client)
        else:
            self._run(n_iter, client)
        return self

    def _progress(self, total, description=None):
        """A progress bar over ``total`` more sweeps per chain (None: open-ended)."""
        return ProgressBar(total, len(self._chains), self.progress,
                           scale=None if self._likelihood_is_probit else self.y_scale_,
                           description=description,
                           start=min(c.sweeps_done for c in self._chains))

    def _run(self, n_sweeps, client=None, on_chunk=None, bar=None):
        """Bring every chain to (sweeps all chains have done) + n_sweeps, in parallel as
        configured, then absorb the draws. Returns False when interrupted by Ctrl-C. ``bar``:
        a progress bar to advance (and leave open); by default one for these sweeps."""
        if client is None:
            client = active_dask_client()
        n_jobs = resolve_n_jobs(self.n_jobs, len(self._chains))
        target = min(c.sweeps_done for c in self._chains) + n_sweeps
        counts = [target - c.sweeps_done for c in self._chains]
        own_bar = bar is None
        if own_bar:
            bar = self._progress(n_sweeps)

        def after_chunk(chains):
            bar.update(chains)
            if on_chunk is not None:
                on_chunk(chains)

        try:
            run_chains(self._chains, self._data, self.priors_, counts, n_jobs=n_jobs,
                       client=client, on_chunk=after_chunk,
                       n_threads=self._threads_for(self._data))
        except KeyboardInterrupt:
            self.interrupted_ = True
            self._absorb()
            bar.close()
            warnings.warn(f"{type(self).__name__}: interrupted after "
                          f"{self.sweeps_per_chain_} sweeps per chain; the estimator holds "
                          f"{self.draws_per_chain_} draws per chain x {len(self._chains)} chains "
                          f"(continue with sample_more)", RuntimeWarning, stacklevel=3)
            return False
        if own_bar:
            bar.close()
        self.interrupted_ = False
        self._absorb()
        return True

    def _threads_for(self, data):
        """Kernel threads for a sweep over ``data``: one for small problems, and for designs
        whose columns mostly conflict (dense features: no large colour class, so the bulk of a
        sweep cannot run in parallel and the parallel loops would only add their start-up)."""
        nnz = data.indices.shape[0] + getattr(data, "bc_indices", data.indices[:0]).shape[0]
        rank = self._chains[0].state.rank if getattr(self, "_chains", None) else 1
        threads = threads_for_work(resolve_n_threads(self.n_threads), nnz * (rank + 1))
        if threads > 1 and isinstance(data, FMData) and data.indices.shape[0]:
            sizes = np.diff(data.cptr)
            lengths = np.diff(data.indptr)[data.order]
            in_big = np.repeat(sizes >= PAR_MIN, sizes)
            if lengths[in_big].sum() < 0.5 * data.indices.shape[0]:
                threads = 1
        return threads

    def _run_auto(self, client):
        from bayesfm.diagnostics import diagnose

        start = time.perf_counter()
        checks = []
        n_burn, step = self.n_burn, self.check_every
        bar = self._progress(self.max_iter, description=f"{len(self._chains)} chains, auto")
        done = self._run(n_burn + step, client, bar=bar)
        while done:
            report = diagnose(self)
            sweeps = self.sweeps_per_chain_
            checks.append({"sweeps": sweeps, "max_rhat": report.max_rhat,
                           "min_ess_bulk": report.min_ess_bulk,
                           "min_ess_tail": report.min_ess_tail})
            elapsed = time.perf_counter() - start
            if report.converged:
                reason = "converged"
                break
            if sweeps + step > self.max_iter:
                reason = "max_iter reached"
                break
            if self.max_time is not None and elapsed >= self.max_time:
                reason = "max_time reached"
                break
            done = self._run(step, client, bar=bar)
        else:
            reason = "interrupted"
        bar.close(finished=reason != "interrupted")
        self.convergence_ = {
            "converged": bool(checks and reason == "converged"),
            "reason": reason,
            "sweeps_per_chain": self.sweeps_per_chain_,
            "draws_per_chain": self.draws_per_chain_,
            "seconds": time.perf_counter() - start,
            "checks": checks,
        }

    def sample_more(self, n_iter: int, client=None):
        """Continue every chain for ``n_iter`` more sweeps and add the new draws. Returns self.

        The draws are exactly those one longer run with the same seed would have given."""
        if not hasattr(self, "_chains"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit "
                                 f"before sample_more")
        n_iter = self._int("n_iter", n_iter, 1)
        self._run(n_iter, client)
        return self

    def _absorb(self):
        """Move the chains' new draws into the estimator (user scale) and refresh attributes.

        Only as many draws per chain as every chain has are taken (after an interrupt chains
        may differ by a chunk); the rest wait in the chains' stores for the next absorb."""
        C = len(self._chains)
        m = min(chain.store.n_draws for chain in self._chains)
        before = getattr(self, "draws_per_chain_", 0) if self._draw_lists else 0
        self.sweeps_per_chain_ = min(chain.sweeps_done for chain in self._chains)
        scale = self.column_scale_
        for c, chain in enumerate(self._chains):
            new = chain.store.take(m).arrays()
            user = self._user_draws(new, chain, before)
            if user["w"].shape[1]:                       # (keep_draws=False keeps none)
                user["w"] = user["w"] / scale[None, :]
                user["V"] = user["V"] / scale[None, :, None]
            for name, arr in user.items():
                self._draw_lists.setdefault(name, [[] for _ in range(C)])[c].append(arr)
        draws = {}
        for name, per_chain in self._draw_lists.items():
            stacked = [np.concatenate(parts, axis=0) for parts in per_chain]
            for c in range(C):
                per_chain[c] = [stacked[c]]
            draws[name] = np.stack(stacked)                  # (C, S, ...)
        self.draws_ = draws
        S = draws["w0"].shape[1]
        self.n_chains_ = C
        self.draws_per_chain_ = S
        self.n_iter_ = self.sweeps_per_chain_
        for name, arr in draws.items():
            setattr(self, name + "_", arr.reshape((C * S,) + arr.shape[2:]))
        self._after_absorb()

    def _after_absorb(self):
        """Per-sweep statistics, up to the sweeps every chain has done (subclasses extend);
        the accumulated predictions of the evaluation sets."""
        accums = [c.accum for c in self._chains if c.accum is not None]
        if len(accums) != len(self._chains) or accums[0].n_draws == 0:
            return
        loc, scale = self._eval_scale()
        self.eval_predictions_ = {
            name: EvalPrediction.from_raw(*pool_moments(accums, name), loc=loc, scale=scale,
                                          probit=self._likelihood_is_probit)
            for name in accums[0].sums}

    _likelihood_is_probit = True

    def _eval_scale(self):
        """(loc, scale) mapping the sampler's yhat to the units of y (regression overrides)."""
        return 0.0, 1.0

    # -- saving -------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Pickle the estimator to ``path`` atomically (temporary file, then rename)."""
        atomic_write(path, lambda fh: pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL))

    # -- diagnostics and ArviZ ----------------------------------------------------------------
    def diagnose(self, **kwargs):
        """R-hat and ESS of identified quantities; see ``bayesfm.diagnostics.diagnose``."""
        from bayesfm.diagnostics import diagnose

        return diagnose(self, **kwargs)

    def to_inference_data(self, X=None, y=None, feature_names=None, **kwargs):
        """The fit as an ArviZ container (``InferenceData`` under ArviZ 0.x, ``xarray.DataTree``
        under 1.x); see ``bayesfm.inference_data.to_inference_data``."""
        from bayesfm.inference_data import to_inference_data

        return to_inference_data(self, X=X, y=y, feature_names=feature_names, **kwargs)

    def to_netcdf(self, path, **kwargs) -> None:
        """Write ``to_inference_data(**kwargs)`` to a NetCDF file, atomically (read it back
        with ``arviz.from_netcdf``). Needs a NetCDF engine: h5netcdf, which ArviZ 0.x installs
        and ArviZ 1.x does not (``pip install 'bayesfm-gibbs[netcdf]'``)."""
        from bayesfm.inference_data import write_netcdf

        write_netcdf(self.to_inference_data(**kwargs), path)

    # -- prediction ---------------------------------------------------------------------------
    @property
    def n_draws_(self) -> int:
        """Number of kept posterior draws, all chains together."""
        self._check_fitted()
        return int(self.w0_.shape[0])

    def _draws_csr(self, Xr) -> np.ndarray:
        if not getattr(self, "keep_draws_", True):
            raise RuntimeError(f"this {type(self).__name__} was fitted with keep_draws=False: "
                               f"it holds no draws of w and V to predict new rows; the "
                               f"predictions of the eval_sets given to fit are in "
                               f"eval_predictions_")
        out = np.empty((self.w0_.shape[0], Xr.shape[0]))
        S, n = self.w0_.shape[0], Xr.shape[0]
        work = S * (Xr.nnz if hasattr(Xr, "nnz") else n) * (self.V_.shape[2] + 1)
        threads = threads_for_work(resolve_n_threads(getattr(self, "n_threads", None)), work)
        with KERNEL_LOCK, num_threads(threads):
            if isinstance(Xr, _RelationalRows):
                for_threads(relational.relational_predict_draws)(
                    Xr.arrays, Xr.start, Xr.stop, self.w0_, self.w_, self.V_, out)
                return out
            for_threads(kernels.predict_draws_csr)(_csr(Xr), Xr.shape[0], self.w0_, self.w_,
                                                   self.V_, out)
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

    def _predict_mean(self, X) -> np.ndarray:
        Xr = self._check_predict_X(X)
        out = np.empty(Xr.shape[0])
        for rows, draws in self._blocks(Xr):
            out[rows] = draws.mean(axis=0)
        return out
