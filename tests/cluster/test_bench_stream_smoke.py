"""``workbench bench stream`` runs end to end at tiny sizes, its keyed case included (no
speed assertions)."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

from workbench.bench import BENCHMARKS, stream


def test_bench_stream_smoke(session, tmp_path, capsys):
    assert BENCHMARKS["stream"] == "workbench.bench.stream"
    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, batch_sizes=(4096,),
                           records=2 ** 16, few_batches=4, session=session)
    assert stream.main(args) == 0
    assert "workbench bench stream" in capsys.readouterr().out
    with (tmp_path / "stream.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    row = rows[0]
    missing = [c for c in stream.COLUMNS if c not in row]
    assert not missing, missing
    assert int(row["batch_size"]) == 4096
    for col in stream.COLUMNS:
        if col.endswith(("Mrps", "MBps")) or "/" in col:
            v = float(row[col])
            assert math.isfinite(v) and v > 0, (col, v)
    # quick sizes cannot meet the bars: they say so instead of MISSED (and ok)
    assert "b/e>=50 not judged (--quick)" in row["bars"]
    assert "b/d>=10 not judged (--quick)" in row["bars"]
    # the keyed case: its own table, every rate measured, order restored on every variant
    with (tmp_path / "stream_keyed.csv").open() as f:
        (keyed,) = list(csv.DictReader(f))
    for col in ("u1_Mrps", "k1_Mrps", "k2_Mrps", "scatter_us", "join_us", "concat_us"):
        assert math.isfinite(float(keyed[col])) and float(keyed[col]) > 0, (col, keyed[col])
    assert not session.closed
