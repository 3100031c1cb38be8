"""The recovery notebook, executed by a real Jupyter kernel at the small size: a worker
SIGKILLed under a streaming program (recovered, plotted), and a bounded run with a kill
whose output equals the calm run's."""

from __future__ import annotations

from pathlib import Path

import nbformat

from tests.conftest import execute_notebook
from workbench import demo

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "04_recovery.ipynb"


def test_recovery_notebook_runs_top_to_bottom(kernel):
    nb = execute_notebook(NOTEBOOK, kernel)
    text = "\n".join(demo.stream_text(nb))
    assert "a checkpoint every" in text and "killed tcp://" in text
    for phase in ("detected:", "stopped:", "placed:", "restored:", "caught up:"):
        assert phase in text, phase
    assert "1 recovery; output identical to the calm run: True" in text
    assert "killed; checksums equal to numpy's: True" in text
    # the figure: the sink's throughput with the four marks of the recovery
    plot = next(c for c in nb.cells if c.cell_type == "code" and "go.Figure(" in c.source)
    fig = next(o["data"]["application/vnd.plotly.v1+json"] for o in plot.outputs
               if "application/vnd.plotly.v1+json" in o.get("data", {}))
    assert len(fig["data"][0]["x"]) > 20
    assert [a["text"] for a in fig["layout"]["annotations"]] == \
        ["killed", "detected", "restored", "caught up"]
    # the results table: one recovery, measured, exactly once
    table = next(c for c in nb.cells if c.cell_type == "code" and "to_csv" in c.source)
    html = "".join(o.get("data", {}).get("text/html", "") for o in table.outputs)
    assert "exactly_once" in html and "sort_checksums_equal" in html
    assert "False" not in html
    on_disk = nbformat.read(NOTEBOOK, as_version=4)     # committed without outputs
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code")
