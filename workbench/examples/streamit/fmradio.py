"""FMRadio (StreamIt ``asplos06/fm/streamit/FMRadio5.str``): a low-pass filter with
decimation, an FM demodulator and a six-band equaliser.

Graph: ``lowpass`` (128 taps, cutoff 108 MHz at 250 MHz, pop 5, peek 128) >> ``demod``
(``mGain * atan(x[0] * x[1])``, pop 1, peek 2) >> a duplicate split-join of ``bands - 1``
band-pass pipelines (each: a duplicate split-join of two 128-tap low-pass filters at the
band's lower and upper cut-offs, ``sub`` = upper - lower, ``amp`` = the band's gain)
joined round robin >> ``adder`` (pop ``bands - 1``). The input is the float counter 0, 1,
2, ... of ``FloatOneSource``. One steady state reads 5 records and writes 1.

>>> prog = program(source(2000))
>>> prog.validate().repetitions["lowpass"], prog.validate().repetitions["source"]
(1, 5)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import workbench as wb

from .filters import adder, amplify, fir, fm_lowpass_taps, subtracter

RATE, CUTOFF, MAX_AMP, BANDWIDTH = 250e6, 108e6, 27000.0, 10000.0
LOW, HIGH = 55.0, 1760.0

# the first outputs of the suite's reference run (asplos06-space/fm/output/FMRadio5.out,
# float32): what a faithful program prints for the default parameters
CHECK = np.array([521179.6875, 521179.875, 521180.03125, 521180.25, 521180.375, 521180.5])
CHECK_RTOL = 1e-6


def cutoffs(bands: int) -> np.ndarray:
    """``eqCutoff``: ``bands`` cut-offs spaced evenly in log between 55 and 1760."""
    return np.array([math.exp(i * (math.log(HIGH) - math.log(LOW)) / (bands - 1)
                              + math.log(LOW)) for i in range(bands)])


def gains(bands: int) -> np.ndarray:
    """``eqGain``: 0 for band 0 (unused), then ``2 - |(i - 1 - (bands - 2) / 2) / 5|``."""
    out = np.zeros(bands)
    for i in range(1, bands):
        v = ((i - 1) - (bands - 2) / 2.0) / 5.0
        out[i] = 2.0 - v if v > 0 else 2.0 + v
    return out


def demod_gain() -> float:
    return MAX_AMP * (RATE / (BANDWIDTH * math.pi))


def data(n: int) -> np.ndarray:
    """The first ``n`` records of ``FloatOneSource``: 0, 1, 2, ..."""
    return np.arange(n, dtype=np.float64)


def source(n: int = 5 * 4096, batch_size: int = 4096) -> Any:
    return wb.sources.array(data(n), batch_size=batch_size)


def program(src: Any = None, *, taps: int = 128, bands: int = 7,
            decimation: int = 4) -> wb.Pipeline:
    """The FMRadio pipeline from ``src`` (default: :func:`source`)."""
    g, c, m = gains(bands), cutoffs(bands), demod_gain()

    def demodulate(x):
        n = x.size - 1
        out = np.empty(n)
        for k in range(n):
            out[k] = m * np.arctan(x[k] * x[k + 1])
        return out

    demod = wb.operator(demodulate, peek=2, name="demod")
    branches = []
    for b in range(1, bands):
        low = fir(fm_lowpass_taps(RATE, c[b - 1], taps), name=f"band{b}_low")
        high = fir(fm_lowpass_taps(RATE, c[b], taps), name=f"band{b}_high")
        branches.append(wb.splitjoin(low, high) >> subtracter(f"band{b}_sub")
                        >> amplify(g[b], f"band{b}_amp"))
    front = fir(fm_lowpass_taps(RATE, CUTOFF, taps), step=1 + decimation, name="lowpass")
    return ((src if src is not None else source()) >> front >> demod
            >> wb.splitjoin(*branches) >> adder(bands - 1, "adder"))


def steady(bands: int = 7, **_: Any) -> dict[str, int]:
    """The steady state of the StreamIt program (per iteration: the source fires 5 times,
    every other filter, splitter and joiner once), in this program's stage names."""
    out = {"source": 5, "lowpass": 1, "demod": 1, "split@1": 1, "join@1": 1, "adder": 1}
    for b in range(1, bands):
        out.update({f"split@{b + 1}": 1, f"join@{b + 1}": 1, f"band{b}_low": 1,
                    f"band{b}_high": 1, f"band{b}_sub": 1, f"band{b}_amp": 1})
    return out


def reference(x: np.ndarray, *, taps: int = 128, bands: int = 7,
              decimation: int = 4) -> np.ndarray:
    """FMRadio in numpy: ``np.convolve`` for every FIR filter, over the whole stream."""
    def fir_ref(v, h, step=1):
        if len(v) < len(h):
            return np.empty(0)
        return np.convolve(v, h[::-1], "valid")[::step]

    y = fir_ref(x, fm_lowpass_taps(RATE, CUTOFF, taps), 1 + decimation)
    d = demod_gain() * np.arctan(y[:-1] * y[1:])
    c, g = cutoffs(bands), gains(bands)
    out = None
    for b in range(1, bands):
        band = g[b] * (fir_ref(d, fm_lowpass_taps(RATE, c[b], taps))
                       - fir_ref(d, fm_lowpass_taps(RATE, c[b - 1], taps)))
        out = band if out is None else out + band
    return out
