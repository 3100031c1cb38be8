"""Peeking operators on the Dask engine: history across batches and hops, StreamIt fission
of a stateless peeking operator over parallel instances (each batch sent with the overlap
its firings need), stopped runs, and the plans that cannot work refused before anything
starts."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from tests.references import reference
from workbench.examples.quickstart import scale

from .ops import fir5, peek_max

DATA = np.random.default_rng(11).random(20_003)


@pytest.mark.parametrize("parallelism", [
    {}, {"fir5": 2}, {"fir5": 3}, {"peek_max": 2}, {"fir5": 2, "scale#2": 2},
])
@pytest.mark.parametrize("batch_size", [3, 1024])
def test_parallel_peeking_instances_equal_the_reference(session, parallelism, batch_size):
    prog = wb.sources.array(DATA, batch_size=batch_size) >> scale >> fir5 >> scale >> peek_max
    run = prog.run(parallelism=parallelism).wait()
    np.testing.assert_allclose(run.output, reference(prog), err_msg=run.plan.describe())
    for stage, p in parallelism.items():
        (unit,) = [u for u in run.plan.units if stage in u.stages]
        assert unit.parallelism == p and unit.fission is not None or stage == "scale#2"
        ran = run.metrics[run.metrics.segment.str.startswith(unit.segments[0])]
        assert ran.groupby("instance").records.max().gt(0).sum() == p   # all of them ran


def test_a_parallel_peeking_operator_first_in_the_program_gets_a_source_unit(session):
    prog = wb.sources.array(DATA, batch_size=500) >> fir5
    run = prog.run(parallelism={"fir5": 2}).wait()
    np.testing.assert_allclose(run.output, reference(prog))
    assert run.plan.units[0].stages == () and run.plan.units[1].parallelism == 2


def test_what_no_firing_read_is_reported_once_by_the_sender_of_the_instances(session):
    prog = wb.sources.array(DATA[:13], batch_size=4) >> peek_max       # 13 = 5 + 4*2 + 0
    prog2 = wb.sources.array(DATA[:14], batch_size=4) >> peek_max      # one record unread
    assert not len((r := prog.run(parallelism={"peek_max": 2}).wait()).events.query(
        "kind == 'leftover'")), r.events
    run = prog2.run(parallelism={"peek_max": 2}).wait()
    assert len(run.output) == 5
    (msg,) = run.events.query("kind == 'leftover'").message
    assert msg.startswith("peek_max: 1 record(s) at the end of the stream")


def test_a_stopped_run_with_parallel_peeking_gives_the_reference_of_what_was_read(session):
    prog = wb.sources.generator(lambda i: np.random.default_rng(i).random(1000)) >> fir5
    run = prog.run(duration=0.5, parallelism={"fir5": 2}).wait()
    read = np.concatenate([np.random.default_rng(i).random(1000)
                           for i in range(run.source_records // 1000)])
    np.testing.assert_allclose(run.output, reference(prog, read))


def test_parallel_peeking_behind_parallel_instances_is_refused_before_it_starts(session):
    prog = wb.sources.array(DATA) >> scale >> fir5
    with pytest.raises(wb.PlacementError) as e:
        prog.run(parallelism={"scale": 2, "fir5": 2})
    msg = str(e.value)
    assert "'fir5' peeks (5 records per firing)" in msg
    assert "2 instances of 'scale'" in msg and "Fix: run 'scale' with parallelism 1" in msg
