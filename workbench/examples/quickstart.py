"""The quickstart program: ``source >> scale >> mean4 >> running_sum``.

Three operators, one of each kind the README's tour shows (element-wise, SDF rates 4:1,
stateful), and :func:`reference`, the same computation written directly in numpy (not by
calling the operators), which tests and notebooks check engine output against.

>>> import numpy as np
>>> data = np.arange(16.0)
>>> run = program(data, batch_size=8).run(engine="local").wait()
>>> bool(np.allclose(run.output, reference(data)))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

import workbench as wb


@wb.operator
def scale(x):
    return x * 2.0


@wb.operator(consumes=4, produces=1)
def mean4(x):
    return x.reshape(-1, 4).sum(axis=1) / 4.0


@wb.operator(state=np.zeros(1))
def running_sum(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] += x[i]
        out[i] = state[0]
    return out


def program(data: Any, batch_size: int = 65536) -> wb.Pipeline:
    """``wb.sources.array(data) >> scale >> mean4 >> running_sum``."""
    return wb.sources.array(data, batch_size=batch_size) >> scale >> mean4 >> running_sum


def reference(data: Any) -> np.ndarray:
    """What :func:`program` computes, in numpy: the running sum of the means of each four
    doubled records (records beyond the last whole four are not fired)."""
    x = np.asarray(data, dtype=np.float64)
    x = x[: len(x) // 4 * 4]
    return np.cumsum((2.0 * x).reshape(-1, 4).mean(axis=1))
