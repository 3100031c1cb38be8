"""``workbench bench calls``: small calls per second, four ways, side by side.

- ``single``: ``fn(x)`` for each call (one Dask task per call), all submitted, then
  gathered;
- ``map``: ``fn.map(xs)``: coalesced into one task per compute worker, arguments and
  results as arrays;
- ``submit_loop``: ``client.submit(inc, x)`` for each call, then ``client.gather`` (the
  plain-Dask baseline; run on fewer calls: a 100,000-call submit loop lost its scheduler
  connection at default timeouts on this machine);
- ``client_map``: ``client.map(inc, xs)`` (Dask's own batching of submissions).

The body is the same one-line function everywhere (``x + 1``; compiled by numba in
``single`` and ``map``). Calls/s are medians over repetitions, in rotating order.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np

from .common import median, report, verdict

FULL = {"map": 100_000, "single": 1000, "submit_loop": 2000, "client_map": 2000}
QUICK = {"map": 2000, "single": 20, "submit_loop": 50, "client_map": 50}
BAR = 100.0
COLUMNS = ["variant", "calls", "seconds", "calls_per_s", "vs_submit_loop", "bar"]


def inc(x):  # noqa: ANN001, ANN201 - numba-typed
    return x + 1


def _single(fn: Any, client: Any, n: int) -> float:
    t = time.perf_counter()
    futs = [fn(i) for i in range(n)]
    client.gather(futs)
    return time.perf_counter() - t


def _map(fn: Any, client: Any, n: int) -> float:
    xs = np.arange(n)
    t = time.perf_counter()
    out = fn.map(xs).result()
    dt = time.perf_counter() - t
    assert out[-1] == n, out[-1]
    return dt


def _submit_loop(compute: list[str], client: Any, n: int) -> float:
    t = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    futs = [client.submit(inc, i, key=f"inc-{tag}-{i}", workers=compute) for i in range(n)]
    client.gather(futs)
    return time.perf_counter() - t


def _client_map(compute: list[str], client: Any, n: int) -> float:
    t = time.perf_counter()
    futs = client.map(inc, range(n), key=[f"incm-{uuid.uuid4().hex[:8]}-{i}"
                                          for i in range(n)], workers=compute)
    client.gather(futs)
    return time.perf_counter() - t


def main(args: Any) -> int:
    import workbench as wb

    session = getattr(args, "session", None) or wb.cluster()
    client = session.client
    sizes = dict(QUICK if args.quick else FULL)
    compute = sorted(a for a, r in session.workers.items() if r.get("compute", 0) > 0)
    fn = wb.Function(inc, placement="compute", name="inc")
    fn.warm(1)
    client.gather([client.submit(inc, i, pure=False, workers=compute) for i in range(4)])
    variants = {"single": lambda n: _single(fn, client, n),
                "map": lambda n: _map(fn, client, n),
                "submit_loop": lambda n: _submit_loop(compute, client, n),
                "client_map": lambda n: _client_map(compute, client, n)}
    times: dict[str, list[float]] = {v: [] for v in variants}
    names = list(variants)
    for i in range(max(args.repeat, 1)):
        for v in names[i % len(names):] + names[:i % len(names)]:
            times[v].append(variants[v](sizes[v]))
    rows = []
    for v in names:
        secs = median(times[v])
        rows.append({"variant": v, "calls": sizes[v], "seconds": secs,
                     "calls_per_s": sizes[v] / secs,
                     "calls_per_s_all": " ".join(f"{sizes[v] / s:.0f}" for s in times[v])})
    base = next(r["calls_per_s"] for r in rows if r["variant"] == "submit_loop")
    for r in rows:
        r["vs_submit_loop"] = r["calls_per_s"] / base
        r["bar"] = (verdict(f"map/submit_loop>={BAR:.0f}: {r['vs_submit_loop']:.0f}",
                            r["vs_submit_loop"] >= BAR, args.quick)
                    if r["variant"] == "map" else "")
    report("calls", rows, args.out, COLUMNS,
           "calls_per_s: median over repetitions (all of them in the CSV).", quick=args.quick)
    return 0
