"""The function placement notebook, executed by a real Jupyter kernel at the small size."""

from __future__ import annotations

from pathlib import Path

import nbformat

from tests.conftest import execute_notebook
from workbench import demo

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "03_function_placement.ipynb"


def test_function_placement_notebook_runs_top_to_bottom(kernel):
    nb = execute_notebook(NOTEBOOK, kernel)
    text = "\n".join(demo.stream_text(nb))
    assert "degree:" in text and "FunctionError: function 'degree' raised ValueError" in text
    assert "StoreKeyError: store key 'nb/graph/part-99'" in text
    assert "latest decision" in text                       # %wb functions
    html = "\n".join(str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells for o in c.get("outputs", []))
    for workload in ("k-hop", "compute-heavy", "mixed"):
        assert workload in html
    # the deliberate error is the caller's FunctionError, not a worker failure in the log
    everything = "\n".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert "Compute Failed" not in everything
    on_disk = nbformat.read(NOTEBOOK, as_version=4)     # committed without outputs
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code")
