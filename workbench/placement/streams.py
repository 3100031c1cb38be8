"""Placement (pure): from a program, the cluster's workers and the user's hints to a plan.

``place(pipeline, workers, hints, parallelism)`` decides where every stage instance runs
and how batches are routed between them. It maps hints onto what Dask knows about its
workers (addresses and resources) and refuses hints no worker can satisfy, listing the
workers (a Dask task asking for a missing resource would wait forever, silently).

The plan is a sequence of *units*: consecutive program elements that run on the same
instances. A unit's instances run its fused segments in one thread each; batches cross a
channel only between units. Routing into a unit:

``direct``  one instance gets every batch;
``keyed``   instance ``i`` owns a contiguous range of key groups and gets those records of
            every batch (the first element of the unit is keyed);
``spread``  stateless instances take whole batches, batch ``seq`` going to ``seq % n``.

Examples
--------
>>> import numpy as np, workbench as wb
>>> a, b = (wb.operator(lambda x: x, name=n) for n in "ab")
>>> prog = wb.sources.array(np.zeros(8)) >> a >> b
>>> workers = {"tcp://w1": {"compute": 1}, "tcp://w2": {"compute": 1},
...            "tcp://s1": {"storage": 1}}
>>> plan = place(prog, workers)
>>> [(u.name, u.workers) for u in plan.units]
[('a+b', ('tcp://w1',))]
>>> plan = place(prog, workers, {"b": "storage"})
>>> [(u.name, u.workers, u.routing) for u in plan.units]
[('a', ('tcp://w1',), 'direct'), ('b', ('tcp://s1',), 'direct')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PlacementError
from ..model.fusion import Node, Segment, plan_segments, segments
from ..model.graph import SplitJoin
from .hints import resolve

if TYPE_CHECKING:
    from ..model.graph import Pipeline


@dataclass(frozen=True)
class Unit:
    """Consecutive elements run by the same instances (one thread per instance)."""

    index: int
    stages: tuple[str, ...]
    workers: tuple[str, ...]          # one address per instance
    routing: str                      # "direct" | "keyed" | "spread"
    nodes: tuple[Node, ...] = ()      # fused segments and split-joins
    key_stage: str | None = None      # keyed routing: whose key
    key_groups: int = 0
    ordered: bool = True              # processes batches in sequence order

    @property
    def name(self) -> str:
        return "+".join(self.stages) if self.stages else "source"

    @property
    def parallelism(self) -> int:
        return len(self.workers)

    @property
    def segments(self) -> tuple[str, ...]:
        """Names of the fused segments it runs, branches included, in order."""
        return tuple(s.name for s in segments(self.nodes))

    @property
    def fission(self) -> Any:
        """The stage of the peeking operator this parallel unit starts with (each instance
        gets its batches with that operator's history in front), or ``None``."""
        return segments(self.nodes)[0].stages[0] if _fissioned(self) else None

    @property
    def coverage(self) -> str:
        """``all``: every instance sees every batch (one part each); ``spread``: one does."""
        return "spread" if self.routing == "spread" else "all"

    def group_range(self, i: int) -> tuple[int, int]:
        n, g = len(self.workers), self.key_groups
        return (i * g // n, (i + 1) * g // n)


@dataclass(frozen=True)
class Plan:
    units: tuple[Unit, ...]
    candidates: dict[str, tuple[str, ...]]   # stage -> workers its hint allows
    reasons: dict[str, str]                  # stage -> why it went there

    @property
    def placement(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for u in self.units:
            for s in u.stages:
                out[s] = list(u.workers)
        return out

    def describe(self) -> str:
        lines = []
        for u in self.units:
            segs = ", ".join(s.name + "".join(f" (one loop: {g})" for g in s.loops)
                             for s in segments(u.nodes)) or "(reads the source)"
            lines.append(f"unit {u.index} [{u.routing} x{u.parallelism}] {segs} on "
                         f"{', '.join(u.workers)}")
        return "\n".join(lines)


def _default(workers: Mapping[str, Mapping[str, float]]) -> tuple[str, ...]:
    compute = tuple(sorted(a for a, r in workers.items() if r.get("compute", 0) > 0))
    return compute or tuple(sorted(workers))


def place(pipeline: Pipeline, workers: Mapping[str, Mapping[str, float]],
          hints: Mapping[str, Any] | None = None,
          parallelism: Mapping[str, int] | None = None) -> Plan:
    """Plan where each stage instance runs (see the module docstring)."""
    if not workers:
        raise PlacementError("the cluster has no workers.\nFix: wait for workers to start, "
                             "or start a cluster with wb.cluster().")
    pipeline.validate()
    stage_hint, stage_par = _per_stage(pipeline, dict(hints or {}), dict(parallelism or {}))
    candidates, reasons = _candidates(pipeline, workers, stage_hint)
    elements = _assign(pipeline, workers, candidates, stage_par)
    return Plan(_units(pipeline, elements), candidates, reasons)


def _per_stage(pipeline: Pipeline, hints: dict, parallelism: dict
               ) -> tuple[dict[str, Any], dict[str, int]]:
    """Hints and parallelism by stage name (a hint may name an operator: all its stages)."""
    stage_hint: dict[str, Any] = {}
    for pattern, hint in hints.items():
        for name in pipeline.match_stages(pattern):
            stage_hint[name] = hint
    stage_par: dict[str, int] = {}
    for pattern, n in parallelism.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise PlacementError(f"parallelism for {pattern!r} must be a positive integer; "
                                 f"got {n!r}.")
        for name in pipeline.match_stages(pattern):
            stage_par[name] = n
    return stage_hint, stage_par


def _candidates(pipeline: Pipeline, workers: Mapping[str, Mapping[str, float]],
                stage_hint: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """The workers each stage may run on, and why."""
    candidates: dict[str, tuple[str, ...]] = {}
    reasons: dict[str, str] = {}
    for st in pipeline.walk():
        if st.name in stage_hint:
            candidates[st.name] = resolve(stage_hint[st.name], workers, f"stage '{st.name}'")
            reasons[st.name] = f"hint {stage_hint[st.name]!r}"
        else:
            candidates[st.name] = _default(workers)
            reasons[st.name] = "default: compute workers" if any(
                r.get("compute", 0) for r in workers.values()) else "default: any worker"
    return candidates, reasons


def _assign(pipeline: Pipeline, workers: Mapping[str, Mapping[str, float]],
            candidates: dict[str, tuple[str, ...]], stage_par: dict[str, int]) -> list[tuple]:
    """One ``(element, stages, workers, routing)`` per top-level element: instances go to
    the least loaded candidates, and stay where the previous element is when they can (so
    the two fuse)."""
    load = {a: 0 for a in workers}
    elements: list[tuple[Any, tuple[str, ...], tuple[str, ...], str]] = []
    names = iter(pipeline.walk())
    prev: tuple[str, ...] | None = None
    for el in pipeline.elements:
        stages = tuple(next(names).name for _ in range(_count(el)))
        cands = [candidates[s] for s in stages]
        if len(set(cands)) > 1:
            raise PlacementError(
                f"the split-join with stages {', '.join(stages)} runs in one place, but its "
                "stages have different placement hints.\nFix: give them the same hint.")
        n = max((stage_par.get(s, 1) for s in stages), default=1)
        if n > 1:
            _check_parallel(el, stages, n)
        routing = "direct" if n == 1 else ("keyed" if getattr(el, "key", None) is not None
                                          else "spread")
        cand = cands[0]
        if prev is not None and len(prev) == n and all(w in cand for w in prev):
            chosen = prev                             # stay put: enables fusion
        else:
            start = min(range(len(cand)), key=lambda i: (load[cand[i]], i))
            chosen = tuple(cand[(start + i) % len(cand)] for i in range(n))
        for w in chosen:
            load[w] += 1
        elements.append((el, stages, chosen, routing))
        prev = chosen
    return elements


def _units(pipeline: Pipeline, elements: list[tuple]) -> tuple[Unit, ...]:
    """Consecutive elements on the same instances become one unit (a keyed element starts
    a unit of its own: records are routed by key into it; see :func:`_joins`)."""
    groups: list[list] = []
    for item in elements:
        if groups and _joins(groups[-1], item):
            groups[-1].append(item)
        else:
            groups.append([item])
    unit_of = {s: i for i, g in enumerate(groups) for item in g for s in item[1]}
    nodes = plan_segments(pipeline, place=unit_of.get)
    units = []
    for i, g in enumerate(groups):
        stages = tuple(s for item in g for s in item[1])
        first, routing = g[0][0], g[0][3]
        units.append(Unit(
            index=i, stages=stages, workers=g[0][2], routing=routing,
            nodes=tuple(nd for nd in nodes if _first_stage(nd) in stages),
            key_stage=g[0][1][0] if routing == "keyed" else None,
            key_groups=first.key_groups if routing == "keyed" else 0,
            ordered=routing != "spread" or any(_stateful(item[0]) for item in g)))
    if units and (units[0].routing == "keyed" or _fissioned(units[0])):
        # records must be routed before the first unit (by key; or each batch with the
        # history a parallel peeking operator needs): a source unit does that
        src = Unit(0, (), (units[0].workers[0],), "direct", ())
        units = [src] + [_reindex(u, u.index + 1) for u in units]
    for up, u in zip(units, units[1:]):
        _check_fission(up, u)
    return _order_upstream(units)


def _order_upstream(units: list[Unit]) -> tuple[Unit, ...]:
    """A unit in front of one that processes in order processes in order too. A consumer
    in order holds each sender's credits while it waits for the next sequence number; a
    sender that could send later ones first (an unordered spread unit, or one fed by
    one) could fill them all and never get to send the one it waits for. Only the
    stateless spread units behind which everything up to the sink is unordered take
    batches as they come."""
    from dataclasses import replace

    out = list(units)
    for i in range(len(out) - 2, -1, -1):
        if out[i + 1].ordered and not out[i].ordered:
            out[i] = replace(out[i], ordered=True)
    return tuple(out)


def _peeks(el: Any) -> bool:
    return not isinstance(el, SplitJoin) and el.history > 0


def _fissioned(u: Unit) -> bool:
    """A parallel unit whose first segment peeks: each instance gets its batches with
    the history in front (StreamIt's fission of a peeking filter)."""
    return (u.routing == "spread" and bool(u.nodes) and isinstance(u.nodes[0], Segment)
            and u.nodes[0].peeks)


def _check_fission(up: Unit, u: Unit) -> None:
    if not _fissioned(u):
        return
    seg = segments(u.nodes)[0]
    name = seg.stages[0].name
    if up.parallelism > 1:
        raise PlacementError(
            f"operator '{name}' peeks ({seg.ops[0].window} records per firing) and runs as "
            f"{u.parallelism} instances: each instance gets its batches with the history in "
            f"front, which only one sender of the whole stream has, but its input comes from "
            f"{up.parallelism} instances of '{up.name}'.\nFix: run '{up.name}' with "
            f"parallelism 1, or '{name}' with parallelism 1.")
    if seg.head_firings != 1:
        raise PlacementError(
            f"operator '{name}' peeks and runs as {u.parallelism} instances, but the "
            f"operators fused after it need {seg.head_firings} of its firings at a time.\n"
            f"Fix: run '{name}' with parallelism 1, or place the operators after it apart.")


def _joins(group: list, item: tuple) -> bool:
    """Whether ``item`` runs in the unit of ``group``: the same instances, not keyed; and
    behind a keyed element only operators of one record in, one out (each instance of a
    keyed unit holds some of each batch's records, by key: a rate other than 1:1 would
    fire across records of different keys)."""
    if group[-1][2] != item[2] or item[3] == "keyed":
        return False
    if item[3] == "spread" and _peeks(item[0]):
        return False        # a parallel peeking operator starts its unit (see _fission)
    if group[0][3] == "keyed":
        el = item[0]
        return not isinstance(el, SplitJoin) and (el.consumes, el.produces) == (1, 1)
    return True


def _count(el: Any) -> int:
    if isinstance(el, SplitJoin):
        return sum(_count(e) for b in el.branches for e in b.elements)
    return 1


def _stateful(el: Any) -> bool:
    if isinstance(el, SplitJoin):
        return any(_stateful(e) for b in el.branches for e in b.elements)
    return el.state is not None


def _first_stage(node: Node) -> str:
    return segments((node,))[0].stages[0].name


def _reindex(u: Unit, index: int) -> Unit:
    from dataclasses import replace

    return replace(u, index=index)


def _check_parallel(el: Any, stages: tuple[str, ...], n: int) -> None:
    if isinstance(el, SplitJoin):
        raise PlacementError(f"a split-join ({', '.join(stages)}) runs as one instance; "
                             f"parallelism {n} was asked.\nFix: parallelise the operators "
                             "before or after it.")
    if el.state is not None and el.key is None:
        raise PlacementError(
            f"operator '{stages[0]}' keeps state without a key, so one instance must see "
            f"every record in order; parallelism {n} was asked.\nFix: key its state "
            f"(@wb.operator(state=..., key=...)) to split it into key groups, or keep "
            "parallelism 1.")
    if el.key is not None and n > el.key_groups:
        raise PlacementError(
            f"operator '{stages[0]}' has {el.key_groups} key groups, so at most "
            f"{el.key_groups} instances; parallelism {n} was asked.\nFix: lower parallelism "
            "or raise key_groups.")
