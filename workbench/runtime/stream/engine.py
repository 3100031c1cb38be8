"""The Dask engine, client side: plan, compile once, start instances, watch, collect.

Dask is the control plane. The client plans placement (pure), compiles every segment once
(a dry run of the first batch through the compiled chain gives numba the real types and
surfaces compile errors before anything starts), then submits one long-lived task per stage
instance, pinned to its worker. From then on batches flow worker to worker; the client only
polls metrics (``client.run``, twice a second) and waits for the instances to end.

A run is a sequence of *generations*: the plan it started with, then one more per live
reconfiguration (:mod:`workbench.runtime.stream.reconfigure`). Generation ``g + 1``
reads the source from the batch where generation ``g`` stopped reading, so every batch is
processed exactly once, by one plan or the other.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import Any

import numpy as np

from ...compile import CompiledSegment, default_store
from ...errors import GraphError, OperatorError, RunError, WorkbenchError
from ...model.fusion import segments
from ...placement import Plan, place
from ..preflight import compile_here, dry_run, has_batch, jit_prefix
from ..run import Run
from . import worker as W
from .generations import Generation, Generations
from .instance import InstanceSpec, instance_main
from .recovery import Recovering
from .results import Results

SWITCH_LEAD_S = 0.1   # a live switch's old readers read on this long while S is decided


def _loss_like(error: BaseException | None) -> bool:
    """An error a lost worker causes (a closed connection, a task whose worker died, a
    cancelled dependency), as opposed to one of the program's own, which fails the run
    at once."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    return isinstance(error, (OSError, KilledWorker, CancelledError))


