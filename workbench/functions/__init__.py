"""Serverless functions, the API: ``@wb.function``, ``wb.store``, the function view, and
existing code on the cluster: ``wb.remote``, ``wb.offload``, expression trees.

The Dask side lives in :mod:`workbench.runtime.functions`; the cost model in
:mod:`workbench.placement.functions`; the live board in :mod:`workbench.observe.widgets`.
Nothing here imports Dask at module level.
"""

from __future__ import annotations

from typing import Any

from ..model import backends
from . import store
from .catalog import registry
from .function import Function, function
from .offload import Offload, offload
from .remote import RemoteFunction, RemoteLibrary, RemoteModule, remote
from .trees import Lazy, TreeRun
from .view import records, text

__all__ = ["Function", "Lazy", "Offload", "RemoteFunction", "RemoteLibrary", "RemoteModule",
           "TreeRun", "calibrate", "dashboard", "function", "offload", "records", "registry",
           "remote", "store", "summary"]


def summary() -> str:
    """Every function's calls/s, placement and latest decision (``%wb functions``)."""
    return text()


def calibrate() -> None:
    """Measure latency and transfer rate between storage and compute workers now (``auto``
    placement does it before its first decision; benchmarks do it before timing)."""
    from ..runtime.functions import runtime

    runtime().calibrate()


def dashboard(window: float = 60.0, interval: float = 0.5) -> Any:
    """The live function board of every function, including those defined after it opens
    (:class:`workbench.observe.widgets.FunctionsBoard`): calls/s per function over the last
    ``window`` seconds, placement, the latest decision and its reasons.
    ``board.close()`` stops it."""
    return backends.backend("view", "functions-board")(None, window=window,
                                                      interval=interval)
