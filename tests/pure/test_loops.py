"""Loop fusion analysis: which operators are element-wise, which loop over their records,
which runs become one loop, and what the plan says (the record-by-record code itself is
judged compiled, in tests/compile/test_loop_fusion.py)."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.bench.ops import ELEMENTWISE, fir, smooth
from workbench.model.fusion import plan_segments
from workbench.model.loops import elementwise, loop_groups, loop_reads

LIMIT = 0.5
from numpy import maximum as upper  # noqa: E402 - a ufunc under another name


def make(func, **kw):
    return wb.operator(func, **kw)


def ew_local(x):
    y = x * 2.0
    z = np.where(y > LIMIT, y - LIMIT, -y)
    return np.clip(z, -1.0, 1.0) + upper(x, 0.25)


def ew_where_ints(x):
    return np.where(x > 0, 1, 0)


def ew_div(x):
    return 1.0 / x - np.sqrt(np.abs(x)) ** 0.5 + x % 0.3 + x // 0.7


def ew_mask(x):
    return (x > 0.1) & (x < 0.9) | (x == 0.5)


K = np.float64(0.75)


def ew_generic(x):
    return x * np.float32(2.5) + np.int64(3) - K


EW = [ew_local, ew_where_ints, ew_div, ew_mask, ew_generic]


def not_reduction(x):
    return x - np.mean(x)


def not_method(x):
    return (x * 2).astype(np.int64)


def not_index(x):
    return x[::-1] * 2.0


def not_array_global(x):
    return x * TAPS


def not_chained_compare(x):
    return np.where(0 < x < 1, x, 0.0)


def not_bool_op(x):
    return np.where(x > 0 and x < 1, x, 0.0)


def not_constant(x):
    return np.zeros(3)


def not_two_statements(x):
    if x.size:
        return x
    return x


TAPS = np.ones(3)
NOT_EW = [not_reduction, not_method, not_index, not_array_global, not_chained_compare,
          not_bool_op, not_constant, not_two_statements]


@pytest.mark.parametrize("func", EW + [op.func for op in ELEMENTWISE], ids=lambda f: f.__name__)
def test_element_wise_operators_are_recognised(func):
    assert elementwise(make(func)) is not None


@pytest.mark.parametrize("func", NOT_EW, ids=lambda f: f.__name__)
def test_anything_else_is_not_element_wise(func):
    assert elementwise(make(func)) is None


def test_rates_state_keys_peek_and_plain_python_are_never_element_wise():
    f = ew_local
    assert elementwise(make(f, consumes=2)) is None
    assert elementwise(make(f, peek=3)) is None
    assert elementwise(make(f, jit=False)) is None
    assert elementwise(make(lambda x: x * 2.0, name="lam")) is None     # no def to read
    assert elementwise(smooth) is None


def loop_with_helper(x, state):
    out = np.empty_like(x)
    helper(x, out)
    return out


def helper(x, out):
    out[:] = x


def loop_writes_input(x, state):
    for i in range(x.size):
        x[i] = x[i] * 2
        state[0] += x[i]
    return x


def loop_slices(x, state):
    out = np.empty_like(x)
    out[:] = x[:]
    return out


def loop_uses_dtype(x, state):
    out = np.empty(x.size, x.dtype)
    for i in range(len(x)):
        out[i] = x[i]
    return out


def test_loops_reading_one_record_at_a_time_can_be_read_through():
    assert loop_reads(smooth) is not None
    assert loop_reads(fir) is not None                       # reads x[i - j] too
    for f in (loop_with_helper, loop_writes_input, loop_slices, loop_uses_dtype):
        assert loop_reads(make(f, state=np.zeros(1))) is None, f.__name__


def test_runs_become_one_loop_with_the_loop_after_them():
    a, b, c = ELEMENTWISE[:3]
    other = make(not_reduction)
    assert loop_groups((a, b, c, smooth)) == ((0, 4),)
    assert loop_groups((a, smooth)) == ((0, 2),)
    assert loop_groups((a,)) == ()                           # one operator alone: as it is
    assert loop_groups((a, b)) == ((0, 2),)
    assert loop_groups((a, other, b, c, other, smooth, a)) == ((2, 4),)
    assert loop_groups((smooth, a, b, smooth)) == ((1, 4),)


def test_the_plan_says_which_operators_became_one_loop():
    prog = wb.sources.array(np.zeros(8)) >> ELEMENTWISE[0] >> ELEMENTWISE[1] >> smooth
    (seg,) = plan_segments(prog)
    assert seg.loops == ("gain+clamp+smooth",)
    from workbench.observe.html import _nodes

    assert "gain+clamp+smooth · 1 loop" in _nodes((seg,))
    assert "one loop over the batch: gain+clamp+smooth" in _nodes((seg,))
