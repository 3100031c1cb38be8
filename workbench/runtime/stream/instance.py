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

    @property
    def name(self) -> str:
        return f"{self.unit.name}[{self.index}]"


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
        self.key = (spec.run_id, spec.unit.index, spec.index)
        self.out = _Output(spec, self.plane, self.rs)
        self.source_records = 0
        self.t_first: float | None = None
        self.chain: Any = None

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
        waiting = rs.recorder.inbox(spec.unit.name, spec.index)
        reading = rs.recorder.point("source", spec.index) if spec.upstream is None else None
        for seq, piece in _inputs(spec, source, rs, inbox):
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
        if inbox is not None:       # the end markers read too: a drained run samples 0
            waiting.queue = inbox.waiting()
        self.out.end()
        return self.report("stopped" if rs.stop_at is not None else "finished")

    def _push(self, seq: int, batch: np.ndarray, chunk: bool) -> np.ndarray | None:
        nodes = self.chain.segment_nodes()
        if self.spec.unit.routing == "spread" and any(n.carry is not None for n in nodes):
            raise _carry_error(self.spec, nodes, seq)
        return self.chain.push(batch, seq, chunk)

    def _mark_epoch(self, seq: int) -> None:
        """At the sink: this instance's share of an epoch has arrived."""
        spec = self.spec
        step = spec.unit.parallelism if spec.unit.routing == "spread" else 1
        if spec.downstream is None and (seq + step) // spec.epoch > seq // spec.epoch:
            with self.rs.lock:
                self.rs.epochs.append((time.time(), spec.name, seq // spec.epoch))

    def report(self, status: str) -> dict:
        """What the client gets back from this instance."""
        spec = self.spec
        out = {"status": status, "instance": spec.name, "unit": spec.unit.index,
               "index": spec.index, "worker": self.worker.address}
        if status in ("finished", "stopped"):
            nodes = self.chain.segment_nodes()
            out.update({"t_first": self.t_first, "t_last": time.time(),
                        "thread": threading.current_thread().name,
                        "source_records": self.source_records,
                        "sink": self.out.sink_value(),
                        "leftovers": self.chain.leftovers() + self.out.leftovers(),
                        "notes": self.chain.notes(),
                        "states": {s.name: st for n in nodes for s, st in
                                   zip(n.segment.stages, n.states) if st is not None}})
        return out

    def close(self) -> None:
        self.out.close()
        self.plane.drop(self.key)
        self.rs.leave(self.spec.name)


def _inputs(spec: InstanceSpec, source: Any, rs: Any, inbox: Any
            ) -> Iterator[tuple[int, Piece]]:
    """``(seq, piece)``: from the inbox, or read from the source."""
    if spec.upstream is not None:
        up = spec.upstream
        parts = up.parallelism if up.coverage == "all" else 1
        mine = spec.unit.parallelism if spec.unit.routing == "spread" else 1
        yield from inbox.batches(up.parallelism, parts, spec.unit.ordered, rs.abort,
                                 spread=up.coverage == "spread",
                                 start=spec.index if mine > 1 else 0, stride=mine,
                                 keyed=spec.unit.routing == "keyed")
        return
    step = spec.unit.parallelism if spec.unit.routing == "spread" else 1
    seq = spec.index if step > 1 else 0
    limit = spec.batches if source.num_batches is None else (
        source.num_batches if spec.batches is None else min(spec.batches, source.num_batches))
    while limit is None or seq < limit:
        if not _claim(rs, spec.name, seq):
            return
        yield seq, Piece(source.batch(seq))
        seq += step


def _claim(rs: Any, name: str, seq: int, patience: float = 60.0) -> bool:
    """Claim ``seq`` for reading (see ``RunState``): ``False`` when the run stops below it.
    While a stop is being decided, wait for its point (a client gone for ``patience``
    seconds ends the run)."""
    deadline = time.monotonic() + patience
    with rs.claims:
        while rs.stop_requested and rs.stop_at is None:
            if rs.abort.is_set() or time.monotonic() > deadline:
                raise Aborted()
            rs.claims.wait(0.05)
        if rs.abort.is_set():
            raise Aborted()
        if rs.stop_at is not None and seq >= rs.stop_at:
            return False
        rs.readers[name] = seq
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
                    addr, spec.data_addresses.get(addr), (spec.run_id, down.index, j),
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
