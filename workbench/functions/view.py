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


def record(fn: Function, window: float = 10.0) -> dict[str, Any]:
    """One function's view: ``name``, ``placement``, ``calls``, ``calls_per_s`` (over the
    last ``window`` seconds of completions), ``calls_per_s_overall``, ``side`` (latest
    decision), ``phase``, ``reason``, ``est_storage_s``, ``est_compute_s``, ``jit``,
    ``jit_reason``, ``errors``, ``calls_by_side``."""
    rt = _rt()
    out = base_record(fn, rt, (fn.jit, fn.jit_reason))
    if rt is None:
        return out
    now = time.time()
    with rt.lock:
        recent = [(t, n) for t, tok, n, _, _ in rt.done if tok == fn.token and now - t < window]
    if recent:
        span = max(now - min(t for t, _ in recent), 1e-3)
        out["calls_per_s"] = sum(n for _, n in recent) / min(span, window)
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


def records() -> list[dict[str, Any]]:
    """The view of every function defined in this process."""
    return [record(f) for f in catalog.registry()]


def text(fns: list[Function] | None = None) -> str:
    fns = catalog.registry() if fns is None else fns
    if not fns:
        return "no functions defined yet (@wb.function or %%function)."
    return rows_text([record(f) for f in fns])


def rows_text(rows: list[dict[str, Any]]) -> str:
    """The text form of records (:func:`record`), one block per function."""
    lines = []
    for r in rows:
        jit = {True: "compiled", False: "plain Python", None: "not run yet"}[r["jit"]]
        lines.append(f"{r['name']}: placement {r['placement']!r}, {r['calls']} calls "
                     f"({r['calls_per_s']:.0f}/s now, {r['calls_per_s_overall']:.0f}/s "
                     f"overall), {jit}" + (f", {r['errors']} error(s)" if r["errors"] else ""))
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
