"""The local engine (the semantics oracle) with real numba compilation."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.runtime import metrics

K = 3.0


@wb.operator(state=np.zeros(1), key=lambda b: b.astype(np.int64) % 5, key_groups=8)
def count_per_key(x, state):
    out = np.empty(x.size, np.float64)
    for i in range(x.size):
        state[0] += 1
        out[i] = state[0]
    return out


@wb.operator
def times_k(x):
    return x * K


def reference(data):
    return np.cumsum((data * 2.0).reshape(-1, 4).sum(axis=1) / 4.0)


@pytest.mark.parametrize("batch_size", [4, 6, 64, 1000])
def test_chain_matches_numpy_for_any_batch_size(batch_size):
    data = np.random.default_rng(0).random(4000)
    prog = wb.sources.array(data, batch_size=batch_size) >> scale >> mean4 >> running_sum
    run = prog.run(engine="local")
    np.testing.assert_allclose(run.wait().output, reference(data))
    assert run.status == "finished"
    assert run.source_records == 4000


def test_metrics_have_one_row_per_operator_even_when_fused():
    data = np.arange(4096.0)
    prog = wb.sources.array(data, batch_size=256) >> scale >> mean4 >> running_sum
    run = prog.run(engine="local", interval=0.05).wait()
    df = run.metrics
    assert list(df.columns) == metrics.COLUMNS
    assert set(df.segment[df.stage.isin(["scale", "mean4", "running_sum"])]) == {
        "scale+mean4+running_sum"}                           # one fused function ...
    per = df.groupby("stage")[["records", "records_out", "batches"]].sum()
    assert per.loc["scale"].tolist() == [4096, 4096, 16]     # ... one row per operator,
    assert per.loc["mean4"].tolist() == [4096, 1024, 16]     # its records from the rates
    assert per.loc["running_sum"].tolist() == [1024, 1024, 16]
    assert per.loc["source", "records"] == 4096 and per.loc["sink", "records"] == 1024
    first = df[df.time == 0.0]                               # a first sample at the start
    assert set(first.stage) == {"source", "scale", "mean4", "running_sum", "sink"}
    assert (df.worker == "local").all() and (df.instance == 0).all()
    assert run.placement == {"scale": ["local"], "mean4": ["local"], "running_sum": ["local"]}
    assert run.channels.empty and list(run.channels.columns) == \
        metrics.CHANNEL_COLUMNS


def test_leftover_records_are_reported():
    run = (wb.sources.array(np.arange(10.0), batch_size=3) >> mean4).run(engine="local").wait()
    np.testing.assert_allclose(run.output, [1.5, 5.5])
    assert run.events.kind.str.contains("leftover").any()
    assert "2 record(s)" in " ".join(run.events.message)


def test_splitjoin_duplicate_and_roundrobin():
    data = np.arange(16.0)
    fan = wb.sources.array(data, batch_size=5) >> wb.splitjoin(scale, mean4 >> scale)
    dup = fan.run(engine="local")
    out = dup.wait().output
    expect = []
    for blk in data.reshape(-1, 4):
        expect += list(blk * 2.0) + [blk.mean() * 2.0]
    np.testing.assert_allclose(out, expect)
    rr = (wb.sources.array(data, batch_size=3) >> wb.splitjoin(scale, times_k,
                                                              split="roundrobin")).run(engine="local")
    expect_rr = np.empty(16)
    expect_rr[0::2], expect_rr[1::2] = data[0::2] * 2.0, data[1::2] * K
    np.testing.assert_allclose(rr.wait().output, expect_rr)


def spec_group(key: int, groups: int) -> int:
    """The key group of a key, as documented for @wb.operator(key=...): Fibonacci hashing,
    written here in Python integers (not the engine's numpy/numba code)."""
    return ((key * 11400714819323198485) % 2**64 >> 33) % groups


def test_keyed_state_is_per_key_group_and_records_keep_input_order():
    data = np.arange(200.0) % 7          # keys 0..4 via the key function
    run = (wb.sources.array(data, batch_size=64) >> count_per_key).run(engine="local").wait()
    counts, expect = np.zeros(8), []     # sequential: record by record, in input order
    for x in data:
        g = spec_group(int(x) % 5, 8)
        counts[g] += 1
        expect.append(counts[g])
    np.testing.assert_array_equal(run.output, expect)
    st = run.state("count_per_key")
    assert st.shape == (8, 1) and st.sum() == 200
    np.testing.assert_array_equal(st[:, 0], counts)


def test_plain_python_operator_and_disable_jit(monkeypatch):
    calls = []

    @wb.operator(jit=False)
    def log(x):
        calls.append(len(x))
        return x

    prog = wb.sources.array(np.arange(8.0), batch_size=4) >> log >> scale
    run = prog.run(engine="local").wait()
    np.testing.assert_allclose(run.output, np.arange(8.0) * 2)
    assert calls == [4, 4]
    # WORKBENCH_DISABLE_JIT=1: every operator runs as plain Python; one numba cannot type
    # (a Python dict lookup) fails to compile without it and runs with it
    lookup = {0.0: 10.0}

    @wb.operator
    def by_dict(x):
        return np.array([lookup.get(v, v) for v in x])

    prog = wb.sources.array(np.arange(12.0), batch_size=5) >> scale >> mean4 >> by_dict
    with pytest.raises(wb.CompileError, match="by_dict"):
        prog.run(engine="local")
    monkeypatch.setenv("WORKBENCH_DISABLE_JIT", "1")
    run = prog.run(engine="local").wait()
    assert not any(cs.jit for cs in run.compiled.values())
    x = np.arange(12.0) * 2.0
    expected = x.reshape(-1, 4).mean(axis=1)
    np.testing.assert_allclose(run.output, [lookup.get(v, v) for v in expected])


def test_constant_globals_are_part_of_the_artifact_key():
    global K
    data = np.arange(4.0)
    first = (wb.sources.array(data) >> times_k).run(engine="local").wait().output
    K = 5.0
    try:
        second = (wb.sources.array(data) >> times_k).run(engine="local").wait().output
    finally:
        K = 3.0
    np.testing.assert_allclose(first, data * 3.0)
    np.testing.assert_allclose(second, data * 5.0)


def test_generator_source_with_batches_and_duration():
    gen = wb.sources.generator(lambda i: np.full(100, float(i)))
    run = (gen >> scale).run(engine="local", batches=3).wait()
    np.testing.assert_allclose(run.output, np.repeat([0.0, 2.0, 4.0], 100))
    forever = (gen >> scale).run(engine="local", sink="discard")   # unbounded: runs until stopped
    time.sleep(0.2)
    assert forever.status == "running"
    forever.stop()
    assert forever.status == "stopped" and forever.source_records > 0
    timed = (gen >> scale).run(engine="local", duration=0.3, sink="discard")
    timed.wait(timeout=30)            # raises TimeoutError when the duration is not kept
    assert timed.status == "finished" and timed.source_records > 0


def test_stop_ends_an_unbounded_run():
    run = (wb.sources.generator(lambda i: np.ones(1000)) >> scale).run(engine="local", duration=60,
                                                                       sink="discard")
    time.sleep(0.3)
    run.stop()
    assert run.status == "stopped" and run.source_records > 0


def test_wrong_output_length_names_operator_and_batch():
    @wb.operator(consumes=2, produces=1)
    def halve(x):
        if x[0] >= 8:
            return x[:1]
        return x[::2].copy()

    run = (wb.sources.array(np.arange(16.0), batch_size=4) >> halve).run(engine="local")
    with pytest.raises(wb.OperatorError) as info:
        run.wait()
    msg = str(info.value)
    assert "operator 'halve' broke its declared rates on batch 2" in msg
    assert "4 records in -> 2 out, but it returned 1" in msg
    assert info.value.seq == 2 and run.status == "failed"
    np.testing.assert_allclose(run.output, [0.0, 2.0, 4.0, 6.0])  # earlier batches kept


def test_failing_operator_in_a_fused_segment_is_named():
    @wb.operator
    def explode(x):
        if x[0] > 10:
            raise ValueError("bad record")
        return x

    run = (wb.sources.array(np.arange(32.0), batch_size=8) >> scale >> explode).run(engine="local")
    with pytest.raises(wb.OperatorError, match="operator 'explode' failed on batch 1"):
        run.wait()


def test_typing_error_names_operator_line_and_jit_false():
    @wb.operator
    def bad(x):
        y = x + 1
        return y + "a"

    with pytest.raises(wb.CompileError) as info:
        (wb.sources.array(np.arange(4.0)) >> scale >> bad).run(engine="local").wait()
    msg = str(info.value)
    assert "operator 'bad' does not compile with numba" in msg
    assert 'return y + "a"' in msg
    assert "jit=False" in msg


def test_returning_a_scalar_is_explained():
    @wb.operator
    def total(x):
        return x.sum()

    with pytest.raises(wb.CompileError, match="operator 'total'"):
        (wb.sources.array(np.arange(4.0)) >> total).run(engine="local").wait()


def test_direct_call_uses_the_compiled_operator():
    np.testing.assert_allclose(scale(np.arange(3.0)), [0.0, 2.0, 4.0])
    st = np.zeros(1)
    np.testing.assert_allclose(running_sum(np.ones(3), st), [1, 2, 3])
    assert st[0] == 3
