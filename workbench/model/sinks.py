"""Sinks: where a program's output goes. Idempotent per batch sequence number."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GraphError


class Sink:
    records = 0

    def put(self, seq: int, batch: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self) -> Any:
        return None


class Collect(Sink):
    """Keep every output batch; ``value()`` concatenates them in sequence order."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}
        self.records = 0
        self._lock = threading.Lock()

    def put(self, seq: int, batch: np.ndarray) -> None:
        with self._lock:
            old = self.parts.get(seq)
            self.records += len(batch) - (0 if old is None else len(old))
            self.parts[seq] = batch

    def value(self) -> np.ndarray:
        with self._lock:
            parts = [self.parts[k] for k in sorted(self.parts)]
        parts = [p for p in parts if len(p)] or parts
        if not parts:
            return np.empty(0)
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()


class Discard(Sink):
    """Count records, keep nothing (benchmarks)."""

    def __init__(self) -> None:
        self.records = 0

    def put(self, seq: int, batch: np.ndarray) -> None:
        self.records += len(batch)

    def value(self) -> None:
        return None


class Callback(Sink):
    """Call ``fn(seq, batch)`` for each output batch."""

    def __init__(self, fn: Callable[[int, np.ndarray], Any]) -> None:
        self.fn = fn
        self.records = 0

    def put(self, seq: int, batch: np.ndarray) -> None:
        self.records += len(batch)
        self.fn(seq, batch)


def make(sink: Any) -> Sink:
    if isinstance(sink, Sink):
        return sink
    if sink == "collect":
        return Collect()
    if sink in ("discard", None):
        return Discard()
    if callable(sink):
        return Callback(sink)
    raise GraphError(f"sink must be 'collect', 'discard', a function fn(seq, batch) or a Sink; "
                     f"got {sink!r}.")
