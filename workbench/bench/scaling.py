"""``workbench bench scaling``: compute workers scaled by policy, on a periodic trace.

One arrival-rate trace (:meth:`workbench.workloads.trace.Trace.periodic`: a day shape
compressed into ``period_s`` seconds, three periods, seeded bursts on top) is replayed
open-loop as calls of :func:`~workbench.workloads.trace.hold`, which hold a worker thread
for ``service_s`` seconds (sleep-bound: on this 2-core machine CPU-bound calls stop
scaling past two workers; these scale with workers x threads). Policies, each run
starting from ``minimum`` compute workers:

- ``fixed-min`` and ``fixed-max``: ``minimum`` or ``maximum`` workers throughout;
- ``reactive``: Dask's own ``Adaptive`` with its defaults (``wb.autoscale("reactive")``);
- ``reactive-slo``: Dask's ``Adaptive`` told the latency target
  (``target_duration=slo_ms``, the knob a Dask user sets for sub-second work);
- ``forecast``: ``wb.autoscale("forecast", season_s=period_s)``.

Per run: the share of calls over ``slo_ms`` (SLO violations), p50 and p99 latency, and
worker-seconds (compute workers running or leaving, integrated over the run: a worker
that leaves finishes its running calls first). Repetitions rotate the
policies' order; the table has medians. A last row, ``bound``, has the fewest
worker-seconds that keep up with the trace at all (in each second, the fewest workers
whose threads serve its arrivals at utilization 1: a lower bound for any policy, even
one that knows the trace and starts workers at once). Bars: forecast's violations <=
0.5x reactive's at <= 1.2x its worker-seconds, and <= 0.7x fixed-max's worker-seconds;
judged against both reactive baselines (a worker-seconds bar under the bound is said to
be unattainable).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .common import median, report, verdict

FULL = {"period_s": 40.0, "periods": 3, "base": 4.0, "peak": 36.0, "bursts": 2,
        "service_s": 0.1, "minimum": 1, "maximum": 4, "slo_ms": 250.0, "interval": 1.0}
QUICK = {"period_s": 8.0, "periods": 2, "base": 2.0, "peak": 10.0, "bursts": 1,
         "service_s": 0.05, "minimum": 1, "maximum": 2, "slo_ms": 250.0, "interval": 0.5}
POLICIES = ("fixed-min", "fixed-max", "reactive", "reactive-slo", "forecast")
REACTIVE = ("reactive", "reactive-slo")
COLUMNS = ["policy", "calls", "over_slo", "p50_ms", "p99_ms", "worker_s", "max_workers",
           "vs_reactive_over_slo", "vs_reactive_worker_s", "vs_reactive_slo_over_slo",
           "vs_reactive_slo_worker_s", "vs_fixed_max_worker_s", "bar"]


def one(session: Any, policy: str, p: dict, seed: int) -> dict:
    """One replay of the trace under ``policy``; one row of measurements."""
    import workbench as wb

    from ..placement.scaling import least_worker_seconds
    from ..runtime.scaling import compute_workers, scale_compute
    from ..workloads.trace import Trace, hold, replay

    scale_compute(session, p["minimum"])
    fn = wb.function(hold, placement="compute", jit=False)
    for _ in range(2):
        fn(0.0).result()
    kind, n = {"fixed-min": ("fixed", p["minimum"]), "fixed-max": ("fixed", p["maximum"]),
               "reactive": ("reactive", p["minimum"]),
               "reactive-slo": ("reactive", p["minimum"]),
               "forecast": ("forecast", p["minimum"])}[policy]
    tuned = {"target_duration": p["slo_ms"] / 1e3} if policy == "reactive-slo" else {}
    scaler = wb.autoscale(kind, minimum=n, maximum=p["maximum"], slo_ms=p["slo_ms"],
                          interval=p["interval"], season_s=p["period_s"],
                          service_s=p["service_s"], session=session, **tuned)
    if policy == "fixed-max":
        scale_compute(session, p["maximum"])        # held from the start
    trace = Trace.periodic(p["period_s"], p["periods"], p["base"], p["peak"], p["bursts"],
                           seed=seed)
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    r = replay(fn, trace, p["service_s"], seed=seed)
    while not r.done(0.25):
        samples.append((time.monotonic() - t0, len(compute_workers(session, leaving=True))))
    wall = time.monotonic() - t0
    samples.append((wall, len(compute_workers(session, leaving=True))))
    scaler.stop()
    lat = r.frame()["latency_s"].to_numpy()
    ts = np.asarray([0.0] + [t for t, _ in samples])
    ws = np.asarray([samples[0][1]] + [w for _, w in samples], float)
    worker_s = float(np.sum(np.diff(ts) * ws[:-1]))
    return {"policy": policy, "calls": int(lat.size),
            "bound_worker_s": least_worker_seconds(trace.rate, trace.bin_s, p["service_s"],
                                                   scaler.threads, p["minimum"]),
            "over_slo": float(np.mean(lat > p["slo_ms"] / 1e3)),
            "p50_ms": float(np.percentile(lat, 50) * 1e3),
            "p99_ms": float(np.percentile(lat, 99) * 1e3), "worker_s": worker_s,
            "max_workers": int(ws.max()), "seconds": wall, "failed": r.failed,
            "errors": list(r.errors),
            "history": scaler.history}


def main(args: Any) -> int:
    import workbench as wb

    p = dict(QUICK if args.quick else FULL)
    repeat = 1 if args.quick else max(1, args.repeat)
    own = getattr(args, "session", None) is None
    session = getattr(args, "session", None) or wb.cluster()
    from ..runtime.scaling import compute_workers, scale_compute

    before = len(compute_workers(session))
    try:
        runs: dict[str, list[dict]] = {k: [] for k in POLICIES}
        for i in range(repeat):
            order = rotated(i)
            for pol in order:
                row = one(session, pol, p, seed=i + 1)
                runs[pol].append(row)
                print(f"  rep {i + 1}/{repeat} {pol}: {row['calls']} calls, "
                      f"{row['over_slo']:.1%} over the SLO, p99 {row['p99_ms']:.0f} ms, "
                      f"{row['worker_s']:.0f} worker-s"
                      + (f", {row['failed']} failed (first: call {row['errors'][0][0]}, "
                         f"{row['errors'][0][1]})" if row["errors"] else ""), flush=True)
        rows = summarize(runs, p, args.quick)
    finally:
        scale_compute(session, before)             # the cluster's shape as it was
        if own:
            session.close()
    report("scaling", rows, args.out, COLUMNS,
           f"{repeat} repetition(s), medians; trace: {p['periods']} periods of "
           f"{p['period_s']:g} s, {p['base']:g}-{p['peak']:g} calls/s plus {p['bursts']} "
           f"burst(s); calls hold a thread {p['service_s'] * 1e3:g} ms; workers "
           f"{p['minimum']}-{p['maximum']}; SLO {p['slo_ms']:g} ms. worker_s: compute "
           "workers running or leaving, integrated over the run.", quick=args.quick)
    return 0


def rotated(i: int) -> tuple[str, ...]:
    """The policies in the order of repetition ``i`` (each starts one place later)."""
    k = i % len(POLICIES)
    return POLICIES[k:] + POLICIES[:k]


def summarize(runs: dict[str, list[dict]], p: dict, quick: bool) -> list[dict]:
    keys = ("calls", "over_slo", "p50_ms", "p99_ms", "worker_s", "max_workers", "seconds")
    rows = [{"policy": pol, **{k: median(r[k] for r in rs) for k in keys},
             "reps": len(rs), "over_slo_all": " ".join(f"{r['over_slo']:.3f}" for r in rs),
             "worker_s_all": " ".join(f"{r['worker_s']:.0f}" for r in rs),
             "failed": sum(r["failed"] for r in rs), **p}
            for pol, rs in runs.items()]
    by = {r["policy"]: r for r in rows}
    for r in rows:
        for base in REACTIVE:
            col = base.replace("-", "_")
            rv = by[base]["over_slo"]
            r[f"vs_{col}_over_slo"] = r["over_slo"] / rv if rv else float("nan")
            r[f"vs_{col}_worker_s"] = r["worker_s"] / by[base]["worker_s"]
        r["vs_fixed_max_worker_s"] = r["worker_s"] / by["fixed-max"]["worker_s"]
        r["bar"] = ""
    f = by["forecast"]
    # the fewest worker-seconds that keep up with the trace (any policy, even one that
    # knows the trace and starts workers at once): a bar below it cannot be met
    bound = median(r["bound_worker_s"] for rs in runs.values() for r in rs)
    rows.append({"policy": "bound: least that keeps up", "worker_s": bound,
                 **p, "bar": "",
                 **{f"vs_{b.replace('-', '_')}_worker_s": bound / by[b]["worker_s"]
                    for b in REACTIVE},
                 "vs_fixed_max_worker_s": bound / by["fixed-max"]["worker_s"]})
    bars = []
    for base in REACTIVE:
        col = base.replace("-", "_")
        rv = by[base]["over_slo"]
        ok_v = f["over_slo"] <= 0.5 * rv if rv else f["over_slo"] == 0
        least = bound / by[base]["worker_s"]
        bars += [verdict(f"over_slo<=0.5x {base}: {f['over_slo']:.3f} vs {rv:.3f}", ok_v,
                         quick),
                 verdict(f"worker_s<=1.2x {base}: {f[f'vs_{col}_worker_s']:.2f}"
                         + (f" (unattainable: keeping up needs {least:.2f}x)"
                            if least > 1.2 else ""),
                         f[f"vs_{col}_worker_s"] <= 1.2, quick)]
    bars.append(verdict(f"worker_s<=0.7x fixed-max: {f['vs_fixed_max_worker_s']:.2f}",
                        f["vs_fixed_max_worker_s"] <= 0.7, quick))
    f["bar"] = "; ".join(bars)
    return rows
