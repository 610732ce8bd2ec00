"""The ArviZ bridge: groups, dims, coordinates, NetCDF round trip, ArviZ functions on it."""

import warnings

import arviz as az
import matplotlib
import numpy as np
import pytest

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor

matplotlib.use("Agg")


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


def test_posterior_dims_and_coords(regression):
    model, X, y = regression
    names = [f"x{j}" for j in range(5)]
    idata = model.to_inference_data(feature_names=names)
    post = idata.posterior
    assert post["w0"].dims == ("chain", "draw")
    assert post["w"].dims == ("chain", "draw", "feature")
    assert post["V"].dims == ("chain", "draw", "feature", "factor")
    assert post["mu_v"].dims == ("chain", "draw", "group", "factor")
    assert list(post.coords["feature"].values) == names
    assert list(post.coords["group"].values) == ["a", "b"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 40
    np.testing.assert_array_equal(post["V"].values, model.draws_["V"])
    np.testing.assert_array_equal(post["alpha"].values, model.draws_["alpha"])
    stats = idata.sample_stats
    np.testing.assert_array_equal(stats["train_rmse"].values, model.train_rmse_[:, 10:])
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)


def test_netcdf_round_trip(regression, tmp_path):
    model, X, y = regression
    path = tmp_path / "fit.nc"
    model.to_netcdf(path, X=X, y=y, log_likelihood=True)
    back = az.from_netcdf(path)
    idata = model.to_inference_data(X=X, y=y, log_likelihood=True)
    for group in ("posterior", "log_likelihood", "observed_data", "sample_stats"):
        a, b = getattr(idata, group), getattr(back, group)
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_summary_trace_plot_loo(regression):
    model, X, y = regression
    idata = model.to_inference_data(X=X, y=y, log_likelihood=True, posterior_predictive=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = az.summary(idata, var_names=["w0", "alpha", "w"])
        assert {"r_hat", "ess_bulk"} <= set(summary.columns) and len(summary) == 7
        axes = az.plot_trace(idata, var_names=["w0", "alpha"])
        assert axes.shape == (2, 2)
        loo = az.loo(idata)
        assert np.isfinite(loo.elpd_loo)
        waic = az.waic(idata)
        assert np.isfinite(waic.elpd_waic)
    matplotlib.pyplot.close("all")
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
    assert idata.attrs["classes"] == ["False", "True"]
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
