"""A run's generations: the plan it started with, then one more per reconfiguration.

Generation ``g + 1`` reads the source from the batch where generation ``g`` stopped
reading (the switch point), and its instances that hold state take over the old
instances' cuts (:mod:`workbench.runtime.stream.handover`). :class:`Generations` is the
part of :class:`~workbench.runtime.stream.engine.DaskRun` that takes reconfiguration
requests, queues them and hands cuts on the client's side.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import GraphError, RunError
from ...placement import Plan, place
from . import worker as W
from .handover import cut_for


@dataclass
class Generation:
    """One plan a run has been running: its instances (futures), what they reported, and
    the sequence numbers it read: ``start`` (None until the switch decides it) up to
    ``stop`` (None while it is the one reading)."""

    index: int
    plan: Plan
    artifacts: dict
    start: int | None = 0
    stop: int | None = None
    futures: list = field(default_factory=list)
    results: dict = field(default_factory=dict)       # (unit, index) -> report
    takeovers: dict = field(default_factory=dict)     # (unit, index) -> Takeover (gen > 0)
    given: set = field(default_factory=set)           # takeovers sent their cut
    inputs: dict = field(default_factory=dict)        # unit -> its input type (warm-up)
    abandoned: bool = False          # lost a worker: stopped, restored from a checkpoint

    @property
    def workers(self) -> list[str]:
        return sorted({w for u in self.plan.units for w in u.workers})

    @property
    def names(self) -> set[str]:
        """Its instances' names, as they report them."""
        return {f"{u.name}[{i}]" + (f"@g{self.index}" if self.index else "")
                for u in self.plan.units for i in range(u.parallelism)}

    @property
    def size(self) -> int:
        return sum(u.parallelism for u in self.plan.units)

    @property
    def drained(self) -> bool:
        return len(self.results) == self.size


class Generations:
    """Reconfiguration requests and the client's side of handing cuts over (a mixin of
    :class:`~workbench.runtime.stream.engine.DaskRun`)."""

    def _wait_entered(self, gen: Generation, what: str, patience: float = 120.0) -> None:
        """Until every instance of ``gen`` has entered its loop (polls its workers through
        the scheduler, backing off from 5 to 50 ms); ``what`` names them in errors
        ("new", "restored")."""
        deadline = time.monotonic() + patience
        pause = 0.005
        while True:
            got = self.session.client.run(W.entered, self.wire, workers=gen.workers)
            if gen.names <= {n for v in got.values() for n in v}:
                return
            failed = [f for f in gen.futures if f.status == "error"]
            if failed:
                raise RunError(f"a {what} instance failed to start: {failed[0].exception()}")
            if self._done.is_set() or time.monotonic() > deadline:
                raise RunError(f"the {what} instances did not start"
                               + (": the run ended." if self._done.is_set()
                                  else f" in {patience:g} s."))
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)

    def reconfigure(self, parallelism: dict | None = None, placement: dict | None = None,
                    mode: str = "live") -> Any:
        """Change the parallelism and placement of the running program; returns a
        :class:`~workbench.runtime.stream.reconfigure.Reconfiguration` at once.

        ``parallelism`` and ``placement`` are hints as in ``prog.run`` (stage -> instances,
        stage -> compute, storage, a worker address or resources), applied on top of the
        ones the run has. ``mode="live"`` (default) switches without stopping;
        ``mode="restart"`` stops, hands over the state and restarts (the baseline). The
        new plan is checked here: an unknown stage or worker, or parallelism > 1 for a
        stateful operator without a key, raises at once and the run goes on untouched. A
        request while one is in flight waits for it (they run one after another).
        """
        from .reconfigure import Reconfiguration

        if mode not in ("live", "restart"):
            raise GraphError(f"mode must be 'live' or 'restart'; got {mode!r}.")
        if self.done or self.status != "running":
            raise RunError(f"run {self.name or self.run_id} is {self.status}: only a running "
                           "program can be reconfigured.\nFix: start it again with the "
                           "parallelism and placement you want.")
        if self._recovering:
            raise RunError(f"run {self.name or self.run_id} is recovering from a lost worker; "
                           "it cannot be reconfigured meanwhile.\nFix: ask again once "
                           "run.recoveries shows it caught up.")
        for label, hints in (("parallelism", parallelism), ("placement", placement)):
            if hints is not None and not isinstance(hints, dict):
                raise GraphError(f"{label} must be a dict of stage -> hint; got {hints!r}.")
        asked = ({**self._asked[0], **(placement or {})},
                 {**self._asked[1], **(parallelism or {})})
        plan = place(self.pipeline, self.session.workers, asked[0], asked[1])
        rc = Reconfiguration(self, plan, asked, mode,
                             {"parallelism": parallelism, "placement": placement})
        self._asked = asked
        self.reconfigurations.append(rc)
        if self._queue is None:
            import queue

            self._queue = queue.Queue()
            threading.Thread(target=self._reconfigurer, daemon=True,
                             name=f"wb-reconfigure-{self.run_id}").start()
        self._queue.put(rc)
        return rc

    def _reconfigurer(self) -> None:
        while True:
            rc = self._queue.get()
            if self.done:
                rc.settle(RunError("the run ended before the reconfiguration started."))
                continue
            rc.execute()

    def _reconfiguring(self) -> bool:
        return any(not rc.done for rc in self.reconfigurations)

    def _handed(self, old: Generation) -> None:
        """An instance of ``old`` ended: send every instance of the generation after it
        whose old instances have all ended what it takes over."""
        if old.index + 1 >= len(self.gens):
            return
        new = self.gens[old.index + 1]
        if new.start is None:
            return                                  # not switched yet (restart: later)
        with self._handing:
            self._hand(old, new)

    def _hand(self, old: Generation, new: Generation) -> None:
        """Old instances send their parts of the cut straight to the new instances'
        workers as they stop (``handed`` in their reports); here the client sends the
        parts they could not, and counts what moved once all of a new instance's old
        instances have stopped."""
        for key, t in new.takeovers.items():
            if key in new.given or not t.depends <= set(old.results):
                continue
            addr = new.plan.units[t.unit].workers[t.index]
            parts, missing = {}, {}
            for d in sorted(t.depends):
                res = old.results[d]
                pkey = (new.index, t.unit, t.index, *d)
                parts[d] = res["cut"].part(t.stages, t.branchings, t.keyed)
                if pkey not in {tuple(k) for k in res.get("handed", ())}:
                    missing[pkey] = parts[d]
            if missing:
                self.session.client.run(W.give_parts, self.wire, missing, workers=[addr])
            new.given.add(key)
            unit = new.plan.units[t.unit]
            moved = kept = 0          # bytes to another worker, bytes that stayed on one
            for d, part in parts.items():
                n = cut_for(t, part, unit, new.start).nbytes
                if old.results[d]["worker"] == addr:
                    kept += n
                else:
                    moved += n
            for rc in self.reconfigurations:
                if rc.gen == new.index:
                    rc.moved(key, moved, kept, via_client=len(missing))
