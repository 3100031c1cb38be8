"""HTML and text of the dashboard's summary line, placement graph and event log (pure).

Plain strings from the values of :mod:`workbench.observe.run_view` and
:mod:`workbench.observe.function_view`; :mod:`workbench.observe.widgets` puts them into
``ipywidgets.HTML``, and the text forms go into the static output a notebook keeps after a
headless run. Styles are inline and use JupyterLab's theme
variables (with fallbacks), so the view reads in light and dark themes.

Examples
--------
>>> fmt_count(1234), fmt_count(12_345_678), fmt_rate(45_600_000.0)
('1,234', '12.3 M', '45.6 M/s')
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..model.fusion import Branching, Node, Segment
from ..placement import Unit
from .run_view import Layout, Queues, Summary

FG2 = "var(--jp-ui-font-color2, #616161)"
BORDER = "var(--jp-border-color1, #bdbdbd)"
BG = "var(--jp-layout-color2, #eeeeee)"
FONT = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px;"
STATUS_COLOR = {"running": "#2e7d32", "starting": "#f9a825", "finished": "#1565c0",
                "stopped": "#6d4c41", "failed": "#c62828"}
KIND_COLOR = {"failed": "#c62828", "leftover": "#ef6c00", "started": "#2e7d32",
              "finished": "#1565c0", "stopped": "#6d4c41", "reconfigure": "#6a1b9a",
              "recovery": "#ad1457", "checkpoint": "#546e7a"}


def fmt_count(n: float) -> str:
    n = float(n)
    for unit, size in (("G", 1e9), ("M", 1e6)):
        if abs(n) >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f}"


def fmt_rate(r: float) -> str:
    r = float(r)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(r) >= size:
            return f"{r / size:,.1f} {unit}/s"
    return f"{r:,.0f} /s"


def short(addr: str) -> str:
    """``tcp://127.0.0.1:42875`` -> ``:42875`` (loopback), else host:port."""
    rest = addr.split("://", 1)[-1]
    return rest[rest.index(":"):] if rest.startswith(("127.0.0.1:", "localhost:")) else rest


# --- summary line ----------------------------------------------------------------------------

def summary_parts(name: str, engine: str, s: Summary) -> list[str]:
    parts = [f"{name} [{engine}] {s.status}", f"{fmt_count(s.records)} records"]
    if s.status == "running":
        parts.append(f"now {fmt_rate(s.now_per_s)}")
    parts.append(f"avg {fmt_rate(s.avg_per_s)}")
    if s.streaming_per_s:
        parts.append(f"streaming {fmt_rate(s.streaming_per_s)}")
    parts += [f"{fmt_count(s.out)} out", f"{s.elapsed:,.1f} s"]
    return parts


def summary_text(name: str, engine: str, s: Summary, link: str | None = None) -> str:
    """>>> from workbench.observe.run_view import Summary
    >>> summary_text("run", "dask", Summary("running", 2_000_000, 1e6, 5e5, 500_000, 4.0))
    'run [dask] running · 2.0 M records · now 1.0 M/s · avg 500.0 k/s · 500,000 out · 4.0 s'
    """
    return " · ".join(summary_parts(name, engine, s) + ([f"Dask dashboard {link}"]
                                                          if link else []))


def summary_html(name: str, engine: str, s: Summary, link: str | None = None) -> str:
    color = STATUS_COLOR.get(s.status, FG2)
    head, *rest = summary_parts(name, engine, s)
    dot = "●" if s.status == "running" else "■"
    bits = [f'<b><span style="color:{color}">{dot}</span> {escape(head)}</b>']
    bits += [escape(p) for p in rest]
    if link:
        bits.append(f'<a href="{escape(link)}" target="_blank" '
                    f'style="color:#1565c0;text-decoration:underline">Dask dashboard</a>')
    return (f'<div class="wb-summary" style="{FONT} font-size:13px; padding:2px 0">'
            + " &middot; ".join(bits) + "</div>")


# --- placement graph -------------------------------------------------------------------------

def _pill(text: str, title: str = "") -> str:
    return (f'<span title="{escape(title or text)}" style="display:inline-block; padding:1px '
            f'6px; margin:1px; border:1px solid {BORDER}; border-radius:9px; background:'
            f'var(--jp-layout-color0, #fff); white-space:nowrap">{escape(text)}</span>')


