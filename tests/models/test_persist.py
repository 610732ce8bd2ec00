"""The saved-model format (``bayesfm.models._persist``): compact, checked, safe to open, and
continuable; subclasses of the estimators, and a fitted model whose parameters are changed."""

import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor, Priors, load
from bayesfm.cli import main as cli_main

KW = dict(rank=2, n_iter=40, n_burn=10, n_chains=2, n_jobs=1, random_state=0)


class MyRegressor(FMRegressor):
    pass


class MyClassifier(FMClassifier):
    pass


class MyOrdinal(FMOrdinalRegressor):
    pass


def _data(seed=0, n=200, p=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    f = X @ rng.normal(size=p)
    return X, f


def _targets(f):
    return {FMRegressor: f + 0.3, FMClassifier: f > 0,
            FMOrdinalRegressor: np.digitize(f, [-1.0, 0.0, 1.0])}


def _base(cls):
    return next(b for b in cls.__mro__ if b in (FMRegressor, FMClassifier, FMOrdinalRegressor))


def _draw_bytes(model):
    return sum(a.nbytes for a in model.draws_.values())


@pytest.mark.parametrize("cls", [FMRegressor, FMClassifier, FMOrdinalRegressor])
def test_save_and_load_predict_the_same(cls, tmp_path):
    X, f = _data()
    y = _targets(f)[cls]
    model = cls(**KW).fit(X, y)
    path = tmp_path / "m.bfm"
    model.save(path)
    back = load(path)
    assert type(back) is cls
    np.testing.assert_array_equal(back.decision_draws(X), model.decision_draws(X))
    for name in model.draws_:
        np.testing.assert_array_equal(back.draws_[name], model.draws_[name])
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    if cls is FMRegressor:
        np.testing.assert_array_equal(back.predict_interval(X), model.predict_interval(X))
        np.testing.assert_array_equal(back.train_rmse_, model.train_rmse_)
    else:
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert str(back.diagnose()) == str(model.diagnose())
    a = back.to_inference_data(X=X, y=y, log_likelihood=True)
    b = model.to_inference_data(X=X, y=y, log_likelihood=True)
    np.testing.assert_array_equal(a.log_likelihood["y"].values, b.log_likelihood["y"].values)
    with pytest.raises(ValueError, match="training data"):
        back.to_inference_data()               # the training rows are not saved by default
    with pytest.raises(Exception, match="chains=True"):
        back.sample_more(5)


@pytest.mark.parametrize("chains", [False, True])
def test_a_two_class_ordinal_model_saves_and_loads(chains, tmp_path):
    """Two classes: no cutpoints to sample (no acceptance statistics): loading used to fail on
    the missing chains."""
    X, f = _data()
    model = FMOrdinalRegressor(**KW).fit(X, f > 0)
    model.save(tmp_path / "two.bfm", chains=chains)
    back = load(tmp_path / "two.bfm")
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.cutpoint_accepted_.shape == (2, 0) and np.isnan(back.cutpoint_acceptance_)
    from bayesfm.data.libfm import write_libfm

    data, out = tmp_path / "rows.libfm", tmp_path / "pred.csv"
    write_libfm(data, sp.csr_matrix(X[:30]), np.zeros(30))
    assert cli_main(["predict", "--model", str(tmp_path / "two.bfm"), "--data", str(data),
                     "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 31          # a header and the 30 rows


def test_a_saved_model_is_compact(tmp_path):
    """At most 1.3 times the bytes of its draws (the training data and chains are not kept)."""
    rng = np.random.default_rng(1)
    n, users, items = 3000, 150, 100
    u, i = rng.integers(0, users, n), rng.integers(0, items, n)
    X = sp.hstack([sp.csr_matrix((np.ones(n), (np.arange(n), u)), shape=(n, users)),
                   sp.csr_matrix((np.ones(n), (np.arange(n), i)), shape=(n, items))],
                  format="csr")
    y = rng.normal(size=users)[u] + rng.normal(size=items)[i] + rng.normal(size=n)
    model = FMRegressor(rank=4, n_iter=120, n_burn=20, n_chains=2, n_jobs=1,
                        random_state=0).fit(X, y, groups=["u"] * users + ["i"] * items)
    path = tmp_path / "m.bfm"
    model.save(path)
    ratio = path.stat().st_size / _draw_bytes(model)
    assert ratio <= 1.3, ratio
    full = tmp_path / "full.bfm"
    model.save(full, chains=True)
    assert full.stat().st_size > path.stat().st_size


@pytest.mark.parametrize("cls", [FMRegressor, FMOrdinalRegressor])
def test_a_continuable_save_continues_bit_exactly(cls, tmp_path):
    X, f = _data(2)
    y = _targets(f)[cls]
    one_go = cls(**{**KW, "n_iter": 55}).fit(X, y)
    model = cls(**{**KW, "n_iter": 33}).fit(X, y)
    model.save(tmp_path / "c.bfm", chains=True)
    back = load(tmp_path / "c.bfm")
    back.sample_more(22)
    for name in one_go.draws_:
        np.testing.assert_array_equal(back.draws_[name], one_go.draws_[name])
    for name, stats in one_go.sweep_stats_.items():
        np.testing.assert_array_equal(back.sweep_stats_[name], stats)
    np.testing.assert_array_equal(back.to_inference_data().posterior["w"].values,
                                  one_go.to_inference_data().posterior["w"].values)


def test_bounded_memory_fit_saves_its_accumulated_predictions(tmp_path):
    X, f = _data(3)
    model = FMRegressor(keep_draws=False, **KW).fit(X, f, eval_sets={"test": X[:20]})
    model.save(tmp_path / "b.bfm")
    back = load(tmp_path / "b.bfm")
    a, b = back.eval_predictions_["test"], model.eval_predictions_["test"]
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.interval(0.9), b.interval(0.9))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, f = _data(4)
    model = FMRegressor(**KW).fit(X, f)
    path = tmp_path_factory.mktemp("saved") / "m.bfm"
    model.save(path)
    return model, X, path


def test_damaged_copies_are_refused_or_identical(saved, tmp_path):
    """Flip a byte or truncate the file, at many places: loading either refuses the copy with a
    ValueError naming it, or (a byte outside the content: a zip header's timestamp) gives the
    very same model. Never a silently different one."""
    model, X, path = saved
    blob = path.read_bytes()
    rng = np.random.default_rng(0)
    positions = np.unique(np.concatenate([rng.integers(0, len(blob), 60),
                                          [0, 5, len(blob) // 2, len(blob) - 3]]))
    refused = 0
    for k, pos in enumerate(positions):
        bad = bytearray(blob)
        bad[pos] ^= 0x5A
        copy = tmp_path / f"flip{k}.bfm"
        copy.write_bytes(bytes(bad))
        try:
            back = load(copy)
        except ValueError as exc:
            assert str(copy) in str(exc)
            refused += 1
            continue
        np.testing.assert_array_equal(back.decision_draws(X), model.decision_draws(X))
    assert refused >= 0.8 * len(positions)
    for cut in (0, 10, len(blob) // 3, len(blob) - 1):
        copy = tmp_path / f"cut{cut}.bfm"
        copy.write_bytes(blob[:cut])
        with pytest.raises(ValueError, match=str(copy).replace(".", r"\.")):
            load(copy)


def test_loading_runs_nothing_from_the_file(saved, tmp_path, monkeypatch):
    model, X, path = saved

    def refuse(*a, **k):
        raise AssertionError("load unpickled something")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    load(path)
    # a file that names a class of a module that is not imported: nothing is imported
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["bayesfm-model.json"])
    manifest["class"] = {"module": "antigravity", "qualname": "Evil", "base": "FMRegressor"}
    text = json.dumps(manifest).encode()
    members["bayesfm-model.json"] = text
    import hashlib

    members["checksum.sha256"] = hashlib.sha256(text).hexdigest().encode()
    evil = tmp_path / "evil.bfm"
    with zipfile.ZipFile(evil, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.warns(UserWarning, match="loaded as the bayesfm FMRegressor"):
        back = load(evil)
    assert type(back) is FMRegressor and "antigravity" not in sys.modules
    # a pickle is refused unless allowed
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(b"\x80\x04N.")
    with pytest.raises(ValueError, match="allow_pickle"):
        load(pkl)


def test_a_newer_format_version_is_refused(saved, tmp_path):
    model, X, path = saved
    import hashlib

    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["bayesfm-model.json"])
    manifest["format_version"] = 99
    text = json.dumps(manifest).encode()
    members["bayesfm-model.json"] = text
    members["checksum.sha256"] = hashlib.sha256(text).hexdigest().encode()
    newer = tmp_path / "newer.bfm"
    with zipfile.ZipFile(newer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="format version 99.*upgrade"):
        load(newer)


def test_unsavable_values_are_named(tmp_path):
    X, f = _data(5)
    model = FMRegressor(**KW).fit(X, f, groups=[object()] * 3 + ["a"] * 3)
    with pytest.raises(TypeError, match="groups_"):
        model.save(tmp_path / "x.bfm")
    assert not (tmp_path / "x.bfm").exists()


@pytest.mark.parametrize("cls", [MyRegressor, MyClassifier, MyOrdinal])
def test_subclasses_work_with_arviz_diagnose_save_and_the_cli(cls, tmp_path):
    """A subclass is the first thing a downstream user writes: it behaves as its base."""
    from bayesfm.data.libfm import write_libfm

    X, f = _data(6)
    y = _targets(f)[_base(cls)]
    model = cls(**KW).fit(X, y)
    ref = _base(cls)(**KW).fit(X, y)
    idata = model.to_inference_data(log_likelihood=True, posterior_predictive=True)
    ref_idata = ref.to_inference_data(log_likelihood=True, posterior_predictive=True)
    for group in ("posterior", "log_likelihood", "posterior_predictive", "observed_data"):
        for name in ref_idata[group].data_vars:
            np.testing.assert_array_equal(idata[group][name].values,
                                          ref_idata[group][name].values)
    assert idata.attrs["model"] == cls.__name__
    untimed = [{k: v for k, v in row.items() if k != "min_ess_per_s"}      # (a timing)
               for row in model.diagnose().table()]
    assert untimed == [{k: v for k, v in row.items() if k != "min_ess_per_s"}
                       for row in ref.diagnose().table()]
    path = tmp_path / "sub.bfm"
    model.save(path)
    assert type(load(path)) is cls             # its module is imported here
    data = tmp_path / "rows.libfm"
    write_libfm(data, sp.csr_matrix(X[:30]), np.zeros(30))
    out = tmp_path / "pred.csv"
    assert cli_main(["predict", "--model", str(path), "--data", str(data),
                     "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    want = {FMRegressor: ["row", "prediction", "lower", "upper"],
            FMClassifier: ["row", "probability", "lower", "upper", "label"]}
    assert header == want.get(_base(cls), header) and len(out.read_text().splitlines()) == 31
    # in a process that has not imported the subclass's module: loaded as its base
    code = (f"import warnings, bayesfm; warnings.simplefilter('error'); "
            f"bayesfm.load({str(path)!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and f"loaded as the bayesfm {_base(cls).__name__}" in r.stderr


def test_set_params_after_fit_changes_no_reported_figure():
    X, f = _data(7)
    model = FMRegressor(**{**KW, "thin": 2}).fit(X, f)
    before = (model.to_inference_data(), str(model.diagnose()), model.predict(X),
              model.n_burn_, model.thin_)
    model.set_params(n_burn=0, thin=1, rank=5, n_chains=7, priors=Priors(a0=9.0))
    after = (model.to_inference_data(), str(model.diagnose()), model.predict(X),
             model.n_burn_, model.thin_)
    for group in ("posterior", "sample_stats", "observed_data"):
        for name in before[0][group].data_vars:
            np.testing.assert_array_equal(after[0][group][name].values,
                                          before[0][group][name].values)
    assert after[0].attrs["n_burn"] == 10 and after[0].attrs["thin"] == 2
    assert after[1] == before[1]
    np.testing.assert_array_equal(after[2], before[2])
    assert after[3:] == (10, 2) == before[3:]


def test_continuing_costs_the_new_draws_only():
    """sample_more appends to buffers grown by doubling: over 40 continuations the draws are
    reallocated O(log) times, and the draws already held are not copied otherwise."""
    X, f = _data(8)
    model = FMRegressor(**{**KW, "n_iter": 12, "n_burn": 2}).fit(X, f)
    buffers = set()
    for _ in range(40):
        model.sample_more(5)
        buffers.add(id(model._posterior._draws.arrays["V"]))
    assert model.draws_per_chain_ == 10 + 200
    assert len(buffers) <= 6
