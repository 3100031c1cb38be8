"""workbench: compiled stream operators and serverless functions from notebook cells.

>>> import numpy as np, workbench as wb
>>> @wb.operator
... def scale(x):
...     return x * 2.0
>>> run = (wb.sources.array(np.arange(4.0), batch_size=2) >> scale).run(engine="local")
>>> run.wait().output
array([0., 2., 4., 6.])
"""

from __future__ import annotations

from . import sinks, sources
from .errors import CompileError, GraphError, OperatorError, RateError, RunError, WorkbenchError
from .functions import Function, FunctionError, StoreKeyError, StoreRef, function, store
from .graph import Operator, Pipeline, SplitJoin, operator, splitjoin
from .placement import PlacementError

__version__ = "0.1.0"

__all__ = ["CompileError", "Function", "FunctionError", "GraphError", "Operator",
           "OperatorError", "Pipeline", "PlacementError", "RateError", "RunError", "SplitJoin",
           "StoreKeyError", "StoreRef", "WorkbenchError", "cluster", "function",
           "load_ipython_extension", "operator", "sinks", "sources", "splitjoin", "store"]


def cluster(address: str | None = None, **kwargs):  # noqa: ANN201 - returns a Session
    """The Dask cluster session (see :func:`workbench.runtime.cluster.cluster`)."""
    from .runtime.cluster import cluster as _cluster

    return _cluster(address, **kwargs)


def load_ipython_extension(ipython):  # noqa: ANN001 - IPython's hook
    """``%load_ext workbench``: registers ``%%stream`` and ``%wb``."""
    from .magics import register

    register(ipython)
