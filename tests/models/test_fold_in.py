"""``fold_in``: new categories' rows added after the fit, without refitting (the closed-form check
of its conditional is in ``tests/statistical/test_fold_in.py``)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bayesfm
from bayesfm import FMClassifier, FMOrdinalRegressor, FMRegressor, NewCategories
from bayesfm.data.relational import RelationalData, RelationBlock

SMALL = dict(rank=3, n_iter=60, n_burn=40, n_chains=2, random_state=0)


def _ratings(seed=1, nu=50, ni=30, n=1500):
    """Ratings of users 0..nu-1 (ids as strings) from a rank-3 model; users >= 40 are new."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    U, I = rng.normal(size=(nu, 3)), rng.normal(size=(ni, 3))
    y = 3.0 + (U[u] * I[i]).sum(1) + 0.3 * rng.normal(size=n)
    df = pd.DataFrame({"user": u.astype(str), "item": i.astype(str)})
    new = u >= 40
    first = new & (np.cumsum(new) % 2 == 0)           # half of the new users' rows to fold in
    return df, y, ~new, first, new & ~first


@pytest.fixture(scope="module")
def split():
    return _ratings()


@pytest.fixture(scope="module")
def fitted(split):
    df, y, train, _, _ = split
    return FMRegressor(**SMALL).fit(df[train], y[train])


def _clone(model):
    return bayesfm.FMRegressor.from_state(model.to_state(chains=True))


def test_frame_fold_in_learns_the_new_categories(fitted, split):
    df, y, _, first, rest = split
    model = _clone(fitted)
    p = model.n_features_in_
    n_new = df[first]["user"].nunique()
    before = model.predict(df[rest])
    assert model.fold_in(df[first], y[first]) is model
    assert model.n_features_in_ == p + n_new and model.n_folded_rows_ == int(first.sum())
    assert model.w_.shape[1] == p + n_new and model.V_.shape[1] == p + n_new
    assert list(model.folded_features_) == list(range(p, p + n_new))
    assert all(str(f).startswith("user=") for f in model.feature_names_in_[p:])
    assert model.encoder_.n_features_ == p + n_new
    # the encoder maps a folded user to its own column from now on
    X = model.encoder_.transform(df[first].iloc[:1])
    assert X.indices.max() >= p
    # the folded users' predictions use their ratings: closer than the prior draws
    rmse = lambda pred: np.sqrt(np.mean((pred - y[rest]) ** 2))    # noqa: E731
    assert rmse(model.predict(df[rest])) < 0.6 * rmse(before)
    # the known columns' draws are unchanged
    np.testing.assert_array_equal(model.w_[:, :p], fitted.w_)


def test_fold_in_is_reproducible_and_seeded(fitted, split):
    df, y, _, first, _ = split
    a = _clone(fitted).fold_in(df[first], y[first], random_state=5)
    b = _clone(fitted).fold_in(df[first], y[first], random_state=5)
    c = _clone(fitted).fold_in(df[first], y[first], random_state=6)
    np.testing.assert_array_equal(a.V_, b.V_)
    assert not np.array_equal(a.V_, c.V_)


def test_fold_in_draws_do_not_depend_on_the_thread_count(fitted, split, monkeypatch):
    df, y, _, first, _ = split
    monkeypatch.setattr("bayesfm.sampler.threads.MIN_PARALLEL_WORK", 0)   # parallel loops
    one, two = _clone(fitted), _clone(fitted)
    one.n_threads, two.n_threads = 1, 2
    one.fold_in(df[first], y[first])
    two.fold_in(df[first], y[first])
    np.testing.assert_array_equal(one.w_, two.w_)
    np.testing.assert_array_equal(one.V_, two.V_)


def test_matrix_fold_in_with_groups_and_new_categories(split):
    df, y, train, first, rest = split
    enc = bayesfm.data.encoders.TableEncoder().fit(df[train])
    X_train = enc.transform(df[train])
    model = FMRegressor(**SMALL).fit(X_train, y[train], groups=enc.groups_)
    full, siblings, _ = enc.transform_new(df[first | rest])
    groups = [enc.groups_[j] for j in siblings]
    sub = np.flatnonzero(first[first | rest])
    a = _clone(model).fold_in(full[sub], y[first], groups=groups)
    b = _clone(model).fold_in(NewCategories(full[sub], groups), y[first])
    np.testing.assert_array_equal(a.V_, b.V_)
    # afterwards the model takes matrices with the new columns
    keep = np.flatnonzero(rest[first | rest])
    assert a.predict(full[keep]).shape == (keep.shape[0],)


