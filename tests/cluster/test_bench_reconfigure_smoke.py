"""``workbench bench reconfigure`` runs end to end at the quick size on the quickstart
program (no speed assertions: the bars are judged by the full benchmark)."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

from workbench.bench import BENCHMARKS, reconfigure


def test_bench_reconfigure_smoke(session, tmp_path, capsys):
    assert BENCHMARKS["reconfigure"] == "workbench.bench.reconfigure"
    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, programs=("quickstart",),
                           pairs=2, session=session)
    assert reconfigure.main(args) == 0
    assert "workbench bench reconfigure" in capsys.readouterr().out
    with (tmp_path / "reconfigure.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["mode"], r["change"]) for r in rows] == [
        (mode, change) for mode in ("live", "restart") for change in (
            "scale 1->2", "scale 2->1", "running_sum compute->storage",
            "running_sum storage->compute")]
    for r in rows:
        for col in ("switch_s", "drained_s", "steady_Mrps"):
            assert math.isfinite(float(r[col])) and float(r[col]) > 0, (r["change"], col)
        # after/fresh: --pairs pairs of runs of their own per live switch, their median
        live = r["mode"] == "live"
        pairs = [tuple(map(float, p.split("/"))) for p in r["after/fresh_all"].split()]
        assert len(pairs) == (2 if live else 0), r["after/fresh_all"]
        assert all(a > 0 and f > 0 for a, f in pairs)
        if live:
            mid = (pairs[0][0] / pairs[0][1] + pairs[1][0] / pairs[1][1]) / 2
            assert math.isclose(float(r["after/fresh"]), mid, rel_tol=2e-3)
        assert math.isfinite(float(r["fresh_Mrps"])) == live, r["fresh_Mrps"]
        assert int(r["zero"]) >= 0 and math.isfinite(float(r["gap_ms"]))
        assert r["bars"] == ("baseline" if r["mode"] == "restart" else
                             "min/lower>=0.5 not judged (--quick); "
                             "after/fresh within 10% not judged (--quick)")
        assert r["runs"] == "1" and int(r["zero"]) == int(r["zero_all"])
        for col in ("zero_next", "zero_steady"):          # counts of 100 ms windows
            assert 0 <= int(r[col]) <= (10 if col == "zero_next" else 15), (col, r[col])
            assert int(r[col]) == int(r[f"{col}_all"])
        low = min(float(r["steady_Mrps"]), float(r["after_Mrps"]))
        assert math.isclose(float(r["min/lower"]), float(r["low_Mrps"]) / low, rel_tol=1e-6)
        assert 0.0 <= float(r["control"]) <= 1.0 or r["control"] == "nan", r["control"]
        assert float(r["steal%"]) >= 0.0, r["steal%"]     # /proc/stat: this is Linux
    with (tmp_path / "reconfigure_scale.csv").open() as f:
        (scale,) = list(csv.DictReader(f))
    for col in ("one_Mrps", "loop_Mrps"):
        assert math.isfinite(float(scale[col])) and float(scale[col]) > 0, col
    assert not session.closed
