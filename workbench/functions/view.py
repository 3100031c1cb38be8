"""The function view as data and as text: calls/s, placement, latest decision, reasons.

:func:`records` is the accessor a dashboard widget reads (plain dicts, no Dask objects);
:func:`text` is what ``%wb functions`` and ``fn.summary()`` print. :func:`snapshot` and
:func:`rate_series` are what the live board (:class:`workbench.widgets.FunctionsBoard`)
reads each tick: what the runtime records anyway (its ``done`` log of completed calls,
the placer's profiles and decisions), read under the runtime's lock, never asking workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .function import Function


def _rt() -> Any:
    from .function import _current_rt

    return _current_rt()


def record(fn: Function, window: float = 10.0) -> dict[str, Any]:
    """One function's view: ``name``, ``placement``, ``calls``, ``calls_per_s`` (over the
    last ``window`` seconds of completions), ``calls_per_s_overall``, ``side`` (latest
    decision), ``phase``, ``reason``, ``est_storage_s``, ``est_compute_s``, ``jit``,
    ``jit_reason``, ``errors``, ``calls_by_side``."""
    rt = _rt()
    out = _base(fn, rt, (fn.jit, fn.jit_reason))
    if rt is None:
        return out
    now = time.time()
    with rt.lock:
        recent = [(t, n) for t, tok, n, _, _ in rt.done if tok == fn.token and now - t < window]
    if recent:
        span = max(now - min(t for t, _ in recent), 1e-3)
        out["calls_per_s"] = sum(n for _, n in recent) / min(span, window)
    return out


def _base(fn: Function, rt: Any, jit: tuple[bool | None, str | None]) -> dict[str, Any]:
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


def _jit_known(fn: Function, rt: Any) -> tuple[bool | None, str | None]:
    """``fn.jit`` and ``fn.jit_reason`` from what is known here (workers' reports, the
    client-side compile), without asking the workers: a board reads this every tick."""
    got = None if rt is None else rt.jit.get(fn.token)
    if got is not None:
        return got
    spec = fn._spec
    if spec is None:
        return None, None
    return (False, spec.reason) if spec.module is None else (None, None)


def name_of(token: str) -> str:
    """A function's name from its token (``name-<10 hex digits>``).

    >>> name_of("k-hop-0123456789")
    'k-hop'
    """
    return token.rsplit("-", 1)[0]


def runtime_of(session: Any) -> Any:
    """The functions runtime of ``session`` if it has one (never creates one)."""
    if session is None:
        return None
    from ..runtime.functions.dispatch import _RUNTIMES

    rt = _RUNTIMES.get(id(session.client))
    return rt if rt is not None and rt.session is session else None


Entry = tuple[float, str, int, str, float]      # (t done, key, calls, side, wall seconds)


def recent_done(rt: Any, since: float, key_of: Callable[[str], str | None]) -> list[Entry]:
    """The runtime's completions that may overlap ``since``.. (newest first), their
    function token mapped by ``key_of`` (``None`` drops one). Reads back from the newest
    entry, so a tick costs what the window holds, not the whole log."""
    out: list[Entry] = []
    if rt is None:
        return out
    with rt.lock:
        for t, tok, n, side, wall in reversed(rt.done):
            if t + 5.0 < since:          # 5 s of slack: workers report out of order
                break
            key = key_of(tok) if t >= since else None
            if key is not None:
                out.append((t, key, n, side, wall))
    return out


def rate_series(entries: Iterable[Entry], t0: float, t1: float, bin_s: float = 0.5,
                per_side: bool = False) -> tuple[list[float], dict[tuple[str, str], list[float]]]:
    """Calls/s per function (and side) in bins of ``bin_s`` seconds over ``[t0, t1)``.

    Each completion's calls are spread evenly over its run, ``[t - wall, t]`` (a chunk of
    a thousand calls counts a thousand calls over its second, not in the bin it ended
    in). Returns the bin starts and ``{(key, side or "all"): calls/s per bin}``.

    >>> x, s = rate_series([(2.0, "f", 10, "storage", 1.0), (2.2, "f", 1, "compute", 0.0)],
    ...                    0.0, 3.0)
    >>> x
    [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    >>> s[("f", "all")]
    [0.0, 0.0, 10.0, 10.0, 2.0, 0.0]
    """
    nb = max(int(math.ceil((t1 - t0) / bin_s - 1e-9)), 0)
    x = [t0 + i * bin_s for i in range(nb)]
    out: dict[tuple[str, str], list[float]] = {}
    for t, key, n, side, wall in entries:
        ys = out.setdefault((key, side if per_side else "all"), [0.0] * nb)
        a, b = t - max(wall, 0.0), t
        if b - a <= 1e-9:                         # no duration: all in the bin it ended in
            i = int((t - t0) // bin_s)
            if 0 <= i < nb:
                ys[i] += n / bin_s
            continue
        lo, hi = max(a, t0), min(b, t0 + nb * bin_s)
        i = max(int((lo - t0) // bin_s), 0)
        while i < nb and t0 + i * bin_s < hi:
            s0 = t0 + i * bin_s
            share = (min(hi, s0 + bin_s) - max(lo, s0)) / (b - a)
            if share > 0:
                ys[i] += n * share / bin_s
            i += 1
    return x, out


def current_versions(fns: list[Function], rt: Any) -> list[Function]:
    """Per function, its version decided most recently: ``fn.with_placement(...)`` makes a
    copy with a profile of its own that the registry does not keep (a benchmark runs one
    per policy), and the board of all functions shows the copy that ran last, if it is
    still alive."""
    from .function import _ALL

    if rt is None:
        return fns
    with rt.lock:
        latest = {tok: h[-1].time for tok, h in rt.placer.history.items() if h}
    best: dict[str, tuple[float, Function]] = {}
    for f in list(_ALL.values()):
        t = latest.get(f.token)
        if t is not None and (f.name not in best or t > best[f.name][0]):
            best[f.name] = (t, f)
    return [best.get(f.name, (0.0, f))[1] for f in fns]


def snapshot(fns: list[Function], rt: Any) -> list[dict[str, Any]]:
    """The board's table rows: :func:`record` of each function, without asking workers
    (the calls/s now is the board's, from :func:`rate_series`)."""
    return [_base(f, rt, _jit_known(f, rt)) for f in fns]


def records() -> list[dict[str, Any]]:
    """The view of every function defined in this process."""
    from .function import registry

    return [record(f) for f in registry()]


def text(fns: list[Function] | None = None) -> str:
    from .function import registry

    fns = registry() if fns is None else fns
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
