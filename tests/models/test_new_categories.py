"""Rows with categories the fit never saw (``bayesfm.NewCategories``): a new category's weight
and factors are a draw from its group's prior in every kept draw, shared by the rows of one
call, deterministic under ``random_state``; checked against the closed form of the prediction
given the draws."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesfm import FMClassifier, FMRegressor, NewCategories

USERS, ITEMS, N = 30, 20, 400
KW = dict(rank=3, n_iter=240, n_burn=40, n_chains=2, n_jobs=1, random_state=0)


def _design(rng, users, n):
    u, i = rng.integers(0, users, n), rng.integers(0, ITEMS, n)
    # user columns valued 2 (a column scale of 2: the new column must be scaled like them)
    U = sp.csr_matrix((np.full(n, 2.0), (np.arange(n), u)), shape=(n, users))
    Im = sp.csr_matrix((np.ones(n), (np.arange(n), i)), shape=(n, ITEMS))
    return sp.hstack([U, Im], format="csr"), u, i


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    X, u, i = _design(rng, USERS, N)
    y = rng.normal(size=USERS)[u] + rng.normal(size=ITEMS)[i] + 0.5 * rng.normal(size=N)
    groups = ["user"] * USERS + ["item"] * ITEMS
    return FMRegressor(**KW).fit(X, y, groups=groups)


def _rows(items, new_cols, n_new):
    """One row per (item, new user column): a new user (valued 2, as the users) rating it."""
    n = len(items)
    known = sp.csr_matrix((np.ones(n), (np.arange(n), USERS + np.asarray(items))),
                          shape=(n, USERS + ITEMS))
    new = sp.csr_matrix((np.full(n, 2.0), (np.arange(n), new_cols)), shape=(n, n_new))
    return sp.hstack([known, new], format="csr")


def _z(model, draws, item, scale):
    """(yhat_s - E[yhat_s | draw s]) / sd(yhat_s | draw s) for a row of a new user (value 2)
    and a known item: w_new ~ N(mu_w, 1/lam_w) / c, v_new ~ N(mu_v, 1/lam_v) / c, c the users'
    column scale."""
    d = model.draws_
    g, j = 0, USERS + item
    C, S = d["w0"].shape
    w0, wj, Vj = (d["w0"].reshape(-1), d["w"][:, :, j].reshape(-1),
                  d["V"][:, :, j, :].reshape(C * S, -1))
    mu_w, lam_w = d["mu_w"][:, :, g].reshape(-1), d["lambda_w"][:, :, g].reshape(-1)
    mu_v, lam_v = (d["mu_v"][:, :, g, :].reshape(C * S, -1),
                   d["lambda_v"][:, :, g, :].reshape(C * S, -1))
    x = 2.0
    mean = w0 + wj + x * mu_w / scale + x * np.sum(Vj * mu_v, axis=1) / scale
    var = x * x / (lam_w * scale**2) + x * x * np.sum(Vj * Vj / lam_v, axis=1) / scale**2
    return (draws - mean) / np.sqrt(var)


def test_a_new_category_is_a_draw_from_its_groups_prior(fitted):
    """Closed form: given each kept draw, the prediction for a new user is normal with the
    mean and variance of the prior draw of its parameters; the standardised values over
    S = 400 draws have mean 0 (MC sd 1/sqrt(S) = 0.05) and variance 1 (MC sd sqrt(2/S) =
    0.07); 4-sd tolerances. Power: the same statistic with the column scale left out (c = 1)
    is rejected."""
    scale = fitted.column_scale_[0]
    assert scale == 2.0
    X = _rows([3], [0], 1)
    draws = fitted.predict_draws(NewCategories(X, ["user"], random_state=5))[:, 0]
    z = _z(fitted, draws, 3, scale)
    assert abs(z.mean()) < 4 * np.sqrt(1 / z.size), z.mean()
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size), z.var()
    wrong = _z(fitted, draws, 3, 1.0)
    assert abs(wrong.var() - 1) > 4 * np.sqrt(2 / z.size) or \
        abs(wrong.mean()) > 4 * np.sqrt(1 / z.size)


def test_one_draw_per_new_category_and_call(fitted):
    """Rows holding the same new category share its draw (identical rows give identical
    draws); two new categories are drawn independently (correlation of their standardised
    values within 4/sqrt(S) of 0); the same random_state gives the same draws."""
    X = _rows([3, 3, 3], [0, 0, 1], 2)
    draws = fitted.predict_draws(NewCategories(X, ["user", "user"], random_state=1))
    np.testing.assert_array_equal(draws[:, 0], draws[:, 1])
    scale = fitted.column_scale_[0]
    za, zb = _z(fitted, draws[:, 0], 3, scale), _z(fitted, draws[:, 2], 3, scale)
    assert abs(np.corrcoef(za, zb)[0, 1]) < 4 / np.sqrt(za.size)
    again = fitted.predict_draws(NewCategories(X, ["user", "user"], random_state=1))
    np.testing.assert_array_equal(again, draws)
    other = fitted.predict_draws(NewCategories(X, ["user", "user"], random_state=2))
    assert not np.array_equal(other, draws)


def test_known_columns_predict_as_before_and_new_users_are_less_certain(fitted):
    X = _rows(list(range(ITEMS)), [0] * ITEMS, 1)
    known_only = X[:, :USERS + ITEMS]
    # a row without new entries predicts exactly as the plain matrix
    mixed = X.tolil()
    mixed[:2, USERS + ITEMS] = 0.0
    mixed = mixed.tocsr()
    mixed.eliminate_zeros()
    a = fitted.predict(NewCategories(mixed, ["user"], random_state=0))
    np.testing.assert_array_equal(a[:2], fitted.predict(known_only[:2]))
    # a new user's interval is wider than a known user's for the same items
    X_known_user = known_only.tolil()
    X_known_user[:, 0] = 2.0
    width_new = np.diff(fitted.predict_interval(NewCategories(X, ["user"], random_state=0)))
    width_known = np.diff(fitted.predict_interval(X_known_user.tocsr()))
    assert width_new.mean() > width_known.mean()


def test_refusals_name_what_is_wrong(fitted):
    X = _rows([1], [0], 1)
    with pytest.raises(ValueError, match="one label per new column"):
        fitted.predict(NewCategories(X, ["user", "item"]))
    with pytest.raises(ValueError, match=r"groups \['film'\] are not groups of the fit"):
        fitted.predict(NewCategories(X, ["film"]))
    with pytest.raises(TypeError, match="NewCategories are rows to predict"):
        FMRegressor(**KW).fit(NewCategories(X, ["user"]), [1.0])
    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(50, 3))
    numeric = FMRegressor(rank=2, n_iter=20, n_burn=5, n_chains=1).fit(Xn, Xn[:, 0])
    with pytest.raises(ValueError, match="is not a group of categories"):
        numeric.predict(NewCategories(np.hstack([Xn, np.ones((50, 1))]), [0]))


def test_a_classifier_gives_probabilities_for_new_users():
    rng = np.random.default_rng(2)
    X, u, i = _design(rng, USERS, N)
    y = (rng.normal(size=USERS)[u] + rng.normal(size=ITEMS)[i]) > 0
    clf = FMClassifier(**{**KW, "n_iter": 60, "n_burn": 20}).fit(
        X, y, groups=["user"] * USERS + ["item"] * ITEMS)
    rows = NewCategories(_rows([0, 1, 2], [0, 0, 0], 1), ["user"], random_state=0)
    p = clf.predict_proba(rows)
    assert p.shape == (3, 2) and np.all((0 <= p) & (p <= 1))
    iv = clf.predict_interval(rows)
    assert np.all(iv[:, 0] <= p[:, 1]) and np.all(p[:, 1] <= iv[:, 1])


def _ratings(seed, users=300, items=60, n=9000, held=100):
    """Ratings of an FM with user and item effects and rank-2 interactions; ``held`` users
    held out of training (their rows are the test rows)."""
    rng = np.random.default_rng(seed)
    bu, bi = rng.normal(0, 0.7, users), rng.normal(0, 0.5, items)
    P, Q = rng.normal(0, 0.6, (users, 2)), rng.normal(0, 0.6, (items, 2))
    u, i = rng.integers(0, users, n), rng.integers(0, items, n)
    y = 3 + bu[u] + bi[i] + np.sum(P[u] * Q[i], axis=1) + rng.normal(0, 0.5, n)
    test = np.isin(u, rng.choice(users, held, replace=False))
    return u, i, y, test


@pytest.mark.statistical
def test_new_users_intervals_are_calibrated():
    """Reduced-size version of the cold-start benchmark: new users through the DataFrame path.
    Pooled over 4 data sets of 100 new users each (~12,000 test rows; per data set the coverage
    varies with sd ~0.02 between seeds, as rows of one user are correlated, so the pooled sd is
    ~0.01), the 90% and 50% predictive intervals cover within 3 sd of their level. Power: the
    same fits with the new users left out (w = 0, v = 0, the behaviour before) under-cover."""
    pd = pytest.importorskip("pandas")
    from bayesfm.data.encoders import TableEncoder

    inside = {0.9: [], 0.5: [], "drop": []}
    for seed in range(4):
        u, i, y, test = _ratings(seed)
        frame = pd.DataFrame({"user": u, "item": i})
        model = FMRegressor(rank=2, n_iter=150, n_burn=50, n_chains=2, n_jobs=1, random_state=0,
                            encoder=TableEncoder(categorical=["user", "item"])).fit(
            frame[~test], y[~test])
        iv = model.predict_interval(frame[test], level=[0.9, 0.5])
        yt = y[test]
        for j, level in enumerate((0.9, 0.5)):
            inside[level].append((yt >= iv[:, j, 0]) & (yt <= iv[:, j, 1]))
        drop = model.predict_interval(model.encoder_.transform(frame[test]), level=0.9)
        inside["drop"].append((yt >= drop[:, 0]) & (yt <= drop[:, 1]))
    cover = {key: float(np.concatenate(v).mean()) for key, v in inside.items()}
    assert abs(cover[0.9] - 0.9) < 0.03, cover
    assert abs(cover[0.5] - 0.5) < 0.05, cover
    assert cover["drop"] < 0.87, cover


def test_new_rows_of_a_relational_block_are_new_categories():
    """A user block row that was not in training (side features, no id column): its id is a
    new category of the id group, and the predictions equal those of the expanded matrix with
    that id as a NewCategories column (same seed)."""
    from bayesfm.data.relational import RelationalData, RelationBlock

    rng = np.random.default_rng(3)
    side = rng.normal(size=(13, 3))
    users = sp.hstack([sp.vstack([sp.identity(12), sp.csr_matrix((1, 12))]), side],
                      format="csr")                         # row 12: a new user, no id
    items = sp.identity(8, format="csr")
    n = 300
    u, i = rng.integers(0, 12, n), rng.integers(0, 8, n)
    y = rng.normal(size=12)[u] + rng.normal(size=8)[i] + 0.3 * rng.normal(size=n)
    groups = ["uid"] * 12 + ["uside"] * 3 + ["iid"] * 8
    train = RelationalData(None, [RelationBlock(users[:12], u, "users"),
                                  RelationBlock(items, i, "items")])
    model = FMRegressor(**{**KW, "n_iter": 60, "n_burn": 20}).fit(train, y, groups=groups)
    pu, pi = np.array([12, 12, 3, 12]), np.array([0, 5, 5, 7])
    rel = RelationalData(None, [RelationBlock(users, pu, "users"),
                                RelationBlock(items, pi, "items")])
    rows = NewCategories(rel, {"users": "uid"}, random_state=4, new_rows={"users": [12]})
    X = sp.hstack([rel.expand(), sp.csr_matrix((pu == 12).astype(float)[:, None])],
                  format="csr")
    np.testing.assert_allclose(model.predict_draws(rows),
                               model.predict_draws(NewCategories(X, ["uid"], random_state=4)),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.predict(rows)[2], model.predict(rel)[2], rtol=1e-12)
    with pytest.raises(ValueError, match="not a row of the block"):
        model.predict(NewCategories(rel, new_rows={"users": [13]}))
    with pytest.raises(ValueError, match="block 'films'"):
        model.predict(NewCategories(rel, new_rows={"films": [0]}))
    with pytest.raises(ValueError, match=r"groups \['users'\] are not groups of the fit"):
        model.predict(NewCategories(rel, new_rows={"users": [12]}))   # default: the block name
    by_block = FMRegressor(**{**KW, "n_iter": 20, "n_burn": 5}).fit(train, y)  # ids + side
    with pytest.raises(ValueError, match="'users' is not a group of categories"):
        by_block.predict(NewCategories(rel, new_rows={"users": [12]}))
