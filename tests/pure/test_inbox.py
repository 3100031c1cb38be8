"""Inbox.batches: how a consumer assembles what its senders delivered, including the gaps a
stopped run leaves (fed in-process, as local senders do)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from workbench.runtime.stream.frames import END
from workbench.runtime.stream.inbox import Inbox


def feed(pieces: list[tuple[int, object]]) -> Inbox:
    """An inbox that already holds ``pieces``: (sender, seq or END)."""
    box = Inbox()
    for sender, seq in pieces:
        box.put(sender, seq, None if seq is END else np.full(2, float(seq)))
    return box


def drain(box: Inbox, senders: int, parts: int, ordered: bool, spread: bool
          ) -> list[tuple[int, list[float] | None]]:
    got = box.batches(senders, parts, ordered, threading.Event(), spread=spread)
    out = [(s, None if b is None else b.tolist()) for s, b in got]
    box.close()
    return out


# two spread readers stopped apart: reader 0 read up to 8, reader 1 only up to 3
STOPPED_APART = [(0, 0), (1, 1), (0, 2), (1, 3), (0, 4), (0, 6), (0, 8), (1, END), (0, END)]


@pytest.mark.parametrize("ordered", [True, False])
def test_gaps_left_by_a_stop_come_out_as_empty_batches(ordered):
    out = drain(feed(STOPPED_APART), senders=2, parts=1, ordered=ordered, spread=True)
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
    box = Inbox()
    for sender in (1, 0):
        box.put(sender, 0, np.array([float(sender)]))
    box.put(0, END, None)
    box.put(1, END, None)
    assert drain(box, senders=2, parts=2, ordered=True, spread=False) == [(0, [0.0, 1.0])]


def test_an_instance_sharing_its_unit_round_robin_sees_gaps_only_in_its_own_share():
    # instance 1 of 2 gets the odd sequence numbers only, from three spread senders (sender
    # k reads s % 3 == k). Sender 1 ends after 1, so 7 is a gap; the even ones are not ours
    box = feed([(1, 1), (0, 3), (2, 5), (0, 9), (1, END), (2, END), (0, END)])
    got = box.batches(3, 1, False, threading.Event(), spread=True, start=1, stride=2)
    out = [(s, b is None) for s, b in got]
    box.close()
    assert out == [(1, False), (3, False), (5, False), (9, False), (7, True)]
