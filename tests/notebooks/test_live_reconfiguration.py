"""The live-reconfiguration notebook, executed by a real Jupyter kernel at the small size:
FMRadio reconfigured three times live, then three times by stop-and-restart."""

from __future__ import annotations

import pandas as pd

from tests.conftest import executed, experiment_run
from workbench import demo

SWITCHES = ["lowpass 1->2", "equaliser -> storage", "lowpass 2->1"]


def test_live_reconfiguration_notebook_runs_top_to_bottom(kernel):
    nb = executed("02_live_reconfiguration")
    text = "\n".join(demo.stream_text(nb))
    # every switch's timeline printed with its phases, in Gloss's order
    for label in SWITCHES:
        assert f"{label}: switched at batch " in text
    for phase in ("requested", "compiled", "started", "switched", "drained", "freed"):
        assert phase in text
    # both runs finished (stopped by the notebook), neither failed
    assert text.count("stopped:") >= 2 and "failed" not in text
    # the figure: one trace per mode, a mark at each of the six switches
    plot = next(c for c in nb.cells if c.cell_type == "code" and "go.Figure()" in c.source)
    fig = next(o["data"]["application/vnd.plotly.v1+json"] for o in plot.outputs
               if "application/vnd.plotly.v1+json" in o.get("data", {}))
    assert [t["name"] for t in fig["data"]] == ["live", "restart"]
    assert all(len(t["x"]) > 10 for t in fig["data"])
    assert len(fig["layout"]["shapes"]) == 6
    # the results table: three switches per mode, each measured (cell output and tables/)
    table = next(c for c in nb.cells
                 if c.cell_type == "code" and 'res.table("switches"' in c.source)
    html = "".join(o.get("data", {}).get("text/html", "") for o in table.outputs)
    for label in SWITCHES:
        assert html.count(label.replace(">", "&gt;")) == 2, label
    switches = pd.read_csv(experiment_run("02_live_reconfiguration") / "tables" / "switches.csv")
    assert sorted(switches["mode"]) == ["live"] * 3 + ["restart"] * 3
    assert switches.switch_s.gt(0).all()
