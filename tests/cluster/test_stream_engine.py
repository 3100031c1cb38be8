"""The Dask stream engine on a real LocalCluster: outputs equal an independent numpy
computation (tests/references.py), placement hints are honoured where stages actually
ran, backpressure holds, failures are clean."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb
from tests.references import reference
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.runtime.stream import worker as W

from .ops import add1, explode_late, per_key, slow_sink, twice, uneven

DATA = np.random.default_rng(7).random(200_000)


def sunk(run) -> int:
    """Records that reached the sink so far, from the metrics."""
    df = run.metrics
    return int(df[df.stage == "sink"].records.sum())


def program(batch_size=4096):
    return wb.sources.array(DATA, batch_size=batch_size) >> scale >> mean4 >> running_sum


def test_default_placement_fuses_everything_on_one_compute_worker(session):
    prog = program()
    run = prog.run().wait()
    assert run.engine == "dask" and run.status == "finished"
    np.testing.assert_allclose(run.output, reference(prog))
    assert len(run.plan.units) == 1 and run.plan.units[0].segments == (
        "scale+mean4+running_sum",)
    (worker,) = {w for ws in run.placement.values() for w in ws}
    assert session.workers[worker] == {"compute": 1}
    inst = run.instances
    assert list(inst.worker) == list(inst.planned) == [worker]
    assert run.source_records == len(DATA) and run.records_out == len(DATA) // 4


@pytest.mark.parametrize("hints", [{"running_sum": "storage"},
                                   {"mean4": "storage", "running_sum": "compute"}])
def test_placement_hints_are_honoured_where_stages_actually_ran(session, hints):
    prog = program()
    run = prog.run(placement=hints).wait()
    np.testing.assert_allclose(run.output, reference(prog))
    storage = {a for a, r in session.workers.items() if r.get("storage")}
    for stage, hint in hints.items():
        ws = run.placement[stage]
        assert all((w in storage) == (hint == "storage") for w in ws), (stage, ws)
    inst = run.instances                  # every instance ran where the plan put it ...
    assert (inst.worker == inst.planned).all()
    df = run.metrics                      # ... and each operator's rows come from there
    for unit in run.plan.units:
        for stage in unit.stages:
            assert set(df[df.stage == stage].worker) == set(unit.workers), stage


def test_metrics_count_each_operator_across_hops(session):
    run = program().run(placement={"running_sum": "storage"}).wait()
    per = run.metrics.groupby("stage")[["records", "records_out"]].sum()
    n = len(DATA)
    assert per.loc["scale"].tolist() == [n, n] and per.loc["mean4"].tolist() == [n, n // 4]
    assert per.loc["running_sum"].tolist() == [n // 4, n // 4]
    assert per.loc["source", "records"] == n and per.loc["sink", "records"] == n // 4
    segs = run.metrics.drop_duplicates("stage").set_index("stage").segment
    assert segs["scale"] == segs["mean4"] == "scale+mean4" and segs["running_sum"] == \
        "running_sum"
    ch = run.channels
    assert set(ch.channel) == {"scale+mean4 -> running_sum"}
    assert ch.batches.sum() == len(DATA) // 4096 + 1          # every batch crossed once
    # a bounded run ends drained: each instance's last sample has nothing waiting
    last = run.metrics.groupby(["stage", "instance", "worker"]).queue.last()
    assert (last == 0).all(), last[last != 0]


def test_parallel_keyed_instances_keep_record_order(session):
    prog = wb.sources.array(DATA, batch_size=2000) >> scale >> per_key >> running_sum
    expected = reference(prog)             # per key, record by record, in input order
    for par in ({"per_key": 2}, {"scale": 2, "per_key": 3}):
        run = prog.run(parallelism=par).wait()
        np.testing.assert_allclose(run.output, expected)
        assert len(run.placement["per_key"]) == par["per_key"]
        state = run.state("per_key")
        assert state.shape == (16, 2) and state[:, 0].sum() == len(DATA)


def test_a_keyed_unit_feeding_the_sink_keeps_record_order(session):
    prog = wb.sources.array(DATA[:50_000], batch_size=3000) >> per_key
    for p in (1, 3):
        run = prog.run(parallelism={"per_key": p}, placement={"per_key": "compute"}).wait()
        np.testing.assert_allclose(run.output, reference(prog))


def test_split_joins_run_on_the_cluster(session):
    for split in ("duplicate", "roundrobin"):
        prog = (wb.sources.array(DATA[:60_000], batch_size=3000)
                >> wb.splitjoin(scale, mean4 >> twice, split=split) >> add1)
        run = prog.run(placement={"add1": "storage"}).wait()
        np.testing.assert_allclose(run.output, reference(prog), err_msg=split)
        assert len(run.output) > 0


def test_a_slow_sink_slows_the_source_within_the_credit_limit(session):
    gen = wb.sources.generator(lambda i: np.full(1000, float(i)))
    prog = gen >> scale >> running_sum
    run = prog.run(duration=3, sink=slow_sink, credits=2, interval=0.1,
                   placement={"running_sum": "storage"}).wait()
    ch = run.channels
    assert len(ch) > 5
    assert ch.in_flight_peak.max() <= 2       # in flight per channel, measured by the sender
    assert ch.in_flight_peak.max() >= 1       # ... and the channel was really used
    df = run.metrics
    assert df[df.stage == "running_sum"].queue.max() <= 2   # waiting at the receiver
    sunk = df[df.stage == "sink"].batches.sum()
    # the source ran at the sink's pace: at most the credits ahead of it
    assert run.source_records / 1000 <= sunk + 2 + 1


def test_metrics_are_sampled_while_the_run_goes_on(session):
    gen = wb.sources.generator(lambda i: np.ones(4096))
    run = (gen >> scale >> running_sum).run(duration=2, sink="discard")
    assert len(run.metrics) > 0                  # the first sample is there at once
    seen = []
    while not run.done:
        seen.append(len(run.metric_rows()))
        time.sleep(0.2)
    run.wait()
    assert len(set(seen)) >= 2                   # rows arrived during the run, not at the end
    rows = run.metrics[run.metrics.stage == "scale"]
    assert rows.records.sum() == run.source_records
    assert {"records", "records_per_s", "latency_ms", "queue"} <= set(run.metrics.columns)


def test_a_failing_operator_stops_its_run_and_leaves_nothing_behind(session):
    prog = wb.sources.array(np.sort(DATA), batch_size=1000) >> scale >> explode_late
    run = prog.run(placement={"explode_late": "storage"})
    with pytest.raises(wb.OperatorError) as info:
        run.wait(timeout=120)
    err = info.value
    assert err.operator == "explode_late"
    first_bad = next(i for i in range(200) if np.sort(DATA)[i * 1000] * 2.0 > 0.5)
    assert err.seq == first_bad
    assert "record too large" in str(err) and f"batch {first_bad}" in str(err)
    assert run.status == "failed"
    assert all(v == {} for v in session.client.run(W.active).values())
    assert all(not tasks for tasks in session.client.processing().values())
    # the cluster and other runs keep working
    np.testing.assert_allclose(program().run().wait().output, reference(program()))


def test_hints_that_no_worker_satisfies_are_refused_with_the_workers(session):
    with pytest.raises(wb.PlacementError) as info:
        program().run(placement={"scale": "tcp://10.9.9.9:1234"})
    msg = str(info.value)
    assert all(addr in msg for addr in session.workers)
    with pytest.raises(wb.PlacementError, match="no worker has the resources {'gpu': 1}"):
        program().run(placement={"scale": {"gpu": 1}})
    with pytest.raises(wb.PlacementError, match="keeps state without a key"):
        program().run(parallelism={"running_sum": 2})


def test_stop_drains_an_unbounded_run(session):
    gen = wb.sources.generator(lambda i: np.full(4096, 1.0))
    run = (gen >> scale >> running_sum).run(placement={"running_sum": "storage"})
    deadline = time.monotonic() + 60            # until records have reached the sink
    while time.monotonic() < deadline and not sunk(run):
        time.sleep(0.05)
    run.stop()
    assert run.status == "stopped" and run.source_records > 0
    out = run.output
    assert len(out) == run.source_records         # everything read reached the sink
    np.testing.assert_allclose(out, np.arange(1, len(out) + 1) * 2.0)


def test_epochs_are_reported_as_they_reach_the_sink(session):
    prog = wb.sources.array(DATA[:100_000], batch_size=1000) >> scale >> running_sum
    run = prog.run(epoch=20, parallelism={"scale": 2},
                   placement={"running_sum": "storage"}).wait()
    ev = run.events
    epochs = ev[ev.kind == "epoch"].message.tolist()
    assert epochs == [f"epoch {k} complete: batches {20 * k}-{20 * k + 19} reached the sink"
                      for k in range(5)]
    assert run.epochs_done == 5


def test_a_failure_leaves_a_concurrent_run_untouched(session):
    gen = wb.sources.generator(lambda i: np.full(2000, 1.0))
    healthy = (gen >> scale >> running_sum).run(batches=400,
                                                placement={"running_sum": "storage"})
    bad = wb.sources.array(np.sort(DATA), batch_size=1000) >> scale >> explode_late
    with pytest.raises(wb.OperatorError):
        bad.run().wait(timeout=120)
    healthy.wait(timeout=120)
    assert healthy.status == "finished"
    np.testing.assert_allclose(healthy.output, np.arange(1, 800_001) * 2.0)


def test_connecting_to_an_existing_scheduler(session):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None, resources={"compute": 1}) as other:
        remote = wb.cluster(other.scheduler_address)
        try:
            assert remote is not session and remote.kind == "remote"
            assert list(remote.workers.values()) == [{"compute": 1}]
            prog = program()
            run = prog.run(session=remote).wait()
            np.testing.assert_allclose(run.output, reference(prog))
            assert set(run.placement["scale"]) == set(remote.workers)
        finally:
            remote.close()
    assert wb.cluster() is session      # the local session is current again


def test_nothing_listening_is_refused_fast_and_plainly(session):
    import socket

    with socket.socket() as s:          # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.monotonic()
    with pytest.raises(wb.WorkbenchError) as info:
        wb.cluster(f"tcp://127.0.0.1:{port}", timeout=1)
    assert time.monotonic() - t < 10          # a 1 s timeout, not Dask's 30 s default
    msg = str(info.value)
    assert f"no Dask scheduler answered at tcp://127.0.0.1:{port} within 1 s" in msg
    assert "Fix:" in msg and len(msg.splitlines()) <= 4
    assert wb.cluster() is session             # the current session stays current


def test_readers_at_different_paces_stop_at_one_point(session):
    # Two readers, one slowed down every other batch, stop when the duration ends: they
    # agree on one stop point and read every batch below it, so the output is that of a
    # whole prefix of the source (and the ordered consumer behind them never waits for a
    # batch nobody reads)
    prog = wb.sources.generator(uneven) >> scale >> add1 >> running_sum
    for _ in range(3):
        run = prog.run(duration=1.0, credits=4, parallelism={"scale": 2},
                       placement={"add1": "storage", "running_sum": "compute"})
        run.wait(timeout=60)
        assert run.status == "finished" and run.source_records > 0   # it read something
        assert len(run.output) == run.source_records     # all that was read arrived
        np.testing.assert_allclose(run.output, np.arange(1, len(run.output) + 1) * 3.0)


def test_a_summary_read_while_the_run_finishes_never_loses_its_count(session):
    # a summary (a dashboard, print(run)) read in the moment between the last instance's
    # end and the run's completion used to overwrite the count with 0, for good
    import threading

    data = DATA[:2**16]
    for _ in range(3):
        run = (wb.sources.array(data, batch_size=4096) >> scale).run()
        stop, seen = threading.Event(), []

        def hammer(run=run, stop=stop, seen=seen):
            while not stop.is_set():
                seen.append(run.summary())

        t = threading.Thread(target=hammer)
        t.start()
        run.wait()
        stop.set()
        t.join()
        assert run.source_records == len(data) and run.steady_records_per_s > 0
        assert run.summary().startswith(f"run [dask] finished: {len(data):,} records in, "
                                        f"{len(data):,} out · streaming ")
        assert seen                                        # it really read summaries
