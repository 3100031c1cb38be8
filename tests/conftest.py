"""Test tiers by folder: pure, compile, cluster, magics, notebooks, docker, browser.

Every test session compiles into its own empty artifact store, so compile tests see real
cold compiles and real cache hits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

TIERS = ("pure", "compile", "cluster", "magics", "notebooks", "docker", "browser")

_STORE = tempfile.mkdtemp(prefix="wb-test-artifacts-")
os.environ["WORKBENCH_ARTIFACTS"] = _STORE
os.environ.pop("WORKBENCH_DISABLE_JIT", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def artifact_root() -> Path:
    return Path(_STORE)


def ipython_shell():
    """The process's real IPython test shell (started once, shared by every tier)."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing import globalipapp

    shell = globalipapp.get_ipython()        # None once it has been started
    return shell if shell is not None else InteractiveShell.instance()