def _nodes(nodes: tuple[Node, ...]) -> str:
    out = []
    for n in nodes:
        if isinstance(n, Segment):
            fused = " (fused)" if len(n.stages) > 1 else ""
            loops = "".join(f"; one loop over the batch: {g}" for g in n.loops)
            label = n.name + (f" \u00b7 {len(n.loops)} loop" + "s" * (len(n.loops) > 1)
                              if n.loops else "")
            out.append(_pill(label, f"segment {n.name}{fused}: one compiled function{loops}"))
        elif isinstance(n, Branching):
            rows = "".join(f'<div style="white-space:nowrap">{_nodes(b) or "&empty;"}</div>'
                           for b in n.branches)
            out.append(f'<span style="display:inline-flex; flex-direction:column; '
                       f'border-left:2px solid {BORDER}; border-right:2px solid {BORDER}; '
                       f'padding:0 3px; margin:0 2px; vertical-align:middle" title="split-join:'
                       f' {escape(n.split)} split, roundrobin join">{rows}</span>')
        out.append(" ")
    return "".join(out).strip()


def note_html(text: str, error: bool = False) -> str:
    """One line under the dashboard's controls: what a request answered."""
    color = "#c62828" if error else FG2
    return (f'<div style="{FONT} font-size:12px; color:{color}; white-space:pre-wrap">'
            f"{escape(text)}</div>")


def bar(depth: int, capacity: int | None, cells: int = 8) -> str:
    """Queue depth against its capacity (the channel credits) in ``cells`` squares.

    >>> bar(3, 8), bar(12, 16), bar(0, None)
    ('▮▮▮▯▯▯▯▯', '▮▮▮▮▮▮▯▯', '▯▯▯▯▯▯▯▯')
    """
    cap = capacity or max(depth, 1)
    full = min(cells, round(cells * depth / cap))
    return "▮" * full + "▯" * (cells - full)


def _box(title: str, body: str, sub: str = "", unit: int | None = None) -> str:
    attr = "" if unit is None else f' data-unit="{unit}"'
    return (f'<div{attr} style="border:1px solid {BORDER}; border-radius:6px; padding:3px '
            f'5px; background:{BG}; min-width:60px; flex:none">'
            f'<div style="font-weight:600">{title}</div>{body}'
            + (f'<div style="color:{FG2}; font-size:11px">{sub}</div>' if sub else "")
            + "</div>")


def _unit(u: Unit, lay: Layout, q: Queues, cap: int | None) -> str:
    inbox = q.inbox.get(u.index, {})
    inst = []
    for i, w in enumerate(u.workers):
        kind = lay.resources.get(w, "")
        depth = ""
        if lay.has_inbox(u):
            n = inbox.get(i, 0)
            depth = (f' <span title="batches waiting in the inbox" style="font-family:'
                     f'monospace">in {bar(n, cap)} {n}</span>')
        inst.append(f'<div style="white-space:nowrap; font-size:11px">#{i} '
                    f'{escape(short(w))}{" " + escape(kind) if kind else ""}{depth}</div>')
    title = (f"unit {u.index} &middot; {escape(u.routing)} &times;{u.parallelism}"
             if lay.engine != "local" else "this process")
    body = (f'<div style="margin:2px 0">{_nodes(u.nodes) or "<i>reads the source</i>"}</div>'
            f'<div style="color:{FG2}">{"".join(inst)}</div>')
    return _box(title, body, "<br>".join(escape(r) for r in lay.unit_reasons(u)), u.index)


def _arrow(label: str = "", title: str = "") -> str:
    return (f'<div title="{escape(title)}" style="align-self:center; text-align:center; '
            f'color:{FG2}; padding:0 4px; white-space:nowrap">'
            f'<div style="font-family:monospace; font-size:11px">{label}</div>'
            f'<div style="font-size:18px">&#10230;</div></div>')


def placement_html(lay: Layout, q: Queues, sink: str = "sink", out: int = 0) -> str:
    """The program left to right: source, units (workers, routing, fused segments, inbox
    depth per instance), channels (batches in flight), sink."""
    items = [_box("source", f'<div style="color:{FG2}; max-width:120px; overflow-wrap:'
                            f'anywhere; font-size:11px">{escape(lay.source)}</div>')]
    for i, u in enumerate(lay.units):
        if i == 0:
            items.append(_arrow("", "read by the first unit's instances"))
        senders = lay.units[i - 1].parallelism if i else 1      # credits per sender
        items.append(_unit(u, lay, q, lay.credits * senders if lay.credits else None))
        edge = lay.edge(i)
        if edge:
            flight = q.flight.get(edge, 0)
            items.append(_arrow(f"{bar(flight, lay.credits)} {flight}",
                                f"{edge}: peak batches in flight in the last second "
                                f"(credits: {lay.credits})"))
    items.append(_arrow())
    items.append(_box("sink", f'<div style="color:{FG2}">{escape(sink)}<br>'
                      f"{fmt_count(out)} records</div>"))
    return (f'<div class="wb-placement" style="{FONT} display:flex; flex-wrap:nowrap; '
            f'overflow-x:auto; align-items:stretch; gap:2px; padding:4px 0">'
            + "".join(items) + "</div>")


