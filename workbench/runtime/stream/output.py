"""Where a stage instance's results go: the next unit's instances (routed by position,
spread round robin, or by key group), or the sink; and, in front of a parallel peeking
operator, the history each batch goes out with (:class:`History`, StreamIt's fission)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ...compile.kernels import key_groups
from ...compile.segment import keys_of
from ..metrics import edge_name
from .frames import Piece

if TYPE_CHECKING:
    from .instance import InstanceSpec


class Output:
    """Where an instance's results go: the next unit's instances, or the sink."""

    def __init__(self, spec: InstanceSpec, plane: Any, rs: Any) -> None:
        self.spec = spec
        self.rs = rs
        self.parts: dict[int, Any] = {}    # seq -> records, or (records, positions)
        self.records = 0
        self.senders: list = []
        self.callback = spec.sink if callable(spec.sink) else None
        # a collect sink with checkpoints: the batches collected since the last snapshot
        self.log: list[int] | None = ([] if spec.checkpoint and spec.sink == "collect"
                                      and spec.downstream is None else None)
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
            if self.log is not None:
                self.log.append(seq)

    def take_log(self) -> dict:
        """The batches collected since the last call (a checkpoint's sink log)."""
        if not self.log:
            return {}
        out = {s: self.parts[s] for s in self.log}
        self.log = []
        return out

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
