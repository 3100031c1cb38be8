"""The function board's data (pure): calls/s series from the runtime's log of completed
calls, and the rows of its table.

What the live board (:class:`workbench.observe.widgets.FunctionsBoard`) reads each tick:
what the functions runtime records anyway (its ``done`` log of completed calls, the
placer's profiles and decisions), read under the runtime's lock, never asking workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..functions.view import base_record, jit_known

if TYPE_CHECKING:
    from ..functions import Function


def name_of(token: str) -> str:
    """A function's name from its token (``name-<10 hex digits>``).

    >>> name_of("k-hop-0123456789")
    'k-hop'
    """
    return token.rsplit("-", 1)[0]


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


def snapshot(fns: list[Function], rt: Any) -> list[dict[str, Any]]:
    """The board's table rows: :func:`record` of each function, without asking workers
    (the calls/s now is the board's, from :func:`rate_series`)."""
    return [base_record(f, rt, jit_known(f, rt)) for f in fns]


SCALING = ("rate", "forecast", "asked", "present", "p99_ms")


def scaling_series(rows: Iterable[dict[str, Any]], shift: float, t0: float,
                   t1: float) -> dict[str, list[float]]:
    """The autoscaler's history as the board's series over ``[t0, t1]`` (board seconds):
    ``time`` (an interval's end, its ``time`` plus ``shift``, the seconds between the
    board opening and the autoscaler starting) and one list per :data:`SCALING` column
    (``nan`` where an interval has none: no forecast under a reactive policy, no call
    finished). Rows of failed intervals (an ``error`` and no ``rate``) are left out.

    >>> s = scaling_series([{"time": 1.0, "rate": 5.0, "asked": 1, "present": 1},
    ...                     {"time": 2.0, "error": "x"},
    ...                     {"time": 3.0, "rate": 9.0, "asked": 2, "present": 1,
    ...                      "p99_ms": 80.0}], shift=10.0, t0=0.0, t1=12.5)
    >>> s["time"], s["rate"], s["asked"]
    ([11.0], [5.0], [1.0])
    >>> math.isnan(s["p99_ms"][0])
    True
    """
    out: dict[str, list[float]] = {k: [] for k in ("time", *SCALING)}
    for r in rows:
        t = float(r.get("time", math.nan)) + shift
        if "rate" not in r or not t0 <= t <= t1:
            continue
        out["time"].append(t)
        for k in SCALING:
            v = r.get(k)
            out[k].append(math.nan if v is None else float(v))
    return out


def scaling_state(scaler: Any) -> dict[str, Any]:
    """What the board's scaling line says about an autoscaler (read, never waited on):
    policy, bounds, SLO, workers asked and present, the measured start time, the last
    interval's rate, forecast, p99 and share over the SLO, whether it still runs."""
    rows = [r for r in list(scaler.rows) if "rate" in r]
    last = rows[-1] if rows else {}
    return {"policy": scaler.policy, "minimum": scaler.minimum, "maximum": scaler.maximum,
            "slo_ms": scaler.slo_s * 1e3, "asked": scaler.asked,
            "present": last.get("present"), "start_s": scaler.start_s,
            "rate": last.get("rate"), "forecast": last.get("forecast"),
            "p99_ms": last.get("p99_ms"), "over_slo": last.get("over_slo"),
            "running": scaler.running, "intervals": len(rows)}


def scaling_text(st: dict[str, Any]) -> str:
    """:func:`scaling_state` as one line of text (the board's static output).

    >>> t = scaling_text({"policy": "forecast", "minimum": 1, "maximum": 4,
    ...     "slo_ms": 250.0, "asked": 3, "present": 2, "start_s": 1.84, "rate": 30.5,
    ...     "forecast": 36.0, "p99_ms": 120.0, "over_slo": 0.0, "running": False,
    ...     "intervals": 9})
    >>> for part in t.split(", "):
    ...     print(part)
    scaling forecast (stopped): 1-4 compute workers
    asked 3
    present 2
    worker start 1.8 s
    arrivals 30.5/s (forecast 36.0/s)
    p99 120 ms vs SLO 250 ms
    0% over
    9 intervals
    """
    def ok(v: Any) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    bits = [f"{st['minimum']}-{st['maximum']} compute workers", f"asked {st['asked']}"]
    if ok(st["present"]):
        bits.append(f"present {st['present']}")
    if ok(st["start_s"]):
        bits.append(f"worker start {st['start_s']:.1f} s")
    if ok(st["rate"]):
        bits.append(f"arrivals {st['rate']:.1f}/s" + (f" (forecast {st['forecast']:.1f}/s)"
                                                     if ok(st["forecast"]) else ""))
    bits.append((f"p99 {st['p99_ms']:,.0f} ms vs " if ok(st["p99_ms"]) else "")
                + f"SLO {st['slo_ms']:,.0f} ms")
    if ok(st["over_slo"]):
        bits.append(f"{st['over_slo']:.0%} over")
    bits.append(f"{st['intervals']} intervals")
    state = "running" if st["running"] else "stopped"
    return f"scaling {st['policy']} ({state}): " + ", ".join(bits)
