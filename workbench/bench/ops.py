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

__all__ = ["ELEMENTWISE", "PROGRAMS", "bucket_of", "chain", "count_all", "count_per_user",
           "fir", "fir_program", "heavy", "histogram", "mean4", "running_sum", "scale",
           "smooth", "trio", "user_of"]

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


# --- loop fusion (``workbench bench fusion``): element-wise operators and a stateful loop ---

@operator
def gain(x):
    return x * 1.5 - 0.25


@operator
def clamp(x):
    return np.minimum(np.maximum(x, -1.0), 1.0)


@operator
def leaky(x):
    return np.where(x > 0.0, x, 0.05 * x)


@operator
def poly(x):
    return x * x + 0.5 * x


@operator
def shift(x):
    return x + 0.125


@operator
def cap(x):
    return np.minimum(x, 2.0)


@operator
def soft(x):
    return x / (1.0 + np.abs(x))


@operator
def knee(x):
    return np.where(x < 0.3, 0.5 * x, x - 0.15)


@operator(state=np.zeros(1))
def smooth(x, state):
    out = np.empty_like(x)
    s = state[0]
    for i in range(x.size):
        s = 0.95 * s + 0.05 * x[i]
        out[i] = s
    state[0] = s
    return out


ELEMENTWISE = (gain, clamp, leaky, poly, shift, cap, soft, knee)


def chain(k: int) -> tuple:
    """The first ``k`` element-wise operators, then ``smooth``."""
    return ELEMENTWISE[:k] + (smooth,)


# --- scale-out (``workbench bench reconfigure``): a CPU-bound stateless operator -----------

@operator
def heavy(x):
    """Forty rounds of a damped sine map per record: about 40x the arithmetic of ``scale``,
    no state, so its instances share the work of a stream without talking to each other."""
    out = np.empty_like(x)
    for i in range(x.size):
        v = x[i]
        for _ in range(40):
            v = v * 0.999 + 0.001 * np.sin(v)
        out[i] = v
    return out


# --- keyed state (``workbench bench stream``, keyed case) ---------------------------------------

def user_of(batch):
    """A record's key: one of 97 users."""
    return (batch * 1000).astype(np.int64) % 97


@operator(state=np.zeros(1), key=user_of, key_groups=64)
def count_per_user(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] += 1.0
        out[i] = x[i] + state[0]
    return out


@operator(state=np.zeros(1))
def count_all(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] += 1.0
        out[i] = x[i] + state[0]
    return out


# --- 1 MB of keyed state (``workbench bench recovery``) -----------------------------------------

def bucket_of(batch):
    """A record's key: one of 100,003 buckets."""
    return (np.abs(batch) * 1e6).astype(np.int64) % 100_003


@operator(state=np.zeros(1024), key=bucket_of, key_groups=128)
def histogram(x, state):
    """A 1,024-bin histogram per key group (128 x 1,024 x 8 bytes = 1 MB of state); each
    record comes out as its bin's count so far."""
    out = np.empty_like(x)
    for i in range(x.size):
        h = int(abs(x[i]) * 1024.0) % 1024
        state[h] += 1.0
        out[i] = state[h]
    return out
