"""``workbench bench local``: the local engine against a hand-fused numba loop.

The program is ``array(data, batch_size=B) >> scale >> mean4 >> running_sum`` over the
same float64 records for every variant, each repetition running the variants back to
back (in rotating order) so the machine's noise hits all of them:

- ``engine``: ``prog.run(engine="local", sink="discard").wait()``, timed around the
  whole call (plan, segment objects, thread start and metrics sampler included);
- ``hand_fused`` (the bar's reference, DESIGN.md section 7's ceiling): a hand-written
  ``@numba.njit(nogil=True)`` function calling the same three operator functions in
  sequence on one batch, called from a plain Python loop over the same batch slices;
- ``single_pass`` (extra reference): one hand-written loop per batch, no intermediate
  arrays, showing what composing operators through arrays in memory costs.

Reported per batch size: median records/s of each variant, ``ratio`` = engine /
hand_fused (the bar: at least 0.80 at 65536) and the engine's extra time per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from . import ops
from .common import median, report, verdict

BATCH_SIZES = (4096, 65536, 524288)
RECORDS = 2 ** 25
QUICK_RECORDS = 2 ** 21
BAR = 0.80
BAR_BATCH = 65536
COLUMNS = ["batch_size", "batches", "engine_Mrps", "hand_fused_Mrps", "single_pass_Mrps",
           "ratio", "bar", "engine_extra_us_per_batch", "single_vs_fused"]

_jit = numba.njit(nogil=True, cache=True)
_scale = _jit(ops.scale.func)
_mean4 = _jit(ops.mean4.func)
_running_sum = _jit(ops.running_sum.func)


@_jit
def hand_fused(x, state):
    return _running_sum(_mean4(_scale(x)), state)


@_jit
def single_pass(x, state):
    n = x.shape[0] // 4
    out = np.empty(n, x.dtype)
    acc = state[0]
    for i in range(n):
        s = x[4 * i] * 2.0
        s += x[4 * i + 1] * 2.0
        s += x[4 * i + 2] * 2.0
        s += x[4 * i + 3] * 2.0
        acc += s / 4.0
        out[i] = acc
    state[0] = acc
    return out


def run_engine(data: np.ndarray, batch_size: int) -> tuple[float, int]:
    """Seconds and source records of one local-engine run of the trio."""
    t = time.perf_counter()
    run = ops.trio(data, batch_size).run(engine="local", sink="discard").wait()
    dt = time.perf_counter() - t
    return dt, run.source_records


def run_loop(fn: Callable, data: np.ndarray, batch_size: int) -> tuple[float, int]:
    """Seconds and records of a plain Python loop calling ``fn`` on each batch slice."""
    state = np.zeros(1)
    n = 0
    t = time.perf_counter()
    for i in range(0, len(data), batch_size):
        x = data[i:i + batch_size]
        fn(x, state)
        n += len(x)
    return time.perf_counter() - t, n


VARIANTS: dict[str, Callable[[np.ndarray, int], tuple[float, int]]] = {
    "engine": run_engine,
    "hand_fused": lambda d, b: run_loop(hand_fused, d, b),
    "single_pass": lambda d, b: run_loop(single_pass, d, b),
}


def warm_up(batch_size: int) -> None:
    """Compile everything and check the three variants agree on a small input."""
    data = np.random.default_rng(1).random(4 * batch_size + 8)
    got = ops.trio(data, batch_size).run(engine="local", sink="collect").wait().output
    for fn in (hand_fused, single_pass):
        state = np.zeros(1)
        ref = np.concatenate([fn(data[i:i + batch_size], state)
                              for i in range(0, len(data), batch_size)])
        if not np.allclose(got, ref, rtol=1e-9, atol=1e-6):
            raise AssertionError(f"{fn.__name__} and the engine disagree at batch size "
                                 f"{batch_size}")


def measure(data: np.ndarray, batch_sizes: tuple[int, ...],
            repeat: int) -> dict[int, dict[str, list[tuple[float, int]]]]:
    out: dict[int, dict[str, list[tuple[float, int]]]] = {
        b: {v: [] for v in VARIANTS} for b in batch_sizes}
    names = list(VARIANTS)
    for rep in range(repeat):
        for b in batch_sizes:
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                out[b][name].append(VARIANTS[name](data, b))
    return out


def rows_of(results: dict[int, dict[str, list[tuple[float, int]]]],
            records: int, quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    for b, res in results.items():
        batches = -(-records // b)
        secs = {v: median(t for t, _ in runs) for v, runs in res.items()}
        for v, runs in res.items():
            if any(n != records for _, n in runs):
                raise AssertionError(f"{v} counted {[n for _, n in runs]} records, "
                                     f"expected {records}")
        rps = {v: records / s for v, s in secs.items()}
        row: dict[str, Any] = {"batch_size": b, "batches": batches, "records": records,
                               "reps": len(res["engine"])}
        row.update({f"{v}_Mrps": r / 1e6 for v, r in rps.items()})
        row.update({f"{v}_records_per_s": r for v, r in rps.items()})
        row["ratio"] = rps["engine"] / rps["hand_fused"]
        row["bar"] = (verdict(f"ratio>={BAR:.2f}", row["ratio"] >= BAR, quick)
                      if b == BAR_BATCH else "")
        row["engine_extra_us_per_batch"] = (secs["engine"] - secs["hand_fused"]) / batches * 1e6
        row["single_vs_fused"] = rps["single_pass"] / rps["hand_fused"]
        row.update({f"{v}_s_all": " ".join(f"{t:.4f}" for t, _ in runs)
                    for v, runs in res.items()})
        rows.append(row)
    return rows


def main(args: Any) -> int:
    quick = getattr(args, "quick", False)
    repeat = max(1, int(getattr(args, "repeat", 5)))
    records = int(getattr(args, "records", None) or (QUICK_RECORDS if quick else RECORDS))
    sizes = tuple(getattr(args, "batch_sizes", None) or BATCH_SIZES)
    data = np.random.default_rng(0).random(records)
    for b in sizes:
        warm_up(b)
    rows = rows_of(measure(data, sizes, repeat), records, quick)
    notes = (f"{records:,} float64 source records per run; medians over {repeat} "
             "repetition(s), variants interleaved. Mrps = million source records/s.\n"
             "ratio = engine / hand_fused (bar >= 0.80 at 65536); engine_extra_us_per_batch"
             " = (engine - hand_fused) median seconds / batches; single_vs_fused = "
             "single_pass / hand_fused (the cost of intermediate arrays).")
    report("local", rows, getattr(args, "out", "data/bench"), COLUMNS, notes, quick=quick)
    return 0