def placement_text(lay: Layout) -> str:
    lines = []
    for u in lay.units:
        segs = ", ".join(u.segments) or "(reads the source)"
        lines.append(f"unit {u.index} [{u.routing} x{u.parallelism}] {segs} on "
                     + ", ".join(f"{w} ({lay.resources.get(w, '?')})" for w in u.workers))
    return "\n".join(lines)


# --- event log -------------------------------------------------------------------------------

def events_html(rows: list[dict[str, Any]], error: str | None = None) -> str:
    """Newest first; a failed run's whole error message on top."""
    head = ""
    if error:
        head = (f'<pre style="color:#c62828; white-space:pre-wrap; margin:2px 0; '
                f'font-size:12px">{escape(error)}</pre>')
    cells = []
    for r in rows:
        color = KIND_COLOR.get(r["kind"], FG2)
        cells.append(
            f'<tr title="{escape(r["text"])}"><td style="text-align:right; color:{FG2}; '
            f'padding-right:6px">{r["time"]:,.2f} s</td>'
            f'<td style="color:{color}; font-weight:600; padding-right:6px">'
            f'{escape(r["kind"])}</td><td style="padding-right:6px">{escape(r["stage"])}</td>'
            f'<td>{escape(r["line"])}</td></tr>')
    table = ('<table style="border-collapse:collapse">' + "".join(cells) + "</table>"
             if cells else f'<span style="color:{FG2}">no events yet</span>')
    return (f'<div class="wb-events" style="{FONT} max-height:130px; overflow:auto">'
            f'{head}{table}</div>')


def events_text(rows: list[dict[str, Any]]) -> str:
    return "\n".join(f"{r['time']:8.2f} s  {r['kind']:<9} {r['stage'] + ' ' if r['stage'] else ''}"
                     f"{r['line']}" for r in rows[::-1])


# --- function board --------------------------------------------------------------------------

SIDE_COLOR = {"storage": "#6a1b9a", "compute": "#00695c"}


def _placement_setting(p: Any) -> str:
    if isinstance(p, dict):
        return ", ".join(f"{k}:{v}" for k, v in p.items())
    return short(p) if isinstance(p, str) and "://" in p else str(p)


def _secs(x: float | None) -> str:
    if x is None or x != x:
        return "&ndash;"
    if x == float("inf"):
        return "&infin;"
    return f"{x * 1e3:,.1f} ms" if x < 1 else f"{x:,.2f} s"


def _jit(r: dict[str, Any]) -> tuple[str, str]:
    """(cell text, tooltip) for the jit column."""
    if r.get("jit") is True:
        return "numba", "compiled with numba where it runs"
    if r.get("jit") is False:
        return "Python", r.get("jit_reason") or "plain Python"
    return "&ndash;", "not run yet"


