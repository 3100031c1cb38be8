"""Inbox.batches: how a consumer assembles what its senders delivered, including the gaps a
stopped run leaves and keyed records put back in input order (fed in-process, as local
senders do). Examples, then properties over random deliveries."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.runtime.stream.frames import END, Piece
from workbench.runtime.stream.inbox import Inbox, join


def feed(pieces: list[tuple[int, object]]) -> Inbox:
    """An inbox that already holds ``pieces``: (sender, seq or END); a piece of sequence
    number s from sender k holds the one record 10 s + k."""
    box = Inbox()
    for sender, seq in pieces:
        box.put(sender, seq, Piece(None if seq is END else np.array([10.0 * seq + sender])))
    return box


def drain(box: Inbox, senders: int, ordered: bool, spread: bool, start: int = 0,
          stride: int = 1) -> list[tuple[int, list[float] | None]]:
    got = box.batches(senders, 1 if spread else senders, ordered, threading.Event(),
                      spread=spread, start=start, stride=stride)
    out = [(s, None if p.records is None else p.records.tolist()) for s, p in got]
    box.close()
    return out


# two spread readers stopped apart: reader 0 read up to 8, reader 1 only up to 3
STOPPED_APART = [(0, 0), (1, 1), (0, 2), (1, 3), (0, 4), (0, 6), (0, 8), (1, END), (0, END)]


@pytest.mark.parametrize("ordered", [True, False])
def test_gaps_left_by_a_stop_come_out_as_empty_batches(ordered):
    out = drain(feed(STOPPED_APART), senders=2, ordered=ordered, spread=True)
    seqs = [s for s, _ in out]
    assert sorted(seqs) == list(range(9))           # every sequence number, once
    assert [s for s, b in out if b is None] == [5, 7]   # the gaps carry no records
    if ordered:
        assert seqs == list(range(9))


def test_an_unordered_consumer_does_not_wait_for_a_gap():
    # reader 1 is slow but alive: nothing is a gap yet, and 2 and 4 need not wait for 1
    box = feed([(0, 0), (0, 2), (0, 4)])
    it = box.batches(2, 1, False, threading.Event(), spread=True)
    assert [next(it)[0] for _ in range(3)] == [0, 2, 4]
    box.close()


def test_pieces_of_every_sender_are_joined_in_sender_order():
    box = feed([(1, 0), (0, 0), (0, END), (1, END)])
    assert drain(box, senders=2, ordered=True, spread=False) == [(0, [0.0, 1.0])]


def test_an_instance_sharing_its_unit_round_robin_sees_gaps_only_in_its_own_share():
    # instance 1 of 2 gets the odd sequence numbers only, from three spread senders (sender
    # k reads s % 3 == k). Sender 1 ends after 1, so 7 is a gap; the even ones are not ours
    box = feed([(1, 1), (0, 3), (2, 5), (0, 9), (1, END), (2, END), (0, END)])
    out = [(s, b is None) for s, b in drain(box, 3, False, True, start=1, stride=2)]
    assert out == [(1, False), (3, False), (5, False), (9, False), (7, True)]


def test_keyed_pieces_go_back_to_input_order():
    box = Inbox()
    box.put(1, 0, Piece(np.array([20.0, 40.0]), np.array([1, 3])))     # instance 1's keys
    box.put(0, 0, Piece(np.array([10.0, 30.0]), np.array([0, 2])))     # instance 0's keys
    box.put(0, END, Piece(None))
    box.put(1, END, Piece(None))
    (seq, (records, positions, _)), = box.batches(2, 2, True, threading.Event())
    assert records.tolist() == [10.0, 20.0, 30.0, 40.0] and positions is None
    box.close()


# --- properties -----------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(data=st.data(), senders=st.integers(1, 4), spread=st.booleans(),
       ordered=st.booleans(), n=st.integers(0, 25))
def test_every_closed_sequence_number_comes_out_once_with_all_its_pieces(
        data, senders, spread, ordered, n):
    # each sender delivers its sequence numbers in order up to where it stopped, then ends;
    # the senders' deliveries interleave at random
    stops = [data.draw(st.integers(0, n), label=f"stop {k}") for k in range(senders)]
    pending = {k: [s for s in range(stops[k]) if not spread or s % senders == k] + [END]
               for k in range(senders)}
    deliveries = []
    while pending:
        k = data.draw(st.sampled_from(sorted(pending)), label="next sender")
        deliveries.append((k, pending[k].pop(0)))
        if not pending[k]:
            del pending[k]
    out = drain(feed(deliveries), senders, ordered, spread)

    top = max((s for _, s in deliveries if s is not END), default=-1)  # highest delivered
    expected = {}
    for s in range(top + 1):
        got = [k for k in range(senders) if s < stops[k] and (not spread or s % senders == k)]
        expected[s] = [10.0 * s + k for k in got] or None     # None: a gap, no records
    assert sorted(s for s, _ in out) == list(range(top + 1))  # each once, none missing
    assert dict(out) == expected                              # pieces in sender order
    if ordered:
        assert [s for s, _ in out] == list(range(top + 1))


@given(n=st.integers(1, 60), instances=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_join_restores_the_order_of_records_routed_by_key(n, instances, seed):
    rng = np.random.default_rng(seed)
    records = rng.random(n)
    owner = rng.integers(0, instances, n)         # which instance each record's key is on
    pieces = [Piece(records[owner == j], np.flatnonzero(owner == j)) for j in range(instances)]
    joined, positions, _ = join(pieces)
    np.testing.assert_array_equal(joined, records)
    assert positions is None                      # the whole batch: nothing left to sort
    sub, pos, _ = join(pieces[:1], keep=True)        # one instance's share keeps its places
    if sub is None:
        assert not (owner == 0).any()
    else:
        np.testing.assert_array_equal(records[pos], sub)
