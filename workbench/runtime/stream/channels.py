"""The data plane: long-lived channels between stage instances, with credits.

Dask finds the workers and starts the instances; batches then travel on channels of our
own. Each worker process has one :class:`DataPlane` listening on the worker's host. A
channel is one TCP connection from one sender instance to one receiver instance, written
and read by the instances' own threads (sockets release the GIL), framed as a small header
plus the array's raw bytes. Measured here: Dask's comm layer costs 200-370 us per message
(about 4,000 messages/s), a framed socket from a thread 50-150 us (17,000 messages/s, 3.5
GB/s at 512 KiB), hence our own frames. The sender may have at most ``credits`` batches
that the receiver has not yet processed (backpressure: a slow consumer slows its producers
instead of growing memory). Instances in the same process hand batches over in memory,
under the same credit rule.

Instance threads block (on credits or on input) in short waits that watch the run's abort
flag, so a failed run releases every thread promptly.
"""

from __future__ import annotations

import pickle
import queue
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

END = object()
LOST = object()


class Aborted(Exception):
    """The run was aborted (another instance failed, or the run was cancelled)."""


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

    def configure(self, credits: int) -> None:
        """Remote senders get their credits back in groups of half the limit: one small
        write per few batches instead of one per batch (never more than the limit, so a
        sender can always make progress)."""
        self.ack_every = max(1, credits // 2)

    # --- producers (any thread) ----------------------------------------------------------
    def put(self, sender: int, seq: Any, batch: Any) -> None:
        self.q.put((sender, seq, batch))
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

    def _next(self, abort: threading.Event) -> tuple[int, Any, Any]:
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
                    frame = _recv_frame(key.fileobj)
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
                spread: bool = False, start: int = 0, stride: int = 1
                ) -> Iterator[tuple[int, np.ndarray | None]]:
        """Assembled batches: the pieces of each sequence number joined in sender order; in
        sequence order when ``ordered``. Credits return after the consumer is done with a
        batch (when it asks for the next one).

        ``spread``: sender ``k`` of ``senders`` sends exactly the sequence numbers ``s``
        with ``s % senders == k`` (one piece each); otherwise every sender sends a piece of
        every sequence number (``parts == senders``). A sequence number is *closed* when
        each sender responsible for it has delivered its piece or ended. A run that stops
        leaves gaps (a reader that was ahead has read batches the others never will): a
        closed sequence number that no piece arrived for is yielded as ``(seq, None)``, a
        batch of no records, so that it travels on and closes the gap for every stage
        downstream too; an ordered consumer waiting (and holding its senders' credits) for
        a batch that never comes would otherwise stop the run for ever.

        ``start``, ``stride``: the sequence numbers this consumer receives at all (an
        instance ``j`` of a unit that ``p`` instances share round robin gets ``j, j + p,
        ...``); only these can be gaps.
        """
        pending: dict[int, dict[int, Any]] = {}
        ended: set[int] = set()
        nxt = start              # every one of ours below it has been yielded
        done: set[int] = set()   # yielded at or above nxt (unordered)
        top = start - 1          # the highest sequence number any piece arrived for

        def closed(s: int) -> bool:
            got = pending.get(s, ())
            if spread:
                k = s % senders
                return k in got or k in ended
            return all(k in got or k in ended for k in range(senders))

        while True:
            sender, seq, batch = self._next(abort)
            if seq is LOST:
                raise Aborted()          # the sender's instance went away: the run ends
            if seq is END:
                ended.add(sender)
            else:
                pending.setdefault(seq, {})[sender] = batch
                top = max(top, seq)
            if ordered:
                ready = []
                while nxt <= top and closed(nxt):
                    ready.append(nxt)    # (a gap left by a stop yields no records)
                    nxt += stride
            else:
                ready = sorted(s for s in pending if closed(s))
                done.update(ready)
                while nxt <= top and (nxt in done or closed(nxt)):
                    if nxt not in done:
                        ready.append(nxt)        # a gap
                    done.discard(nxt)
                    nxt += stride
            self.held = sum(len(p) for p in pending.values())
            for s in ready:
                got = pending.pop(s, None)
                if got is None:
                    yield s, None
                    continue
                yield s, _join([got[k] for k in sorted(got)])
                for k in got:
                    ack = self.acks.get(k)
                    if ack is not None:
                        ack()
            if len(ended) == senders and not pending:
                return


def _join(parts: list[Any]) -> np.ndarray | None:
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)


class _Sender:
    """Credit accounting shared by local and remote senders."""

    def __init__(self, credits: int, abort: threading.Event) -> None:
        self.credits = credits
        self.abort = abort
        self.sent = 0
        self.acked = 0
        self.records = 0

    @property
    def in_flight(self) -> int:
        """Batches sent whose credit has not come back (at most ``credits``)."""
        return self.sent - self.acked


class LocalSender(_Sender):
    """Same-process hand-off: the batch object itself, no copy, no serialisation."""

    def __init__(self, inbox: Inbox, sender: int, credits: int, abort: threading.Event):
        super().__init__(credits, abort)
        self.sem = threading.Semaphore(credits)
        self.inbox, self.sender = inbox, sender
        inbox.attach(sender, self._credit)

    def _credit(self) -> None:
        self.acked += 1
        self.sem.release()

    def send(self, seq: int, batch: np.ndarray | None) -> None:
        while not self.sem.acquire(timeout=0.05):
            if self.abort.is_set():
                raise Aborted()
        self.sent += 1
        self.records += 0 if batch is None else len(batch)
        self.inbox.put(self.sender, seq, batch)

    def end(self) -> None:
        self.inbox.put(self.sender, END, None)

    def close(self) -> None:
        pass


