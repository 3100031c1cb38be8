"""The live function board: calls/s per function, placement and the latest decision.

A :class:`FunctionsBoard` (``fn.dashboard()``, ``wb.functions.dashboard()``, ``%wb
functions`` in a kernel) reads what the function runtime records anyway; see its
docstring.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from ...functions.view import WINDOW_S
from .. import html as H
from .display import PLOTLY_MIME, LiveBoard, display_board

BIN_S = 0.5          # the function board's calls/s bins
NOW_S = WINDOW_S     # its "calls/s now": over the last 10 s, as the text view says


class FunctionsBoard(LiveBoard):
    """Live view of serverless functions: ``wb.functions.dashboard()`` (all of them, and
    those defined after it opened) or ``fn.dashboard()`` (one).

    - a summary line: functions, calls, calls/s now, the Dask dashboard link;
    - a chart (plotly ``FigureWidget``): calls/s per function over a rolling ``window``,
      one trace per function, or one per function and side (storage solid, compute
      dotted: the toggle above it); a chunk's calls are spread over its run;
    - a table, one row per function: placement setting, calls, calls/s now (last 10 s) and
      overall, calls by side, the latest decision (side, phase, estimated finish on each
      side, its reason), numba or why plain Python, errors;
    - once ``wb.autoscale`` scales the session's compute workers, its line (policy, workers
      asked and present, the measured worker start time, the last interval's arrivals,
      forecast and p99 against the SLO) and a chart over the same window: arrival rate and
      forecast, workers asked and present, p99 latency per interval against the SLO (the
      autoscaler's ``history``, read as it grows).

    The board of all functions shows every name defined so far; the chart counts the calls
    of every version of a name, and the table shows the version decided last (a copy made
    by ``fn.with_placement``, as a benchmark makes one per policy, while it is alive).

    A thread of its own updates it every ``interval`` seconds (at most 0.5), reading what
    the functions runtime records anyway (its log of completed calls, newest first, back
    to the window's start; the placer's profiles and decisions) and never asking the
    workers: calls pay nothing for it. It stops at :meth:`close` or when the cluster
    session closes, keeping its final picture, and then fills in a static plotly figure
    below the widget (what a notebook saved by a headless run keeps).
    """

    def __init__(self, fns: list[Any] | None = None, window: float = 60.0,
                 interval: float = 0.5) -> None:
        import ipywidgets as W
        import plotly.graph_objects as go

        from ...runtime.cluster import current
        from ..function_view import name_of

        self.window = max(float(window), 2 * BIN_S)
        self.interval = min(max(float(interval), 0.05), 0.5)
        self._fixed = None if fns is None else list(fns)
        tokens = None if fns is None else {f.token: f.name for f in self._fixed}
        self._key_of = name_of if tokens is None else tokens.get
        self.session = current()
        self.t_open = time.time()
        self.updates = 0
        self.error: BaseException | None = None
        self.rows: list[dict] = []
        self.now: dict[str, float] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._final: dict | None = None
        self._handles: list[Any] = []
        self._keys: list[tuple[str, str]] = []
        self._drawn: tuple[list[float], dict] = ([], {})
        self.summary = W.HTML()
        self.mode = W.ToggleButtons(options=[("per function", False), ("per side", True)],
                                    value=False, style={"button_width": "120px"},
                                    tooltips=["one trace per function", "storage side solid, "
                                              "compute side dotted"])
        self.figure = go.FigureWidget(self._empty(go))
        self.figure._config = {"displaylogo": False, "responsive": True}
        self.table = W.HTML()
        self.scaling_line = W.HTML()
        self.scaling: Any = None            # its FigureWidget, once an autoscaler runs
        self._scaler: Any = None
        self._scaling_drawn: dict | None = None
        self.box = W.VBox([self.summary, self.mode, self.figure, self.table],
                          layout=W.Layout(width="100%"))
        self.box.add_class("wb-functions-board")
        self.mode.observe(lambda _change: self.refresh(), names="value")
        self.refresh()
        self._start("wb-functions-board")

    def _empty(self, go: Any, height: int = 320) -> Any:
        fig = go.Figure()
        fig.update_layout(template="plotly_white", height=height, uirevision="wb",
                          margin=dict(l=60, r=10, t=30, b=40), hovermode="x unified",
                          legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
        fig.update_yaxes(title_text="calls/s", rangemode="tozero")
        fig.update_xaxes(title_text="seconds since the board opened")
        return fig

    def functions(self) -> list[Any]:
        """The functions shown: the given ones, or every function defined so far."""
        from ...functions.catalog import registry

        return list(self._fixed) if self._fixed is not None else registry()

    def _traces(self, keys: list[tuple[str, str]]) -> list[Any]:
        import plotly.graph_objects as go
        from plotly.colors import qualitative

        names = list(dict.fromkeys(k[0] for k in keys))
        pal = qualitative.Plotly
        out = []
        for name, side in keys:
            color = pal[names.index(name) % len(pal)]
            out.append(go.Scatter(
                name=name if side == "all" else f"{name} · {side}", legendgroup=name,
                mode="lines", x=[], y=[], hovertemplate="%{y:.3s} calls/s",
                line=dict(color=color, width=2, dash="dot" if side == "compute" else "solid")))
        return out

    def _scaling_figure(self, go: Any, fig: Any = None, first: int = 1) -> Any:
        """The scaling chart's three rows (from row ``first`` of ``fig``, a new figure of
        its own when ``None``) and its six empty traces."""
        from plotly.subplots import make_subplots

        if fig is None:
            fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                                row_heights=[0.4, 0.3, 0.3])
            fig.update_layout(template="plotly_white", height=420, uirevision="wb-scaling",
                              margin=dict(l=60, r=10, t=20, b=40), hovermode="x unified",
                              legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
            fig.update_xaxes(title_text="seconds since the board opened", row=3, col=1)
        r = first
        specs = [("arrivals", r, dict(color="black", width=1.5), "lines"),
                 ("forecast", r, dict(color="crimson", dash="dot", width=2), "lines"),
                 ("workers asked", r + 1, dict(color="#ef6c00", dash="dash", shape="hv"),
                  "lines"),
                 ("workers present", r + 1, dict(color="#1565c0", shape="hv"), "lines"),
                 ("p99 latency", r + 2, dict(color="#6a1b9a"), "lines+markers"),
                 ("SLO", r + 2, dict(color="gray", dash="dash"), "lines")]
        for name, row, line, mode in specs:
            fig.add_trace(go.Scatter(name=name, mode=mode, x=[], y=[], line=line,
                                     marker=dict(size=3)), row=row, col=1)
        fig.update_yaxes(title_text="calls/s", rangemode="tozero", row=r, col=1)
        fig.update_yaxes(title_text="workers", rangemode="tozero", dtick=1, row=r + 1, col=1)
        fig.update_yaxes(title_text="p99 ms", rangemode="tozero", row=r + 2, col=1)
        return fig

    def _refresh_scaling(self, start: float, end: float) -> None:
        """The scaling line and chart, shown once the session has an autoscaler."""
        import plotly.graph_objects as go

        from ..function_view import scaling_series, scaling_state

        scaler = getattr(self.session, "scaler", None)
        if scaler is None:
            return
        if self.scaling is None:
            self.scaling = go.FigureWidget(self._scaling_figure(go))
            self.scaling._config = {"displaylogo": False, "responsive": True}
            self.box.children = (self.summary, self.mode, self.figure, self.scaling_line,
                                 self.scaling, self.table)
        self._scaler = scaler
        s = scaling_series(scaler.rows, scaler.t0 - self.t_open, start, end)
        slo = scaler.slo_s * 1e3
        s["slo"] = [slo, slo]
        self._scaling_drawn = s
        self._fill_scaling(self.scaling, s, start, end)
        self.scaling_line.value = H.scaling_html(scaling_state(scaler))

    @staticmethod
    def _fill_scaling(fig: Any, s: dict, start: float, end: float, first: int = 0) -> None:
        """Set the scaling traces (from trace ``first``; ``0``: the widget). ``nan`` (a
        reactive policy's forecast, an interval where no call finished) becomes ``None``,
        a gap: a widget message with ``nan`` is not valid JSON and is dropped."""
        cols = ("rate", "forecast", "asked", "present", "p99_ms")
        widget = first == 0
        with fig.batch_update():
            for i, col in enumerate(cols):
                fig.data[first + i].x = list(s["time"])
                fig.data[first + i].y = [None if v != v else v for v in s[col]]
            fig.data[first + 5].x, fig.data[first + 5].y = [start, end], list(s["slo"])
            if widget:
                fig.update_xaxes(range=[start, max(end, start + BIN_S)])

    # --- updates ---------------------------------------------------------------------------
    def _over(self) -> bool:
        if self.session is not None and self.session.closed:
            self._finalize()
            return True
        return False

    def _show_error(self, exc: BaseException) -> None:
        self.summary.value = H.events_html([], f"function board update failed: {exc!r}")

    def _runtime(self) -> Any:
        from ...runtime.cluster import current
        from ...runtime.functions import runtime_of

        if self.session is None:           # opened before the cluster: follow the first
            self.session = current()
        return runtime_of(self.session)

    def refresh(self, final: bool = False) -> None:
        """Read the runtime once and redraw (the thread calls this every tick)."""
        from ...functions.view import current_versions
        from ..function_view import rate_series, recent_done, snapshot

        with self._lock:
            if self._final is not None:
                return
            rt = self._runtime()
            fns = self.functions()
            names = list(dict.fromkeys(f.name for f in fns))
            per_side = bool(self.mode.value)
            keys = [(n, s) for n in names for s in (("storage", "compute") if per_side
                                                     else ("all",))]
            end = math.floor((time.time() - self.t_open) / BIN_S) * BIN_S
            start = end - self.window
            entries = [(t - self.t_open, k, n, s, w) for t, k, n, s, w
                       in recent_done(rt, self.t_open + start, self._key_of)]
            x, series = rate_series(entries, start, end, BIN_S, per_side)
            k_now = max(int(NOW_S / BIN_S), 1)
            self.now = {n: sum(sum(series.get((n, s), [])[-k_now:]) for s in
                               ("storage", "compute", "all")) / k_now for n in names}
            self.rows = snapshot(fns if self._fixed is not None
                                 else current_versions(fns, rt), rt)
            self._drawn = (x, series)
            fig = self.figure
            with fig.batch_update():
                if keys != self._keys:
                    fig.data = fig.data[:0]
                    fig.add_traces(self._traces(keys))
                    self._keys = keys
                self._fill(fig, x, series, keys, lists=False)
                fig.layout.xaxis.range = [start, max(end, start + BIN_S)]
            self._refresh_scaling(start, end)
            state = "closed" if final else "live"
            self.summary.value = H.functions_summary_html(
                len(names), sum(r["calls"] for r in self.rows), sum(self.now.values()),
                state, getattr(self.session, "dashboard_link", None))
            self.table.value = H.functions_html(self.rows, self.now)
            self.updates += 1

    @staticmethod
    def _fill(fig: Any, x: list[float], series: dict, keys: list[tuple[str, str]],
              lists: bool) -> None:
        import numpy as np

        for i, key in enumerate(keys):
            y = series.get(key) or [0.0] * len(x)
            fig.data[i].x, fig.data[i].y = ((list(x), list(y)) if lists else
                                            (np.asarray(x), np.asarray(y)))

    # --- the end ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop updating; the widget keeps its final picture and the static figure is
        filled in below it."""
        self._stop.set()
        self._finalize()

    @property
    def closed(self) -> bool:
        return self._final is not None

    def _last_refresh(self) -> None:
        self.refresh(final=True)

    def _freeze(self) -> None:
        self.mode.disabled = True

    def static(self) -> dict:
        """What the board shows as a static plotly figure (a mimebundle with a text
        fallback): the chart as drawn last, the table as text."""
        import plotly.graph_objects as go
        import plotly.io as pio
        from plotly.subplots import make_subplots

        from ...functions.view import rows_text
        from ..function_view import scaling_state, scaling_text

        scaled = self._scaling_drawn is not None
        fig = go.Figure(self._empty(go))
        if scaled:                  # the scaling chart's rows below the calls/s chart
            fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                                row_heights=[0.34, 0.26, 0.2, 0.2], figure=fig)
            fig.update_layout(height=760)
            fig.update_xaxes(title_text="", row=1, col=1)
            fig.update_xaxes(title_text="seconds since the board opened", row=4, col=1)
            fig.update_yaxes(title_text="calls/s", row=1, col=1)
        for t in self._traces(self._keys):
            fig.add_trace(t, **({"row": 1, "col": 1} if scaled else {}))
        x, series = self._drawn
        self._fill(fig, x, series, self._keys, lists=True)
        text_scaling = ""
        if scaled:
            n = len(fig.data)
            self._scaling_figure(go, fig, first=2)
            s = self._scaling_drawn
            self._fill_scaling(fig, s, *(x[:1] + [x[-1] + BIN_S] if x else [0.0, BIN_S]),
                               first=n)
            text_scaling = "\n" + scaling_text(scaling_state(self._scaler))
        calls = sum(r["calls"] for r in self.rows)
        title = f"functions: {len(self.rows)} function(s), {calls:,} calls"
        fig.update_layout(title=dict(text=title, font=dict(size=12), y=0.99),
                          margin=dict(t=60))
        data = json.loads(pio.to_json(fig, validate=False))
        data["config"] = {"displaylogo": False, "responsive": True}
        text = rows_text(self.rows) or "no functions defined yet (@wb.function or %%function)."
        return {PLOTLY_MIME: data, "text/plain": text + text_scaling}

    # --- display ---------------------------------------------------------------------------
    def _fit(self) -> None:
        with self._lock:
            self.figure.layout.autosize = False
            self.figure.layout.autosize = True

    def _ipython_display_(self) -> None:
        display_board(self, "function board (live view: needs a running kernel)")

    def __repr__(self) -> str:
        state = "closed" if self._final is not None else "live"
        return f"<FunctionsBoard [{state}] {len(self.rows)} function(s), {self.updates} update(s)>"
