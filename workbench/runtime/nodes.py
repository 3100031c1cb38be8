"""Executing a fusion plan on batches: segments with their pending records, split-joins.

Both engines use these: the local engine runs a whole plan in one thread; the Dask engine
runs each segment's instances on workers.

A segment's *pending* records are the channel into it: records it has received and not
yet consumed, kept between batches (``SegmentNode.pending``, one named place per edge, so
that reconfiguration and checkpoints can move them). A segment that consumes ``g``
records per fused firing (its granularity) takes whole multiples of ``g`` and keeps the
rest pending; a segment whose first operator peeks takes as many firings as its pending
records allow and keeps the ``peek - consumes`` records of history (and any remainder)
pending. At the end of the stream, pending records are reported, not lost silently.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..compile import CompiledSegment
from ..model.fusion import Branching, Node, Segment
from .metrics import Recorder, expansion


class SegmentNode:
    """One fused segment, its state and its pending records (see the module docstring)."""

    def __init__(self, segment: Segment, compiled: CompiledSegment, recorder: Recorder,
                 states: list | None = None, unit: str = "", instance: int = 0) -> None:
        self.segment = segment
        self.compiled = compiled
        self.states = states if states is not None else compiled.new_states()
        self.granularity = segment.granularity
        self.head = segment.ops[0]
        self.peeks = segment.peeks
        self.per_firing = segment.head_firings     # head firings per whole segment firing
        self.pending: np.ndarray | None = None
        self.fired = False          # a firing has read records (its history is pending)
        self.counter = recorder.segment(
            segment.name, expansion(segment.ops, [s.name for s in segment.stages]), unit,
            instance)

    @property
    def carry(self) -> np.ndarray | None:
        """Pending records, if any (``None`` when there are none)."""
        return self.pending if self.pending is not None and len(self.pending) else None

    def take(self, x: np.ndarray, chunk: bool = False) -> np.ndarray:
        """The records to run now (pending ones first); the rest stays pending. ``chunk``:
        ``x`` is self-contained (a parallel instance's batch with the history it needs in
        front): nothing pending is used, and nothing is kept."""
        if not chunk and self.pending is not None and len(self.pending):
            x = np.concatenate([self.pending, x])
        if self.peeks:
            h = self.head
            fires = h.fires(len(x))
            fires -= fires % self.per_firing
            used, consumed = ((fires - 1) * h.consumes + h.window, fires * h.consumes) \
                if fires else (0, 0)
        else:
            used = consumed = len(x) // self.granularity * self.granularity
        rest = None if chunk or consumed >= len(x) else x[consumed:].copy()
        self.pending = rest
        self.fired = self.fired or used > 0
        return x[:used]

    def push(self, x: np.ndarray, seq: int, chunk: bool = False) -> np.ndarray | None:
        x = self.take(x, chunk)
        if len(x) == 0:
            return None
        t = time.perf_counter()
        y = self.compiled(x, self.states, seq)
        c = self.counter
        c.busy += time.perf_counter() - t
        c.records += len(x) - (self.head.history if self.peeks else 0)
        c.records_out += len(y)
        c.batches += 1
        return y

    def leftovers(self) -> list[str]:
        n = 0 if self.pending is None else len(self.pending)
        name, h = self.segment.name, self.head
        if self.peeks and self.fired:
            n -= h.history         # read by the last firings: history, not left over
        if n <= 0:
            return []
        if self.peeks:
            return [f"{name}: {n} record(s) at the end of the stream were fewer than a "
                    f"firing of '{self.segment.stages[0].name}' ({h.window} records per "
                    "firing, peek) and were not read"]
        return [f"{name}: {n} record(s) at the end of the stream were fewer than one firing "
                f"({self.granularity} records) and were dropped"]


class BranchingNode:
    """A split-join: split, branch chains, roundrobin join with carry-over."""

    def __init__(self, node: Branching, branches: list[Chain]) -> None:
        self.node = node
        self.branches = branches
        self.width = sum(node.split_weights)
        self.carry: np.ndarray | None = None
        self.pending: list[list[np.ndarray]] = [[] for _ in branches]

    def _split(self, x: np.ndarray) -> list[np.ndarray]:
        if self.node.split == "duplicate":
            return [x] * len(self.branches)
        if self.carry is not None and len(self.carry):
            x = np.concatenate([self.carry, x])
        n = len(x) // self.width * self.width
        self.carry = x[n:].copy() if n < len(x) else None
        blocks = x[:n].reshape((-1, self.width) + x.shape[1:])
        out, off = [], 0
        for w in self.node.split_weights:
            out.append(np.ascontiguousarray(blocks[:, off:off + w]).reshape((-1,) + x.shape[1:]))
            off += w
        return out

    def push(self, x: np.ndarray, seq: int) -> np.ndarray | None:
        for i, (branch, part) in enumerate(zip(self.branches, self._split(x))):
            if len(part) == 0:
                continue
            y = branch.push(part, seq)
            if y is not None and len(y):
                self.pending[i].append(y)
        return self._join()

    def _join(self) -> np.ndarray | None:
        weights = self.node.join_weights
        bufs = []
        for p in self.pending:
            bufs.append(p[0] if len(p) == 1 else np.concatenate(p) if p else None)
        if any(b is None for b in bufs):
            self.pending = [[b] if b is not None else [] for b in bufs]
            return None
        firings = min(len(b) // w for b, w in zip(bufs, weights))
        if firings == 0:
            self.pending = [[b] for b in bufs]
            return None
        parts = []
        for i, (b, w) in enumerate(zip(bufs, weights)):
            parts.append(b[:firings * w].reshape((firings, w) + b.shape[1:]))
            rest = b[firings * w:]
            self.pending[i] = [rest] if len(rest) else []
        joined = np.concatenate(parts, axis=1)
        return joined.reshape((-1,) + joined.shape[2:])

    def leftovers(self) -> list[str]:
        out = [m for b in self.branches for m in b.leftovers()]
        n = sum(len(a) for p in self.pending for a in p)
        if n:
            out.append(f"{self.node.name}: {n} record(s) waiting at the join at the end of the "
                       "stream were dropped (no complete join firing)")
        if self.carry is not None and len(self.carry):
            out.append(f"{self.node.name}: {len(self.carry)} record(s) at the split were "
                       "dropped (fewer than one roundrobin round)")
        return out


class Chain:
    """A sequence of nodes (a whole plan, or one branch of a split-join)."""

    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    def push(self, x: np.ndarray, seq: int, chunk: bool = False) -> np.ndarray | None:
        """Through every node; ``chunk``: ``x`` comes with the history its first (peeking)
        segment needs, for a parallel instance (see ``SegmentNode.take``)."""
        for k, node in enumerate(self.nodes):
            x = node.push(x, seq, chunk) if k == 0 and chunk else node.push(x, seq)
            if x is None:
                return None
        return x

    def leftovers(self) -> list[str]:
        return [m for n in self.nodes for m in n.leftovers()]

    def notes(self) -> list[str]:
        """What the compiled segments noted while running (a fused loop not used)."""
        return [m for n in self.segment_nodes() for m in n.compiled.notes]

    def segment_nodes(self) -> list[SegmentNode]:
        out: list[SegmentNode] = []
        for n in self.nodes:
            if isinstance(n, SegmentNode):
                out.append(n)
            else:
                for b in n.branches:
                    out.extend(b.segment_nodes())
        return out


def build_chain(plan: tuple[Node, ...], recorder: Recorder,
                compiled: dict[str, CompiledSegment], unit: str = "",
                instance: int = 0) -> Chain:
    """Executable chain for a plan; ``compiled`` maps segment names to compiled segments;
    its metrics count as instance ``instance`` of ``unit``."""
    nodes: list[Any] = []
    for n in plan:
        if isinstance(n, Segment):
            nodes.append(SegmentNode(n, compiled[n.name], recorder, None, unit, instance))
        else:
            nodes.append(BranchingNode(n, [build_chain(b, recorder, compiled, unit, instance)
                                           for b in n.branches]))
    return Chain(nodes)
