"""``workbench bench stream``: the Dask engine against the ceiling and against Dask's own ways.

The program is ``scale >> mean4 >> running_sum`` on float64 records (the operators of
:mod:`workbench.bench.ops`). Every variant reads the same batches: batch ``i`` is slice
``i % 16`` of one fixed array per batch size, built once per process by :func:`batch` (a
module-level function, so workers import it instead of receiving the array). Each
repetition runs the variants back to back, in rotating order:

- ``a`` hand-fused (the ceiling): ``local.hand_fused`` (one ``@njit(nogil=True)`` function
  calling the three operator functions) over the batches in a Python loop, in this process;
- ``b`` the Dask engine, default placement: all stages fused into one unit on one worker;
- ``c`` the Dask engine split over two workers (mean4 and running_sum on the storage
  worker): every batch out of scale (full size) crosses one worker-to-worker hop;
- ``d`` a raw Dask futures chain: per batch one task builds the batch on the worker, then one
  task per stage, all pinned to b's worker; running_sum's state is chained through the
  tasks (task ``i`` takes task ``i-1``'s ``(output, state)`` and copies the state), so it is
  correct; outputs are gathered to the client with at most ``WINDOW`` batches in flight;
- ``e`` streamz on Dask: ``Stream().scatter().map(batch).map(scale).map(mean4)
  .accumulate(running_sum, returns_state=True).buffer(8).gather().sink(list.append)``,
  emitting batch numbers (the batch is built on the worker, as in ``d``); running_sum's
  state is a future chained by streamz's ``accumulate`` (it lives on whichever worker ran
  the previous step); the scheduler places the tasks.

Then the keyed case (:mod:`workbench.bench.keyed`, its own table and CSV): what keyed
state and keeping record order with it cost.

``d`` and ``e`` cost milliseconds per batch, so they run a fixed number of batches, and at
most ``CAP_S`` seconds each; everything reports records per second.
"""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from typing import Any

import numpy as np

from . import ops
from .common import median, report, verdict
from .local import _mean4, _running_sum, _scale, hand_fused

BATCH_SIZES = (4096, 65536, 524288)
# source records of a/b and of c per batch size: at least ~1.5 s of streaming for b and c
RECORDS = {4096: (2 ** 28, 2 ** 25), 65536: (2 ** 28, 2 ** 27), 524288: (2 ** 28, 2 ** 27)}
QUICK_RECORDS = 2 ** 21
TASK_BATCHES, QUICK_BATCHES = 100, 12      # d and e
CAP_S = 2.5                 # d and e stop submitting after this many seconds
WINDOW = 16                 # d: batches in flight
POOL = 16                   # distinct batch slices per batch size
SPLIT = {"mean4": "storage", "running_sum": "storage"}
VARIANTS = ("a", "b", "c", "d", "e")
COLUMNS = ["batch_size", "a_Mrps", "b_Mrps", "b_wall_Mrps", "c_Mrps", "c_wall_Mrps",
           "d_Mrps", "e_Mrps", "b/a", "c_hop_MBps", "b/d", "b/e", "bars"]
BARS = {  # (name, batch size, threshold)
    "b/a": (65536, 0.70), "c_hop_MBps": (65536, 500.0), "b/e": (4096, 50.0),
    "b/d": ((4096, 10.0), (65536, 5.0)),
}

_BASE: dict[int, np.ndarray] = {}


def base(b: int) -> np.ndarray:
    """The fixed array batches of size ``b`` are sliced from (built once per process)."""
    arr = _BASE.get(b)
    if arr is None:
        arr = _BASE[b] = np.random.default_rng(b).random(b * POOL)
    return arr


def batch(i: int, b: int) -> np.ndarray:
    """Batch ``i`` of size ``b``: a slice of :func:`base` (no copy)."""
    k = i % POOL
    return base(b)[k * b:(k + 1) * b]


def reference(b: int, n: int) -> np.ndarray:
    x = np.concatenate([batch(i, b) for i in range(n)])
    return np.cumsum((x * 2.0).reshape(-1, 4).sum(axis=1) / 4.0)


# --- task bodies (module level: workers import them by name) ----------------------------------

def t_scale(x: np.ndarray) -> np.ndarray:
    return _scale(x)


def t_mean4(x: np.ndarray) -> np.ndarray:
    return _mean4(x)


def t_rsum(x: np.ndarray, prev: Any) -> tuple[np.ndarray, np.ndarray]:
    """running_sum on ``x`` from the previous task's ``(output, state)`` (state copied:
    Dask hands the same object to every task that depends on it)."""
    state = prev[1].copy()
    return _running_sum(x, state), state


