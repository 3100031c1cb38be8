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
from .cut import Cut, copy_state
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
        # records waiting at the input of operator k > 0 of the segment: only after a
        # reconfiguration fused this segment from segments that had records pending (see
        # load); while any wait, the operators run one by one (push_unfused)
        self.inner: dict[int, np.ndarray] = {}
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
        if self.inner:
            return self.push_unfused(x, seq)
        x = self.take(x, chunk)
        if len(x) == 0:
            return None
        t = time.perf_counter()
        y = self.compiled(x, self.states, seq)
        self._count(len(x) - (self.head.history if self.peeks else 0), len(y), t)
        return y

    def _count(self, records: int, out: int, t: float) -> None:
        c = self.counter
        c.busy += time.perf_counter() - t
        c.records += records
        c.records_out += out
        c.batches += 1

    def push_unfused(self, x: np.ndarray, seq: int) -> np.ndarray | None:
        """The operators one by one, each with the records waiting at its input, until
        none wait inside the segment; then the fused code takes over again."""
        t = time.perf_counter()
        n_in = len(x)
        ops = self.segment.ops
        if self.pending is not None and len(self.pending):
            x = np.concatenate([self.pending, x])
        h = ops[0]
        fires = h.fires(len(x))
        used = ((fires - 1) * h.consumes + h.window) if fires else 0
        consumed = fires * h.consumes
        self.pending = x[consumed:].copy() if consumed < len(x) else None
        self.fired = self.fired or used > 0
        y = self.compiled.call_op(0, x[:used], self.states[0], seq) if used else None
        for k in range(1, len(ops)):
            parts = [p for p in (self.inner.get(k), y) if p is not None and len(p)]
            if not parts:
                y = None
                continue
            z = parts[0] if len(parts) == 1 else np.concatenate(parts)
            n = len(z) // ops[k].consumes * ops[k].consumes
            if n < len(z):
                self.inner[k] = z[n:].copy()
            else:
                self.inner.pop(k, None)
            y = self.compiled.call_op(k, z[:n], self.states[k], seq) if n else None
        self._count(n_in, 0 if y is None else len(y), t)
        return y if y is not None and len(y) else None

    # --- cuts (reconfiguration, checkpoints) ----------------------------------------------
    def export(self, cut: Cut, groups: range | None = None) -> None:
        """Put this segment's state and pending records into ``cut`` (of a keyed stage,
        the key groups in ``groups``; all when ``None``)."""
        for st, state in zip(self.segment.stages, self.states):
            if state is None:
                continue
            if st.op.key is not None:
                rows = range(st.op.key_groups) if groups is None else groups
                cut.keyed[st.name] = {g: _row(state, g) for g in rows}
            else:
                cut.states[st.name] = copy_state(state)
        head = self.segment.stages[0].name
        if self.pending is not None and len(self.pending):
            cut.pending[head] = self.pending.copy()
        if self.peeks:
            cut.fired[head] = self.fired
        for k, p in self.inner.items():
            if len(p):
                cut.pending[self.segment.stages[k].name] = p.copy()

    def load(self, cut: Cut) -> None:
        """Take over what ``cut`` holds for this segment's stages."""
        for i, st in enumerate(self.segment.stages):
            if st.op.key is not None and st.name in cut.keyed:
                for g, row in cut.keyed[st.name].items():
                    _set_row(self.states[i], g, row)
            elif st.name in cut.states:
                self.states[i] = copy_state(cut.states[st.name])
        head = self.segment.stages[0].name
        p = cut.pending.get(head)
        self.pending = p.copy() if p is not None and len(p) else None
        self.fired = cut.fired.get(head, self.fired)
        for k, st in enumerate(self.segment.stages[1:], 1):
            p = cut.pending.get(st.name)
            if p is not None and len(p):
                self.inner[k] = p.copy()

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


def _row(state: Any, g: int) -> Any:
    return tuple(a[g].copy() for a in state) if isinstance(state, tuple) else state[g].copy()


def _set_row(state: Any, g: int, row: Any) -> None:
    if isinstance(state, tuple):
        for a, r in zip(state, row):
            a[g] = r
    else:
        state[g] = row


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

    def export(self, cut: Cut, groups: range | None = None) -> None:
        carry = None if self.carry is None else self.carry.copy()
        waiting = [np.concatenate(p) if p else None for p in self.pending]
        cut.branchings[self.node.name] = (carry, waiting)
        for b in self.branches:
            b.export_into(cut, groups)

    def load(self, cut: Cut) -> None:
        got = cut.branchings.get(self.node.name)
        if got is not None:
            carry, waiting = got
            self.carry = None if carry is None else carry.copy()
            self.pending = [[w.copy()] if w is not None and len(w) else [] for w in waiting]
        for b in self.branches:
            b.load(cut)

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

    def export(self, groups: range | None = None) -> Cut:
        """Everything this chain holds between batches, by stage (see :mod:`.cut`)."""
        cut = Cut()
        self.export_into(cut, groups)
        return cut

    def export_into(self, cut: Cut, groups: range | None = None) -> None:
        for n in self.nodes:
            n.export(cut, groups)

    def load(self, cut: Cut) -> None:
        """Take over what ``cut`` holds for this chain's stages and split-joins."""
        for n in self.nodes:
            n.load(cut)

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
