"""The README as a new user runs it: every Python snippet as a script in a fresh process
(the docker tier runs the ones that need a Docker engine), the IPython cells in a real
IPython shell, and every command it lists answers ``--help``."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.S | re.M)


def snippets(lang: str) -> list[str]:
    return [body for tag, body in BLOCKS if tag == lang]


def needs_docker(code: str) -> bool:
    return '"docker"' in code


def run_script(code: str, tmp_path: Path, name: str, timeout: float = 900
               ) -> subprocess.CompletedProcess:
    script = tmp_path / name
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ})


PYTHON = [c for c in snippets("python") if not needs_docker(c)]


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_snippets_run_as_written(code, tmp_path):
    out = run_script(code, tmp_path, "snippet.py")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "Traceback" not in out.stderr, out.stderr[-4000:]


def test_the_readme_has_the_snippets_it_promises():
    assert len(snippets("python")) >= 3 and snippets("ipython")
    assert all('if __name__ == "__main__":' in c for c in snippets("python")
               if "wb.cluster" in c or ".run(" in c)


SHELL = '''
import sys
from IPython.core.interactiveshell import InteractiveShell

if __name__ == "__main__":
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "workbench")
    for i, cell in enumerate(CELLS):
        result = shell.run_cell(cell)
        if not result.success:
            print(f"cell {i} failed: {result.error_in_exec!r}", file=sys.stderr)
            sys.exit(1)
    print("ran", len(CELLS), "cells; smooth:", shell.user_ns["smooth"].status)
'''


def test_ipython_cells_run_in_a_real_shell_after_load_ext(tmp_path):
    code = f"CELLS = {snippets('ipython')!r}\n" + textwrap.dedent(SHELL)
    out = run_script(code, tmp_path, "cells.py")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "smooth: finished" in out.stdout


def commands() -> list[list[str]]:
    """``workbench ...`` and ``make ...`` lines of the README's plain blocks."""
    out = []
    for tag, body in BLOCKS:
        if tag:
            continue
        for line in body.splitlines():
            words = shlex.split(line.split("#")[0])
            if words and words[0] in ("workbench", "make"):
                out.append(words)
    return out


@pytest.mark.parametrize("words", commands(), ids=lambda w: " ".join(w))
def test_listed_commands_exist(words):
    if words[0] == "make":
        out = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    else:
        sub = [w for w in words[1:] if not w.startswith("-")][:2]
        out = subprocess.run([sys.executable, "-m", "workbench", *sub, "--help"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
