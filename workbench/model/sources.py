"""Replayable sources: batch ``i`` is a pure function of ``i``.

Replayability is what lets a run restart from a checkpoint and what makes the local and
the Dask engines produce the same output. Every source answers ``batch(i)`` and knows its
number of batches (``None`` when unbounded).

Examples
--------
>>> import numpy as np
>>> from workbench import sources
>>> src = sources.array(np.arange(10.0), batch_size=4)
>>> src.num_batches, src.batch(2)
(3, array([8., 9.]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GraphError
from .graph import Source

__all__ = ["ArraySource", "GeneratorSource", "Source", "array", "dataframe", "generator"]


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise GraphError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return int(batch_size)


@dataclass(frozen=True, eq=False, repr=False)
class ArraySource(Source):
    data: np.ndarray
    batch_size: int = 65536

    @property
    def num_batches(self) -> int:  # type: ignore[override]
        return -(-len(self.data) // self.batch_size)

    def batch(self, i: int) -> np.ndarray:
        return self.data[i * self.batch_size:(i + 1) * self.batch_size]

    def __repr__(self) -> str:
        return (f"array({len(self.data)} x {self.data.dtype}, batch_size={self.batch_size})")


def array(data: Any, batch_size: int = 65536) -> ArraySource:
    """Batches of ``batch_size`` records from a numpy array (rows are records)."""
    arr = np.ascontiguousarray(data)
    if arr.ndim == 0:
        raise GraphError(f"sources.array needs an array of records; got a scalar {data!r}.")
    return ArraySource(arr, _check_batch_size(batch_size))


@dataclass(frozen=True, eq=False, repr=False)
class GeneratorSource(Source):
    fn: Callable[[int], Any]
    limit: int | None = None

    @property
    def num_batches(self) -> int | None:  # type: ignore[override]
        return self.limit

    def batch(self, i: int) -> np.ndarray:
        out = self.fn(i)
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        if out.ndim == 0:
            name = getattr(self.fn, "__name__", "generator")
            raise GraphError(f"source {name}({i}) returned a scalar {out!r}; a source must "
                             "return a batch (a 1-D numpy array of records).")
        return np.ascontiguousarray(out)

    def __repr__(self) -> str:
        return f"generator({getattr(self.fn, '__name__', 'fn')}, batches={self.limit})"


def generator(fn: Callable[[int], Any], batches: int | None = None) -> GeneratorSource:
    """Batches from ``fn(i)``; ``fn`` must be deterministic in ``i`` (seed from ``i``).

    ``batches=None`` makes the source unbounded: a run streams until ``run.stop()``
    (or ``batches=`` or ``duration=`` of ``prog.run``).
    """
    if not callable(fn):
        raise GraphError(f"sources.generator needs a function fn(i) -> batch; got {fn!r}.")
    if batches is not None and (not isinstance(batches, int) or batches < 0):
        raise GraphError(f"sources.generator: batches must be a non-negative integer or None; "
                         f"got {batches!r}.")
    return GeneratorSource(fn, batches)


def dataframe(df: Any, column: str | list[str], batch_size: int = 65536) -> ArraySource:
    """Batches from a DataFrame column, or several columns as a structured (record) array.

    Several columns make records with named fields, which keyed operators can route on:
    ``sources.dataframe(df, ["user", "amount"])`` then ``@wb.operator(key="user", ...)``.
    """
    cols = [column] if isinstance(column, str) else list(column)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise GraphError(f"sources.dataframe: no column {missing[0]!r}; the DataFrame has "
                         f"{', '.join(map(str, df.columns))}.")
    if isinstance(column, str):
        return array(df[column].to_numpy(), batch_size)
    rec = np.empty(len(df), dtype=[(c, df[c].to_numpy().dtype) for c in cols])
    for c in cols:
        rec[c] = df[c].to_numpy()
    return array(rec, batch_size)
