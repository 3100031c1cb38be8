"""Placement (pure): where stage instances and function calls run.

``hints``: the hint vocabulary (``"compute"``, ``"storage"``, an address, resources);
``streams``: stream programs (``place(pipeline, workers, hints, parallelism) -> Plan``);
``functions``: serverless calls (the cost model: a side and its reasons per batch).
Hints map onto what Dask knows about its workers: addresses and resources.
"""

from __future__ import annotations

from .functions import Decision, Env, Placer
from .hints import check, parse, resolve
from .streams import Plan, Unit, place

__all__ = ["Decision", "Env", "Placer", "Plan", "Unit", "check", "parse", "place", "resolve"]
