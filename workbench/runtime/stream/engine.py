"""The Dask engine, client side: plan, compile once, start instances, watch, collect.

Dask is the control plane. The client plans placement (pure), compiles every segment once
(a dry run of the first batch through the compiled chain gives numba the real types and
surfaces compile errors before anything starts), then submits one long-lived task per stage
instance, pinned to its worker. From then on batches flow worker to worker; the client only
polls metrics (``client.run``, twice a second) and waits for the instances to end.
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
from .instance import InstanceSpec, instance_main


class DaskRun(Run):
    """A program running on a Dask cluster (see :mod:`workbench.runtime.stream`)."""

    engine = "dask"

    def __init__(self, pipeline: Any, batches: int | None, duration: float | None, sink: Any,
                 placement: dict, parallelism: dict, *, session: Any = None,
                 name: str | None = None, credits: int = 8, interval: float = 0.25,
                 poll: float = 0.5, epoch: int = 100, compile: str | None = None) -> None:
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
        self.plan: Plan = place(pipeline, self.session.workers, placement, parallelism)
        self.run_id = f"wb-{uuid.uuid4().hex[:10]}"
        self.batches, self.duration, self.sink_kind = batches, duration, sink
        self.credits, self.interval, self.poll = credits, interval, poll
        if not isinstance(epoch, int) or epoch < 1:
            raise GraphError(f"epoch must be a positive number of batches; got {epoch!r}.")
        self.epoch, self.epochs_done = epoch, 0
        self._epoch_seen: dict[int, set[str]] = {}
        self._rows: list[tuple] = []
        self._chans: list[tuple] = []
        self._results: list[dict] = []
        self._output: np.ndarray | None = None
        self.futures: list = []
        self._stopping = False
        self._stop_lock = threading.Lock()
        from ...compile.drivers import compile_driver

        self.compiler = compile_driver(compile)     # local (default) | docker
        self.artifacts = self._preflight()

    # --- compile once, on the client -----------------------------------------------------
    def _preflight(self) -> dict:
        t0 = time.perf_counter()
        compiled = {s.name: CompiledSegment(s) for u in self.plan.units
                    for s in segments(u.nodes)}
        nodes = tuple(n for u in self.plan.units for n in u.nodes)
        src = self.pipeline.source
        arts = {name: cs.art for name, cs in compiled.items() if cs.art is not None}
        if self.compiler.local:
            compile_here(nodes, compiled, src)
        elif jit_prefix(nodes, compiled) and has_batch(src):   # where the driver compiles
            self.compiler.call(dry_run, jit_prefix(nodes, compiled), arts, src.batch(0),
                               names=[n for a in arts.values() for n in a.names])
        self.compile_s = time.perf_counter() - t0
        where = "on the client" if self.compiler.local else f"by {self.compiler.name}"
        self.event("compiled", f"{len(compiled)} segment(s) compiled {where} in "
                   f"{self.compile_s:.2f} s; workers load the artifacts")
        ship = getattr(self.session.cluster, "ship_artifacts", None)
        if ship is not None and arts:        # workers that do not share this store's disk
            ship(default_store(), [n for a in arts.values() for n in a.names])
        return arts

    # --- start ---------------------------------------------------------------------------
    def start(self) -> DaskRun:
        client = self.session.client
        self.workers = sorted({w for u in self.plan.units for w in u.workers})
        t0 = time.time()
        self.started = t0
        data = client.run(W.install, workers=self.workers)
        token = secrets.token_hex(16)
        client.run(W.prepare, self.run_id, t0, self.interval, token, workers=self.workers)
        units = self.plan.units
        readers = sorted(set(units[0].workers))
        source = client.scatter(self.pipeline.source, workers=readers, broadcast=True,
                                hash=False, direct=True)   # straight to the readers
        root = str(default_store().root)
        for k, unit in enumerate(units):
            down = units[k + 1] if k + 1 < len(units) else None
            route = self.pipeline.stage(down.key_stage).op if down and down.key_stage else None
            for i, addr in enumerate(unit.workers):
                spec = InstanceSpec(
                    self.run_id, unit, i, units[k - 1] if k else None, down, route,
                    {s.name: self.artifacts[s.name] for s in segments(unit.nodes)
                     if s.name in self.artifacts},
                    root, self.credits, t0, self.interval, self.sink_kind,
                    self.batches, self.duration, data, token, self.epoch)
                self.futures.append(client.submit(
                    instance_main, spec, source if k == 0 else None,
                    key=f"{self.run_id}-u{k}-{i}", workers=[addr],
                    allow_other_workers=False, pure=False))
        self._rows.extend(self._zero_rows())
        self.status = "running"
        self.event("started", f"dask engine: {len(self.futures)} instance(s) on "
                   f"{len(self.workers)} worker(s)\n{self.plan.describe()}")
        self.session.runs[self.run_id] = self
        if self.duration is not None:    # the client decides when time is up, for all readers
            timer = threading.Timer(max(0.0, t0 + self.duration - time.time()),
                                    self._stop_readers)
            timer.daemon = True
            timer.start()
        threading.Thread(target=self._watch, name=f"wb-watch-{self.run_id}",
                         daemon=True).start()
        threading.Thread(target=self._poll, name=f"wb-poll-{self.run_id}",
                         daemon=True).start()
        return self

    # --- watch and poll ------------------------------------------------------------------
    def _poll(self) -> None:
        client = self.session.client
        while not self._done.wait(self.poll):
            try:
                got = client.run(W.take_rows, self.run_id, workers=self.workers)
                self._absorb(got)
                missing = set(self.workers) - set(self.session.workers)
            except Exception as exc:  # noqa: BLE001 - a lost worker ends the run below
                missing = {f"(unreachable: {exc})"}
            if missing and not self._done.is_set():
                self._fail(RunError(
                    f"worker(s) {', '.join(sorted(missing))} left the cluster while running "
                    f"{self.name or self.run_id}; the run stopped.\nFix: run it again (the "
                    "nanny restarts lost workers in about a second)."))
                return

    def _watch(self) -> None:
        from distributed import as_completed

        aborted: list[str] = []
        try:
            for fut in as_completed(self.futures):
                if self._done.is_set():
                    return
                if fut.status == "error":
                    self._fail(fut.exception())
                    return
                res = fut.result()
                if res.get("status") == "failed":
                    self._fail(res["error"])
                    return
                if res.get("status") == "aborted":
                    aborted.append(res["instance"])
                else:
                    self._results.append(res)
            if aborted:
                self._fail(RunError(f"instance(s) {', '.join(aborted)} were cut off from "
                                    "their channels; the run stopped."))
                return
            self._complete()
        except Exception as exc:  # noqa: BLE001 - report whatever broke the watcher
            self._fail(exc)

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
        of the last unit has passed it (all of its batches reached the sink)."""
        last = self.plan.units[-1]
        for rows, chans, epochs in got.values():
            self._rows.extend(rows)
            self._chans.extend(chans)
            for _, inst, k in epochs:
                self._epoch_seen.setdefault(k, set()).add(inst)
        while len(self._epoch_seen.get(self.epochs_done, ())) >= last.parallelism:
            k = self.epochs_done
            self.event("epoch", f"epoch {k} complete: batches {k * self.epoch}-"
                       f"{(k + 1) * self.epoch - 1} reached the sink")
            self.epochs_done += 1

    def _teardown(self) -> None:
        try:
            got = self.session.client.run(W.finish, self.run_id, workers=self.workers)
            self._absorb(got)
        except Exception:  # noqa: BLE001 - workers may be gone
            pass

    def _complete(self) -> None:
        self._teardown()
        self.source_records = sum(r.get("source_records", 0) for r in self._results)
        firsts = [r["t_first"] for r in self._results if r.get("t_first")]
        if firsts:            # from the first batch any instance took to the last one's end
            self.t_first = min(firsts)
            self.t_last = max(r["t_last"] for r in self._results)
        for r in self._results:
            for msg in r.get("leftovers", []):
                self.event("leftover", msg)
        for msg in dict.fromkeys(m for r in self._results for m in r.get("notes", [])):
            self.event("note", msg)
        stopped = self._stop.is_set()        # (a duration that ran out is a normal finish)
        self.session.client.cancel(self.futures)
        self._finish("stopped" if stopped else "finished")

    def _fail(self, exc: BaseException) -> None:
        with _FAIL_LOCK:
            if self._done.is_set():
                return
            try:
                self.session.client.run(W.abort, self.run_id, workers=self.workers)
            except Exception:  # noqa: BLE001 - abort what can be reached
                pass
            deadline = time.time() + 10
            while time.time() < deadline and any(f.status == "pending" for f in self.futures):
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

    # --- control -------------------------------------------------------------------------
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
        credits with its claim in hand is not waited for."""
        with self._stop_lock:
            if self._stopping or self._done.is_set():
                return
            self._stopping = True
        client = self.session.client
        readers = sorted(set(self.plan.units[0].workers))
        try:
            where = client.run(W.reader_positions, self.run_id, workers=readers)
            claimed = [v for v in where.values() if v is not None]
            stop_at = max(claimed) + 1 if claimed else 0
            client.run(W.stop_readers_at, self.run_id, stop_at, workers=readers)
            self.event("stopping", f"readers stop at batch {stop_at}: batches 0-"
                       f"{stop_at - 1} are read")
        except Exception as exc:  # noqa: BLE001 - a worker gone: the poller fails the run
            self.event("stopping", f"could not reach the readers: {exc}")

    def where(self) -> dict[str, Any]:
        """Each worker's view of this run: live instances, what each inbox waits for
        (next sequence number, pieces pending, senders ended) and each sender's credits in
        use. For a run that does not end as expected."""
        return self.session.client.run(W.where, self.run_id, workers=self.workers)

    # --- results -------------------------------------------------------------------------
    @property
    def placement(self) -> dict[str, list[str]]:
        return self.plan.placement

    @property
    def instances(self) -> Any:
        """Where each instance ran (from the instances themselves) and how it ended."""
        import pandas as pd

        rows = [{"unit": r["unit"], "instance": r["instance"], "index": r["index"],
                 "planned": self.plan.units[r["unit"]].workers[r["index"]],
                 "worker": r["worker"], "status": r["status"]} for r in self._results]
        return pd.DataFrame(rows)

    def metric_rows(self, start: int = 0) -> list[tuple]:
        return self._rows[start:]        # in arrival order (workers' rows, as polled)

    def channel_rows(self, start: int = 0) -> list[tuple]:
        return self._chans[start:]

    @property
    def output(self) -> np.ndarray:
        if self.sink_kind != "collect":
            raise RunError("this run's sink keeps no output (sink='discard' or a callback); "
                           "run with sink='collect' to get run.output.")
        if not self._done.is_set():
            raise RunError("the run is still going; its output is gathered when it ends.\n"
                           "Fix: run.wait() (or run.stop()) first.")
        if self._output is None:
            from .frames import Piece
            from .inbox import join

            last = max(r["unit"] for r in self._results) if self._results else 0
            parts: dict[int, list[tuple[int, Any]]] = {}
            for r in self._results:
                if r["unit"] == last and isinstance(r.get("sink"), dict):
                    for seq, part in r["sink"].items():
                        parts.setdefault(seq, []).append((r["index"], part))
            arrays = []
            for seq in sorted(parts):     # instances' parts, back in input order by key
                pieces = [Piece(*p) if isinstance(p, tuple) else Piece(p)
                          for _, p in sorted(parts[seq], key=lambda t: t[0])]
                x = join(pieces).records
                if x is not None:
                    arrays.append(x)
            self._output = np.concatenate(arrays) if arrays else np.empty(0)
        return self._output

    @property
    def records_out(self) -> int:
        return sum(r["sink"] if isinstance(r.get("sink"), int) else
                   sum(len(p[0] if isinstance(p, tuple) else p)
                       for p in (r.get("sink") or {}).values())
                   for r in self._results)

    def state(self, stage: str) -> Any:
        """A stage's final state (keyed: each key group's row from the instance owning it)."""
        op = self.pipeline.stage(stage).op
        if op.state is None:
            raise GraphError(f"stage {stage!r} is stateless.")
        if not self._done.is_set():
            raise RunError("state is collected when the run ends; run.wait() first.")
        have = [(r["index"], r["states"][stage]) for r in self._results
                if stage in r.get("states", {})]
        if not have:
            raise RunError(f"no instance of {stage!r} reported its state.")
        if op.key is None:
            return have[0][1]
        unit = next(u for u in self.plan.units if stage in u.stages)
        merged = None
        for i, st in have:
            lo, hi = unit.group_range(i)
            if merged is None:
                merged = tuple(a.copy() for a in st) if isinstance(st, tuple) else st.copy()
            if isinstance(st, tuple):
                for m, a in zip(merged, st):
                    m[lo:hi] = a[lo:hi]
            else:
                merged[lo:hi] = st[lo:hi]
        return merged

    def summary(self) -> str:
        if not self._done.is_set():      # read so far (the metrics: not kept, only shown)
            got = sum(r[5] for r in self._rows[:] if r[1] == "source")
            return (f"{self.name or 'run'} [dask] {self.status}: {got:,} records in so far, "
                    f"{self.elapsed:.2f} s since the start")
        return super().summary()


_FAIL_LOCK = threading.Lock()

