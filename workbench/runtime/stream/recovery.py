"""Recovery: a run with checkpoints survives the death of a worker.

Dask's removal of the worker is the signal (the client polls the scheduler's worker list
every 0.1 s). The run then:

1. stops every instance of the generation that lost it (the survivors are cut off from
   the dead one's channels anyway) and gathers their last metrics;
2. places the program again on the workers alive now (the nanny's replacement, or the
   survivors; a placement hint no live worker meets waits for a replacement);
3. starts a new generation of instances under a fresh incarnation of the run on the
   workers (nothing of the stopped one can reach it), restores each from the last
   complete checkpoint (its part of the merged cut: operator state, key groups, peek
   windows, carries), and its readers replay the source from that checkpoint's first
   batch ``B``;
4. keeps one copy of every sequence number at the collect sink: batches before ``B`` come
   from the sink logs of the checkpoint's generation, batches from ``B`` on from the new
   one (a user sink ``fn(seq, batch)`` sees the batches from ``B`` to the loss twice:
   at-least-once, with the sequence number to deduplicate).

Without a complete checkpoint yet it restores the initial state and replays from batch 0.
A run without ``checkpoint`` fails at once instead, naming the worker and its stages.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from ...errors import PlacementError, RunError, WorkbenchError
from . import worker as W

COLUMNS = ["lost", "stages", "killed_at", "detected_at", "checkpoint", "restored_from_batch",
           "batches_replayed", "resumed_at", "caught_up_at", "detection_s", "restore_s",
           "replay_s", "total_s", "error"]


class Recovery:
    """One recovery of a run: its phases with times (``timeline``), and one row for
    ``run.recoveries``."""

    def __init__(self, run: Any, lost: list[str], stages: list[str], detected: float,
                 killed: float | None) -> None:
        self.run, self.lost, self.stages = run, lost, stages
        self.detected, self.killed = detected, killed
        self.epoch: int | None = None          # the checkpoint restored (None: the start)
        self.batch = 0                         # ... its first batch: replay starts there
        self.frontier: int | None = None       # the highest batch read before the loss
        self.error: BaseException | None = None
        self.rebalance: Any = None             # the reconfiguration onto a replacement
        self.workers_before = len(run.session.workers) + len(lost)
        self.times: dict[str, float] = {}
        if killed is not None:
            self.times["lost"] = killed
        self.phase("detected", f"worker(s) {', '.join(lost)} left the cluster; they held "
                   f"{', '.join(stages) or 'no instance'}", detected)

    def phase(self, name: str, detail: str = "", at: float | None = None) -> None:
        self.times[name] = time.time() if at is None else at
        self.run.event("recovery", f"{name}" + (f": {detail}" if detail else ""))

    @property
    def done(self) -> bool:
        return "caught up" in self.times or self.error is not None

    def row(self) -> dict:
        t = self.times
        start = t.get("lost", self.detected)

        def since(a: str, b: str) -> float | None:
            return t[b] - t[a] if a in t and b in t else None

        return {"lost": ", ".join(self.lost), "stages": ", ".join(self.stages),
                "killed_at": t.get("lost"), "detected_at": self.detected,
                "checkpoint": self.epoch, "restored_from_batch": self.batch,
                "batches_replayed": (None if self.frontier is None
                                     else max(0, self.frontier + 1 - self.batch)),
                "resumed_at": t.get("restored"), "caught_up_at": t.get("caught up"),
                "detection_s": since("lost", "detected"),
                "restore_s": since("detected", "restored"),
                "replay_s": since("restored", "caught up"),
                "total_s": (t["caught up"] - start) if "caught up" in t else None,
                "error": None if self.error is None else str(self.error).splitlines()[0]}


class Recovering:
    """Watching for lost workers and recovering (a mixin of
    :class:`~workbench.runtime.stream.engine.DaskRun`)."""

    @property
    def recoveries(self) -> Any:
        """One row per recovery: the lost worker(s) and their stages, when it was killed
        (if by ``wb.faults.kill``) and detected, the checkpoint restored and its first
        batch, batches replayed, when the new instances resumed and when the sink caught
        up with where the run was, and the seconds of detection, restore and replay."""
        import pandas as pd

        return pd.DataFrame([r.row() for r in self._recoveries], columns=COLUMNS)

    def _running_workers(self) -> set[str]:
        """Workers with instances that may still be running (not drained, not lost)."""
        return {w for g in self.gens if not g.abandoned and not g.drained
                for w in g.workers}

    def _check_workers(self, live: set[str]) -> None:
        """Called by the poller: react to workers of the run that left the cluster."""
        if self._recovering or self._done.is_set():
            return
        missing = sorted(self._running_workers() - live)
        if not missing:
            return
        from .. import faults

        detected = time.time()
        stages = [f"{u.name}[{i}]" for g in self.gens if not g.abandoned
                  for u in g.plan.units for i, w in enumerate(u.workers) if w in missing]
        if self.ckpt is None:
            self._fail(RunError(
                f"worker(s) {', '.join(missing)} left the cluster while running "
                f"{self.name or self.run_id}; they held {', '.join(stages) or 'no instance'}. "
                "The run stopped: it keeps no checkpoints.\nFix: run it with "
                "checkpoint=True (it then recovers from the last checkpoint and loses no "
                "record), or run it again."), lost=set(missing))
            return
        if self._reconfiguring():
            self._fail(RunError(
                f"worker(s) {', '.join(missing)} left the cluster during a "
                f"reconfiguration of {self.name or self.run_id}; recovering in the middle "
                "of one is not supported: the run stopped.\nFix: run it again."),
                lost=set(missing))
            return
        killed = [faults.killed_at(w) for w in missing]
        rec = Recovery(self, missing, stages, detected,
                       min(killed) if all(k is not None for k in killed) else None)
        self._recoveries.append(rec)
        self._recovering = True
        threading.Thread(target=self._recover, args=(rec,), daemon=True,
                         name=f"wb-recover-{self.run_id}").start()

    def _recover(self, rec: Recovery) -> None:
        try:
            self._restore(rec)
        except BaseException as exc:  # noqa: BLE001 - the run fails with the reason
            if not isinstance(exc, WorkbenchError):
                exc = RunError(f"recovery failed: {type(exc).__name__}: {exc}")
            rec.error = exc
            self._recovering = False
            self._fail(RunError(f"{self.name or self.run_id} lost worker(s) "
                                f"{', '.join(rec.lost)} and could not recover: {exc}"),
                       lost=set(rec.lost))
            return
        self._recovering = False

    def _restore(self, rec: Recovery) -> None:
        from .generations import Generation
        from .handover import takeovers

        client = self.session.client
        live = set(self.session.workers)
        old = self.current
        old_wire = self.wire
        survivors = sorted((set(old.workers) | set(self.data)) & live)
        # 1. stop the generation that lost the worker; what had it read?
        claims = [self._highest] if self._highest >= 0 else []     # as last polled
        try:
            got = client.run(W.claimed, old_wire, workers=survivors)
            claims += [v for v in got.values() if v is not None]
        except Exception:  # noqa: BLE001 - only for the report
            pass
        rec.frontier = max(claims) if claims else None
        for g in self.gens:
            if not g.drained:
                g.abandoned = True
        client.run(W.abort, old_wire, workers=survivors)
        client.cancel([f for g in self.gens if g.abandoned for f in g.futures])
        try:
            self._absorb(client.run(W.finish, old_wire, workers=survivors))
        except Exception:  # noqa: BLE001 - metrics of a stopped incarnation: best effort
            pass
        last = self.ckpt.last
        src = self.gens[last["gen"]] if last else None
        rec.epoch = last["epoch"] if last else None
        rec.batch = b = last["batch"] if last else 0
        for g in self.gens:             # what each generation's output counts for now
            if src is not None and g.index < src.index:
                continue
            if g is src:
                g.stop = b
            else:                       # replayed from b: nothing it did counts
                g.start = g.stop = b
                if g.abandoned:
                    g.results = {}
        rec.phase("stopped", f"{old.size} instance(s) of generation {old.index}; restoring "
                  + (f"checkpoint {rec.epoch} (batch {b})" if last else
                     "the initial state (no checkpoint was complete)"))
        # 2. place again, on the workers alive now
        plan = self._place_again(rec)
        arts = old.artifacts if _same_segments(plan, old.artifacts) else self._preflight(plan)
        rec.phase("placed", "; ".join(plan.describe().splitlines()))
        # 3. a fresh incarnation of the run on the workers: a new generation, restored
        self._incarnation += 1
        self.wire = f"{self.run_id}~{self._incarnation}"
        self.token = secrets.token_hex(16)
        gen = Generation(len(self.gens), plan, arts, start=b)
        workers = gen.workers
        self.data = dict(self.data)
        self.data.update(client.run(W.install, workers=workers))
        client.run(W.prepare, self.wire, self.started, self.interval, self.token,
                   workers=workers)
        client.run(W.start_at, self.wire, gen.index, b, workers=workers)
        if src is not None:
            gen.takeovers = {(t.unit, t.index): t for t in takeovers(src.plan, plan)}
            self._give_checkpoint(src, last["epoch"], gen)
        self.gens.append(gen)
        self.current = gen
        self._launch(gen)
        self._wait_entered(gen, "restored")
        rec.phase("restored", f"{gen.size} instance(s) on {len(workers)} worker(s) read "
                  f"from batch {b}")
        if len(self.session.workers) < rec.workers_before:
            threading.Thread(target=self._rebalance, args=(rec,), daemon=True,
                             name=f"wb-rebalance-{self.run_id}").start()

    def _rebalance(self, rec: Recovery, patience: float = 30.0) -> None:
        """Once the nanny's replacement has registered, spread the program again (a live
        reconfiguration to the placement the hints give on the whole cluster)."""
        from ...placement import place

        deadline = time.monotonic() + patience
        while len(self.session.workers) < rec.workers_before:
            if self._done.is_set() or time.monotonic() > deadline:
                return
            time.sleep(0.1)
        if self._done.is_set() or self._recovering or self._reconfiguring():
            return
        try:
            plan = place(self.pipeline, self.session.workers, *self._asked)
            if [u.workers for u in plan.units] == [u.workers for u in self.plan.units]:
                return
            rec.rebalance = self.reconfigure()
            self.event("recovery", "rebalancing: a replacement worker joined; the program "
                       "spreads over it again (a live reconfiguration)")
        except WorkbenchError as exc:     # the run ended meanwhile, say: nothing to do
            self.event("recovery", f"not rebalanced: {str(exc).splitlines()[0]}")

    def _place_again(self, rec: Recovery, patience: float = 30.0) -> Any:
        """The program placed on the live workers; a hint no live worker meets (its only
        storage worker was lost) waits up to ``patience`` s for the nanny's replacement."""
        from ...placement import place

        deadline = time.monotonic() + patience
        while True:
            try:
                return place(self.pipeline, self.session.workers, *self._asked)
            except PlacementError as exc:
                if time.monotonic() > deadline:
                    raise RunError(f"no live workers meet the run's placement after "
                                   f"{patience:g} s: {str(exc).splitlines()[0]}") from None
                time.sleep(0.1)

    def _give_checkpoint(self, src: Any, k: int, gen: Any) -> None:
        """Each new instance that holds something gets its part of checkpoint ``k``;
        the checkpoint's generation gets, in place of the reports its instances never
        sent, what its sink logs and snapshots hold up to the barrier."""
        olds = [(u.index, i) for u in src.plan.units for i in range(u.parallelism)]
        snaps = self.ckpt.restore(src.index, k, olds)
        by_worker: dict[str, dict] = {}
        for t in gen.takeovers.values():
            addr = gen.plan.units[t.unit].workers[t.index]
            for d in sorted(t.depends):
                by_worker.setdefault(addr, {})[(gen.index, t.unit, t.index, *d)] = \
                    snaps[d][0].part(t.stages, t.branchings, t.keyed)
        for addr, parts in by_worker.items():
            self.session.client.run(W.give_parts, self.wire, parts, workers=[addr])
        if src.abandoned:
            last = len(src.plan.units) - 1
            src.results = {}
            for (u, i), (_, read, out) in snaps.items():
                res = {"status": "restored", "instance": f"{src.plan.units[u].name}[{i}]",
                       "unit": u, "index": i, "gen": src.index, "worker": None,
                       "source_records": read if u == 0 else 0}
                if u == last:
                    res["sink"] = (self.ckpt.sink_logs(src.index, u, i, k)
                                   if self.sink_kind == "collect" else out)
                src.results[(u, i)] = res

    def _caught_up(self, ending: bool = False) -> None:
        """Recoveries whose sink has passed the batch the run had read before the loss
        (or whose run is ending: every batch has reached the sink)."""
        for rec in self._recoveries:
            if rec.done or "restored" not in rec.times:
                continue
            reached = self.epochs_done * self.epoch
            if rec.frontier is None or reached > rec.frontier or ending:
                rec.phase("caught up", f"the sink passed batch {rec.frontier}")

    def _done_recovering(self) -> None:
        self._caught_up(ending=True)


def _same_segments(plan: Any, artifacts: dict) -> bool:
    from ...model.fusion import segments

    names = {s.name for u in plan.units for s in segments(u.nodes)}
    return bool(names) and names <= set(artifacts)
