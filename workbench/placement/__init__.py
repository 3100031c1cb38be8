"""Placement (pure): where stage instances and function calls run.

``streams``: stream programs (``place(pipeline, workers, hints, parallelism) -> Plan``).
Hints map onto what Dask knows about its workers: addresses and resources.
"""

from __future__ import annotations

from .functions import Decision, Env, Placer
from .streams import PlacementError, Plan, Unit, place, resolve

__all__ = ["Decision", "Env", "PlacementError", "Placer", "Plan", "Unit", "place", "resolve"]
