"""Test tiers by folder: pure, compile, cluster, magics, notebooks, docker, browser.

Every test session compiles into its own empty artifact store, so compile tests see real
cold compiles and real cache hits.
"""

from __future__ import annotations

import contextlib
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


_DOCKER: list[str | None] = []


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used here (one line), or None (checked once)."""
    if not _DOCKER:
        try:
            from workbench.containers.engine import unavailable

            _DOCKER.append(unavailable())
        except Exception as exc:  # noqa: BLE001 - any reason is a reason to skip
            _DOCKER.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    return _DOCKER[0]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The docker tier skips with a one-line reason where no engine answers; with
    ``WB_REQUIRE_DOCKER=1`` (set by CI) a missing engine fails it instead."""
    if item.get_closest_marker("docker") is not None:
        why = docker_unavailable()
        if why and os.environ.get("WB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"WB_REQUIRE_DOCKER=1 but {why}", pytrace=False)
        if why:
            pytest.skip(why)


@pytest.fixture(scope="session")
def artifact_root() -> Path:
    return Path(_STORE)


def ipython_shell():
    """The process's real IPython test shell (started once, shared by every tier)."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing import globalipapp

    shell = globalipapp.get_ipython()        # None once it has been started
    return shell if shell is not None else InteractiveShell.instance()


def workbench_kernel() -> str:
    """The "Python 3 (workbench)" kernelspec's name, installed into this venv if missing."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from workbench.notebook import kernelspec

    try:
        KernelSpecManager().get_kernel_spec(kernelspec.NAME)
    except NoSuchKernel:
        kernelspec.install(prefix=sys.prefix)
    return kernelspec.NAME


@contextlib.contextmanager
def kernel_client(name: str = "workbench", spec_manager=None):
    """A started kernel ``name`` and a ready client of it (shut down on exit)."""
    from jupyter_client.manager import KernelManager

    options = {} if spec_manager is None else {"kernel_spec_manager": spec_manager}
    km = KernelManager(kernel_name=name, **options)
    km.start_kernel()   # inherits WORKBENCH_ARTIFACTS from this module
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def execute_notebook(path: Path, kernel: str, **env: str):
    """Execute ``path`` top to bottom with ``kernel`` (``WB_SMALL=1`` and ``env``); returns
    the notebook after asserting that no cell raised."""
    from workbench import demo

    nb = demo.execute(path, kernel=kernel, env={"WB_SMALL": "1", **env})
    errors = [o for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    return nb
