"""A stage instance: one long-lived Dask task that runs a unit's fused segments.

The task secedes from the worker's thread pool (it lives as long as the run), loads its
segments from the artifact store (compiled by the client: no compile here), then loops:
take a batch (from the source, or assembled from its inbox), push it through its chain,
route the result to the next unit's instances or into the sink. Batches never pass through
the scheduler or the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...compile import ArtifactStore, CompiledSegment
from ...compile.segment import Artifacts
from ...errors import OperatorError, portable
from ...model.fusion import segments
from ...placement import Unit
from ..nodes import build_chain
from ..preflight import warm
from .channels import Aborted, dataplane
from .frames import Piece
from .output import Output
from .worker import at_low_priority, run_state, send_part, settle_heap


@dataclass
class InstanceSpec:
    run_id: str
    unit: Unit
    index: int
    upstream: Unit | None            # None: this instance reads the source
    downstream: Unit | None          # None: this instance feeds the sink
    route_op: Any = None             # downstream keyed: the operator whose key routes
    artifacts: dict[str, Artifacts] = field(default_factory=dict)
    store_root: str = ""
    credits: int = 4
    t0: float = 0.0
    interval: float = 0.25
    sink: Any = "collect"
    batches: int | None = None
    duration: float | None = None
    data_addresses: dict[str, tuple[str, int]] = field(default_factory=dict)
    token: str = ""
    epoch: int = 100                 # batches per epoch (checkpoint/reconfiguration unit)
    gen: int = 0                     # the run's generation (plan) this instance belongs to
    warm: tuple | None = None        # (dtype, record shape, records) of its input: loads
                                     # its code before the switch (a reconfiguration)
    takeover: Any = None             # a Takeover: what it takes over from the generation
                                     # before, from which old instances (it waits for it)
    checkpoint: str | None = None    # where it writes its snapshots (None: no checkpoints)

    @property
    def needs_cut(self) -> bool:
        return self.takeover is not None

    @property
    def name(self) -> str:
        return f"{self.unit.name}[{self.index}]" + (f"@g{self.gen}" if self.gen else "")

    @property
    def stride(self) -> int:
        """Sequence numbers this instance gets: every ``stride``-th (spread instances)."""
        return self.unit.parallelism if self.unit.routing == "spread" else 1

    def first(self, start: int) -> int:
        """The first sequence number at or after ``start`` this instance gets."""
        step = self.stride
        if step == 1:
            return start
        return start + (self.index - start) % step


def instance_main(spec: InstanceSpec, source: Any = None) -> dict:
    """The Dask task body of one stage instance. Returns what it produced and measured."""
    from distributed import get_worker, secede

    secede()   # a long-lived task must not hold one of the worker's task threads
    if isinstance(source, bytes):        # a small source, pickled by the client
        from distributed.protocol.pickle import loads

        source = loads(source)
    inst = Instance(spec, get_worker())
    try:
        return inst.run(source)
    except Aborted:
        return inst.report("aborted")
    except Exception as exc:  # noqa: BLE001 - reported to the client as the run's error
        inst.rs.abort.set()       # release this worker's other instances at once
        return {**inst.report("failed"), "error": portable(exc)}
    finally:
        inst.close()


class Instance:
    """One stage instance on a worker: its chain of compiled segments, where its batches
    come from (the source, or its inbox) and where its results go."""

    def __init__(self, spec: InstanceSpec, worker: Any) -> None:
        self.spec, self.worker = spec, worker
        self.rs = run_state(worker, spec.run_id, spec.t0, spec.interval)
        self.plane = dataplane(worker)
        self.key = (spec.run_id, spec.gen, spec.unit.index, spec.index)
        self.out = Output(spec, self.plane, self.rs)
        self.source_records = 0
        self.t_first: float | None = None
        self.chain: Any = None
        self.open_epoch: int | None = None      # the epoch of the last batch taken
        self.loaded: Any = None                 # what it took over (a reconfiguration)
        self.barrier: int | None = None         # the next checkpoint's first batch

    def run(self, source: Any) -> dict:
        spec, rs = self.spec, self.rs
        # a new plan's instance loads its code (and runs a batch of zeros through it)
        # before the switch, at a lower priority than the old plan, which still runs
        compiled = at_low_priority(self._load) if spec.gen else self._load()
        settle_heap()       # a full collection would stall the process (settle_heap)
        self.chain = build_chain(spec.unit.nodes, rs.recorder, compiled, spec.unit.name,
                                 spec.index)
        inbox = None if spec.upstream is None else self.plane.inbox(self.key)
        if inbox is not None:
            inbox.configure(spec.credits)
        rs.enter(spec.name)           # ready: a reconfiguration switches once all new are
        # a generation after the first starts where the one before stopped (known only
        # at the switch), with the state and pending records it hands over
        start = rs.wait_for("the switch point", lambda: rs.start_at.get(spec.gen))
        if spec.needs_cut:
            self.loaded = rs.wait_for("its cut", lambda: self._taken_over(start))
            self.chain.load(self.loaded)
            self.out.load(self.loaded)
        waiting = rs.recorder.inbox(spec.unit.name, spec.index)
        reading = rs.recorder.point("source", spec.index) if spec.upstream is None else None
        if spec.checkpoint is not None:
            self.barrier = (start // spec.epoch + 1) * spec.epoch
        for seq, piece in _inputs(spec, source, rs, inbox, start):
            if self.barrier is not None and seq >= self.barrier:
                self._snapshot(seq)
            if seq > rs.highest:
                rs.highest = seq
            batch = piece.records
            if self.t_first is None:
                self.t_first = time.time()
            if batch is not None and reading is not None:
                self.source_records += len(batch)
                reading.records += len(batch)
                reading.records_out += len(batch)
                reading.batches += 1
            y = None if batch is None else self._push(seq, batch, piece.overlap is not None)
            self.out.emit(seq, y, piece.positions)
            if inbox is not None:
                waiting.queue = inbox.waiting()
            self._mark_epoch(seq)
        self._close_epoch()
        if inbox is not None:       # the end markers read too: a drained run samples 0
            waiting.queue = inbox.waiting()
        self.out.end()
        rep = self.report("stopped" if spec.gen in rs.stop_at else "finished")
        rep["handed"] = self._hand_over(rep.get("cut"))
        return rep

    def _snapshot(self, seq: int) -> None:
        """Checkpoint ``seq // epoch``: this instance has taken every batch of its before
        that barrier and none after (its inputs come in sequence order), so what it holds
        now is its part of the checkpoint. A copy goes to the writer thread."""
        from .checkpoint import Snapshot, writer

        spec = self.spec
        k = seq // spec.epoch
        cut = self.chain.export(self._groups())
        self.out.export(cut)
        snap = Snapshot(cut, self.source_records, self.out.records, self.out.take_log())
        writer().put(self.rs, spec.checkpoint, spec.name, spec.gen, spec.unit.index,
                     spec.index, k, snap)
        self.barrier = (k + 1) * spec.epoch

    def _load(self) -> dict[str, CompiledSegment]:
        spec = self.spec
        store = ArtifactStore.shared(spec.store_root)
        compiled = {s.name: CompiledSegment(s, store, artifacts=spec.artifacts.get(s.name))
                    for s in segments(spec.unit.nodes)}
        if spec.warm is not None:
            try:
                warm(spec.unit.nodes, store, spec.artifacts, spec.warm)
            except Exception:  # noqa: BLE001 - best effort: the first batch loads it instead
                pass
        return compiled

    def _taken_over(self, start: int) -> Any:
        """The cut this instance takes over, once a part has arrived from each old
        instance it depends on (None until then)."""
        from ..cut import Cut
        from .handover import cut_for

        spec, t = self.spec, self.spec.takeover
        keys = [(spec.gen, spec.unit.index, spec.index, *d) for d in sorted(t.depends)]
        if not all(k in self.rs.parts for k in keys):
            return None
        merged = Cut.merge(self.rs.parts.pop(k) for k in keys)
        return cut_for(t, merged, spec.unit, start)

    def _hand_over(self, cut: Any) -> list[tuple]:
        """A reconfiguration switched away from this instance's generation: send each new
        instance that depends on it its part of this instance's cut, straight to the new
        instance's worker. Returns the keys delivered (the client sends the rest)."""
        spec = self.spec
        with self.rs.lock:
            routes = self.rs.handover.get(spec.gen, {}).get((spec.unit.index, spec.index), [])
        if cut is None:
            return []
        done = []
        for address, gen, t in routes:
            key = (gen, t.unit, t.index, spec.unit.index, spec.index)
            if send_part(self.worker, address, spec.run_id, key,
                         cut.part(t.stages, t.branchings, t.keyed)):
                done.append(key)
        return done

    def _push(self, seq: int, batch: np.ndarray, chunk: bool) -> np.ndarray | None:
        nodes = self.chain.segment_nodes()
        if (self.spec.unit.routing == "spread" and self.t_pushed
                and any(n.carry is not None for n in nodes)):
            raise _carry_error(self.spec, nodes, seq)
        self.t_pushed = True       # (records taken over from before a switch: not a carry)
        return self.chain.push(batch, seq, chunk)

    t_pushed = False

    def _mark_epoch(self, seq: int) -> None:
        """At the sink: this instance's share of an epoch has arrived (its batches come in
        order per instance: a batch of a later epoch closes the one before)."""
        if self.spec.downstream is not None:
            return
        e = seq // self.spec.epoch
        if self.open_epoch is not None and e > self.open_epoch:
            self._close_epoch()
        self.open_epoch = e
        step = self.spec.stride
        if (seq + step) // self.spec.epoch > e:
            self._close_epoch()

    def _close_epoch(self) -> None:
        if self.open_epoch is None:
            return
        with self.rs.lock:
            self.rs.epochs.append((time.time(), self.spec.name, self.open_epoch))
        self.open_epoch = None

    def report(self, status: str) -> dict:
        """What the client gets back from this instance."""
        spec = self.spec
        out = {"status": status, "instance": spec.name, "unit": spec.unit.index,
               "index": spec.index, "worker": self.worker.address, "gen": spec.gen}
        if status in ("finished", "stopped"):
            nodes = self.chain.segment_nodes()
            cut = self.chain.export(self._groups())
            self.out.export(cut)
            out.update({"t_first": self.t_first, "t_last": time.time(), "cut": cut,
                        "sink_first": self.out.first_out, "sink_last": self.out.last_out,
                        "thread": threading.current_thread().name,
                        "source_records": self.source_records,
                        "sink": self.out.sink_value(),
                        "leftovers": self.chain.leftovers() + self.out.leftovers(),
                        "notes": self.chain.notes(),
                        "states": {s.name: st for n in nodes for s, st in
                                   zip(n.segment.stages, n.states) if st is not None}})
        return out

    def _groups(self) -> range | None:
        """The key groups this instance owns (of its unit's keyed stage)."""
        u = self.spec.unit
        return range(*u.group_range(self.spec.index)) if u.routing == "keyed" else None

    def close(self) -> None:
        self.out.close()
        self.plane.drop(self.key)
        self.rs.leave(self.spec.name)


