"""The remote-invocation notebook through the experiment command at the small size: gzip's
own code with ``zlib.crc32`` offloaded, a ctypes library on the workers, a remote error of
its own type, an expression tree over both workers, and the grid against MPI."""

from __future__ import annotations

import json

import pandas as pd

from tests.conftest import executed, experiment_run
from workbench import demo


def test_remote_notebook_runs_top_to_bottom(kernel):
    nb = executed("05_remote_invocation")
    text = "\n".join(demo.stream_text(nb))
    assert "gzip bytes identical: True" in text
    assert "identical again: True | zlib.crc32 restored: True" in text
    assert "adler32 on the workers == zlib.adler32 here: True" in text
    assert "ValueError: cannot reshape array of size 5 into shape (2,2)" in text
    assert "raised by remote function 'reshape' (numpy.reshape) on worker tcp://" in text
    assert "== the sum computed here: True" in text and "2 workers" in text
    assert "checksums equal to MPI's in every case: True" in text
    run_dir = experiment_run("05_remote_invocation")
    tree = pd.read_csv(run_dir / "tables" / "tree.csv")
    assert len(tree) == 15 and tree.worker.nunique() == 2          # 8 leaves, 7 adds
    grid = pd.read_csv(run_dir / "tables" / "grid.csv")
    assert set(grid.variant) == {"mpi", "map", "single", "client_map"}
    assert grid.checksum_ok.all() and set(grid.series) == {"generated", "scatter"}
    fig = json.loads((run_dir / "figures" / "grid.json").read_text())
    assert {t["name"] for t in fig["data"]} == {"mpi", "map", "single", "client_map"}
