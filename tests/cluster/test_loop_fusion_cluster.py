"""Fused loops on the Dask engine: compiled by the client, shipped with the segment's
artifacts, run by the workers; equal to numpy on one worker and across a hop; and
``workbench bench fusion`` end to end at tiny sizes (no speed assertions)."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

import numpy as np

from workbench.bench import fusion
from workbench.bench.fusion import program, reference


def test_a_fused_chain_on_one_worker_equals_numpy(session):
    run = program(4, 6).run(credits=2).wait()
    np.testing.assert_allclose(run.output, reference(4, 6), rtol=1e-12)
    assert "(one loop: gain+clamp+leaky+poly+smooth)" in run.plan.describe()
    assert not len(run.events.query("kind == 'note'"))


def test_fused_loops_on_both_sides_of_a_hop(session):
    run = program(8, 4).run(placement={"shift": "storage", "cap": "storage", "soft": "storage",
                                       "knee": "storage", "smooth": "storage"}).wait()
    np.testing.assert_allclose(run.output, reference(8, 4), rtol=1e-12)
    described = run.plan.describe()
    assert "(one loop: gain+clamp+leaky+poly)" in described
    assert "(one loop: shift+cap+soft+knee+smooth)" in described
    assert len(run.plan.units) == 2


def test_bench_fusion_smoke(session, tmp_path, capsys):
    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, session=session)
    assert fusion.main(args) == 0
    assert "workbench bench fusion" in capsys.readouterr().out
    with (tmp_path / "fusion.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["ops"] for r in rows] == ["2 + smooth", "4 + smooth", "8 + smooth"]
    for row in rows:
        assert not [c for c in fusion.COLUMNS if c not in row]
        assert row["loops"].endswith("+smooth") and row["loops"].startswith("gain+clamp")
        assert "local/hand>=0.8 not judged (--quick)" in row["bars"]
        pairs = row["local_pairs_Mrps"].split()
        assert len(pairs) == 1 and all(math.isfinite(float(p)) or p == "nan"
                                       for p in pairs[0].split("/"))
    assert not session.closed
