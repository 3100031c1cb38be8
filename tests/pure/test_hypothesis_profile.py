"""The Hypothesis profile every test runs under (tests/conftest.py): new examples on every
run, in CI too, and a failing example printed with the blob that reproduces it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_loaded_profile_draws_new_examples_and_prints_the_blob():
    s = settings()
    assert s.derandomize is False, "tests/conftest.py: the profile must not derandomize"
    assert s.print_blob is True and s.database is None


def test_under_ci_the_profile_keeps_ci_settings_but_is_randomised():
    # CI=true makes Hypothesis load its own "ci" profile (derandomize=True) when imported;
    # the conftest's profile replaces it: ci's deadline, random examples
    code = ("import tests.conftest\nfrom hypothesis import settings\ns = settings()\n"
            "print(s.derandomize, s.print_blob, s.database, s.deadline)")
    env = dict(os.environ, CI="true")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "None", "None"], out.stdout