def test_fold_in_saves_loads_and_exports(fitted, split, tmp_path):
    df, y, _, first, rest = split
    model = _clone(fitted).fold_in(df[first], y[first])
    model.save(tmp_path / "m.bfm")
    back = bayesfm.load(tmp_path / "m.bfm")
    np.testing.assert_array_equal(back.predict(df[rest]), model.predict(df[rest]))
    assert back.n_folded_rows_ == model.n_folded_rows_
    report = model.diagnose()
    assert report is not None
    idata = model.to_inference_data()
    post = idata.posterior if hasattr(idata, "posterior") else idata["posterior"]
    assert post["w"].shape[-1] == model.n_features_in_


def test_fold_in_with_chains_keeps_training_design(split, tmp_path):
    df, y, train, first, _ = split
    model = FMRegressor(**SMALL).fit(df[train], y[train]).fold_in(df[first], y[first])
    with pytest.raises(RuntimeError, match="refit"):
        model.sample_more(1)
    model.save(tmp_path / "c.bfm", chains=True)
    back = bayesfm.load(tmp_path / "c.bfm")
    assert back.n_features_in_ == model.n_features_in_
    with pytest.raises(RuntimeError, match="rows folded in"):
        back.sample_more(2)
    # a new fit forgets the folded rows
    model.fit(df[train], y[train])
    assert not hasattr(model, "n_folded_rows_")
    model.sample_more(1)


def test_fold_in_refusals(fitted, split):
    df, y, train, first, _ = split
    model = _clone(fitted)
    p = model.n_features_in_
    with pytest.raises(ValueError, match="no new category"):
        model.fold_in(df[train].iloc[:5], y[train][:5])
    with pytest.raises(ValueError, match="n_sweeps"):
        model.fold_in(df[first], y[first], n_sweeps=0)
    bounded = FMRegressor(**SMALL, keep_draws=False).fit(df[train], y[train])
    with pytest.raises(RuntimeError, match="keep_draws=False"):
        bounded.fold_in(df[first], y[first])
    with pytest.raises(ValueError, match="y"):
        model.fold_in(df[first], y[first][:-1])
    assert model.n_features_in_ == p and not hasattr(model, "n_folded_rows_")   # untouched
    unfitted = FMRegressor()
    with pytest.raises(bayesfm.exceptions.NotFittedError):
        unfitted.fold_in(df[first], y[first])


