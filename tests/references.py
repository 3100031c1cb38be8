"""Independent references: what a program computes, written directly in numpy (or plain
Python loops), record by record over the whole stream, never by calling the workbench's
operators, segments or kernels.

An SDF program is a function of its whole input stream: batching, fusion, carries,
parallel instances and key groups are the engine's business and must not change the
result. So the reference of ``source >> a >> b`` is ``ref_b(ref_a(all records))``; an
operator of rates ``c:p`` fires ``len // c`` times; a split-join duplicates or deals
records to its branches and joins them round robin in blocks of its weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GOLDEN = 11400714819323198485


def key_group(key: int, groups: int) -> int:
    """The documented key-group function (@wb.operator, ``key=``), in Python integers."""
    return ((key * GOLDEN) % 2**64 >> 33) % groups


def firings(x: np.ndarray, consumes: int) -> np.ndarray:
    return x[: len(x) // consumes * consumes]


def windows(x: np.ndarray, consumes: int, peek: int) -> np.ndarray:
    """StreamIt's peeking firings over the whole stream: row ``i`` is the window firing
    ``i`` reads, records ``[i * consumes, i * consumes + peek)``; no firing below ``peek``."""
    if len(x) < peek:
        return np.empty((0, peek))
    return np.lib.stride_tricks.sliding_window_view(x, peek)[::consumes]


def ewma(x: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    out, s = np.empty(len(x)), 0.0
    for i, v in enumerate(x.tolist()):
        s = (1 - alpha) * s + alpha * v
        out[i] = s
    return out


def keyed(x: np.ndarray, keys: np.ndarray, groups: int,
          step: Callable[[list, float], float], width: int) -> np.ndarray:
    """A keyed operator record by record: one state (a list of ``width`` floats) per key
    group, ``step(state, record) -> output``; outputs in input order."""
    states = [[0.0] * width for _ in range(groups)]
    out = np.empty(len(x))
    for i, (v, k) in enumerate(zip(x.tolist(), keys.tolist())):
        out[i] = step(states[key_group(int(k), groups)], v)
    return out


def _count_then_add(state: list, v: float) -> float:
    state[0] += 1.0
    return v + state[0]


def _running_mean(state: list, v: float) -> float:
    state[0] += 1.0
    state[1] += v
    return state[1] / state[0]


def twice(x: np.ndarray) -> np.ndarray:
    out = np.empty(2 * len(x))
    out[0::2], out[1::2] = x, -x
    return out


# name of an operator (tests/cluster/ops.py, workbench.examples.quickstart) -> reference
OPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "scale": lambda x: x * 2.0,
    "add1": lambda x: x + 1.0,
    "mean4": lambda x: firings(x, 4).reshape(-1, 4).mean(axis=1),
    "loop_mean4": lambda x: firings(x, 4).reshape(-1, 4).mean(axis=1),
    "running_sum": np.cumsum,
    "twice": twice,
    "pair_max": lambda x: firings(x, 2).reshape(-1, 2).max(axis=1),
    "ewma": ewma,
    "fir5": lambda x: windows(x, 1, 5) @ np.array([0.5, 0.25, 0.125, 0.0625, 0.0625]),
    "peek_max": lambda x: windows(x, 2, 5).max(axis=1),
    "keyed_count": lambda x: keyed(x, (np.abs(x) * 997).astype(np.int64), 8,
                                   _count_then_add, 1),
    "per_key": lambda x: keyed(x, (x * 1000).astype(np.int64) % 13, 16, _running_mean, 2),
}


def splitjoin(x: np.ndarray, branches: list[Callable], split: str,
              split_weights: tuple[int, ...], join_weights: tuple[int, ...]) -> np.ndarray:
    """A StreamIt split-join over the whole stream."""
    if split == "duplicate":
        ins = [x] * len(branches)
    else:
        width = sum(split_weights)
        blocks = firings(x, width).reshape(-1, width)
        ins, at = [], 0
        for w in split_weights:
            ins.append(blocks[:, at:at + w].reshape(-1))
            at += w
    outs = [f(xi) for f, xi in zip(branches, ins)]
    rounds = min(len(o) // w for o, w in zip(outs, join_weights))
    cols = [o[: rounds * w].reshape(rounds, w) for o, w in zip(outs, join_weights)]
    return np.concatenate(cols, axis=1).reshape(-1) if rounds else np.empty(0)


def chain(elements: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """The reference of a chain of program elements (operators named in :data:`OPS`, and
    split-joins of such chains)."""
    import workbench as wb

    steps = []
    for el in elements:
        if isinstance(el, wb.SplitJoin):
            branches = [chain(b.elements) for b in el.branches]
            weights = el.join_weights or _natural(el)
            steps.append(lambda x, b=branches, e=el, w=weights: splitjoin(
                x, b, e.split, e.split_weights or (1,) * len(b), w))
        else:
            steps.append(OPS[el.name])

    def run(x: np.ndarray) -> np.ndarray:
        for f in steps:
            x = f(x)
        return x

    return run


def _natural(sj) -> tuple[int, ...]:
    """The join weights that follow the branch rates (what the workbench picks)."""
    from fractions import Fraction
    from math import gcd, lcm

    n = len(sj.branches)
    ins = ([Fraction(1)] * n if sj.split == "duplicate" else
           [Fraction(w, sum(sj.split_weights or (1,) * n)) for w in (sj.split_weights or
                                                                        (1,) * n)])
    outs = []
    for b, f in zip(sj.branches, ins):
        for op in b.elements:
            f = f * op.produces / op.consumes
        outs.append(f)
    scale = lcm(*(o.denominator for o in outs))
    ints = [int(o * scale) for o in outs]
    g = 0
    for v in ints:
        g = gcd(g, v)
    return tuple(v // g for v in ints)


def reference(prog, data: np.ndarray | None = None) -> np.ndarray:
    """What ``prog`` outputs for ``data`` (default: every batch its source has)."""
    if data is None:
        src = prog.source
        data = np.concatenate([src.batch(i) for i in range(src.num_batches)])
    return chain(prog.elements)(np.asarray(data, dtype=np.float64))

