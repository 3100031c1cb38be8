"""``workbench bench placement``: all-compute vs all-storage vs auto on four workloads.

The workloads (:mod:`workbench.workloads`): k-hop queries on R-MAT graph partitions kept in
the store (each call reads a ~2 MB partition: free on the storage side, a network fetch on
the compute side), a compute-heavy function on 64 numbers (the storage side has one call
slot: its ``storage`` resource is 1; the compute side has one per compute worker), both
at once, and ``short``: both as single ``fn(...)`` calls in 5 bursts of 20 (100 calls),
where a burst arrives before the first probes return. Each repetition runs the three
policies back to back in rotating order; the table has the median throughput per policy
and its ratio to the better fixed policy. Functions are compiled on every worker first;
``auto`` starts each run with empty profiles, so its exploration is in the measured time.
"""

from __future__ import annotations

from typing import Any

from .common import report, verdict

FULL = {"scale": 17, "parts": 4, "rounds": 10, "khop": 1000, "k": 3, "heavy": 400,
        "iters": 300, "mixed_khop": 1000, "mixed_heavy": 500, "bursts": 5, "short_khop": 10,
        "short_heavy": 10}
QUICK = {"scale": 12, "parts": 2, "rounds": 2, "khop": 40, "k": 2, "heavy": 8, "iters": 20,
         "mixed_khop": 40, "mixed_heavy": 8, "bursts": 2, "short_khop": 4, "short_heavy": 4}
BARS = {"k-hop": 0.95, "compute-heavy": 0.95, "mixed": 1.3, "short": 0.95}
COLUMNS = ["workload", "policy", "calls", "seconds", "calls_per_s", "vs_best_fixed",
           "storage_calls", "compute_calls", "same_results", "choice", "bar"]


def workloads(p: dict[str, Any], seed: int = 1) -> list[Any]:
    from ..workloads import heavy_workload, khop_workload, mixed_workload, rmat, short_workload

    refs = rmat.put_graph("bench/graph", p["scale"], p["parts"], seed=seed)
    return [khop_workload(refs, p["rounds"], p["khop"], p["k"], seed),
            heavy_workload(p["rounds"], p["heavy"], p["iters"], seed=seed),
            mixed_workload(refs, p["rounds"], p["mixed_khop"], p["mixed_heavy"], p["k"],
                           p["iters"], seed=seed),
            short_workload(refs, p["bursts"], p["short_khop"], p["short_heavy"], p["k"],
                           p["iters"], seed=seed)]


def bar_text(rows: list[dict[str, Any]], quick: bool = False) -> None:
    for r in rows:
        if r["policy"] == "auto":
            need = BARS[r["workload"]]
            r["bar"] = verdict(f"auto/best_fixed>={need}: {r['vs_best_fixed']:.2f}",
                               r["vs_best_fixed"] >= need, quick)
        else:
            r["bar"] = ""


def main(args: Any) -> int:
    import workbench as wb

    from ..workloads import compare

    session = getattr(args, "session", None) or wb.cluster()
    params = dict(QUICK if args.quick else FULL)
    params.update(getattr(args, "params", None) or {})
    ws = workloads(params)
    rows = compare(ws, repeat=args.repeat if not args.quick else 1)
    bar_text(rows, args.quick)
    for r in rows:
        r.update({k: v for k, v in params.items() if k in ("scale", "parts", "k", "iters")})
        r["workers"] = " ".join(f"{s}:{n}" for s, n in _sides(session).items())
    notes = ("calls_per_s: median over repetitions (calls_per_s_all in the CSV); "
             "vs_best_fixed: ratio to the better of all-compute and all-storage.")
    report("placement", rows, args.out, COLUMNS, notes, quick=args.quick)
    return 0


def _sides(session: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for res in session.workers.values():
        s = "storage" if res.get("storage", 0) > 0 else "compute"
        out[s] = out.get(s, 0) + 1
    return out
