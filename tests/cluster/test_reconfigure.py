"""Live reconfiguration on the Dask engine: random programs (stateless, rate-changing,
peeking, stateful, keyed, split-join) under random sequences of one to three
reconfigurations (parallelism and placement; live and restart) at random moments give
the output, bit for bit, of the same engine's run of the same input never reconfigured,
and the numpy reference's. Then the mechanism's parts: what moves, the timeline, and bad
requests refused while the program runs on."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import workbench as wb
from tests.references import reference
from workbench.examples.quickstart import mean4, running_sum, scale

from .ops import PEEKING, STATELESS, keyed_count, throttled
from .test_random_programs import build, finish, one, stages_by_step, steps_of

SETTINGS = settings(max_examples=30, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def allowed(el) -> list[int]:
    """Parallelism an element may have (whole batches: see test_random_programs)."""
    if el is keyed_count or el in PEEKING:
        return [1, 2, 3]
    if el in STATELESS and el.consumes == 1:
        return [1, 2, 3]
    return [1]


@st.composite
def configuration(draw, steps):
    """Parallelism and placement for every element; parallel peeking operators run
    behind one instance (StreamIt fission), as the planner requires."""
    par, place, prev = [], [], 1
    for el, _ in steps:
        p = draw(st.sampled_from(allowed(el)))
        if el in PEEKING and prev > 1:
            p = 1
        par.append(p)
        place.append(draw(st.sampled_from([None, "compute", "storage"])))
        prev = p
    return par, place


def hints(prog, steps, config):
    par, place = config
    names = stages_by_step(prog, steps)
    parallelism = {one(n[0]): p for n, p in zip(names, par)}
    placement = {one(s): h for n, h in zip(names, place) if h for s in n}
    return parallelism, placement


@SETTINGS
@given(data=st.data(), steps=steps_of(4), credits=st.integers(1, 6),
       size=st.sampled_from([512, 1024]))
def test_reconfigured_runs_equal_the_run_never_reconfigured(session, data, steps, credits,
                                                            size):
    prog = build(wb.sources.generator(functools.partial(throttled, size=size)), steps)
    start = hints(prog, steps, data.draw(configuration(steps), label="start"))
    changes = data.draw(st.lists(st.tuples(configuration(steps),
                                           st.floats(0.05, 0.3),
                                           st.sampled_from(["live", "live", "restart"])),
                                 min_size=1, max_size=3), label="reconfigurations")
    note(f"{prog!r} start={start} credits={credits}")
    run = prog.run(parallelism=start[0], placement=start[1], credits=credits)
    rcs = []
    for config, pause, mode in changes:
        time.sleep(pause)
        par, place = hints(prog, steps, config)
        rcs.append(run.reconfigure(parallelism=par, placement=place, mode=mode))
        note(f"reconfigure({par}, {place}, {mode})")
    for rc in rcs:
        rc.wait(120)
        note(f"{rc}: switched at batch {rc.switch}")
    time.sleep(0.1)
    run.stop()
    finish(run)
    assert run.status == "stopped" and len(run.gens) == len(rcs) + 1
    batches = run.source_records // size
    assert batches > max(rc.switch for rc in rcs)          # every switch inside the run
    # every part of every cut went from the old instance to the new one's worker directly
    assert [rc.via_client for rc in rcs] == [0] * len(rcs)
    once = prog.run(batches=batches, parallelism=start[0], placement=start[1],
                    credits=credits).wait()
    np.testing.assert_array_equal(run.output, once.output, err_msg=run.plan.describe())
    read = np.concatenate([throttled(i, size, 0) for i in range(batches)])
    np.testing.assert_allclose(run.output, reference(prog, read))


# --- the mechanism ---------------------------------------------------------------------------

def slow_trio():
    return (wb.sources.generator(functools.partial(throttled, size=4096, pause=0.004))
            >> scale >> mean4 >> running_sum)


def test_the_timeline_names_each_phase_and_the_state_that_moved(session):
    run = slow_trio().run()
    time.sleep(0.3)
    rc = run.reconfigure(placement={"running_sum": "storage"}).wait(60)
    tl = rc.timeline
    at = dict(zip(tl.phase, tl.seconds))
    assert sorted(at) == sorted(["requested", "compiled", "started", "switched", "state moved",
                                 "drained", "freed"])
    assert at["requested"] < at["compiled"] < at["started"] < at["switched"]
    assert at["switched"] <= min(at["state moved"], at["drained"]) <= at["freed"]
    assert f"at batch {rc.switch}" in tl.set_index("phase").detail["switched"]
    moved = tl.set_index("phase").detail["state moved"]
    # running_sum's state (one float64) went to the storage worker (mean4 holds nothing
    # between 4096-record batches), straight from the old instance, not via the client
    assert rc.bytes_moved == 8 and rc.bytes_kept == 0 and rc.via_client == 0
    assert f"{rc.bytes_moved:,} bytes to another worker" in moved
    assert moved.endswith("worker to worker")
    assert run.plan.units[-1].stages == ("running_sum",) and len(run.plan.units) == 2
    assert run.reconfigurations == [rc]
    kinds = run.events.query("kind == 'reconfigure'").message.str.split(":").str[0].tolist()
    assert sorted(kinds) == sorted(tl.phase)
    time.sleep(0.6)                         # samples of the new plan
    run.stop()
    assert run.status == "stopped"
    # metrics keep one row per user operator through the re-fusion: running_sum counted
    # in the fused segment before the switch, in a segment of its own on storage after it
    m = run.metrics
    rs = m[(m.stage == "running_sum") & (m.records > 0)]
    assert set(rs.segment) == {"scale+mean4+running_sum", "running_sum"}
    storage = {w for w, kind in run.session.workers.items() if "storage" in kind}
    assert set(rs[rs.segment == "running_sum"].worker) <= storage
    assert rs[rs.segment == "scale+mean4+running_sum"].time.max() <= \
        rs[rs.segment == "running_sum"].time.max()
    for stage in ("scale", "mean4", "running_sum"):
        assert set(m[(m.stage == stage) & (m.records > 0)].segment) <= {
            "scale+mean4+running_sum", "scale+mean4", "running_sum"}
    # records per operator follow the rates over the whole run, both plans together
    into = m.groupby("stage").records.sum()
    assert into["mean4"] == into["scale"] and into["running_sum"] * 4 == into["mean4"]


def _frozen(dask_worker=None) -> int:
    import gc

    return gc.get_freeze_count()


def test_workers_keep_what_a_program_loaded_out_of_full_collections(session):
    """A full garbage collection scans a worker's whole heap with the GIL held: 113 ms on
    these machines, an empty 100 ms window when it fell in a live switch. While a program
    runs, what its instances loaded is frozen (out of the collector's scans), in its first
    plan and in the one a switch starts; once no run is left on a worker, the heap goes
    back to the collector and is collected (cycles in it are not kept for ever)."""
    run = slow_trio().run()
    time.sleep(0.3)
    first = run.current.workers
    assert all(n > 0 for n in session.client.run(_frozen, workers=first).values())
    storage = [w for w, kind in session.workers.items() if "storage" in kind]
    assert not set(storage) & set(first)
    run.reconfigure(placement={"running_sum": "storage"}).wait(60)
    assert all(n > 0 for n in session.client.run(_frozen, workers=storage).values())
    run.stop()
    assert set(session.client.run(_frozen).values()) == {0}


def test_a_second_request_waits_for_the_first(session):
    run = slow_trio().run()
    time.sleep(0.2)
    a = run.reconfigure(placement={"running_sum": "storage"})
    b = run.reconfigure(placement={"running_sum": "compute"})
    b.wait(60)
    assert a.done and a.switch < b.switch and len(run.gens) == 3
    # b was planned at once, but compiled only once a had freed the old instances
    assert b.requested + b.seconds("compiled") >= a.requested + a.seconds("freed")
    run.stop()


@pytest.mark.parametrize("change,message", [
    ({"parallelism": {"nope": 2}}, "nope"),
    ({"placement": {"scale": "tcp://127.0.0.1:1"}}, "tcp://127.0.0.1:1"),
    ({"parallelism": {"running_sum": 2}}, "running_sum"),
    ({"mode": "sideways"}, "mode must be 'live' or 'restart'"),
])
def test_bad_requests_are_refused_and_the_program_runs_on(session, change, message):
    run = slow_trio().run()
    time.sleep(0.2)
    with pytest.raises(wb.WorkbenchError, match=message):
        run.reconfigure(**change)
    assert run.status == "running" and len(run.gens) == 1
    time.sleep(0.2)
    run.stop()
    assert run.status == "stopped" and run.source_records > 0


def test_a_finished_run_cannot_be_reconfigured(session):
    run = (wb.sources.array(np.zeros(4096)) >> scale).run().wait()
    with pytest.raises(wb.RunError, match="finished: only a running program"):
        run.reconfigure(parallelism={"scale": 2})


def _fence_on_a_worker(lead_s: float, dask_worker=None) -> dict:
    """On a real worker: a reader claims 200 sequence numbers about a millisecond apart;
    phase 1 of a stop with ``lead_s``; what the reader may still claim before phase 2,
    and what it may not."""
    import threading

    from workbench.runtime.stream import worker as W
    from workbench.runtime.stream.instance import _claim

    run_id = f"fence-test-{lead_s}"
    rs = W.run_state(dask_worker, run_id)
    rs.first_claims[0] = (time.monotonic(), 0)     # the reader starts, as _inputs records
    try:
        for seq in range(200):
            assert _claim(rs, 0, "r", seq)
            time.sleep(0.001)
        high = W.reader_positions(run_id, dask_worker, gen=0, lead_s=lead_s)
        went_on = [s for s in range(200, high + 1) if _claim(rs, 0, "r", s, patience=1.0)]
        got: dict = {}
        t = threading.Thread(target=lambda: got.update(at_fence=_claim(rs, 0, "r", high + 1)))
        t.start()
        t.join(0.3)
        waited = t.is_alive()                 # held at the fence until the stop point
        W.stop_readers_at(run_id, high + 1, dask_worker, gen=0)
        t.join(5)
        return {"high": high, "went_on": len(went_on), "waited": waited,
                "at_fence": got.get("at_fence")}
    finally:
        W.abort(run_id, dask_worker)
        W.dataplane(dask_worker).runs.pop(run_id, None)


def test_a_live_switch_lets_the_old_readers_read_on_while_the_stop_point_is_decided(session):
    """Phase 1 of a live switch gives the old readers a fence about ``lead_s`` of reading
    ahead: they claim up to it without waiting for phase 2 (the source does not pause
    for the client's round trip), wait at it, and read nothing at or past the stop
    point. Phase 1 of a stop (no lead) holds them at once."""
    addr = sorted(session.client.scheduler_info()["workers"])[0]
    live = session.client.run(_fence_on_a_worker, 0.05, workers=[addr])[addr]
    # about 1,000 claims/s for 50 ms: tens of sequence numbers past the last claim (199)
    assert 5 <= live["went_on"] == live["high"] - 199 <= 100, live
    assert live["waited"] and live["at_fence"] is False, live
    stop = session.client.run(_fence_on_a_worker, 0.0, workers=[addr])[addr]
    assert stop["high"] == 199 and stop["went_on"] == 0, stop
    assert stop["waited"] and stop["at_fence"] is False, stop
