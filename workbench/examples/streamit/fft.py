"""FFT (StreamIt ``asplos06/fft/streamit/FFT5.str``): a radix-2 FFT of ``n``-point blocks
as a pipeline of reorderings and butterfly stages.

Complex values travel as interleaved (re, im) records. Graph: ``reorder<m>`` for m = n,
n/2, ..., 4 (each block of ``m`` values: the even-indexed ones, then the odd: together a
bit-reversal), then ``combine<m>`` for m = 2, 4, ..., n (butterflies ``y0 +- w^k y1`` with
``w = exp(+2 pi i / m)``: StreamIt's sign, so a block's output is ``n * ifft(block)``).
The input repeats 0, 1, ..., 1023 (``FFTTestSource``). One steady state is one block:
``2 n`` records in and out. StreamIt's ``CombineDFT`` builds its twiddles by a float32
recurrence; here they are computed directly in float64.

>>> reps = program(source(2), n=8).validate().repetitions
>>> reps["reorder8"], reps["reorder4"], reps["combine2"], reps["combine8"]
(1, 2, 4, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import workbench as wb

N = 256

# block 0 of the suite's reference run (asplos06-space/fft/output/FFT5.out, float32,
# twiddles by recurrence: a float64 computation agrees to about 0.03)
CHECK = np.array([65280.0, 65536.0, 20603.707, -21115.707, 10172.283, -10684.283,
                  6694.4424, -7206.4419])
CHECK_ATOL = 0.05


def data(blocks: int, n: int = N) -> np.ndarray:
    """``FFTTestSource``: the floats 0, 1, ..., 1023 repeated (``2 n`` per block)."""
    return (np.arange(blocks * 2 * n) % 1024).astype(np.float64)


def source(blocks: int = 64, n: int = N, batch_size: int = 2 * N * 16) -> Any:
    return wb.sources.array(data(blocks, n), batch_size=batch_size)


def reorder(m: int) -> wb.Operator:
    """``FFTReorderSimple(m)``: per block of ``m`` complex values, the even-indexed ones
    then the odd-indexed ones."""
    def work(x):
        out = np.empty_like(x)
        for b in range(x.size // (2 * m)):
            base = 2 * m * b
            for k in range(m // 2):
                out[base + 2 * k] = x[base + 4 * k]
                out[base + 2 * k + 1] = x[base + 4 * k + 1]
                out[base + m + 2 * k] = x[base + 4 * k + 2]
                out[base + m + 2 * k + 1] = x[base + 4 * k + 3]
        return out

    return wb.operator(work, consumes=2 * m, produces=2 * m, name=f"reorder{m}")


def combine(m: int) -> wb.Operator:
    """``CombineDFT(m)``: ``out[k], out[k + m/2] = y0[k] +- w^k y1[k]``."""
    k = np.arange(m // 2)
    wr, wi = np.cos(2 * np.pi * k / m), np.sin(2 * np.pi * k / m)
    half = m // 2

    def work(x):
        out = np.empty_like(x)
        for b in range(x.size // (2 * m)):
            base = 2 * m * b
            for j in range(half):
                ar, ai = x[base + 2 * j], x[base + 2 * j + 1]
                br, bi = x[base + m + 2 * j], x[base + m + 2 * j + 1]
                tr = br * wr[j] - bi * wi[j]
                ti = br * wi[j] + bi * wr[j]
                out[base + 2 * j], out[base + 2 * j + 1] = ar + tr, ai + ti
                out[base + m + 2 * j], out[base + m + 2 * j + 1] = ar - tr, ai - ti
        return out

    return wb.operator(work, consumes=2 * m, produces=2 * m, name=f"combine{m}")


def _sizes(n: int) -> tuple[list[int], list[int]]:
    reorders, m = [], n
    while m > 2:
        reorders.append(m)
        m //= 2
    combines, m = [], 2
    while m <= n:
        combines.append(m)
        m *= 2
    return reorders, combines


def program(src: Any = None, *, n: int = N) -> wb.Pipeline:
    """The FFT pipeline from ``src`` (default: :func:`source`); ``n`` a power of 2."""
    if n < 4 or n & (n - 1):
        raise wb.GraphError(f"FFT: n must be a power of 2, at least 4; got {n}.")
    reorders, combines = _sizes(n)
    prog = src if src is not None else source(n=n)
    for m in reorders:
        prog = prog >> reorder(m)
    for m in combines:
        prog = prog >> combine(m)
    return prog


def steady(n: int = N) -> dict[str, int]:
    """The StreamIt steady state: one block; a stage on blocks of ``m`` fires ``n / m``
    times (the source's 2 n floats count as records)."""
    reorders, combines = _sizes(n)
    out = {"source": 2 * n}
    out.update({f"reorder{m}": n // m for m in reorders})
    out.update({f"combine{m}": n // m for m in combines})
    return out


def reference(x: np.ndarray, *, n: int = N) -> np.ndarray:
    """``n * np.fft.ifft`` of each block (StreamIt's positive exponent, no scaling)."""
    blocks = len(x) // (2 * n)
    z = x[: blocks * 2 * n].reshape(blocks, n, 2)
    y = n * np.fft.ifft(z[:, :, 0] + 1j * z[:, :, 1], axis=1)
    return np.stack([y.real, y.imag], axis=2).reshape(-1)
