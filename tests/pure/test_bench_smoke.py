"""Smoke runs of the benchmarks at tiny sizes: they run, write CSV, values are sane.

No timing assertions: speed is reported by ``workbench bench``, never asserted.
"""

from __future__ import annotations

import csv
import math
from argparse import Namespace
from pathlib import Path

from workbench.bench import BENCHMARKS, run


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _positive(row: dict[str, str], *cols: str) -> None:
    for c in cols:
        v = float(row[c])
        assert math.isfinite(v) and v > 0, (c, row[c])


def test_registry_names_both_benchmarks() -> None:
    assert {"compile", "local"} <= set(BENCHMARKS)


def test_bench_local_smoke(tmp_path: Path, capsys) -> None:
    args = Namespace(out=str(tmp_path), repeat=1, quick=True, records=4 * 8192,
                     batch_sizes=(4096, 8192))
    assert run("local", args) == 0
    rows = _rows(tmp_path / "local.csv")
    assert [int(r["batch_size"]) for r in rows] == [4096, 8192]
    for r in rows:
        assert int(r["records"]) == 4 * 8192
        assert int(r["batches"]) == 4 * 8192 // int(r["batch_size"])
        _positive(r, "engine_Mrps", "hand_fused_Mrps", "single_pass_Mrps", "ratio",
                  "engine_records_per_s", "hand_fused_records_per_s", "single_vs_fused")
        assert math.isfinite(float(r["engine_extra_us_per_batch"]))
    out = capsys.readouterr().out
    assert "engine_Mrps" in out and "bars are not judged" in out
    assert [r["bar"] for r in rows] == ["", ""]          # the bar is read at 65536 only


def test_verdicts_say_ok_missed_or_not_judged() -> None:
    from workbench.bench.common import verdict

    assert verdict("x>=1", True, quick=False) == "x>=1 ok"
    assert verdict("x>=1", False, quick=False) == "x>=1 MISSED"
    assert verdict("x>=1", False, quick=True) == "x>=1 not judged (--quick)"


def test_bench_compile_smoke(tmp_path: Path, capsys) -> None:
    args = Namespace(out=str(tmp_path), repeat=1, quick=True, programs=("fir",))
    assert run("compile", args) == 0
    rows = _rows(tmp_path / "compile.csv")
    assert [r["program"] for r in rows] == ["fir"]
    r = rows[0]
    _positive(r, "compile_ms", "load_ms", "ratio", "setup_ms", "numba_warm_ms")
    assert r["compile_miss"].startswith("1 ")      # the cold worker compiled
    assert r["load_hit"].startswith("1/1 ")        # the second worker loaded the artifact
    assert r["load_misses"] == "0"
    assert r["same_output"] == "True"
    assert r["bar"] == "ratio<=0.05 not judged (--quick)"
    assert "compile_ms" in capsys.readouterr().out
