"""The function placement notebook, executed by a real Jupyter kernel at the small size."""

from __future__ import annotations

from tests.conftest import executed
from workbench import demo


def test_function_placement_notebook_runs_top_to_bottom(kernel):
    nb = executed("03_function_placement")
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
