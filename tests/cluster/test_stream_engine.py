"""The Dask stream engine on a real LocalCluster: outputs equal the local engine's,
placement hints are honoured, backpressure holds, failures are clean."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.runtime.stream import worker as W

from .ops import explode_late, per_key, slow_sink

DATA = np.random.default_rng(7).random(200_000)


def program(batch_size=4096):
    return wb.sources.array(DATA, batch_size=batch_size) >> scale >> mean4 >> running_sum


def local_output(prog):
    return prog.run(engine="local").wait().output


def test_default_placement_fuses_everything_on_one_compute_worker(session):
    prog = program()
    run = prog.run().wait()
    assert run.engine == "dask" and run.status == "finished"
    np.testing.assert_allclose(run.output, local_output(prog))
    assert len(run.plan.units) == 1
    (worker,) = {w for ws in run.placement.values() for w in ws}
    assert session.workers[worker] == {"compute": 1}
    inst = run.instances
    assert list(inst.worker) == list(inst.planned) == [worker]
    assert run.source_records == len(DATA)


@pytest.mark.parametrize("hints", [{"running_sum": "storage"},
                                   {"mean4": "storage", "running_sum": "compute"}])
def test_placement_hints_are_honoured_where_stages_actually_ran(session, hints):
    prog = program()
    run = prog.run(placement=hints).wait()
    np.testing.assert_allclose(run.output, local_output(prog))
    storage = {a for a, r in session.workers.items() if r.get("storage")}
    for stage, hint in hints.items():
        ws = run.placement[stage]
        assert all((w in storage) == (hint == "storage") for w in ws), (stage, ws)
    # every instance ran on the worker the plan gave it, and metrics agree
    inst = run.instances
    assert (inst.worker == inst.planned).all()
    df = run.metrics
    for unit in run.plan.units:
        for seg in unit.nodes:
            rows = df[df.stage == seg.name]
            assert set(rows.worker) == set(unit.workers), seg.name


def test_parallel_and_keyed_instances_match_the_local_engine(session):
    prog = wb.sources.array(DATA, batch_size=2000) >> scale >> per_key >> running_sum
    expected = local_output(prog)
    for par in ({"per_key": 2}, {"scale": 2, "per_key": 3}):
        run = prog.run(parallelism=par).wait()
        np.testing.assert_allclose(run.output, expected)
        assert len(run.placement["per_key"]) == par["per_key"]
        state = run.state("per_key")
        assert state.shape == (16, 2) and state[:, 0].sum() == len(DATA)


def test_a_slow_sink_slows_the_source_within_the_credit_limit(session):
    gen = wb.sources.generator(lambda i: np.full(1000, float(i)))
    prog = gen >> scale >> running_sum
    run = prog.run(duration=3, sink=slow_sink, credits=2, interval=0.1,
                   placement={"running_sum": "storage"}).wait()
    df = run.metrics
    edge = df[df.stage.str.contains("->")]
    assert len(edge) > 5
    assert edge.queue.max() <= 2            # in flight per channel, measured by the sender
    assert edge.queue.max() >= 1            # ... and the channel was really used
    inbox = df[df.stage.str.endswith("(in)")]
    assert inbox.queue.max() <= 2           # waiting at the receiver, measured there
    sunk = df[df.stage == "sink"].batches.sum()
    # the source ran at the sink's pace: at most the credits ahead of it
    assert run.source_records / 1000 <= sunk + 2 + 1
    assert sunk < 3 / 0.03 + 5               # the sink really was the bottleneck


def test_metrics_are_sampled_at_least_twice_a_second(session):
    gen = wb.sources.generator(lambda i: np.ones(4096))
    run = (gen >> scale >> running_sum).run(duration=2, sink="discard").wait()
    df = run.metrics
    rows = df[df.stage == "scale+running_sum"]
    assert len(rows) >= 4
    assert rows.time.diff().dropna().median() < 0.5   # target 0.25 s; a loaded box may lag
    assert {"records", "records_per_s", "latency_ms", "queue"} <= set(df.columns)


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
    np.testing.assert_allclose(program().run().wait().output, local_output(program()))


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
    import time

    time.sleep(1.5)
    run.stop()
    assert run.status == "stopped"
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
            np.testing.assert_allclose(run.output, local_output(prog))
            assert set(run.placement["scale"]) == set(remote.workers)
        finally:
            remote.close()
    assert wb.cluster() is session      # the local session is current again


def test_readers_that_stop_apart_leave_gaps_the_consumer_steps_over(session):
    # Two readers stop at their own pace when the duration ends; the ordered consumer
    # behind them must not wait (holding their credits) for batches never read.
    from .ops import add1, uneven

    prog = wb.sources.generator(uneven) >> scale >> add1 >> running_sum
    for _ in range(3):
        run = prog.run(duration=1.0, credits=4, parallelism={"scale": 2},
                       placement={"add1": "storage", "running_sum": "compute"})
        run.wait(timeout=60)
        assert run.status == "finished"
        assert len(run.output) == run.source_records     # all that was read arrived
        np.testing.assert_allclose(np.diff(run.output), 3.0)
