"""Scaling compute workers: the local cluster adds real worker processes from its
compute template and retires compute workers only; ``wb.autoscale`` under each policy."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb
from workbench.errors import WorkbenchError
from workbench.observe.widgets import PLOTLY_MIME, FunctionsBoard, wait_updates
from workbench.placement.scaling import least_worker_seconds
from workbench.runtime.scaling import compute_workers, scale_compute
from workbench.workloads.trace import Trace, hold, replay


@pytest.fixture(scope="module")
def small(session):
    s = wb.cluster(compute=1, storage=1)       # its own cluster: workers come and go
    yield s
    s.close()


def names(s):
    return sorted(i["name"] for i in s.client.scheduler_info()["workers"].values())


def storage_of(s):
    return sorted(a for a, r in s.workers.items() if r.get("storage"))


def test_scaling_adds_compute_workers_and_never_removes_a_storage_worker(small):
    keeper = storage_of(small)
    ref = wb.store.put("scaling/x", np.arange(1000.0))
    took = scale_compute(small, 3)
    assert len(compute_workers(small)) == 3 and took > 0
    assert all(small.workers[a] == {"compute": 1} for a in compute_workers(small))
    small.cluster.scale(1)              # Dask's count, all workers: only storage is left?
    deadline = time.monotonic() + 60    # (leaving ones finish their calls first: gone)
    while len(compute_workers(small, leaving=True)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert compute_workers(small, leaving=True) == [] and storage_of(small) == keeper
    assert float(wb.store.get(ref).sum()) == 499500.0   # its values stayed with it
    scale_compute(small, 1)
    assert len(compute_workers(small)) == 1
    assert names(small)[-1] == "storage-0" and len(set(names(small))) == 2


def test_fixed_holds_its_workers_and_bad_requests_say_what_to_do(small):
    a = wb.autoscale("fixed", minimum=2, session=small)
    deadline = time.monotonic() + 60
    while len(compute_workers(small)) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(compute_workers(small)) == 2
    a.stop()
    with pytest.raises(WorkbenchError, match="policy must be one of forecast, reactive"):
        wb.autoscale("psychic", session=small)
    with pytest.raises(WorkbenchError, match="1 <= minimum <= maximum"):
        wb.autoscale("fixed", minimum=3, maximum=2, session=small)
    with pytest.raises(WorkbenchError, match="target_duration is Dask Adaptive's knob"):
        wb.autoscale("forecast", target_duration=0.25, session=small)


def test_reactive_is_dasks_adaptive_and_spares_the_storage_worker(small):
    scale_compute(small, 3)
    keeper = storage_of(small)
    a = wb.autoscale("reactive", minimum=1, maximum=3, session=small)
    deadline = time.monotonic() + 60            # idle: Adaptive retires down to minimum
    while len(compute_workers(small)) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    a.stop()
    assert len(compute_workers(small)) == 1 and storage_of(small) == keeper


def test_reactive_told_the_latency_target_grows_on_queued_work(small):
    scale_compute(small, 1)
    fn = wb.function(hold, placement="compute", jit=False)
    fn(0.001).result()
    a = wb.autoscale("reactive", minimum=1, maximum=3, interval=0.5, target_duration=0.25,
                     session=small)
    calls = [fn(0.2, 1.0) for _ in range(80)]   # 16 s of work queued on 2 threads: Adaptive's
    deadline = time.monotonic() + 60            # target is 16 s / 0.25 s, held to the maximum
    while len(compute_workers(small)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    grown = len(compute_workers(small))
    assert sum(c.result() for c in calls) == 80.0
    a.stop()
    assert grown == 3 and a._adaptive.target_duration == 0.25
    # the next reactive autoscaler without the knob has Dask's defaults again (Dask's
    # Cluster.adapt keeps earlier calls' options unless they are given)
    b = wb.autoscale("reactive", minimum=1, maximum=3, session=small)
    b.stop()
    assert b._adaptive.target_duration == 5.0 and b._adaptive.interval == 1.0


def test_forecast_asks_for_workers_ahead_of_a_rising_rate(small):
    scale_compute(small, 1)
    fn = wb.function(hold, placement="compute", jit=False)
    fn(0.001).result()
    board = FunctionsBoard(window=60.0)
    assert board.session is small
    a = wb.autoscale("forecast", minimum=1, maximum=3, slo_ms=200, interval=0.5,
                     service_s=0.1, session=small)
    ramp = Trace(np.linspace(2, 50, 24), bin_s=0.5)        # 12 s from 2 to 50 calls/s
    r = replay(fn, ramp, service_s=0.1, seed=2).wait(timeout=120)
    a.stop()
    h = a.history
    assert {"rate", "forecast", "asked", "present", "p99_ms", "over_slo"} <= set(h.columns)
    assert h["asked"].max() >= 2, h.to_string()   # 50 calls/s x 0.1 s = 5 busy threads
    assert h["present"].max() >= 2 and not np.isnan(h["start_s"].iloc[-1])
    assert r.failed == 0 and r.frame()["latency_s"].notna().all()
    # the function board shows the autoscaler's history as it grew: its chart's series
    # are the history's columns, on the board's clock
    assert wait_updates(board, 2) >= 2
    board.close()
    traces = {t.name: t for t in board.scaling.data}
    assert board.scaling in board.box.children and board._scaler is a   # the newest one
    rate = np.asarray(traces["arrivals"].y, float)
    assert len(rate) == len(h) and np.allclose(rate, h["rate"].to_numpy())
    assert np.allclose(traces["workers asked"].y, h["asked"].to_numpy())
    assert np.allclose(np.asarray(traces["forecast"].y, float), h["forecast"].to_numpy(),
                       equal_nan=True)
    assert np.allclose(np.asarray(traces["arrivals"].x) - (a.t0 - board.t_open), h["time"])
    assert list(traces["SLO"].y) == [200.0, 200.0]
    line = board.scaling_line.value
    assert "scaling forecast" in line and "SLO 200 ms" in line
    static = board.static()
    names_static = [t.get("name") for t in static[PLOTLY_MIME]["data"]]
    assert {"arrivals", "forecast", "workers present", "p99 latency"} <= set(names_static)
    assert "scaling forecast (stopped): 1-3 compute workers" in static["text/plain"]


def test_bench_scaling_smoke(small, tmp_path):
    from types import SimpleNamespace

    import pandas as pd

    from workbench.bench import scaling

    args = SimpleNamespace(out=str(tmp_path), repeat=1, quick=True, session=small)
    assert scaling.main(args) == 0
    t = pd.read_csv(tmp_path / "scaling.csv").set_index("policy")
    bound = "bound: least that keeps up"
    assert list(t.index) == [*scaling.POLICIES, bound]
    # the last row: the fewest worker-seconds that keep up with the replayed trace
    q = scaling.QUICK
    trace = Trace.periodic(q["period_s"], q["periods"], q["base"], q["peak"], q["bursts"],
                           seed=1)
    assert t.loc[bound, "worker_s"] == pytest.approx(least_worker_seconds(
        trace.rate, trace.bin_s, q["service_s"], small.sizes[2], q["minimum"]))
    t = t.loc[list(scaling.POLICIES)]
    assert t["calls"].nunique() == 1 and (t["failed"] == 0).all()   # one trace for all
    assert t.loc["fixed-max", "max_workers"] == scaling.QUICK["maximum"]
    assert t.loc["fixed-max", "worker_s"] > t.loc["fixed-min", "worker_s"]
    assert "not judged (--quick)" in t.loc["forecast", "bar"]


def test_a_failed_call_counts_with_its_reason_and_the_replay_goes_on(small):
    fn = wb.function(hold, placement="compute", jit=False)

    def flaky(service_s, i):
        if i == 3.0:
            raise ValueError("refused at submission")
        return fn("not a number" if i == 5.0 else service_s, i)    # fails on its worker

    r = replay(flaky, Trace(np.full(3, 4.0), bin_s=1.0), service_s=0.01, seed=5)
    r.wait(timeout=60)
    lat = r.frame()["latency_s"].to_numpy()
    assert r.failed == 2
    why = dict(r.errors)
    assert "refused at submission" in why[3], why
    assert why[5].startswith("error: ") and "TypeError" in why[5], why
    assert np.isnan(lat[3]) and np.isfinite(np.delete(lat, 3)).all()


def _marked_calls(tmp_path):
    """A sleep-bound function that writes one line per start (its argument and worker)."""
    log = tmp_path / "starts"

    def marked(service_s, i):
        import time as t

        from distributed import get_worker
        with open(log, "a") as f:
            f.write(f"{i} {get_worker().address}\n")
        t.sleep(service_s)
        return i

    def starts():
        return [ln.split() for ln in log.read_text().splitlines()] if log.exists() else []

    return wb.function(marked, placement="compute", jit=False), starts


def _until(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_compute_worker_leaves_after_the_calls_it_runs(small, tmp_path):
    scale_compute(small, 3)
    fn, starts = _marked_calls(tmp_path)
    calls = [fn(2.0, i) for i in range(6)]      # 3 workers x 2 threads: all run at once
    _until(lambda: len(starts()) == 6, "six calls started")
    scale_compute(small, 1, wait=False)
    _until(lambda: len(small.leaving) == 2, "two workers leaving")
    leaving = set(small.leaving)
    assert len(compute_workers(small)) == 1 and not leaving & set(compute_workers(small))
    assert len(compute_workers(small, leaving=True)) == 3
    assert sorted(c.result(timeout=60) for c in calls) == list(range(6))
    ran = starts()
    assert len(ran) == 6, ran                   # each call ran once: none cut and re-run
    assert {w for _, w in ran} & leaving        # some of them on the workers that left
    _until(lambda: not small.leaving and len(compute_workers(small, leaving=True)) == 1,
           "the leaving workers gone")


def test_reactive_retires_a_worker_after_the_calls_it_runs(small, tmp_path):
    scale_compute(small, 3)
    fn, starts = _marked_calls(tmp_path)
    a = wb.autoscale("reactive", minimum=1, maximum=3, session=small)
    try:
        # Dask's Adaptive retires busy workers here: it takes a task it has not seen finish
        # for 0.5 s of work, so six running calls look like 3 s, under its 5 s target
        calls = [fn(6.0, i) for i in range(6)]
        _until(lambda: len(starts()) == 6, "six calls started")
        _until(lambda: small.leaving, "Adaptive retiring a worker")
        leaving = set(small.leaving)
        assert sorted(c.result(timeout=60) for c in calls) == list(range(6))
    finally:
        a.stop()
    ran = starts()
    assert len(ran) == 6, ran
    assert {w for _, w in ran} & leaving
