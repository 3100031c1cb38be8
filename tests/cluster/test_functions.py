"""Functions and the store on the real local cluster (2 compute, 1 storage worker)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

import workbench as wb
from workbench.workloads import rmat


def total(x, k):
    return x.sum() * k


def plus(a, b):
    return a + b


def boom(x):
    if x == 3:
        raise ValueError(f"bad input {x}")
    return x


def ragged(n):
    return np.arange(n)


def lookup(k):
    return len(json.dumps({"key": k}))    # numba cannot type json


def keep(x, key):
    return wb.store.put(key, x * 2)      # the result stays on a storage worker


def test_store_put_get_list_sizes_delete(session):
    ref = wb.store.put("t/a", np.arange(4.0))
    assert isinstance(ref, wb.StoreRef) and ref.nbytes >= 32
    assert ref.worker in [a for a, r in session.workers.items() if r.get("storage")]
    assert np.array_equal(wb.store.get("t/a"), np.arange(4.0))
    assert np.array_equal(wb.store.get(ref), np.arange(4.0))
    wb.store.put("t/b", {"x": 1})
    assert {"t/a", "t/b"} <= set(wb.store.list("t/"))
    sizes = wb.store.sizes("t/")
    assert list(sizes.columns) == ["key", "worker", "nbytes", "type"]
    assert sizes.set_index("key").loc["t/b", "type"] == "dict"
    wb.store.delete("t/b")
    assert "t/b" not in wb.store.list("t/")


def test_missing_store_key_names_the_key(session):
    wb.store.put("t/present", 1)
    with pytest.raises(wb.StoreKeyError, match="'t/absent'.*Did you mean 't/present'"):
        wb.store.get("t/absent")
    with pytest.raises(wb.StoreKeyError, match="t/absent"):
        wb.store.delete("t/absent")
    ref = wb.store.put("t/gone", np.zeros(3))
    wb.store.delete(ref)
    fn = wb.function(total, placement="compute")
    with pytest.raises(wb.StoreKeyError, match="'t/gone'.*function 'total'"):
        fn(ref, 1).result()


@pytest.mark.parametrize("placement", ["storage", "compute", "auto"])
def test_call_returns_a_future_and_resolves_refs_where_it_runs(session, placement):
    ref = wb.store.put("t/x", np.arange(10.0))
    fn = wb.function(total, placement=placement)
    fut = fn(ref, 2)
    assert type(fut).__name__ == "Future"
    assert fut.result() == 90.0
    nxt = wb.function(plus, placement=placement)(fut, 1)   # a future as an argument
    assert nxt.result() == 91.0


def test_refs_are_local_on_storage_and_fetched_on_compute(session):
    ref = wb.store.put("t/big", np.ones(100_000))
    for placement, local in (("storage", True), ("compute", False)):
        fn = wb.function(total, placement=placement)
        calls = fn.map([ref] * 4, np.arange(4))
        assert calls.result().tolist() == [0.0, 1e5, 2e5, 3e5]
        st = calls.stats
        assert (st["local_bytes"].sum() > 0) == local
        assert (st["remote_bytes"].sum() > 0) == (not local)
        assert set(st["side"]) == {placement}


def test_results_can_stay_in_the_store(session):
    fn = wb.function(keep, placement="compute", jit=False)
    ref = fn(np.arange(3), "t/kept").result()
    assert isinstance(ref, wb.StoreRef)
    assert wb.store.get("t/kept").tolist() == [0, 2, 4]
    assert wb.function(total, placement="storage")(ref, 1).result() == 6


def test_a_raising_function_names_itself(session):
    fn = wb.function(boom, placement="compute")
    with pytest.raises(wb.FunctionError, match="function 'boom' raised ValueError: bad input 3"):
        fn(3).result()
    with pytest.raises(wb.FunctionError, match="'boom'.*call 3 of a map") as info:
        fn.map(np.arange(6)).result()
    assert isinstance(info.value.original, ValueError) and info.value.call == 3


def test_unknown_worker_is_refused_with_the_known_ones(session):
    fn = wb.function(plus, placement="tcp://127.0.0.1:1")
    with pytest.raises(wb.PlacementError) as info:
        fn(1, 2)
    msg = str(info.value)
    assert "function 'plus'" in msg and "tcp://127.0.0.1:1" in msg
    assert all(a in msg for a in session.workers)


def test_placement_on_a_worker_address(session):
    addr = sorted(a for a, r in session.workers.items() if r.get("compute"))[0]
    fn = wb.function(plus, placement=addr)
    calls = fn.map(np.arange(10), 1)
    assert calls.result().tolist() == list(range(1, 11))
    assert set(calls.placement["worker"]) == {addr}


def test_map_packs_results(session):
    fn = wb.function(plus, placement="compute")
    out = fn.map(np.arange(1000), 5).result()
    assert isinstance(out, np.ndarray) and out.tolist() == list(range(5, 1005))
    out = wb.function(ragged, placement="compute").map([1, 3, 2]).result()
    assert [a.tolist() for a in out] == [[0], [0, 1, 2], [0, 1]]
    out = wb.function(plus, placement="compute", jit=False).map(["a", "b"], "!").result()
    assert out == ["a!", "b!"]


def test_numba_fallback_is_recorded(session):
    fn = wb.function(lookup, placement="compute")
    assert fn.map(["a", "bb", "a"]).result().tolist() == [12, 13, 12]
    assert fn.jit is False and "numba could not type it" in fn.jit_reason
    ok = wb.function(plus, placement="compute")
    ok(1, 2).result()
    warmed = ok.warm(1, 2)                                # every worker compiled it
    assert warmed == {w: (True, None) for w in session.workers}
    assert ok.jit is True and ok.jit_reason is None


def test_auto_places_each_function_and_explains(session):
    refs = rmat.put_graph("t/g", 12, 2, seed=3)
    parts, starts = rmat.queries(refs, 200, seed=1)
    khop = wb.function(rmat.khop, placement="auto")
    for _ in range(3):
        got = khop.map(parts, starts, 2).result()
    expected = [rmat.khop(wb.store.get(r), int(s), 2) for r, s in zip(parts, starts)]
    assert got.tolist() == expected
    d = khop.decisions
    assert d["phase"].iloc[0] == "explore" and len(d) >= 4
    for col in ("side", "reason", "est_storage_s", "est_compute_s", "compute_storage_ms",
                "in_bytes", "transfer_MBps", "storage_load"):
        assert col in d.columns
    assert d["reason"].iloc[-1]
    assert set(khop.profile["side"]) == {"storage", "compute"}
    view = khop.view()
    assert view["name"] == "khop" and view["calls"] >= 600 and view["side"] in (
        "storage", "compute")
    assert "latest decision" in khop.summary()
    assert "khop" in wb.functions.summary()
    single = khop(parts[0], int(starts[0]), 2).result()
    assert single == expected[0]


def test_auto_sends_cheap_calls_on_large_stored_values_to_the_storage_side(session):
    # one-hop queries on a partition of megabytes: moving it to a compute worker costs
    # orders of magnitude more than the query, so auto must settle on the storage side
    refs = rmat.put_graph("t/big", 16, 1, seed=5)
    assert refs[0].nbytes > 4e6
    parts, starts = rmat.queries(refs, 300, seed=6)
    khop = wb.function(rmat.khop, placement="auto")
    for _ in range(4):
        calls = khop.map(parts, starts, 1)
        got = calls.result()
    assert got.tolist() == [rmat.khop(wb.store.get(refs[0]), int(s), 1) for s in starts]
    last = khop.decisions.iloc[-1]
    assert last["side"] == "storage", last["reason"]
    ran = calls.placement.groupby("side").calls.sum()
    assert ran.get("storage", 0) >= 0.9 * len(starts), ran      # the last batch ran there


def spin(seconds):
    t = time.thread_time()
    while time.thread_time() - t < seconds:
        pass
    return True


def _fresh_load(rt):
    rt._cpu = (0.0, *rt._cpu[1:])        # sample now, not from the last second's cache
    return rt.load()


def test_storage_load_is_other_work_not_our_calls_or_reads(session):
    from workbench.runtime.functions import runtime

    rt = runtime()
    refs = rmat.put_graph("t/gl", 13, 1, seed=2)
    parts, starts = rmat.queries(refs, 200, seed=3)
    on_compute = wb.function(rmat.khop, placement="compute")    # reads from storage
    on_storage = wb.function(rmat.khop, placement="storage")
    on_storage.warm(parts[0], int(starts[0]), 3)
    _fresh_load(rt)
    t = time.monotonic()
    while time.monotonic() - t < 1.5:
        on_compute.map(parts, starts, 3).result()
        on_storage.map(parts, starts, 3).result()
    ours, cpu = _fresh_load(rt)
    assert cpu["storage"] > 0                    # the storage worker was busy with our
    storage = [a for a, r in session.workers.items() if r.get("storage")]   # calls and
    fut = session.client.submit(spin, 1.0, workers=storage, pure=False)  # reads; now with
    assert fut.result()                          # a second of other work
    other, _ = _fresh_load(rt)
    # ours (calls, serving reads) is not "load"; a task of someone else's is: side by side
    assert other["storage"] > ours["storage"]
    assert other["storage"] > 0


def test_store_readers_probe_the_storage_side_first(session):
    refs = rmat.put_graph("t/gp", 12, 2, seed=4)
    parts, starts = rmat.queries(refs, 100, seed=2)
    khop = wb.function(rmat.khop, placement="auto")
    assert len(khop.map(parts, starts, 2).result()) == 100
    d = khop.decisions
    assert (d["phase"].iloc[0], d["probe_side"].iloc[0]) == ("explore", "storage")
    assert d["samples_storage"].iloc[1] >= 1 and d["samples_compute"].iloc[1] == 0


def test_bench_smoke(session, tmp_path, capsys):
    from workbench.bench import BENCHMARKS, calls, placement

    assert {"placement", "calls"} <= set(BENCHMARKS)
    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, session=session)
    assert calls.main(args) == 0
    assert placement.main(args) == 0
    out = capsys.readouterr().out
    assert "workbench bench calls" in out and "workbench bench placement" in out
    import pandas as pd

    c = pd.read_csv(tmp_path / "calls.csv")
    assert set(c["variant"]) == {"single", "map", "submit_loop", "client_map"}
    assert (c["calls_per_s"] > 0).all()
    p = pd.read_csv(tmp_path / "placement.csv")
    assert set(p["workload"]) == {"k-hop", "compute-heavy", "mixed", "short"}
    assert set(p["policy"]) == {"compute", "storage", "auto"}
    assert p["same_results"].all()
