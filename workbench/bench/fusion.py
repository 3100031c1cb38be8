"""``workbench bench fusion``: loop fusion against a hand-written single loop.

Programs: ``k`` element-wise operators (arithmetic, ``np.minimum``/``np.maximum``,
``np.where``: :data:`workbench.bench.ops.ELEMENTWISE`) then ``smooth``, a stateful loop
(an exponential average), for ``k`` = 2, 4, 8, on 65,536-record float64 batches sliced
from one fixed array (the batches of ``bench stream``). Variants, run back to back in
rotating order in each repetition:

- ``hand``: one hand-written ``@numba.njit`` loop per ``k`` doing all of it per record
  (the reference);
- ``chained``: the ``k + 1`` operator functions, each ``@numba.njit``, called one after
  another inside one ``@numba.njit`` function (what a user writes without the workbench:
  every operator writes a whole intermediate array);
- ``local``: the local engine, ``sink="discard"``;
- ``local_unfused``: the same with ``WORKBENCH_LOOP_FUSION=0`` (each operator still
  inlined into one compiled segment, but through arrays: the engine before loop fusion);
- ``dask``: the Dask engine with source, operators and a discard sink on one worker (one
  unit, no hop).

Every rate is a steady rate: each variant runs a short and a long stream (``SHORT`` and
``LONG`` batches) and the rate is the extra records over the extra seconds, so start-up
cancels out. An engine's seconds are its run's own, from the first batch taken from the
source to the last one done (``Run.stream_seconds``): planning, loading the code and
starting the thread or the tasks happen before the first batch, and their variation from
run to run (tens of milliseconds: files, LLVM, the scheduler) would otherwise land in the
difference; what is left to cancel is the first batch's check of the fused loop. Each
variant's measurement is paired with a ``hand`` measurement taken just before it (the
machine is shared and noisy: a ratio of two rates measured a second apart says more than
either rate), ``PAIRS`` pairs per variant in each of ``--repeat`` (5) repetitions; ratios
are per pair, then the median over all pairs.

The operators are written as a careful user writes them: ``smooth`` keeps its average in
a local variable during the loop (``state[0]`` read before, written after), as the hand
loops do; updating ``state[0]`` per record costs both engines and the hand loop alike.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import numba
import numpy as np

from . import ops
from .common import median, report, verdict
from .stream import base, batch

BATCH = 65536
CHAINS = (2, 4, 8)
SHORT, LONG = 32, 1024
PAIRS = 3                      # hand/variant pairs per variant and repetition
QUICK_SHORT, QUICK_LONG = 2, 12
VARIANTS = ("hand", "chained", "local", "local_unfused", "dask")
BARS = {"local/hand": 0.8, "dask/hand": 0.7}
COLUMNS = ["ops", "hand_Mrps", "chained_Mrps", "local_unfused_Mrps", "local_Mrps", "dask_Mrps",
           "chained/hand", "local_unfused/hand", "local/hand", "dask/hand", "loops", "bars"]

_jit = numba.njit(nogil=True, cache=True)
_F = {op.name: _jit(op.func) for op in ops.ELEMENTWISE + (ops.smooth,)}


# --- hand-written single loops (what each chain computes, record by record) ------------------

@_jit
def hand2(x, state):
    out = np.empty_like(x)
    s = state[0]
    for i in range(x.size):
        v = x[i] * 1.5 - 0.25
        v = min(max(v, -1.0), 1.0)
        s = 0.95 * s + 0.05 * v
        out[i] = s
    state[0] = s
    return out


@_jit
def hand4(x, state):
    out = np.empty_like(x)
    s = state[0]
    for i in range(x.size):
        v = x[i] * 1.5 - 0.25
        v = min(max(v, -1.0), 1.0)
        v = v if v > 0.0 else 0.05 * v
        v = v * v + 0.5 * v
        s = 0.95 * s + 0.05 * v
        out[i] = s
    state[0] = s
    return out


@_jit
def hand8(x, state):
    out = np.empty_like(x)
    s = state[0]
    for i in range(x.size):
        v = x[i] * 1.5 - 0.25
        v = min(max(v, -1.0), 1.0)
        v = v if v > 0.0 else 0.05 * v
        v = v * v + 0.5 * v
        v = v + 0.125
        v = min(v, 2.0)
        v = v / (1.0 + abs(v))
        v = 0.5 * v if v < 0.3 else v - 0.15
        s = 0.95 * s + 0.05 * v
        out[i] = s
    state[0] = s
    return out


HAND = {2: hand2, 4: hand4, 8: hand8}

# --- the operators' own functions chained in one njit function ---------------------------------
_g, _c, _l, _p = _F["gain"], _F["clamp"], _F["leaky"], _F["poly"]
_s, _cap, _so, _k, _sm = _F["shift"], _F["cap"], _F["soft"], _F["knee"], _F["smooth"]


@_jit
def chained2(x, state):
    return _sm(_c(_g(x)), state)


@_jit
def chained4(x, state):
    return _sm(_p(_l(_c(_g(x)))), state)


@_jit
def chained8(x, state):
    return _sm(_k(_so(_cap(_s(_p(_l(_c(_g(x)))))))), state)


CHAINED = {2: chained2, 4: chained4, 8: chained8}


def program(k: int, n: int) -> Any:
    from ..model.sources import generator

    prog: Any = generator(functools.partial(batch, b=BATCH), batches=n)
    for op in ops.chain(k):
        prog = prog >> op
    return prog


def reference(k: int, n: int) -> np.ndarray:
    """numpy over the whole stream, then the average record by record in Python."""
    x = np.concatenate([batch(i, BATCH) for i in range(n)])
    steps = [lambda v: v * 1.5 - 0.25, lambda v: np.minimum(np.maximum(v, -1.0), 1.0),
             lambda v: np.where(v > 0.0, v, 0.05 * v), lambda v: v * v + 0.5 * v,
             lambda v: v + 0.125, lambda v: np.minimum(v, 2.0),
             lambda v: v / (1.0 + np.abs(v)), lambda v: np.where(v < 0.3, 0.5 * v, v - 0.15)]
    for f in steps[:k]:
        x = f(x)
    out, s = np.empty_like(x), 0.0
    for i, v in enumerate(x.tolist()):
        s = 0.95 * s + 0.05 * v
        out[i] = s
    return out


# --- variants: seconds for n batches ------------------------------------------------------------

def _loop(fn: Any, n: int) -> float:
    state = np.zeros(1)
    t = time.perf_counter()
    for i in range(n):
        fn(batch(i, BATCH), state)
    return time.perf_counter() - t


def _local(k: int, n: int, fused: bool = True) -> float:
    old = os.environ.get("WORKBENCH_LOOP_FUSION")
    os.environ["WORKBENCH_LOOP_FUSION"] = "1" if fused else "0"
    try:
        return program(k, n).run(engine="local", sink="discard").wait().stream_seconds
    finally:
        if old is None:
            del os.environ["WORKBENCH_LOOP_FUSION"]
        else:
            os.environ["WORKBENCH_LOOP_FUSION"] = old


def _dask(k: int, n: int, session: Any) -> float:
    run = program(k, n).run(engine="dask", sink="discard", session=session, credits=8)
    return run.wait().stream_seconds


def seconds(variant: str, k: int, n: int, session: Any) -> float:
    if variant == "hand":
        return _loop(HAND[k], n)
    if variant == "chained":
        return _loop(CHAINED[k], n)
    if variant == "local":
        return _local(k, n)
    if variant == "local_unfused":
        return _local(k, n, fused=False)
    return _dask(k, n, session)


def _warm(k: int) -> bool:
    base(BATCH)
    return True


def check(k: int, session: Any) -> str:
    """Every variant's output against numpy; returns the loops the plan fused."""
    n = 3
    ref = reference(k, n)
    outs = {}
    for name, fn in (("hand", HAND[k]), ("chained", CHAINED[k])):
        state = np.zeros(1)
        outs[name] = np.concatenate([fn(batch(i, BATCH), state) for i in range(n)])
    outs["local"] = program(k, n).run(engine="local").wait().output
    run = program(k, n).run(engine="dask", session=session).wait()
    outs["dask"] = run.output
    if len(run.plan.units) != 1:
        raise AssertionError(f"dask: expected one unit (no hop), got\n{run.plan.describe()}")
    for name, got in outs.items():
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-9, atol=1e-12):
            raise AssertionError(f"variant {name} disagrees with numpy for {k} operators")
    notes = run.events.query("kind == 'note'")
    if len(notes):
        raise AssertionError(f"the fused loop was not used: {notes.message.tolist()}")
    seg = run.plan.units[0].nodes[0]
    return "; ".join(seg.loops) or "(none)"


