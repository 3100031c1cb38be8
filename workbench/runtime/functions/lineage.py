"""Function results recomputed from lineage when their worker dies.

Dask recomputes a lost result from its task when the inputs still exist, but only on a
worker the task may run on. Ours are pinned: a coalesced ``map`` chunk to one worker of its
side, a storage-side call to the workers that keep its store reference. When that worker
is removed, its tasks would wait for it forever (Dask's "no-worker" state). This scheduler
plugin widens their restriction to the other workers of the same side (compute, or
storage), or to the nanny's replacement when there is no other, and lets Dask schedule
them again: the calls run once more and their futures resolve.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN = "workbench-lineage"
PREFIXES = ("wb-fn-", "wb-map-")


def side(resources: dict) -> str:
    return "storage" if (resources or {}).get("storage", 0) > 0 else "compute"


class Lineage(SchedulerPlugin):
    """On the scheduler: re-restrict our function tasks stranded by a removed worker."""

    name = PLUGIN

    def __init__(self) -> None:
        self.sides: dict[str, str] = {}          # worker -> compute | storage
        self.stranded: dict[str, str] = {}       # lost worker -> its side (none left)
        self.gone: dict[str, str] = {}           # every removed worker -> its side
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        for addr, ws in scheduler.workers.items():
            self.sides[addr] = side(ws.resources)

    def add_worker(self, scheduler: Any, worker: str) -> None:
        ws = scheduler.workers.get(worker)
        kind = side(ws.resources if ws is not None else {})
        self.sides[worker] = kind
        lost = [w for w, s in self.stranded.items() if s == kind]
        if lost:                         # tasks that had nowhere to go: here, now
            for w in lost:
                del self.stranded[w]
            self._move(scheduler, set(lost), {worker}, f"wb-lineage-add-{worker}")

    def remove_worker(self, scheduler: Any, worker: str, *, stimulus_id: str | None = None,
                      **kwargs: Any) -> None:
        kind = self.sides.pop(worker, "compute")
        self.gone[worker] = kind
        others = {w for w, s in self.sides.items() if s == kind and w in scheduler.workers}
        if not others:
            self.stranded[worker] = kind
            return
        self._move(scheduler, {worker}, others, stimulus_id or f"wb-lineage-{worker}")

    def transition(self, key: Any, start: str, finish: str, *args: Any,
                   **kwargs: Any) -> None:
        """A task of ours with nowhere to run because every worker it was restricted to
        had already left when it was submitted (the client's view of the workers lags the
        scheduler's by up to a couple of seconds): restricted again, like the tasks a
        removal strands, from the next turn of the event loop."""
        if finish != "no-worker" or not str(key).startswith(PREFIXES):
            return
        sched = self.scheduler
        ts = sched.tasks.get(key) if sched is not None else None
        if ts is None or not ts.worker_restrictions:
            return
        dead = {w for w in ts.worker_restrictions if w not in sched.workers}
        if not dead or dead != set(ts.worker_restrictions):
            return
        kinds = {self.gone.get(w, "compute") for w in dead}
        to = {w for w, s in self.sides.items() if s in kinds and w in sched.workers}
        if not to:
            self.stranded.update({w: self.gone.get(w, "compute") for w in dead})
            return
        sched.loop.add_callback(self._move, sched, dead, to, f"wb-lineage-late-{key}")

    def _move(self, scheduler: Any, lost: set[str], to: set[str], stimulus_id: str) -> None:
        again = {}
        for key, ts in scheduler.tasks.items():
            if not str(key).startswith(PREFIXES) or not ts.worker_restrictions:
                continue
            if not ts.worker_restrictions & lost:
                continue
            ts.worker_restrictions = (set(ts.worker_restrictions) - lost) | to
            if ts.state == "no-worker":
                again[key] = "waiting"
        if again:
            scheduler.transitions(again, stimulus_id=stimulus_id)


_INSTALLED: set[int] = set()


def ensure(session: Any) -> None:
    """Register the plugin on the session's scheduler (once per client)."""
    if id(session.client) in _INSTALLED:
        return
    if not session.client.run_on_scheduler(_has_plugin):    # (another client's already)
        session.client.register_plugin(Lineage(), name=PLUGIN)
    _INSTALLED.add(id(session.client))


def _has_plugin(dask_scheduler: Any = None) -> bool:
    return PLUGIN in dask_scheduler.plugins
