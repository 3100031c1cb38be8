"""The recovery notebook, executed by a real Jupyter kernel at the small size: a worker
SIGKILLed under a streaming program (recovered, plotted), and a bounded run with a kill
whose output equals the calm run's."""

from __future__ import annotations

import pandas as pd

from tests.conftest import executed, experiment_run
from workbench import demo


def test_recovery_notebook_runs_top_to_bottom(kernel):
    nb = executed("04_recovery")
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
    # the tables: one recovery, measured; exactly once, and the sort's checksums
    run_dir = experiment_run("04_recovery")
    recovery = pd.read_csv(run_dir / "tables" / "recovery.csv")
    assert len(recovery) == 1 and recovery.detection_s.gt(0).all()
    checks = pd.read_csv(run_dir / "tables" / "exactly_once.csv")
    assert checks.value.astype(str).tolist() == ["1", "True", "1", "True"], checks
