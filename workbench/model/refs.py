"""Store references (pure: no Dask): what the store, functions and the runtime share.

A :class:`StoreRef` names a value kept on a storage worker: its key, the worker that holds
it and its size. It is small, so it travels in task arguments instead of the value; a
function receiving one gets the value, read locally on the storage side or fetched on the
compute side.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import StoreError, StoreKeyError


@dataclass(frozen=True)
class StoreRef:
    """A reference to a value in the store (see :mod:`workbench.functions.store`)."""

    key: str
    worker: str
    nbytes: int = 0
    type: str = ""
    replicas: tuple[str, ...] = ()        # other storage workers with a copy

    @property
    def workers(self) -> tuple[str, ...]:
        """Every storage worker with a copy, the owner first."""
        return (self.worker, *self.replicas)

    def __repr__(self) -> str:
        more = f" (+{len(self.replicas)} replica(s))" if self.replicas else ""
        return (f"StoreRef({self.key!r}, {_size(self.nbytes)} {self.type} on "
                f"{self.worker}{more})")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def owner(key: str, storage: Sequence[str]) -> str:
    """The storage worker that keeps ``key`` (a stable hash over the sorted addresses).

    >>> owner("graph/part-0", ["tcp://b:1", "tcp://a:1"]) in ("tcp://a:1", "tcp://b:1")
    True
    """
    if not storage:
        raise StoreError("the cluster has no storage workers (workers with the 'storage' "
                         "resource), so the store has nowhere to keep values.\nFix: "
                         "wb.cluster(compute=2, storage=1).")
    ws = sorted(storage)
    return ws[zlib.crc32(key.encode()) % len(ws)]


def owners(key: str, storage: Sequence[str], replicas: int = 1) -> list[str]:
    """The ``replicas`` storage workers that keep ``key``: its owner, then the next ones
    in address order (distinct workers).

    >>> three = ["tcp://c:1", "tcp://a:1", "tcp://b:1"]
    >>> got = owners("k", three, 3)
    >>> got[0] == owner("k", three), sorted(got) == sorted(three)
    (True, True)
    >>> owners("k", three, 2) == got[:2]
    True
    >>> owners("k", ["tcp://a:1"], 2)
    Traceback (most recent call last):
    workbench.errors.StoreError: replicas=2 needs 2 storage workers; the cluster has 1.
    Fix: wb.cluster(compute=2, storage=2), or fewer replicas.
    """
    ws = sorted(storage)
    if not isinstance(replicas, int) or replicas < 1:
        raise StoreError(f"replicas must be a positive integer; got {replicas!r}.")
    if replicas > len(ws):
        raise StoreError(f"replicas={replicas} needs {replicas} storage workers; the cluster "
                         f"has {len(ws)}.\nFix: wb.cluster(compute=2, storage={replicas}), "
                         "or fewer replicas.")
    first = ws.index(owner(key, ws))
    return [ws[(first + j) % len(ws)] for j in range(replicas)]


def missing_key(key: str, worker: str, known: Sequence[str], where: str = "") -> StoreKeyError:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return StoreKeyError(key, f"store key {key!r} is not in the store{where} (looked on "
                              f"{worker}; it holds {len(known)} key(s)).{hint}\nFix: "
                              f"wb.store.put({key!r}, value) first, or wb.store.list() to "
                              "see the keys.")
