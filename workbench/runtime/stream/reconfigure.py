"""Live reconfiguration of a running program (Gloss's order), and the stop-and-restart
baseline.

``live``: while the old generation runs, plan the new configuration and compile it
(re-fused for the new placement: stages that become co-located fuse, a stage that moves
away splits out; the compile thread runs at a lower priority than the data path); start
the new instances (they load their code, a batch of zeros through it, at a lower priority
too, and wait); switch at a batch boundary ``S`` (two round trips, at the run's own
priority: the old readers get a fence a tenth of a second of reading ahead of where they
are and read on up to it, ``S`` is the highest fence, the new readers start at ``S``;
the source does not pause while ``S`` is decided); each old instance, after its last
batch, sends each new instance that depends on it its part of its cut straight to that
instance's worker; a new instance that takes
something over starts as soon as it has the parts of exactly the old instances that held
it (a keyed stage's groups from their old owners); the old instances drain and are freed.
Stateless new instances start at ``S`` at once. Nothing stops.

``restart`` (Flink-style, for comparison): stop the old generation at ``S``, wait until it
has drained, then start the new instances, hand over the state, resume at ``S``: the
source and the sink see a gap.

Both keep every guarantee of the run: each batch is processed exactly once, by the old plan
or the new; ordered consumers see batches in order; the output equals the run's output had
it never been reconfigured.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ...errors import RunError, WorkbenchError
from . import worker as W

PHASES = ("requested", "compiled", "started", "switched", "state moved", "drained", "freed")
RESTART_PHASES = ("requested", "compiled", "stopped", "drained", "started", "switched",
                  "state moved", "freed")


class Reconfiguration:
    """One reconfiguration of a run: returned at once by ``run.reconfigure``.

    ``wait()`` blocks until it has drained the old instances (re-raising its error),
    ``done`` says whether it has, ``timeline`` is a DataFrame of its phases (requested,
    compiled, started, switched at batch ``S``, state moved, drained, freed) with the
    seconds since it was requested. A reconfiguration that fails (a new plan that does not
    compile, a run that ended meanwhile) leaves the run as it was.
    """

    def __init__(self, run: Any, plan: Any, hints: tuple[dict, dict], mode: str,
                 changes: dict) -> None:
        self.run, self.plan, self.hints, self.mode = run, plan, hints, mode
        self.changes = changes
        self.requested = time.time()
        self.gen: int | None = None
        self.switch: int | None = None
        self.error: BaseException | None = None
        self.bytes_moved = 0              # state sent to another worker (bytes)
        self.bytes_kept = 0               # state that stayed on its worker (bytes)
        self.via_client = 0               # cut parts the client had to deliver
        self._phases: list[tuple[str, float, str]] = []
        self._expected = self._given = 0
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.phase("requested", _describe(changes, mode))

    # --- what users read ------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Reconfiguration:
        if not self._done.wait(timeout):
            raise TimeoutError(f"reconfiguration still in phase '{self._phases[-1][0]}' "
                               f"after {timeout} s.")
        if self.error is not None:
            raise self.error
        return self

    @property
    def timeline(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"phase": p, "seconds": t - self.requested, "detail": d}
                             for p, t, d in self._phases])

    def seconds(self, phase: str) -> float | None:
        """Seconds from the request to ``phase`` (None if it has not happened)."""
        return next((t - self.requested for p, t, d in self._phases if p == phase), None)

    def __repr__(self) -> str:
        state = "done" if self.done and self.error is None else (
            f"failed: {self.error}" if self.error else f"in phase '{self._phases[-1][0]}'")
        return f"<Reconfiguration {_describe(self.changes, self.mode)}: {state}>"

    # --- the procedure -------------------------------------------------------------------
    def phase(self, name: str, detail: str = "") -> None:
        with self._lock:
            self._phases.append((name, time.time(), detail))
        first = detail.splitlines()[0] if detail else ""
        self.run.event("reconfigure", f"{name}" + (f": {first}" if first else ""))

    def moved(self, key: tuple[int, int], moved: int, kept: int, via_client: int) -> None:
        """New instance ``key`` has all of its cut: ``moved`` bytes came from another
        worker, ``kept`` from its own; ``via_client`` parts went through the client (old
        instances that could not send theirs straight to the new worker)."""
        with self._lock:
            self.bytes_moved += moved
            self.bytes_kept += kept
            self.via_client += via_client
            self._given += 1
            everything = self._given == self._expected
        if everything:
            how = (f", {self.via_client} part(s) through the client" if self.via_client
                   else ", worker to worker")
            self.phase("state moved", f"{self.bytes_moved:,} bytes to another worker, "
                       f"{self.bytes_kept:,} kept on the same worker, to {self._given} "
                       f"instance(s){how}")

    def settle(self, error: BaseException | None) -> None:
        """End it (the run ended or failed meanwhile)."""
        if not self._done.is_set():
            self.error = self.error or error
            self._done.set()

    def execute(self) -> None:
        """Run the procedure (in the run's reconfiguration thread)."""
        try:
            self._execute()
        except BaseException as exc:  # noqa: BLE001 - reported through wait(); run untouched
            if not isinstance(exc, WorkbenchError):
                exc = RunError(f"reconfiguration failed: {type(exc).__name__}: {exc}")
            self.error = exc
            self.run.event("reconfigure", f"failed: {str(exc).splitlines()[0]}")
        finally:
            self._done.set()

    def _execute(self) -> None:
        from ..preflight import unit_inputs
        from .generations import Generation
        from .handover import takeovers

        run = self.run
        if run.done:
            raise RunError("the run ended before the reconfiguration could start.")
        # planning, compiling and loading compete with the running plan on two cores:
        # at a lower priority; the switch itself (round trips while the old readers run
        # up to their fence) at the run's own
        arts = W.at_low_priority(lambda: run._preflight(self.plan))
        self.phase("compiled", f"{len(arts)} segment(s): "
                   + ", ".join(s for u in self.plan.units for s in u.segments))
        old = run.current
        gen = Generation(len(run.gens), self.plan, arts, start=None)
        gen.takeovers = {(t.unit, t.index): t for t in takeovers(old.plan, self.plan)}
        if run.compiler.local:          # new instances load their code before the switch
            try:
                gen.inputs = W.at_low_priority(
                    lambda: unit_inputs(self.plan.units, run.pipeline.source))
            except Exception:  # noqa: BLE001 - best effort: their first batch loads it
                gen.inputs = {}
        self._expected = len(gen.takeovers)
        self.gen = gen.index
        if self.mode == "restart":
            self._restart(old, gen)
        else:
            self._live(old, gen)
        if not self._expected:
            self.phase("state moved", "nothing to hand over (stateless)")
        self._wait_drained(old)
        n = sum(run.session.client.run(W.drop_generation, run.wire, old.index,
                                       workers=old.workers).values())
        self.phase("freed", f"{old.size} old instance(s), {n} inbox(es)")
        run.hints = self.hints

    def _live(self, old: Any, gen: Any) -> None:
        run = self.run
        run.gens.append(gen)
        run._launch(gen)
        self.run._wait_entered(gen, "new")
        self.phase("started", f"{gen.size} new instance(s) loaded and waiting\n"
                   f"{gen.plan.describe()}")
        self._routes(old, gen)
        with run._stop_lock:
            if run._stopping or run.done:
                raise RunError("the run is stopping; the new plan was not switched to.")
            self.switch = run._stop_generation(old, then=gen)
            run.current = gen
        self.phase("switched", f"at batch {self.switch}")
        run._handed(old)              # cuts of old instances that already ended

    def _restart(self, old: Any, gen: Any) -> None:
        run = self.run
        self._routes(old, gen)
        with run._stop_lock:
            if run._stopping or run.done:
                raise RunError("the run is stopping; the new plan was not started.")
            self.switch = run._stop_generation(old)
            gen.start = self.switch
        self.phase("stopped", f"at batch {self.switch}")
        self._wait_drained(old)
        run.gens.append(gen)
        run._launch(gen)
        self.run._wait_entered(gen, "new")
        self.phase("started", f"{gen.size} new instance(s)\n{gen.plan.describe()}")
        run.session.client.run(W.start_at, run.wire, gen.index, self.switch,
                               workers=gen.workers)
        run.current = gen
        self.phase("switched", f"resumed at batch {self.switch}")
        run._handed(old)

    def _routes(self, old: Any, gen: Any) -> None:
        """Tell the old instances where their cuts go when they stop (worker to worker)."""
        from .handover import routes

        table = routes(gen.takeovers.values(), gen.plan, gen.index)
        if table:
            self.run._enlist(gen)       # (a restart: the new workers know the run already)
            self.run.session.client.run(W.set_handover, self.run.wire, old.index, table,
                                        workers=old.workers)

    def _wait_drained(self, old: Any) -> None:
        run = self.run
        while not old.drained:
            if run.done:
                raise RunError("the run ended while the old instances drained.")
            time.sleep(0.005)
        if self.mode != "restart" or "drained" not in [p for p, _, _ in self._phases]:
            self.phase("drained", f"{old.size} old instance(s) processed batches "
                       f"{old.start}-{old.stop - 1 if old.stop else '?'}")


def _describe(changes: dict, mode: str) -> str:
    bits = [f"{k}={v}" for k, v in (changes.get("parallelism") or {}).items()]
    bits += [f"{k}@{v}" for k, v in (changes.get("placement") or {}).items()]
    return (", ".join(bits) or "no change") + ("" if mode == "live" else f" ({mode})")
