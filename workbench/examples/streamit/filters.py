"""Filters the StreamIt programs share, as workbench operators.

Each factory returns a new operator (its coefficients captured as constants, so each
instance compiles to its own artifact) with the StreamIt filter's rates: ``pop`` is
``consumes``, ``push`` is ``produces``, ``peek`` is ``peek``. A StreamIt ``peek(i)`` is
record ``i`` of the firing's window, so an FIR filter of taps ``h`` computes
``y[k] = sum_i h[i] * x[k * pop + i]`` (no reversal of the taps).

Coefficients follow the StreamIt sources (``streams/apps/benchmarks/asplos06`` in the
StreamIt repository): :func:`fm_lowpass_taps` is FMRadio's Hamming-windowed sinc;
:func:`lowpass_taps` and :func:`highpass_taps` are the rectangular-windowed ones that
FilterBank and ChannelVocoder use (whose high-pass sign alternates with the tap index).

>>> import numpy as np
>>> f = fir(np.array([1.0, 10.0, 100.0]), step=2, name="f")
>>> (f.consumes, f.produces, f.peek)
(2, 1, 3)
>>> f(np.arange(7.0)).tolist()      # windows [0 1 2], [2 3 4], [4 5 6]
[210.0, 432.0, 654.0]
"""

from __future__ import annotations

import math

import numpy as np

import workbench as wb

# --- coefficients ---------------------------------------------------------------------------

def fm_lowpass_taps(rate: float, cutoff: float, taps: int) -> np.ndarray:
    """FMRadio's ``LowPassFilter``: Hamming-windowed sinc, ``m = taps - 1``."""
    m = taps - 1
    w = 2 * math.pi * cutoff / rate
    out = np.empty(taps)
    for i in range(taps):
        d = i - m / 2
        if d == 0:
            out[i] = w / math.pi
        else:
            out[i] = (math.sin(w * d) / math.pi / d
                      * (0.54 - 0.46 * math.cos(2 * math.pi * i / m)))
    return out


def lowpass_taps(gain: float, cutoff: float, taps: int) -> np.ndarray:
    """FilterBank's and ChannelVocoder's ``LowPassFilter``: ``k = i + 1 - taps/2``."""
    out = np.empty(taps)
    for i in range(taps):
        k = i + 1 - taps // 2
        out[i] = gain * cutoff / math.pi if k == 0 else \
            gain * math.sin(cutoff * k) / (math.pi * k)
    return out


def highpass_taps(gain: float, ws: float, taps: int) -> np.ndarray:
    """FilterBank's and ChannelVocoder's ``HighPassFilter``: cutoff ``pi - ws``, the sign
    alternating with the tap index ``i`` (so the centre tap of an even count is negative)."""
    cutoff = math.pi - ws
    out = np.empty(taps)
    for i in range(taps):
        k = i + 1 - taps // 2
        sign = 1.0 if i % 2 == 0 else -1.0
        out[i] = sign * gain * cutoff / math.pi if k == 0 else \
            sign * gain * math.sin(cutoff * k) / (math.pi * k)
    return out


# --- filters --------------------------------------------------------------------------------

def fir(taps: np.ndarray, step: int = 1, name: str = "fir") -> wb.Operator:
    """``y[k] = sum_i taps[i] * x[k * step + i]``: pop ``step``, peek ``len(taps)``,
    push 1."""
    h = np.ascontiguousarray(taps, dtype=np.float64)
    ntaps = int(h.size)

    def work(x):
        n = max((x.size - ntaps) // step + 1, 0)
        out = np.empty(n)
        for k in range(n):
            base = k * step
            acc = 0.0
            for i in range(ntaps):
                acc += h[i] * x[base + i]
            out[k] = acc
        return out

    return wb.operator(work, consumes=step, peek=max(ntaps, step), name=name)


def amplify(gain: float, name: str) -> wb.Operator:
    """``y = gain * x`` (pop 1, push 1)."""
    g = float(gain)

    def work(x):
        return x * g

    return wb.operator(work, name=name)


def adder(n: int, name: str) -> wb.Operator:
    """The sum of each ``n`` records (pop ``n``, push 1), in order."""
    def work(x):
        m = x.size // n
        out = np.empty(m)
        for k in range(m):
            acc = 0.0
            for i in range(n):
                acc += x[k * n + i]
            out[k] = acc
        return out

    return wb.operator(work, consumes=n, name=name)


def subtracter(name: str) -> wb.Operator:
    """``y = x[1] - x[0]`` of each pair (pop 2, push 1)."""
    def work(x):
        m = x.size // 2
        out = np.empty(m)
        for k in range(m):
            out[k] = x[2 * k + 1] - x[2 * k]
        return out

    return wb.operator(work, consumes=2, name=name)


def compressor(m: int, name: str) -> wb.Operator:
    """The first of each ``m`` records (pop ``m``, push 1)."""
    def work(x):
        return x[::m].copy()

    return wb.operator(work, consumes=m, name=name)


def expander(m: int, name: str) -> wb.Operator:
    """Each record followed by ``m - 1`` zeros (pop 1, push ``m``)."""
    def work(x):
        out = np.zeros(x.size * m)
        for k in range(x.size):
            out[k * m] = x[k]
        return out

    return wb.operator(work, produces=m, name=name)


def identity(name: str) -> wb.Operator:
    """The record itself (pop 1, push 1)."""
    def work(x):
        return x + 0.0

    return wb.operator(work, name=name)