class RemoteSender(_Sender):
    """A framed TCP stream to another worker's data plane, written by the instance thread.

    A frame is an 8-byte length, a small pickled header (sequence number, dtype, shape) and
    the array's bytes straight from its buffer; the receiver reads them straight into a new
    array. Credits come back as single bytes on the same socket; the sender reads them only
    when it has none left, so no extra thread is involved.
    """

    def __init__(self, address: tuple[str, int], key: tuple, sender: int, credits: int,
                 abort: threading.Event, token: str) -> None:
        super().__init__(credits, abort)
        self.sock = socket.create_connection(address, timeout=30)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _send_frame(self.sock, {"key": list(key), "sender": sender, "token": token}, None)

    def _take_credit(self) -> None:
        while self.sent - self.acked >= self.credits:
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                got = self.sock.recv(256)
                if not got:
                    raise Aborted()     # the receiver went away
                self.acked += len(got)
            elif self.abort.is_set():
                raise Aborted()
        self.sent += 1

    def send(self, seq: int, batch: np.ndarray | None) -> None:
        self._take_credit()
        self.records += 0 if batch is None else len(batch)
        try:
            _send_frame(self.sock, seq, batch)
        except OSError as exc:
            self.abort.set()
            raise Aborted() from exc

    def end(self) -> None:
        try:
            _send_frame(self.sock, "end", None)
        except OSError:
            self.abort.set()

    def close(self) -> None:
        """Half-close, then read until the receiver closes: closing a socket with unread
        credits in it would reset the connection and lose the frames still in flight."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not self.abort.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.05)
                if ready and not self.sock.recv(4096):
                    break
        except OSError:
            pass
        self.sock.close()


_LEN = struct.Struct("!Q")


def _send_frame(sock: socket.socket, head: Any, batch: np.ndarray | None) -> None:
    """One frame in (usually) one system call: header and payload gathered by sendmsg."""
    if batch is not None:
        batch = np.ascontiguousarray(batch)
        meta = pickle.dumps((head, batch.dtype, batch.shape), protocol=5)
    else:
        meta = pickle.dumps((head, None, None), protocol=5)
    parts = [memoryview(_LEN.pack(len(meta)) + meta)]
    if batch is not None and batch.nbytes:
        parts.append(memoryview(batch.reshape(-1).view(np.uint8)))
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts[0])
            parts.pop(0)
        if parts and sent:
            parts[0] = parts[0][sent:]


def _recv_exact(sock: socket.socket, buf: memoryview) -> bool:
    got, n = 0, len(buf)
    while got < n:
        k = sock.recv_into(buf[got:])
        if k == 0:
            return False
        got += k
    return True


def _recv_frame(sock: socket.socket) -> tuple[Any, np.ndarray | None] | None:
    head = bytearray(_LEN.size)
    if not _recv_exact(sock, memoryview(head)):
        return None
    meta = bytearray(_LEN.unpack(head)[0])
    if not _recv_exact(sock, memoryview(meta)):
        return None
    tag, dtype, shape = pickle.loads(meta)
    if dtype is None:
        return tag, None
    arr = np.empty(shape, dtype)
    if arr.nbytes and not _recv_exact(sock, memoryview(arr.reshape(-1).view(np.uint8))):
        return None
    return tag, arr


class DataPlane:
    """Per worker process: a listening socket for channels, the inboxes of the instances it
    hosts, and its runs. It listens on the worker's own host (loopback for a local cluster),
    and accepts a channel only with its run's token."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.address = worker.address
        self.inboxes: dict[tuple, Inbox] = {}
        self.runs: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.conns: dict[str, list[socket.socket]] = {}
        self.lock = threading.Lock()
        host = worker.address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
        self.listener = socket.create_server((host, 0))
        self.data_address = self.listener.getsockname()[:2]
        threading.Thread(target=self._accept, daemon=True, name="wb-dataplane").start()

    def inbox(self, key: tuple) -> Inbox:
        key = tuple(key)
        with self.lock:
            box = self.inboxes.get(key)
            if box is None:
                box = self.inboxes[key] = Inbox()
            return box

    def drop(self, key: tuple) -> None:
        with self.lock:
            box = self.inboxes.pop(tuple(key), None)
        if box is not None:
            box.close()

    def close_run(self, run_id: str) -> None:
        with self.lock:
            conns = self.conns.pop(run_id, [])
            self.tokens.pop(run_id, None)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def sender(self, worker_address: str, data_address: tuple, key: tuple, sender: int,
               credits: int, abort: threading.Event, token: str) -> LocalSender | RemoteSender:
        if worker_address == self.address:
            return LocalSender(self.inbox(key), sender, credits, abort)
        return RemoteSender(tuple(data_address), key, sender, credits, abort, token)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._receive(conn)

    def _receive(self, conn: socket.socket) -> None:
        """Check a new channel's handshake and hand its socket to the receiving inbox."""
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            first = _recv_frame(conn)
        except OSError:
            conn.close()
            return
        hello = first[0] if first else None
        run_id = hello["key"][0] if isinstance(hello, dict) else None
        if run_id is None or self.tokens.get(run_id) != hello.get("token"):
            conn.close()          # not one of ours: refuse
            return
        with self.lock:
            self.conns.setdefault(run_id, []).append(conn)
        self.inbox(tuple(hello["key"])).attach_remote(hello["sender"], conn)


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


def dataplane(worker: Any) -> DataPlane:
    """The worker's data plane (created on first use)."""
    plane = getattr(worker, "_wb_plane", None)
    if plane is None:
        plane = DataPlane(worker)
        worker._wb_plane = plane
    return plane
