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
from ...compile.kernels import key_groups
from ...compile.segment import Artifacts, keys_of
from ...errors import OperatorError, portable
from ...model.fusion import segments
from ...placement import Unit
from ..metrics import edge_name
from ..nodes import build_chain
from .channels import Aborted, dataplane
from .frames import Piece
from .worker import run_state


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
    needs_cut: bool = False          # waits for what it takes over from the generation before

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
        self.rs.enter(spec.name)
        self.plane = dataplane(worker)
        self.key = (spec.run_id, spec.gen, spec.unit.index, spec.index)
        self.out = _Output(spec, self.plane, self.rs)
        self.source_records = 0
        self.t_first: float | None = None
        self.chain: Any = None
        self.open_epoch: int | None = None      # the epoch of the last batch taken
        self.loaded: Any = None                 # what it took over (a reconfiguration)

    def run(self, source: Any) -> dict:
        spec, rs = self.spec, self.rs
        store = ArtifactStore(spec.store_root)
        compiled = {s.name: CompiledSegment(s, store, artifacts=spec.artifacts.get(s.name))
                    for s in segments(spec.unit.nodes)}
        self.chain = build_chain(spec.unit.nodes, rs.recorder, compiled, spec.unit.name,
                                 spec.index)
        inbox = None if spec.upstream is None else self.plane.inbox(self.key)
        if inbox is not None:
            inbox.configure(spec.credits)
        # a generation after the first starts where the one before stopped (known only
        # at the switch), with the state and pending records it hands over
        start = rs.wait_for("the switch point", lambda: rs.start_at.get(spec.gen))
        if spec.needs_cut:
            key = (spec.gen, spec.unit.index, spec.index)
            self.loaded = rs.wait_for("its cut", lambda: rs.cuts.pop(key, None))
            self.chain.load(self.loaded)
            self.out.load(self.loaded)
        waiting = rs.recorder.inbox(spec.unit.name, spec.index)
        reading = rs.recorder.point("source", spec.index) if spec.upstream is None else None
        for seq, piece in _inputs(spec, source, rs, inbox, start):
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
        self.out.end()
        return self.report("stopped" if spec.gen in rs.stop_at else "finished")

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
    limit = spec.batches if source.num_batches is None else (
        source.num_batches if spec.batches is None else min(spec.batches, source.num_batches))
    while limit is None or seq < limit:
        if not _claim(rs, spec.gen, spec.name, seq):
            return
        yield seq, Piece(source.batch(seq))
        seq += step


def _claim(rs: Any, gen: int, name: str, seq: int, patience: float = 60.0) -> bool:
    """Claim ``seq`` for reading (see ``RunState``): ``False`` when this generation stops
    below it. While a stop is being decided, wait for its point (a client gone for
    ``patience`` seconds ends the run)."""
    deadline = time.monotonic() + patience
    with rs.claims:
        while rs.stop_requested.get(gen) and gen not in rs.stop_at:
            if rs.abort.is_set() or time.monotonic() > deadline:
                raise Aborted()
            rs.claims.wait(0.05)
        if rs.abort.is_set():
            raise Aborted()
        if gen in rs.stop_at and seq >= rs.stop_at[gen]:
            return False
        rs.readers[(gen, name)] = seq
        return True


