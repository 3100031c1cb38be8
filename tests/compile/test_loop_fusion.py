"""Loop fusion compiled with numba on the local engine: chains of element-wise operators
and the loop after them run as one loop and equal numpy for any batch size; numpy's
arithmetic where it differs from a record's (division by zero, float32) is kept or the
loop is not used, and the run says so; the record code of a run equals the operators on
arrays, special values included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import workbench as wb
from tests.pure.test_loops import EW
from workbench.bench.fusion import reference
from workbench.bench.ops import ELEMENTWISE, chain, fir, smooth
from workbench.bench.stream import batch
from workbench.compile import CompiledSegment
from workbench.compile.loops import pre_text
from workbench.model.fusion import plan_segments

B = 65536


def program(ops, data, batch_size=4096):
    prog = wb.sources.array(data, batch_size=batch_size)
    for op in ops:
        prog = prog >> op
    return prog


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("batch_size", [1, 1000, B])
def test_fused_chains_equal_numpy(k, batch_size):
    data = np.concatenate([batch(i, B) for i in range(2)])
    if batch_size == 1:
        data = data[:3000]
    run = program(chain(k), data, batch_size).run(engine="local").wait()
    expected = reference(k, 2)[:len(data)]
    np.testing.assert_allclose(run.output, expected, rtol=1e-12)
    assert [s.loops for s in run.plan] == [("+".join(op.name for op in chain(k)),)]
    assert not len(run.events.query("kind == 'note'"))


def test_the_fused_loop_serves_every_batch_after_the_first():
    (seg,) = plan_segments(program(chain(4), np.zeros(1)))
    cs = CompiledSegment(seg)
    assert cs.loops == ("gain+clamp+leaky+poly+smooth",)
    states = cs.new_states()
    cs(batch(0, B), states, 0)
    assert cs._fused_ok == {np.dtype(np.float64): True}
    # the same state through the fused loop, and through the operators one by one
    plain = [s.copy() if s is not None else None for s in states]
    y = cs(batch(1, B), states, 1)
    z = cs._fn(batch(1, B), *[s for s in plain if s is not None])
    np.testing.assert_allclose(y, z, rtol=1e-12)
    np.testing.assert_allclose(states[-1], plain[-1], rtol=1e-12)


@wb.operator
def inverse(x):
    return 1.0 / x


@wb.operator
def halve(x):
    return x * 0.5


def test_division_by_zero_gives_inf_as_on_arrays():
    data = np.array([0.0, 2.0, -0.0, 4.0] * 10)
    run = program([inverse, halve, smooth], data, 8).run(engine="local").wait()
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = smooth.func(1.0 / data * 0.5, np.zeros(1))
    np.testing.assert_array_equal(run.output, ref)     # inf, not ZeroDivisionError
    assert not len(run.events.query("kind == 'note'"))


def test_a_fused_loop_reports_one_row_group_per_user_operator():
    from workbench.examples.quickstart import mean4

    data = batch(0, B)[:20000]
    ops = [*chain(2), mean4, halve]            # gain, clamp, smooth: one loop; then 4:1, 1:1
    run = program(ops, data, 4000).run(engine="local").wait()
    assert run.plan[0].loops == ("gain+clamp+smooth",)
    df = run.metrics
    rows = df[~df.stage.isin(["source", "sink"])]
    per = rows.groupby("stage", sort=False)[["records", "records_out"]].sum()
    n = len(data)
    assert per.index.tolist() == ["gain", "clamp", "smooth", "mean4", "halve"]
    assert per.to_dict("index") == {
        "gain": {"records": n, "records_out": n}, "clamp": {"records": n, "records_out": n},
        "smooth": {"records": n, "records_out": n},
        "mean4": {"records": n, "records_out": n // 4},
        "halve": {"records": n // 4, "records_out": n // 4}}
    assert set(rows.segment) == {"gain+clamp+smooth+mean4+halve"}   # the fused unit's column
    # batch latency is the fused unit's: the same on each operator's row of a sample
    assert (rows.groupby("time").latency_ms.nunique(dropna=False) == 1).all()
    assert len(run.output) == n // 4


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_other_dtypes_get_what_the_operators_one_by_one_give(dtype, monkeypatch):
    data = (np.linspace(-2, 2, 5000) * (1 if dtype == np.float32 else 100)).astype(dtype)
    run = program(chain(4), data, 1000).run(engine="local").wait()
    monkeypatch.setenv("WORKBENCH_LOOP_FUSION", "0")
    plain = program(chain(4), data, 1000).run(engine="local").wait()
    assert run.output.dtype == plain.output.dtype
    np.testing.assert_allclose(run.output, plain.output, rtol=1e-12)


@wb.operator
def over(x):
    return x > 0.5


@wb.operator
def both(x):
    return x + x          # on arrays of bools: "or"; on two records of bool: 0, 1 or 2


def test_a_loop_that_disagrees_with_the_operators_is_not_used_and_the_run_says_why():
    data = np.linspace(0, 1, 100)
    run = program([over, both], data, 10).run(engine="local").wait()
    assert run.output.dtype == np.bool_
    np.testing.assert_array_equal(run.output, data > 0.5)
    (note,) = run.events.query("kind == 'note'").message
    assert note == ("segment 'over+both': the fused loop(s) over+both are not used for "
                    "float64 records (records of int64 instead of bool); its operators run "
                    "one after another")


def test_a_loop_reading_neighbours_fuses_with_the_run_before_it():
    data = batch(0, B)[:20000]
    run = program([ELEMENTWISE[0], ELEMENTWISE[1], fir], data, 3000).run(
        engine="local").wait()
    x = np.minimum(np.maximum(data * 1.5 - 0.25, -1.0), 1.0)
    taps = fir.func.__globals__["TAPS"]
    np.testing.assert_allclose(run.output, np.convolve(x, taps)[:len(x)], rtol=1e-10)
    assert run.plan[0].loops == ("gain+clamp+fir",)


def test_without_loop_fusion_the_plan_has_no_loops(monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOOP_FUSION", "0")
    (seg,) = plan_segments(program(chain(2), np.zeros(1)))
    assert CompiledSegment(seg).loops == ()


# --- the record-by-record code of a run, compiled, against the operators on arrays -------------

def compiled_pre(ops):
    import numba

    space = {"np": np, "__wb_scalar__": numba.njit(error_model="numpy")}
    exec(pre_text(list(ops)), space)   # noqa: S102 - our generated code, under test
    return space["__wb_pre"]


values = hnp.arrays(np.float64, st.integers(1, 40),
                    elements=st.one_of(st.floats(-10, 10), st.sampled_from(
                        [0.0, -0.0, 0.5, np.inf, -np.inf, np.nan])))


@settings(max_examples=40, deadline=None)
@given(x=values, chain=st.lists(st.sampled_from(EW[:3] + [op.func for op in ELEMENTWISE]),
                                min_size=1, max_size=4))
def test_record_code_of_a_run_equals_the_operators_on_arrays(x, chain):
    ops = [wb.operator(f, name=f"{f.__name__}{i}") for i, f in enumerate(chain)]
    with np.errstate(all="ignore"):
        expected = x
        for op in ops:
            expected = op.func(expected)
    pre = compiled_pre(ops)
    got = np.array([pre(v) for v in x])
    np.testing.assert_array_equal(got, expected)


def bounds(x):
    return np.minimum(np.maximum(x, -1.0), 1.0)


def bounds_mixed(x):
    return np.maximum(2, x) + np.minimum(np.float32(0.5), x) + np.clip(x, -3, 4.5)


def bounds_zero(x):
    return np.minimum(x, 0.0) - np.maximum(-0.0, x)


@pytest.mark.parametrize("f, fast", [(bounds, True), (bounds_mixed, True),
                                     (bounds_zero, False)])
def test_a_bound_by_a_nonzero_number_is_min_or_max_and_agrees_on_special_values(f, fast):
    op = wb.operator(f)
    text = pre_text([op])
    assert ("np.minimum" not in text and "np.maximum" not in text) == fast, text
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 4.5, -3.0,
                  7.25, -1e300])
    expected = f(x)
    pre = compiled_pre([op])
    got = np.array([pre(v) for v in x])
    np.testing.assert_array_equal(got, expected)           # NaN where numpy has NaN
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))   # -0.0 kept
