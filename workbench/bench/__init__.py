"""Benchmarks (``workbench bench NAME``): measured side by side in one run, written as CSV
and printed as a table. Never assertions: the machine is shared and noisy, so each result
quotes medians over repetitions and ratios between variants measured in the same run.
"""

from __future__ import annotations

import importlib
from typing import Any

BENCHMARKS = {
    "compile": "workbench.bench.compile",   # cold compile vs artifact load (fresh process)
    "local": "workbench.bench.local",       # local engine vs hand-fused numba loop
    "stream": "workbench.bench.stream",     # Dask engine vs ceiling, futures, streamz
    "dashboard": "workbench.bench.dashboard",  # engine throughput with the dashboard on/off
    "containers": "workbench.bench.containers",  # compile in the image vs host; sizes
    "placement": "workbench.bench.placement",  # functions: all-compute/all-storage/auto
    "calls": "workbench.bench.calls",       # functions: single calls vs map vs submit loop
    "fusion": "workbench.bench.fusion",     # loop fusion vs a hand-written single loop
    "streamit": "workbench.bench.streamit",  # the StreamIt programs on both engines
    "reconfigure": "workbench.bench.reconfigure",  # live reconfiguration vs stop-and-restart
    "recovery": "workbench.bench.recovery",  # a killed worker: recovery time; checkpoint cost
    "remote": "workbench.bench.remote",     # wb.remote, .map and client.map against MPI
    "scaling": "workbench.bench.scaling",   # wb.autoscale: forecast vs reactive vs fixed
}


def run(name: str, args: Any) -> int:
    mod = importlib.import_module(BENCHMARKS[name])
    return mod.main(args)
