"""The draw table (``sampler.table.DrawTable``): layout, growth by doubling, views, taking the
head, state; the chain's store on it (one chain)."""

import numpy as np
import pytest

from bayesfm.sampler.state import FMState
from bayesfm.sampler.storage import DrawStore
from bayesfm.sampler.table import DrawTable


def _rows(rng, C, m):
    return {"a": rng.normal(size=(C, m)), "b": rng.normal(size=(C, m, 2, 3))}


def test_appends_and_adds_keep_every_value_in_order():
    rng = np.random.default_rng(0)
    table = DrawTable(3, {"a": (), "b": (2, 3)})
    parts = [_rows(rng, 3, m) for m in (0, 1, 5, 2, 9)]
    for part in parts:
        table.append(part)
    one = {"a": rng.normal(size=3), "b": rng.normal(size=(2, 3))}     # broadcast over chains
    table.add(one)
    want_a = np.concatenate([p["a"] for p in parts] + [one["a"][:, None]], axis=1)
    want_b = np.concatenate([p["b"] for p in parts]
                            + [np.broadcast_to(one["b"], (3, 1, 2, 3))], axis=1)
    assert table.n == 18 and table.names == ("a", "b") and table.row_shape("b") == (2, 3)
    np.testing.assert_array_equal(table.view("a"), want_a)
    np.testing.assert_array_equal(table.filled()["b"], want_b)


def test_capacity_doubles_so_growth_costs_the_new_draws():
    table = DrawTable(2, {"x": (4,)})
    capacities = set()
    for i in range(1000):
        table.add({"x": np.full(4, i)})
        capacities.add(table.capacity)
    assert len(capacities) <= 11                    # 1, 2, 4, ..., 1024: log2 reallocations
    assert table.view("x")[1, 999, 0] == 999 and table.capacity >= 1000
    table.trim()
    assert table.capacity == 1000 and table.arrays["x"].flags.c_contiguous


def test_take_removes_the_head_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    table = DrawTable(2, {"a": (), "b": (2, 3)})
    part = _rows(rng, 2, 7)
    table.append(part)
    head = table.take(3)
    np.testing.assert_array_equal(head["a"], part["a"][:, :3])
    np.testing.assert_array_equal(table.view("b"), part["b"][:, 3:])
    head["a"][:] = 0                                 # copies, not views
    assert table.n == 4 and np.all(table.view("a") == part["a"][:, 3:])
    with pytest.raises(ValueError, match="cannot take 5 of 4"):
        table.take(5)


def test_taking_every_slot_hands_the_buffers_over_and_the_table_goes_on():
    rng = np.random.default_rng(2)
    table = DrawTable(2, {"a": (), "b": (2, 3)}, capacity=6)
    part = _rows(rng, 2, 6)
    table.append(part)
    buffer = table.arrays["b"]
    head = table.take(6)
    assert np.shares_memory(head["b"], buffer)       # no copy
    np.testing.assert_array_equal(head["b"], part["b"])
    assert table.n == 0 and table.capacity == 0
    table.append(_rows(rng, 2, 3))                   # new buffers: the taken ones stay intact
    np.testing.assert_array_equal(head["b"], part["b"])
    assert table.n == 3 and not np.shares_memory(table.arrays["b"], head["b"])


