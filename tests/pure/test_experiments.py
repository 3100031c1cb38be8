"""The experiment scheme without a kernel: parameters, what a notebook records, the
comparison's rules, the environment, the report page, and the errors a user meets."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from workbench.cli import main
from workbench.experiments import ExperimentError, Results
from workbench.experiments.environment import differences, environment
from workbench.experiments.history import compare_tables, list_runs
from workbench.experiments.report import build
from workbench.experiments.runs import _write_env, declared_parameters, parse_params, run


def test_parameters_parse_as_yaml_scalars():
    assert parse_params(["size=small", "seed=2", "rate=0.5", "on=true", "name="]) == \
        {"size": "small", "seed": 2, "rate": 0.5, "on": True, "name": ""}
    with pytest.raises(ExperimentError, match="expected NAME=VALUE"):
        parse_params(["size"])


def _notebook(path, tagged=True):
    cell = new_code_cell('size = "full"\nseed = 1\nresults_dir = None',
                         metadata={"tags": ["parameters"]} if tagged else {})
    nb = new_notebook(cells=[cell, new_code_cell("print(size)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_declared_parameters_and_the_errors_before_anything_runs(tmp_path):
    nb = _notebook(tmp_path / "09_try.ipynb")
    assert declared_parameters(nb) == {"size": "full", "seed": 1, "results_dir": None}
    with pytest.raises(ExperimentError, match=r"no parameter\(s\) \['sizes'\].*size='full'"):
        run(nb, {"sizes": "small"}, results=tmp_path / "r")
    with pytest.raises(ExperimentError, match="no cell tagged 'parameters'"):
        run(_notebook(tmp_path / "10_untagged.ipynb", tagged=False), results=tmp_path / "r")
    with pytest.raises(ExperimentError, match="no notebook at"):
        run(tmp_path / "nope.ipynb")
    assert not (tmp_path / "r").exists()                 # nothing was started


def test_results_record_tables_figures_headlines(tmp_path):
    res = Results(tmp_path / "run", "05_x", question="q?", parameters={"size": "small"})
    df = pd.DataFrame({"case": ["a", "b"], "n": [1, 2], "seconds": [0.1, 0.2]})
    res.table("t", df, measured=["seconds"])
    res.figure("f", go.Figure(go.Bar(x=[1, 2], y=[3, 4])), png=False)
    res.headline("h", 1.5, "s", "a note")
    meta = json.loads((tmp_path / "run" / "experiment.json").read_text())
    assert meta["tables"]["t"] == {"file": "tables/t.csv", "rows": 2, "measured": ["seconds"],
                                   "tolerance": 0.25, "key": ["case"]}
    assert set(meta["figures"]["f"]) == {"html", "json"}
    assert meta["headlines"]["h"] == {"value": 1.5, "unit": "s", "note": "a note"}
    with pytest.raises(ExperimentError, match=r"column\(s\) \['secs'\] are not in it"):
        res.table("u", df, measured=["secs"])
    with pytest.raises(ExperimentError, match="becomes a file name"):
        res.headline("a/b", 1)
    scratch = Results(None, "05_x")
    assert scratch.scratch and scratch.dir.exists()
    scratch.discard()
    assert not scratch.dir.exists()


def test_compare_rules_measured_within_tolerance_others_exact():
    spec = {"key": ["case"], "measured": ["seconds"], "tolerance": 0.25}
    a = pd.DataFrame({"case": ["x", "y"], "n": [1, 2], "seconds": [1.0, 1.0]})
    b = pd.DataFrame({"case": ["y", "x"], "n": [2, 1], "seconds": [1.2, 1.0]})
    assert not compare_tables(a, b, spec).flagged.any()      # rows matched by key
    b.loc[0, "seconds"] = 1.3                                   # y: +30% > 25%
    b.loc[1, "n"] = 5                                           # x: not a measurement
    got = compare_tables(a, b, spec)
    assert sorted(map(tuple, got[got.flagged][["row", "column"]].values)) == \
        [("x", "n"), ("y", "seconds")]
    c = pd.concat([a, pd.DataFrame({"case": ["z"], "n": [3], "seconds": [1.0]})])
    extra = compare_tables(a, c, spec)
    assert set(extra[extra.flagged].row) == {"z"}               # a row on one side only


def test_environment_and_its_differences(tmp_path):
    env = environment(tmp_path)
    assert env["cpus"] >= 1 and "numpy" in env["libraries"] and env["python"]
    assert env["commit"] is None                                # not a git tree
    b = {**env, "libraries": {**env["libraries"], "numpy": "0"}, "started_at": 5}
    assert differences(env, b) == [("libraries.numpy", env["libraries"]["numpy"], "0")]


def test_list_and_report_from_recorded_runs(tmp_path, capsys):
    root = tmp_path / "results"
    for i, v in enumerate((1.0, 2.0)):
        d = root / "05_x" / f"run{i}"
        res = Results(d, "05_x", question="Is it fast?")
        res.figure("f", go.Figure(go.Scatter(x=[1, 2], y=[v, v])), png=False)
        res.headline("speed", v, "M/s")
        _write_env(d, {"run_id": d.name, "status": "ok", "started_at": 100 + i,
                       "parameters": {"size": "small", "seed": 1}, "libraries": {}})
    runs = list_runs(root)
    assert runs.run_id.tolist() == ["run0", "run1"] and runs.speed.tolist() == [1.0, 2.0]
    page = build(root).read_text()
    assert page.count("Plotly.newPlot") == 1 and "Is it fast?" in page   # the latest run
    assert ">run0<" in page and ">run1<" in page                          # its history
    assert main(["experiment", "list", "--results", str(root)]) == 0
    assert "run1" in capsys.readouterr().out
    assert main(["experiment", "compare", "run0", "nope", "--results", str(root)]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
