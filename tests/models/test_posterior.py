"""The pooled draws of a fit (``models._posterior.Posterior``): per-chain appends, chain-major
pooling, sweep statistics, the tracked field, state."""

import numpy as np
import pytest

from bayesfm.models._posterior import Posterior


def _chain_draws(rng, m, p=3, k=2):
    return {"w0": rng.normal(size=m), "V": rng.normal(size=(m, p, k))}


def test_appends_pool_chain_major_and_views_follow():
    rng = np.random.default_rng(0)
    post = Posterior(2)
    first = [_chain_draws(rng, 4), _chain_draws(rng, 4)]
    second = [_chain_draws(rng, 3), _chain_draws(rng, 3)]
    post.append_draws(first)
    post.append_draws(second)
    assert post.n_draws == 7 and post.names == ("w0", "V")
    w0 = post.field("w0")
    np.testing.assert_array_equal(w0[1], np.concatenate([first[1]["w0"], second[1]["w0"]]))
    flat = post.flat("V")
    assert flat.shape == (14, 3, 2)
    np.testing.assert_array_equal(flat[7:], post.draws()["V"][1])      # chain-major
    np.testing.assert_array_equal(flat[:4], first[0]["V"])


def test_sweep_statistics_keep_their_dtype():
    post = Posterior(2)
    post.append_sweeps([{"train_rmse": np.ones(3), "cutpoint_accepted": np.ones(3, bool)}] * 2)
    post.append_sweeps([{}, {}])                       # a classifier: nothing per sweep
    assert post.n_sweeps == 3 and post.has_sweeps("cutpoint_accepted")
    assert post.sweeps("cutpoint_accepted").dtype == bool
    assert post.sweep_names == ("train_rmse", "cutpoint_accepted")


def test_tracked_field_and_state_round_trip():
    rng = np.random.default_rng(1)
    post = Posterior(2)
    post.append_draws([_chain_draws(rng, 5), _chain_draws(rng, 5)])
    post.append_sweeps([{"train_rmse": rng.random(6)}, {"train_rmse": rng.random(6)}])
    post.set_field("yhat", rng.normal(size=(2, 5, 4)))
    assert "yhat" in post.names and "yhat" not in post.draws()
    with pytest.raises(ValueError, match="yhat"):
        post.set_field("yhat", np.zeros((2, 4, 4)))
    state = post.to_state()
    assert sorted(state["draws"]) == ["V", "w0"]
    back = Posterior.from_state(state)
    assert back.n_draws == 5 and back.n_sweeps == 6
    for name in ("w0", "V"):
        np.testing.assert_array_equal(back.flat(name), post.flat(name))
    np.testing.assert_array_equal(back.sweeps("train_rmse"), post.sweeps("train_rmse"))