def _inputs(spec: InstanceSpec, source: Any, rs: Any, inbox: Any, start: int = 0
            ) -> Iterator[tuple[int, Piece]]:
    """``(seq, piece)`` from ``start`` on: from the inbox, or read from the source."""
    if spec.upstream is not None:
        up = spec.upstream
        parts = up.parallelism if up.coverage == "all" else 1
        yield from inbox.batches(up.parallelism, parts, spec.unit.ordered, rs.abort,
                                 spread=up.coverage == "spread", start=spec.first(start),
                                 stride=spec.stride, keyed=spec.unit.routing == "keyed")
        return
    step = spec.stride
    seq = spec.first(start)
    with rs.lock:             # where and when this generation's reading began (its rate)
        rs.first_claims.setdefault(spec.gen, (time.monotonic(), seq))
    limit = spec.batches if source.num_batches is None else (
        source.num_batches if spec.batches is None else min(spec.batches, source.num_batches))
    while limit is None or seq < limit:
        if not _claim(rs, spec.gen, spec.name, seq):
            return
        yield seq, Piece(source.batch(seq))
        seq += step


def _claim(rs: Any, gen: int, name: str, seq: int, patience: float = 60.0) -> bool:
    """Claim ``seq`` for reading (see ``RunState``): ``False`` when this generation stops
    below it. While a stop is being decided, wait for its point from the fence on (a
    client gone for ``patience`` seconds ends the run)."""
    deadline = time.monotonic() + patience
    with rs.claims:
        while (rs.stop_requested.get(gen) and gen not in rs.stop_at
               and seq >= rs.fence.get(gen, seq)):
            if rs.abort.is_set() or time.monotonic() > deadline:
                raise Aborted()
            rs.claims.wait(0.05)
        if rs.abort.is_set():
            raise Aborted()
        if gen in rs.stop_at and seq >= rs.stop_at[gen]:
            return False
        rs.readers[(gen, name)] = seq
        return True


def _carry_error(spec: InstanceSpec, nodes: list, seq: int) -> OperatorError:
    node = next(n for n in nodes if n.carry is not None)
    name = node.segment.name
    return OperatorError(
        f"stage '{name}' runs as {spec.unit.parallelism} parallel instances and needs "
        f"batches of a multiple of {node.granularity} records, but a batch before batch "
        f"{seq} left {len(node.carry)} record(s) over.\nFix: make the source's batch_size a "
        f"multiple of {node.granularity}, or run '{name}' with parallelism 1.",
        operator=name, seq=seq)
