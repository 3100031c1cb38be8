"""The receiving side of channels: an instance's inbox, where its batches arrive from
every sender of the unit before it, are assembled per sequence number and handed to the
instance in order, with credits going back to the senders."""

from __future__ import annotations

import queue
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...compile.kernels import scatter
from .frames import END, LOST, Aborted, Piece, recv_frame


class Inbox:
    """Where a receiving instance's batches arrive, from every sender of its unit.

    The instance's own thread reads its remote channels (``selectors`` over their sockets)
    and its local queue, so no thread hands batches to another on the way in.
    """

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()
        self.acks: dict[int, Callable[[], None]] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._new: queue.Queue = queue.Queue()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.held = 0
        self.ack_every = 1
        self.assembly: Assembly | None = None

    def describe(self) -> dict[str, Any]:
        """Where the consumer is (for a run that does not end: ``run.where()``)."""
        a = self.assembly
        if a is None:
            return {"queued": self.q.qsize()}
        return {"next": a.nxt, "top": a.top, "ended": sorted(a.ended),
                "pending": sorted(a.pending)[:8], "queued": self.q.qsize()}

    def configure(self, credits: int) -> None:
        """Remote senders get their credits back in groups of half the limit: one small
        write per few batches instead of one per batch (never more than the limit, so a
        sender can always make progress)."""
        self.ack_every = max(1, credits // 2)

    # --- producers (any thread) ----------------------------------------------------------
    def put(self, sender: int, seq: Any, piece: Piece) -> None:
        self.q.put((sender, seq, piece))
        self._wake()

    def attach(self, sender: int, ack: Callable[[], None]) -> None:
        self.acks[sender] = ack

    def attach_remote(self, sender: int, conn: socket.socket) -> None:
        self._new.put((sender, conn))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"w")
        except OSError:
            pass

    def close(self) -> None:
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- the consumer (the instance thread) ----------------------------------------------
    def waiting(self) -> int:
        return self.q.qsize() + self.held

    def _next(self, abort: threading.Event) -> tuple[int, Any, Piece | None]:
        while True:
            try:
                return self.q.get_nowait()
            except queue.Empty:
                pass
            for key, _ in self._sel.select(timeout=0.05):
                if key.data is None:
                    self._wake_r.recv(4096)
                    while not self._new.empty():
                        sender, conn = self._new.get()
                        self._sel.register(conn, selectors.EVENT_READ, sender)
                        self.acks[sender] = _Acks(conn, self.ack_every)
                    continue
                try:
                    frame = recv_frame(key.fileobj)
                except OSError:
                    frame = None
                if frame is None or frame[0] == "end":
                    self._sel.unregister(key.fileobj)
                    key.fileobj.close()     # the sender waits for this before it closes
                    return key.data, (END if frame else LOST), None
                return key.data, frame[0], frame[1]
            if abort.is_set():
                raise Aborted()

    def batches(self, senders: int, parts: int, ordered: bool, abort: threading.Event,
                spread: bool = False, start: int = 0, stride: int = 1, keyed: bool = False
                ) -> Iterator[tuple[int, Piece]]:
        """Assembled batches ``(seq, piece)``: the pieces of each sequence
        number joined (see :func:`join`); in sequence order when ``ordered``. Credits
        return after the consumer is done with a batch (when it asks for the next one).

        ``spread``: sender ``k`` of ``senders`` sends exactly the sequence numbers ``s``
        with ``s % senders == k`` (one piece each); otherwise every sender sends a piece of
        every sequence number (``parts == senders``). A sequence number is *closed* when
        each sender responsible for it has delivered its piece or ended. A run that stops
        leaves gaps (a reader that was ahead has read batches the others never will): a
        closed sequence number that no piece arrived for is yielded as ``(seq,
        Piece(None))``, a batch of no records, so that it travels on and closes the gap for
        every stage downstream too; an ordered consumer waiting (and holding its senders'
        credits) for a batch that never comes would otherwise stop the run for ever.

        ``start``, ``stride``: the sequence numbers this consumer receives at all (an
        instance ``j`` of a unit that ``p`` instances share round robin gets ``j, j + p,
        ...``); only these can be gaps. ``keyed``: this consumer gets records routed by key
        (some of each batch): their positions stay with them.
        """
        asm = self.assembly = Assembly(senders, spread, start, stride)
        while True:
            sender, seq, piece = self._next(abort)
            if seq is LOST:
                raise Aborted()          # the sender's instance went away: the run ends
            if seq is END:
                asm.end(sender)
            else:
                asm.add(sender, seq, piece)
            ready = asm.ready(ordered)
            self.held = asm.held
            for s in ready:
                got = asm.take(s)
                if got is None:
                    yield s, Piece(None)  # a gap left by a stop: no records
                    continue
                yield s, join([got[k] for k in sorted(got)], keep=keyed)
                for k in got:
                    ack = self.acks.get(k)
                    if ack is not None:
                        ack()
            if asm.finished:
                return


