"""Compile drivers without an engine: choosing one, the local driver, and the pieces of the
docker support that are pure (no Docker needed)."""

from __future__ import annotations

import pytest

from workbench.compile import ArtifactStore
from workbench.compile.drivers import LocalDriver, compile_driver
from workbench.errors import WorkbenchError
from workbench.runtime.docker_cluster import DockerCluster
from workbench.runtime.session import _patch_only


def test_local_is_the_default_and_runs_in_process(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_COMPILE", raising=False)
    drv = compile_driver(store=ArtifactStore(tmp_path))
    assert isinstance(drv, LocalDriver) and drv.local
    assert drv.call(lambda store, x: (store.root, x * 2), 21) == (tmp_path, 42)


def test_an_unknown_driver_names_the_choices(monkeypatch):
    with pytest.raises(WorkbenchError, match="(?s)local, docker.*compile='docker'"):
        compile_driver("podman")
    monkeypatch.setenv("WORKBENCH_COMPILE", "nope")
    with pytest.raises(WorkbenchError, match="got 'nope'"):
        compile_driver()


def test_docker_cluster_arguments_are_checked_before_any_engine_call():
    with pytest.raises(WorkbenchError, match="at least one worker"):
        DockerCluster(compute=0, storage=0)
    with pytest.raises(WorkbenchError, match="'mount' or 'ship'"):
        DockerCluster(store="nfs")


TABLE = """Mismatched versions found

+---------+----------------+----------------+---------+
| Package | Client         | Scheduler      | Workers |
+---------+----------------+----------------+---------+
| python  | 3.11.7.final.0 | 3.11.2.final.0 | None    |
+---------+----------------+----------------+---------+"""


def test_only_a_python_patch_difference_is_quiet():
    assert _patch_only(TABLE)
    assert not _patch_only(TABLE.replace("3.11.2", "3.12.1"))
    assert not _patch_only(TABLE.replace("| python  |", "| numpy   |"))
