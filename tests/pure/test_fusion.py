"""Fusion planning: which stages share a compiled function (pure)."""

from __future__ import annotations

import numpy as np

import workbench as wb
from workbench.model.fusion import Branching, plan_segments, segments


def op(name, **kw):
    return wb.operator(lambda x, *s: x, name=name, **kw)


a, b, c = op("a"), op("b"), op("c")
k = op("k", state=np.zeros(1), key=lambda x: x.astype(np.int64))
py = op("py", jit=False)
src = wb.sources.array(np.zeros(8), batch_size=4)


def names(plan):
    return [s.name for s in segments(plan)]


def test_same_place_fuses():
    assert names(plan_segments(src >> a >> b >> c)) == ["a+b+c"]


def test_placement_splits_segments():
    where = {"a": "w1", "b": "w1", "c": "w2"}
    plan = plan_segments(src >> a >> b >> c, place=where.get)
    assert names(plan) == ["a+b", "c"]
    assert [s.place for s in segments(plan)] == ["w1", "w2"]


def test_keyed_and_python_operators_are_segment_boundaries():
    assert names(plan_segments(src >> a >> k >> b)) == ["a", "k", "b"]
    assert names(plan_segments(src >> a >> py >> b >> c)) == ["a", "py", "b+c"]
    assert names(plan_segments(src >> a >> py >> b, jit_enabled=False)) == ["a+py+b"]


def test_splitjoin_is_executed_by_the_engine_with_fused_branches():
    plan = plan_segments(src >> a >> wb.splitjoin(b >> c, a) >> b)
    assert isinstance(plan[1], Branching)
    assert [names(br) for br in plan[1].branches] == [["b+c"], ["a#2"]]
    assert names(plan) == ["a", "b+c", "a#2", "b#2"]
    assert plan[1].join_weights == (1, 1)
