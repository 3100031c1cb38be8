"""Run metrics as a tidy time series (pandas), sampled off the hot path.

Engines bump plain counters per (stage, worker) after each batch (a few integer adds); a
sampler thread turns the counters into rows every ``interval`` seconds. Columns:
``time`` (seconds since the run started), ``stage``, ``worker``, ``records`` (into the stage
during the interval), ``records_per_s``, ``latency_ms`` (mean time a batch spent in the
stage), ``batches``, ``records_out``, ``queue`` (batches waiting or in flight).
"""

from __future__ import annotations

import threading
import time
from typing import Any

COLUMNS = ["time", "stage", "worker", "records", "records_per_s", "latency_ms", "batches",
           "records_out", "queue"]


def inbox_name(unit: str) -> str:
    """Metric name of a unit's inbox: batches waiting there (``queue``)."""
    return f"{unit} (in)"


def edge_name(unit: str, downstream: str) -> str:
    """Metric name of the channels from one unit to the next: batches in flight."""
    return f"{unit} -> {downstream}"


class Counter:
    """Counters of one (stage, worker). ``queue`` is the peak queue depth (or batches in
    flight on a channel) since the last sample; ``queue_now`` the current one."""

    __slots__ = ("records", "records_out", "batches", "busy", "queue", "queue_now")

    def __init__(self) -> None:
        self.records = 0
        self.records_out = 0
        self.batches = 0
        self.busy = 0.0
        self.queue = 0
        self.queue_now = 0

    def depth(self, n: int) -> None:
        self.queue_now = n
        if n > self.queue:
            self.queue = n

    def snapshot(self) -> tuple:
        return (self.records, self.records_out, self.batches, self.busy)


class Recorder:
    """Counters per (stage, worker) and the rows sampled from them."""

    def __init__(self, worker: str = "local", interval: float = 0.25,
                 t0: float | None = None) -> None:
        self.worker = worker
        self.interval = interval
        self.t0 = time.time() if t0 is None else t0
        self.counters: dict[tuple[str, str], Counter] = {}
        self.rows: list[tuple] = []
        self._last: dict[tuple[str, str], tuple] = {}
        self._last_t = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def counter(self, stage: str, worker: str | None = None) -> Counter:
        key = (stage, worker or self.worker)
        c = self.counters.get(key)
        if c is None:
            c = self.counters[key] = Counter()
        return c

    def sample(self) -> None:
        with self._lock:
            now = time.time()
            dt = max(now - self._last_t, 1e-9)
            self._last_t = now
            for key, c in list(self.counters.items()):
                cur = c.snapshot()
                prev = self._last.get(key, (0, 0, 0, 0.0))
                rec, out, nb, busy = (a - b for a, b in zip(cur, prev))
                self._last[key] = cur
                lat = busy / nb * 1e3 if nb else float("nan")
                self.rows.append((now - self.t0, key[0], key[1], rec, rec / dt, lat, nb, out,
                                  c.queue))
                c.queue = c.queue_now

    def take_rows(self) -> list[tuple]:
        """Rows sampled since the last call (for shipping from workers)."""
        with self._lock:
            rows, self.rows = self.rows, []
        return rows

    def start(self) -> Recorder:
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
    """Rows to a DataFrame with the documented columns."""
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS)


def summarize(df: Any) -> Any:
    """Per (stage, worker): total records, mean records/s while running, median latency."""
    if df.empty:
        return df
    g = df.groupby(["stage", "worker"], sort=False)
    return g.agg(records=("records", "sum"), records_per_s=("records_per_s", "mean"),
                 latency_ms=("latency_ms", "median"), batches=("batches", "sum"))
