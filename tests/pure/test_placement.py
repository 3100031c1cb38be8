"""The placement planner: hints, parallelism and units, without a cluster."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

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


# --- properties over random programs: hints honoured or refused naming the stage ----------

ADDRS = ("tcp://c1:1", "tcp://c2:1", "tcp://s1:1", "tcp://s2:1", "tcp://cs:1")
RESOURCES = ({"compute": 1}, {"compute": 1}, {"storage": 1}, {"storage": 1},
             {"compute": 1, "storage": 1})
KINDS = ("stateless", "mean4", "stateful", "keyed")


def quickstart_like(kind: str, i: int, groups: int):
    """An operator of the quickstart's kinds (scale, mean4, running_sum) or a keyed one."""
    name = f"{kind}{i}"
    if kind == "stateless":
        return op(name)
    if kind == "mean4":
        return op(name, consumes=4, produces=1)
    if kind == "stateful":
        return op(name, state=np.zeros(1))
    return op(name, state=np.zeros(1), key=lambda x: x.astype(np.int64), key_groups=groups)


@hs.composite
def programs(draw):
    workers = {ADDRS[i]: RESOURCES[i] for i in sorted(draw(hs.sets(
        hs.integers(0, len(ADDRS) - 1), min_size=1, max_size=len(ADDRS))))}
    kinds = draw(hs.lists(hs.sampled_from(KINDS), min_size=1, max_size=5))
    ops = [quickstart_like(k, i, draw(hs.integers(1, 16))) for i, k in enumerate(kinds)]
    hint = hs.one_of(hs.none(), hs.sampled_from(
        ["compute", "storage", "tcp://elsewhere:9", {"gpu": 1}, {"compute": 1}]),
        hs.sampled_from(ADDRS))
    hints = {o.name: h for o in ops if (h := draw(hint)) is not None}
    par = {o.name: n for o in ops if (n := draw(hs.integers(1, 4))) > 1}
    prog = src
    for o in ops:
        prog = prog >> o
    return prog, ops, workers, hints, par


def allowed(hint, workers) -> set[str]:
    """Workers a hint allows, by the documented vocabulary (not by the planner's code)."""
    if hint is None:
        compute = {a for a, r in workers.items() if r.get("compute")}
        return compute or set(workers)
    if isinstance(hint, str) and "://" in hint:
        return {hint} & set(workers)
    need = {hint: 1} if isinstance(hint, str) else hint
    return {a for a, r in workers.items() if all(r.get(k, 0) >= v for k, v in need.items())}


def refusal(o, n: int) -> bool:
    """Parallelism ``n`` that would break the operator's state."""
    return n > 1 and o.state is not None and (o.key is None or n > o.key_groups)


@settings(max_examples=300, deadline=None)
@given(case=programs())
def test_random_plans_honour_every_hint_or_refuse_it_naming_the_stage(case):
    prog, ops, workers, hints, par = case
    bad_hint = [o.name for o in ops if o.name in hints and not allowed(hints[o.name], workers)]
    bad_par = [o.name for o in ops if refusal(o, par.get(o.name, 1))]
    if bad_hint or bad_par:                  # hints are resolved before parallelism
        with pytest.raises(wb.PlacementError) as info:
            place(prog, workers, hints, par)
        assert f"'{(bad_hint or bad_par)[0]}'" in str(info.value), (str(info.value), case)
        return
    plan = place(prog, workers, hints, par)
    stages = [s for u in plan.units for s in u.stages]
    assert stages == [o.name for o in ops]         # every stage once, in program order
    unit_of = {s: u for u in plan.units for s in u.stages}
    for o in ops:
        u, n = unit_of[o.name], par.get(o.name, 1)
        assert u.parallelism == n, (o.name, u)
        assert set(u.workers) <= allowed(hints.get(o.name), workers), (o.name, u, workers)
        if o.key is not None and n > 1:           # a keyed unit starts with its key stage
            assert (u.routing, u.key_stage, u.key_groups) == ("keyed", o.name, o.key_groups)
            ranges = [u.group_range(i) for i in range(n)]
            assert ranges[0][0] == 0 and ranges[-1][1] == o.key_groups, ranges
            assert all(a < b for a, b in ranges), ranges            # each owns a group
            assert all(r[1] == s[0] for r, s in zip(ranges, ranges[1:])), ranges
    for u in plan.units:
        assert (u.routing == "keyed") == (u.key_stage is not None)
        if u.routing == "keyed":
            assert u.stages[0] == u.key_stage
