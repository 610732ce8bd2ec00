"""The shared base of the estimators: the scikit-learn protocol and the orchestration of a fit.

A fit validates its configuration once (``_config.FitConfig``), reads y through the estimator's
observation model (``observation``: ``_make_observation``, the one hook a subclass provides),
divides the columns by their scales (``bayesfm.data.scaling``), builds the design the sampler
runs on (``sampler.design``), and runs ``n_chains`` independent chains (seeds spawned from
``random_state``) in worker processes or on a Dask cluster. Every chain stays in the estimator,
so ``sample_more`` continues each one exactly where it stopped. After every run the chains' new
draws move into one store (``_posterior.Posterior``, O(new draws)); predictions come from it
(``_predict``); ``to_state`` / ``from_state`` give and take the fit as plain values and arrays,
each component describing its own (posterior, chains, observation model, encoder, rows), and
``save`` / ``bayesfm.load`` write and read them as a compact, checked file (``_persist``, the
container, which knows no estimator: every subclass of ``BaseFM`` registers itself there).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from bayesfm.data.encoders import TableEncoder
from bayesfm.data.scaling import scale_columns
from bayesfm.data.validation import check_groups, check_labels, encode_labels
from bayesfm.exceptions import NotFittedError
from bayesfm.models import _persist
from bayesfm.models._config import (
    DEFAULT_DRAWS_BYTES,
    DEFAULT_MOVES,
    FitConfig,
    chain_seeds,
    check_execution,
    check_int,
)
from bayesfm.models._docs import _COMMON_DOC
from bayesfm.models._inputs import check_rows, encode_for_fit, eval_matrices
from bayesfm.models._posterior import Posterior
from bayesfm.models._predict import row_blocks, yhat_draws
from bayesfm.models._protocol import EstimatorProtocol
from bayesfm.models._rows import MatrixRows, rows_from_state, rows_of, with_folded_block_rows
from bayesfm.models.evaluation import EvalPrediction, pool_moments
from bayesfm.models.observation import from_description
from bayesfm.progress import ProgressBar
from bayesfm.sampler import execution
from bayesfm.sampler.chain import Chain, new_chain
from bayesfm.sampler.driver import n_kept
from bayesfm.sampler.parallel import active_dask_client, resolve_n_jobs, run_chains

__all__ = ["BaseFM", "LabelFM"]

#: training rows whose yhat is tracked by the convergence diagnostics
_N_DIAGNOSTIC_ROWS = 50
#: automatic thinning (``max_draws_bytes``) never keeps fewer draws per chain than this
_MIN_DRAWS = 100
#: fitted attributes that ``to_state`` keeps in their own entries, not among the fitted ones
_STATE_APART = {"X_train_", "y_train_", "encoder_", "observation_", "priors_"}


class _PooledDraws:
    """A fitted attribute holding the pooled draws of one field, (chains * draws, ...),
    chain-major (``w0_``, ``w_``, ``V_``, ...); missing (AttributeError) before the fit and
    for fields the model has not got (``alpha_`` of a probit model)."""

    def __set_name__(self, owner, name):
        self.attr = name
        self.field = name[:-1]

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        post = obj.__dict__.get("_posterior")
        if post is None or self.field not in post.names:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.attr!r}")
        return post.flat(self.field)


#: the share of the machine's memory the chains' parameters (``_check_model_size``) or an array of
#: the draws at the rows to predict (``BaseFM._check_draws_memory``) may take
_MEMORY_SHARE = 0.5


def _machine_memory() -> int:
    """Bytes of physical memory (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def _too_large(need: int) -> int:
    """The machine's memory in bytes when ``need`` bytes exceed ``_MEMORY_SHARE`` of it, else 0
    (also when the memory is unknown)."""
    total = _machine_memory()
    return total if total and need > _MEMORY_SHARE * total else 0


def _check_model_size(X, config) -> None:
    """ValueError before anything is allocated when the chains' parameters for the columns of
    ``X`` (w and V, 8 (rank + 1) bytes per column, for every chain and one working copy each)
    would take more than ``_MEMORY_SHARE`` of the machine's memory: a stray feature index of
    2^40 in a file otherwise asks for terabytes and fails in numpy's words."""
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        return
    p = int(shape[1])
    need = 8 * p * (config.rank + 1) * 2 * config.n_chains
    total = _too_large(need)
    if total:
        raise ValueError(
            f"X has {p} columns: the parameters of {config.n_chains} chains at rank "
            f"{config.rank} would take {need / 2**30:.1f} GiB, more than half of this machine's "
            f"memory ({total / 2**30:.1f} GiB); is the largest feature index right (a stray "
            f"index sets the number of columns)? Otherwise use fewer columns, a lower rank or "
            f"fewer chains")


def _check_finite(raw: dict, chain: int, first: int, n_burn: int, thin: int) -> None:
    """FloatingPointError naming the quantity, chain and sweep of the first non-finite value
    among a chain's new draws ``raw`` (name -> (m, ...); draw i is kept draw ``first + i``)."""
    for name, arr in raw.items():
        arr = np.asarray(arr)
        if arr.dtype.kind != "f" or not arr.size:
            continue
        bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FloatingPointError(
                f"the sampler drew a non-finite {name} in chain {chain} at sweep "
                f"{n_burn + (first + i) * thin} (kept draw {first + i}): the fit has "
                f"overflowed; check the scale of X and y and the priors")


class BaseFM(EstimatorProtocol):
    """Chains, continuation and draw-based prediction for the FM estimators (the scikit-learn
    protocol comes from ``_protocol.EstimatorProtocol``).

    Fitted estimators hold the pooled draws ``w0_`` (S,), ``w_`` (S, p) and ``V_`` (S, p, k)
    (S = chains x draws per chain, chain-major) and per-chain views in ``draws_``.
    """

    _common_param_doc = _COMMON_DOC
    #: whether ``fit(..., eval_sets=...)`` and ``keep_draws=False`` are available
    _accumulates_predictions = True

    w0_ = _PooledDraws()
    w_ = _PooledDraws()
    V_ = _PooledDraws()
    alpha_ = _PooledDraws()
    mu_w_ = _PooledDraws()
    lambda_w_ = _PooledDraws()
    mu_v_ = _PooledDraws()
    lambda_v_ = _PooledDraws()
    cutpoints_ = _PooledDraws()

    # the private fitted state (annotations only: instances have it once fitted, all of it
    # assigned at once by ``_fit``): the design, the chains, the pooled draws, the rows of the
    # tracked predictions
    _data: object
    _chains: list
    _posterior: Posterior
    _diag_X: object

    def __init__(self, rank=8, n_iter=300, n_burn=100, thin=1, init_scale=0.1, priors=None,
                 keep_draws=True, n_chains=4, n_jobs=None, n_threads=None, progress=None,
                 max_iter=5000, max_time=None, check_every=100, encoder=None, random_state=None,
                 moves=DEFAULT_MOVES, max_draws_bytes=DEFAULT_DRAWS_BYTES):
        self.rank = rank
        self.n_iter = n_iter
        self.n_burn = n_burn
        self.thin = thin
        self.init_scale = init_scale
        self.priors = priors
        self.keep_draws = keep_draws
        self.n_chains = n_chains
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.progress = progress
        self.max_iter = max_iter
        self.max_time = max_time
        self.check_every = check_every
        self.encoder = encoder
        self.random_state = random_state
        self.moves = moves
        self.max_draws_bytes = max_draws_bytes

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _persist.register(cls)          # bayesfm.load finds the class a file names

    # -- the subclass hook --------------------------------------------------------------------
    def _make_observation(self, y, n_rows: int, config: FitConfig):
        """(observation model of ``bayesfm.models.observation``, y encoded as the sampler's
        likelihood reads it, y validated) for the target ``y`` of a fit, without touching the
        estimator (a fit refused later keeps the previous fit whole). Subclasses define it."""
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, X, y, groups=None, client=None, eval_sets=None):
        """The whole of ``fit``: validate, encode, prepare the design, start the chains, run."""
        config = FitConfig.from_estimator(self)
        if not config.keep_draws and not self._accumulates_predictions:
            raise NotImplementedError(f"keep_draws=False is not available for "
                                      f"{type(self).__name__} (FMRegressor and FMClassifier "
                                      f"have it)")
        _check_model_size(X, config)
        Xr, groups, encoder, names = self._encode_for_fit(X, groups)
        observation, target, y_valid = self._make_observation(y, Xr.shape[0], config)
        gidx, group_labels = check_groups(groups, Xr.shape[1])
        evals = self._eval_matrices(eval_sets, Xr.shape[1], encoder)
        scale = Xr.column_scales(gidx)
        data = Xr.design(scale, gidx)
        evals = {name: scale_columns(Xe, scale) for name, Xe in evals.items()}
        chains = [new_chain(data, observation.likelihood(target), config.rank, seed,
                            config.init_scale, config.n_burn, config.thin,
                            keep_weights=config.keep_draws, eval_sets=evals,
                            moves=config.moves)
                  for seed in chain_seeds(self.random_state, config.n_chains)]
        rows = np.sort(np.random.default_rng(0).choice(
            Xr.shape[0], min(_N_DIAGNOSTIC_ROWS, Xr.shape[0]), replace=False))
        fitted = {"encoder_": encoder, "observation_": observation,
                  **observation.fitted_attributes(), "group_index_": gidx,
                  "column_scale_": scale, "X_train_": Xr.value, "y_train_": y_valid,
                  "n_features_in_": Xr.shape[1], "rank_": config.rank, "n_burn_": config.n_burn,
                  "thin_": config.thin, "priors_": config.priors,
                  "keep_draws_": config.keep_draws, "groups_": group_labels,
                  "constant_sum_groups_": [int(g) for g in np.flatnonzero(data.gsum)],
                  "diagnostic_rows_": rows, "interrupted_": False, "sampling_seconds_": 0.0,
                  "_diag_X": Xr.expand(rows) if config.keep_draws else None, "_data": data,
                  "_chains": chains, "_posterior": Posterior(len(chains))}
        if names is not None:
            fitted["feature_names_in_"] = names
        # everything is computed: the estimator takes the new fit in one assignment, so that a
        # fit refused or interrupted (Ctrl-C) before this line leaves the previous one whole
        stale = {"feature_names_in_", "eval_predictions_", "convergence_", "n_folded_rows_",
                 "folded_features_", "folded_block_rows_", "updated_features_",
                 "sweeps_per_chain_", "draws_per_chain_", "n_chains_", "n_iter_",
                 *(name + "_" for name in self._posterior_sweep_names())}
        self.__dict__ = {**{k: v for k, v in self.__dict__.items() if k not in stale},
                         **fitted}
        if config.auto:
            self._run_auto(config, client)
        else:
            self._run(config.n_iter, client)
        self._warn_if_worse_than_the_mean()
        return self

    def _warn_if_worse_than_the_mean(self) -> None:
        """A regression fit whose training RMSE, over the second half of its sweeps, is not
        below the standard deviation of y (it fits its training rows no better than their mean:
        a sampler still far from its posterior, a design with far more columns than rows, or
        an X that says nothing of y) says so."""
        rmse = getattr(self, "train_rmse_", None)              # (regression only)
        if rmse is None or rmse.shape[1] < 2 or getattr(self, "y_train_", None) is None:
            return
        sd = float(np.std(np.asarray(self.y_train_, dtype=np.float64)))
        if not sd:
            return
        late = float(np.mean(rmse[:, rmse.shape[1] // 2:]))
        if late >= sd:
            warnings.warn(f"{type(self).__name__}: the training RMSE over the second half of the "
                          f"sweeps, {late:.4g}, is not below the standard deviation of y, "
                          f"{sd:.4g}: the fit predicts its own training rows no better than their "
                          f"mean. Check "
                          f"convergence with diagnose() and the trace of train_rmse_; more sweeps "
                          f"(n_iter='auto') or a lower rank may help", UserWarning, stacklevel=3)

    def _progress(self, total, description=None):
        """A progress bar over ``total`` more sweeps per chain (None: open-ended)."""
        return ProgressBar(total, len(self._chains), self.progress,
                           scale=self.observation_.rmse_scale, description=description,
                           start=min(c.sweeps_done for c in self._chains))

    def _run(self, n_sweeps, client=None, on_chunk=None, bar=None, chunk=None):
        """Bring every chain to (sweeps all chains have done) + n_sweeps, in parallel as
        configured, then absorb the draws. Returns False when interrupted by Ctrl-C. ``bar``:
        a progress bar to advance (and leave open); by default one for these sweeps. ``chunk``:
        sweeps per chunk (``run_chains``' default: a tenth of the run)."""
        check_execution(self)
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

        self._thin_to_budget(counts)
        threads = execution.threads_for_design(self._data, self.rank_, self.n_threads)
        start = time.perf_counter()
        try:
            run_chains(self._chains, self._data, self.priors_, counts, n_jobs=n_jobs,
                       client=client, on_chunk=after_chunk, n_threads=threads, chunk=chunk,
                       adapt=self.n_threads is None)
        except ZeroDivisionError as exc:        # a kernel's arithmetic on overflowed values
            raise FloatingPointError(
                f"{type(self).__name__}: a sweep divided by zero ({exc}): the fit has overflowed "
                f"(the chains keep their draws up to the last finished chunk); check the scale "
                f"of X and y and the priors") from exc
        except KeyboardInterrupt:
            self.sampling_seconds_ = self._sampling_seconds() + time.perf_counter() - start
            self.interrupted_ = True
            self._absorb()
            bar.close()
            waiting = sum(c.store.n_draws for c in self._chains)
            ahead = (f"; {waiting} more draws wait in the chains that ran ahead (a chunk "
                     f"finished before the others), and sample_more uses them" if waiting
                     else "")
            warnings.warn(f"{type(self).__name__}: interrupted after "
                          f"{self.sweeps_per_chain_} sweeps per chain; the estimator holds "
                          f"{self.draws_per_chain_} draws per chain x {len(self._chains)} chains "
                          f"(continue with sample_more){ahead}", RuntimeWarning, stacklevel=3)
            return False
        self.sampling_seconds_ = self._sampling_seconds() + time.perf_counter() - start
        if own_bar:
            bar.close()
        self.interrupted_ = False
        self._absorb()
        return True

    def _thin_to_budget(self, counts) -> None:
        """Before a run of ``counts`` sweeps per chain: when the kept draws would then take more
        than ``max_draws_bytes``, thin by the smallest power of two that keeps them within it
        (but never below ``_MIN_DRAWS`` draws per chain): every chain's ``thin`` and ``thin_``
        grow by that factor, and the draws kept so far are thinned alike (every factor-th),
        so the draws are those of one run with the final ``thin``. Waits while chains hold
        draws not yet pooled (after an interrupt)."""
        budget = self.max_draws_bytes
        chains = self._chains
        if budget is None or any(c.store.n_draws for c in chains):
            return
        post = self._posterior
        per_draw = post.draw_bytes or (sum(c.store.draw_bytes for c in chains)
                                       + 8 * len(self.diagnostic_rows_) * len(chains))
        thin = chains[0].thin

        def kept(factor):
            new = max(n_kept(c.sweeps_done, c.sweeps_done + n, c.n_burn, thin * factor)
                      for c, n in zip(chains, counts))
            return -(-post.n_draws // factor) + new

        factor = 1
        while per_draw * kept(factor) > budget and kept(2 * factor) >= _MIN_DRAWS:
            factor *= 2
        if factor > 1:
            post.keep_every(factor)
            for c in chains:
                c.thin = thin * factor
            self.thin_ = thin * factor
            self.draws_per_chain_ = post.n_draws

    def _posterior_sweep_names(self) -> tuple:
        """The sweep statistics of the fit held now (their fitted attributes end in ``_``)."""
        post = self.__dict__.get("_posterior")
        return post.sweep_names if post is not None else ()

    def _sampling_seconds(self) -> float:
        return float(getattr(self, "sampling_seconds_", 0.0))

    def _run_auto(self, config, client):
        from bayesfm.diagnostics import diagnose, held_back_sentence

        start = time.perf_counter()
        checks = []
        check_seconds = 0.0
        step = config.check_every
        bar = self._progress(config.max_iter, description=f"{len(self._chains)} chains, auto")
        # one chunk per check interval: a chunk's round trip to a worker carries the chain's
        # caches, O(n k), which tenth-of-a-run chunks of 10 sweeps paid every 10 sweeps
        done = self._run(config.n_burn + step, client, bar=bar, chunk=step)
        report = None
        while done:
            t0 = time.perf_counter()
            report = diagnose(self, verdict_only=True)
            check_seconds += time.perf_counter() - t0
            sweeps = self.sweeps_per_chain_
            checks.append({"sweeps": sweeps, "max_rhat": report.max_rhat,
                           "min_ess_bulk": report.min_ess_bulk,
                           "min_ess_tail": report.min_ess_tail})
            elapsed = time.perf_counter() - start
            if report.converged:
                reason = "converged"
                break
            if sweeps + step > config.max_iter:
                reason = "max_iter reached"
                break
            if config.max_time is not None and elapsed >= config.max_time:
                reason = "max_time reached"
                break
            done = self._run(step, client, bar=bar, chunk=step)
        else:
            reason = "interrupted"
        bar.close(finished=reason != "interrupted")
        seconds = time.perf_counter() - start
        self.convergence_ = {
            "converged": bool(checks and reason == "converged"),
            "reason": reason,
            "sweeps_per_chain": self.sweeps_per_chain_,
            "draws_per_chain": self.draws_per_chain_,
            "seconds": seconds,
            "check_seconds": check_seconds,
            "checks": checks,
            "held_back": "" if reason == "converged" or report is None else
            held_back_sentence(report, reason, self.sweeps_per_chain_, seconds,
                               len(self._chains)),
        }

    def sample_more(self, n_iter: int, client=None):
        """Continue every chain for ``n_iter`` more sweeps and add the new draws. Returns self.

        The draws are exactly those one longer run with the same seed would have given."""
        if not hasattr(self, "_chains"):
            if hasattr(self, "_posterior"):
                raise NotFittedError(f"this {type(self).__name__} was loaded from a file saved "
                                     f"without its chains; save with save(path, chains=True) "
                                     f"to continue sampling after loading")
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit "
                                 f"before sample_more")
        if getattr(self, "n_folded_rows_", 0):
            raise RuntimeError(f"this {type(self).__name__} has rows folded in "
                               f"({self.n_folded_rows_}): their categories' draws are tied to "
                               f"the draws they were folded into, and the chains do not see "
                               f"them; call sample_more before fold_in, or refit on the "
                               f"training rows and the folded ones together")
        n_iter = check_int("n_iter", n_iter, 1)
        self._run(n_iter, client)
        return self

    def fold_in(self, X, y, groups=None, update=None, n_sweeps: int = 2, n_first: int = 50,
                random_state=0):
        """Add the new categories (users, items, ...) that the rows ``X`` bring, with their
        targets ``y``, without refitting. Returns self.

        ``X``: a DataFrame (for a model fitted on one: its categories unseen at fit are the new
        ones), ``NewCategories(X, groups)`` of a matrix, a matrix with the model's
        ``n_features_in_`` columns then one per new category, with ``groups`` (m,) the fitted
        group label of each new column, or ``NewCategories(rel, new_rows=...)`` of a
        ``RelationalData`` (each new block row gets an id column; the model remembers the
        block row, ``folded_block_rows_``). ``y`` (n,): targets, or labels of the classes.
        ``update``: group labels (one or a list) whose *known* categories held by the rows
        (a known user's new ratings) are re-drawn too, from their conditional given their
        training rows and the new ones (matrix and DataFrame fits with their training rows;
        cost grows with those training rows; ``updated_features_`` lists them).

        Every kept draw of the fit gets a draw of the new columns' weights and factors from
        their full conditional given the rows and that draw's other parameters and
        hyperparameters (the standard fold-in approximation: the fitted parameters do not see
        the new rows), by the sweep's own coordinate updates: ``n_first`` Gibbs sweeps at each
        chain's first draw (from a draw of the groups' prior), then ``n_sweeps`` at every later
        draw, warm-started from the previous one. Cost O(draws x sweeps x k x non-zeros of the
        new rows). ``random_state`` fixes the draws (the same seed gives the same draws, bit
        for bit, on any number of threads).

        The new categories then are the model's own: ``n_features_in_`` grows by their number
        (not for relational rows, whose block rows map to the new columns; a DataFrame's
        encoder learns them, ``feature_names_in_`` names them), and predictions,
        intervals, ``diagnose``, ``save`` and ``to_inference_data`` include them;
        ``n_folded_rows_`` counts the rows folded in. Rows that hold no new category are left
        out, with a warning. ``sample_more`` is refused afterwards (the chains do not see the
        folded rows: refit on all rows instead). See "Folding in new rows" in the model page
        for when a refit pays off."""
        from bayesfm.models import _fold_in

        self._check_fitted()
        if not getattr(self, "keep_draws_", True):
            raise RuntimeError(f"this {type(self).__name__} was fitted with keep_draws=False: "
                               f"it holds no draws of w and V to fold new rows into; refit "
                               f"with keep_draws=True")
        n_sweeps = check_int("n_sweeps", n_sweeps, 1)
        n_first = check_int("n_first", n_first, 1)
        fold = _fold_in.prepare(self, X, y, groups, update)
        w, V = _fold_in.draw(self._posterior, self.observation_, self.column_scale_,
                             self.group_index_, fold, n_sweeps, n_first, random_state,
                             getattr(self, "n_threads", None))
        # everything is computed: now the model takes the new columns as its own
        self._posterior.set_field("w", w)
        self._posterior.set_field("V", V)
        post = self._posterior
        if fold.n_updated and self._diag_X is not None and "yhat" in post.names:
            # the tracked training rows may hold re-drawn known columns: what diagnose reads
            yhat = yhat_draws(post, MatrixRows(self._diag_X), getattr(self, "n_threads", None))
            post.set_field("yhat", yhat.reshape(post.n_chains, post.n_draws, -1))
        self.column_scale_ = np.concatenate([self.column_scale_, fold.scale])
        self.group_index_ = np.concatenate([self.group_index_, fold.gidx])
        P = self.column_scale_.shape[0] - fold.m         # the columns before this fold-in
        self.folded_features_ = np.concatenate([getattr(self, "folded_features_",
                                                        np.zeros(0, np.int64)),
                                                np.arange(P, P + fold.m)]).astype(np.int64)
        if fold.block_rows is None:
            self.n_features_in_ = P + fold.m
        else:           # relational rows keep their columns; the block rows map to the new ones
            triples = np.column_stack([fold.block_rows, np.arange(P, P + fold.m)])
            self.folded_block_rows_ = np.concatenate(
                [getattr(self, "folded_block_rows_", np.zeros((0, 3), np.int64)), triples])
        if fold.encoder is not None:
            self.encoder_ = fold.encoder
            if hasattr(self, "feature_names_in_"):
                self.feature_names_in_ = np.concatenate(
                    [self.feature_names_in_, np.asarray(fold.names, dtype=object)])
        self.n_folded_rows_ = getattr(self, "n_folded_rows_", 0) + fold.n_new_rows
        if fold.n_updated:
            self.updated_features_ = np.union1d(getattr(self, "updated_features_",
                                                        np.zeros(0, np.int64)),
                                                fold.update_cols).astype(np.int64)
        return self

    def _absorb(self):
        """Move the chains' new draws and sweep statistics into the posterior store (user
        units; O(new draws)) and refresh the fitted attributes.

        Only as many draws (sweeps) per chain as every chain has are taken (after an interrupt
        chains may differ by a chunk); the rest wait in the chains' stores."""
        m = min(chain.store.n_draws for chain in self._chains)
        ms = min(chain.store.n_sweeps for chain in self._chains)
        scale = self.column_scale_
        new_draws, new_sweeps = [], []
        first = self._posterior.n_draws
        for c, chain in enumerate(self._chains):
            raw = chain.store.take(m)
            _check_finite(raw, c, first, chain.n_burn, chain.thin)
            user = self.observation_.user_draws(raw)
            if user["w"].shape[1]:                       # (keep_draws=False keeps none)
                user["w"] /= scale[None, :]             # (arrays of our own: in place)
                user["V"] /= scale[None, :, None]
                user["yhat"] = self._track(user)
            new_draws.append(user)
            new_sweeps.append(self.observation_.sweep_stats(chain.store.take_sweeps(ms)))
        self._posterior.append_draws(new_draws)
        self._posterior.append_sweeps(new_sweeps)
        self.sweeps_per_chain_ = min(chain.sweeps_done for chain in self._chains)
        self.n_chains_ = len(self._chains)
        self.draws_per_chain_ = self._posterior.n_draws
        self.n_iter_ = self.sweeps_per_chain_
        self._after_absorb()

    def _track(self, user):
        """yhat at the diagnostic rows for new draws (m, rows): what ``diagnose`` checks."""
        one = Posterior(1)
        one.append_draws([{name: user[name] for name in ("w0", "w", "V")}])
        return yhat_draws(one, MatrixRows(self._diag_X), getattr(self, "n_threads", None))

    def _after_absorb(self):
        """Sweep statistics as fitted attributes (``train_rmse_``, ...; subclasses extend); the
        accumulated predictions of the evaluation sets."""
        post = self._posterior
        for name in post.sweep_names:
            setattr(self, name + "_", post.sweeps(name))
        chains = getattr(self, "_chains", None)
        if chains is None:                  # loaded without chains: eval_predictions_ loaded
            return
        accums = [c.accum for c in chains if c.accum is not None]
        if len(accums) != len(chains) or accums[0].n_draws == 0:
            return
        loc, scale = self.observation_.eval_loc_scale
        self.eval_predictions_ = {
            name: EvalPrediction.from_raw(*pool_moments(accums, name), loc=loc, scale=scale,
                                          probit=self.observation_.probit)
            for name in accums[0].sums}

    # -- fitted draws -------------------------------------------------------------------------
    @property
    def draws_(self) -> dict:
        """The draws per chain: name -> array (chains, draws per chain, ...) (views)."""
        self._check_fitted()
        return self._posterior.draws()

    @property
    def sweep_stats_(self) -> dict:
        """Per-sweep statistics of every chain: name -> array (chains, sweeps) (``train_rmse``
        of regression, ``cutpoint_accepted`` of ordinal models; burn-in included)."""
        self._check_fitted()
        post = self._posterior
        return {name: post.sweeps(name) for name in post.sweep_names}

    @property
    def diagnostic_yhat_(self) -> np.ndarray:
        """yhat at ``diagnostic_rows_`` for every kept draw: (chains, draws, rows); what the
        convergence diagnostics check (absent with ``keep_draws=False``)."""
        post = self.__dict__.get("_posterior")
        if post is None or "yhat" not in post.names:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                                 f"'diagnostic_yhat_'")
        return post.field("yhat")

    @property
    def n_draws_(self) -> int:
        """Number of kept posterior draws, all chains together."""
        self._check_fitted()
        return int(self._posterior.n_chains * self._posterior.n_draws)

    # -- checks -------------------------------------------------------------------------------
    def _check_fitted(self):
        post = self.__dict__.get("_posterior")
        if post is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) "
                                 f"before using it")
        if post.n_draws == 0:
            raise NotFittedError(f"this {type(self).__name__} holds no posterior draws yet (the "
                                 f"fit was interrupted during burn-in); call sample_more(n)")

    def _encode_for_fit(self, X, groups):
        return encode_for_fit(self.encoder, X, groups)

    def _check_predict_X(self, X):
        """The rows to predict, ready for this fit's posterior (new categories drawn)."""
        self._check_fitted()
        rows = check_rows(type(self).__name__, X, self.n_features_in_,
                          getattr(self, "encoder_", None),
                          fit_groups=(self.groups_, self.group_index_))
        rows = rows.bind(self._posterior, self.groups_, self.group_index_, self.column_scale_)
        folded = getattr(self, "folded_block_rows_", None)
        if folded is not None and folded.shape[0]:
            rows = with_folded_block_rows(rows, folded, self._posterior, self.group_index_)
        return rows

    def _eval_matrices(self, eval_sets, p, encoder):
        if eval_sets is not None and not self._accumulates_predictions:
            raise NotImplementedError(f"{type(self).__name__} does not accumulate predictions "
                                      f"of eval_sets (FMRegressor and FMClassifier do)")
        return eval_matrices(type(self).__name__, eval_sets, p, encoder)

    # -- state and saving ----------------------------------------------------------------------
    def to_state(self, chains: bool = False) -> dict:
        """The fit as plain values (numbers, strings, lists, dicts, tuples, ``Priors``), numpy
        arrays and sparse matrices: what ``save`` writes and ``from_state`` rebuilds.

        Entries: ``params`` (constructor arguments; the encoder as its parameters),
        ``fitted`` (fitted attributes but the sweep statistics' views), ``priors``,
        ``observation`` (its ``describe()``), ``encoder`` (the fitted encoder's state or None),
        ``posterior`` (draws in user units and sweep statistics, (chains, n, ...)),
        ``diagnostic_X`` (CSR or None) and ``training``: None, or with ``chains=True`` the
        training rows ``X`` (CSR, or a ``RelationalData``'s state), ``y`` and the ``chains``'
        states, so that ``sample_more`` continues exactly after ``from_state``."""
        self._check_fitted()
        post = self._posterior
        fitted = {name: value for name, value in vars(self).items()
                  if name.endswith("_") and not name.startswith("_")
                  and name not in _STATE_APART and name[:-1] not in post.sweep_names}
        if "eval_predictions_" in fitted:
            fitted["eval_predictions_"] = {name: ev.to_state()
                                           for name, ev in fitted["eval_predictions_"].items()}
        params = {name: getattr(self, name) for name in self._param_names()}
        if params.get("encoder") is not None:
            params["encoder"] = {"params": params["encoder"].get_params(), "fitted": None}
        encoder = getattr(self, "encoder_", None)
        state = {"params": params, "fitted": fitted, "priors": self.priors_,
                 "observation": self.observation_.describe(),
                 "encoder": None if encoder is None else encoder.to_state(),
                 "posterior": post.to_state(), "diagnostic_X": self._diag_X, "training": None}
        if chains:
            if not hasattr(self, "_chains"):
                raise ValueError("this model holds no chains (it was loaded from a file saved "
                                 "without chains=True)")
            state["training"] = {
                "X": rows_of(self.X_train_).to_state(), "y": self.y_train_,
                "chains": [chain.to_state() for chain in self._chains]}
        return state

    @classmethod
    def from_state(cls, state: dict):
        """The estimator ``to_state()`` described (the tracked predictions are recomputed)."""
        model = cls.__new__(cls)
        params = dict(state["params"])
        params.setdefault("moves", None)            # (files saved before the parameters:
        params.setdefault("max_draws_bytes", None)  # they ran without them)
        encoder = params.pop("encoder", None)
        for name, value in params.items():
            setattr(model, name, value)
        model.encoder = None if encoder is None else TableEncoder.from_state(encoder)
        fitted = dict(state["fitted"])
        evals = fitted.pop("eval_predictions_", None)
        for name, value in fitted.items():
            setattr(model, name, value)
        if evals is not None:
            model.eval_predictions_ = {name: EvalPrediction.from_state(ev)
                                       for name, ev in evals.items()}
        model.priors_ = state["priors"]
        model.encoder_ = None if state["encoder"] is None else TableEncoder.from_state(
            state["encoder"])
        model.observation_ = from_description(state["observation"],
                                              getattr(model, "classes_", None))
        model._diag_X = state["diagnostic_X"]
        post = Posterior.from_state(state["posterior"])
        if model._diag_X is not None and post.n_draws:
            yhat = yhat_draws(post, MatrixRows(model._diag_X), getattr(model, "n_threads", None))
            post.set_field("yhat", yhat.reshape(post.n_chains, post.n_draws, -1))
        model._posterior = post
        training = state["training"]
        if training is not None:
            rows = rows_from_state(training["X"])
            model.X_train_ = rows.value
            model.y_train_ = training["y"]
            p = rows.shape[1]                    # (fold_in appends columns after these)
            model._data = rows.design(model.column_scale_[:p], model.group_index_[:p])
            model._chains = [Chain.from_state(chain) for chain in training["chains"]]
        model._after_absorb()
        return model

    def save(self, path, chains: bool = False) -> None:
        """Save the fit to ``path``, atomically, in bayesfm's model format (``bayesfm.load``
        reads it; see ``bayesfm.models._persist``): the draws and what prediction, diagnostics
        and ArviZ need, at most about 1.3 times the bytes of the draws, with a version stamp and
        checksums; loading it runs nothing from the file. ``chains=True`` also keeps the chains
        and the training data, so that ``sample_more`` continues exactly after loading."""
        _persist.save(self, path, chains=chains)

    # -- diagnostics and ArviZ ----------------------------------------------------------------
    def diagnose(self, **kwargs):
        """R-hat and ESS of identified quantities; see ``bayesfm.diagnostics.diagnose``."""
        from bayesfm.diagnostics import diagnose

        return diagnose(self, **kwargs)

    def to_inference_data(self, X=None, y=None, feature_names=None, posterior_predictive=False,
                          log_likelihood=False, random_state=0):
        """The fit as an ArviZ container (``InferenceData`` under ArviZ 0.x, ``xarray.DataTree``
        under 1.x); see ``bayesfm.inference_data.to_inference_data``."""
        from bayesfm.inference_data import build

        self._check_fitted()
        training = X is None
        if training:
            if y is not None:
                raise ValueError("y was given without X")
            X, y = getattr(self, "X_train_", None), getattr(self, "y_train_", None)
            if X is None:
                raise ValueError(f"this {type(self).__name__} holds no training data (it was "
                                 f"loaded from a file saved without chains=True): pass the "
                                 f"rows X and their y")
        elif y is None:
            raise ValueError("X was given without y")
        if training and hasattr(X, "resize") and X.shape[1] < self.n_features_in_:  # folded
            X = X.copy()
            X.resize((X.shape[0], self.n_features_in_))
        rows = self._check_predict_X(X)
        yobs = self.observation_.encode(y, rows.shape[0])
        return build(self, rows, yobs, training, feature_names=feature_names,
                     posterior_predictive=posterior_predictive, log_likelihood=log_likelihood,
                     random_state=random_state)

    def to_netcdf(self, path, **kwargs) -> None:
        """Write ``to_inference_data(**kwargs)`` to a NetCDF file, atomically (read it back
        with ``arviz.from_netcdf``). Needs a NetCDF engine: h5netcdf, which ArviZ 0.x installs
        and ArviZ 1.x does not (``pip install 'bayesfm-gibbs[netcdf]'``)."""
        from bayesfm.inference_data import write_netcdf

        write_netcdf(self.to_inference_data(**kwargs), path)

    # -- prediction ---------------------------------------------------------------------------
    def _draws_csr(self, Xr) -> np.ndarray:
        if not getattr(self, "keep_draws_", True):
            raise RuntimeError(f"this {type(self).__name__} was fitted with keep_draws=False: "
                               f"it holds no draws of w and V to predict new rows; the "
                               f"predictions of the eval_sets given to fit are in "
                               f"eval_predictions_")
        return yhat_draws(self._posterior, Xr, getattr(self, "n_threads", None))

    def _blocks(self, Xr):
        """Yield (row slice, draws (S, rows)) over row blocks of the rows to predict."""
        for rows in row_blocks(Xr.shape[0], self.n_draws_):
            yield rows, self._draws_csr(Xr[rows])

    def _check_draws_memory(self, n_rows: int, per_cell: int = 1) -> None:
        """MemoryError, before anything is allocated, when an array of every draw at
        ``n_rows`` rows (``per_cell`` float64 values per draw and row, work space included)
        would take more than ``_MEMORY_SHARE`` of the machine's memory."""
        need = 8 * per_cell * self.n_draws_ * n_rows
        total = _too_large(need)
        if total:
            part = max(1, int(_MEMORY_SHARE * total / (8 * per_cell * self.n_draws_)) // 4)
            raise MemoryError(
                f"the draws at {n_rows} rows ({self.n_draws_} draws x {per_cell} value(s) "
                f"per row) would take "
                f"{need / 2**30:.1f} GiB, more than half of this machine's memory "
                f"({total / 2**30:.1f} GiB); predict and the intervals work in blocks of rows "
                f"and need no such array: for the draws, pass the rows in parts (about {part} "
                f"at a time)")

    def decision_draws(self, X) -> np.ndarray:
        """The FM regression function yhat for every kept draw: array (n_draws, n_rows).

        For regression this is the predicted mean of y; for the probit models it is the mean of
        the latent variable. An array larger than half the machine's memory is refused
        (MemoryError, saying how many rows at a time fit)."""
        Xr = self._check_predict_X(X)
        self._check_draws_memory(Xr.shape[0])
        return self._draws_csr(Xr)

    def _predict_mean(self, X) -> np.ndarray:
        Xr = self._check_predict_X(X)
        out = np.empty(Xr.shape[0])
        for rows, draws in self._blocks(Xr):
            out[rows] = draws.mean(axis=0)
        return out


class LabelFM(BaseFM):
    """The estimators that predict labels (``classes_``): scikit-learn's classifier type, and
    accuracy as their score."""

    _estimator_type = "classifier"

    def score(self, X, y) -> float:
        """Accuracy of ``predict(X)``; every label of y must be one of classes_."""
        self._check_fitted()
        Xr = self._check_predict_X(X)
        cls = encode_labels(check_labels(y, Xr.shape[0]), self.classes_)
        return float(np.mean(self.classes_[cls] == self.predict(Xr)))
