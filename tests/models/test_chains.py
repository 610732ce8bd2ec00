"""Several chains, continuing a chain, interrupting, automatic stopping, progress, saving."""

import os
import pickle

import numpy as np
import pytest

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor, load
from bayesfm.atomic import atomic_write
from bayesfm.models import base as base_module


def _data(seed=0, n=200, p=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    f = X @ rng.normal(size=p) + 0.5 * X[:, 0] * X[:, 1]
    return X, f + 0.3 * rng.normal(size=n), f


def _same_draws(a, b):
    return set(a.draws_) == set(b.draws_) and all(
        np.array_equal(a.draws_[k], b.draws_[k]) for k in a.draws_)


KW = dict(rank=2, n_burn=20, thin=2, n_chains=3, random_state=11)


@pytest.mark.parametrize("cls", [FMRegressor, FMOrdinalRegressor])
def test_draws_do_not_depend_on_n_jobs(cls):
    X, y, f = _data()
    if cls is FMOrdinalRegressor:
        y = np.digitize(y, np.quantile(y, [0.3, 0.7]))
    one = cls(n_iter=60, n_jobs=1, **KW).fit(X, y)
    two = cls(n_iter=60, n_jobs=2, **KW).fit(X, y)
    assert _same_draws(one, two)
    assert one.n_chains_ == 3 and one.draws_per_chain_ == len(range(20, 60, 2))
    assert one.w0_.shape == (3 * one.draws_per_chain_,)
    np.testing.assert_array_equal(one.w_, one.draws_["w"].reshape(-1, X.shape[1]))
    # the chains are different chains
    assert not np.array_equal(one.draws_["w0"][0], one.draws_["w0"][1])


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier, FMOrdinalRegressor])
def test_sample_more_equals_one_long_run(cls):
    X, y, f = _data(1)
    if cls is FMClassifier:
        y = y > np.median(y)
    elif cls is FMOrdinalRegressor:
        y = np.digitize(y, np.quantile(y, [0.3, 0.7]))
    long = cls(n_iter=90, n_jobs=1, **KW).fit(X, y)
    short = cls(n_iter=60, n_jobs=1, **KW).fit(X, y)
    assert short.sample_more(30) is short
    assert _same_draws(long, short)
    assert short.sweeps_per_chain_ == 90
    np.testing.assert_array_equal(long.predict(X), short.predict(X))
    if cls is FMRegressor:
        np.testing.assert_array_equal(long.train_rmse_, short.train_rmse_)


def test_sample_more_before_fit():
    with pytest.raises(ValueError, match="not fitted"):
        FMRegressor().sample_more(10)


def test_pickle_round_trip_and_save_load(tmp_path):
    X, y, f = _data(2)
    model = FMRegressor(n_iter=40, n_jobs=1, **KW).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    path = tmp_path / "model.bfm"
    model.save(path, chains=True)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_interval(X), model.predict_interval(X))
    # a loaded model continues its chains exactly like the original
    loaded.sample_more(10)
    model.sample_more(10)
    assert _same_draws(loaded, model)
    assert [p.name for p in tmp_path.iterdir()] == ["model.bfm"]


