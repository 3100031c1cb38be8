"""Workloads for function placement: k-hop queries on R-MAT graph partitions kept in the
store, a compute-heavy function on small inputs, a mix of both, and a short mix of single
calls in bursts (:mod:`.runner`)."""

from __future__ import annotations

from . import heavy, rmat
from .runner import (
    POLICIES,
    Part,
    Workload,
    compare,
    heavy_workload,
    khop_workload,
    mixed_workload,
    run,
    short_workload,
    warm,
)

__all__ = ["POLICIES", "Part", "Workload", "compare", "heavy", "heavy_workload", "rmat",
           "khop_workload", "mixed_workload", "run", "short_workload", "warm"]