class _Output:
    """Where an instance's results go: the next unit's instances, or the sink."""

    def __init__(self, spec: InstanceSpec, plane: Any, rs: Any) -> None:
        self.spec = spec
        self.rs = rs
        self.parts: dict[int, Any] = {}    # seq -> records, or (records, positions)
        self.records = 0
        self.senders: list = []
        self.callback = spec.sink if callable(spec.sink) else None
        down = spec.downstream
        if down is not None:
            for j, addr in enumerate(down.workers):
                self.senders.append(plane.sender(
                    addr, spec.data_addresses.get(addr), (spec.run_id, spec.gen, down.index, j),
                    spec.index, spec.credits, rs.abort, spec.token))
            self.edge = rs.recorder.channel(edge_name(spec.unit.name, down.name), spec.index)
            if down.routing == "keyed":
                self.starts = np.array([down.group_range(j)[0]
                                        for j in range(down.parallelism)], np.int64)
            fission = down.fission
            self.history = None if fission is None else History(fission.op, fission.name)
        else:
            self.history = None
            self.sink_counter = rs.recorder.point("sink", spec.index)
        self.first_out: float | None = None      # when the first / last records reached
        self.last_out: float | None = None       # the sink (from this instance)

    def emit(self, seq: int, y: np.ndarray | None, positions: np.ndarray | None) -> None:
        """Pass on a batch; ``positions``: where its records stand in the batch they were
        routed by key from (records of a keyed unit's instance), else ``None``."""
        down = self.spec.downstream
        if down is None:
            return self._sink(seq, y, positions)
        if down.routing == "direct":
            self._send(0, seq, y, positions)
        elif down.routing == "spread" and self.history is not None:
            y, overlap = self.history.front(y)
            self._send(seq % down.parallelism, seq, y, None, overlap)
        elif down.routing == "spread":
            self._send(seq % down.parallelism, seq, y, positions)
        else:
            self._route_keyed(seq, y, positions)

    def _send(self, j: int, seq: int, y: np.ndarray | None,
              positions: np.ndarray | None = None, overlap: int | None = None) -> None:
        s = self.senders[j]
        s.send(seq, Piece(y, positions, overlap))
        self.edge.records += 0 if y is None else len(y)
        self.edge.batches += 1
        self.edge.depth(s.in_flight)

    def _route_keyed(self, seq: int, y: np.ndarray | None,
                     positions: np.ndarray | None) -> None:
        """Each instance gets the records of its key groups, with their positions, so the
        batch can be put back in input order where the instances' parts are joined."""
        down = self.spec.downstream
        if y is None:
            for j in range(down.parallelism):
                self._send(j, seq, None)
            return
        op = self.spec.route_op
        keys = keys_of(op, y, down.key_stage, seq)
        inst = np.searchsorted(self.starts, key_groups(keys, op.key_groups), side="right") - 1
        if positions is None:
            positions = np.arange(len(y), dtype=np.int64)
        for j in range(down.parallelism):
            mine = inst == j
            self._send(j, seq, y[mine], positions[mine])

    def _sink(self, seq: int, y: np.ndarray | None, positions: np.ndarray | None) -> None:
        c = self.sink_counter
        c.batches += 1
        if y is None:
            return
        c.records += len(y)
        c.records_out += len(y)
        self.records += len(y)
        now = time.time()
        if self.first_out is None:
            self.first_out = now
        self.last_out = now
        if self.callback is not None:
            self.callback(seq, y)
        elif self.spec.sink == "collect":
            self.parts[seq] = y if positions is None else (y, positions)

    def sink_value(self) -> Any:
        if self.spec.downstream is not None:
            return None
        return self.parts if self.spec.sink == "collect" else self.records

    def end(self) -> None:
        for s in self.senders:
            s.end()

    def leftovers(self) -> list[str]:
        """Records at the end of the stream that no firing of the parallel peeking
        operator downstream read (its one sender knows them)."""
        return [] if self.history is None else self.history.leftovers()

    def export(self, cut: Any) -> None:
        """The records a parallel peeking operator downstream has yet to read, as pending
        at its input (what one instance of it would hold)."""
        if self.history is not None:
            pending, fired = self.history.export()
            stage = self.spec.downstream.fission.name
            cut.pending[stage], cut.fired[stage] = pending, fired

    def load(self, cut: Any) -> None:
        if self.history is not None:
            stage = self.spec.downstream.fission.name
            if stage in cut.pending:
                self.history.load(cut.pending[stage])

    def close(self) -> None:
        for s in self.senders:
            s.close()


class History:
    """The sender's side of a parallel peeking operator (StreamIt fission): each batch
    goes out with the records before it that its firings need.

    Firing ``i`` reads records ``[i*c, i*c + peek)`` of the stream and belongs to the batch
    its last record is in; a batch starting at stream position ``P`` therefore needs the
    records from the first such firing's start, ``ceil((P - peek + 1) / c) * c``, up to
    ``P``: at most ``peek - 1``, kept here from the batches sent before."""

    def __init__(self, op: Any, name: str) -> None:
        self.op, self.name = op, name
        self.window, self.consumes = op.window, op.consumes
        self.tail: np.ndarray | None = None       # the last window - 1 records sent
        self.position = 0                         # records of the stream sent so far

    def front(self, y: np.ndarray | None) -> tuple[np.ndarray | None, int]:
        """``(history + y, len(history))`` for the next batch ``y``."""
        if self.tail is None:
            if y is None:
                return None, 0
            self.tail = y[:0]
        if y is None:
            y = self.tail[:0]
        p, c = self.position, self.consumes
        first = max(0, -(-(p - self.window + 1) // c)) * c
        need = p - first
        out = np.concatenate([self.tail[len(self.tail) - need:], y]) if need else y
        if self.window > 1:
            self.tail = np.concatenate([self.tail, y])[-(self.window - 1):]
        self.position = p + len(y)
        return out, need

    def export(self) -> tuple[np.ndarray, bool]:
        """The records from the next firing's start on, and whether any firing read."""
        fires = self.op.fires(self.position)
        n = self.position - fires * self.consumes
        tail = self.tail if self.tail is not None else np.empty(0)
        return tail[len(tail) - n:].copy() if n else tail[:0].copy(), fires > 0

    def load(self, pending: np.ndarray) -> None:
        """Go on from ``pending`` (records from a firing's start on): their start is a
        firing boundary, so counting positions from it keeps every window in place."""
        self.tail = pending[-(self.window - 1):].copy() if self.window > 1 else pending[:0]
        self.position = len(pending)

    def leftovers(self) -> list[str]:
        fires = self.op.fires(self.position)
        read = (fires - 1) * self.consumes + self.window if fires else 0
        n = self.position - read
        if n <= 0:
            return []
        return [f"{self.name}: {n} record(s) at the end of the stream were fewer than a "
                f"firing of '{self.name}' ({self.window} records per firing, peek) and were "
                "not read"]


def _carry_error(spec: InstanceSpec, nodes: list, seq: int) -> OperatorError:
    node = next(n for n in nodes if n.carry is not None)
    name = node.segment.name
    return OperatorError(
        f"stage '{name}' runs as {spec.unit.parallelism} parallel instances and needs "
        f"batches of a multiple of {node.granularity} records, but a batch before batch "
        f"{seq} left {len(node.carry)} record(s) over.\nFix: make the source's batch_size a "
        f"multiple of {node.granularity}, or run '{name}' with parallelism 1.",
        operator=name, seq=seq)
