"""ChannelVocoder (StreamIt ``asplos06/channelvocoder/streamit/ChannelVocoder7.str``): a
pitch detector beside a bank of band-pass filters, both decimating by 50.

Graph: ``lowpass`` (64 taps, cut-off ``2 pi 5000 / 8000``) >> a duplicate split-join
joined round robin ``(1, filters)``: the pitch detector (``clip`` to [-0.75, 0.75], then
``pitch``: peek 100, pop 50, the largest of ``x[i] * sum_{j >= i} x[j] / 100`` if above
0.07, else 0) and a duplicate split-join of ``filters`` bands (``band<i>_lpf`` at
``400 (i + 1)``, ``band<i>_hpf`` with stop band ``400 i`` and gain 2, 64 taps each,
``band<i>_down`` keeping 1 of 50). As in the StreamIt source, the band edges ``400 i`` are
used as radians. The input repeats ``DataSource``'s 11 values. One steady state reads 50
records and writes ``1 + filters``.

>>> prog = program(source(5000), filters=2)
>>> prog.validate().repetitions["pitch"], prog.validate().repetitions["clip"]
(1, 50)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import workbench as wb

from .filters import compressor, fir, highpass_taps, lowpass_taps

TABLE = np.array([-0.70867825, 0.9750938, -0.009129746, 0.28532153, -0.42127264,
                  -0.95795095, 0.68976873, 0.99901736, -0.8581795, 0.9863592, 0.909825])
FRONT_CUTOFF = 2 * math.pi * 5000 / 8000

# frame 0 of the suite's reference run (asplos06-space/channelvocoder/output/
# ChannelVocoder7.out, float32): pitch, then the 16 bands
CHECK = np.array([0.0, 178.36909, -45073.441, -135879.97, -272085.84, -453429.13,
                  -680596.38, -952409.25, -1269795.0, -1634356.0, -2041358.6, -2494638.0,
                  -2996772.5, -3539905.8, -4129028.8, -4767740.0, -5446891.5])
CHECK_RTOL = 1e-5


def data(n: int) -> np.ndarray:
    """``DataSource``: its 11 values, repeated."""
    return TABLE[np.arange(n) % len(TABLE)]


def source(n: int = 50 * 400, batch_size: int = 5000) -> Any:
    return wb.sources.array(data(n), batch_size=batch_size)


def program(src: Any = None, *, filters: int = 16, taps: int = 64, window: int = 100,
            decimation: int = 50) -> wb.Pipeline:
    """The ChannelVocoder pipeline from ``src`` (default: :func:`source`)."""
    def center_clip(x):
        return np.minimum(np.maximum(x, -0.75), 0.75)

    def corr_peak(x):
        n = (x.size - window) // decimation + 1
        out = np.empty(n)
        for k in range(n):
            base = k * decimation
            best = 0.0
            for i in range(window):
                acc = 0.0
                for j in range(i, window):
                    acc += x[base + i] * x[base + j]
                acc /= window
                if acc > best:
                    best = acc
            out[k] = best if best > 0.07 else 0.0
        return out

    pitch = (wb.operator(center_clip, name="clip")
             >> wb.operator(corr_peak, consumes=decimation, peek=window, name="pitch"))
    bands = [fir(lowpass_taps(1.0, 400.0 * (i + 1), taps), name=f"band{i}_lpf")
             >> fir(highpass_taps(2.0, 400.0 * i, taps), name=f"band{i}_hpf")
             >> compressor(decimation, f"band{i}_down") for i in range(filters)]
    return ((src if src is not None else source())
            >> fir(lowpass_taps(1.0, FRONT_CUTOFF, taps), name="lowpass")
            >> wb.splitjoin(pitch, wb.splitjoin(*bands), join_weights=(1, filters)))


def steady(filters: int = 16, decimation: int = 50, **_: Any) -> dict[str, int]:
    """The StreamIt steady state: the full-rate filters and splitters fire 50 times; the
    pitch detector, compressors and joiners once."""
    d = decimation
    out = {"source": d, "lowpass": d, "split@1": d, "clip": d, "pitch": 1, "split@2": d,
           "join@2": 1, "join@1": 1}
    for i in range(filters):
        out.update({f"band{i}_lpf": d, f"band{i}_hpf": d, f"band{i}_down": 1})
    return out


def reference(x: np.ndarray, *, filters: int = 16, taps: int = 64, window: int = 100,
              decimation: int = 50) -> np.ndarray:
    """ChannelVocoder in numpy: frames of ``[pitch, band_0, ..., band_{filters-1}]``."""
    def fir_ref(v, h):
        return np.convolve(v, h[::-1], "valid") if len(v) >= len(h) else np.empty(0)

    a = fir_ref(x, lowpass_taps(1.0, FRONT_CUTOFF, taps))
    clipped = np.clip(a, -0.75, 0.75)
    frames = (len(clipped) - window) // decimation + 1 if len(clipped) >= window else 0
    pitch = np.empty(max(frames, 0))
    for k in range(len(pitch)):
        w = clipped[k * decimation:k * decimation + window]
        tails = np.cumsum(w[::-1])[::-1]             # sum_{j >= i} w[j]
        corr = w * tails / window
        best = max(corr.max(), 0.0)
        pitch[k] = best if best > 0.07 else 0.0
    bands = []
    for i in range(filters):
        z = fir_ref(fir_ref(a, lowpass_taps(1.0, 400.0 * (i + 1), taps)),
                    highpass_taps(2.0, 400.0 * i, taps))
        bands.append(z[: len(z) // decimation * decimation: decimation])
    n = min([len(pitch)] + [len(b) for b in bands])
    return np.column_stack([pitch[:n]] + [b[:n] for b in bands]).reshape(-1)
