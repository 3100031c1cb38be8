"""Properties of the Dask engine over random programs: stateless, rate-changing, peeking,
stateful, keyed and split-join elements, with random parallelism, placement, credits and batch
sizes, on bounded sources and on unbounded ones stopped by a duration. Every output is
judged by an independent numpy computation (tests/references.py), and the local engine
by the same reference. Hypothesis draws new examples on every run (no fixed seed) and
prints the one that failed."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import workbench as wb
from tests.references import reference
from workbench.examples.quickstart import scale

from .ops import PEEKING, STATELESS, ewma, keyed_count

DATA = np.random.default_rng(3).random(40_000)
SETTINGS = settings(max_examples=15, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

branch = st.lists(st.sampled_from(STATELESS + PEEKING), min_size=1, max_size=2).map(
    lambda ops: ops[0] if len(ops) == 1 else ops[0] >> ops[1])
fan = st.builds(lambda bs, split: wb.splitjoin(*bs, split=split),
                st.lists(branch, min_size=2, max_size=3),
                st.sampled_from(["duplicate", "roundrobin"]))
# parallel instances take whole batches: an operator that consumes several records per
# firing runs in parallel only where batches are multiples of that (not drawn here)
step = st.one_of(
    st.tuples(st.sampled_from([op for op in STATELESS if op.consumes == 1]),
              st.integers(1, 3)),
    st.tuples(st.sampled_from(STATELESS), st.just(1)),
    st.tuples(st.just(keyed_count), st.integers(1, 3)),
    st.tuples(st.just(ewma), st.just(1)),
    st.tuples(fan, st.just(1)),
    st.tuples(st.sampled_from(PEEKING), st.integers(1, 3)),
)


def feasible(steps):
    """Parallel instances of a peeking operator get their history from the one sender of
    the stream before them (StreamIt fission): behind parallel instances, it runs alone
    (that plan is refused, see test_peek_cluster)."""
    out = []
    for el, p in steps:
        if el in PEEKING and out and out[-1][1] > 1:
            p = 1
        out.append((el, p))
    return out


def steps_of(n):
    return st.lists(step, min_size=1, max_size=n).map(feasible)


def build(source, steps):
    prog = source
    for el, _ in steps:
        prog = prog >> el
    return prog


def finish(run, timeout=120):
    """Wait for the run; a run that does not end fails the example with its plan and where
    each live instance is, and is stopped (the next example gets a quiet cluster)."""
    try:
        run.wait(timeout=timeout)
    except TimeoutError:
        where = run.where()
        run.stop(timeout=10)
        raise AssertionError(f"the run did not end in {timeout} s:\n{run.plan.describe()}\n"
                             f"where it is: {where}") from None


def stages_by_step(prog, steps):
    """The program's stage names of each drawn element, in order."""
    names, out = iter(prog.stage_names), []
    for el, _ in steps:
        k = len(list(wb.Pipeline(None, (el,)).walk()))
        out.append([next(names) for _ in range(k)])
    return out


def one(stage: str) -> str:
    """A hint's name for exactly this stage: ``add1`` means every add1, ``add1#1`` the first
    (the stage named ``add1``) alone."""
    return stage if "#" in stage else f"{stage}#1"


def parallelism_of(prog, steps):
    """The drawn parallelism, by the stage that starts each element."""
    return {one(names[0]): p for names, (_, p) in zip(stages_by_step(prog, steps), steps)
            if p > 1}


def placement_of(prog, steps, hints):
    """The drawn hints: one per element (a split-join runs in one place)."""
    out = {}
    for names, hint in zip(stages_by_step(prog, steps), hints):
        if hint is not None:
            out.update(dict.fromkeys(map(one, names), hint))
    return out


@SETTINGS
@given(steps=steps_of(4),
       hints=st.lists(st.sampled_from([None, "compute", "storage"]), min_size=4,
                      max_size=4),
       batch=st.sampled_from([1024, 4096]), credits=st.integers(1, 8),
       size=st.integers(8_000, 40_000))
def test_random_programs_equal_their_numpy_reference(session, steps, hints, batch, credits,
                                                     size):
    prog = build(wb.sources.array(DATA[:size], batch_size=batch), steps)
    expected = reference(prog)
    par, place = parallelism_of(prog, steps), placement_of(prog, steps, hints)
    note(f"{prog!r} parallelism={par} placement={place} credits={credits}")
    run = prog.run(engine="dask", parallelism=par, placement=place, credits=credits)
    finish(run)
    np.testing.assert_allclose(run.output, expected, err_msg=run.plan.describe())
    np.testing.assert_allclose(prog.run(engine="local").wait().output, expected)


def generated(i):
    return np.random.default_rng(i).random(2048)


@SETTINGS
@given(steps=steps_of(3), credits=st.integers(1, 4),
       duration=st.sampled_from([0.3, 0.8]))
def test_unbounded_sources_stopped_by_duration_give_the_reference_of_what_was_read(
        session, steps, credits, duration):
    prog = build(wb.sources.generator(generated), steps)
    note(f"{prog!r} parallelism={parallelism_of(prog, steps)} credits={credits}")
    run = prog.run(duration=duration, credits=credits,
                   parallelism=parallelism_of(prog, steps))
    finish(run)
    assert run.status == "finished" and run.source_records % 2048 == 0
    assert run.source_records > 0, f"nothing read in {duration} s:\n{run.plan.describe()}"
    read = np.concatenate([generated(i) for i in range(run.source_records // 2048)] or
                          [np.empty(0)])
    np.testing.assert_allclose(run.output, reference(prog, read), err_msg=run.plan.describe())


def test_the_quickstart_program_on_one_worker_equals_its_reference(session):
    prog = wb.sources.array(DATA, batch_size=4096) >> scale >> ewma
    np.testing.assert_allclose(prog.run().wait().output, reference(prog))
