"""``workbench experiment report``: one static HTML page over the recorded runs: for each
experiment its question, the latest successful run's figures (plotly, its JavaScript
embedded once: the page opens without a network), that run's environment, and the history
of its headline numbers run after run."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from .history import COLUMNS, _env, _runs, list_runs
from .record import read_meta
from .runs import results_root

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{margin-bottom:0}.q{font-size:1.1em;color:#333;margin:.3em 0 1em}
section{border-top:2px solid #ccc;margin-top:2.5em;padding-top:.5em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.env{columns:2;font-size:.85em}.figure{margin:1em 0}
.failed{color:#b00}
"""


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _history(df, names) -> str:
    cols = ["run_id", "started", "size", "seed", "commit", "status", "seconds", *names]
    head = "".join(f'<th class="{"l" if c in cols[:6] else ""}">{html.escape(c)}</th>'
                   for c in cols)
    body = []
    for _, r in df.iterrows():
        cells = "".join(f'<td class="{"l" if c in cols[:6] else ""}">'
                        f"{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
        body.append(f'<tr class="{"" if r.status == "ok" else "failed"}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _environment(env: dict) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in env.get("libraries", {}).items())
    mem = env.get("memory_bytes")
    cluster = env.get("cluster") or {}
    workers = cluster.get("workers") if isinstance(cluster, dict) else None
    shape = (", ".join(f"{w['name']} ({w.get('threads')} thr, "
                       f"{'/'.join(w.get('resources') or {}) or '-'})" for w in workers)
             if workers else json.dumps(cluster) if cluster else "not recorded")
    items = {
        "run": env.get("run_id"), "parameters": json.dumps(env.get("parameters", {})),
        "workbench": f"{env.get('workbench')} at {(env.get('commit') or '?')[:10]}"
                     + (" (uncommitted changes)" if env.get("dirty") else ""),
        "python": env.get("python"), "libraries": libs,
        "cpu": f"{env.get('cpu')} x {env.get('cpus')}",
        "memory": f"{mem / 2**30:.1f} GiB" if mem else "?",
        "cluster": shape, "took": f"{env.get('seconds')} s",
        "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(env.get("started_at", 0))),
    }
    return '<ul class="env">' + "".join(
        f"<li><b>{k}</b>: {html.escape(str(v))}</li>" for k, v in items.items()) + "</ul>"


def build(root: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write the report (default ``RESULTS/report.html``); return its path."""
    from plotly.offline import get_plotlyjs

    root = Path(root) if root else results_root()
    out = Path(out) if out else root / "report.html"
    runs = list_runs(root)
    dirs = {(d.parent.name, d.name): d for d in _runs(root)}
    sections, n = [], 0
    for exp in sorted(runs.experiment.unique()) if len(runs) else []:
        mine = runs[runs.experiment == exp]
        ok = mine[mine.status == "ok"]
        latest = dirs[(exp, ok.run_id.iloc[-1])] if len(ok) else None
        meta = read_meta(latest) if latest is not None else {}
        parts = [f'<section id="{html.escape(exp)}"><h2>{html.escape(exp)}</h2>',
                 f'<p class="q">{html.escape(meta.get("question") or "")}</p>']
        if latest is None:
            parts.append('<p class="failed">no successful run yet</p>')
        for name, files in meta.get("figures", {}).items():
            fig = json.loads((latest / files["json"]).read_text())
            n += 1
            parts.append(
                f'<div class="figure" data-experiment="{html.escape(exp)}" '
                f'data-figure="{html.escape(name)}"><div id="fig{n}"></div></div>'
                f"<script>Plotly.newPlot('fig{n}', {json.dumps(fig.get('data', []))}, "
                f"{json.dumps(fig.get('layout', {}))}, {{responsive: true}});</script>")
        if meta.get("headlines"):
            parts.append("<h3>Headline numbers (latest run)</h3><table>" + "".join(
                f'<tr><td class="l">{html.escape(k)}</td><td>{_fmt(h["value"])} '
                f'{html.escape(h.get("unit", ""))}</td><td class="l">'
                f'{html.escape(h.get("note", ""))}</td></tr>'
                for k, h in meta["headlines"].items()) + "</table>")
        if latest is not None:
            parts.append("<h3>Environment</h3>" + _environment(_env(latest)))
        names = [c for c in mine.columns if c not in COLUMNS
                 and mine[c].notna().any()]
        parts.append("<h3>History</h3>" + _history(mine, names) + "</section>")
        sections.append("".join(parts))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>workbench experiments"
            f"</title><style>{_STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
            f"<h1>workbench experiments</h1><p>{len(runs)} run(s) under "
            f"{html.escape(str(root))}, built {time.strftime('%Y-%m-%d %H:%M')}.</p>"
            + ("".join(sections) or "<p>No runs yet: <code>workbench experiment run "
               "notebooks/NN_name.ipynb -p size=small</code></p>")
            + "</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out

