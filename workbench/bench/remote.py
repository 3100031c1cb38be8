"""``workbench bench remote``: remote invocation against MPI, in one run on this machine.

Both sides run the same plain numpy code (:mod:`workbench.workloads.chunks`, about 60
flops per element) on two processes: MPI's two ranks (mpi4py over MPICH from the package
index, the ``mpich`` wheel, ``mpiexec -n 2``, :mod:`workbench.bench.mpi_ranks`) and the
local cluster's two compute workers.

- ``latency``: the round trip of a no-op call: MPI's one-double ping-pong (busy-polling
  ranks), a ``wb.remote`` call, a Dask ``client.submit``;
- the Rexel grid: a fixed total of elements cut into 1 to 100,000 chunks (10^7 to 10^2
  elements each), two series: ``generated`` (each chunk made from the seed where it is
  computed: calls and compute only) and ``scatter`` (every chunk starts on the client or
  rank 0: scatter, compute, gather). Variants: ``mpi``, ``map`` (``wb.remote(...).map``,
  coalesced), ``single`` (one ``wb.remote`` call per chunk) and ``client_map`` (Dask's
  ``client.map``); the last two stop at 10^4 chunks (a 10^5-call submit loop lost its
  scheduler connection here). Wall time and CPU time (every process of each side summed:
  MPI's ranks; the client, scheduler and workers) over ``--repeat`` repetitions: median,
  min, max and the spread ``(max - min) / median`` (Rexel's "predictable").

Bar: ``map`` within 2x of MPI's scatter/compute/gather time where chunks hold >= 10^5
elements. The table says where each side wins (``crossover``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..workloads import chunks as C
from .common import median, report, verdict, write_csv

FULL = {"total": 10**7, "chunks": [1, 10, 100, 1000, 10**4, 10**5], "latency": 200}
QUICK = {"total": 10**5, "chunks": [1, 10, 100, 1000], "latency": 20}
SINGLE_MAX = 10**4          # single calls and client.map stop here
SERIES = ("generated", "scatter")
BAR = 2.0
COLUMNS = ["series", "chunks", "size", "variant", "seconds", "spread", "cpu_s", "calls_per_s",
           "vs_mpi", "crossover", "bar"]


def mpiexec() -> str | None:
    """The ``mpiexec`` of this environment's MPI (the ``mpich`` wheel installs one beside
    the interpreter, matching the library mpi4py loads), else the one on ``PATH``."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def mpi_unavailable() -> str | None:
    """Why MPI cannot run here (one line), or None."""
    fix = "Fix: pip install mpi4py mpich (MPICH's wheel; the [test] extra has both)"
    if mpiexec() is None:
        return f"no mpiexec in this environment or on PATH. {fix}"
    try:
        from mpi4py import MPI  # noqa: F401
    except (ImportError, RuntimeError) as exc:
        return f"mpi4py cannot load an MPI library ({exc}). {fix}"
    return None


def run_mpi(cases: list[tuple[int, int]], repeat: int, seed: int,
            latency_rounds: int = 10_000, timeout: float = 3600) -> tuple[list[dict], str]:
    """The MPI side: ``mpiexec -n 2`` over :mod:`workbench.bench.mpi_ranks`."""
    why = mpi_unavailable()
    if why:
        raise RuntimeError(f"workbench bench remote: {why}")
    plan = {"cases": cases, "repeat": repeat, "seed": seed, "series": list(SERIES),
            "latency_rounds": latency_rounds}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m",
                               "workbench.bench.mpi_ranks", f.name], capture_output=True,
                              text=True, timeout=timeout, env=env)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"mpiexec failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in got:
        raise RuntimeError(got["error"])
    return got["rows"], got["vendor"]


