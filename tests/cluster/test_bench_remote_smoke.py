"""``workbench bench remote --quick`` end to end: MPI's two ranks (mpi4py over MPICH's
wheel, ``mpiexec -n 2``) and the local cluster run the same chunks; every variant's
checksum equals MPI's, the CSVs hold every case. No speed is asserted (benchmarks judge
speed)."""

from __future__ import annotations

import csv
import os
from types import SimpleNamespace

import pytest

from workbench.bench import remote as R


def test_bench_remote_quick_runs_both_sides(tmp_path, session, capsys):
    why = R.mpi_unavailable()
    if why:                                   # the [test] extra installs MPI: CI has it
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(why)
    args = SimpleNamespace(quick=True, repeat=1, out=str(tmp_path), session=session)
    assert R.main(args) == 0
    out = capsys.readouterr().out
    assert "round trip of a no-op call: mpi" in out and "crossover" in out
    rows = list(csv.DictReader(open(tmp_path / "remote.csv")))
    cases = {(r["series"], r["chunks"], r["variant"]) for r in rows}
    for series in R.SERIES:
        for n in ("1", "10", "100", "1000"):
            for variant in ("mpi", "map", "single", "client_map"):
                assert (series, n, variant) in cases, (series, n, variant)
    assert all(r["checksum_ok"] == "True" for r in rows)
    assert all(float(r["cpu_s"]) > 0 for r in rows if r["variant"] == "mpi")
    latency = {r["variant"]: float(r["rtt_us"])
               for r in csv.DictReader(open(tmp_path / "remote_latency.csv"))}
    assert set(latency) == {"mpi", "wb.remote", "dask_submit"} and min(latency.values()) > 0
