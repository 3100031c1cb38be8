"""Operators the cluster tests share (a real module, so workers import them by name)."""

from __future__ import annotations

import time

import numpy as np

import workbench as wb
from workbench.examples.quickstart import scale


def user_key(batch):
    return (batch * 1000).astype(np.int64) % 13


@wb.operator(state=np.zeros(2), key=user_key, key_groups=16)
def per_key(x, state):
    out = np.empty(x.size, np.float64)
    for i in range(x.size):
        state[0] += 1
        state[1] += x[i]
        out[i] = state[1] / state[0]
    return out


@wb.operator
def explode_late(x):
    if x[0] > 0.5:
        raise ValueError("record too large")
    return x


def slow_sink(seq, batch):
    time.sleep(0.03)


# --- a small library for the property test: fast to compile, every kind of rate -----------

@wb.operator
def add1(x):
    return x + 1.0


@wb.operator(consumes=4, produces=1)
def loop_mean4(x):
    n = x.size // 4
    out = np.empty(n)
    for i in range(n):
        out[i] = (x[4 * i] + x[4 * i + 1] + x[4 * i + 2] + x[4 * i + 3]) / 4.0
    return out


@wb.operator(consumes=1, produces=2)
def twice(x):
    out = np.empty(2 * x.size)
    for i in range(x.size):
        out[2 * i] = x[i]
        out[2 * i + 1] = -x[i]
    return out


@wb.operator(consumes=2, produces=1)
def pair_max(x):
    n = x.size // 2
    out = np.empty(n)
    for i in range(n):
        out[i] = max(x[2 * i], x[2 * i + 1])
    return out


def bucket(batch):
    return (np.abs(batch) * 997).astype(np.int64)


@wb.operator(state=np.zeros(1), key=bucket, key_groups=8)
def keyed_count(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] += 1.0
        out[i] = x[i] + state[0]
    return out


@wb.operator(state=np.zeros(1))
def ewma(x, state):
    out = np.empty_like(x)
    for i in range(x.size):
        state[0] = 0.9 * state[0] + 0.1 * x[i]
        out[i] = state[0]
    return out


TAPS5 = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])    # asymmetric: order matters


@wb.operator(peek=5)
def fir5(x):
    return np.convolve(x, TAPS5[::-1], "valid")


@wb.operator(consumes=2, produces=1, peek=5)
def peek_max(x):
    n = (x.size - 5) // 2 + 1
    out = np.empty(n)
    for i in range(n):
        out[i] = x[2 * i:2 * i + 5].max()
    return out


STATELESS = [add1, loop_mean4, twice, pair_max, scale]
PEEKING = [fir5, peek_max]


def uneven(i):
    """Odd batches are slow to make: two readers of it drift apart."""
    if i % 2:
        time.sleep(0.01)
    return np.full(100, 1.0)


def throttled(i, size=1024, pause=0.002):
    """Batch ``i`` of an unbounded source that takes ``pause`` seconds per batch (a run
    that is still going when it is reconfigured)."""
    time.sleep(pause)
    return np.random.default_rng(10_000 + i).random(size)
