"""A compute-heavy function on small inputs: milliseconds of arithmetic on 64 numbers.

>>> x = inputs(2, seed=0)
>>> x.shape
(2, 64)
>>> round(float(simulate(x[0], 10)), 6) == round(float(simulate(x[0].copy(), 10)), 6)
True
"""

from __future__ import annotations

import math

import numpy as np


def simulate(x, rounds):  # noqa: ANN001, ANN201 - numba-typed
    """Iterate a damped nonlinear map over ``x`` ``rounds`` times; returns a checksum."""
    acc = 0.0
    for r in range(rounds):
        for i in range(x.size):
            acc = 0.5 * acc + math.sin(x[i] * (r + 1) + acc) * math.cos(acc - x[i])
    return acc


def inputs(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """``count`` seeded input vectors of ``size`` float64 values (rows)."""
    return np.random.default_rng(seed).random((count, size))
