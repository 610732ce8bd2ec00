"""R-hat and ESS agree with ArviZ's own functions; diagnose() on fitted models."""

import warnings

import arviz as az
import numpy as np
import pytest

from bayesfm import FMOrdinalRegressor, FMRegressor
from bayesfm.diagnostics import ess_bulk, ess_tail, rhat


def _chains(seed, C=4, S=301, m=3, shift=0.3, ar=0.9):
    rng = np.random.default_rng(seed)
    x = np.zeros((C, S, m))
    for t in range(1, S):
        x[:, t] = ar * x[:, t - 1] + rng.normal(size=(C, m))
    x[1] += shift
    return x


@pytest.mark.parametrize("seed, C, S, ar, shift", [(0, 4, 301, 0.9, 0.3), (1, 2, 200, 0.0, 0.0),
                                                   (2, 6, 51, 0.5, 1.0), (3, 4, 1000, 0.99, 0)])
def test_rhat_and_ess_agree_with_arviz(seed, C, S, ar, shift):
    x = _chains(seed, C, S, 3, shift, ar)
    ours = rhat(x), ess_bulk(x), ess_tail(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(3):
            xj = x[:, :, j]
            ref = (float(az.rhat(xj)), float(az.ess(xj, method="bulk")),
                   float(az.ess(xj, method="tail", prob=(0.05, 0.95))))
            for a, b in zip((o[j] for o in ours), ref):
                assert a == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize("prob", [(0.11, 0.89), 0.2, (0.01, 0.99)])
def test_tail_ess_at_other_quantiles_agrees_with_arviz(prob):
    """``ess_tail(prob=...)`` reproduces ArviZ at any quantiles, e.g. ArviZ 1.x's summary
    default (0.11, 0.89)."""
    x = _chains(7, 4, 400, 2, 0.1, 0.8)
    ours = ess_tail(x, prob=prob)
    pair = prob if isinstance(prob, tuple) else (prob, 1 - prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(2):
            ref = float(az.ess(x[:, :, j], method="tail", prob=pair))
            assert ours[j] == pytest.approx(ref, rel=1e-9)
    assert ess_tail(x, prob=0.2)[0] == pytest.approx(ess_tail(x, prob=(0.2, 0.8))[0])
    with pytest.raises(ValueError, match="prob"):
        ess_tail(x, prob=(0.5, 1.2))


def test_scalar_and_shaped_inputs():
    x = _chains(5, m=6).reshape(4, 301, 2, 3)
    assert rhat(x).shape == (2, 3) and ess_bulk(x).shape == (2, 3)
    assert isinstance(rhat(x[:, :, 0, 0]), float)
    const = np.ones((4, 100))
    assert np.isnan(rhat(const))
    assert ess_bulk(const) == 400


def test_rhat_flags_disagreeing_chains():
    x = _chains(6, shift=0.0, ar=0.0)
    assert rhat(x).max() < 1.01
    x[0] += 3.0
    assert rhat(x).min() > 1.1


@pytest.fixture(scope="module")
def easy_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = 1.0 + X @ np.array([0.5, -1.0, 2.0]) + rng.normal(size=400)
    return FMRegressor(rank=1, n_iter=1100, n_burn=100, n_chains=4, n_jobs=1,
                       random_state=0).fit(X, y)


def test_diagnose_on_an_easy_fit(easy_fit):
    report = easy_fit.diagnose()
    assert set(report.blocks) == {"w0", "alpha", "mu_w", "lambda_w", "mu_v_mean",
                                  "lambda_v_mean", "w", "yhat"}
    assert report.blocks["w"]["rhat"].shape == (3,)
    assert len(report.blocks["yhat"]["names"]) == 50
    assert report.converged, str(report)
    text = str(report)
    assert "CONVERGED" in text and "NOT" not in text and "R-hat" in text
    # the report equals ArviZ on the same draws
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert report.blocks["w0"]["rhat"][0] == pytest.approx(
            float(az.rhat(easy_fit.draws_["w0"])), rel=1e-9)


def test_diagnose_short_fit_is_not_converged():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6))
    y = X @ rng.normal(size=6) + rng.normal(size=200)
    model = FMRegressor(rank=2, n_iter=30, n_burn=5, n_chains=2, n_jobs=1, random_state=0)
    report = model.fit(X, y).diagnose()
    assert not report.converged
    assert any("four or more" in n for n in report.notes)


def test_diagnose_ordinal_has_cutpoints():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    y = np.digitize(X[:, 0] + rng.normal(size=300), [-1, 0, 1])
    model = FMOrdinalRegressor(rank=2, n_iter=60, n_burn=20, n_chains=2, n_jobs=1,
                               random_state=0).fit(X, y)
    report = model.diagnose(include_weights=False)
    assert report.blocks["cutpoints"]["names"] == ["c[2]", "c[3]"]
    assert "w" not in report.blocks and "alpha" not in report.blocks


def test_one_hot_groups_leave_w0_out_of_the_verdict():
    """With user and item one-hot blocks, w0 + t, w_users - t changes no prediction: w0, w and
    their hyperparameters are reported for reference only."""
    rng = np.random.default_rng(3)
    n, nu, ni = 600, 20, 15
    u, i = rng.integers(0, nu, n), rng.integers(0, ni, n)
    X = np.zeros((n, nu + ni + 1))
    X[np.arange(n), u] = 1
    X[np.arange(n), nu + i] = 1
    X[:, -1] = rng.normal(size=n)
    y = rng.normal(size=n)
    groups = ["user"] * nu + ["item"] * ni + ["side"]
    model = FMRegressor(rank=2, n_iter=40, n_burn=10, n_chains=2, n_jobs=1,
                        random_state=0).fit(X, y, groups)
    report = model.diagnose()
    used = {name for name, b in report.blocks.items() if b["identified"]}
    assert used == {"alpha", "yhat"}
    assert any("user, item" in note for note in report.notes)
    assert "ref" in str(report)
