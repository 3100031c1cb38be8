"""Live views in JupyterLab: ipywidgets and plotly ``FigureWidget`` s.

This package is the only place that imports ipywidgets and plotly (callers import it
lazily). :class:`~.runs.Dashboard` shows one stream run (``run.dashboard()``);
:class:`~.functions.FunctionsBoard` shows serverless functions (``fn.dashboard()``,
``wb.functions.dashboard()``, ``%wb functions``). Both update from a thread of their own,
read only what the runtime records anyway, and leave a static plotly figure behind for
notebooks saved by a headless run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .display import PLOTLY_MIME, WIDGET_MIME, in_kernel
from .functions import FunctionsBoard
from .runs import Dashboard

__all__ = ["PLOTLY_MIME", "WIDGET_MIME", "Dashboard", "FunctionsBoard", "in_kernel", "show",
           "show_functions", "wait_updates"]


def show(run: Any, **options: Any) -> Dashboard | None:
    """Display ``run``'s dashboard when running in a Jupyter kernel; else do nothing.

    A dashboard that cannot be built (a broken widget install) is a warning: the run
    goes on without it.
    """
    return _show(lambda: run.dashboard(**options), "the live dashboard",
                 "the run goes on; run.metrics has its data")


def show_functions(fns: list[Any] | None = None, **options: Any) -> FunctionsBoard | None:
    """Display a :class:`FunctionsBoard` in a Jupyter kernel; ``None`` elsewhere, or with a
    warning when the widgets cannot be built (the caller prints the text view then)."""
    return _show(lambda: FunctionsBoard(fns, **options), "the function board",
                 "the text view follows")


def _show(make: Callable[[], Any], what: str, then: str) -> Any:
    if not in_kernel():
        return None
    from IPython.display import display

    try:
        board = make()
    except Exception as exc:  # noqa: BLE001 - the work matters more than its view
        import warnings

        warnings.warn(f"{what} could not be shown: {type(exc).__name__}: {exc}\n"
                      f"Fix: pip install -U ipywidgets plotly anywidget ({then}).",
                      stacklevel=4)
        return None
    display(board)
    return board


def wait_updates(board: Dashboard | FunctionsBoard, n: int, timeout: float = 10.0) -> int:
    """Block until ``board`` has updated ``n`` more times (for scripts and tests)."""
    start, deadline = board.updates, time.monotonic() + timeout
    while board.updates < start + n and time.monotonic() < deadline:
        time.sleep(0.01)
    return board.updates - start
