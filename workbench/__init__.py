"""workbench: compiled stream operators and serverless functions from notebook cells.

This module is the public API and the one place that wires the layers together: it
installs the engines, the operator compiler and the views into
:mod:`workbench.model.backends`, lazily (nothing heavy is imported until it is used), so
that ``prog.run()``, ``op(x)``, ``run.dashboard()`` and ``fn.dashboard()`` work without the
model, the runtime or the functions API importing the layers above them.

>>> import numpy as np, workbench as wb
>>> @wb.operator
... def scale(x):
...     return x * 2.0
>>> run = (wb.sources.array(np.arange(4.0), batch_size=2) >> scale).run(engine="local")
>>> run.wait().output
array([0., 2., 4., 6.])
"""

from __future__ import annotations

from typing import Any

from .errors import (
    CellError,
    CompileError,
    ContainerError,
    FunctionError,
    GraphError,
    OperatorError,
    PlacementError,
    RateError,
    RemoteCrash,
    RunError,
    StoreError,
    StoreKeyError,
    WorkbenchError,
)
from .functions import Function, autoscale, function, offload, remote, store
from .model import backends, sinks, sources
from .model.graph import Operator, Pipeline, SplitJoin, operator, splitjoin
from .model.refs import StoreRef
from .runtime import faults

__version__ = "0.1.0"

__all__ = ["CellError", "CompileError", "ContainerError", "Function", "FunctionError",
           "GraphError", "Operator", "OperatorError", "Pipeline", "PlacementError", "RateError",
           "RemoteCrash", "RunError", "SplitJoin", "StoreError", "StoreKeyError", "StoreRef",
           "WorkbenchError", "autoscale", "cluster", "faults", "function", "functions",
           "load_ipython_extension", "offload", "operator", "remote", "sinks", "sources",
           "splitjoin", "store"]


def cluster(address: str | None = None, **kwargs: Any) -> Any:
    """The Dask cluster session (see :func:`workbench.runtime.cluster.cluster`)."""
    from .runtime.cluster import cluster as _cluster

    return _cluster(address, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext workbench``: registers ``%%stream``, ``%%function``, ``%wb``,
    ``%offload`` and binds
    ``wb`` in the user namespace (as the workbench kernel does)."""
    import sys

    from .notebook.magics import register

    ipython.user_ns.setdefault("wb", sys.modules[__name__])
    register(ipython)


# --- wiring: the backends the lower layers look up by name ------------------------------

def _dask_engine(pipeline: Any, **kw: Any) -> Any:
    from .runtime import dask_run

    return dask_run(pipeline, **kw)


def _local_engine(pipeline: Any, **kw: Any) -> Any:
    from .runtime import local_run

    return local_run(pipeline, **kw)


def _operator_compiler(op: Any) -> Any:
    from .compile import compiled_operator

    return compiled_operator(op)


def _show_run(run: Any) -> Any:
    from .observe.widgets import show

    return show(run)


def _run_dashboard(run: Any, **options: Any) -> Any:
    from .observe.widgets import Dashboard

    return Dashboard(run, **options)


def _functions_board(fns: list | None, **options: Any) -> Any:
    from .observe.widgets import FunctionsBoard

    return FunctionsBoard(fns, **options)


backends.install("engine", "dask", _dask_engine)
backends.install("engine", "local", _local_engine)
backends.install("compiler", "operator", _operator_compiler)
backends.install("view", "show-run", _show_run)
backends.install("view", "run-dashboard", _run_dashboard)
backends.install("view", "functions-board", _functions_board)
