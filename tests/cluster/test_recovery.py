"""Recovery: a worker SIGKILLed mid-run (``wb.faults.kill``). With ``checkpoint`` the run
restores the last complete checkpoint on the live workers, replays the source from its
barrier and its output equals the numpy reference and the same program's run without a
fault; without it the run fails at once, naming the worker and its stages."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

import workbench as wb
from tests.references import reference
from workbench.examples.quickstart import scale

from .ops import ewma, fir5, keyed_count, throttled
from .test_random_programs import build, finish, parallelism_of, placement_of, steps_of

BATCHES = 500          # 1024 records each, ~2 ms apiece to make: a run of a second or more


def whole(session):
    """Wait until the cluster has its three workers again (the nanny replaces a killed
    worker in about a second)."""
    deadline = time.monotonic() + 60
    while len(session.workers) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(session.workers) == 3


@pytest.fixture
def cluster(session):
    """The shared cluster, whole before and after each test (later tests expect three
    workers)."""
    whole(session)
    yield session
    whole(session)


def source(n=BATCHES):
    return wb.sources.generator(throttled, batches=n)


def data(n=BATCHES):
    return np.concatenate([throttled(i, pause=0) for i in range(n)])


def kill_when_read(run, stage, batches=60, index=0):
    """Kill the worker of ``stage`` once the run has read ``batches`` batches."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not run.done:
        got = sum(r[5] for r in run.metric_rows() if r[1] == "source") // 1024
        if got >= batches:
            return wb.faults.kill(stage=stage, index=index, run=run)
        time.sleep(0.02)
    raise AssertionError(f"the run read fewer than {batches} batches: {run}")


def test_a_killed_worker_is_recovered_from_the_last_checkpoint(cluster, tmp_path):
    prog = source() >> scale >> keyed_count >> fir5 >> ewma
    expected = reference(prog, data())
    calm = prog.run(parallelism={"keyed_count": 2}, epoch=20).wait()
    run = prog.run(parallelism={"keyed_count": 2}, epoch=20, checkpoint=str(tmp_path),
                   poll=0.1)
    lost = kill_when_read(run, "keyed_count", index=1)
    run.wait(timeout=120)
    assert run.status == "finished", run.error
    np.testing.assert_allclose(run.output, expected)
    np.testing.assert_array_equal(run.output, calm.output)      # bit for bit
    rec = run.recoveries
    assert len(rec) == 1 and rec.error.isna().all(), rec.to_dict("records")
    row = rec.iloc[0]
    assert row.lost == lost and "keyed_count[1]" in row.stages
    assert row.checkpoint >= 1 and row.restored_from_batch == row.checkpoint * 20
    assert row.detected_at >= row.killed_at and row.resumed_at >= row.detected_at
    assert row.caught_up_at >= row.resumed_at
    assert row.batches_replayed >= 1
    assert lost not in set(run.current.workers)
    assert run.source_records == BATCHES * 1024
    kinds = set(run.events.kind)
    assert {"checkpoint", "recovery"} <= kinds, kinds


def test_a_lost_storage_worker_waits_for_its_replacement(cluster, tmp_path):
    prog = source() >> scale >> ewma
    run = prog.run(placement={"ewma": "storage"}, epoch=20, checkpoint=str(tmp_path),
                   poll=0.1)
    lost = kill_when_read(run, "ewma")
    run.wait(timeout=120)
    assert run.status == "finished", run.error
    np.testing.assert_allclose(run.output, reference(prog, data()))
    assert len(run.recoveries) == 1
    new = run.current.plan.units[-1].workers
    assert lost not in new and all(cluster.workers[w] == {"storage": 1} for w in new)


def test_a_kill_before_any_checkpoint_replays_from_the_start(cluster, tmp_path):
    prog = source() >> scale >> ewma
    run = prog.run(epoch=100_000, checkpoint=str(tmp_path), poll=0.1)   # no barrier reached
    kill_when_read(run, "ewma", batches=20)
    run.wait(timeout=120)
    assert run.status == "finished", run.error
    np.testing.assert_allclose(run.output, reference(prog, data()))
    assert len(run.recoveries) == 1
    row = run.recoveries.iloc[0]
    assert row.checkpoint is None and row.restored_from_batch == 0


def test_without_checkpoints_a_lost_worker_fails_the_run_at_once(cluster):
    prog = wb.sources.generator(throttled) >> scale >> ewma      # unbounded
    run = prog.run(poll=0.1)
    lost = kill_when_read(run, "ewma", batches=10)
    t = time.monotonic()
    with pytest.raises(wb.RunError) as info:
        run.wait(timeout=60)
    assert time.monotonic() - t < 30          # not hanging on the lost instance
    msg = str(info.value)
    assert lost in msg and "ewma[0]" in msg and "checkpoint=True" in msg, msg
    assert run.status == "failed"


