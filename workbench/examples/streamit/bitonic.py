"""BitonicSort (StreamIt ``asplos06/bitonic-sort/streamit/BitonicSort2.str``): a bitonic
sorting network of compare-exchange filters over blocks of ``n`` integer keys.

Each merge step is a round robin split-join (weight ``L``) of ``n / L`` sequences; a
sequence of ``L > 2`` keys is itself a round robin split-join (weight 1) of ``L / 2``
compare-exchange filters (filter ``t`` gets keys ``t`` and ``t + L/2``), a sequence of 2
keys one filter. ``ce<step>_<j>_<t>`` puts the smaller key first when it sorts up (the
direction alternates with the sequence index in every merge stage but the last, which
sorts up). A step of one sequence is that sequence alone (StreamIt wraps it in a
split-join of one branch; a workbench split-join has at least two). The input repeats
``n, n - 1, ..., 1`` (``KeySource``); every block comes out sorted.

>>> prog = program(source(2), n=8)
>>> reps = prog.validate().repetitions
>>> sum(1 for k in reps if k.startswith("ce")), reps["source"]
(24, 8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

import workbench as wb

N = 8


def data(blocks: int, n: int = N) -> np.ndarray:
    """``KeySource``: ``n, n - 1, ..., 1`` per block."""
    return np.tile(np.arange(n, 0, -1, dtype=np.int64), blocks)


def source(blocks: int = 4096, n: int = N, batch_size: int = 8 * 1024) -> Any:
    return wb.sources.array(data(blocks, n), batch_size=batch_size)


def compare_exchange(up: bool, name: str) -> wb.Operator:
    """Each pair ``(a, b)``: ``(min, max)`` when sorting up, else ``(max, min)``."""
    def work_up(x):
        out = np.empty_like(x)
        for k in range(x.size // 2):
            a, b = x[2 * k], x[2 * k + 1]
            out[2 * k], out[2 * k + 1] = (a, b) if a <= b else (b, a)
        return out

    def work_down(x):
        out = np.empty_like(x)
        for k in range(x.size // 2):
            a, b = x[2 * k], x[2 * k + 1]
            out[2 * k], out[2 * k + 1] = (b, a) if a <= b else (a, b)
        return out

    return wb.operator(work_up if up else work_down, consumes=2, produces=2, name=name)


def _sequence(length: int, up: bool, prefix: str) -> Any:
    """``PartitionBitonicSequence(length, up)``, or one filter for two keys."""
    if length == 2:
        return compare_exchange(up, f"{prefix}_0")
    return wb.splitjoin(*[compare_exchange(up, f"{prefix}_{t}") for t in range(length // 2)],
                        split="roundrobin")


def _step(length: int, count: int, direction: Any, step: int) -> Any:
    """``StepOfMerge``: ``count`` sequences of ``length`` keys, sequence ``j`` sorting in
    ``direction(j)``."""
    seqs = [_sequence(length, direction(j), f"ce{step}_{j}") for j in range(count)]
    if count == 1:
        return seqs[0]
    return wb.splitjoin(*seqs, split="roundrobin", split_weights=(length,) * count,
                        join_weights=(length,) * count)


def _steps(n: int) -> list[tuple[int, int, Any]]:
    """``(length, sequences, direction)`` of every step, in order."""
    out = []
    p = 2
    while p <= n // 2:                                   # MergeStage(p, n)
        i = 1
        while i < p:
            out.append((p // i, (n // p) * i, lambda j, d=i: (j // d) % 2 == 0))
            i *= 2
        p *= 2
    i = 1
    while i < n:                                         # LastMergeStage(n, up)
        out.append((n // i, i, lambda j: True))
        i *= 2
    return out


def program(src: Any = None, *, n: int = N) -> wb.Pipeline:
    """The bitonic sorting network from ``src`` (default: :func:`source`); ``n`` a power
    of 2."""
    if n < 2 or n & (n - 1):
        raise wb.GraphError(f"BitonicSort: n must be a power of 2; got {n}.")
    prog = src if src is not None else source(n=n)
    for k, (length, count, direction) in enumerate(_steps(n)):
        prog = prog >> _step(length, count, direction, k)
    return prog


def steady(n: int = N) -> dict[str, int]:
    """The StreamIt steady state: one block; every compare-exchange fires once, a step's
    splitter and joiner once, a sequence's (``L / 2`` keys per firing) twice."""
    out = {"source": n}
    k = 0
    for step, (length, count, _) in enumerate(_steps(n)):
        if count > 1:
            k += 1
            out.update({f"split@{k}": 1, f"join@{k}": 1})
        for j in range(count):
            if length > 2:
                k += 1
                out.update({f"split@{k}": 2, f"join@{k}": 2})
            for t in range(max(length // 2, 1)):
                out[f"ce{step}_{j}_{t}"] = 1
    return out


def reference(x: np.ndarray, *, n: int = N) -> np.ndarray:
    """Every block of ``n`` keys sorted (``np.sort``)."""
    blocks = len(x) // n
    return np.sort(x[: blocks * n].reshape(blocks, n), axis=1).reshape(-1)
