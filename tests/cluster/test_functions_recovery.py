"""The store keeps copies: ``wb.store.put(key, value, replicas=2)`` on two distinct storage
workers; a storage worker SIGKILLed (``wb.faults.kill``): replicated keys are read from the
live copy (by the client and by functions), a key whose only copy was there raises an
error naming it, the worker and when it left, at once."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb


def total(x, k):
    return float(x.sum()) * k


@pytest.fixture(scope="module")
def two_storage(session):
    s = wb.cluster(compute=2, storage=2)
    yield s
    s.close()


def storage(s):
    return sorted(a for a, r in s.workers.items() if r.get("storage"))


def test_replicas_live_on_distinct_storage_workers(two_storage):
    x = np.arange(1000.0)
    ref = wb.store.put("rep/a", x, replicas=2)
    assert sorted(ref.workers) == storage(two_storage) and len(set(ref.workers)) == 2
    assert "+1 replica" in repr(ref)
    assert wb.store.list("rep/") == ["rep/a"]                     # once
    sizes = wb.store.sizes("rep/")
    assert sorted(sizes.worker) == storage(two_storage)           # a row per copy
    assert wb.store.ref("rep/a").workers == ref.workers
    one = wb.store.put("rep/b", x)
    assert one.replicas == () and one.worker in storage(two_storage)
    with pytest.raises(wb.StoreError, match="replicas=3 needs 3 storage workers; the "
                                            "cluster has 2"):
        wb.store.put("rep/c", x, replicas=3)
    with pytest.raises(wb.StoreError, match="replicas must be a positive integer"):
        wb.store.put("rep/c", x, replicas=0)
    wb.store.delete("rep/a")
    assert "rep/a" not in wb.store.list("rep/") and len(wb.store.sizes("rep/")) == 1
    wb.store.delete("rep/b")


def test_a_lost_storage_worker_keeps_replicated_keys_and_names_lost_ones(two_storage):
    a, b = storage(two_storage)
    x = np.random.default_rng(1).random(10_000)
    kept = wb.store.put("lost/kept", x, worker=a, replicas=2)
    only = wb.store.put("lost/only", x * 2, worker=a)
    assert kept.workers == (a, b) and only.workers == (a,)
    fn = wb.function(total, placement="compute")
    assert fn(kept, 2).result() == pytest.approx(2 * x.sum())
    wb.faults.kill(a)
    deadline = time.monotonic() + 30
    while a in two_storage.workers and time.monotonic() < deadline:
        time.sleep(0.02)
    np.testing.assert_array_equal(wb.store.get(kept), x)          # the replica on b
    np.testing.assert_array_equal(wb.store.get("lost/kept"), x)   # by key: b has it
    assert fn(kept, 3).result() == pytest.approx(3 * x.sum())     # inside a function too
    t = time.monotonic()
    with pytest.raises(wb.StoreError) as info:
        wb.store.get(only)
    assert time.monotonic() - t < 10                              # an error, not a hang
    msg = str(info.value)
    assert "'lost/only' is lost" in msg and a in msg and "left the cluster at" in msg, msg
    assert "replicas=2" in msg
    with pytest.raises(wb.StoreError, match="'lost/only' is lost \\(an argument of "
                                            "function 'total'\\)"):
        fn(only, 1).result()
    two_storage.wait_for_workers(4, timeout=60)                   # the nanny's replacement


def slow_square(x):
    time.sleep(0.01)
    return x * x


def test_a_map_whose_worker_dies_is_recomputed_from_lineage(two_storage):
    fn = wb.function(slow_square, placement="compute", jit=False)
    xs = np.arange(400.0)
    calls = fn.map(xs)                    # one chunk per compute worker, ~2 s each
    time.sleep(0.5)
    victim = calls.chunks[0].worker
    wb.faults.kill(victim)
    np.testing.assert_array_equal(calls.result(timeout=120), xs * xs)
    two_storage.wait_for_workers(4, timeout=60)


def slow_sum(x):
    time.sleep(0.03)
    return float(x.sum())


def test_a_map_of_large_arguments_whose_worker_dies_sends_them_again(two_storage):
    fn = wb.function(slow_sum, placement="compute", jit=False)
    xs = np.random.default_rng(3).random((128, 20_000))      # 20 MB: sent in pieces
    calls = fn.map(xs)
    assert len(calls.chunks) > len(storage(two_storage)), calls   # pieces, not one a worker
    time.sleep(0.6)
    victim = calls.chunks[0].worker
    wb.faults.kill(victim)
    np.testing.assert_allclose(calls.result(timeout=120), xs.sum(axis=1))
    assert calls.resent >= 1, "the victim's pieces were not sent again"
    assert victim not in set(calls.placement["worker"]), calls.placement
    del calls                  # dropped: its results and pieces leave the workers at once
    deadline = time.monotonic() + 10
    while (left := [k for k in two_storage.client.who_has() if "slow_sum" in str(k)]):
        assert time.monotonic() < deadline, f"still held after the Calls was dropped: {left}"
        time.sleep(0.05)
    two_storage.wait_for_workers(4, timeout=60)


def test_a_finished_call_on_a_dead_worker_is_recomputed(two_storage):
    fn = wb.function(total, placement="compute")
    x = np.arange(100.0)
    fut = fn(x, 2)
    fut.result()
    holder = next(iter(two_storage.client.who_has([fut])[fut.key]))
    wb.faults.kill(holder)
    deadline = time.monotonic() + 30
    while holder in two_storage.workers and time.monotonic() < deadline:
        time.sleep(0.02)
    del fut                                # the client held the result: ask again, anew
    again = fn(x, 2)
    assert again.result(timeout=60) == pytest.approx(2 * x.sum())
    two_storage.wait_for_workers(4, timeout=60)


def test_a_storage_call_runs_on_a_replica_when_its_owner_is_gone(two_storage):
    a, b = storage(two_storage)
    x = np.random.default_rng(2).random(1000)
    ref = wb.store.put("lin/x", x, worker=a, replicas=2)
    fn = wb.function(total, placement="storage")
    wb.faults.kill(a)
    deadline = time.monotonic() + 30
    while a in two_storage.workers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fn(ref, 1).result(timeout=60) == pytest.approx(x.sum())
    two_storage.wait_for_workers(4, timeout=60)


@pytest.mark.parametrize("victim", ["compute", "storage"])
def test_the_sort_survives_a_worker_killed_mid_shuffle(two_storage, victim):
    from workbench.workloads import sort as S

    refs = S.make_inputs(300_000, 6, seed=5, prefix=f"srt-{victim}/in", replicas=2)
    expected = np.sort(np.concatenate([wb.store.get(r) for r in refs]))   # numpy's
    calm = S.gather(S.sort(refs, 4, prefix=f"srt-{victim}/a", replicas=2))
    assert S.checksum(calm) == S.checksum(expected)
    outs = S.sort(refs, 4, prefix=f"srt-{victim}/b", replicas=2)
    time.sleep(0.1)                                        # the maps are running
    target = sorted(a for a, r in two_storage.workers.items() if r.get(victim))[0]
    wb.faults.kill(target)
    got = S.gather(outs)
    assert S.checksum(got) == S.checksum(expected)
    two_storage.wait_for_workers(4, timeout=60)
