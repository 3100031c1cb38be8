"""The ``workbench`` command as a user runs it: a fresh process per command, real numba."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def workbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("command", [
    [], ["kernel"], ["kernel", "install"], ["kernel", "run-container"], ["demo"],
    ["bench"], ["containers"], ["containers", "build"], ["containers", "status"],
    ["containers", "clean"], ["containers", "certs"], ["containers", "base"],
])
def test_every_command_has_help(command):
    out = workbench(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: workbench"), out.stdout


def test_an_unknown_command_is_refused_with_the_choices():
    out = workbench("bench", "nosuch")
    assert out.returncode == 2
    assert "invalid choice: 'nosuch'" in out.stderr and "local" in out.stderr


def test_kernel_install_writes_both_kernelspecs(tmp_path):
    for extra, name, argv_tail in (([], "workbench", ["--ext=workbench"]),
                                   (["--container"], "workbench-container",
                                    ["workbench", "kernel", "run-container",
                                     "{connection_file}"])):
        out = workbench("kernel", "install", "--prefix", str(tmp_path), *extra)
        assert out.returncode == 0, out.stderr
        assert f"installed kernelspec {name!r}" in out.stdout
        spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / name /
                           "kernel.json").read_text())
        assert spec["argv"][0] == sys.executable            # this environment's Python
        assert spec["argv"][-len(argv_tail):] == argv_tail


def test_bench_local_quick_writes_its_csv_and_table(tmp_path):
    out = workbench("bench", "local", "--quick", "--repeat", "1", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "== workbench bench local" in out.stdout and "CSV:" in out.stdout
    assert "bars are not judged" in out.stdout
    with (tmp_path / "local.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(r["engine_Mrps"]) > 0 for r in rows)
