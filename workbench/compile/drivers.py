"""Compile drivers: where numba compiles a program's segments before a run.

- ``local`` (the default): in this process, into the artifact store;
- ``docker``: in a long-lived container of the pinned workbench image
  (:class:`~workbench.compile.docker_driver.DockerDriver`), into the same store.

Choose per run (``prog.run(compile="docker")``) or per process
(``WORKBENCH_COMPILE=docker``). A driver runs ``fn(store, *args)`` where it compiles; the
engine passes its dry run (the first batch through the compiled chain) as ``fn``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..errors import WorkbenchError
from .artifacts import ArtifactStore, default_store

DRIVERS = ("local", "docker")
_LOCK = threading.Lock()
_RUNNING: dict[tuple[str, str], Any] = {}


class LocalDriver:
    """Compile in this process (numba's cache files go into ``store``)."""

    name = "local"
    local = True

    def __init__(self, store: ArtifactStore | None = None) -> None:
        self.store = store or default_store()

    def call(self, fn: Callable[..., Any], *args: Any, names: list[str] = ()) -> Any:
        return fn(self.store, *args)

    def close(self) -> None:
        pass


def default_driver() -> str:
    return os.environ.get("WORKBENCH_COMPILE") or "local"


def compile_driver(name: str | None = None, store: ArtifactStore | None = None) -> Any:
    """The driver called ``name`` for ``store`` (a docker driver is started once per store
    and process, then reused: its container is long-lived)."""
    name = name or default_driver()
    if name not in DRIVERS:
        raise WorkbenchError(f"compile must be one of {', '.join(DRIVERS)}; got {name!r}.\n"
                             "Fix: prog.run(compile='docker') or WORKBENCH_COMPILE=docker "
                             "(needs a Docker engine), or leave it unset (local).")
    store = store or default_store()
    if name == "local":
        return LocalDriver(store)
    key = (name, str(store.root))
    with _LOCK:
        drv = _RUNNING.get(key)
        if drv is None or not drv.running:
            from .docker_driver import DockerDriver

            drv = _RUNNING[key] = DockerDriver(store).start()
        return drv


def close_drivers() -> None:
    """Stop every driver container this process started."""
    with _LOCK:
        for drv in _RUNNING.values():
            drv.close()
        _RUNNING.clear()
