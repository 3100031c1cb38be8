"""The placement planner: hints, parallelism and units, without a cluster."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.placement import place

W = {"tcp://c1:1": {"compute": 1}, "tcp://c2:1": {"compute": 1},
     "tcp://s1:1": {"storage": 1}}


def op(name, **kw):
    return wb.operator(lambda x, *s: x, name=name, **kw)


a, b, c = op("a"), op("b"), op("c")
st = op("st", state=np.zeros(1))
k = op("k", state=np.zeros(1), key=lambda x: x.astype(np.int64), key_groups=8)
src = wb.sources.array(np.zeros(64), batch_size=16)


def units(plan):
    return [(u.name, u.workers, u.routing) for u in plan.units]


def test_default_keeps_a_chain_on_one_compute_worker():
    plan = place(src >> a >> b >> st, W)
    assert units(plan) == [("a+b+st", ("tcp://c1:1",), "direct")]
    assert plan.reasons["a"] == "default: compute workers"
    assert plan.placement == {"a": ["tcp://c1:1"], "b": ["tcp://c1:1"], "st": ["tcp://c1:1"]}


def test_hints_map_onto_resources_and_addresses():
    plan = place(src >> a >> b >> c, W, {"b": "storage", "c": "tcp://c2:1"})
    assert units(plan) == [("a", ("tcp://c1:1",), "direct"), ("b", ("tcp://s1:1",), "direct"),
                           ("c", ("tcp://c2:1",), "direct")]
    plan = place(src >> a, W, {"a": {"storage": 1}})
    assert plan.units[0].workers == ("tcp://s1:1",)


def test_unknown_address_and_missing_resource_are_refused_with_the_workers():
    with pytest.raises(wb.PlacementError) as info:
        place(src >> a, W, {"a": "tcp://elsewhere:9"})
    assert all(addr in str(info.value) for addr in W)
    with pytest.raises(wb.PlacementError, match="no worker has the resources {'gpu': 1}"):
        place(src >> a, W, {"a": "gpu"})
    with pytest.raises(wb.GraphError, match="no stage named 'zz'"):
        place(src >> a, W, {"zz": "compute"})


def test_parallel_stateless_stages_spread_and_stay_fused():
    plan = place(src >> a >> b >> st, W, parallelism={"a": 2, "b": 2})
    assert units(plan) == [("a+b", ("tcp://c1:1", "tcp://c2:1"), "spread"),
                           ("st", ("tcp://c1:1",), "direct")]
    # in front of an ordered consumer a spread unit sends in order too (else it could fill
    # the consumer's credits with later batches while the one it waits for is held back)
    assert plan.units[0].ordered is True and plan.units[1].ordered is True
    last = place(src >> st >> a >> b, W, parallelism={"a": 2, "b": 2})
    assert [u.ordered for u in last.units] == [True, False]   # nothing ordered behind it


def test_keyed_parallelism_routes_by_key_group_ranges():
    plan = place(src >> a >> k, W, parallelism={"k": 3})
    ku = plan.units[-1]
    assert ku.routing == "keyed" and ku.key_stage == "k" and ku.parallelism == 3
    assert [ku.group_range(i) for i in range(3)] == [(0, 2), (2, 5), (5, 8)]
    first = place(src >> k >> a, W, parallelism={"k": 2})
    assert first.units[0].name == "source" and first.units[1].routing == "keyed"


def test_parallelism_that_would_break_state_is_refused():
    with pytest.raises(wb.PlacementError, match="keeps state without a key"):
        place(src >> st, W, parallelism={"st": 2})
    with pytest.raises(wb.PlacementError, match="8 key groups"):
        place(src >> k, W, parallelism={"k": 9})
    with pytest.raises(wb.PlacementError, match="positive integer"):
        place(src >> a, W, parallelism={"a": 0})


def test_a_splitjoin_runs_in_one_place():
    fan = src >> wb.splitjoin(a, b >> c)
    assert units(place(fan, W, {"a": "storage", "b": "storage", "c": "storage"})) == [
        ("a+b+c", ("tcp://s1:1",), "direct")]
    with pytest.raises(wb.PlacementError, match="runs in one place"):
        place(fan, W, {"a": "storage"})


def test_fusion_follows_the_plan():
    plan = place(src >> a >> b >> c, W, {"c": "storage"})
    assert [[s.name for s in u.nodes] for u in plan.units] == [["a+b"], ["c"]]
