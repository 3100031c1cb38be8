"""Handing a running program over from one plan to the next (live reconfiguration).

The old generation's instances end at the switch point with a cut each (what they hold,
by stage: :mod:`workbench.runtime.cut`). Each instance of the new plan takes over the part
of the merged cut that belongs to its stages: the state of its stateful stages, of a
keyed stage only the key groups it owns, the records pending at its stages' inputs, its
split-joins' records; the one sender in front of a parallel peeking operator takes over
that operator's pending records (it sends each batch with the history in front).

Which new instances wait for a cut, and for which old instances, is decided from the
plans alone (:func:`takeovers`), before the switch: an instance whose stages can hold
nothing between batches (stateless, one record per firing, no peeking, no split-join)
starts at the switch point at once.

>>> import numpy as np, workbench as wb
>>> from workbench.placement import place
>>> from workbench.examples.quickstart import scale, running_sum
>>> prog = wb.sources.array(np.zeros(8)) >> scale >> running_sum
>>> w = {"tcp://a:1": {"compute": 1}, "tcp://b:1": {"compute": 1}}
>>> old = place(prog, w, {"running_sum": "tcp://a:1"}, {})
>>> new = place(prog, w, {"running_sum": "tcp://b:1"}, {})
>>> [(t.unit, t.index, sorted(t.stages), sorted(t.depends)) for t in takeovers(old, new)]
[(1, 0, ['running_sum'], [(0, 0)])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...model.fusion import Branching, Segment, segments
from ..cut import Cut


@dataclass(frozen=True)
class Takeover:
    """What new instance ``(unit, index)`` takes over, and from which old instances."""

    unit: int
    index: int
    stages: frozenset[str]                 # stages whose state and pending it takes
    branchings: frozenset[str]
    keyed: dict[str, range] = field(default_factory=dict)   # keyed stage -> its groups
    depends: frozenset[tuple[int, int]] = frozenset()       # old (unit, index)


def _holds(u: Any) -> tuple[set[str], set[str], dict[str, Any]]:
    """Stages (and split-joins) of unit ``u`` that can hold something between batches:
    state, key groups, pending records (a peeking head, a head of more than one record per
    firing), split-join carries; and its keyed stages with their operators."""
    stages, branchings, keyed = set(), set(), {}

    def walk(nodes: tuple) -> None:
        for n in nodes:
            if isinstance(n, Segment):
                if n.peeks or n.granularity > 1:
                    stages.add(n.stages[0].name)
                for st in n.stages:
                    if st.op.state is not None:
                        stages.add(st.name)
                    if st.op.key is not None:
                        keyed[st.name] = st.op
                    if st.op.consumes > 1:
                        stages.add(st.name)     # a head in another plan: pending possible
            elif isinstance(n, Branching):
                branchings.add(n.name)
                for b in n.branches:
                    walk(b)

    walk(u.nodes)
    return stages, branchings, keyed


def _all_stages(u: Any) -> set[str]:
    out: set[str] = set()
    for seg in segments(u.nodes):
        out.update(st.name for st in seg.stages)
    return out


def _branchings(u: Any) -> set[str]:
    out: set[str] = set()

    def walk(nodes: tuple) -> None:
        for n in nodes:
            if isinstance(n, Branching):
                out.add(n.name)
                for b in n.branches:
                    walk(b)

    walk(u.nodes)
    return out


def takeovers(old: Any, new: Any) -> list[Takeover]:
    """The new instances that take something over, what, and from which old instances.

    Old instance ``(u, i)`` holds a stage of unit ``u`` (a keyed stage: instance ``i``'s
    key groups), and, for a parallel peeking operator in unit ``u + 1``, its pending
    records when ``(u, i)`` is the one sender in front of it."""
    holders: dict[str, set[tuple[int, int]]] = {}
    group_owner: dict[tuple[str, int], tuple[int, int]] = {}
    for u in old.units:
        for st in _all_stages(u) | _branchings(u):
            holders.setdefault(st, set()).update((u.index, i) for i in range(u.parallelism))
        if u.routing == "keyed":
            for i in range(u.parallelism):
                lo, hi = u.group_range(i)
                for g in range(lo, hi):
                    group_owner[(u.key_stage, g)] = (u.index, i)
        if u.fission is not None and u.index > 0:           # its sender holds its history
            holders.setdefault(u.fission.name, set()).update(
                (u.index - 1, i) for i in range(old.units[u.index - 1].parallelism))
    out = []
    for u in new.units:
        stages, branchings, keyed = _holds(u)
        down = new.units[u.index + 1] if u.index + 1 < len(new.units) else None
        sender_of = down.fission.name if down is not None and down.fission else None
        for i in range(u.parallelism):
            mine = set(stages)
            if u.fission is not None:
                mine.discard(u.fission.name)      # its sender holds it (chunk instances)
            if sender_of is not None:
                mine.add(sender_of)
            groups = {k: range(*u.group_range(i)) if u.routing == "keyed"
                      else range(op.key_groups) for k, op in keyed.items()}
            if not mine and not branchings and not groups:
                continue
            deps: set[tuple[int, int]] = set()
            for s in mine | branchings:
                if s in keyed:
                    continue
                deps.update(holders.get(s, ()))
            for k, rg in groups.items():
                deps.update(group_owner[(k, g)] for g in rg if (k, g) in group_owner)
                if not any((k, g) in group_owner for g in rg):
                    deps.update(holders.get(k, ()))
            out.append(Takeover(u.index, i, frozenset(mine), frozenset(branchings), groups,
                                frozenset(deps)))
    return out


def routes(takeovers: Any, new: Any, gen: int) -> dict[tuple[int, int], list]:
    """Where each old instance sends its parts when it stops: old (unit, index) ->
    [(the new instance's worker, ``gen``, its Takeover), ...]."""
    out: dict[tuple[int, int], list] = {}
    for t in takeovers:
        for d in t.depends:
            out.setdefault(d, []).append((new.units[t.unit].workers[t.index], gen, t))
    return out


def _heads(u: Any) -> set[str]:
    return {n.stages[0].name for n in u.nodes if isinstance(n, Segment)}


def cut_for(t: Takeover, merged: Cut, unit: Any, switch: int) -> Cut:
    """The part of the old generation's merged cut that new instance ``t`` takes over.
    Instances sharing batches (spread) see every ``p``-th batch: records pending at their
    head go to the one that gets the switch batch, in front of it."""
    stages = set(t.stages)
    if unit.routing == "spread" and unit.parallelism > 1 and switch % unit.parallelism != t.index:
        stages -= _heads(unit)
    return merged.part(stages, t.branchings, t.keyed)
