"""The ArviZ bridge: every ArviZ-specific line of bayesfm lives in this module.

``to_inference_data(model)`` returns the fit in ArviZ's container: an ``arviz.InferenceData``
under ArviZ 0.x (Python 3.10 and 3.11) and an ``xarray.DataTree`` under ArviZ 1.x (Python
3.12+), with the same groups, variables, dims, coordinates and attributes in both:

* ``posterior``: w0 (chain, draw), w (chain, draw, feature), V (chain, draw, feature, factor),
  alpha (regression), mu_w / lambda_w (chain, draw, group), mu_v / lambda_v (chain, draw, group,
  factor), cutpoints (chain, draw, cutpoint) for ordinal models; coordinates carry the feature
  names (when known) and group labels;
* ``sample_stats``: ``train_rmse`` per draw (regression), ``train_log_likelihood`` per draw
  (probit models: the summed log-likelihood of the training rows), ``cutpoint_accepted``
  (ordinal: the MH outcome at that sweep);
* ``observed_data``: y of the training rows, or of the rows given as ``X, y``;
* on request, ``posterior_predictive`` (one replicate per draw) and pointwise ``log_likelihood``
  for the given ``X, y`` (or the training rows), so ``az.loo`` works (and ``az.waic`` on 0.x).

The attributes ``inference_library`` ("bayesfm"), ``inference_library_version``, ``model``,
``n_burn``, ``thin`` (and ``classes`` for the probit models) are set on the root and on every
group. Class labels of the probit models appear as class indices 0..K-1.

``ARVIZ_MAJOR`` (read from the installed ArviZ when first needed) is the one version switch:
the two generations differ in how ``from_dict`` takes its groups and attributes, and in how a
container lists its groups (``groups`` below). Neither generation has a conversion hook for
third-party objects, so ``az.summary(model)`` cannot work: call ``model.to_inference_data()``.

NetCDF: ArviZ 1.x installs no NetCDF engine; ``to_netcdf`` needs h5netcdf with h5py (``pip
install 'bayesfm-gibbs[netcdf]'``) or netCDF4. Files written under one generation read under the
other (``az.from_netcdf``). Plots need matplotlib (``[plots]``), which ArviZ 1.x does not install
either.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from bayesfm._version import __version__
from bayesfm.atomic import atomic_write_path

__all__ = ["to_inference_data", "build", "write_netcdf", "arviz_major", "groups"]

@lru_cache(maxsize=1)
def arviz_major() -> int:
    """The major version of the installed ArviZ (0 or 1); imports ArviZ."""
    import arviz as az

    return int(str(az.__version__).split(".")[0])


def groups(idata) -> list:
    """Names of the groups of an ArviZ container of either generation, in order."""
    if hasattr(idata, "children"):            # xarray.DataTree (ArviZ 1.x)
        return list(idata.children)
    return list(idata.groups())


def _kept_sweeps(model):
    """The global indices of the sweeps whose draws were kept (from the fit's own burn-in and
    thinning, ``n_burn_`` and ``thin_``)."""
    return np.arange(model.n_burn_, model.sweeps_per_chain_, model.thin_)[
        : model.draws_per_chain_]


def _build(data: dict, coords: dict, dims: dict, attrs: dict):
    """The ArviZ container of ``data`` ({group: {var: array}}) for the installed generation,
    with ``attrs`` on the root and on every group."""
    import arviz as az

    if arviz_major() >= 1:
        group_attrs = {"/": dict(attrs)}
        group_attrs.update({group: dict(attrs) for group in data})
        return az.from_dict(data, coords=coords, dims=dims, attrs=group_attrs)
    idata = az.from_dict(**data, coords=coords, dims=dims)
    for group in groups(idata):
        getattr(idata, group).attrs.update(attrs)
    idata.attrs = dict(attrs)
    return idata


def to_inference_data(model, X=None, y=None, feature_names=None, posterior_predictive=False,
                      log_likelihood=False, random_state=0):
    """ArviZ container of a fitted bayesfm estimator (see the module docstring):
    ``arviz.InferenceData`` under ArviZ 0.x, ``xarray.DataTree`` under ArviZ 1.x.

    ``X, y``: rows for ``observed_data``, ``posterior_predictive`` and ``log_likelihood``
    (default: the training rows, ``X_train_`` and ``y_train_``). ``feature_names`` (p,) names
    the features (default: ``model.feature_names_in_`` when the model has it, else "0", "1",
    ...). ``random_state`` seeds the posterior predictive replicates.
    """
    return model.to_inference_data(X=X, y=y, feature_names=feature_names,
                                   posterior_predictive=posterior_predictive,
                                   log_likelihood=log_likelihood, random_state=random_state)


def build(model, rows, yobs, training: bool, feature_names=None, posterior_predictive=False,
          log_likelihood=False, random_state=0):
    """The container of ``to_inference_data`` for validated ``rows`` and their observed values
    ``yobs`` (encoded by ``model.observation_``; ``training``: they are the training rows).
    Reads public and fitted attributes of ``model`` only."""
    d = model.draws_
    p = model.n_features_in_
    if feature_names is None:
        feature_names = getattr(model, "feature_names_in_", None)
    if feature_names is None:
        feature_names = [str(j) for j in range(p)]
    feature_names = [str(f) for f in feature_names]
    if len(feature_names) != p:
        raise ValueError(f"feature_names has {len(feature_names)} names but the model has "
                         f"{p} features")
    # block rows of relational data folded in (fold_in) have columns beyond the design's
    for b, r, _ in getattr(model, "folded_block_rows_", ()):
        feature_names.append(f"block{b}[{r}]")
    k = d["V"].shape[3]
    coords = {"feature": feature_names, "factor": np.arange(k),
              "group": [str(g) for g in model.groups_]}
    dims = {"w": ["feature"], "V": ["feature", "factor"], "mu_w": ["group"],
            "lambda_w": ["group"], "mu_v": ["group", "factor"], "lambda_v": ["group", "factor"]}
    posterior = {name: d[name] for name in ("w0", "w", "V", "mu_w", "lambda_w", "mu_v",
                                            "lambda_v")}
    if "alpha" in d:
        posterior["alpha"] = d["alpha"]
    if "cutpoints" in d:
        posterior["cutpoints"] = d["cutpoints"]
        coords["cutpoint"] = np.arange(1, d["cutpoints"].shape[2] + 1)
        dims["cutpoints"] = ["cutpoint"]

    kept = _kept_sweeps(model)
    sample_stats = {name: stats[:, kept] for name, stats in model.sweep_stats_.items()
                    if stats.shape[1]}

    rng = np.random.default_rng(random_state)
    observation = model.observation_
    ll = pp = None
    C, S = model.n_chains_, model.draws_per_chain_
    want_stat = observation.probit and training
    if log_likelihood or posterior_predictive or want_stat:
        yhat = model.decision_draws(rows).reshape(C, S, -1)
        ll = observation.log_likelihood(yobs, yhat, d)
        if posterior_predictive:
            pp = observation.replicate(rng, yhat, d)
    if want_stat:
        sample_stats["train_log_likelihood"] = ll.sum(axis=2)

    coords["obs"] = np.arange(yobs.shape[0])
    dims["y"] = ["obs"]
    attrs = {"inference_library": "bayesfm", "inference_library_version": __version__,
             "model": type(model).__name__, "n_burn": int(model.n_burn_),
             "thin": int(model.thin_)}
    if hasattr(model, "classes_"):
        attrs["classes"] = [str(c) for c in model.classes_]
    data = {"posterior": posterior}          # in ArviZ's order of groups
    if posterior_predictive:
        data["posterior_predictive"] = {"y": pp}
    if log_likelihood:
        data["log_likelihood"] = {"y": ll}
    if sample_stats:
        data["sample_stats"] = sample_stats
    data["observed_data"] = {"y": yobs}
    return _build(data, coords, dims, attrs)


def _netcdf_engine() -> str:
    """The NetCDF engine to write with: h5netcdf (what ArviZ 0.x installs), else netCDF4."""
    def have(*modules):
        return all(importlib.util.find_spec(m) is not None for m in modules)

    if have("h5netcdf", "h5py"):
        return "h5netcdf"
    if have("netCDF4"):
        return "netcdf4"
    raise ImportError("writing NetCDF needs h5netcdf (with h5py) or netCDF4, and ArviZ 1.x "
                      "installs neither: pip install 'bayesfm-gibbs[netcdf]' (or pip install "
                      "h5netcdf h5py)")


def write_netcdf(idata, path) -> None:
    """Write an ArviZ container of either generation to the NetCDF file ``path``, atomically
    (a temporary file renamed over ``path``); ImportError, before anything is written, when no
    NetCDF engine is installed, and OSError (ENOSPC) when the disk has not the room for it
    (HDF5 may otherwise crash the process on a full disk: a disk that fills up during the
    write, from another process, can still do that)."""
    engine = _netcdf_engine()
    _check_free_space(path, _nbytes(idata))
    atomic_write_path(path, lambda tmp: idata.to_netcdf(tmp, engine=engine))


def _nbytes(idata) -> int:
    """The bytes of the arrays of an ArviZ container of either generation (0 if unknown)."""
    try:
        total = getattr(idata, "nbytes", None)
        if isinstance(total, (int, np.integer)):
            return int(total)
        return int(sum(getattr(idata, g).nbytes for g in idata.groups()))
    except Exception:  # noqa: BLE001 (an estimate only: no check rather than a failure)
        return 0


def _check_free_space(path, need: int) -> None:
    """OSError (ENOSPC) naming ``path`` before writing when its file system has less free space
    than ``need`` bytes and a tenth: the HDF5 library behind NetCDF can crash the process on a
    full disk instead of raising, so the common case is caught here, before it starts."""
    import errno
    import os
    import shutil

    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need and free < 1.1 * need:
        raise OSError(errno.ENOSPC, f"not enough free space to write about {need / 1e6:.1f} MB "
                      f"({free / 1e6:.1f} MB free)", os.fspath(path))
