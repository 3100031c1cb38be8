"""Fault injection for experiments and tests: ``wb.faults.kill``.

``kill(worker)`` SIGKILLs a worker's process (it kills itself: this works for a local,
a command-line or a docker cluster alike); ``kill(stage="name")`` the worker of one
instance of a stage of a running program. A nanny (the local cluster's default) starts a
replacement in about a second. The time of each kill is kept, so a run's ``recoveries``
can report how long detection took.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import GraphError, RunError

_KILLED: dict[str, float] = {}
_LOCK = threading.Lock()


def killed_at(worker: str) -> float | None:
    """When ``kill`` killed ``worker`` (None: not by ``kill``)."""
    with _LOCK:
        return _KILLED.get(worker)


def kill(worker: str | None = None, *, stage: str | None = None, index: int = 0,
         run: Any = None, session: Any = None) -> str:
    """SIGKILL a worker process; returns its address.

    ``worker``: its address. ``stage`` (instead): the worker of instance ``index`` of that
    stage in ``run`` (default: the session's most recently started program that is still
    running).
    """
    from . import cluster as _cluster
    from .stream import worker as W

    if (worker is None) == (stage is None):
        raise GraphError("kill needs a worker address or stage='name' (one of them).\n"
                         "Fix: wb.faults.kill('tcp://127.0.0.1:40123') or "
                         "wb.faults.kill(stage='running_sum').")
    if stage is not None:
        run = run or _running(session or _cluster.cluster())
        session = run.session
        units = [u for u in run.plan.units if stage in u.stages]
        if not units:
            raise GraphError(f"run {run.name or run.run_id} has no stage {stage!r}; its stages "
                             f"are {', '.join(s for u in run.plan.units for s in u.stages)}.")
        u = units[0]
        if not 0 <= index < u.parallelism:
            raise GraphError(f"stage {stage!r} runs as {u.parallelism} instance(s); there is "
                             f"no instance {index}.")
        worker = u.workers[index]
    session = session or _cluster.cluster()
    if worker not in session.workers:
        raise GraphError(f"no worker {worker!r} in the cluster; its workers are "
                         f"{', '.join(sorted(session.workers))}.")
    with _LOCK:
        _KILLED[worker] = time.time()
    session.client.run(W.kill, workers=[worker], wait=False)
    return worker


def _running(session: Any) -> Any:
    runs = [r for r in session.runs.values() if not r.done]
    if not runs:
        raise RunError("no program is running on this cluster; pass run=... or a worker.")
    return max(runs, key=lambda r: r.started or 0)
