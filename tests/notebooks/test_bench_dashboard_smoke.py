"""``workbench bench dashboard`` runs end to end in a real kernel at tiny sizes (no speed
assertions: the figures are the benchmark's to report)."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

from workbench.bench import BENCHMARKS, dashboard


def test_bench_dashboard_smoke(tmp_path, capsys):
    assert BENCHMARKS["dashboard"] == "workbench.bench.dashboard"
    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, duration=1.0,
                           programs=("fused",))
    assert dashboard.main(args) == 0
    assert "workbench bench dashboard" in capsys.readouterr().out
    with (tmp_path / "dashboard.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["program"] for r in rows] == ["fused"]
    row = rows[0]
    assert not [c for c in dashboard.COLUMNS if c not in row]
    assert int(row["pairs"]) == 1                    # --quick: one pair per repetition
    for col in ("off_Mrps", "on_Mrps", "on/off", "kernel_cpu_on_%", "updates_per_s",
                "widget_msgs_per_s", "rtt_off_ms", "rtt_on_ms"):
        v = float(row[col])
        assert math.isfinite(v) and v > 0, (col, v)
    assert row["bar"] == "on/off>=0.95 not judged (--quick)"