def t_rsum_acc(state: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    state = state.copy()
    return state, _running_sum(x, state)


def _warm(b: int) -> bool:
    """Build the batch pool and load the numba functions in a worker process."""
    hand_fused(batch(0, b), np.zeros(1))
    return True


# --- variants: each returns (records, wall seconds, streaming seconds) ------------------------

def run_hand(b: int, n: int, **_: Any) -> tuple[int, float, float]:
    state = np.zeros(1)
    t = time.perf_counter()
    for i in range(n):
        hand_fused(batch(i, b), state)
    dt = time.perf_counter() - t
    return n * b, dt, dt


def program(b: int, n: int) -> Any:
    from ..model.sources import generator

    return generator(functools.partial(batch, b=b), batches=n) >> ops.scale >> ops.mean4 \
        >> ops.running_sum


def run_engine(b: int, n: int, session: Any, placement: dict, sink: str = "discard") -> Any:
    return program(b, n).run(engine="dask", sink=sink, placement=placement, credits=8,
                             session=session).wait()


def _engine(placement: dict):
    def go(b: int, n: int, session: Any, **_: Any) -> tuple[int, float, float]:
        run = run_engine(b, n, session, placement)
        return run.source_records, run.elapsed, run.stream_seconds
    return go


def run_tasks(b: int, n: int, session: Any, worker: str, keep: list | None = None,
              **_: Any) -> tuple[int, float, float]:
    client = session.client
    sub = functools.partial(client.submit, workers=[worker], pure=False)
    prev: Any = (None, np.zeros(1))
    pending: deque = deque()
    got = deque(maxlen=0) if keep is None else keep     # outputs gathered, then dropped
    done = 0
    t = time.perf_counter()
    for i in range(n):
        if time.perf_counter() - t > CAP_S:
            break
        prev = sub(t_rsum, sub(t_mean4, sub(t_scale, sub(batch, i, b))), prev)
        pending.append(prev)
        done += 1
        if len(pending) >= WINDOW:
            got.append(pending.popleft().result()[0])
    while pending:
        got.append(pending.popleft().result()[0])
    dt = time.perf_counter() - t
    return done * b, dt, dt


def run_streamz(b: int, n: int, keep: list | None = None, **_: Any) -> tuple[int, float, float]:
    from streamz import Stream

    got: list = [] if keep is None else keep
    src = Stream()
    (src.scatter().map(batch, b=b).map(t_scale).map(t_mean4)
        .accumulate(t_rsum_acc, start=np.zeros(1), returns_state=True)
        .buffer(8).gather().sink(got.append))
    t = time.perf_counter()
    sent = 0
    for i in range(n):
        if time.perf_counter() - t > CAP_S:
            break
        src.emit(i)
        sent += 1
    while len(got) < sent:
        if time.perf_counter() - t > CAP_S + 60:
            raise TimeoutError(f"streamz: {len(got)} of {sent} batches after 60 s")
        time.sleep(0.001)
    dt = time.perf_counter() - t
    src.destroy()
    return sent * b, dt, dt


RUNNERS = {"a": run_hand, "b": _engine({}), "c": _engine(SPLIT), "d": run_tasks,
           "e": run_streamz}


def check(b: int, session: Any) -> str:
    """Warm every process up and check every variant's output against numpy; returns the
    worker b runs on (d pins its tasks there)."""
    session.client.run(_warm, b)
    n = 8
    ref = reference(b, n)
    state = np.zeros(1)
    outs = {"a": np.concatenate([hand_fused(batch(i, b), state) for i in range(n)])}
    runs = {name: run_engine(b, n, session, placement, sink="collect")
            for name, placement in (("b", {}), ("c", SPLIT))}
    for name, units in (("b", 1), ("c", 2)):
        if len(runs[name].plan.units) != units:
            raise AssertionError(f"{name}: expected {units} unit(s), got\n"
                                 f"{runs[name].plan.describe()}")
        outs[name] = runs[name].output
    if runs["c"].plan.units[0].stages != ("scale",):
        raise AssertionError(f"c: expected scale alone before the hop, got\n"
                             f"{runs['c'].plan.describe()}")
    worker = runs["b"].plan.units[0].workers[0]
    for name, fn in (("d", run_tasks), ("e", run_streamz)):
        keep: list = []
        fn(b, n, session=session, worker=worker, keep=keep)
        outs[name] = np.concatenate(keep)
    for name, got in outs.items():
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-9, atol=1e-6):
            raise AssertionError(f"variant {name} disagrees with numpy at batch size {b}")
    return worker


