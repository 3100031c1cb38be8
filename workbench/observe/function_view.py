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
