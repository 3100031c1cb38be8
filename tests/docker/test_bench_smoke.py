"""``workbench bench containers`` at its smallest: it runs against the real engine, writes
CSV, a fresh worker in the image loads the host's artifact (cache hits), and the artifact
is at least 1000x smaller than the image. No timing assertions."""

from __future__ import annotations

import csv
from argparse import Namespace

from workbench.bench import run


def test_bench_containers_smoke(image, tmp_path, capsys):
    assert run("containers", Namespace(out=str(tmp_path), repeat=1, quick=True,
                                       programs=("fir",))) == 0
    rows = {r["measure"]: r for r in csv.DictReader((tmp_path / "containers.csv").open())}
    comp = rows["compile (fresh warm process)"]
    assert float(comp["a_value"]) > 0 and float(comp["b_value"]) > 0
    assert comp["container_misses"] == "1" and comp["host_misses"] == "1"
    assert rows["fresh worker first batch"]["ok"] == "True"          # cache hit, no compile
    assert float(rows["image vs artifact"]["ratio"]) >= 1000
    assert float(rows["container start"]["a_value"]) > 0
    assert "image vs artifact" in capsys.readouterr().out
