"""A chunk's results travel as one object: an array, a ragged array or one pickled blob.

Dask serialises a Python list element by element (~22 k calls/s measured), one array or
one opaque object at memory speed (~2.9 M calls/s), so a coalesced chunk packs its results
before returning them.

>>> unpack(pack([1.0, 2.5, 3.0]))
array([1. , 2.5, 3. ])
>>> [a.tolist() for a in unpack(pack([np.arange(2), np.arange(3)]))]
[[0, 1], [0, 1, 2]]
>>> unpack(pack(["a", None]))
['a', None]
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

_NUMBERS = (bool, int, float, complex, np.bool_, np.number)


@dataclass
class Packed:
    """``kind``: ``array`` (numbers, or arrays of one shape: stacked), ``ragged`` (1-d
    arrays of one dtype: values plus offsets) or ``objects`` (one pickle)."""

    kind: str
    data: Any
    offsets: np.ndarray | None = None
    n: int = 0

    @property
    def nbytes(self) -> int:
        if self.kind == "objects":
            return len(self.data)
        extra = 0 if self.offsets is None else self.offsets.nbytes
        return int(self.data.nbytes) + extra


def pack(results: list) -> Packed:
    n = len(results)
    if n and all(isinstance(r, _NUMBERS) for r in results):
        arr = np.asarray(results)
        if arr.dtype != object:
            return Packed("array", arr, n=n)
    if n and all(isinstance(r, np.ndarray) for r in results):
        first = results[0]
        if all(r.dtype == first.dtype and r.shape == first.shape for r in results):
            return Packed("array", np.stack(results), n=n)
        if all(r.dtype == first.dtype and r.ndim == 1 for r in results):
            offsets = np.cumsum([0] + [r.size for r in results], dtype=np.int64)
            return Packed("ragged", np.concatenate(results), offsets, n=n)
    try:
        blob = pickle.dumps(results, protocol=5)
    except Exception:  # noqa: BLE001 - closures and the like: cloudpickle handles them
        import cloudpickle

        blob = cloudpickle.dumps(results)
    return Packed("objects", blob, n=n)


def unpack(p: Packed) -> np.ndarray | list:
    if p.kind == "array":
        return p.data
    if p.kind == "ragged":
        return [p.data[p.offsets[i]:p.offsets[i + 1]] for i in range(p.n)]
    return pickle.loads(p.data)


def combine(parts: list[tuple[np.ndarray, Packed]], n: int) -> np.ndarray | list:
    """Results of chunks (each with the call indices it ran) in call order."""
    if parts and all(p.kind == "array" for _, p in parts):
        arrays = [p.data for _, p in parts]
        if len({(a.dtype, a.shape[1:]) for a in arrays}) == 1:
            out = np.empty((n, *arrays[0].shape[1:]), arrays[0].dtype)
            for idx, p in parts:
                out[idx] = p.data
            return out
    res: list = [None] * n
    for idx, p in parts:
        for i, v in zip(idx.tolist(), unpack(p)):
            res[i] = v
    return res