class _Cpu:
    """CPU seconds of this process, the scheduler and the workers, summed."""

    def __init__(self, client: Any) -> None:
        import psutil

        pids = {os.getpid(), client.run_on_scheduler(os.getpid),
                *client.run(os.getpid).values()}
        self.procs = [psutil.Process(p) for p in pids]

    def now(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: BLE001 - a process gone: count what is left
                pass
        return total


def _latency(rm: Any, client: Any, compute: list[str], n: int) -> list[dict]:
    rows = []
    for variant, call in (("wb.remote", lambda: rm.noop(0.0).result()),
                          ("dask_submit", lambda: client.submit(
                              C.noop, 0.0, pure=False, workers=compute).result())):
        call()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        rows.append({"kind": "latency", "side": "workbench", "variant": variant,
                     "rtt_us": median(times) * 1e6})
    return rows


def _run(variant: str, series: str, rm: Any, client: Any, compute: list[str], seed: int,
         n: int, size: int, data: np.ndarray | None) -> float:
    """One grid case on the workbench side; returns the checksum."""
    if series == "generated":
        if variant == "map":
            return float(np.sum(rm.generated.map(seed, np.arange(n), size).result()))
        if variant == "single":
            return float(sum(client.gather([rm.generated(seed, i, size) for i in range(n)])))
        tag = uuid.uuid4().hex[:8]
        futs = client.map(C.generated, [seed] * n, range(n), [size] * n, workers=compute,
                          key=[f"gen-{tag}-{i}" for i in range(n)])
        return float(sum(client.gather(futs)))
    if variant == "map":
        return float(np.sum(rm.kernel.map(data).result()))
    if variant == "single":
        return float(sum(float(np.sum(r)) for r in
                         client.gather([rm.kernel(data[i]) for i in range(n)])))
    tag = uuid.uuid4().hex[:8]
    futs = client.map(C.kernel, list(data), workers=compute,
                      key=[f"ker-{tag}-{i}" for i in range(n)])
    return float(sum(float(np.sum(r)) for r in client.gather(futs)))


def run_workbench(cases: list[tuple[int, int]], repeat: int, seed: int, session: Any,
                  latency_rounds: int) -> list[dict]:
    import warnings

    import workbench as wb

    client = session.client
    compute = sorted(a for a, r in session.workers.items() if r.get("compute", 0) > 0)
    rm = wb.remote(C, placement="compute")
    rows = _latency(rm, client, compute, latency_rounds)
    warm = C.chunks(seed, 4, 100)                  # first calls of every variant, untimed
    for series in SERIES:
        for v in ("map", "single", "client_map"):
            _run(v, series, rm, client, compute, seed, 4, 100, warm)
    cpu = _Cpu(client)
    for n, size in cases:
        data = C.chunks(seed, n, size)
        variants = ["map"] + (["single", "client_map"] if n <= SINGLE_MAX else [])
        for rep in range(repeat):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for series in SERIES:
                for v in order:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # Dask: "large object in graph"
                        c0, t0 = cpu.now(), time.perf_counter()
                        check = _run(v, series, rm, client, compute, seed, n, size, data)
                        wall = time.perf_counter() - t0
                        used = cpu.now() - c0
                    rows.append({"kind": "grid", "side": "workbench", "variant": v,
                                 "series": series, "chunks": n, "size": size, "rep": rep,
                                 "seconds": wall, "cpu_s": used, "checksum": check})
        client.run(lambda: __import__("gc").collect())
    return rows


def summarize(raw: list[dict], quick: bool) -> list[dict]:
    """Medians per (series, chunks, variant), spread, the ratio to MPI, the crossover and
    the bar."""
    grid = [r for r in raw if r["kind"] == "grid"]
    keys = sorted({(r["series"], r["chunks"], r["size"], r["variant"]) for r in grid},
                  key=lambda k: (k[0], k[1], ["mpi", "map", "single", "client_map"].index(k[3])))
    rows = []
    for series, n, size, variant in keys:
        mine = [r for r in grid if (r["series"], r["chunks"], r["variant"]) ==
                (series, n, variant)]
        secs = [r["seconds"] for r in mine]
        med = median(secs)
        rows.append({"series": series, "chunks": n, "size": size, "variant": variant,
                     "seconds": med, "min_s": min(secs), "max_s": max(secs),
                     "spread": (max(secs) - min(secs)) / med if med else float("nan"),
                     "cpu_s": median(r["cpu_s"] for r in mine), "calls_per_s": n / med,
                     "checksum": mine[0]["checksum"], "reps": len(mine),
                     "seconds_all": " ".join(f"{s:.4g}" for s in secs)})
    for r in rows:
        mpi = next(x for x in rows if (x["series"], x["chunks"], x["variant"]) ==
                   (r["series"], r["chunks"], "mpi"))
        r["vs_mpi"] = r["seconds"] / mpi["seconds"]
        r["checksum_ok"] = bool(np.isclose(r["checksum"], mpi["checksum"], rtol=1e-9))
        r["crossover"] = ""
        r["bar"] = ""
        if r["variant"] == "mpi":
            best = min((x for x in rows if (x["series"], x["chunks"]) ==
                        (r["series"], r["chunks"]) and x["variant"] != "mpi"),
                       key=lambda x: x["seconds"])
            ratio = best["seconds"] / r["seconds"]
            r["crossover"] = (f"workbench wins ({best['variant']} {1 / ratio:.2f}x faster)"
                              if ratio < 1 else f"MPI wins ({ratio:.2f}x; best: "
                              f"{best['variant']})")
        if (r["variant"] == "map" and r["series"] == "scatter" and r["size"] >= 10**5):
            r["bar"] = verdict(f"map/mpi<={BAR:g}: {r['vs_mpi']:.2f}", r["vs_mpi"] <= BAR,
                               quick)
    return rows


def main(args: Any) -> int:
    import workbench as wb

    sizes = QUICK if args.quick else FULL
    cases = [(n, sizes["total"] // n) for n in sizes["chunks"] if sizes["total"] // n >= 100]
    repeat = max(1, args.repeat)
    seed = 1
    own = getattr(args, "session", None) is None
    session = getattr(args, "session", None) or wb.cluster(compute=2, storage=1)
    try:
        return _main(args, cases, repeat, seed, session)
    finally:
        if own:
            session.close()


def _main(args: Any, cases: list[tuple[int, int]], repeat: int, seed: int,
          session: Any) -> int:
    sizes = QUICK if args.quick else FULL
    t = time.perf_counter()
    mpi_rows, vendor = run_mpi(cases, repeat, seed,
                               latency_rounds=1000 if args.quick else 10_000)
    print(f"MPI side ({vendor}): {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    wb_rows = run_workbench(cases, repeat, seed, session, sizes["latency"])
    print(f"workbench side: {time.perf_counter() - t:.0f} s", flush=True)
    raw = mpi_rows + wb_rows
    write_csv(args.out, "remote_raw", [r for r in raw if r["kind"] == "grid"])
    latency = [r for r in raw if r["kind"] == "latency"]
    write_csv(args.out, "remote_latency", latency)
    print("round trip of a no-op call: " + ", ".join(
        f"{r['variant']} {r['rtt_us']:,.1f} us" for r in latency))
    rows = summarize(raw, args.quick)
    report("remote", rows, args.out, COLUMNS,
           f"{repeat} repetition(s) per case, medians; spread = (max - min) / median; "
           "cpu_s: CPU seconds of every process of the side (MPI: both ranks, which "
           "busy-poll; workbench: client, scheduler, workers). vs_mpi: this variant's "
           "time / MPI's. MPI: " + vendor, quick=args.quick)
    bad = [r for r in rows if not r["checksum_ok"]]
    if bad:
        print(f"CHECKSUMS DIFFER from MPI's in {len(bad)} case(s): "
              f"{[(r['series'], r['chunks'], r['variant']) for r in bad]}")
        return 1
    return 0
