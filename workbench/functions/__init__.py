"""Serverless functions: ``@wb.function``, ``wb.store``, the function view.

The Dask side lives in :mod:`workbench.runtime.functions`; the cost model in
:mod:`workbench.placement.functions`. Nothing here imports Dask at module level.
"""

from __future__ import annotations

from . import store
from .function import Function, function, registry
from .refs import FunctionError, StoreError, StoreKeyError, StoreRef
from .view import records, text

__all__ = ["Function", "FunctionError", "StoreError", "StoreKeyError", "StoreRef", "function",
           "records", "registry", "store", "summary"]


def summary() -> str:
    """Every function's calls/s, placement and latest decision (``%wb functions``)."""
    return text()
