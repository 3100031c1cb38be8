"""The function view as data and as text: calls/s, placement, latest decision, reasons.

:func:`records` is the accessor a dashboard widget reads (plain dicts, no Dask objects);
:func:`text` is what ``%wb functions`` and ``fn.summary()`` print. The live board
(:class:`workbench.observe.widgets.FunctionsBoard`) reads :func:`base_record` of each
function every tick, with its series from :mod:`workbench.observe.function_view`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import catalog

if TYPE_CHECKING:
    import pandas as pd

    from .function import Function


def _rt() -> Any:
    from ..runtime.functions import current

    return current()


WINDOW_S = 10.0         # "calls/s now": calls completed in the last 10 s, per second


def record(fn: Function, window: float = WINDOW_S) -> dict[str, Any]:
    """One function's view: ``name``, ``placement``, ``calls``, ``calls_per_s`` (calls
    completed in the last ``window`` seconds, divided by ``window``),
    ``calls_per_s_overall`` (calls / seconds from the first call's start to the last
    one's end), ``side`` (latest decision), ``phase``, ``reason``, ``est_storage_s``,
    ``est_compute_s``, ``jit``, ``jit_reason``, ``errors``, ``calls_by_side`` (every call,
    compiling ones included)."""
    rt = _rt()
    out = base_record(fn, rt, (fn.jit, fn.jit_reason))
    if rt is None:
        return out
    now = time.time()
    with rt.lock:
        recent = sum(n for t, tok, n, _, _ in rt.done if tok == fn.token and now - t < window)
    out["calls_per_s"] = recent / window
    return out


def base_record(fn: Function, rt: Any, jit: tuple[bool | None, str | None]) -> dict[str, Any]:
    """The record without its calls/s now: settings, profile totals, latest decision."""
    out: dict[str, Any] = {"name": fn.name, "placement": fn.placement, "calls": 0,
                           "calls_per_s": 0.0, "calls_per_s_overall": 0.0, "side": None,
                           "phase": None, "reason": None, "est_storage_s": None,
                           "est_compute_s": None, "jit": jit[0], "jit_reason": jit[1],
                           "errors": 0, "calls_by_side": {}}
    if rt is None:
        return out
    with rt.lock:
        p = rt.placer.profiles.get(fn.token)
        d = rt.placer.latest(fn.token)
        if p is not None:
            out["calls"], out["errors"] = p.calls, p.errors
            out["calls_by_side"] = {s: sp.calls for s, sp in p.sides.items()}
            if p.t_first is not None and p.t_last and p.t_last > p.t_first:
                out["calls_per_s_overall"] = p.calls / (p.t_last - p.t_first)
    if d is not None:
        out.update(side=d.side, phase=d.phase, reason=d.reason,
                   est_storage_s=d.est.get("storage"), est_compute_s=d.est.get("compute"))
    return out


def jit_known(fn: Function, rt: Any) -> tuple[bool | None, str | None]:
    """``fn.jit`` and ``fn.jit_reason`` from what is known here (workers' reports, the
    client-side compile), without asking the workers: a board reads this every tick."""
    got = None if rt is None else rt.jit.get(fn.token)
    if got is not None:
        return got
    spec = fn._spec
    if spec is None:
        return None, None
    return (False, spec.reason) if spec.module is None else (None, None)


def current_versions(fns: list[Function], rt: Any) -> list[Function]:
    """Per function, its version decided most recently: ``fn.with_placement(...)`` makes a
    copy with a profile of its own that the registry does not keep (a benchmark runs one
    per policy); the views of all functions show the copy that ran last, while it lives."""
    if rt is None:
        return fns
    with rt.lock:
        latest = {tok: h[-1].time for tok, h in rt.placer.history.items() if h}
    best: dict[str, tuple[float, Function]] = {}
    for f in catalog.versions():
        t = latest.get(f.token)
        if t is not None and (f.name not in best or t > best[f.name][0]):
            best[f.name] = (t, f)
    return [best.get(f.name, (0.0, f))[1] for f in fns]


def records() -> list[dict[str, Any]]:
    """The view of every function defined in this process (the version that ran last)."""
    return [record(f) for f in current_versions(catalog.registry(), _rt())]


def text(fns: list[Function] | None = None) -> str:
    """What ``%wb functions --text`` prints: the given functions, or every one (the version
    that ran last, as the live board shows it)."""
    if fns is None:
        fns = current_versions(catalog.registry(), _rt())
    if not fns:
        return "no functions defined yet (@wb.function or %%function)."
    return rows_text([record(f) for f in fns])


def rows_text(rows: list[dict[str, Any]]) -> str:
    """The text form of records (:func:`record`), one block per function."""
    lines = []
    for r in rows:
        jit = {True: "compiled", False: "plain Python", None: "not run yet"}[r["jit"]]
        calls = f"{r['calls']:,} call{'' if r['calls'] == 1 else 's'}"
        lines.append(f"{r['name']}: placement {r['placement']!r}, {calls} "
                     f"({r['calls_per_s']:,.1f}/s over the last {WINDOW_S:g} s, "
                     f"{r['calls_per_s_overall']:,.0f}/s from the first call's start to the "
                     f"last one's end), {jit}"
                     + (f", {r['errors']} error(s)" if r["errors"] else ""))
        if r["calls_by_side"]:
            lines.append("  calls by side: " + ", ".join(f"{s} {n}" for s, n in
                                                         r["calls_by_side"].items()))
        if r["side"] is not None:
            lines.append(f"  latest decision: {r['side']} ({r['phase']}): {r['reason']}")
        if r["jit"] is False and r["jit_reason"]:
            lines.append(f"  why plain Python: {r['jit_reason']}")
    return "\n".join(lines)


def profile_frame(fn: Function) -> pd.DataFrame:
    import pandas as pd

    rt = _rt()
    p = None if rt is None else rt.placer.profiles.get(fn.token)
    rows = []
    if p is not None:
        for side, sp in p.sides.items():
            rows.append({"side": side, "samples": sp.samples, "calls": sp.calls,
                         "compute_ms": sp.compute_s * 1e3, "fetch_ms": sp.fetch_s * 1e3,
                         "remote_bytes": sp.remote_bytes, "local_bytes": sp.local_bytes,
                         "out_bytes": sp.out_bytes})
    return pd.DataFrame(rows)
