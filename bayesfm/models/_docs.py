"""The parameters the three estimators share, documented once (``{params}`` in their
docstrings)."""

__all__ = ["_COMMON_DOC"]

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
        Standard deviation of the initial latent factors, 0 to 10 (on the standardised
        target's scale). The posterior does not depend on it,
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
    max_draws_bytes : float or None, default 2**30 (1 GiB)
        A budget for the kept draws, all chains together (the formula above, in bytes, plus
        400 bytes per draw per chain for the diagnostics). A run (``fit``, each step of
        ``n_iter="auto"``, ``sample_more``) that would pass it thins first, by the smallest
        power of two that keeps the draws within it: ``thin_`` grows, the draws kept so far are
        thinned alike, and the draws are then those of one run with the final ``thin_`` (the
        predictions accumulated for ``eval_sets`` keep the sweeps they summed before). It
        never thins below 100 draws per chain. None: no budget.
    moves : None, str or sequence of str, default ("shift", "joint")
        Extra exact moves, for mixing: they change the draws, not the posterior (see the model
        page; None or () for none, the plain coordinate-wise Gibbs sweep of libFM).
        ``"shift"``: for every one-hot group (every row holds exactly one of its columns, with
        the same value: user ids, item ids), its latent vectors and mu_v move by a common
        k-vector s and the other columns' linear weights by -c <s, v_j>, s drawn from its
        Gaussian conditional. ``"joint"``: the sweep draws every column's k latent factors at
        once from their k-dimensional conditional, instead of one after another (flat designs).
        ``"scale"``: for a design of exactly two groups with at most one column of each per row,
        every factor's scale is moved between the two groups (users' factor times c, items'
        divided by c), c drawn from its conditional. ``"split"``: on the same designs, the same
        with each group's factor hyperparameters carried along (mu_v times c and lambda_v
        divided by c^2 for users, the other way for items), which frees lambda_v.
        ``"magnitude"``: on the same designs, every factor's size in both groups (users' and
        items' factor f times s), s drawn with the likelihood. Designs without a move's
        symmetry ignore it.
    n_chains : int, default 4
        Independent chains. Four is the smallest number for which split R-hat is a reliable
        convergence check (Vehtari et al. 2021); predictions pool the draws of all chains.
    n_jobs : int or None, default None
        Worker processes for the chains (None: one per chain, up to the usable CPUs; 1: in this
        process). The draws are the same whatever n_jobs is. When a ``dask.distributed`` client
        is active the chains run as Dask tasks on its workers instead.
    n_threads : int or None, default None
        Threads for the parallel kernels, shared out among the chains run at the same time:
        each of the n_jobs processes gets ``max(1, n_threads // n_jobs)``. None: at most all
        usable CPUs, fewer while other processes keep them busy (the sweeps are timed and the
        faster thread count is chosen as the fit goes: ``bayesfm.sampler.execution``); an int:
        exactly that many. Within a chain, coefficients of columns that share no row (the
        members of a one-hot block) are drawn in parallel, and predictions are computed in
        parallel; problems under about a million non-zeros x (rank + 1) run on one thread. The
        draws are the same, bit for bit, whatever n_threads is.
    progress : bool or None, default None
        Progress bar (sweeps per chain, chains, rate, time left, current training RMSE): a
        widget in Jupyter, a line on standard error in a terminal. None shows it where someone
        is watching (a Jupyter kernel, or standard error a terminal), never when the
        environment variable ``CI`` is set; ``BAYESFM_PROGRESS=0`` or ``1`` overrides that
        guess (see ``bayesfm.progress``).
    max_iter : int, default 5000
        With ``n_iter="auto"``: the most sweeps per chain.
    max_time : float or None, default None
        With ``n_iter="auto"``: stop after this many seconds (checked between chunks).
    check_every : int, default 100
        With ``n_iter="auto"``: sweeps between two convergence checks.
    encoder : bayesfm.data.encoders.TableEncoder or None, default None
        How a pandas DataFrame given to ``fit`` becomes a design matrix (None: ``TableEncoder()``:
        categorical and string columns one-hot, numeric columns as they are (sharing one
        hyperprior group, as a matrix's columns do), list-valued columns normalised multi-hot,
        one hyperprior group per categorical source column; integer id columns need
        ``TableEncoder(categorical=["user", "item"])`` or a category dtype). The fitted copy is
        ``encoder_``; predicting on a frame with unseen categories works (each is a draw from
        its group's prior, ``bayesfm.NewCategories``), and the feature names reach
        ``to_inference_data``.
    random_state : int, numpy SeedSequence, numpy Generator or None
        Seed. The chains' generators are spawned from it, so the same int gives the same draws
        bit for bit, whatever n_jobs is.
"""
