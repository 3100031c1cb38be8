"""Peeking operators compiled with numba on the local engine: FIR filters and decimating
windows equal numpy over the whole stream for any batch size (batches smaller than the
window included), fused with the operators after them, inside split-join branches; short
streams report what was never read; a wrong output count names the operator."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from tests.cluster.ops import TAPS5, fir5, peek_max
from tests.references import reference, windows
from workbench.examples.quickstart import scale

DATA = np.random.default_rng(7).random(3_001)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 5, 64, 4096])
def test_fir_then_decimating_window_equal_numpy_for_any_batch_size(batch_size):
    prog = wb.sources.array(DATA, batch_size=batch_size) >> fir5 >> peek_max
    run = prog.run(engine="local").wait()
    expected = windows(windows(DATA, 1, 5) @ TAPS5, 2, 5).max(axis=1)
    np.testing.assert_allclose(run.output, expected)
    np.testing.assert_allclose(run.output, reference(prog))


def test_a_peeking_operator_fuses_with_the_operators_after_it():
    prog = wb.sources.array(DATA, batch_size=100) >> scale >> fir5 >> scale
    run = prog.run(engine="local").wait()
    np.testing.assert_allclose(run.output, 2 * (windows(2 * DATA, 1, 5) @ TAPS5))
    assert [s.name for s in run.plan] == ["scale", "fir5+scale#2"]


@pytest.mark.parametrize("batch_size", [2, 7, 1000])
def test_history_lives_in_each_split_join_branch(batch_size):
    prog = (wb.sources.array(DATA, batch_size=batch_size)
            >> wb.splitjoin(fir5, peek_max >> scale, scale, split="duplicate"))
    np.testing.assert_allclose(prog.run(engine="local").wait().output, reference(prog))


def test_a_stream_shorter_than_the_window_fires_zero_times_and_says_so():
    run = (wb.sources.array(DATA[:4], batch_size=2) >> fir5).run(engine="local").wait()
    assert len(run.output) == 0
    (msg,) = run.events[run.events.kind == "leftover"].message
    assert msg.startswith("fir5: 4 record(s) at the end of the stream")
    assert "'fir5' (5 records per firing, peek)" in msg


def test_history_alone_is_not_reported_as_left_over():
    run = (wb.sources.array(DATA[:100], batch_size=9) >> fir5).run(engine="local").wait()
    assert len(run.output) == 96
    assert not len(run.events[run.events.kind == "leftover"])


@wb.operator(peek=4)
def one_short(x):
    return x[3:-1]        # one record too few for its firings


def test_a_wrong_count_for_the_window_names_the_operator_batch_and_counts():
    with pytest.raises(wb.OperatorError) as e:
        (wb.sources.array(DATA, batch_size=10) >> one_short).run(engine="local").wait()
    msg = str(e.value)
    assert "operator 'one_short'" in msg and "batch 0" in msg
    assert "peek=4" in msg and "10 records is 7 firing(s) -> 7 records out" in msg
    assert "returned 6" in msg and "Fix:" in msg


def test_calling_a_peeking_operator_directly_fires_on_its_windows():
    np.testing.assert_allclose(fir5(DATA[:20]), windows(DATA[:20], 1, 5) @ TAPS5)
    assert peek_max(DATA[:9]).shape == (3,)
