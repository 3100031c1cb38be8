"""A distributed sort as a library on functions and store references (Exoshuffle's point:
a shuffle needs no special system, only futures and references that survive failures).

``sort(inputs, partitions)`` sorts records held in the store as ``len(inputs)`` chunks:

1. *map*: one call per input chunk splits its records by key range into ``partitions``
   buckets (boundaries from a sample of the input) and puts each bucket in the store
   (``replicas`` copies), returning the buckets' references;
2. *reduce*: one call per partition reads its bucket from every map call's output,
   sorts them together, puts the sorted partition in the store and returns its reference.

Only references pass through the calls and the client; the records move between storage
workers and the functions that read them. A worker killed mid-shuffle costs time, not
records: map and reduce calls are recomputed from their inputs (Dask's lineage; the
workbench moves calls pinned to a lost worker to the others), buckets with ``replicas=2``
survive the loss of a storage worker.

>>> x = np.random.default_rng(0).random(1000)
>>> bounds = boundaries(x, 4)
>>> parts = split(x, bounds)
>>> [len(p) for p in parts] == [int(((x >= lo) & (x < hi)).sum()) for lo, hi in
...     zip([-np.inf, *bounds], [*bounds, np.inf])]
True
>>> checksum(np.sort(x)) == checksum(np.concatenate([np.sort(p) for p in parts]))
True
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

import workbench as wb


def boundaries(sample: np.ndarray, partitions: int) -> np.ndarray:
    """``partitions - 1`` key boundaries: quantiles of ``sample``."""
    return np.quantile(sample, np.arange(1, partitions) / partitions)


def split(x: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
    """``x``'s records by key range: bucket ``p`` has ``bounds[p-1] <= x < bounds[p]``."""
    which = np.searchsorted(bounds, x, side="right")
    order = np.argsort(which, kind="stable")
    cuts = np.searchsorted(which[order], np.arange(1, len(bounds) + 1))
    return np.split(x[order], cuts)


def checksum(x: np.ndarray) -> tuple[int, int]:
    """(records, CRC-32 of the bytes): equal for equal sorted outputs."""
    x = np.ascontiguousarray(x)
    return len(x), zlib.crc32(x.tobytes())


def make_inputs(records: int, chunks: int, seed: int = 0, prefix: str = "sort/in",
                replicas: int = 1) -> list[Any]:
    """``chunks`` store references to random float64 records, ``records`` in all."""
    rng = np.random.default_rng(seed)
    sizes = np.full(chunks, records // chunks)
    sizes[: records % chunks] += 1
    return [wb.store.put(f"{prefix}/{i}", rng.random(int(n)), replicas=replicas)
            for i, n in enumerate(sizes)]


def map_chunk(chunk: np.ndarray, bounds: np.ndarray, prefix: str, i: int,
              replicas: int) -> list[Any]:
    """A map call: split one chunk into buckets kept in the store; their references."""
    return [wb.store.put(f"{prefix}/m{i}/p{p}", b, replicas=replicas)
            for p, b in enumerate(split(chunk, bounds))]


def reduce_partition(buckets: list, p: int, prefix: str, replicas: int) -> Any:
    """A reduce call: partition ``p``'s bucket from each map output, sorted, in the store."""
    parts = [wb.store.get(refs[p]) for refs in buckets]
    out = np.sort(np.concatenate(parts)) if parts else np.empty(0)
    return wb.store.put(f"{prefix}/out/p{p}", out, replicas=replicas)


def sort(inputs: list[Any], partitions: int, prefix: str = "sort/run",
         replicas: int = 1, sample: int = 10_000) -> list[Any]:
    """Futures of the sorted partitions' references, in key order (see the module)."""
    mapper = wb.function(map_chunk, placement="compute", jit=False)
    reducer = wb.function(reduce_partition, placement="compute", jit=False)
    first = wb.store.get(inputs[0])
    step = max(1, len(first) // sample)
    bounds = boundaries(first[::step], partitions)
    maps = [mapper(ref, bounds, prefix, i, replicas) for i, ref in enumerate(inputs)]
    return [reducer(maps, p, prefix, replicas) for p in range(partitions)]


def gather(outputs: list[Any]) -> np.ndarray:
    """The sorted records: each partition's reference read from the store, in order."""
    return np.concatenate([wb.store.get(f.result()) for f in outputs])