def test_append_adopts_arrays_only_into_an_empty_table_of_their_layout():
    rng = np.random.default_rng(3)
    part = _rows(rng, 2, 4)
    table = DrawTable(2)
    table.append(part, adopt=True)                   # no layout yet: kept as they are
    assert table.arrays["b"] is part["b"] and table.n == 4
    more = _rows(rng, 2, 2)
    table.append(more, adopt=True)                   # not empty: copied after the first
    assert not np.shares_memory(table.arrays["b"], more["b"])
    np.testing.assert_array_equal(table.view("b")[:, 4:], more["b"])
    fixed = DrawTable(2, {"a": (), "b": (2, 3)})
    ints = {"a": np.zeros((2, 3), np.int64), "b": np.zeros((2, 3, 2, 3), np.int64)}
    fixed.append(ints, adopt=True)                   # another dtype: copied into float64
    assert fixed.arrays["a"].dtype == np.float64 and fixed.n == 3
    strided = {"a": part["a"][:, ::2], "b": part["b"][:, ::2]}
    other = DrawTable(2, {"a": (), "b": (2, 3)})
    other.append(strided, adopt=True)                # not contiguous: copied
    assert not np.shares_memory(other.arrays["b"], part["b"])
    np.testing.assert_array_equal(other.view("b"), part["b"][:, ::2])


def test_a_table_without_layout_takes_it_from_the_first_append():
    table = DrawTable(2)
    assert table.names == () and table.n == 0
    table.append({"ok": np.ones((2, 3), dtype=bool), "x": np.zeros((2, 3, 5))})
    assert table.arrays["ok"].dtype == bool and table.row_shape("x") == (5,)
    table.append({})                                  # nothing to add
    assert table.n == 3


def test_state_round_trip_extend_and_empty_like():
    rng = np.random.default_rng(2)
    table = DrawTable(2, {"a": (), "b": (2, 3)})
    table.append(_rows(rng, 2, 6))
    state = table.to_state(exclude=("b",))
    assert sorted(state) == ["a"]
    back = DrawTable.from_state(table.to_state(), 2)
    for name in table.names:
        np.testing.assert_array_equal(back.view(name), table.view(name))
    more = table.empty_like()
    assert more.n == 0 and more.names == table.names
    more.append(_rows(rng, 2, 2))
    table.extend(more)
    assert table.n == 8
    np.testing.assert_array_equal(table.view("a")[:, 6:], more.view("a"))


def test_put_checks_the_draw_axes():
    table = DrawTable(2, {"a": ()})
    table.append({"a": np.zeros((2, 4))})
    table.put("y", np.ones((2, 4, 3)))
    assert table.row_shape("y") == (3,)
    with pytest.raises(ValueError, match="y: \\(2, 3\\) draws, the table has \\(2, 4\\)"):
        table.put("y", np.ones((2, 3, 3)))


def test_the_store_of_a_chain_records_takes_and_round_trips():
    p, k, G = 4, 2, 2
    store = DrawStore(0, p, k, G, extras={"cutpoints": (2,)}, sweep_stats=("accepted",))
    rng = np.random.default_rng(3)
    states = []
    for s in range(5):
        st = FMState(w0=float(s), alpha=1.0 + s, w=rng.normal(size=p),
                     Vt=rng.normal(size=(k, p)), mu_w=np.zeros(G), lam_w=np.ones(G),
                     mu_v=np.zeros((G, k)), lam_v=np.ones((G, k)), e=np.zeros(3),
                     q=np.zeros((3, k)))
        states.append(st)
        store.record(st, {"cutpoints": np.array([s, s + 1.0])})
        store.record_sweep({"resid_rms": 0.1 * s, "accepted": float(s % 2)})
    assert store.n_draws == 5 and store.extra_names == ("cutpoints",)
    assert store.last_sweep("resid_rms") == pytest.approx(0.4)
    back = DrawStore.from_state(store.to_state())
    np.testing.assert_array_equal(back.arrays()["V"], store.arrays()["V"])
    np.testing.assert_array_equal(back.sweeps()["accepted"], [0, 1, 0, 1, 0])
    head = store.take(2)
    np.testing.assert_array_equal(head["V"][1], states[1].Vt.T)
    np.testing.assert_array_equal(head["w0"], [0.0, 1.0])
    assert store.n_draws == 3 and store.arrays()["w0"][0] == 2.0
    np.testing.assert_array_equal(store.take_sweeps(1)["resid_rms"], [0.0])
