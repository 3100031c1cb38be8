"""Run metrics as tidy time series (pandas), sampled off the hot path.

Engines bump plain counters after each batch (a few integer adds per fused segment); a
sampler thread turns them into rows every ``interval`` seconds. Two tables:

``run.metrics``: one row per user operator (``stage``) per stage instance per sample, plus
rows for the pseudo-stages ``"source"`` (records read) and ``"sink"`` (records that
reached the sink). Columns:

==============  =========================================================================
``time``        seconds since the run started, at the end of the interval
``stage``       the operator's stage name (``"scale"``; ``"scale#2"`` for its second use)
``segment``     the fused segment it ran in: one compiled function (``"scale+mean4"``)
``instance``    which instance of its unit (0 .. parallelism - 1)
``worker``      the worker address (``"local"`` on the local engine)
``records``     records into the operator during the interval
``records_out`` records it produced during the interval
``records_per_s``  ``records`` / interval
``batches``     batches through its fused segment during the interval
``latency_ms``  mean time a batch spent in the fused segment: the same on each of the
                segment's operators' rows (they run as one function)
``queue``       batches waiting in the instance's inbox at the sample (0 for the first
                unit and the local engine)
==============  =========================================================================

Operators fused into one segment are counted once, at the segment, and expanded into one
row per operator from their SDF rates: an operator after ``mean4`` (4:1) sees a quarter of
the segment's records. Batches of a segment are whole firings, so these are exact.

``run.channels``: one row per channel sender per sample: ``time``, ``channel``
(``"<unit> -> <next unit>"``), ``instance`` (the sender's), ``worker``, ``batches``,
``records`` (sent during the interval), ``in_flight`` (batches sent whose credit has not
come back, at the sample: at most the channel's credits) and ``in_flight_peak`` (the most
since the previous sample).
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Any

COLUMNS = ["time", "stage", "segment", "instance", "worker", "records", "records_out",
           "records_per_s", "batches", "latency_ms", "queue"]
CHANNEL_COLUMNS = ["time", "channel", "instance", "worker", "batches", "records",
                   "in_flight", "in_flight_peak"]


def edge_name(unit: str, downstream: str) -> str:
    """Name of the channels from one unit to the next."""
    return f"{unit} -> {downstream}"


def expansion(ops: Any, names: Any) -> tuple[tuple[str, Fraction, Fraction], ...]:
    """``(stage, records in, records out)`` per record into a fused chain of ``ops``.

    >>> import workbench as wb
    >>> a = wb.operator(lambda x: x, name="a", consumes=4, produces=1)
    >>> [(s, str(i), str(o)) for s, i, o in expansion((a, a), ("a", "a#2"))]
    [('a', '1', '1/4'), ('a#2', '1/4', '1/16')]
    """
    out, gain = [], Fraction(1)
    for op, name in zip(ops, names):
        nxt = gain * op.produces / op.consumes
        out.append((name, gain, nxt))
        gain = nxt
    return tuple(out)


class Counter:
    """Counters of one fused segment (or the source, or the sink) of one instance.

    ``queue`` is where the instance's inbox depth is set (read at each sample).
    """

    __slots__ = ("records", "records_out", "batches", "busy", "queue")

    def __init__(self) -> None:
        self.records = 0
        self.records_out = 0
        self.batches = 0
        self.busy = 0.0
        self.queue = 0

    def snapshot(self) -> tuple:
        return (self.records, self.records_out, self.batches, self.busy)


class Gauge:
    """A channel sender's counters: batches and records sent, batches in flight."""

    __slots__ = ("records", "batches", "now", "peak")

    def __init__(self) -> None:
        self.records = 0
        self.batches = 0
        self.now = 0
        self.peak = 0

    def depth(self, n: int) -> None:
        self.now = n
        if n > self.peak:
            self.peak = n


