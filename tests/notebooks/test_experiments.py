"""Every notebook in notebooks/ runs through ``workbench experiment run ... -p size=small``
(a notebook added later is picked up here without editing this file) and leaves a complete
run folder; the same seed gives the same tables; ``compare`` flags a planted change;
``list`` and ``report`` read the runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tests.conftest import RESULTS, experiment_run
from workbench.cli import main
from workbench.experiments.history import compare
from workbench.experiments.record import chromium
from workbench.experiments.runs import notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = notebooks(ROOT)
ENV_KEYS = {"workbench", "commit", "python", "libraries", "cpu", "cpus", "memory_bytes",
            "parameters", "seed", "started_at", "ended_at", "seconds", "status", "cluster"}


def test_the_experiment_notebooks_are_found():
    names = [p.stem for p in NOTEBOOKS]
    assert names == sorted(names) and {"00_quickstart", "04_recovery"} <= set(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_through_the_experiment_command(path, kernel):
    name = path.stem
    on_disk = nbformat.read(str(path), as_version=4)
    params = [c for c in on_disk.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{name}: one cell tagged 'parameters'"
    for var in ("size", "seed", "results_dir"):
        assert f"{var} = " in params[0].source, (name, var)
    assert all(not c.get("outputs") for c in on_disk.cells if c.cell_type == "code"), \
        f"{name} is committed with outputs"

    run_dir = experiment_run(name)
    nb = nbformat.read(str(run_dir / f"{name}.ipynb"), as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'size = "small"' in injected[0].source

    env = json.loads((run_dir / "environment.json").read_text())
    assert ENV_KEYS <= set(env), ENV_KEYS - set(env)
    assert env["status"] == "ok" and env["ended_at"] > env["started_at"]
    assert env["parameters"]["size"] == "small" and env["seed"] == env["parameters"]["seed"]
    assert {"numpy", "numba", "llvmlite", "dask", "distributed"} <= set(env["libraries"])
    assert len(env["commit"] or "") == 40 and env["cpus"] >= 1 and env["memory_bytes"] > 0

    meta = json.loads((run_dir / "experiment.json").read_text())
    assert meta["name"] == name and len(meta["question"]) > 20
    assert meta["parameters"]["size"] == "small"
    assert meta["tables"] and meta["figures"] and meta["headlines"], meta
    for tname, spec in meta["tables"].items():
        table = pd.read_csv(run_dir / spec["file"])
        assert len(table) == spec["rows"] > 0, tname
        assert set(spec["measured"]) <= set(table.columns), tname
    for fname, files in meta["figures"].items():
        html = (run_dir / files["html"]).read_text()
        assert "plotly" in html.lower() and len(html) > 100_000      # plotly.js inside
        fig = json.loads((run_dir / files["json"]).read_text())
        assert fig["data"], fname
        if chromium():
            assert (run_dir / files["png"]).read_bytes()[:4] == b"\x89PNG", fname


def _values(run_dir: Path) -> dict[str, pd.DataFrame]:
    meta = json.loads((run_dir / "experiment.json").read_text())
    return {n: pd.read_csv(run_dir / s["file"]).drop(columns=s["measured"])
            for n, s in meta["tables"].items()}


def test_the_same_seed_gives_the_same_tables(kernel):
    a = experiment_run("00_quickstart")
    b = experiment_run("00_quickstart", fresh=True)
    ta, tb = _values(a), _values(b)
    assert set(ta) == set(tb) == {"throughput", "outputs", "output"}
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name])
    assert ta["output"]["sum"].iloc[0] != 0            # a value the seed decides
    result = compare(a, b, RESULTS)
    flagged = pd.concat(result["tables"].values())
    assert not flagged[flagged.flagged & ~flagged.measured].size, flagged[flagged.flagged]


def test_compare_flags_a_planted_change(tmp_path, capsys, kernel):
    a = experiment_run("00_quickstart")
    root = tmp_path / "results"
    for run in ("A", "B"):
        shutil.copytree(a, root / "00_quickstart" / run)
    b = root / "00_quickstart" / "B"
    out = pd.read_csv(b / "tables" / "output.csv")
    out.loc[0, "sum"] += 1.0                                    # a value that must not move
    out.to_csv(b / "tables" / "output.csv", index=False)
    speed = pd.read_csv(b / "tables" / "throughput.csv")
    speed.loc[0, "Mrecords_per_s"] *= 10                         # a measurement, 10x
    speed.to_csv(b / "tables" / "throughput.csv", index=False)
    env = json.loads((b / "environment.json").read_text())
    numba, env["libraries"]["numba"] = env["libraries"]["numba"], "0.0.1"
    (b / "environment.json").write_text(json.dumps(env))

    result = compare("A", "B", root)
    flagged = pd.concat(result["tables"].values())
    flagged = flagged[flagged.flagged]
    assert sorted(flagged.column) == ["Mrecords_per_s", "sum"], flagged
    assert result["environment"] == [("libraries.numba", numba, "0.0.1")]
    assert main(["experiment", "compare", "A", "B", "--results", str(root), "--strict"]) == 1
    text = capsys.readouterr().out
    assert "libraries.numba" in text and "+900.0%" in text and "2 flagged" in text
    assert main(["experiment", "compare", "A", "A", "--results", str(root), "--strict"]) == 0


def test_list_and_report_read_the_runs(tmp_path, capsys, kernel):
    run_dir = experiment_run("00_quickstart")
    assert main(["experiment", "list", "--results", str(RESULTS)]) == 0
    listed = capsys.readouterr().out
    assert run_dir.name in listed and "local_Mrps" in listed
    out = tmp_path / "report.html"
    assert main(["experiment", "report", "--results", str(RESULTS), "--out", str(out)]) == 0
    page = out.read_text()
    assert 'id="00_quickstart"' in page and "Plotly.newPlot" in page
    assert "How fast do three numba-compiled operators stream" in page
