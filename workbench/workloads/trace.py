"""Arrival-rate traces replayed as function calls, open-loop.

A :class:`Trace` is an arrival rate over time (calls per second in bins of ``bin_s``):
:meth:`Trace.periodic` makes a day shape (a cosine between ``base`` and ``peak`` each
``period_s``) with seeded bursts on top; :meth:`Trace.from_csv` reads a user's ``time,
rate`` CSV. :func:`replay` issues calls at the trace's arrival times (a Poisson process
per bin) without waiting for earlier calls to finish (open loop: a slow cluster builds a
queue, as real clients do), and records each call's latency.

:func:`hold` is the workload's call: it holds a worker thread for a fixed service time
(sleep-bound, like I/O). On a 2-core machine CPU-bound calls stop scaling past two
workers; sleep-bound ones scale with workers x threads, so scaling policies can be
compared here at all.

>>> t = Trace.periodic(period_s=20, periods=2, base=2, peak=10, bursts=0, bin_s=1)
>>> len(t.rate), float(t.rate.min()), float(t.rate.max())
(40, 2.0, 10.0)
>>> a = t.arrivals(seed=1)
>>> bool((a[1:] >= a[:-1]).all() and 0 <= a[0] and a[-1] < 40)
True
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


def hold(service_s: float, x: float = 0.0) -> float:
    """A call that occupies its worker thread for ``service_s`` seconds (sleep-bound)."""
    time.sleep(service_s)
    return x


@dataclass
class Trace:
    """Arrival rate (calls/s) in consecutive bins of ``bin_s`` seconds from time 0."""

    rate: np.ndarray
    bin_s: float = 1.0
    period_s: float | None = None          # the season, when the trace has one

    @property
    def duration(self) -> float:
        return len(self.rate) * self.bin_s

    @property
    def time(self) -> np.ndarray:
        return np.arange(len(self.rate)) * self.bin_s

    @classmethod
    def periodic(cls, period_s: float = 60.0, periods: int = 3, base: float = 5.0,
                 peak: float = 40.0, bursts: int = 2, burst_rate: float | None = None,
                 burst_s: float = 3.0, bin_s: float = 1.0, seed: int = 0) -> Trace:
        """A day shape compressed into ``period_s``: the rate rises from ``base`` to
        ``peak`` and back each period, and ``bursts`` bursts per trace (seeded times)
        add ``burst_rate`` (default ``peak / 2``) for ``burst_s`` seconds each."""
        if periods < 1 or period_s <= 0 or bin_s <= 0:
            raise ValueError("periodic: periods >= 1, period_s > 0 and bin_s > 0; got "
                             f"periods={periods}, period_s={period_s}, bin_s={bin_s}.")
        t = np.arange(int(round(periods * period_s / bin_s))) * bin_s
        rate = base + (peak - base) * (1 - np.cos(2 * np.pi * t / period_s)) / 2
        rng = np.random.default_rng(seed)
        extra = peak / 2 if burst_rate is None else burst_rate
        for start in rng.uniform(0, t[-1] + bin_s - burst_s, bursts):
            rate[(t >= start) & (t < start + burst_s)] += extra
        return cls(rate, bin_s, period_s)

    @classmethod
    def from_csv(cls, path: str, period_s: float | None = None) -> Trace:
        """A ``time, rate`` CSV (seconds from the start, calls/s; evenly spaced)."""
        import pandas as pd

        df = pd.read_csv(path)
        missing = {"time", "rate"} - set(df.columns)
        if missing:
            raise ValueError(f"{path}: expected columns time, rate; missing "
                             f"{', '.join(sorted(missing))} (found {', '.join(df.columns)}).")
        steps = np.diff(df["time"].to_numpy(float))
        if len(steps) and not np.allclose(steps, steps[0]):
            raise ValueError(f"{path}: times must be evenly spaced; found steps from "
                             f"{steps.min():g} to {steps.max():g} s.")
        return cls(df["rate"].to_numpy(float), float(steps[0]) if len(steps) else 1.0,
                   period_s)

    def arrivals(self, seed: int = 0) -> np.ndarray:
        """Arrival times (s, sorted): a Poisson number of calls per bin, uniform in it."""
        rng = np.random.default_rng(seed)
        counts = rng.poisson(np.maximum(self.rate, 0) * self.bin_s)
        starts = np.repeat(self.time, counts)
        return np.sort(starts + rng.uniform(0, self.bin_s, counts.sum()))

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"time": self.time, "rate": self.rate})


class Replay:
    """Calls issued at a trace's arrival times, open-loop; ``frame()`` their latencies."""

    def __init__(self, call: Any, arrivals: np.ndarray) -> None:
        self.call = call
        self.arrivals = arrivals
        self.t0 = 0.0
        self.submitted = np.full(len(arrivals), np.nan)
        self.finished = np.full(len(arrivals), np.nan)
        self.failed = 0
        self.errors: list[tuple[int, str]] = []     # failed calls: (index, why)
        self._done = threading.Event()
        self._left = len(arrivals)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wb-replay", daemon=True)

    def start(self) -> Replay:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        for i, at in enumerate(self.arrivals):
            delay = self.t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.submitted[i] = time.monotonic() - self.t0
            try:
                fut = self.call(i)
            except Exception as exc:  # noqa: BLE001 - a refused call is a failed call;
                self._finish(i, None, repr(exc))     # the replay goes on (open loop)
                continue
            fut.add_done_callback(lambda f, i=i: self._finish(i, f))
        if not len(self.arrivals):
            self._done.set()

    def _finish(self, i: int, fut: Any, refused: str = "") -> None:
        """Call ``i`` ended: its future finished or failed, or (``fut`` None) the call
        was refused at submission for the reason ``refused``."""
        if fut is not None:
            self.finished[i] = time.monotonic() - self.t0
        with self._lock:
            if fut is None or fut.status != "finished":
                self.failed += 1
                self.errors.append((i, refused if fut is None else _why(fut)))
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def done(self, timeout: float = 0.0) -> bool:
        """Whether every call has finished (waiting up to ``timeout`` seconds)."""
        return self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> Replay:
        if not self._done.wait(timeout):
            raise TimeoutError(f"replay: {self._left} of {len(self.arrivals)} calls still "
                               f"running after {timeout} s.")
        return self

    def frame(self) -> Any:
        """One row per call: ``arrival``, ``submitted``, ``finished``, ``latency_s``."""
        import pandas as pd

        return pd.DataFrame({"arrival": self.arrivals, "submitted": self.submitted,
                             "finished": self.finished,
                             "latency_s": self.finished - self.submitted})


def _why(fut: Any) -> str:
    """A failed call's status and error, as far as the future can say."""
    try:
        exc = fut.exception()
    except BaseException as got:  # noqa: BLE001 - a cancelled future raises instead
        exc = got
    return f"{fut.status}: {exc!r}"


def replay(fn: Any, trace: Trace, service_s: float = 0.05, seed: int = 0) -> Replay:
    """Replay ``trace`` as calls ``fn(service_s, i)`` (``fn``: a ``wb.function`` or
    ``wb.remote`` proxy of :func:`hold`, or any callable returning a Dask future),
    open-loop; returns the started :class:`Replay` (``.wait()``, ``.frame()``)."""
    return Replay(lambda i: fn(service_s, float(i)), trace.arrivals(seed)).start()
