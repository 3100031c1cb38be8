"""Serverless functions: ``@wb.function``, ``wb.store``, the function view.

The Dask side lives in :mod:`workbench.runtime.functions`; the cost model in
:mod:`workbench.placement.functions`. Nothing here imports Dask at module level.
"""

from __future__ import annotations

from typing import Any

from . import store
from .function import Function, function, registry
from .refs import FunctionError, StoreError, StoreKeyError, StoreRef
from .view import records, text

__all__ = ["Function", "FunctionError", "StoreError", "StoreKeyError", "StoreRef", "dashboard",
           "function", "records", "registry", "store", "summary"]


def summary() -> str:
    """Every function's calls/s, placement and latest decision (``%wb functions``)."""
    return text()


def dashboard(window: float = 60.0, interval: float = 0.5) -> Any:
    """The live function board of every function, including those defined after it opens
    (:class:`workbench.widgets.FunctionsBoard`): calls/s per function over the last
    ``window`` seconds, placement, the latest decision and its reasons.
    ``board.close()`` stops it."""
    from ..widgets import FunctionsBoard

    return FunctionsBoard(None, window=window, interval=interval)
