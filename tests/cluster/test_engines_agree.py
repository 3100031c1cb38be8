"""Property: for randomly composed programs of stateless, rate-changing and keyed stateful
operators, with random parallelism and placement, the Dask engine's output equals the local
engine's (the semantics oracle)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench as wb

from .ops import STATELESS, ewma, keyed_count

DATA = np.random.default_rng(3).random(40_000)

step = st.one_of(
    st.tuples(st.sampled_from(STATELESS), st.integers(1, 3)),
    st.tuples(st.just(keyed_count), st.integers(1, 3)),
    st.tuples(st.just(ewma), st.just(1)),
)


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=4),
       hints=st.lists(st.sampled_from([None, "compute", "storage"]), min_size=4, max_size=4),
       batch=st.sampled_from([1024, 4096]),
       size=st.integers(20_000, 40_000))
def test_dask_engine_equals_local_engine(session, steps, hints, batch, size):
    prog = wb.sources.array(DATA[:size], batch_size=batch)
    for op, _ in steps:
        prog = prog >> op
    names = prog.stage_names
    parallelism = {n: p for n, (_, p) in zip(names, steps) if p > 1}
    placement = {n: h for n, h in zip(names, hints) if h is not None}
    expected = prog.run(engine="local").wait().output
    run = prog.run(engine="dask", parallelism=parallelism, placement=placement).wait()
    np.testing.assert_allclose(run.output, expected, err_msg=run.plan.describe())
