"""The live dashboard of a run: ipywidgets and a plotly ``FigureWidget``.

A :class:`Dashboard` (``run.dashboard()``) shows

- a summary line: status, records read, records/s now and on average, records out,
  elapsed time and the Dask dashboard link;
- a chart (plotly ``FigureWidget``): records/s and mean batch latency per stage over a
  rolling window, one trace per stage with parallel instances summed, or one per
  instance (the toggle above the chart); the legend hides and shows stages;
- the placement graph, left to right: source, units (instances and their workers,
  routing, fused segments, inbox depth), channels (batches in flight), sink;
- the event log (started, compiled, epochs, leftovers, reconfiguration phases, failures
  with their message);
- a button that stops the run;
- on the Dask engine, while the run goes on, its configuration: per stage a parallelism
  stepper and a place (compute, storage or a worker), and an Apply button that calls
  ``run.reconfigure`` (live, or the restart baseline); each switch to a new plan is
  marked on the chart, and the placement graph redraws with the new units and fused
  segments.

It updates from a thread of its own every ``interval`` seconds (0.25 by default: the
time axis and the summary move on every tick, the traces whenever the engine's metrics
poll brings new rows, twice a second), so the kernel stays free to run other cells. It
reads what the run records anyway (``run.plan``; the metric rows, channel rows and events
recorded since its last update, ``run.metric_rows(n)``, ``run.channel_rows(n)`` and
``run.event_rows(n)``, so an update costs the same an hour into a run as in its first
second): nothing is added to the engine's hot path. When the run ends (``run.on_finish``,
before ``run.wait()`` returns) it draws the final data from ``run.metrics`` once and
stops; it then also fills in a static plotly figure of the whole run below the widget,
which a notebook saved by a headless run (nbclient, CI) keeps: a ``FigureWidget`` saves
only its initial data.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from .. import controls as C
from .. import html as H
from .. import run_view as M
from .display import PLOTLY_MIME, LiveBoard, display_board


class Dashboard(LiveBoard):
    """Live view of one run (see the module docstring). ``run.dashboard()`` makes one.

    Parameters
    ----------
    run : Run
        A running or finished run of either engine.
    window : float
        Seconds of history the live chart shows.
    interval : float
        Seconds between updates (at most 0.5: the dashboard updates at least twice a
        second).
    """

    def __init__(self, run: Any, window: float = 60.0, interval: float = 0.25) -> None:
        import ipywidgets as W
        import plotly.graph_objects as go

        self.run, self.window = run, float(window)
        self.interval = min(max(float(interval), 0.05), 0.5)
        self.layout = M.layout_of(run)
        self.name = run.name or "run"
        self.updates = 0                 # ticks that changed the view
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._dirty = True
        self._per_instance = False
        self.tracker = M.Tracker(self.layout, self.window + 5.0)
        self.log = M.EventLog()
        self._handles: list[Any] = []
        self._final: dict | None = None
        self.summary = W.HTML()
        self.mode = W.ToggleButtons(options=[("instances summed", False),
                                             ("per instance", True)], value=False,
                                    style={"button_width": "150px"},
                                    tooltips=["one trace per stage",
                                              "one trace per stage instance"])
        self.stop_button = W.Button(description="Stop run", icon="stop",
                                    tooltip="run.stop(): stop reading the source; batches "
                                            "in flight drain to the sink")
        self.figure = go.FigureWidget(self._empty(go))
        self.figure._config = {"displaylogo": False, "responsive": True}
        self.placement = W.HTML()
        self.events = W.HTML()
        self._plan = getattr(run, "plan", None)
        self._marks: list[tuple[float, str]] = []
        self.controls = self._controls(W)
        self.box = W.VBox([self.summary, W.HBox([self.mode, self.stop_button]), self.figure,
                           self.placement, self.controls, self.events],
                          layout=W.Layout(width="100%"))
        self.box.add_class("wb-dashboard")
        self.mode.observe(self._on_mode, names="value")
        self.stop_button.on_click(self._on_stop)
        self._traces(False)
        self.refresh()
        if run.done:
            self._finalize()
        else:
            self._start(f"wb-dashboard-{self.name}")
            run.on_finish(lambda _run: self._finalize())

    # --- figure ----------------------------------------------------------------------------
    def _empty(self, go: Any, height: int = 420) -> Any:
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                            row_heights=[0.6, 0.4])
        fig.update_layout(template="plotly_white", height=height, uirevision="wb",
                          margin=dict(l=60, r=10, t=30, b=40),
                          legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
                          hovermode="x unified")
        fig.update_yaxes(title_text="records/s", rangemode="tozero", row=1, col=1)
        fig.update_yaxes(title_text="batch latency (ms)", rangemode="tozero", row=2, col=1)
        fig.update_xaxes(title_text="seconds since start", row=2, col=1)
        return fig

    def _series_keys(self, per_instance: bool) -> list[tuple[str, str]]:
        keys = []
        for u in self.layout.units:
            inst = [f"#{i}" for i in range(u.parallelism)] if per_instance else ["all"]
            keys += [(s, i) for s in u.stages for i in inst]
        return keys

    def _instance_label(self, stage: str, inst: str) -> str:
        unit = next(u for u in self.layout.units if stage in u.stages)
        return f"{stage} {inst} @ {H.short(unit.workers[int(inst[1:])])}"

    def _trace_pairs(self, per_instance: bool) -> list[tuple[Any, Any]]:
        import plotly.graph_objects as go
        from plotly.colors import qualitative

        palette = qualitative.Plotly
        colors = {s: palette[i % len(palette)] for i, s in enumerate(self.layout.stages)}
        pairs, shown = [], set()
        for k, (stage, inst) in enumerate(self._series_keys(per_instance)):
            name = stage if inst == "all" else self._instance_label(stage, inst)
            dash = "solid" if inst == "all" else ["solid", "dot", "dash", "dashdot"][k % 4]
            line = dict(color=colors[stage], dash=dash, width=2)
            first = name not in shown
            shown.add(name)
            pairs.append((
                go.Scatter(name=name, legendgroup=name, mode="lines", line=line, x=[], y=[],
                           showlegend=first, hovertemplate="%{y:.3s} records/s"),
                go.Scatter(name=name, legendgroup=name, mode="lines", line=line, x=[], y=[],
                           showlegend=False, hovertemplate="%{y:.3f} ms")))
        return pairs

    def _traces(self, per_instance: bool) -> None:
        """(Re)build the traces: rate traces first (row 1), then latency (row 2)."""
        pairs = self._trace_pairs(per_instance)
        fig = self.figure
        with fig.batch_update():
            fig.data = fig.data[:0]
            if pairs:
                n = len(pairs)
                fig.add_traces([p[0] for p in pairs] + [p[1] for p in pairs],
                               rows=[1] * n + [2] * n, cols=[1] * (2 * n))
        self._keys = self._series_keys(per_instance)
        self._per_instance = per_instance
        self._dirty = True

    @staticmethod
    def _fill(fig: Any, series: dict, keys: list[tuple[str, str]], lists: bool = False) -> None:
        """Series into the traces: numpy arrays for the widget (binary buffers), plain
        lists for a static figure (readable by any plotly.js)."""
        n = len(keys)
        for i, key in enumerate(keys):
            s = series.get(key)
            cols = [[], [], []] if s is None else [s.t, s.records_per_s, s.latency_ms]
            x, rate, lat = ([a if isinstance(a, list) else a.tolist() for a in cols]
                            if lists else cols)
            fig.data[i].x, fig.data[i].y = x, rate
            fig.data[n + i].x, fig.data[n + i].y = x, lat

    # --- updates ---------------------------------------------------------------------------
    def _over(self) -> bool:
        return self.run.done        # (run.on_finish draws the final picture)

    def _show_error(self, exc: BaseException) -> None:
        self.events.value = H.events_html([], f"dashboard update failed: {exc!r}")

    def _data(self, live: bool) -> tuple[M.Rows, list[tuple], int, int, bool]:
        """Rows to draw, channel rows, records read and out, and whether anything is new:
        while live, only the rows and events recorded since the last update are read; at
        the end, the whole (sorted) history once."""
        run = self.run
        if live:
            t = self.tracker
            new = t.feed(run.metric_rows(t.read), run.channel_rows(t.read_channels))
            new += self.log.feed(run.event_rows(self.log.read))
            records = run.source_records if run.engine == "local" else t.records
            return t.rows(), t.channels(), records, t.out, bool(new)
        rows = M.Rows.of(run.metrics)
        src, out = M.totals(rows, self.layout)
        self.log = M.EventLog()
        self.log.feed(run.event_rows())
        return rows, run.channel_rows(), run.source_records or src, out, True

    def refresh(self, live: bool | None = None) -> None:
        """Redraw from the run's data (the thread calls this every tick): the summary
        always; the traces, the time axis, placement and events when rows came in (the
        engine polls its workers twice a second), so a tick without news costs one small
        message."""
        run = self.run
        live = (not run.done) if live is None else live
        with self._lock:
            if getattr(run, "plan", None) is not self._plan:
                self._relayout()
            rows, chans, records, out, new = self._data(live)
            streaming = run.steady_records_per_s if not live and run.source_records else None
            summ = M.summarize(rows, self.layout, status=run.status, elapsed=run.elapsed,
                               records=records, out=out, live=live, streaming_per_s=streaming)
            self.summary.value = H.summary_html(self.name, run.engine, summ, self._link())
            if new or self._dirty:
                self._dirty = False
                self._draw(rows, chans, live, out)
            self.updates += 1

    def _draw(self, rows: M.Rows, chans: list[tuple], live: bool, out: int) -> None:
        end = math.ceil(float(rows.time.max()) / 0.5) * 0.5 if len(rows) else 0.0
        until = M.horizon(rows, live)
        t1 = max(min(end, until), 1.0)
        t0 = max(0.0, t1 - self.window)
        series = M.binned(rows, self.layout.stages, 0.5, per_instance=self._per_instance,
                          since=t0 - 0.5, until=until)
        fig = self.figure
        marks = C.switches(self.run.event_rows())
        with fig.batch_update():
            self._fill(fig, series, self._keys)
            fig.layout.xaxis.range = fig.layout.xaxis2.range = [t0, t1]
            if marks != self._marks:
                self._marks = marks
                self._mark(fig, marks)
        self.placement.value = H.placement_html(self.layout,
                                                M.queues(rows, chans, self.layout),
                                                self._sink(), out)
        self.events.value = H.events_html(self.log.latest(), self._error())

    def _link(self) -> str | None:
        session = getattr(self.run, "session", None)
        return getattr(session, "dashboard_link", None) if session is not None else None

    def _sink(self) -> str:
        kind = getattr(self.run, "sink_kind", None) or getattr(self.run, "sink", None)
        return kind if isinstance(kind, str) else type(kind).__name__.lower()

    def _error(self) -> str | None:
        err = self.run.error
        return None if err is None else f"{type(err).__name__}: {err}"

    @staticmethod
    def _mark(fig: Any, marks: list[tuple[float, str]]) -> None:
        """A dotted line across both charts at each switch to a new plan."""
        fig.layout.shapes = [dict(type="line", xref="x", yref="paper", x0=t, x1=t, y0=0,
                                  y1=1, line=dict(color="#6d4c41", width=1, dash="dot"))
                             for t, _ in marks]
        fig.layout.annotations = [a for a in fig.layout.annotations
                                  if not str(a.name or "").startswith("wb-switch")] + [
            dict(name=f"wb-switch-{i}", x=t, xref="x", y=1.0, yref="paper", text=label,
                 showarrow=False, xanchor="left", font=dict(size=10, color="#6d4c41"))
            for i, (t, label) in enumerate(marks)]

    def _relayout(self) -> None:
        """The run switched to a new plan: new units, instances and fused segments."""
        self._plan = getattr(self.run, "plan", None)
        self.layout = M.layout_of(self.run)
        self.tracker.lay = self.layout
        self._traces(self._per_instance)
        self._sync_controls()

    # --- controls --------------------------------------------------------------------------
    def _controls(self, W: Any) -> Any:
        """Per stage: instances and place; Apply (live or restart); what it answered."""
        if self.run.engine != "dask" or self.run.done:
            return W.VBox([])
        workers = sorted(getattr(self.run.session, "workers", {}) or {})
        places = [("as now", None), ("compute", "compute"), ("storage", "storage")] + [
            (H.short(w), w) for w in workers]
        self._rows: dict[str, tuple[Any, Any]] = {}
        lines = []
        for stage, n, _ in C.stage_settings(self.layout):
            count = W.BoundedIntText(value=n, min=1, max=16, description=stage,
                                     layout=W.Layout(width="220px"),
                                     style={"description_width": "120px"})
            where = W.Dropdown(options=places, value=None, layout=W.Layout(width="170px"))
            self._rows[stage] = (count, where)
            lines.append(W.HBox([count, where]))
        self.reconfigure_mode = W.ToggleButtons(
            options=[("live", "live"), ("stop and restart", "restart")], value="live",
            style={"button_width": "130px"},
            tooltips=["switch without stopping (Gloss)", "stop, save, restart (baseline)"])
        self.apply_button = W.Button(description="Apply", icon="check",
                                     tooltip="run.reconfigure(parallelism=..., "
                                             "placement=...)")
        self.answer = W.HTML()
        self.apply_button.on_click(self._on_apply)
        return W.VBox([W.HTML("<b>configuration</b>"), *lines,
                       W.HBox([self.reconfigure_mode, self.apply_button]), self.answer])

    def _sync_controls(self) -> None:
        for stage, n, _ in C.stage_settings(self.layout):
            if stage in getattr(self, "_rows", {}):
                count, where = self._rows[stage]
                count.value, where.value = n, None

    def _on_apply(self, _button: Any = None) -> Any:
        """Reconfigure the run as the controls say; the answer shows below them."""
        wanted = {s: (c.value, w.value) for s, (c, w) in self._rows.items()}
        par, place = C.changes(self.layout, wanted)
        if not par and not place:
            self.answer.value = H.note_html("nothing to change")
            return None
        try:
            rc = self.run.reconfigure(parallelism=par or None, placement=place or None,
                                      mode=self.reconfigure_mode.value)
        except Exception as exc:  # noqa: BLE001 - shown, and the run goes on
            self.answer.value = H.note_html(f"{type(exc).__name__}: {exc}", error=True)
            return None
        self.answer.value = H.note_html(f"{rc!r} (phases in the event log)")
        return rc

    def _on_mode(self, change: dict) -> None:
        with self._lock:
            self._traces(bool(change["new"]))
            self.refresh()

    def _on_stop(self, _button: Any) -> None:
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping"
        threading.Thread(target=self.run.stop, daemon=True, name="wb-dashboard-stop").start()

    # --- the end: final picture and static output ------------------------------------------
    def _last_refresh(self) -> None:
        self.refresh(live=False)         # the final data, drawn once

    def _freeze(self) -> None:
        self.stop_button.disabled = True
        self.stop_button.description = self.run.status.capitalize()
        for w in getattr(self, "_rows", {}).values():
            w[0].disabled = w[1].disabled = True
        if hasattr(self, "apply_button"):
            self.apply_button.disabled = True

    def static(self) -> dict:
        """The whole run as a static plotly figure (a mimebundle with a text fallback)."""
        import plotly.graph_objects as go
        import plotly.io as pio

        run = self.run
        rows = M.Rows.of(run.metrics)
        span = float(rows.time.max()) if len(rows) else 0.0
        series = M.binned(rows, self.layout.stages, M.bin_for(span))
        src, out = M.totals(rows, self.layout)
        streaming = run.steady_records_per_s if run.source_records else None
        summ = M.summarize(rows, self.layout, status=run.status, elapsed=run.elapsed,
                           records=run.source_records or src, out=out, live=False,
                           streaming_per_s=streaming)
        fig = go.Figure(self._empty(go, height=380))
        for tr in (p for pair in zip(*self._trace_pairs(False)) for p in pair):
            fig.add_trace(tr)
        n = len(self._series_keys(False))
        for i in range(n, 2 * n):
            fig.data[i].update(xaxis="x2", yaxis="y2")
        self._fill(fig, series, self._series_keys(False), lists=True)
        self._mark(fig, C.switches(run.event_rows()))
        fig.update_layout(title=dict(text=H.summary_text(self.name, run.engine, summ),
                                     font=dict(size=12), y=0.99), margin=dict(t=70))
        data = json.loads(pio.to_json(fig, validate=False))
        data["config"] = {"displaylogo": False, "responsive": True}
        text = "\n".join([H.summary_text(self.name, run.engine, summ, self._link()),
                          H.placement_text(self.layout),
                          H.events_text(self.log.latest(50))])
        return {PLOTLY_MIME: data, "text/plain": text}

    # --- display ---------------------------------------------------------------------------
    def _fit(self) -> None:
        """Size the chart to its output area: the browser draws a new view before the area
        has its width (at plotly's default 700 px); autosize again once it has."""
        with self._lock:
            self.figure.layout.autosize = False
            self.figure.layout.autosize = True

    def _ipython_display_(self) -> None:
        display_board(self, f"dashboard of {self.name} (live view: needs a running kernel)")

    def close(self) -> None:
        """Stop updating and close the widgets (the run goes on)."""
        self._stop.set()
        for w in (*self.box.children, self.box):
            w.close()

    def __repr__(self) -> str:
        state = "final" if self._final is not None else "live"
        return f"<Dashboard of {self.name} [{state}], {self.updates} update(s)>"
