"""Compiled helpers the generated segments call (a real module, so numba caches them).

``group_order`` is the keyed-state router: it hashes integer keys into key groups and
returns a stable order that lays records out group by group. :func:`key_groups` is the
same hash in numpy, used where records are routed outside compiled code; both must agree.
``scatter`` puts records routed by key back in their batch's order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(11400714819323198485)  # 2**64 / golden ratio: Fibonacci hashing


@njit(nogil=True, cache=True)
def group_order(keys, groups):
    n = keys.shape[0]
    gid = np.empty(n, np.int64)
    bounds = np.zeros(groups + 1, np.int64)
    for i in range(n):
        g = np.int64(((np.uint64(keys[i]) * _GOLDEN) >> np.uint64(33)) % np.uint64(groups))
        gid[i] = g
        bounds[g + 1] += 1
    for g in range(groups):
        bounds[g + 1] += bounds[g]
    pos = bounds[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        g = gid[i]
        order[pos[g]] = i
        pos[g] += 1
    return order, bounds


@njit(nogil=True, cache=True)
def scatter(out, positions, records):
    """``out[positions[i]] = records[i]``: records routed by key, back in their places."""
    for i in range(positions.shape[0]):
        out[positions[i]] = records[i]


def key_groups(keys: np.ndarray, groups: int) -> np.ndarray:
    """Key group of each key (numpy; identical to the compiled router)."""
    with np.errstate(over="ignore"):
        h = (keys.astype(np.uint64) * _GOLDEN) >> np.uint64(33)
    return (h % np.uint64(groups)).astype(np.int64)


def group_order_np(keys: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`group_order` (for plain-Python operators)."""
    gid = key_groups(keys, groups)
    order = np.argsort(gid, kind="stable")
    bounds = np.zeros(groups + 1, np.int64)
    np.cumsum(np.bincount(gid, minlength=groups), out=bounds[1:])
    return order, bounds
