"""The quickstart notebook, executed by a real Jupyter kernel ("Python 3 (workbench)")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import execute_notebook, workbench_kernel
from workbench import demo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kernel():
    return workbench_kernel()


def test_quickstart_runs_top_to_bottom(kernel, tmp_path):
    nb = execute_notebook(ROOT / "notebooks" / "00_quickstart.ipynb", kernel)
    text = "\n".join(demo.stream_text(nb))
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
    import nbformat

    on_disk = nbformat.read(ROOT / "notebooks" / "00_quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code")
