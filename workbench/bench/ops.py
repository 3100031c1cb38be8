"""Benchmark operators, in a real module so fresh processes can import them by name.

The trio is the program of DESIGN.md section 3 (``scale >> mean4 >> running_sum``, from
:mod:`workbench.examples.quickstart`);
``fir`` is one heavier stateful operator (a 32-tap FIR filter whose taps are a captured
global array, so its artifact also carries an ``.npy``).

Examples
--------
>>> import numpy as np
>>> from workbench.bench.ops import trio
>>> prog = trio(np.ones(8), batch_size=8)
>>> [op.name for op in prog.elements]
['scale', 'mean4', 'running_sum']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..examples.quickstart import mean4, running_sum, scale
from ..model.graph import operator
from ..model.sources import array

__all__ = ["PROGRAMS", "fir", "fir_program", "mean4", "running_sum", "scale", "trio"]

TAPS = np.hanning(32) / np.hanning(32).sum()


@operator(state=np.zeros(TAPS.size - 1))
def fir(x, state):
    k = TAPS.size
    out = np.empty_like(x)
    for i in range(x.size):
        acc = TAPS[0] * x[i]
        for j in range(1, k):
            if i - j >= 0:
                acc += TAPS[j] * x[i - j]
            else:
                acc += TAPS[j] * state[j - i - 1]
        out[i] = acc
    m = k - 1
    if x.size >= m:
        for j in range(m):
            state[j] = x[x.size - 1 - j]
    else:
        for j in range(m - 1, x.size - 1, -1):
            state[j] = state[j - x.size]
        for j in range(x.size):
            state[j] = x[x.size - 1 - j]
    return out


def trio(data: Any, batch_size: int = 65536) -> Any:
    """``array(data) >> scale >> mean4 >> running_sum``."""
    return array(data, batch_size=batch_size) >> scale >> mean4 >> running_sum


def fir_program(data: Any, batch_size: int = 65536) -> Any:
    return array(data, batch_size=batch_size) >> fir


PROGRAMS = {"scale+mean4+running_sum": trio, "fir": fir_program}
