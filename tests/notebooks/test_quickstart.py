"""The quickstart notebook, executed by a real Jupyter kernel ("Python 3 (workbench)") the way
``make demo`` does it: ``workbench demo`` in a fresh process (at the small size), which
records the run as ``workbench experiment run`` does."""

from __future__ import annotations

from pathlib import Path

import nbformat

from workbench import demo

ROOT = Path(__file__).resolve().parents[2]


def test_workbench_demo_runs_the_quickstart_top_to_bottom(kernel, tmp_path):
    import os
    import subprocess
    import sys

    saved = tmp_path / "quickstart.ipynb"
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "workbench", "demo", "-p", "size=small",
                           "--out", str(saved)],
                          cwd=ROOT, env={**os.environ, "WORKBENCH_RESULTS": str(results)},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "What the notebook printed:" in proc.stdout and str(saved) in proc.stdout
    (run_dir,) = (results / "00_quickstart").iterdir()       # the run, recorded
    assert f"this run's folder: {run_dir}" in proc.stdout
    assert (run_dir / "tables" / "throughput.csv").exists()
    nb = nbformat.read(saved, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") ==
              "error"]
    assert not errors, errors
    text = "\n".join(demo.stream_text(nb))
    assert text in proc.stdout.replace("\n  ", "\n")     # what it printed is the notebook's
    assert "throughput: local engine" in text and "dask engine" in text
    assert "inconsistent rates in split-join 1" in text
    assert "[dask] finished" in text
    # the live dashboard's cell keeps the widget view and, filled in when the run ended,
    # a static plotly figure of the whole run with data in every stage's trace
    live = next(c for c in nb.cells if c.cell_type == "code" and "widget=True" in c.source)
    kinds = [set(o.get("data", {})) for o in live.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), kinds
    fig = next(o["data"]["application/vnd.plotly.v1+json"] for o in live.outputs
               if "application/vnd.plotly.v1+json" in o.get("data", {}))
    rates = [t for t in fig["data"] if t.get("yaxis", "y") == "y"]
    assert [t["name"] for t in rates] == ["scale", "mean4", "running_sum"]
    assert all(len(t["y"]) > 0 and max(t["y"]) > 0 for t in rates), rates
    assert "run [dask] finished" in fig["layout"]["title"]["text"]
    # outputs are not committed: the file on disk has none
    on_disk = nbformat.read(ROOT / "notebooks" / "00_quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code")
