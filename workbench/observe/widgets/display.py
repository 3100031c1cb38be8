"""What both live views share: where they can show, and how they are displayed."""

from __future__ import annotations

import threading
import time
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend can show widgets)."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display_board(board: Any, label: str) -> None:
    """The live widget, then the static figure (now if final, else filled in later)."""
    from IPython.display import display

    for delay in (0.5, 2.0):
        timer = threading.Timer(delay, board._fit)
        timer.daemon = True
        timer.start()
    display({WIDGET_MIME: {"model_id": board.box.model_id, "version_major": 2,
                           "version_minor": 0}, "text/plain": label}, raw=True)
    with board._lock:
        if board._final is not None:
            display(board._final, raw=True)
        else:     # filled in with the static figure when the board ends
            board._handles.append(display({"text/plain": ""}, raw=True, display_id=True))


class LiveBoard:
    """What both live views share: a thread that redraws at a fixed rate (``refresh()``
    every ``interval`` seconds) until the view's subject ends (``_over()``) or it is
    stopped; and, at the end, one last drawing, frozen controls and the static output
    (``static()``) filled in wherever the view was displayed."""

    _final: dict | None
    _handles: list
    error: BaseException | None
    interval: float

    def _start(self, name: str) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)
        self._thread.start()

    def _loop(self) -> None:
        due = time.monotonic()
        while True:             # a fixed rate: the refresh time does not add to the period
            due = max(due + self.interval, time.monotonic() + 0.05)
            if self._stop.wait(due - time.monotonic()) or self._over():
                return
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - shown in the widget, the loop goes on
                self.error = exc
                self._show_error(exc)

    def _finalize(self) -> None:
        self._stop.set()
        with self._lock:
            if self._final is not None:
                return
            try:
                self._last_refresh()
            except Exception as exc:  # noqa: BLE001 - keep what was drawn
                self.error = exc
            self._freeze()
            self._final = self.static()
            for handle in self._handles:
                handle.update(self._final, raw=True)
