"""``workbench bench streamit``: every StreamIt program, records per second, on the local
engine, on the Dask engine with every stage on one worker, and with the planner's
default placement.

Programs and parameters are the suite's (:mod:`workbench.examples.streamit`). Each batch
holds a whole number of steady-state iterations, about 65,536 source records; batches
cycle through a pool of ``POOL`` batches of the program's StreamIt input, built once per
process (a generator source: workers build their batches, nothing large crosses the
network). Before timing, each program's output on every variant is checked against its
numpy/scipy reference (a short run of the unpooled input).

Rates are steady: for each variant a short run (``SHORT`` batches) and a long one (``SHORT
+ k`` batches, ``k`` sized from a warm-up so the long run streams for about
``TARGET_S`` seconds locally); the rate is the extra records over the extra seconds.
Variants run back to back in rotating order, ``--repeat`` (5) times; medians.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from .common import median, report

POOL = 8
SHORT = 2
TARGET_S, QUICK_TARGET_S = 1.5, 0.1
BATCH_RECORDS = 65536
VARIANTS = ("local", "dask_one", "dask_default")
COLUMNS = ["program", "records_per_iter", "batch_records", "batches", "local_Mrps",
           "dask_one_Mrps", "dask_default_Mrps", "dask_one/local", "dask_default/local",
           "default_plan", "local_iter_per_s"]

_POOLS: dict[tuple[str, int], list[np.ndarray]] = {}


def iterations_per_batch(name: str, records: int = BATCH_RECORDS) -> int:
    from ..examples.streamit import records_per_iteration

    return max(1, records // records_per_iteration(name))


def batch(i: int, name: str, records: int = BATCH_RECORDS) -> np.ndarray:
    """Batch ``i`` of program ``name`` (about ``records`` source records): one of ``POOL``
    batches of its StreamIt input (built once per process)."""
    from ..examples.streamit import inputs

    it = iterations_per_batch(name, records)
    key = (name, it)
    pool = _POOLS.get(key)
    if pool is None:
        x = inputs(name, it * POOL)
        size = len(x) // POOL
        pool = _POOLS[key] = [x[k * size:(k + 1) * size] for k in range(POOL)]
    return pool[i % POOL]


def program(name: str, batches: int) -> Any:
    from ..examples.streamit import PROGRAMS
    from ..model.sources import generator

    return PROGRAMS[name].program(generator(functools.partial(batch, name=name),
                                            batches=batches))


def seconds(variant: str, name: str, n: int, session: Any, worker: str) -> float:
    prog = program(name, n)
    t = time.perf_counter()
    if variant == "local":
        prog.run(engine="local", sink="discard").wait()
    elif variant == "dask_one":
        prog.run(engine="dask", sink="discard", session=session,
                 placement=dict.fromkeys(prog.stage_names, worker)).wait()
    else:
        prog.run(engine="dask", sink="discard", session=session).wait()
    return time.perf_counter() - t


def check(name: str, session: Any, worker: str) -> str:
    """Every variant's output on a short unpooled input against the reference; returns
    the default plan in a few words."""
    from ..examples.streamit import PROGRAMS, inputs
    from ..model.sources import array

    mod = PROGRAMS[name]
    x = inputs(name, 3 * iterations_per_batch(name) // 4 + 3)
    ref = mod.reference(x)
    src = array(x, batch_size=len(x) // 3 + 1)
    runs = {"local": mod.program(src).run(engine="local").wait()}
    prog = mod.program(src)
    runs["dask_one"] = prog.run(engine="dask", session=session,
                                placement=dict.fromkeys(prog.stage_names, worker)).wait()
    runs["dask_default"] = mod.program(src).run(engine="dask", session=session).wait()
    for v, run in runs.items():
        out = run.output
        if out.shape != ref.shape or not np.allclose(out, ref, rtol=1e-9,
                                                     atol=1e-9 * max(1.0, np.abs(ref).max())):
            raise AssertionError(f"{name}: variant {v} disagrees with the reference")
    units = runs["dask_default"].plan.units
    workers = {w for u in units for w in u.workers}
    return f"{len(units)} unit(s) on {len(workers)} worker(s)"


def measure(session: Any, names: list[str], repeat: int, target: float) -> tuple[dict, dict]:
    worker = sorted(a for a, r in session.workers.items() if r.get("compute", 0) > 0)[0]
    plans, sizes = {}, {}
    for name in names:
        plans[name] = check(name, session, worker)
        for v in VARIANTS:
            seconds(v, name, SHORT, session, worker)            # warm up (load, pools)
        one = (seconds("local", name, SHORT + 4, session, worker)
               - seconds("local", name, SHORT, session, worker)) / 4
        sizes[name] = int(min(200, max(4, target / max(one, 1e-4))))
    res: dict = {n: {v: [] for v in VARIANTS} for n in names}
    for rep in range(repeat):
        for name in names:
            k, r = sizes[name], rep % len(VARIANTS)
            for v in VARIANTS[r:] + VARIANTS[:r]:
                a = seconds(v, name, SHORT, session, worker)
                b = seconds(v, name, SHORT + k, session, worker)
                rec = k * iterations_per_batch(name) * _per_iteration(name)
                res[name][v].append(rec / (b - a) if b > a else float("nan"))
    return res, {"plans": plans, "sizes": sizes}


def _per_iteration(name: str) -> int:
    from ..examples.streamit import records_per_iteration

    return records_per_iteration(name)


def rows_of(res: dict, info: dict) -> list[dict[str, Any]]:
    rows = []
    for name, by in res.items():
        rate = {v: median(by[v]) for v in VARIANTS}
        per = _per_iteration(name)
        row: dict[str, Any] = {
            "program": name, "records_per_iter": per,
            "batch_records": per * iterations_per_batch(name),
            "batches": SHORT + info["sizes"][name], "reps": len(by["local"])}
        for v in VARIANTS:
            row[f"{v}_Mrps"] = rate[v] / 1e6
        row["dask_one/local"] = rate["dask_one"] / rate["local"]
        row["dask_default/local"] = rate["dask_default"] / rate["local"]
        row["default_plan"] = info["plans"][name]
        row["local_iter_per_s"] = rate["local"] / per
        for v in VARIANTS:
            row[f"{v}_Mrps_all"] = " ".join(f"{r / 1e6:.4g}" for r in by[v])
        rows.append(row)
    return rows


def main(args: Any) -> int:
    from ..examples.streamit import PROGRAMS
    from ..runtime.cluster import cluster, current

    quick = getattr(args, "quick", False)
    repeat = 1 if quick else max(1, int(getattr(args, "repeat", 5)))
    names = list(getattr(args, "programs", None) or PROGRAMS)
    session = getattr(args, "session", None)
    owned = session is None and current() is None
    session = session or current() or cluster()
    try:
        res, info = measure(session, names, repeat, QUICK_TARGET_S if quick else TARGET_S)
    finally:
        if owned:
            session.close()
    notes = (
        "Mrps = million source records/s, steady: the extra records of a long run over a "
        f"short one ({SHORT} batches) divided by the extra seconds; median of {repeat} "
        "repetition(s), variants interleaved. local = local engine; dask_one = Dask engine, "
        "every stage pinned to one compute worker; dask_default = Dask engine, the "
        "planner's default placement (default_plan). Every variant's output was checked "
        "against the program's numpy/scipy reference before timing.")
    report("streamit", rows_of(res, info), getattr(args, "out", "data/bench"), COLUMNS,
           notes, quick=quick)
    return 0
