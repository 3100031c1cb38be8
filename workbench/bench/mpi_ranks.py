"""The MPI side of ``workbench bench remote``, run as ``mpiexec -n 2 python -m
workbench.bench.mpi_ranks PLAN.json``: rank 0 measures and writes one JSON object of rows
to stdout.

- ``latency``: a one-double ping-pong between rank 0 and rank 1 (buffer ``Send``/``Recv``,
  MPICH's receives busy-poll), the median round trip;
- ``grid``: for each case (chunks, size, series, repetition) both ranks start at a
  barrier; rank 0 keeps the even chunks and rank 1 the odd ones. ``generated``: each rank
  makes and computes its chunks and the checksums are reduced to rank 0 (only compute and
  one reduction travel). ``scatter``: rank 0 holds every chunk; it sends rank 1's (one
  message per chunk, non-blocking), computes its own, and receives rank 1's results (one
  message per chunk): scatter, compute, gather. Wall time on rank 0 from the barrier to
  the last result; CPU time (``process_time``) of both ranks summed.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from ..workloads.chunks import chunk, generated, kernel


def _latency(comm, rounds: int) -> float:
    buf = np.zeros(1)
    rank = comm.Get_rank()
    times = []
    comm.Barrier()
    for _ in range(rounds):
        if rank == 0:
            t = time.perf_counter()
            comm.Send(buf, dest=1, tag=1)
            comm.Recv(buf, source=1, tag=2)
            times.append(time.perf_counter() - t)
        else:
            comm.Recv(buf, source=0, tag=1)
            comm.Send(buf, dest=0, tag=2)
    return statistics.median(times) if rank == 0 else 0.0


def _generated(comm, seed: int, n: int, size: int) -> float:
    rank = comm.Get_rank()
    total = sum(generated(seed, i, size) for i in range(rank, n, 2))
    return comm.reduce(total, root=0)


def _scatter(comm, data: np.ndarray | None, n: int, size: int) -> float:
    from mpi4py import MPI

    rank = comm.Get_rank()
    if rank == 0:
        reqs = [comm.Isend(data[i], dest=1, tag=i) for i in range(1, n, 2)]
        out = np.empty((n, size))
        for i in range(0, n, 2):
            out[i] = kernel(data[i])
        for i in range(1, n, 2):
            comm.Recv(out[i], source=1, tag=i)
        MPI.Request.Waitall(reqs)
        return float(out.sum())
    buf = np.empty(size)
    for i in range(1, n, 2):
        comm.Recv(buf, source=0, tag=i)
        comm.Send(kernel(buf), dest=0, tag=i)
    return 0.0


def main(plan_path: str) -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        print(json.dumps({"error": f"run with 2 ranks, got {comm.Get_size()}"}))
        return 2
    plan = json.loads(open(plan_path).read())
    rank = comm.Get_rank()
    rows = []
    rtt = _latency(comm, plan.get("latency_rounds", 10_000))
    rows.append({"kind": "latency", "side": "mpi", "variant": "mpi", "rtt_us": rtt * 1e6})
    seed = plan["seed"]
    _generated(comm, seed, 2, 100)                  # warm: first numpy calls, first sends
    _scatter(comm, np.stack([chunk(seed, i, 100) for i in range(2)]) if rank == 0 else None,
             2, 100)
    for n, size in plan["cases"]:
        data = None
        if rank == 0 and "scatter" in plan["series"]:
            data = np.stack([chunk(seed, i, size) for i in range(n)])
        for rep in range(plan["repeat"]):
            for series in plan["series"]:
                comm.Barrier()
                c0, t0 = time.process_time(), time.perf_counter()
                check = (_generated(comm, seed, n, size) if series == "generated"
                         else _scatter(comm, data, n, size))
                wall = time.perf_counter() - t0
                cpu = comm.reduce(time.process_time() - c0, root=0)
                if rank == 0:
                    rows.append({"kind": "grid", "side": "mpi", "variant": "mpi",
                                 "series": series, "chunks": n, "size": size, "rep": rep,
                                 "seconds": wall, "cpu_s": cpu, "checksum": check})
    if rank == 0:
        print(json.dumps({"rows": rows, "vendor": MPI.Get_library_version().splitlines()[0]}))
    return 0


if __name__ == "__main__":  # pragma: no cover - run by mpiexec
    sys.exit(main(sys.argv[1]))
