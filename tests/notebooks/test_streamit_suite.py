"""The StreamIt suite notebook, executed by a real Jupyter kernel at the small size."""

from __future__ import annotations

from tests.conftest import executed
from workbench import demo


def test_streamit_notebook_runs_top_to_bottom(kernel):
    nb = executed("07_streamit_suite")
    plain = "\n".join(str(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells for o in c.get("outputs", []))
    for name in ("FMRadio", "FilterBank", "ChannelVocoder", "BeamFormer", "FFT", "DCT",
                 "BitonicSort"):
        assert name in plain
    # the summary table: every program's repetitions are StreamIt's steady state
    summary = next(c for c in nb.cells if c.cell_type == "code" and "summary = []" in c.source)
    html = "".join(o.get("data", {}).get("text/html", "") for o in summary.outputs)
    assert html.count("<td>True</td>") == 7 and "<td>False</td>" not in html
    assert "workbench bench streamit" in "\n".join(demo.stream_text(nb))
    fig = next(o["data"]["application/vnd.plotly.v1+json"] for c in nb.cells
               for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in
               o.get("data", {}))
    assert [t["name"] for t in fig["data"]] == ["local", "dask_one", "dask_default"]
    assert all(len(t["x"]) == 7 for t in fig["data"])