def functions_html(rows: list[dict[str, Any]], now: dict[str, float] | None = None) -> str:
    """One table row per function (the records of :mod:`workbench.functions.view`):
    placement setting, calls, calls/s now (``now``: the board's, by name; else the
    record's) and overall, calls by side, the latest decision (side, phase, estimated
    finish per side, reason), jit (or why not) and errors. All text is escaped.

    >>> html = functions_html([{"name": "f<1>", "placement": "auto", "calls": 3,
    ...     "calls_per_s": 1.0, "calls_per_s_overall": 2.0, "side": "storage",
    ...     "phase": "exploit", "reason": "a < b", "est_storage_s": 0.5,
    ...     "est_compute_s": 2.0, "jit": True, "jit_reason": None, "errors": 0,
    ...     "calls_by_side": {"storage": 3, "compute": 0}}])
    >>> "f&lt;1&gt;" in html and "a &lt; b" in html and "storage" in html
    True
    """
    if not rows:
        return (f'<div class="wb-functions" style="{FONT} color:{FG2}">no functions defined '
                "yet (@wb.function or %%function)</div>")
    th = (f'style="text-align:left; padding:2px 6px; border-bottom:1px solid {BORDER}; '
          'white-space:nowrap"')
    td = 'style="padding:2px 6px; vertical-align:top; white-space:nowrap"'
    head = ["function", "placement", "calls", "calls/s now", "overall", "by side",
            "decision", "est. storage", "est. compute", "reason", "jit", "errors"]
    out = ["<tr>" + "".join(f"<th {th}>{h}</th>" for h in head) + "</tr>"]
    for r in rows:
        rate = (now or {}).get(r["name"], r.get("calls_per_s", 0.0))
        by = " / ".join(f'<span style="color:{SIDE_COLOR.get(s, FG2)}">{escape(s)} '
                        f"{fmt_count(n)}</span>" for s, n in r.get("calls_by_side", {}).items()
                        if n) or "&ndash;"
        side = r.get("side")
        decision = ("&ndash;" if side is None else
                    f'<b style="color:{SIDE_COLOR.get(side, FG2)}">{escape(side)}</b> '
                    f'<span style="color:{FG2}">({escape(str(r.get("phase")))})</span>')
        jit, why = _jit(r)
        errors = r.get("errors", 0)
        cells = [f"<b>{escape(r['name'])}</b>", escape(_placement_setting(r["placement"])),
                 fmt_count(r.get("calls", 0)), fmt_rate(rate),
                 fmt_rate(r.get("calls_per_s_overall", 0.0)), by, decision,
                 _secs(r.get("est_storage_s")), _secs(r.get("est_compute_s"))]
        out.append(
            f'<tr data-function="{escape(r["name"])}">'
            + "".join(f"<td {td}>{c}</td>" for c in cells)
            + f'<td style="padding:2px 6px; vertical-align:top; min-width:260px; '
              f'color:{FG2}" class="wb-reason">{escape(r.get("reason") or "")}</td>'
            + f'<td {td} title="{escape(why, quote=True)}">{jit}</td>'
            + f'<td {td}>' + (f'<span style="color:#c62828">{errors}</span>' if errors
                              else "0") + "</td></tr>")
    return (f'<div class="wb-functions" style="{FONT} overflow-x:auto">'
            '<table style="border-collapse:collapse">' + "".join(out) + "</table></div>")


def scaling_html(st: dict[str, Any]) -> str:
    """The function board's scaling line (:func:`~workbench.observe.function_view.
    scaling_state`): policy and bounds, workers asked/present, the measured start time, the
    last interval's rate, forecast and latency against the SLO."""
    import math

    def num(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    color = STATUS_COLOR["running"] if st["running"] else STATUS_COLOR["stopped"]
    dot = "●" if st["running"] else "■"
    bits = [f'<b><span style="color:{color}">{dot}</span> scaling '
            f'{escape(str(st["policy"]))}</b>',
            f'{st["minimum"]}-{st["maximum"]} compute workers',
            f'asked {st["asked"]}' + (f', present {st["present"]}'
                                      if st["present"] is not None else "")]
    if num(st["start_s"]) is not None:
        bits.append(f'worker start {st["start_s"]:.1f} s')
    if num(st["rate"]) is not None:
        bits.append(f'arrivals {fmt_rate(st["rate"])}'
                    + (f' (forecast {fmt_rate(st["forecast"])})'
                       if num(st["forecast"]) is not None else ""))
    slo = f'SLO {st["slo_ms"]:,.0f} ms'
    p99, over = num(st["p99_ms"]), num(st["over_slo"])
    if p99 is not None:
        hot = p99 > st["slo_ms"]
        mark = STATUS_COLOR["failed"] if hot else STATUS_COLOR["running"]
        share = f", {over:.0%} over" if over is not None else ""
        bits.append(f'p99 <span style="color:{mark}">{p99:,.0f} ms</span> vs {slo}{share}')
    else:
        bits.append(slo)
    return (f'<div class="wb-scaling" style="{FONT} font-size:13px; padding:2px 0">'
            + " &middot; ".join(bits) + "</div>")


def functions_summary_html(n: int, calls: int, now_per_s: float, state: str,
                           link: str | None = None) -> str:
    color = STATUS_COLOR["running"] if state == "live" else STATUS_COLOR["finished"]
    dot = "●" if state == "live" else "■"
    bits = [f'<b><span style="color:{color}">{dot}</span> functions {escape(state)}</b>',
            f"{n} function(s)", f"{fmt_count(calls)} calls", f"now {fmt_rate(now_per_s)}"]
    if link:
        bits.append(f'<a href="{escape(link)}" target="_blank" '
                    f'style="color:#1565c0;text-decoration:underline">Dask dashboard</a>')
    return (f'<div class="wb-summary" style="{FONT} font-size:13px; padding:2px 0">'
            + " &middot; ".join(bits) + "</div>")
