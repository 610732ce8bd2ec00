"""The ArviZ bridge under the installed ArviZ generation (0.x: InferenceData, 1.x: DataTree):
groups, dims, coordinates, attributes, the NetCDF round trip, files written by the other
generation, and ArviZ's own functions on the result."""

import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor
from bayesfm.inference_data import arviz_major, groups

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARVIZ_1 = arviz_major() >= 1


def _data(seed=0, n=150, p=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + 0.5 * rng.normal(size=n)
    return X, y


KW = dict(rank=2, n_iter=50, n_burn=10, n_chains=2, n_jobs=1, random_state=0)


@pytest.fixture(scope="module")
def regression():
    X, y = _data()
    model = FMRegressor(**KW).fit(X, y, groups=["a", "a", "b", "b", "b"])
    return model, X, y


def test_container_of_the_installed_generation(regression):
    model, X, y = regression
    idata = model.to_inference_data(X=X, y=y, log_likelihood=True, posterior_predictive=True)
    if ARVIZ_1:
        import xarray as xr

        assert isinstance(idata, xr.DataTree)
    else:
        assert isinstance(idata, az.InferenceData)
    assert groups(idata) == ["posterior", "posterior_predictive", "log_likelihood",
                             "sample_stats", "observed_data"]
    attrs = {"inference_library": "bayesfm", "model": "FMRegressor", "n_burn": 10, "thin": 1}
    for node in [idata] + [idata[g] for g in groups(idata)]:
        assert attrs.items() <= dict(node.attrs).items()
        assert node.attrs["inference_library_version"]


def test_posterior_dims_and_coords(regression):
    model, X, y = regression
    names = [f"x{j}" for j in range(5)]
    idata = model.to_inference_data(feature_names=names)
    assert groups(idata) == ["posterior", "sample_stats", "observed_data"]
    post = idata.posterior
    assert post["w0"].dims == ("chain", "draw")
    assert post["w"].dims == ("chain", "draw", "feature")
    assert post["V"].dims == ("chain", "draw", "feature", "factor")
    assert post["mu_v"].dims == ("chain", "draw", "group", "factor")
    assert list(post.coords["feature"].values) == names
    assert list(post.coords["group"].values) == ["a", "b"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 40
    assert set(post.data_vars) == {"w0", "w", "V", "alpha", "mu_w", "lambda_w", "mu_v",
                                   "lambda_v"}
    np.testing.assert_array_equal(post["V"].values, model.draws_["V"])
    np.testing.assert_array_equal(post["alpha"].values, model.draws_["alpha"])
    stats = idata.sample_stats
    np.testing.assert_array_equal(stats["train_rmse"].values, model.train_rmse_[:, 10:])
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    assert idata.observed_data["y"].dims == ("obs",)


def _same_content(a, b):
    assert groups(a) == groups(b)
    for group in groups(a):
        ga, gb = a[group], b[group]
        assert set(ga.data_vars) == set(gb.data_vars), group
        for name in ga.data_vars:
            assert ga[name].dims == gb[name].dims, (group, name)
            np.testing.assert_array_equal(ga[name].values, gb[name].values)
        for dim in ga.coords:
            np.testing.assert_array_equal(ga.coords[dim].values, gb.coords[dim].values)
    for key, value in a.attrs.items():
        assert np.all(np.asarray(b.attrs[key]) == np.asarray(value)), key


def test_netcdf_round_trip(regression, tmp_path):
    model, X, y = regression
    path = tmp_path / "fit.nc"
    model.to_netcdf(path, X=X, y=y, log_likelihood=True)
    back = az.from_netcdf(path)
    _same_content(model.to_inference_data(X=X, y=y, log_likelihood=True), back)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_netcdf_without_an_engine_says_what_to_install(regression, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("h5netcdf", "netCDF4") else real(name))
    model, X, y = regression
    with pytest.raises(ImportError, match=r"bayesfm-gibbs\[netcdf\]"):
        model.to_netcdf(tmp_path / "fit.nc")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["ordinal_arviz0.nc", "ordinal_arviz1.nc"])
def test_files_of_either_generation_read_back(name):
    """Written by tests/fixtures/make_netcdf.py under ArviZ 0.23 (Python 3.11) and 1.3 (3.13):
    each reads under the installed generation, with its groups, dims, coordinates and
    attributes."""
    idata = az.from_netcdf(FIXTURES / name)
    assert groups(idata) == ["posterior", "log_likelihood", "sample_stats", "observed_data"]
    assert idata.attrs["inference_library"] == "bayesfm"
    assert idata.attrs["model"] == "FMOrdinalRegressor"
    assert list(idata.attrs["classes"]) == ["0", "1", "2"]
    post = idata.posterior
    assert post["V"].dims == ("chain", "draw", "feature", "factor")
    assert post["cutpoints"].dims == ("chain", "draw", "cutpoint")
    assert list(post.coords["feature"].values) == ["a", "b", "c"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 5
    assert idata.sample_stats["cutpoint_accepted"].dtype == bool
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert np.all(idata.log_likelihood["y"].values <= 0)
    assert np.all(np.isin(idata.observed_data["y"].values, [0, 1, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(idata, var_names=["w0"])
    assert "r_hat" in summary.columns


def test_summary_trace_plot_loo(regression):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    model, X, y = regression
    idata = model.to_inference_data(X=X, y=y, log_likelihood=True, posterior_predictive=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(idata, var_names=["w0", "alpha", "w"])
        assert {"mean", "sd", "r_hat", "ess_bulk", "ess_tail"} <= set(summary.columns)
        assert len(summary) == 7
        loo = az.loo(idata)
        if ARVIZ_1:
            pc = az.plot_trace_dist(idata, var_names=["w0", "alpha"])
            assert len(pc.viz["figure"].item().axes) == 4
            pc = az.plot_ppc_dist(idata, num_samples=20)
            assert len(pc.viz["figure"].item().axes) >= 1
            elpd = loo.elpd
            assert not hasattr(az, "waic")
        else:
            axes = az.plot_trace(idata, var_names=["w0", "alpha"])
            assert axes.shape == (2, 2)
            az.plot_ppc(idata, num_pp_samples=20)
            elpd = loo.elpd_loo
            assert np.isfinite(az.waic(idata).elpd_waic)
        assert np.isfinite(elpd) and elpd < 0
    plt.close("all")
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (2, 40, X.shape[0])
    pp = idata.posterior_predictive["y"].values
    assert pp.shape == (2, 40, X.shape[0])
    # the predictive replicates spread like the data's noise around the fit
    resid_sd = (pp - model.predict_draws(X).reshape(2, 40, -1)).std()
    assert 0.3 < resid_sd < 0.8


def test_classifier_and_ordinal_stats():
    X, y = _data(1)
    clf = FMClassifier(**KW).fit(X, y > 0)
    idata = clf.to_inference_data()
    llsum = idata.sample_stats["train_log_likelihood"].values
    assert llsum.shape == (2, 40) and np.all(llsum < 0)
    assert set(np.unique(idata.observed_data["y"].values)) == {0, 1}
    assert list(idata.attrs["classes"]) == ["False", "True"]
    ordinal = FMOrdinalRegressor(**KW).fit(X, np.digitize(y, [-1, 0, 1]))
    idata = ordinal.to_inference_data(X=X[:20], y=np.digitize(y[:20], [-1, 0, 1]),
                                      log_likelihood=True, posterior_predictive=True)
    assert idata.posterior["cutpoints"].dims == ("chain", "draw", "cutpoint")
    assert idata.sample_stats["cutpoint_accepted"].values.dtype == bool
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (2, 40, 20) and np.all(ll <= 0)
    # pointwise probabilities agree with predict_proba (mean over draws of exp(ll))
    proba = ordinal.predict_proba(X[:20])
    k = np.digitize(y[:20], [-1, 0, 1])
    np.testing.assert_allclose(np.exp(ll).mean(axis=(0, 1)), proba[np.arange(20), k],
                               rtol=1e-9)
    assert set(np.unique(idata.posterior_predictive["y"].values)) <= {0, 1, 2, 3}


def test_bad_arguments(regression):
    model, X, y = regression
    with pytest.raises(ValueError, match="feature_names"):
        model.to_inference_data(feature_names=["a"])
    with pytest.raises(ValueError, match="without X"):
        model.to_inference_data(y=y)
    with pytest.raises(ValueError, match="columns"):
        model.to_inference_data(X=X[:, :3], y=y)


def test_to_netcdf_refuses_a_disk_without_room(tmp_path, monkeypatch):
    """Before writing (HDF5 can crash the process on a full disk): OSError naming the file."""
    import errno
    import shutil
    from collections import namedtuple

    from bayesfm import inference_data

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 100, 100))
    with pytest.raises(OSError, match="not enough free space") as info:
        inference_data._check_free_space(tmp_path / "fit.nc", 10_000)
    assert info.value.errno == errno.ENOSPC and info.value.filename.endswith("fit.nc")
    inference_data._check_free_space(tmp_path / "fit.nc", 50)          # room enough
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    model = FMRegressor(rank=2, n_iter=20, n_burn=5, n_chains=2, n_jobs=1).fit(X, X.sum(1))
    assert inference_data._nbytes(model.to_inference_data()) > 1000    # the check is live