def measure(session: Any, sizes: tuple[int, ...], repeat: int, counts: dict) -> dict:
    workers = {b: check(b, session) for b in sizes}
    res: dict = {b: {v: [] for v in VARIANTS} for b in sizes}
    for rep in range(repeat):
        for b in sizes:
            k = rep % len(VARIANTS)
            for v in VARIANTS[k:] + VARIANTS[:k]:
                res[b][v].append(RUNNERS[v](b, counts[b][v], session=session,
                                            worker=workers[b]))
    return res


def _bars(b: int, row: dict, quick: bool = False) -> str:
    out = []
    for name, spec in BARS.items():
        for size, bar in (spec if isinstance(spec[0], tuple) else (spec,)):
            if size == b:
                out.append(verdict(f"{name}>={bar:g}", row[name] >= bar, quick))
    return "; ".join(out)


def rows_of(res: dict, quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    for b, by in res.items():
        row: dict[str, Any] = {"batch_size": b, "reps": len(by["a"])}
        steady = {v: median(n / s for n, _, s in runs) for v, runs in by.items()}
        wall = {v: median(n / w for n, w, _ in runs) for v, runs in by.items()}
        for v in VARIANTS:
            row[f"{v}_Mrps"] = steady[v] / 1e6
            row[f"{v}_records"] = median(n for n, _, _ in by[v])
        for v in ("b", "c"):
            row[f"{v}_wall_Mrps"] = wall[v] / 1e6
            row[f"{v}_stream_s"] = median(s for _, _, s in by[v])
            row[f"{v}_elapsed_s"] = median(w for _, w, _ in by[v])
        row["b/a"] = steady["b"] / steady["a"]
        row["c_hop_MBps"] = steady["c"] * 8 / 1e6
        row["b/d"] = steady["b"] / steady["d"]
        row["b/e"] = steady["b"] / steady["e"]
        row["bars"] = _bars(b, row, quick)
        for v, runs in by.items():
            row[f"{v}_Mrps_all"] = " ".join(f"{n / s / 1e6:.4g}" for n, _, s in runs)
        rows.append(row)
    return rows


def main(args: Any) -> int:
    from ..runtime.cluster import cluster, current

    quick = getattr(args, "quick", False)
    repeat = max(1, int(getattr(args, "repeat", 5)))
    sizes = tuple(getattr(args, "batch_sizes", None) or BATCH_SIZES)
    records = getattr(args, "records", None)
    few = int(getattr(args, "few_batches", None) or (QUICK_BATCHES if quick else TASK_BATCHES))
    counts = {}
    for b in sizes:
        nb, nc = (math.ceil((records or (QUICK_RECORDS if quick else r)) / b)
                  for r in RECORDS.get(b, (2 ** 27, 2 ** 27)))
        counts[b] = {"a": nb, "b": nb, "c": nc, "d": few, "e": few}
    session = getattr(args, "session", None)
    owned = session is None and current() is None
    session = session or cluster()
    try:
        rows = rows_of(measure(session, sizes, repeat, counts), quick)
        _report(rows, repeat, few, quick, getattr(args, "out", "data/bench"))
        if getattr(args, "keyed", True):
            from . import keyed

            keyed.main(session, repeat, quick, getattr(args, "out", "data/bench"))
    finally:
        if owned:
            session.close()
    return 0


def _report(rows: list, repeat: int, few: int, quick: bool, out: str) -> None:
    notes = (
        f"Mrps = million source records/s, median of {repeat} repetition(s), variants "
        "interleaved. a = hand-fused numba loop in one process (ceiling); b = Dask engine, one "
        "fused unit on one worker; c = Dask engine, scale | hop | mean4+running_sum (storage "
        f"worker); d = Dask futures, 4 tasks per batch (build, 3 stages), window {WINDOW}; e = "
        f"streamz on Dask, buffer 8. d and e: {few} batches or {CAP_S:g} s, whichever "
        "ends first.\nb and c: *_Mrps = steady (run.steady_records_per_s: first batch "
        "to last, start-up excluded); *_wall_Mrps = source_records / run.elapsed. Ratios and "
        "bars use steady rates. c_hop_MBps = bytes of scale's output crossing the hop "
        "(records * 8) / c's stream seconds; its bar is read at 65536.")
    report("stream", rows, out, COLUMNS, notes, quick=quick)
