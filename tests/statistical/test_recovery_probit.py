"""Recovery on data simulated from a known FM through a probit and an ordered-probit link.

Labels carry far less information than continuous targets, so the checks are the ones a
Bayesian predictive distribution must pass whatever the sample size: calibration against fresh
labels drawn from the truth (binomial Monte Carlo error per bin), ranking close to the oracle's,
and the cutpoints recovered within their posterior uncertainty."""

import numpy as np
import pytest
from scipy.special import ndtr

from bayesfm import FMClassifier, FMOrdinalRegressor
from tests.mcmc_stats import bonferroni_z
from tests.statistical.test_recovery import simulate

pytestmark = pytest.mark.statistical

CUTS = np.array([0.0, 0.8, 1.7, 2.4])


def auc(score, label):
    """ROC-AUC by the rank-sum formula (no ties in continuous scores)."""
    ranks = np.argsort(np.argsort(score)) + 1.0
    pos = label.astype(bool)
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def assert_calibrated(pred, outcome, n_bins=10, min_count=100, binary=False):
    """In bins of the prediction, mean outcome = mean prediction within Monte Carlo error
    (Bonferroni over the bins at family level 1e-3). ``outcome`` is what ``pred`` predicts; for
    0/1 outcomes (``binary``) the standard error is the one the predicted probabilities imply,
    sqrt(sum p (1 - p)) / n, which stays positive in bins where every outcome is 0."""
    edges = np.quantile(pred, np.linspace(0, 1, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, n_bins - 1)
    zcrit = bonferroni_z(n_bins)
    for b in range(n_bins):
        sel = bins == b
        if sel.sum() < min_count:
            continue
        if binary:
            p = pred[sel]
            se = np.sqrt(np.sum(p * (1 - p))) / sel.sum()
        else:
            se = outcome[sel].std(ddof=1) / np.sqrt(sel.sum())
        z = (outcome[sel].mean() - pred[sel].mean()) / se
        assert abs(z) < zcrit, (b, outcome[sel].mean(), pred[sel].mean(), z)


@pytest.fixture(scope="module")
def latent():
    """The regression function f of test_recovery's simulation (user, item, side features)."""
    Xtr, _, ftr, Xte, _, fte, groups = simulate(seed=5, n_train=10_000, n_test=6_000)
    return Xtr, ftr, Xte, fte, groups


def test_probit_is_calibrated_and_ranks_like_the_truth(latent):
    Xtr, ftr, Xte, fte, groups = latent
    rng = np.random.default_rng(6)
    shift = np.median(ftr)
    ytr = np.where(ftr - shift + rng.normal(size=ftr.size) > 0, "yes", "no")
    yte = (fte - shift + rng.normal(size=fte.size) > 0).astype(float)
    model = FMClassifier(rank=3, n_iter=400, n_burn=150, random_state=0).fit(Xtr, ytr, groups)
    assert list(model.classes_) == ["no", "yes"]
    p_hat = model.predict_proba(Xte)[:, 1]
    assert_calibrated(p_hat, yte, binary=True)
    # ranking: close to the oracle AUC (the true probabilities, on the same test labels; about
    # 0.89 here, and 0.5 for a model that learnt nothing). 10,000 labels do not pin f down:
    # myFM 0.4.0 on the same data and settings is 0.037 below the oracle; allow 0.06.
    oracle = auc(ndtr(fte - shift), yte)
    assert auc(p_hat, yte) > oracle - 0.06, (auc(p_hat, yte), oracle)


def test_ordered_probit_recovers_cutpoints_and_is_calibrated(latent):
    Xtr, ftr, Xte, fte, groups = latent
    rng = np.random.default_rng(7)
    offset = np.quantile(ftr, 0.25)
    ytr = 1 + np.searchsorted(CUTS, ftr - offset + rng.normal(size=ftr.size))
    yte = 1 + np.searchsorted(CUTS, fte - offset + rng.normal(size=fte.size))
    model = FMOrdinalRegressor(rank=3, n_iter=400, n_burn=150, random_state=0)
    model.fit(Xtr, ytr, groups)
    assert model.cutpoint_acceptance_ > 0.5
    cut_mean = model.cutpoints_.mean(axis=0)
    cut_sd = model.cutpoints_.std(axis=0)
    # within 4 posterior sds, plus 5% for the latent scale: the estimated f is not the truth,
    # so the latent noise the cutpoints see is slightly wider than 1
    np.testing.assert_array_less(np.abs(cut_mean - CUTS)[1:], 4 * cut_sd[1:] + 0.05 * CUTS[1:])
    # expected rating calibrated against fresh labels; every class probability too
    assert_calibrated(model.predict_expected(Xte), yte.astype(float))
    proba = model.predict_proba(Xte)
    for k in range(5):
        assert_calibrated(proba[:, k], (yte == k + 1).astype(float), binary=True)