class Recorder:
    """Counters of one run in one process, and the rows sampled from them."""

    def __init__(self, worker: str = "local", interval: float = 0.25,
                 t0: float | None = None) -> None:
        self.worker = worker
        self.interval = interval
        self.t0 = time.time() if t0 is None else t0
        self.rows: list[tuple] = []
        self.channel_rows: list[tuple] = []
        self._counters: dict[tuple, tuple[Counter, tuple, Counter | None]] = {}
        self._gauges: dict[tuple[str, int], Gauge] = {}
        self._inboxes: dict[tuple[str, int], Counter] = {}
        self._last: dict[tuple, tuple] = {}
        self._last_g: dict[tuple[str, int], tuple[int, int]] = {}
        self._last_t = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- what engines count --------------------------------------------------------------
    def inbox(self, unit: str, instance: int = 0) -> Counter:
        """The counter whose ``queue`` holds an instance's inbox depth."""
        key = (unit, instance)
        c = self._inboxes.get(key)
        if c is None:
            c = self._inboxes[key] = Counter()
        return c

    def segment(self, name: str, rows: tuple[tuple[str, Fraction, Fraction], ...],
                unit: str = "", instance: int = 0) -> Counter:
        """The counter of a fused segment; ``rows`` (from :func:`expansion`) turns its
        records into one row per operator. ``unit`` names the instance's unit (whose
        inbox depth its rows show)."""
        key = (name, instance)
        got = self._counters.get(key)
        if got is None:
            got = self._counters[key] = (Counter(), rows, self.inbox(unit, instance))
        return got[0]

    def point(self, name: str, instance: int = 0) -> Counter:
        """The counter of the pseudo-stage ``"source"`` or ``"sink"``."""
        return self.segment(name, ((name, Fraction(1), Fraction(1)),), "", instance)

    def channel(self, name: str, instance: int = 0) -> Gauge:
        key = (name, instance)
        g = self._gauges.get(key)
        if g is None:
            g = self._gauges[key] = Gauge()
        return g

    # --- sampling ------------------------------------------------------------------------
    def first(self) -> None:
        """A row of zeros for everything registered so far, at time 0 (so a run's metrics
        are never empty, whatever the time to its first sample)."""
        with self._lock:
            for (name, inst), (_, rows, _) in self._counters.items():
                for stage, _, _ in rows:
                    self.rows.append((0.0, stage, name, inst, self.worker, 0, 0, 0.0, 0,
                                      float("nan"), 0))

    def sample(self) -> None:
        with self._lock:
            now = time.time()
            dt = max(now - self._last_t, 1e-9)
            self._last_t = now
            t = now - self.t0
            for key, (c, rows, box) in list(self._counters.items()):
                cur = c.snapshot()
                prev = self._last.get(key, (0, 0, 0, 0.0))
                rec, out, nb, busy = (a - b for a, b in zip(cur, prev))
                self._last[key] = cur
                lat = busy / nb * 1e3 if nb else float("nan")
                q = box.queue if box is not None else 0
                last = len(rows) - 1
                for i, (stage, gain_in, gain_out) in enumerate(rows):
                    r_in = int(rec * gain_in)
                    r_out = out if i == last else int(rec * gain_out)
                    self.rows.append((t, stage, key[0], key[1], self.worker, r_in, r_out,
                                      r_in / dt, nb, lat, q))
            for key, g in list(self._gauges.items()):
                prev_g = self._last_g.get(key, (0, 0))
                cur_g = (g.batches, g.records)
                self._last_g[key] = cur_g
                self.channel_rows.append((t, key[0], key[1], self.worker,
                                          cur_g[0] - prev_g[0], cur_g[1] - prev_g[1],
                                          g.now, g.peak))
                g.peak = g.now

    def take_rows(self) -> tuple[list[tuple], list[tuple]]:
        """Metric and channel rows sampled since the last call (shipped from workers)."""
        with self._lock:
            rows, self.rows = self.rows, []
            chans, self.channel_rows = self.channel_rows, []
        return rows, chans

    def start(self) -> Recorder:
        self._last_t = time.time()      # the first sample covers the time from here on
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self._thread = threading.Thread(target=loop, name="wb-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def frame(rows: list[tuple]) -> Any:
    """Metric rows to a DataFrame with the documented columns."""
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS)


def channel_frame(rows: list[tuple]) -> Any:
    """Channel rows to a DataFrame with the documented columns."""
    import pandas as pd

    return pd.DataFrame(rows, columns=CHANNEL_COLUMNS)