def steady(v: str, k: int, short: int, long: int, session: Any) -> float:
    """Records per second between a short and a long run (``nan`` if noise made the long
    run no slower than the short one)."""
    a = seconds(v, k, short, session)
    b = seconds(v, k, long, session)
    return (long - short) * BATCH / (b - a) if b > a else float("nan")


def measure(session: Any, repeat: int, short: int, long: int, pairs: int = PAIRS
            ) -> tuple[dict, dict]:
    """``{k: {variant: [(rate, hand rate just before), ...]}}`` and the fused loops."""
    session.client.run(_warm, 0)
    loops = {k: check(k, session) for k in CHAINS}
    for k in CHAINS:                                    # compile and load everything once
        for v in VARIANTS:
            seconds(v, k, 2, session)
    others = VARIANTS[1:]
    res: dict = {k: {v: [] for v in others} for k in CHAINS}
    for rep in range(repeat):
        for k in CHAINS:
            r = rep % len(others)
            for v in others[r:] + others[:r]:
                for _ in range(pairs):
                    h = steady("hand", k, short, long, session)
                    res[k][v].append((steady(v, k, short, long, session), h))
    return res, loops


def rows_of(res: dict, loops: dict, quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    for k, by in res.items():
        row: dict[str, Any] = {"ops": f"{k} + smooth", "pairs": len(by["local"])}
        row["hand_Mrps"] = median(h for pairs in by.values() for _, h in pairs) / 1e6
        for v, pairs in by.items():
            row[f"{v}_Mrps"] = median(r for r, _ in pairs) / 1e6
            row[f"{v}/hand"] = median(r / h for r, h in pairs)
        row["loops"] = loops[k]
        row["bars"] = "; ".join(verdict(f"{name}>={bar:g}", row[name] >= bar, quick)
                                for name, bar in BARS.items())
        for v, pairs in by.items():
            row[f"{v}_pairs_Mrps"] = " ".join(f"{r / 1e6:.4g}/{h / 1e6:.4g}" for r, h in pairs)
        rows.append(row)
    return rows


def main(args: Any) -> int:
    from ..runtime.cluster import cluster, current

    quick = getattr(args, "quick", False)
    repeat = max(1, int(getattr(args, "repeat", 5)))
    short, long = (QUICK_SHORT, QUICK_LONG) if quick else (SHORT, LONG)
    session = getattr(args, "session", None)
    owned = session is None and current() is None
    session = session or current() or cluster()
    try:
        res, loops = measure(session, repeat, short, long, 1 if quick else PAIRS)
    finally:
        if owned:
            session.close()
    rows = rows_of(res, loops, quick)
    notes = (
        f"Mrps = million records/s, steady: ({long} - {short}) batches of {BATCH} records "
        "over the difference of the two runs' seconds (an engine's: from its first batch "
        f"taken to its last done); {repeat} repetition(s) of {PAIRS} "
        "pairs per variant, variants interleaved, each run paired with a hand run just "
        "before it; medians, ratios per pair then the median. hand = "
        "one hand-written numba loop; chained = the operators' functions, each njit, "
        "called in one njit function; local_unfused = local engine with "
        "WORKBENCH_LOOP_FUSION=0; dask = Dask engine, one unit on one worker, discard "
        "sink. loops = what the plan fused into one loop (run.plan).")
    report("fusion", rows, getattr(args, "out", "data/bench"), COLUMNS, notes, quick=quick)
    return 0