def test_load_refuses_pickles_unless_allowed(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="pickle.*allow_pickle=True"):
        load(path)
    with pytest.raises(TypeError, match="bayesfm estimator"):
        load(path, allow_pickle=True)
    X, y, f = _data(2)
    model = FMRegressor(n_iter=40, n_jobs=1, **KW).fit(X, y)
    path.write_bytes(pickle.dumps(model))
    np.testing.assert_array_equal(load(path, allow_pickle=True).predict(X), model.predict(X))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old contents")

    def failing(fh):
        fh.write(b"partial")
        fh.flush()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, failing)
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_interrupt_keeps_draws_and_can_continue(monkeypatch):
    X, y, f = _data(3)
    calls = []
    original = base_module.ProgressBar.update

    def interrupting_update(self, chains):
        calls.append(1)
        original(self, chains)
        if len(calls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(base_module.ProgressBar, "update", interrupting_update)
    model = FMRegressor(n_iter=200, n_jobs=1, **KW)
    with pytest.warns(RuntimeWarning, match="interrupted after 80 sweeps"):
        model.fit(X, y)
    assert model.interrupted_ and model.sweeps_per_chain_ == 80
    assert model.draws_per_chain_ == len(range(20, 80, 2))
    assert model.predict(X).shape == (X.shape[0],)
    monkeypatch.setattr(base_module.ProgressBar, "update", original)
    model.sample_more(120)
    full = FMRegressor(n_iter=200, n_jobs=1, **KW).fit(X, y)
    assert _same_draws(model, full)


def test_interrupt_during_burn_in_leaves_no_draws(monkeypatch):
    X, y, f = _data(3)

    def stop(self, chains):
        raise KeyboardInterrupt

    monkeypatch.setattr(base_module.ProgressBar, "update", stop)
    model = FMRegressor(n_iter=100, n_burn=50, n_chains=2, n_jobs=1, rank=2)
    with pytest.warns(RuntimeWarning, match="0 draws per chain"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="no posterior draws"):
        model.predict(X)


def test_auto_stops_on_an_easy_problem():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    y = 1.0 + X @ np.array([0.5, -1.0, 2.0]) + rng.normal(size=400)
    model = FMRegressor(rank=1, n_iter="auto", n_burn=100, check_every=200, max_iter=3000,
                        n_chains=4, n_jobs=1, random_state=0).fit(X, y)
    conv = model.convergence_
    assert conv["converged"] and conv["reason"] == "converged", conv
    assert model.diagnose().converged
    assert conv["sweeps_per_chain"] == model.sweeps_per_chain_ <= 3000
    assert conv["held_back"] == ""
    assert 0 < conv["check_seconds"] < conv["seconds"]
    assert 0 < model.sampling_seconds_ < conv["seconds"]


def test_auto_keeps_going_on_a_hard_problem():
    """Few sweeps per check and a small budget: the diagnostics fail, sampling continues
    check after check, and the report says it ran out of sweeps."""
    X, y, f = _data(5, n=300, p=30)
    model = FMRegressor(rank=4, n_iter="auto", n_burn=10, check_every=10, max_iter=40,
                        n_chains=2, n_jobs=1, random_state=0).fit(X, y)
    conv = model.convergence_
    assert not conv["converged"] and conv["reason"] == "max_iter reached", conv
    assert len(conv["checks"]) == 3 and conv["sweeps_per_chain"] == 40
    assert [c["sweeps"] for c in conv["checks"]] == [20, 30, 40]
    sentence = conv["held_back"]
    assert sentence.startswith("max_iter reached after 40 sweeps per chain")
    block, name, short = model.diagnose(verdict_only=True).held_back()
    assert f"'{block}' held it back ({name};" in sentence and short > 1
    assert f"sample_more({int(np.ceil((short - 1) * 40))})" in sentence
    assert sentence.endswith("or with more chains where more than 2 cores are free")


@pytest.mark.parametrize("bad, exc", [(dict(n_iter="forever"), ValueError),
                                      (dict(n_iter="auto", max_iter=50, n_burn=100), ValueError),
                                      (dict(n_iter="auto", max_time=-1), ValueError),
                                      (dict(n_chains=0), ValueError), (dict(n_jobs=0), ValueError),
                                      (dict(n_jobs=1.5), TypeError), (dict(progress="yes"),
                                                                      ValueError)])
def test_bad_chain_parameters(bad, exc):
    X, y, f = _data()
    with pytest.raises(exc):
        FMRegressor(**bad).fit(X, y)


def test_progress_bar(capsys):
    X, y, f = _data()
    FMRegressor(n_iter=30, n_burn=5, n_chains=2, n_jobs=1, progress=True).fit(X, y)
    err = capsys.readouterr().err
    assert "2 chains" in err and "30/30" in err and "sweep/s" in err and "train RMSE" in err
    FMRegressor(n_iter=30, n_burn=5, n_chains=2, n_jobs=1).fit(X, y)   # not a terminal: quiet
    assert capsys.readouterr().err == ""


def test_dask_cluster_gives_the_same_draws():
    distributed = pytest.importorskip("distributed")
    X, y, f = _data(6)
    local = FMRegressor(n_iter=40, n_jobs=1, **KW).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        passed = FMRegressor(n_iter=40, **KW).fit(X, y, client=client)
        active = FMRegressor(n_iter=40, **KW).fit(X, y)       # the active client is used
        ran_on = client.run(lambda: os.getpid())
    assert _same_draws(local, passed) and _same_draws(local, active)
    assert len(ran_on) == 2


def test_an_interrupt_says_how_many_draws_wait_in_chains_that_ran_ahead(monkeypatch):
    from bayesfm.sampler.chain import advance

    X, y, f = _data(3)
    kw = dict(rank=2, n_burn=10, n_chains=2, n_jobs=1, random_state=5)
    model = FMRegressor(n_iter=50, **kw).fit(X, y)
    advance(model._chains[0], model._data, model.priors_, 10)     # chain 0 a chunk ahead

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base_module, "run_chains", interrupted)
    with pytest.warns(RuntimeWarning, match="holds 40 draws per chain x 2 chains .*; 10 more "
                                            "draws wait in the chains that ran ahead"):
        model.sample_more(10)
    monkeypatch.undo()
    model.sample_more(10)                 # to min(sweeps) + 10 = 60: chain 1 catches up
    assert _same_draws(model, FMRegressor(n_iter=60, **kw).fit(X, y))
