"""The cost model for function calls, result packing, workload generators (no cluster)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from workbench.model.refs import StoreRef, owner
from workbench.placement.functions import Env, Placer, split
from workbench.runtime.functions.pack import combine, pack, unpack
from workbench.workloads import heavy, rmat

ENV = Env(slots={"storage": 1, "compute": 2}, rate=1e9, latency=5e-4)


def _measure(p: Placer, fn: str, side: str, compute_s: float, remote: float = 0.0,
             fetches: float = 0.0, calls: int = 10) -> None:
    p.observe({"fn": fn, "side": side, "calls": calls, "compute_s": compute_s * calls,
               "remote_bytes": remote * calls, "fetches": fetches * calls,
               "out_bytes": 8 * calls})


def test_explores_both_sides_first_then_exploits() -> None:
    p = Placer(probe=4)
    d = p.decide("f", 100, ENV)
    assert (d.phase, d.probe_calls) == ("explore", 4)
    _measure(p, "f", "storage", 1e-3)
    d = p.decide("f", 100, ENV)
    assert d.phase == "explore" and d.probe_side == "compute"
    _measure(p, "f", "compute", 1e-3, remote=1e6, fetches=1)
    d = p.decide("f", 100, ENV, remote_bytes=1e6)
    assert d.phase == "exploit"
    assert not math.isnan(d.est["storage"]) and not math.isnan(d.est["compute"])


def test_data_heavy_goes_to_storage_compute_heavy_to_compute() -> None:
    p = Placer()
    _measure(p, "khop", "storage", 2e-4)
    _measure(p, "khop", "compute", 2e-4, remote=2e6, fetches=1)
    assert p.decide("khop", 1000, ENV, remote_bytes=2e6).side == "storage"
    _measure(p, "sim", "storage", 2e-3)
    _measure(p, "sim", "compute", 2e-3)
    d = p.decide("sim", 200, ENV)
    assert d.side == "compute"                      # two slots beat one
    assert d.est["compute"] == pytest.approx(200 * 2e-3 / 2, rel=0.01)


def test_storage_load_and_backlog_move_calls_to_compute() -> None:
    p = Placer(hysteresis=0.0)
    _measure(p, "f", "storage", 1e-3)
    _measure(p, "f", "compute", 1.8e-3)
    idle = Env(slots={"storage": 1, "compute": 1}, rate=1e9, latency=5e-4)
    assert p.decide("f", 100, idle).side == "storage"
    busy = Env(slots={"storage": 1, "compute": 1}, rate=1e9, latency=5e-4,
               load={"storage": 0.6})
    d = p.decide("f", 100, busy)
    assert d.side == "compute" and d.inputs["storage_load"] == 0.6
    queued = Env(slots={"storage": 1, "compute": 1}, rate=1e9, latency=5e-4,
                 backlog_s={"storage": 1.0})
    assert p.decide("f", 100, queued).side == "compute"


def test_hysteresis_keeps_a_side_unless_clearly_better() -> None:
    p = Placer(hysteresis=0.2, refresh=10**6)
    _measure(p, "f", "storage", 1.0e-3)
    _measure(p, "f", "compute", 2.1e-3)
    env = Env(slots={"storage": 1, "compute": 2})
    assert p.decide("f", 10, env).side == "storage"
    _measure(p, "f", "compute", 1.9e-3, calls=1000)   # compute now slightly better
    d = p.decide("f", 10, env)
    assert d.side == "storage" and "staying on storage" in d.reason


def test_refresh_probes_the_other_side_periodically() -> None:
    p = Placer(refresh=3)
    _measure(p, "f", "storage", 1e-4)
    _measure(p, "f", "compute", 1e-4, remote=1e6, fetches=1)
    phases = [p.decide("f", 1000, ENV, remote_bytes=1e6).phase for _ in range(4)]
    assert phases[:2] == ["exploit", "exploit"] and "refresh" in phases
    d = p.latest("f")
    assert d.probe_side == "compute" and 1 <= d.probe_calls <= p.probe


def test_decision_rows_carry_the_numbers() -> None:
    p = Placer()
    _measure(p, "f", "storage", 1e-3)
    _measure(p, "f", "compute", 1e-3)
    p.decide("f", 10, ENV, hint="compute")
    row = p.rows("f")[-1]
    for col in ("est_storage_s", "est_compute_s", "compute_storage_ms", "transfer_MBps",
                "storage_load", "backlog_storage_s", "in_bytes", "out_bytes", "reason"):
        assert col in row
    assert row["phase"] == "hint" and row["side"] == "compute"


def test_observe_ignores_a_measurement_seen_twice() -> None:
    p = Placer()
    stats = {"fn": "f", "side": "storage", "calls": 5, "compute_s": 0.01, "id": "x"}
    assert p.observe(stats) and not p.observe(stats)
    assert p.profile("f").calls == 5


def test_only_one_side_exists() -> None:
    p = Placer()
    d = p.decide("f", 10, Env(slots={"storage": 0, "compute": 2}))
    assert d.side == "compute" and "only compute" in d.reason


def test_split_and_owner() -> None:
    assert split(5, 2) == [(0, 2), (2, 5)] and split(0, 3) == []
    ws = ["tcp://a:1", "tcp://b:1", "tcp://c:1"]
    assert owner("k", ws) == owner("k", list(reversed(ws)))
    assert len({owner(f"k{i}", ws) for i in range(50)}) == 3


@pytest.mark.parametrize("results, kind", [
    ([1, 2, 3], "array"), ([np.zeros(2), np.ones(2)], "array"),
    ([np.arange(1), np.arange(3)], "ragged"), ([{"a": 1}, "b"], "objects")])
def test_pack_round_trips(results, kind) -> None:
    p = pack(results)
    assert p.kind == kind
    back = unpack(p)
    assert len(back) == len(results)
    for a, b in zip(back, results):
        assert np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b


def test_combine_restores_call_order() -> None:
    parts = [(np.array([1, 3]), pack([10, 30])), (np.array([0, 2]), pack([0, 20]))]
    assert combine(parts, 4).tolist() == [0, 10, 20, 30]
    parts = [(np.array([1]), pack(["b"])), (np.array([0]), pack(["a"]))]
    assert combine(parts, 2) == ["a", "b"]


def test_rmat_is_seeded_and_partitions_cover_the_graph() -> None:
    a = rmat.rmat_edges(10, 8, seed=3)
    b = rmat.rmat_edges(10, 8, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    parts = rmat.partitions(10, 3, 8, seed=3)
    assert sum(p.indices.size for p in parts) == 8 << 10
    assert sum(p.indptr.size - 1 for p in parts) == 1 << 10
    deg = np.bincount(a[0], minlength=1 << 10)
    assert deg.max() > 10 * deg.mean()              # R-MAT: a skewed degree distribution


def _bfs(p, start, k):
    n = p.indptr.size - 1
    seen, frontier = {start - p.first}, [start - p.first]
    for _ in range(k):
        nxt = []
        for u in frontier:
            for v in p.indices[p.indptr[u]:p.indptr[u + 1]] - p.first:
                if 0 <= v < n and v not in seen:
                    seen.add(int(v))
                    nxt.append(int(v))
        frontier = nxt
    return len(seen)


def test_khop_matches_a_plain_bfs() -> None:
    p = rmat.partitions(9, 2, 8, seed=5)[1]
    rng = np.random.default_rng(0)
    for s in p.first + rng.integers(0, p.indptr.size - 1, 20):
        for k in (0, 1, 2, 3):
            assert rmat.khop(p, int(s), k) == _bfs(p, int(s), k)


def test_queries_and_heavy_inputs_are_seeded() -> None:
    refs = [StoreRef(f"g/part-{i}", "tcp://s:1", 10) for i in range(2)]
    rmat.remember(refs, rmat.partitions(8, 2, 4, seed=1))
    a, b = rmat.queries(refs, 30, seed=4), rmat.queries(refs, 30, seed=4)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    for ref, s in zip(*a):
        first, rows = rmat._META[ref.key]
        assert first <= s < first + rows
    assert np.array_equal(heavy.inputs(3, seed=2), heavy.inputs(3, seed=2))
    assert math.isfinite(heavy.simulate(heavy.inputs(1)[0], 5))


def test_history_is_bounded() -> None:
    p = Placer(history=3)
    for _ in range(5):
        p.decide("f", 1, ENV, hint="storage")
    assert isinstance(p.history["f"], deque) and len(p.rows("f")) == 3


def test_load_while_measured_is_not_counted_twice() -> None:
    p = Placer(hysteresis=0.0)
    env = Env(slots={"storage": 1, "compute": 1}, load={"storage": 0.5})
    p.observe({"fn": "f", "side": "storage", "calls": 10, "compute_s": 0.02, "load": 0.5})
    p.observe({"fn": "f", "side": "compute", "calls": 10, "compute_s": 0.015})
    d = p.decide("f", 100, env)          # 2 ms measured under the load it still has
    assert d.per_call["storage"] == pytest.approx(2e-3)
    assert d.side == "compute"
    d = p.decide("f", 100, Env(slots={"storage": 1, "compute": 1}))   # the load is gone
    assert d.per_call["storage"] == pytest.approx(1e-3) and d.side == "storage"


def test_store_readers_probe_storage_first_then_compute() -> None:
    p = Placer(probe=4)
    d = p.decide("khop", 100, ENV, remote_bytes=2e6)
    assert d.phase == "explore" and d.probes == ("storage",)
    _measure(p, "khop", "storage", 2e-4)
    d = p.decide("khop", 96, ENV, remote_bytes=2e6)
    # moving 2 MB per call costs more than the whole batch on the storage side: use
    # storage now and probe compute beside it
    assert (d.side, d.phase, d.probe_side, d.probe_calls) == ("storage", "refresh",
                                                             "compute", 4)
    assert "cannot finish first" in d.reason
    d = p.decide("sim", 100, ENV)
    assert d.phase == "explore" and set(d.probes) == {"storage", "compute"}


def test_an_unmeasured_side_behind_a_long_queue_is_not_waited_for() -> None:
    p = Placer(probe=4)
    _measure(p, "sim", "compute", 1e-3)
    queued = Env(slots={"storage": 1, "compute": 2}, backlog_s={"storage": 1.0})
    d = p.decide("sim", 100, queued)     # compute: ~50 ms; storage is busy for 1 s
    assert (d.side, d.phase, d.probe_side) == ("compute", "refresh", "storage")
    d = p.decide("sim", 100, Env(slots={"storage": 1, "compute": 2}))
    assert d.phase == "explore" and d.probes == ("storage",)


def test_cpu_ledger_counts_running_and_finished_calls() -> None:
    import time

    from workbench.runtime.functions.calls import CpuLedger

    led = CpuLedger()
    led.begin()
    t = time.thread_time()
    while time.thread_time() - t < 0.02:
        pass
    assert led.total() >= 0.015            # still running: counted
    used = led.end()
    assert used >= 0.015 and led.total() == pytest.approx(used)


def test_calls_count_on_their_side_even_while_compiling_and_overall_from_the_start():
    p = Placer()
    p.observe({"fn": "f", "side": "storage", "calls": 2, "timed_calls": 0, "t0": 100.0,
               "t": 100.9, "compute_s": 0.8})                    # compiling: not a profile
    p.observe({"fn": "f", "side": "compute", "calls": 98, "t0": 100.1, "t": 101.0,
               "compute_s": 0.05})
    prof = p.profiles["f"]
    assert {s: sp.calls for s, sp in prof.sides.items()} == {"storage": 2, "compute": 98}
    assert prof.sides["storage"].samples == 0 and prof.sides["compute"].samples == 1
    assert prof.calls == 100 and (prof.t_first, prof.t_last) == (100.0, 101.0)


def test_the_text_view_says_what_each_rate_is_over():
    from workbench.functions.view import rows_text

    row = {"name": "inc", "placement": "auto", "calls": 1, "calls_per_s": 0.1,
           "calls_per_s_overall": 80.0, "jit": True, "jit_reason": None, "errors": 0,
           "calls_by_side": {"storage": 0, "compute": 1}, "side": None}
    text = rows_text([row])
    assert text.startswith("inc: placement 'auto', 1 call (0.1/s over the last 10 s, 80/s "
                           "from the first call's start to the last one's end), compiled")
    assert "calls by side: storage 0, compute 1" in text


def test_a_burst_of_single_calls_probes_both_sides_at_once_then_uses_the_measured() -> None:
    p = Placer()
    d1 = p.decide("sim", 1, ENV)
    d2 = p.decide("sim", 1, ENV)
    assert (d1.side, d1.probe_side) == ("compute", "compute")     # no store reads
    assert (d2.side, d2.probe_side) == ("storage", "storage")     # beside it, not after
    assert "beside the compute side's probe" in d2.reason
    spread = [p.decide("sim", 1, ENV).side for _ in range(6)]      # both in flight
    assert spread.count("compute") == 4 and spread.count("storage") == 2, spread
    _measure(p, "sim", "compute", 1e-3, calls=1)                   # compute came back
    d = p.decide("sim", 1, ENV)
    assert d.side == "compute" and "storage side's probe is in flight" in d.reason
    _measure(p, "sim", "storage", 2e-3, calls=1)
    d = p.decide("sim", 1, ENV)
    assert d.phase == "exploit" and d.side == "compute"


def test_single_calls_that_read_the_store_probe_storage_first_and_spread_by_transfer():
    p = Placer()
    assert p.decide("khop", 1, ENV, remote_bytes=2e6).side == "storage"
    assert p.decide("khop", 1, ENV, remote_bytes=2e6).side == "compute"
    spread = [p.decide("khop", 1, ENV, remote_bytes=2e6).side for _ in range(8)]
    # moving 2 MB (2 ms at 1 GB/s) per call makes a compute slot 3x dearer than a
    # storage one with the 1 ms body assumed: storage takes most calls
    assert spread.count("storage") > spread.count("compute") >= 1, spread


def test_a_probe_call_never_measured_is_retried_after_its_patience() -> None:
    p = Placer()
    p.patience = 0.0
    assert p.decide("f", 1, ENV).probe_side == "compute"
    assert p.decide("f", 1, ENV).probe_side == "compute"          # the first one was lost
