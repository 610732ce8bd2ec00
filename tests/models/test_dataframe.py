"""fit(df, y) with a pandas DataFrame: encoded once, stored, used at predict time."""

import numpy as np
import pytest

from bayesfm import FMClassifier, FMRegressor, NewCategories
from bayesfm.data.encoders import TableEncoder

pd = pytest.importorskip("pandas")

KW = dict(rank=2, n_iter=40, n_burn=10, n_chains=1, n_jobs=1, random_state=0)


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    genres = ["Action", "Comedy", "Drama", "Horror"]
    df = pd.DataFrame({
        "user": rng.integers(1, 30, n),
        "item": [f"m{i}" for i in rng.integers(0, 20, n)],
        "age": rng.normal(35, 10, n),
        "genres": [list(rng.choice(genres, rng.integers(0, 3), replace=False)) for _ in range(n)],
    })
    y = 0.1 * df["age"].to_numpy() + (df["user"].to_numpy() % 3) + rng.normal(size=n)
    return df, y


def test_fit_frame_equals_fit_on_the_encoded_matrix():
    df, y = _frame()
    encoder = TableEncoder(categorical=["user"])
    model = FMRegressor(encoder=encoder, **KW).fit(df, y)
    assert model.encoder is encoder and model.encoder_ is not encoder   # the param is not fitted
    X = TableEncoder(categorical=["user"]).fit_transform(df)
    ref = FMRegressor(**KW).fit(X, y, groups=list(model.encoder_.groups_))
    assert np.array_equal(model.V_, ref.V_)
    assert model.groups_ == ["user", "item", "numeric", "genres"]
    np.testing.assert_array_equal(model.predict(df), ref.predict(X))
    np.testing.assert_array_equal(model.predict(X), ref.predict(X))   # a matrix still works
    assert model.feature_names_in_[0] == "user=1" and "age" in list(model.feature_names_in_)


def test_unseen_categories_are_new_categories():
    """An unseen category (an item, a genre) gets a column of its own, a draw from its group's
    prior: the frame predicts as the matrix of ``transform_new`` marked as NewCategories, with
    seed 0 by default or the seed of a NewCategories holding the frame; a missing value still
    contributes nothing."""
    df, y = _frame()
    model = FMRegressor(encoder=TableEncoder(categorical=["user"]), **KW).fit(df, y)
    new = df.iloc[:5].copy()
    new["item"] = ["never-seen", "never-seen", "also-new", None, "m1"]
    new["genres"] = [["Western"], ["Western", "Drama"], [], ["Noir"], ["Drama"]]
    X, siblings, names = model.encoder_.transform_new(new)
    assert list(names) == ["item=never-seen", "item=also-new", "genres=Western", "genres=Noir"]
    labels = [model.groups_[model.group_index_[j]] for j in siblings]
    assert labels == ["item", "item", "genres", "genres"]
    np.testing.assert_array_equal(model.predict(new),
                                  model.predict(NewCategories(X, labels, random_state=0)))
    np.testing.assert_array_equal(model.predict(NewCategories(new, random_state=3)),
                                  model.predict(NewCategories(X, labels, random_state=3)))
    assert not np.array_equal(model.predict(NewCategories(new, random_state=3)),
                              model.predict(new))
    # a multi-hot row is normalised over its known and new items: Western and Drama get 1/2
    assert X[1, model.encoder_.feature_names_.tolist().index("genres=Drama")] == 0.5
    known = df.iloc[:5].copy()
    known["item"] = None        # a missing category contributes nothing
    known["genres"] = [[]] * 5
    np.testing.assert_array_equal(model.predict(known),
                                  model.predict(model.encoder_.transform(known)))
    # columns in another order, plus an extra column, are fine
    shuffled = df.iloc[:5][["genres", "age", "item", "user"]].assign(extra=1)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(df.iloc[:5]))


def test_feature_names_reach_arviz():
    df, y = _frame()
    model = FMRegressor(encoder=TableEncoder(categorical=["user"]), **KW).fit(df, y)
    idata = model.to_inference_data()
    names = list(idata.posterior.coords["feature"].values)
    assert names == list(model.feature_names_in_)
    assert list(idata.posterior.coords["group"].values) == ["user", "item", "numeric", "genres"]


@pytest.mark.parametrize("Model", [FMRegressor, FMClassifier])
def test_a_frame_of_numbers_fits_as_the_matrix_of_its_values(Model):
    """The same data in another container gives the same draws (scikit-learn's
    check_estimators_data_not_an_array): numeric columns enter the design as they are, in one
    group, as a matrix's columns do."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(120, 4)) * [1.0, 100.0, 0.01, 3.0]
    y = A @ [1.0, 0.01, 50.0, -0.2] + rng.normal(size=120)
    if Model is FMClassifier:
        y = y > 0
    frame = Model(**KW).fit(pd.DataFrame(A, columns=list("abcd")), pd.Series(y))
    matrix = Model(**KW).fit(A, y)
    np.testing.assert_array_equal(frame.V_, matrix.V_)
    np.testing.assert_array_equal(frame.w_, matrix.w_)
    np.testing.assert_array_equal(frame.predict(pd.DataFrame(A, columns=list("abcd"))),
                                  matrix.predict(A))


def test_classifier_on_a_frame_and_errors():
    df, y = _frame()
    clf = FMClassifier(**KW).fit(df, y > np.median(y))
    assert clf.predict_proba(df.iloc[:7]).shape == (7, 2)
    with pytest.raises(ValueError, match="age"):
        clf.predict(df.drop(columns=["age"]))
    reg = FMRegressor(**KW).fit(np.ones((10, 3)), np.arange(10.0))
    with pytest.raises(TypeError, match="DataFrame"):
        reg.predict(df)
    with pytest.raises(TypeError, match="encoder"):
        FMRegressor(encoder="one-hot", **KW).fit(df, y)


def test_an_evaluation_set_with_unseen_categories_says_they_contribute_nothing():
    df, y = _frame()
    later = df.iloc[:20].copy()
    later["item"] = "brand-new"
    enc = TableEncoder(categorical=["user"])
    with pytest.warns(UserWarning, match=r"eval_sets\['later'\]: categories unseen at fit "
                                         r"contribute nothing"):
        FMRegressor(encoder=enc, **KW).fit(df.iloc[20:], y[20:], eval_sets={"later": later})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FMRegressor(encoder=enc, **KW).fit(df, y, eval_sets={"seen": df.iloc[:20]})
