"""The Rexel grid's work: a fixed amount of floating-point work cut into chunks.

``kernel(x)`` does about 60 floating-point operations per element (20 steps of the
logistic-style update ``y <- y * (a - b*y)``, three operations each), in place in numpy:
plain code, the same on an MPI rank, a Dask worker and ``wb.remote``. ``generated(seed, i,
size)`` makes chunk ``i`` where it runs (from the seed: only the call and the compute
travel) and returns its checksum; ``chunks(seed, n, size)`` makes all of them where the
caller is (the series whose data must be scattered and gathered).

>>> import numpy as np
>>> x = chunk(1, 0, 4)
>>> bool(np.all((x > 0) & (x < 1)))
True
>>> y = kernel(x)
>>> bool(np.allclose(y, reference(x)))
True
>>> generated(1, 0, 4) == float(kernel(chunk(1, 0, 4)).sum())
True
"""

from __future__ import annotations

import numpy as np

STEPS = 20
A, B = 3.2, 3.0          # y <- y * (A - B*y): stays in (0, 1) for y in (0, 1)
FLOPS_PER_ELEMENT = 3 * STEPS


def chunk(seed: int, i: int, size: int) -> np.ndarray:
    """Chunk ``i`` of a seeded data set: ``size`` values in (0.05, 0.95)."""
    rng = np.random.default_rng([seed, i])
    return 0.05 + 0.9 * rng.random(size)


def chunks(seed: int, n: int, size: int) -> np.ndarray:
    """All ``n`` chunks as rows of one array (what a client or rank 0 holds)."""
    out = np.empty((n, size))
    for i in range(n):
        out[i] = chunk(seed, i, size)
    return out


def kernel(x: np.ndarray) -> np.ndarray:
    """About 60 flops per element, in place on a copy (two arrays of the chunk's size)."""
    y = np.array(x, dtype=np.float64, copy=True)
    t = np.empty_like(y)
    for _ in range(STEPS):
        np.multiply(y, B, out=t)
        np.subtract(A, t, out=t)
        np.multiply(y, t, out=y)
    return y


def reference(x: np.ndarray) -> np.ndarray:
    """The same update, written the obvious way (what the tests compare with)."""
    y = np.asarray(x, dtype=np.float64)
    for _ in range(STEPS):
        y = y * (A - B * y)
    return y


def generated(seed: int, i: int, size: int) -> float:
    """Make chunk ``i`` here, compute it, return its checksum (the sum of the result)."""
    return float(kernel(chunk(seed, i, size)).sum())


def noop(x: float = 0.0) -> float:
    """The round trip's payload: nothing."""
    return x
