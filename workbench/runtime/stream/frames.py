"""The wire: frames on a channel, and the markers a stream of batches carries.

A frame is an 8-byte length, a small pickled header (sequence number or marker, dtype,
shape) and the array's bytes straight from its buffer, sent in (usually) one system call;
the receiver reads them straight into a new array.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any, NamedTuple

import numpy as np

END = object()       # a sender has no more batches
LOST = object()      # a sender's channel broke


class Piece(NamedTuple):
    """What one sender sends for one sequence number: the records; for records routed by
    key, their positions in the batch they came from; for a parallel peeking operator's
    instance, how many records in front are history (see ``output.History``)."""

    records: np.ndarray | None
    positions: np.ndarray | None = None
    overlap: int | None = None


class Aborted(Exception):
    """The run was aborted (another instance failed, or the run was cancelled)."""


_LEN = struct.Struct("!Q")


def send_frame(sock: socket.socket, head: Any, piece: Piece | None = None) -> None:
    """One frame in (usually) one system call: header, records and (for records routed by
    key) their positions in the batch they came from, gathered by sendmsg."""
    arrays, overlap = [], None
    if piece is not None and piece.records is not None:
        arrays.append(np.ascontiguousarray(piece.records))
        if piece.positions is not None:
            arrays.append(np.ascontiguousarray(piece.positions))
        overlap = piece.overlap
    meta = pickle.dumps((head, overlap, [(a.dtype, a.shape) for a in arrays]), protocol=5)
    parts = [memoryview(_LEN.pack(len(meta)) + meta)]
    parts += [memoryview(a.reshape(-1).view(np.uint8)) for a in arrays if a.nbytes]
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts[0])
            parts.pop(0)
        if parts and sent:
            parts[0] = parts[0][sent:]


def recv_exact(sock: socket.socket, buf: memoryview) -> bool:
    got, n = 0, len(buf)
    while got < n:
        k = sock.recv_into(buf[got:])
        if k == 0:
            return False
        got += k
    return True


def recv_frame(sock: socket.socket) -> tuple[Any, Piece] | None:
    """``(head, piece)``, or ``None`` when the connection closed."""
    head = bytearray(_LEN.size)
    if not recv_exact(sock, memoryview(head)):
        return None
    meta = bytearray(_LEN.unpack(head)[0])
    if not recv_exact(sock, memoryview(meta)):
        return None
    tag, overlap, specs = pickle.loads(meta)
    arrays = []
    for dtype, shape in specs:
        arr = np.empty(shape, dtype)
        if arr.nbytes and not recv_exact(sock, memoryview(arr.reshape(-1).view(np.uint8))):
            return None
        arrays.append(arr)
    arrays += [None] * (2 - len(arrays))
    return tag, Piece(arrays[0], arrays[1], overlap)
