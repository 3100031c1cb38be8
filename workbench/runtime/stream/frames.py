"""The wire: frames on a channel, and the markers a stream of batches carries.

A frame is an 8-byte length, a small pickled header (sequence number or marker, dtype,
shape) and the array's bytes straight from its buffer, sent in (usually) one system call;
the receiver reads them straight into a new array.
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

import numpy as np

END = object()       # a sender has no more batches
LOST = object()      # a sender's channel broke


class Aborted(Exception):
    """The run was aborted (another instance failed, or the run was cancelled)."""


_LEN = struct.Struct("!Q")


def send_frame(sock: socket.socket, head: Any, batch: np.ndarray | None,
               positions: np.ndarray | None = None) -> None:
    """One frame in (usually) one system call: header, payload and (for records routed by
    key) their positions in the batch they came from, gathered by sendmsg."""
    arrays = []
    if batch is not None:
        batch = np.ascontiguousarray(batch)
        arrays.append(batch)
        if positions is not None:
            arrays.append(np.ascontiguousarray(positions))
    meta = pickle.dumps((head, [(a.dtype, a.shape) for a in arrays]), protocol=5)
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


def recv_frame(sock: socket.socket
               ) -> tuple[Any, np.ndarray | None, np.ndarray | None] | None:
    """``(head, batch, positions)`` (``None`` for what the frame does not carry), or
    ``None`` when the connection closed."""
    head = bytearray(_LEN.size)
    if not recv_exact(sock, memoryview(head)):
        return None
    meta = bytearray(_LEN.unpack(head)[0])
    if not recv_exact(sock, memoryview(meta)):
        return None
    tag, specs = pickle.loads(meta)
    arrays = []
    for dtype, shape in specs:
        arr = np.empty(shape, dtype)
        if arr.nbytes and not recv_exact(sock, memoryview(arr.reshape(-1).view(np.uint8))):
            return None
        arrays.append(arr)
    arrays += [None] * (2 - len(arrays))
    return tag, arrays[0], arrays[1]
