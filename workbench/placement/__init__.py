"""Placement (pure): where stage instances and function calls run.

``streams``: stream programs (``place(pipeline, workers, hints, parallelism) -> Plan``).
Hints map onto what Dask knows about its workers: addresses and resources.
"""

from __future__ import annotations

from .streams import Plan, PlacementError, Unit, place, resolve

__all__ = ["PlacementError", "Plan", "Unit", "place", "resolve"]
