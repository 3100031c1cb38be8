"""DCT (StreamIt ``asplos06/dct/streamit/DCT2.str``): the 2-D inverse DCT of 16 x 16 blocks,
"reference fine", as two split-joins of 1-D transforms.

Graph: ``tofloat`` >> a round robin split-join (weight 1) of ``size`` column transforms
``col<c>`` >> a round robin split-join (weight ``size``) of ``size`` row transforms
``row<r>`` >> ``toint`` (``floor(y + 0.5)``). A 1-D transform of ``size`` values computes
``y[x] = sum_u 0.5 C(u) cos(u pi (2x + 1) / (2 size)) v[u]``, ``C(0) = 1/sqrt(2)``, else
1; with StreamIt's hard-coded 0.5 a 16 x 16 block comes out as twice the orthonormal
inverse DCT. Blocks are row-major. The suite's input file is not in the StreamIt
repository: the input here is the StreamIt repository's ``RandomSource`` recurrence
(``seed = (65793 seed + 4282663) mod 2^23`` in 32-bit integers), shifted right by 16 bits
into DCT-coefficient magnitudes (-128..127).

>>> reps = program(source(1)).validate().repetitions
>>> reps["source"], reps["split@1"], reps["col0"], reps["split@2"], reps["row0"]
(256, 16, 1, 1, 1)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import workbench as wb

SIZE = 16


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def data(blocks: int, size: int = SIZE) -> np.ndarray:
    """``blocks * size**2`` integers from ``RandomSource`` (``>> 16``)."""
    out = np.empty(blocks * size * size, dtype=np.int64)
    seed = 0
    for i in range(len(out)):
        out[i] = seed >> 16
        prod = _int32(_int32(65793 * seed) + 4282663)
        seed = int(math.fmod(prod, 8388608))              # C's truncating remainder
    return out


def source(blocks: int = 256, size: int = SIZE, batch_size: int = 256 * 64) -> Any:
    return wb.sources.array(data(blocks, size), batch_size=batch_size)


def coefficients(size: int) -> np.ndarray:
    """``coeff[x][u] = 0.5 C(u) cos(u pi (2x + 1) / (2 size))``."""
    x = np.arange(size)[:, None]
    u = np.arange(size)[None, :]
    cu = np.where(u == 0, 1 / math.sqrt(2), 1.0)
    return 0.5 * cu * np.cos(u * math.pi * (2.0 * x + 1) / (2.0 * size))


def idct_1d(size: int, name: str) -> wb.Operator:
    coeff = coefficients(size)

    def work(x):
        out = np.empty(x.size)
        for b in range(x.size // size):
            for i in range(size):
                acc = 0.0
                for u in range(size):
                    acc += coeff[i, u] * x[b * size + u]
                out[b * size + i] = acc
        return out

    return wb.operator(work, consumes=size, produces=size, name=name)


def program(src: Any = None, *, size: int = SIZE) -> wb.Pipeline:
    """The 2-D inverse DCT pipeline from ``src`` (default: :func:`source`)."""
    def to_float(x):
        return x * 1.0

    def to_int(x):
        return np.floor(x + 0.5).astype(np.int64)

    cols = wb.splitjoin(*[idct_1d(size, f"col{c}") for c in range(size)], split="roundrobin")
    rows = wb.splitjoin(*[idct_1d(size, f"row{r}") for r in range(size)], split="roundrobin",
                        split_weights=(size,) * size, join_weights=(size,) * size)
    return ((src if src is not None else source(size=size))
            >> wb.operator(to_float, name="tofloat") >> cols >> rows
            >> wb.operator(to_int, name="toint"))


def steady(size: int = SIZE) -> dict[str, int]:
    """The StreamIt steady state: one block; the column splitter and joiner fire ``size``
    times (one row of the block each), the row ones once, every transform once."""
    n = size * size
    out = {"source": n, "tofloat": n, "split@1": size, "join@1": size, "split@2": 1,
           "join@2": 1, "toint": n}
    out.update({f"col{c}": 1 for c in range(size)})
    out.update({f"row{r}": 1 for r in range(size)})
    return out


def reference(x: np.ndarray, *, size: int = SIZE) -> np.ndarray:
    """Each block's ``scipy.fft.idctn(block, norm="ortho")`` with StreamIt's scaling (0.5
    per 1-D pass where the orthonormal one has ``sqrt(2 / size)``: twice the orthonormal
    transform for 16 x 16 blocks), rounded as ``floor(y + 0.5)``."""
    from scipy.fft import idctn

    blocks = len(x) // (size * size)
    b = x[: blocks * size * size].reshape(blocks, size, size).astype(np.float64)
    scale = 0.5 / math.sqrt(2.0 / size)          # per pass: StreamIt's 0.5 over sqrt(2/N)
    y = idctn(b, axes=(1, 2), norm="ortho") * scale ** 2
    return np.floor(y + 0.5).astype(np.int64).reshape(-1)
