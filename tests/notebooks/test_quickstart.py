"""The quickstart notebook, executed by a real Jupyter kernel ("Python 3 (workbench)")."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workbench import demo, kernelspec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("workbench")
    except NoSuchKernel:
        kernelspec.install(prefix=sys.prefix)
    return "workbench"


def test_quickstart_runs_top_to_bottom(kernel, tmp_path):
    nb = demo.execute(ROOT / "notebooks" / "00_quickstart.ipynb", kernel=kernel,
                      env={"WB_SMALL": "1"})
    errors = [o for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    text = "\n".join(demo.stream_text(nb))
    assert "throughput: local engine" in text and "dask engine" in text
    assert "inconsistent rates in split-join 1" in text
    assert "[dask] finished" in text
    # outputs are not committed: the file on disk has none
    import nbformat

    on_disk = nbformat.read(ROOT / "notebooks" / "00_quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code")