class DaskRun(Recovering, Generations, Results, Run):
    """A program running on a Dask cluster (see :mod:`workbench.runtime.stream`)."""

    engine = "dask"

    def __init__(self, pipeline: Any, batches: int | None, duration: float | None, sink: Any,
                 placement: dict, parallelism: dict, *, session: Any = None,
                 name: str | None = None, credits: int = 8, interval: float = 0.25,
                 poll: float = 0.5, epoch: int = 100, compile: str | None = None,
                 checkpoint: Any = None) -> None:
        super().__init__(pipeline, name)
        if pipeline.source is None:
            raise GraphError("this pipeline has no source; start it with a source: "
                             "wb.sources.array(data) >> ...")
        if not (sink in ("collect", "discard") or callable(sink)):
            raise GraphError(f"on the dask engine, sink must be 'collect', 'discard' or a "
                             f"function fn(seq, batch) (it runs on a worker); got {sink!r}.")
        if not isinstance(credits, int) or credits < 1:
            raise GraphError(f"credits must be a positive integer; got {credits!r}.")
        from ..cluster import cluster

        self.session = session or cluster()
        self.hints = (dict(placement), dict(parallelism))   # as asked, reconfigurations too
        plan = place(pipeline, self.session.workers, placement, parallelism)
        self.run_id = f"wb-{uuid.uuid4().hex[:10]}"
        self.batches, self.duration, self.sink_kind = batches, duration, sink
        self.credits, self.interval, self.poll = credits, interval, poll
        if not isinstance(epoch, int) or epoch < 1:
            raise GraphError(f"epoch must be a positive number of batches; got {epoch!r}.")
        self.epoch, self.epochs_done = epoch, 0
        from .checkpoint import Checkpoints, location

        loc = location(checkpoint, self.run_id)
        self.ckpt = None if loc is None else Checkpoints(loc, epoch, checkpoint is True)
        self.wire = self.run_id          # the run's name on the workers (one per incarnation)
        self._incarnation = 0
        self._recoveries: list = []
        self._recovering = False
        self._fut_gen: dict[str, int] = {}       # instance future's key -> its generation
        self._highest = -1          # the highest batch an instance took (as last polled)
        self._epoch_seen: dict[int, set[str]] = {}
        self._rows: list[tuple] = []
        self._chans: list[tuple] = []
        self._output: np.ndarray | None = None
        self._stopping = False
        self._stop_lock = threading.Lock()       # a stop and a switch never interleave
        self.reconfigurations: list = []         # every Reconfiguration asked of this run
        self._asked = self.hints                 # hints with every request so far applied
        self._queue: Any = None                  # requests waiting for the one in flight
        self._handing = threading.Lock()
        from ...compile.drivers import compile_driver

        self.compiler = compile_driver(compile)     # local (default) | docker
        t0 = time.perf_counter()
        self.gens = [Generation(0, plan, self._preflight(plan))]
        self.compile_s = time.perf_counter() - t0
        self.current = self.gens[0]              # the generation reading the source

    @property
    def plan(self) -> Plan:
        """The plan running now (the newest one a reconfiguration switched to)."""
        return self.current.plan

    @property
    def artifacts(self) -> dict:
        return self.current.artifacts

    @property
    def futures(self) -> list:
        return [f for g in self.gens for f in g.futures]

    @property
    def workers(self) -> list[str]:
        return sorted({w for g in self.gens for w in g.workers})

    @property
    def _results(self) -> list[dict]:
        return [r for g in self.gens for r in g.results.values()]

    # --- compile once, on the client -----------------------------------------------------
    def _preflight(self, plan: Plan) -> dict:
        t0 = time.perf_counter()
        compiled = {s.name: CompiledSegment(s) for u in plan.units
                    for s in segments(u.nodes)}
        nodes = tuple(n for u in plan.units for n in u.nodes)
        src = self.pipeline.source
        arts = {name: cs.art for name, cs in compiled.items() if cs.art is not None}
        if self.compiler.local:
            compile_here(nodes, compiled, src)
        elif jit_prefix(nodes, compiled) and has_batch(src):   # where the driver compiles
            self.compiler.call(dry_run, jit_prefix(nodes, compiled), arts, src.batch(0),
                               names=[n for a in arts.values() for n in a.names])
        where = "on the client" if self.compiler.local else f"by {self.compiler.name}"
        self.event("compiled", f"{len(compiled)} segment(s) compiled {where} in "
                   f"{time.perf_counter() - t0:.2f} s; workers load the artifacts")
        ship = getattr(self.session.cluster, "ship_artifacts", None)
        if ship is not None and arts:        # workers that do not share this store's disk
            ship(default_store(), [n for a in arts.values() for n in a.names])
        return arts

    # --- start ---------------------------------------------------------------------------
    def start(self) -> DaskRun:
        client = self.session.client
        t0 = time.time()
        self.started = t0
        self.data = client.run(W.install, workers=self.gens[0].workers)
        self.token = secrets.token_hex(16)
        client.run(W.prepare, self.wire, t0, self.interval, self.token,
                   workers=self.gens[0].workers)
        from distributed import as_completed

        self._ac = as_completed()
        self._launch(self.gens[0])
        self._rows.extend(self._zero_rows())
        self.status = "running"
        self.event("started", f"dask engine: {len(self.futures)} instance(s) on "
                   f"{len(self.workers)} worker(s)\n{self.plan.describe()}")
        self.session.runs[self.run_id] = self
        if self.duration is not None:    # the client decides when time is up, for all readers
            threading.Thread(target=self._time_up, name=f"wb-duration-{self.run_id}",
                             daemon=True).start()
        threading.Thread(target=self._watch, name=f"wb-watch-{self.run_id}",
                         daemon=True).start()
        threading.Thread(target=self._poll, name=f"wb-poll-{self.run_id}",
                         daemon=True).start()
        return self

    def _time_up(self) -> None:
        """``duration`` seconds of reading: counted from when every first instance has
        entered its loop (a loaded machine's slow start-up does not eat into it), then
        the readers stop at a whole prefix."""
        try:
            self._wait_entered(self.gens[0], "first")
        except Exception:  # noqa: BLE001 - failed, lost or ended: the watcher reports it;
            pass           # a run still going is stopped ``duration`` from now
        if not self._done.wait(self.duration):
            self._stop_readers()

    def _launch(self, gen: Generation) -> None:
        """Submit generation ``gen``'s instances: one long-lived task each, pinned to its
        worker. A generation after the first waits for its switch point (and, where it
        takes something over, for its cut) before it reads anything."""
        client = self.session.client
        self._enlist(gen)
        units = gen.plan.units
        readers = sorted(set(units[0].workers))
        source: Any = self.pipeline.source
        data = getattr(source, "data", None)
        if getattr(data, "nbytes", 0) > 2**20:      # a large array: once per reader worker
            source = client.scatter(source, workers=readers, broadcast=True, hash=False,
                                    direct=True)   # straight to the readers
        else:      # small: in the task, as bytes (the scheduler need not import its code)
            from distributed.protocol.pickle import dumps

            source = dumps(source)
        root = str(default_store().root)
        for k, unit in enumerate(units):
            down = units[k + 1] if k + 1 < len(units) else None
            route = self.pipeline.stage(down.key_stage).op if down and down.key_stage else None
            for i, addr in enumerate(unit.workers):
                spec = InstanceSpec(
                    self.wire, unit, i, units[k - 1] if k else None, down, route,
                    {s.name: gen.artifacts[s.name] for s in segments(unit.nodes)
                     if s.name in gen.artifacts},
                    root, self.credits, self.started, self.interval, self.sink_kind,
                    self.batches, self.duration, self.data, self.token, self.epoch,
                    gen.index, gen.inputs.get(k), gen.takeovers.get((k, i)),
                    None if self.ckpt is None else self.ckpt.loc)
                fut = client.submit(
                    instance_main, spec, source if k == 0 else None,
                    key=f"{self.wire}-g{gen.index}-u{k}-{i}", workers=[addr],
                    allow_other_workers=False, pure=False)
                self._fut_gen[fut.key] = gen.index
                gen.futures.append(fut)
                self._ac.add(fut)

    def _enlist(self, gen: Generation) -> None:
        """Workers of ``gen`` this run has not used yet: their data plane, and the run."""
        client = self.session.client
        new = [w for w in gen.workers if w not in self.data]
        if new:
            self.data.update(client.run(W.install, workers=new))
            client.run(W.prepare, self.wire, self.started, self.interval, self.token,
                       workers=new)

    # --- watch and poll ------------------------------------------------------------------
    def _poll(self) -> None:
        """Every 0.1 s: has a worker of the run left the cluster (Dask removed it)? Every
        ``poll`` s: the workers' metrics, epochs and checkpoints."""
        client = self.session.client
        last = 0.0
        while not self._done.wait(0.1):
            try:
                live = set(self.session.workers)
            except Exception as exc:  # noqa: BLE001 - the scheduler is gone
                self._fail(RunError(f"lost the scheduler while running "
                                    f"{self.name or self.run_id}: {exc}"))
                return
            self._check_workers(live)
            if time.monotonic() - last < self.poll or self._recovering:
                continue
            last = time.monotonic()
            try:
                ws = sorted((self._running_workers() | set(self.data)) & live)
                self._absorb(client.run(W.take_rows, self.wire, workers=ws))
            except Exception:  # noqa: BLE001 - a worker lost meanwhile: seen above next time
                pass

    def _watch(self) -> None:
        aborted: list[str] = []
        try:
            while True:
                for fut in self._ac:
                    if self._done.is_set():
                        return
                    gen = self.gens[self._fut_gen.get(fut.key, 0)]
                    if gen.abandoned:
                        continue                    # stopped by a recovery
                    if fut.status == "cancelled" and self._lost_worker(gen):
                        continue     # a lost worker's (or its scattered source's) doing
                    if (fut.status == "error" and _loss_like(fut.exception())
                            and self._lost_worker(gen)):
                        continue
                    if fut.status == "error":
                        self._fail(fut.exception())
                        return
                    res = fut.result()
                    if (res.get("status") == "failed" and _loss_like(res.get("error"))
                            and self._lost_worker(gen)):
                        continue     # cut off from a worker that died: a recovery's business
                    if res.get("status") == "failed":
                        self._fail(res["error"])
                        return
                    gen = self.gens[res["gen"]]
                    if gen.abandoned:
                        continue
                    if res.get("status") == "aborted":
                        aborted.append((gen, res["instance"]))
                        continue
                    gen.results[(res["unit"], res["index"])] = res
                    self._handed(gen)
                aborted = [(g, n) for g, n in aborted if not g.abandoned]
                if aborted and not self._recovering:
                    names = ", ".join(n for _, n in aborted)
                    self._fail(RunError(f"instance(s) {names} were cut off from their "
                                        "channels; the run stopped."))
                    return
                if not self._reconfiguring() and not self._recovering and not aborted:
                    break                           # nothing more will be added
                    break
                time.sleep(0.02)                    # a restart: its generation comes next
            self._complete()
        except Exception as exc:  # noqa: BLE001 - report whatever broke the watcher
            self._fail(exc)

    def _lost_worker(self, gen: Generation, patience: float = 3.0) -> bool:
        """An instance's task failed or was cancelled by Dask: if a worker was lost, the
        poller sees it within a moment and recovers (or fails the run, naming it): True
        then. False when no worker of ``gen`` went missing (a failure of its own)."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if gen.abandoned or self._done.is_set():
                return True
            time.sleep(0.02)
        return False

    def _zero_rows(self) -> list[tuple]:
        """A first sample at time 0, for every operator, instance, the source and the sink,
        so the metrics are never empty (workers' first samples arrive later)."""
        units = self.plan.units
        rows = [(0.0, "source", "source", i, w, 0, 0, 0.0, 0, float("nan"), 0)
                for i, w in enumerate(units[0].workers)]
        for u in units:
            for i, w in enumerate(u.workers):
                rows += [(0.0, st.name, seg.name, i, w, 0, 0, 0.0, 0, float("nan"), 0)
                         for seg in segments(u.nodes) for st in seg.stages]
        rows += [(0.0, "sink", "sink", i, w, 0, 0, 0.0, 0, float("nan"), 0)
                 for i, w in enumerate(units[-1].workers)]
        return rows

    def _absorb(self, got: dict) -> None:
        """Metrics and channel rows, and epochs: epoch k is complete when every instance
        of a last unit that gets batches of epoch k has passed it (all of its batches
        reached the sink), in whichever generations processed them."""
        written: list[tuple] = []
        for rows, chans, epochs, *more in got.values():
            self._rows.extend(rows)
            self._chans.extend(chans)
            for _, inst, k in epochs:
                self._epoch_seen.setdefault(k, set()).add(inst)
            written.extend(more[0] if more else ())
            if len(more) > 1:
                self._highest = max(self._highest, more[1])
        while self._epoch_complete(self.epochs_done):
            k = self.epochs_done
            self.event("epoch", f"epoch {k} complete: batches {k * self.epoch}-"
                       f"{(k + 1) * self.epoch - 1} reached the sink")
            self.epochs_done += 1
        if self.ckpt is not None and written:
            names = {g.index: g.names for g in self.gens if not g.abandoned}
            for c in self.ckpt.absorb(written, names):
                self.event("checkpoint", f"checkpoint {c['epoch']} complete: state before "
                           f"batch {c['batch']}, {c['bytes']:,} bytes")
        self._caught_up()

    def _epoch_complete(self, k: int) -> bool:
        lo, hi = k * self.epoch, (k + 1) * self.epoch
        seen = self._epoch_seen.get(k, set())
        need = 0
        for g in self.gens:
            if g.start is None:
                continue
            a, b = max(lo, g.start), min(hi, g.stop if g.stop is not None else hi)
            if a >= b:
                continue
            last = g.plan.units[-1]
            step = last.parallelism if last.routing == "spread" else 1
            for i in range(last.parallelism):
                if step > 1 and not any((s - i) % step == 0 for s in range(a, min(b, a + step))):
                    continue
                need += 1
                name = f"{last.name}[{i}]" + (f"@g{g.index}" if g.index else "")
                if name not in seen:
                    return False
        return need > 0

    def _reachable(self) -> list[str]:
        try:
            live = set(self.session.workers)
        except Exception:  # noqa: BLE001 - the scheduler is gone
            return []
        return sorted((set(self.workers) | set(self.data)) & live)

    def _teardown(self) -> None:
        try:
            got = self.session.client.run(W.finish, self.wire, workers=self._reachable())
            self._absorb(got)
        except Exception:  # noqa: BLE001 - workers may be gone
            pass

    def _complete(self) -> None:
        self._teardown()
        self.source_records = sum(r.get("source_records", 0) for r in self._results)
        firsts = [r["t_first"] for r in self._results if r.get("t_first")]
        if firsts:            # from the first batch any instance took to the last one's end
            self.t_first = min(firsts)
            self.t_last = max(r["t_last"] for r in self._results if r.get("t_last"))
        for r in self._results:
            for msg in r.get("leftovers", []):
                self.event("leftover", msg)
        for msg in dict.fromkeys(m for r in self._results for m in r.get("notes", [])):
            self.event("note", msg)
        stopped = self._stop.is_set()        # (a duration that ran out is a normal finish)
        self.session.client.cancel(self.futures)
        if self.ckpt is not None:
            self.ckpt.close(finished=True)
        self._done_recovering()
        self._finish("stopped" if stopped else "finished")
        for rc in self.reconfigurations:
            rc.settle(None)

    def _fail(self, exc: BaseException, lost: set[str] = frozenset()) -> None:
        with _FAIL_LOCK:
            if self._done.is_set():
                return
            try:
                self.session.client.run(W.abort, self.wire, workers=self._reachable())
            except Exception:  # noqa: BLE001 - abort what can be reached
                pass
            deadline = time.time() + 10      # (an instance on a lost worker never ends)
            waiting = [f for g in self.gens if not g.abandoned for u in g.plan.units
                       for f, w in zip(_unit_futures(g, u), u.workers) if w not in lost]
            while time.time() < deadline and any(f.status == "pending" for f in waiting):
                time.sleep(0.02)
            self.session.client.cancel(self.futures)
            self._teardown()
            if isinstance(exc, WorkbenchError):
                err: BaseException = exc
            else:
                err = OperatorError(f"run {self.name or self.run_id} failed: "
                                    f"{type(exc).__name__}: {exc}", operator="?", seq=None,
                                    original=exc)
            self.event("failed", str(err).splitlines()[0])
            self._finish("failed", err)
            for rc in self.reconfigurations:
                rc.settle(RunError(f"the run failed during the reconfiguration: {err}"))

    def stop(self, timeout: float | None = 60) -> DaskRun:
        """Stop reading the source; batches in flight drain to the sink."""
        self._stop.set()
        self._stop_readers()
        if not self._done.wait(timeout):
            self._fail(RunError(f"run did not drain within {timeout} s of stop(); aborted."))
        return self

    def _stop_readers(self) -> None:
        """Stop at a whole prefix of the source: readers claim no new batch from phase 1
        on and report their highest claim; the stop point is one past the highest, and
        every reader reads its batches below it, then ends (phase 2). A reader blocked on
        credits with its claim in hand is not waited for. A recovery under way ends first
        (its restored readers are the ones to stop)."""
        deadline = time.monotonic() + 60
        while self._recovering and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._stop_lock:
            if self._stopping or self._done.is_set():
                return
            self._stopping = True
            gen = self.current
            try:
                stop_at = self._stop_generation(gen)
                self.event("stopping", f"readers stop at batch {stop_at}: batches 0-"
                           f"{stop_at - 1} are read")
            except Exception as exc:  # noqa: BLE001 - a worker gone: the poller fails the run
                self.event("stopping", f"could not reach the readers: {exc}")

    def _stop_generation(self, gen: Generation, then: Generation | None = None) -> int:
        """Phases 1 and 2 for generation ``gen``'s readers; returns the stop point. With
        ``then`` (a live switch), phase 2 also tells generation ``then`` to start there."""
        client = self.session.client
        readers = sorted(set(gen.plan.units[0].workers))
        # a live switch: the old readers read on for SWITCH_LEAD_S while the stop point is
        # decided (phase 2 is one more round trip away), rather than pause for it
        where = client.run(W.reader_positions, self.wire, workers=readers, gen=gen.index,
                           lead_s=SWITCH_LEAD_S if then is not None else 0.0)
        claimed = [v for v in where.values() if v is not None]
        stop_at = max(claimed) + 1 if claimed else (gen.start or 0)
        if then is None:
            client.run(W.stop_readers_at, self.wire, stop_at, workers=readers,
                       gen=gen.index)
        else:
            then.start = stop_at
            client.run(W.switch_at, self.wire, gen.index, stop_at, readers, then.index,
                       workers=sorted(set(readers) | set(then.workers)))
        gen.stop = stop_at
        return stop_at

    def where(self) -> dict[str, Any]:
        """Each worker's view of this run: live instances, what each inbox waits for
        (next sequence number, pieces pending, senders ended) and each sender's credits in
        use. For a run that does not end as expected."""
        return self.session.client.run(W.where, self.wire, workers=self._reachable())


def _unit_futures(gen: Generation, unit: Any) -> list:
    """The futures of ``unit``'s instances in ``gen`` (submitted unit by unit)."""
    start = sum(u.parallelism for u in gen.plan.units[:unit.index])
    return gen.futures[start:start + unit.parallelism]


_FAIL_LOCK = threading.Lock()

