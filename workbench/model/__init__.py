"""The model (pure): programs as frozen data, SDF rates, fusion plans, sources, sinks and
store references. It imports nothing of the package but :mod:`workbench.errors`; what it
offers that needs a higher layer (``prog.run()``, ``op(x)``) goes through
:mod:`workbench.model.backends`, which the package face fills in.
"""

from __future__ import annotations

from . import backends, sinks, sources
from .fusion import Branching, Node, Segment, plan_segments, segments
from .graph import DEFAULT_KEY_GROUPS, Operator, Pipeline, SplitJoin, Stage, operator, splitjoin
from .refs import StoreRef
from .sdf import Solution, granularity, solve

__all__ = ["DEFAULT_KEY_GROUPS", "Branching", "Node", "Operator", "Pipeline", "Segment",
           "Solution", "SplitJoin", "Stage", "StoreRef", "backends", "granularity",
           "operator", "plan_segments", "segments", "sinks", "solve", "sources", "splitjoin"]
