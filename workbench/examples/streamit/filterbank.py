"""FilterBank (StreamIt ``asplos06/filterbank/streamit/FilterBank6.str``): a multirate
analysis/synthesis filter bank of ``m`` bands.

Graph: a duplicate split-join of ``m`` branches joined round robin, then ``adder`` (pop
``m``). Branch ``i``: analysis band-pass (``b<i>_lpf`` at ``(i + 1) pi / m`` then
``b<i>_hpf`` with stop band ``i pi / m``, 128 taps each, peek 128), ``b<i>_down`` (keep 1
of ``m``), ``b<i>_process`` (identity), ``b<i>_up`` (each record then ``m - 1`` zeros),
and the synthesis band-stop: a duplicate split-join of ``b<i>_stop_lpf`` (cut-off
``i pi / m``) and ``b<i>_stop_hpf`` (stop band ``(i + 1) pi / m``), gain ``m``, summed by
``b<i>_sum``. The input is ``cos(pi n / 10) + cos(pi n / 20) + cos(pi n / 30)``. One
steady state reads ``m`` records and writes ``m``.

>>> prog = program(source(4096), bands=2)
>>> prog.validate().repetitions["b0_down"], prog.validate().repetitions["b0_stop_lpf"]
(1, 2)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import workbench as wb

from .filters import adder, compressor, expander, fir, highpass_taps, identity, lowpass_taps

# the first outputs of the suite's reference run (asplos06-space/filterbank/output/
# FilterBank6.out, float32; a float64 computation agrees to about 1e-4)
CHECK = np.array([0.54960757, -3.50324702, 0.32762465, 0.13766009, -0.12150559,
                  -0.41442254, -0.70773739, -0.96651781, -1.10740113, 10.18973923])
CHECK_ATOL = 1e-3


def data(n: int) -> np.ndarray:
    """``DataSource``: ``cos(pi n / 10) + cos(pi n / 20) + cos(pi n / 30)``."""
    k = np.arange(n, dtype=np.float64)
    return np.cos(math.pi / 10 * k) + np.cos(math.pi / 20 * k) + np.cos(math.pi / 30 * k)


def source(n: int = 8 * 2048, batch_size: int = 4096) -> Any:
    return wb.sources.array(data(n), batch_size=batch_size)


def _taps(bands: int, taps: int, i: int) -> dict[str, np.ndarray]:
    lo, hi = i * math.pi / bands, (i + 1) * math.pi / bands
    return {"lpf": lowpass_taps(1.0, hi, taps), "hpf": highpass_taps(1.0, lo, taps),
            "stop_lpf": lowpass_taps(bands, lo, taps),
            "stop_hpf": highpass_taps(bands, hi, taps)}


def program(src: Any = None, *, bands: int = 8, taps: int = 128) -> wb.Pipeline:
    """The FilterBank pipeline from ``src`` (default: :func:`source`)."""
    branches = []
    for i in range(bands):
        h = _taps(bands, taps, i)
        p = f"b{i}_"
        branches.append(
            fir(h["lpf"], name=p + "lpf") >> fir(h["hpf"], name=p + "hpf")
            >> compressor(bands, p + "down") >> identity(p + "process")
            >> expander(bands, p + "up")
            >> wb.splitjoin(fir(h["stop_lpf"], name=p + "stop_lpf"),
                            fir(h["stop_hpf"], name=p + "stop_hpf"))
            >> adder(2, p + "sum"))
    return (src if src is not None else source()) >> wb.splitjoin(*branches) \
        >> adder(bands, "adder")


def steady(bands: int = 8, **_: Any) -> dict[str, int]:
    """The StreamIt steady state (``m`` = bands): source, splitter, joiner, adder and each
    branch's full-rate filters fire ``m`` times; down, process and up once."""
    m = bands
    out = {"source": m, "split@1": m, "join@1": m, "adder": m}
    for i in range(m):
        p = f"b{i}_"
        out.update({p + "lpf": m, p + "hpf": m, p + "down": 1, p + "process": 1, p + "up": 1,
                    f"split@{i + 2}": m, f"join@{i + 2}": m, p + "stop_lpf": m,
                    p + "stop_hpf": m, p + "sum": m})
    return out


def reference(x: np.ndarray, *, bands: int = 8, taps: int = 128) -> np.ndarray:
    """FilterBank in numpy, band by band over the whole stream."""
    def fir_ref(v, h):
        return np.convolve(v, h[::-1], "valid") if len(v) >= len(h) else np.empty(0)

    outs = []
    for i in range(bands):
        h = _taps(bands, taps, i)
        a = fir_ref(fir_ref(x, h["lpf"]), h["hpf"])
        c = a[: len(a) // bands * bands: bands]
        e = np.zeros(len(c) * bands)
        e[::bands] = c
        lo, hi = fir_ref(e, h["stop_lpf"]), fir_ref(e, h["stop_hpf"])
        outs.append(lo + hi)
    n = min(len(o) for o in outs)
    return np.sum([o[:n] for o in outs], axis=0)
