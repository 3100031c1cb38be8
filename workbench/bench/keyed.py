"""The keyed case of ``workbench bench stream``: what keyed state, and keeping record order
with it, cost on the Dask engine.

Program: ``scale >> count_per_user >> running_sum`` (a keyed 1:1 operator, 97 users in 64
key groups, then an order-sensitive running sum), on the batches of ``bench stream``
(65,536 records). Variants, interleaved per repetition:

- ``u1``: the same body with one state for every record (``count_all``): no regrouping;
- ``k1``: keyed, one instance: each batch regrouped by key group inside the compiled
  segment and put back in input order there;
- ``k2``: keyed, two instances on two workers: records routed by key with their positions,
  each instance's part put back in input order where the parts are joined.

And, in this process, the two steps that restore order, per batch: ``scatter_us``, writing
each key group's outputs back to their records' places (``out[order[a:b]] = y``, against
``gather_us``, the same writes to consecutive places), and ``join_us``, joining two
instances' parts by their positions (a stable merge, against ``concat_us``: the parts one
after the other). Rates are steady rates (``run.steady_records_per_s``).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numba
import numpy as np

from . import ops
from .common import median, report
from .stream import batch

B = 65536
RECORDS, QUICK_RECORDS = 2 ** 25, 2 ** 19
VARIANTS = ("u1", "k1", "k2")
COLUMNS = ["batch_size", "u1_Mrps", "k1_Mrps", "k2_Mrps", "k1/u1", "k2/k1", "scatter_us",
           "gather_us", "join_us", "concat_us", "order_share_k1"]


def program(keyed: bool, n: int) -> Any:
    from ..model.sources import generator

    op = ops.count_per_user if keyed else ops.count_all
    return generator(functools.partial(batch, b=B), batches=n) >> ops.scale >> op \
        >> ops.running_sum


def run(variant: str, n: int, session: Any, sink: str = "discard") -> Any:
    prog = program(variant != "u1", n)
    par = {"count_per_user": 2} if variant == "k2" else {}
    return prog.run(engine="dask", sink=sink, session=session, parallelism=par,
                    credits=8).wait()


def reference(n: int) -> np.ndarray:
    """Record by record in Python: per-user counts, then the running sum."""
    x = np.concatenate([batch(i, B) for i in range(n)]) * 2.0
    users = ops.user_of(x)                 # the key of the records it receives
    groups = ((users.astype(object) * 11400714819323198485) % 2 ** 64 >> 33) % 64
    counts = [0.0] * 64
    y = np.empty_like(x)
    for i, (v, g) in enumerate(zip(x.tolist(), groups.tolist())):
        counts[g] += 1.0
        y[i] = v + counts[g]
    return np.cumsum(y)


def check(session: Any) -> None:
    ref = reference(3)
    for v in VARIANTS[1:]:
        out = run(v, 3, session, sink="collect").output
        if out.shape != ref.shape or not np.allclose(out, ref, rtol=1e-12):
            raise AssertionError(f"keyed variant {v} is not the sequential result")


@numba.njit(nogil=True, cache=True)
def _scatter(out, order, y):
    for i in range(y.size):
        out[order[i]] = y[i]


@numba.njit(nogil=True, cache=True)
def _gather(out, y):
    for i in range(y.size):
        out[i] = y[i]


def order_costs(reps: int = 50) -> dict[str, float]:
    """Microseconds per batch of the two steps that restore order, and their baselines
    (compiled, as the keyed segment does it)."""
    from ..compile.kernels import group_order_np, key_groups
    from ..runtime.stream.frames import Piece
    from ..runtime.stream.inbox import join

    x = batch(0, B) * 2.0
    keys = ops.user_of(x)
    order, _ = group_order_np(keys, 64)
    y = x[order]
    out = np.empty_like(x)

    def scatter() -> None:
        _scatter(out, order, y)

    def gather() -> None:
        _gather(out, y)

    mine = key_groups(keys, 64) < 32
    pos = np.arange(B, dtype=np.int64)
    parts = [Piece(x[mine], pos[mine]), Piece(x[~mine], pos[~mine])]
    plain = [Piece(x[mine]), Piece(x[~mine])]

    def timed(fn: Any) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t) / reps * 1e6

    return {"scatter_us": timed(scatter), "gather_us": timed(gather),
            "join_us": timed(lambda: join(parts)), "concat_us": timed(lambda: join(plain))}


def measure(session: Any, repeat: int, n: int) -> tuple[dict, dict]:
    check(session)
    res: dict = {v: [] for v in VARIANTS}
    for rep in range(repeat):
        k = rep % len(VARIANTS)
        for v in VARIANTS[k:] + VARIANTS[:k]:
            res[v].append(run(v, n, session).steady_records_per_s)
    return res, order_costs()


def rows_of(res: dict, costs: dict) -> list[dict[str, Any]]:
    rate = {v: median(res[v]) for v in VARIANTS}
    row: dict[str, Any] = {"batch_size": B, "reps": len(res["u1"])}
    for v in VARIANTS:
        row[f"{v}_Mrps"] = rate[v] / 1e6
    row["k1/u1"] = rate["k1"] / rate["u1"]
    row["k2/k1"] = rate["k2"] / rate["k1"]
    row.update(costs)
    # the scatter's extra time per batch against k1's time per batch
    row["order_share_k1"] = (costs["scatter_us"] - costs["gather_us"]) * 1e-6 * rate["k1"] / B
    for v in VARIANTS:
        row[f"{v}_Mrps_all"] = " ".join(f"{r / 1e6:.4g}" for r in res[v])
    return [row]


def main(session: Any, repeat: int, quick: bool, out: str) -> None:
    n = (QUICK_RECORDS if quick else RECORDS) // B
    res, costs = measure(session, repeat, n)
    notes = (
        f"keyed case: scale >> count_per_user (keyed, 64 key groups) >> running_sum, {n} "
        f"batches of {B}; Mrps = steady million records/s, median of {repeat}. u1 = the "
        "same body unkeyed; k1 = keyed, one instance; k2 = keyed, two instances on two "
        "workers (positions travel with the records). scatter_us / gather_us: one batch's "
        "outputs written back to input order / to consecutive places, in the keyed segment; "
        "join_us / concat_us: two instances' parts merged by position / concatenated. "
        "order_share_k1 = (scatter_us - gather_us) as a share of k1's time per batch.")
    report("stream_keyed", rows_of(res, costs), out, COLUMNS, notes, quick=quick)