class Assembly:
    """Which sequence numbers a consumer can have next (pure bookkeeping; see
    :meth:`Inbox.batches` for the rules)."""

    def __init__(self, senders: int, spread: bool, start: int, stride: int) -> None:
        self.senders, self.spread, self.stride = senders, spread, stride
        self.pending: dict[int, dict[int, Any]] = {}
        self.ended: set[int] = set()
        self.nxt = start                 # every one of ours below it has been yielded
        self.done: set[int] = set()      # yielded at or above nxt (unordered)
        self.top = start - 1             # the highest sequence number any piece came for

    def add(self, sender: int, seq: int, batch: Any) -> None:
        self.pending.setdefault(seq, {})[sender] = batch
        self.top = max(self.top, seq)

    def end(self, sender: int) -> None:
        self.ended.add(sender)

    def closed(self, s: int) -> bool:
        """Every sender responsible for ``s`` delivered its piece or ended."""
        got = self.pending.get(s, ())
        if self.spread:
            k = s % self.senders
            return k in got or k in self.ended
        return all(k in got or k in self.ended for k in range(self.senders))

    def ready(self, ordered: bool) -> list[int]:
        """Sequence numbers to hand out now: the next ones in order when ``ordered``;
        otherwise every closed one, plus the gaps below the highest seen."""
        ready = []
        if ordered:
            while self.nxt <= self.top and self.closed(self.nxt):
                ready.append(self.nxt)
                self.nxt += self.stride
            return ready
        ready = sorted(s for s in self.pending if self.closed(s))
        self.done.update(ready)
        while self.nxt <= self.top and (self.nxt in self.done or self.closed(self.nxt)):
            if self.nxt not in self.done:
                ready.append(self.nxt)       # a gap
            self.done.discard(self.nxt)
            self.nxt += self.stride
        return ready

    def take(self, s: int) -> dict[int, Any] | None:
        """The pieces of ``s`` by sender (``None``: a gap)."""
        return self.pending.pop(s, None)

    @property
    def held(self) -> int:
        return sum(len(p) for p in self.pending.values())

    @property
    def finished(self) -> bool:
        return len(self.ended) == self.senders and not self.pending


def join(pieces: list[Piece], keep: bool = False) -> Piece:
    """One batch from its pieces, given in sender order.

    Pieces without positions are concatenated in sender order. Records routed by key carry
    their positions in the batch they were routed from: joined, they go back into that
    order (a keyed unit's instances each hold some of a batch's records, and its consumer
    sees the batch in input order). ``keep``: the consumer holds only some of each batch
    (it is itself routed by key), so the positions stay with the records; otherwise they
    are done with. A piece with history in front (``overlap``) comes from the one sender
    of a parallel peeking operator's input, and is passed on as it is.

    >>> a = Piece(np.array([10., 30.]), np.array([0, 2]))
    >>> b = Piece(np.array([20., 40.]), np.array([1, 3]))
    >>> join([a, b])
    Piece(records=array([10., 20., 30., 40.]), positions=None, overlap=None)
    >>> join([a], keep=True).positions
    array([0, 2])
    """
    if len(pieces) == 1 and pieces[0].overlap is not None:
        return pieces[0]
    pieces = [p for p in pieces if p.records is not None and len(p.records)]
    if not pieces:
        return Piece(None)
    if len(pieces) == 1:
        x, pos = pieces[0].records, pieces[0].positions
    else:
        if pieces[0].positions is not None and not keep:
            whole = _in_place(pieces)
            if whole is not None:
                return Piece(whole)
        x = np.concatenate([p.records for p in pieces])
        pos = None
        if pieces[0].positions is not None:
            pos = np.concatenate([p.positions for p in pieces])
            order = np.argsort(pos, kind="stable")
            x, pos = x[order], pos[order]
    return Piece(x, pos if keep else None)


def _in_place(pieces: list[Piece]) -> np.ndarray | None:
    """Every record of a batch (positions ``0..n-1``, each once): each put back in its
    place, no sort; ``None`` when the pieces are not a whole batch."""
    n = sum(len(p.records) for p in pieces)
    if max(int(p.positions.max()) for p in pieces) != n - 1:
        return None
    first = pieces[0].records
    out = np.empty((n,) + first.shape[1:], first.dtype)
    plain = first.ndim == 1 and first.dtype.kind in "biuf"
    for p in pieces:
        if plain:
            scatter(out, p.positions, p.records)
        else:
            out[p.positions] = p.records
    return out


class _Acks:
    """Credits back to one remote sender, ``every`` at a time."""

    def __init__(self, conn: socket.socket, every: int) -> None:
        self.conn, self.every, self.owed = conn, every, 0

    def __call__(self) -> None:
        self.owed += 1
        if self.owed >= self.every:
            try:
                self.conn.sendall(b"\x01" * self.owed)
            except OSError:
                pass
            self.owed = 0
