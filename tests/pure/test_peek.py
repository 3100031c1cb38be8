"""Peeking operators (StreamIt's ``peek``) in the model: firing counts, what is refused and
how, the start-up analysis judged against a record-level simulation, and the history a
parallel peeking operator's instances get in front of their batches (judged against the
firings over the whole stream)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench as wb
from tests.references import windows
from workbench.model.startup import counts, gate
from workbench.runtime.stream.output import History


def op(name, consumes=1, produces=1, peek=None):
    return wb.operator(lambda x: x, name=name, consumes=consumes, produces=produces,
                       peek=peek, jit=False)


@pytest.mark.parametrize("consumes,peek,n,fires", [
    (1, 8, 0, 0), (1, 8, 7, 0), (1, 8, 8, 1), (1, 8, 20, 13),
    (2, 5, 4, 0), (2, 5, 5, 1), (2, 5, 6, 1), (2, 5, 7, 2), (3, 3, 9, 3),
])
def test_firings_follow_streamit_no_prefill(consumes, peek, n, fires):
    f = op("f", consumes=consumes, produces=2, peek=peek)
    assert f.fires(n) == fires == len(windows(np.arange(float(n)), consumes, peek))
    assert f.outputs(n) == 2 * fires
    assert f.history == peek - consumes


def test_peek_below_consumes_is_refused_naming_the_operator_and_the_fix():
    with pytest.raises(wb.GraphError) as e:
        op("lowpass", consumes=4, peek=2)
    msg = str(e.value)
    assert "'lowpass'" in msg and "peek=2" in msg and "consumes=4" in msg
    assert "Fix:" in msg and "peek=4" in msg


@pytest.mark.parametrize("peek", [0.5, "8", True])
def test_peek_must_be_an_integer(peek):
    with pytest.raises(wb.GraphError, match="'f': peek must be a positive integer"):
        op("f", peek=peek)


def test_a_keyed_operator_cannot_peek():
    with pytest.raises(wb.GraphError, match="'per_key': a keyed operator cannot peek"):
        wb.operator(lambda x, s: x, name="per_key", state=np.zeros(1), key=lambda b: b,
                    peek=3)


def test_repr_shows_the_window():
    assert repr(op("fir", peek=16)) == "<operator fir peek=16, jit=False>"
    assert "peek" not in repr(op("plain", peek=1))     # peek == consumes: no window


# --- start-up: a stage first fires once the source has supplied enough records ------------

def simulate(ops, n):
    """Records reaching each stage, by pushing ``n`` records through numpy windows (not
    through ``fires``)."""
    x, got = np.arange(float(n)), []
    for o in ops:
        got.append(len(x))
        w = windows(x, o.consumes, o.window)
        x = np.repeat(w[:, 0], o.produces) if len(w) else np.empty(0)
    return got


rates = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 6)).map(
    lambda t: {"consumes": t[0], "produces": t[1], "peek": t[0] + t[2]})


@settings(max_examples=60, deadline=None)
@given(spec=st.lists(rates, min_size=1, max_size=4))
def test_startup_and_counts_agree_with_a_record_level_simulation(spec):
    ops = [op(f"s{i}", **r) for i, r in enumerate(spec)]
    prog = wb.sources.array(np.zeros(1))
    for o in ops:
        prog = prog >> o
    start = prog.validate().startup
    for i, o in enumerate(ops):
        first = next(n for n in range(1, 2000) if simulate(ops, n)[i] >= o.window)
        assert start[o.name] == first, (o.name, start, first)
    for n in (0, 1, 7, 40, 333):
        sim = simulate(ops, n)
        assert [counts(prog, n)[o.name][0] for o in ops] == sim
        stuck = next((o.name for o, r in zip(ops, sim) if r < o.window), None)
        assert gate(prog, n) == stuck


def test_startup_of_a_split_join_waits_for_its_slowest_branch():
    fir = op("fir", peek=8)
    prog = wb.sources.array(np.zeros(1)) >> wb.splitjoin(fir, op("plain")) >> op("after")
    sol = prog.validate()
    assert sol.startup == {"fir": 8, "plain": 1, "after": 8}
    assert sol.repetitions["fir"] == sol.repetitions["plain"] == 1


# --- fission: each instance's batch with the history its firings need ----------------------

@settings(max_examples=150, deadline=None)
@given(consumes=st.integers(1, 4), extra=st.integers(0, 9),
       sizes=st.lists(st.integers(0, 23), min_size=1, max_size=30))
def test_history_gives_every_firing_once_across_independent_chunks(consumes, extra, sizes):
    peek = consumes + extra
    f = op("f", consumes=consumes, peek=peek)
    stream = np.random.default_rng(len(sizes)).random(sum(sizes))
    h, chunks, at = History(f, "f"), [], 0
    for k in sizes:
        piece, overlap = h.front(stream[at:at + k])
        at += k
        if piece is not None:
            assert overlap <= peek - 1
            chunks.append(windows(piece, consumes, peek))   # what one instance fires on
    whole = windows(stream, consumes, peek)
    fired = np.concatenate(chunks) if chunks else np.empty((0, peek))
    np.testing.assert_array_equal(fired, whole)
    unread = len(stream) - ((len(whole) - 1) * consumes + peek if len(whole) else 0)
    assert bool(h.leftovers()) == (unread > 0)
    if unread:
        assert h.leftovers()[0].startswith(f"f: {unread} record(s)")


def test_history_keeps_the_dtype_of_the_stream():
    h = History(op("f", peek=3), "f")
    piece, overlap = h.front(np.arange(4, dtype=np.int32))
    assert overlap == 0 and piece.dtype == np.int32
    piece, overlap = h.front(np.arange(4, 6, dtype=np.int32))
    assert overlap == 2 and piece.tolist() == [2, 3, 4, 5] and piece.dtype == np.int32