def test_update_redraws_the_known_categories_of_the_named_groups(fitted, split):
    df, y, train, first, _ = split
    model = _clone(fitted)
    p = model.n_features_in_
    known_rows = np.flatnonzero(train)[:4]                   # new ratings of known users
    rows = pd.concat([df.iloc[known_rows], df[first]])
    target = np.r_[y[known_rows], y[first]]
    model.fold_in(rows, target, update="user")
    users = sorted(set(df.iloc[known_rows]["user"]))
    cols = [int(np.flatnonzero(fitted.feature_names_in_ == f"user={u}")[0]) for u in users]
    assert model.updated_features_.tolist() == cols
    assert model.n_folded_rows_ == 4 + int(first.sum())
    changed = np.flatnonzero(np.any(model.w_[:, :p] != fitted.w_, axis=0))
    assert changed.tolist() == cols                          # those users only, items fixed
    # the tracked training rows' predictions follow the re-drawn users (what diagnose reads)
    rows_X = model.X_train_[model.diagnostic_rows_]
    rows_X.resize((rows_X.shape[0], model.n_features_in_))        # (the folded columns: 0)
    tracked = model.decision_draws(rows_X)
    np.testing.assert_allclose(model.diagnostic_yhat_.reshape(tracked.shape), tracked,
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not groups of the fit"):
        _clone(fitted).fold_in(rows, target, update="users")
    bare = bayesfm.FMRegressor.from_state(fitted.to_state())     # without training rows
    with pytest.raises(ValueError, match="chains=True"):
        bare.fold_in(rows, target, update="user")
    # known users' rows alone are enough with update
    alone = _clone(fitted).fold_in(df.iloc[known_rows], y[known_rows], update=["user"])
    assert alone.n_features_in_ == p and alone.n_folded_rows_ == 4


def test_rows_without_a_new_category_are_left_out_with_a_warning(fitted, split):
    df, y, train, first, _ = split
    model = _clone(fitted)
    rows = pd.concat([df[train].iloc[:3], df[first]])
    with pytest.warns(UserWarning, match="3 of .* rows hold no new category .* row 0"):
        model.fold_in(rows, np.r_[y[train][:3], y[first]])
    assert model.n_folded_rows_ == int(first.sum())


@pytest.mark.parametrize("kind", ["probit", "ordinal"])
def test_probit_models_fold_in(split, kind):
    df, y, train, first, rest = split
    if kind == "probit":
        labels = y > 3.0
        model = FMClassifier(**SMALL)
    else:
        labels = np.digitize(y, [2.0, 3.0, 4.0])
        model = FMOrdinalRegressor(**SMALL)
    model.fit(df[train], labels[train])
    before = model.score(df[rest], labels[rest])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fold_in(df[first], labels[first])
    assert model.score(df[rest], labels[rest]) > before + 0.1


def _relational(seed=0, n_users=30, n_items=12, n=900):
    """Users as a block (one-hot id and a side feature), items direct; users >= 24 are new
    (no training rows, all-zero id part in the block)."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    U, I = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    y = 3.0 + (U[u] * I[i]).sum(1) + 0.3 * rng.normal(size=n)
    ids = sp.csr_matrix(np.eye(n_users)[:, :24])             # new users have no id column
    side = sp.csr_matrix(rng.integers(0, 2, (n_users, 1)).astype(float))
    users = sp.hstack([ids, side], format="csr")
    items = sp.csr_matrix(np.eye(n_items)[i])
    return users, items, u, y


def test_relational_fold_in_maps_block_rows_to_their_columns(tmp_path):
    users, items, u, y = _relational()
    train, new = u < 24, u >= 24
    first = new & (np.cumsum(new) % 2 == 0)
    rest = new & ~first
    groups = ["item"] * 12 + ["user"] * 24 + ["side"]

    def rel(sel):
        return RelationalData(items[sel], [RelationBlock(users, u[sel], "user")])

    model = FMRegressor(**SMALL).fit(rel(train), y[train], groups=groups)
    p = model.n_features_in_
    prior = model.predict(NewCategories(rel(rest), new_rows={"user": range(24, 30)}))
    model.fold_in(NewCategories(rel(first), new_rows={"user": range(24, 30)}), y[first])
    assert model.n_features_in_ == p and model.w_.shape[1] == p + 6
    assert model.folded_block_rows_.tolist() == [[0, r, p + r - 24] for r in range(24, 30)]
    after = model.predict(rel(rest))                    # the folded users are known now
    rmse = lambda pred: np.sqrt(np.mean((pred - y[rest]) ** 2))    # noqa: E731
    assert rmse(after) < 0.7 * rmse(prior)
    with pytest.raises(ValueError, match="folded in before"):
        model.fold_in(NewCategories(rel(first), new_rows={"user": [25]}), y[first])
    model.save(tmp_path / "r.bfm")
    back = bayesfm.load(tmp_path / "r.bfm")
    np.testing.assert_array_equal(back.predict(rel(rest)), after)
    idata = model.to_inference_data()
    post = idata.posterior if hasattr(idata, "posterior") else idata["posterior"]
    assert post["w"].shape[-1] == p + 6


@pytest.mark.statistical
def test_fold_in_matches_a_refit_and_is_calibrated_reduced_benchmark():
    """The targets of ``benchmarks/bench_cold_start.py`` on simulated ratings: 10% of the users
    held out, the earlier half of each one's ratings folded in, the later half scored. RMSE
    within 0.02 of a refit on all rows (two fits of one posterior differ by Monte Carlo error),
    90% coverage within 3.5 binomial standard errors (plus 0.01 of Monte Carlo error) of 0.9."""
    rng = np.random.default_rng(2026)
    nu, ni, n = 300, 150, 15000
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    U, I = rng.normal(size=(nu, 3)) * 0.8, rng.normal(size=(ni, 3)) * 0.8
    y = 3.0 + rng.normal(0, 0.3, nu)[u] + (U[u] * I[i]).sum(1) + rng.normal(0, 0.7, n)
    df = pd.DataFrame({"user": u.astype(str), "item": i.astype(str)})
    held = np.isin(u, rng.choice(nu, nu // 10, replace=False))
    rank_in_user = np.zeros(n, np.int64)
    seen = {}
    for t, user in enumerate(u):
        rank_in_user[t] = seen.get(user, 0)
        seen[user] = rank_in_user[t] + 1
    count = np.bincount(u, minlength=nu)[u]
    early, late = held & (rank_in_user < count // 2), held & (rank_in_user >= count // 2)
    kw = dict(rank=3, n_iter=200, n_burn=100, n_chains=2, random_state=0)
    def scores(m):
        pred, iv = m.predict(df[late]), m.predict_interval(df[late], level=0.9)
        inside = (y[late] >= iv[:, 0]) & (y[late] <= iv[:, 1])
        return np.sqrt(np.mean((pred - y[late]) ** 2)), inside.mean()

    model = FMRegressor(**kw).fit(df[~held], y[~held])
    rmse_prior, _ = scores(model)
    model.fold_in(df[early], y[early])
    refit = FMRegressor(**kw).fit(df[~late], y[~late])
    (rmse_fold, cov_fold), (rmse_refit, _) = scores(model), scores(refit)
    # the rows matter here: the prior draws are far off what the tolerance below allows
    assert rmse_prior > rmse_fold + 0.1, (rmse_prior, rmse_fold)
    assert abs(rmse_fold - rmse_refit) <= 0.02, (rmse_fold, rmse_refit)
    band = 3.5 * np.sqrt(0.09 / late.sum()) + 0.01
    assert abs(cov_fold - 0.9) <= band, (cov_fold, band)
