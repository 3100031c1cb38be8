"""The dashboard's reconfiguration controls, decided from a run's data (pure): the
settings each stage has now, what ``run.reconfigure`` gets when the user changes them,
and where the throughput chart marks a switch to a new plan."""

from __future__ import annotations

from collections.abc import Mapping

from .run_view import Layout


def switches(events: list[tuple]) -> list[tuple[float, str]]:
    """``(time, label)`` of each switch to a new plan, and of each lost worker and
    restore (a recovery), from event rows ``(time, kind, stage, message)``: the marks of
    the throughput chart.

    >>> switches([(1.0, "reconfigure", "", "requested: scale=2"),
    ...           (1.4, "reconfigure", "", "switched: at batch 120"),
    ...           (2.0, "recovery", "", "detected: worker(s) tcp://a:1 left the cluster"),
    ...           (2.3, "recovery", "", "restored: 3 instance(s) on 1 worker(s) read from "
    ...                                 "batch 100")])
    [(1.4, 'switched at batch 120'), (2.0, 'worker lost'), (2.3, 'restored from batch 100')]
    """
    out = []
    for t, kind, _, msg in events:
        if kind == "reconfigure" and msg.startswith("switched"):
            out.append((t, "switched " + msg.split(": ", 1)[1]))
        elif kind == "recovery" and msg.startswith("detected"):
            out.append((t, "worker lost"))
        elif kind == "recovery" and msg.startswith("restored"):
            out.append((t, "restored from batch " + msg.rsplit(" ", 1)[-1]))
    return out


def hint_name(stage: str) -> str:
    """The hint that names exactly this stage (``add1`` means every add1; ``add1#1`` the
    first alone)."""
    return stage if "#" in stage else f"{stage}#1"


def stage_settings(lay: Layout) -> list[tuple[str, int, str]]:
    """``(stage, instances, where)`` of every stage as planned now; ``where`` is
    ``compute``, ``storage`` or the worker's address."""
    out = []
    for u in lay.units:
        kinds = {lay.resources.get(w, "") for w in u.workers}
        where = kinds.pop() if len(kinds) == 1 and next(iter(kinds), "") in (
            "compute", "storage") else ", ".join(u.workers)
        out += [(s, u.parallelism, where) for s in u.stages]
    return out


def changes(lay: Layout, wanted: Mapping[str, tuple[int, str | None]]
            ) -> tuple[dict[str, int], dict[str, str]]:
    """What ``run.reconfigure`` gets from the controls: per stage the instances and the
    place asked for (``None``: leave it where it is), only where they differ from now.

    >>> from workbench.placement import Unit
    >>> lay = Layout("dask", (Unit(0, ("scale", "mean4"), ("tcp://a:1",), "direct", ()),),
    ...              {"tcp://a:1": "compute"})
    >>> changes(lay, {"scale": (2, None), "mean4": (1, "storage")})
    ({'scale#1': 2}, {'mean4#1': 'storage'})
    """
    now = {s: (n, w) for s, n, w in stage_settings(lay)}
    par, place = {}, {}
    for stage, (n, where) in wanted.items():
        cur_n, cur_w = now[stage]
        if n != cur_n:
            par[hint_name(stage)] = n
        if where is not None and where != cur_w:
            place[hint_name(stage)] = where
    return par, place