def test_checkpoints_keep_the_last_two_and_the_default_folder_goes_at_the_end(
        cluster, tmp_path, monkeypatch):
    prog = source(120) >> scale >> keyed_count
    run = prog.run(epoch=10, checkpoint=str(tmp_path)).wait()
    folder = tmp_path / run.run_id
    states = sorted(p.name for p in folder.iterdir() if p.name.startswith("state-"))
    done = [c["epoch"] for c in run.ckpt.complete]
    assert len(done) >= 3, done
    assert states[-2:] == [f"state-{k:06d}" for k in done[-2:]]
    assert not [s for s in states if int(s[6:]) < done[-2]]      # older ones removed
    assert (folder / "sink").is_dir()                           # the output's logs stay

    monkeypatch.setenv("WORKBENCH_CHECKPOINTS", str(tmp_path / "default"))
    run = prog.run(epoch=10, checkpoint=True).wait()
    assert run.ckpt.complete and not (tmp_path / "default" / run.run_id).exists()
    np.testing.assert_allclose(run.output, reference(prog, data(120)))


def test_bad_requests_are_refused_plainly(cluster):
    prog = source(10) >> scale
    with pytest.raises(wb.GraphError, match="checkpoint must be True, a directory"):
        prog.run(checkpoint=3)
    with pytest.raises(wb.GraphError, match="no option checkpoint"):
        prog.run(engine="local", checkpoint=True)
    with pytest.raises(wb.GraphError, match="needs a worker address or stage"):
        wb.faults.kill()
    with pytest.raises(wb.GraphError, match="no worker 'tcp://nowhere:1'"):
        wb.faults.kill("tcp://nowhere:1")
    run = (wb.sources.generator(throttled) >> scale).run()
    try:
        with pytest.raises(wb.GraphError, match="has no stage 'nope'"):
            wb.faults.kill(stage="nope", run=run)
        assert run.status == "running"          # a bad request leaves the run running
    finally:
        run.stop()


# --- chaos: random programs, one worker killed at a random moment ---------------------------

# no shrinking: each example kills a worker (seconds each); the first failure is reported
# as drawn, with its note (program, hints, victim, moment) and its reproduce blob
CHAOS = settings(max_examples=int(os.environ.get("WB_CHAOS_TRIALS", "5")), deadline=None,
                 print_blob=True, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@CHAOS
@given(steps=steps_of(4),
       hints=st.lists(st.sampled_from([None, "compute", "storage"]), min_size=4, max_size=4),
       when=st.integers(5, 150), victim=st.integers(0, 2), epoch=st.sampled_from([10, 25]))
def test_chaos_random_programs_lose_a_worker_and_no_record(cluster, tmp_path, steps, hints,
                                                           when, victim, epoch):
    """``WB_CHAOS_TRIALS=20 pytest tests/cluster/test_recovery.py -k chaos`` for the full
    sweep (CI runs 5)."""
    whole(cluster)          # the nanny's replacement of the last example's victim
    prog = build(source(), steps)
    par, place = parallelism_of(prog, steps), placement_of(prog, steps, hints)
    calm = prog.run(parallelism=par, placement=place, epoch=epoch)
    finish(calm)
    run = prog.run(parallelism=par, placement=place, epoch=epoch, poll=0.1,
                   checkpoint=str(tmp_path / f"chaos-{time.monotonic_ns()}"))
    deadline = time.monotonic() + 60
    while sum(r[5] for r in run.metric_rows() if r[1] == "source") < when * 1024 \
            and not run.done and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = sorted(run.current.workers)
    target = workers[victim % len(workers)]
    note(f"{prog!r} parallelism={par} placement={place} epoch={epoch} kill {target} "
         f"({cluster.workers.get(target)}) after {when} batches; done before? {run.done}")
    if not run.done:
        wb.faults.kill(target)
    finish(run)
    event("a worker was killed mid-run" if len(run.recoveries) else "the run ended first")
    assert run.status == "finished", run.error
    np.testing.assert_allclose(run.output, reference(prog, data()),
                               err_msg=run.plan.describe())
    np.testing.assert_array_equal(run.output, calm.output)


def test_the_program_spreads_again_once_the_replacement_joins(cluster, tmp_path):
    prog = wb.sources.generator(throttled) >> scale >> keyed_count      # unbounded
    run = prog.run(parallelism={"keyed_count": 2}, epoch=20, checkpoint=str(tmp_path),
                   poll=0.1)
    # Two ways to end spread over two workers, both right: the recovery's restore finds
    # the nanny's replacement already joined and places an instance on it, or it restores
    # onto the one live compute worker and a live reconfiguration spreads the program
    # when the replacement joins (which one happens is a race with the nanny).
    def spread():
        if not len(run.recoveries) or run.recoveries.resumed_at.isna().any():
            return False
        if run.reconfigurations and not run.reconfigurations[0].done:
            return False
        return len(set(run.plan.units[1].workers)) == 2

    try:
        kill_when_read(run, "keyed_count", index=1)
        deadline = time.monotonic() + 60
        while not spread() and time.monotonic() < deadline and not run.done:
            time.sleep(0.05)
        assert len(set(run.plan.units[1].workers)) == 2, run.plan.describe()
        assert run.recoveries.iloc[0].lost not in run.plan.units[1].workers
        for rc in run.reconfigurations:                  # the spreading one, if it ran
            assert rc.wait(1).seconds("switched") is not None
    finally:
        run.stop()
    assert run.status == "stopped", run.error
    read = np.concatenate([throttled(i, pause=0)
                           for i in range(run.source_records // 1024)])
    np.testing.assert_allclose(run.output, reference(prog, read))
