"""The Run: a program that is running or has run, on any engine."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..errors import RunError
from ..model import backends
from . import metrics as _metrics


class Run:
    """Handle of a running program: ``wait()``, ``output``, ``metrics``, ``stop()``.

    Engines subclass it and fill in ``_main`` (or their own control loop); everything a
    user reads is here.
    """

    engine = "?"

    def __init__(self, pipeline: Any, name: str | None = None) -> None:
        self.pipeline = pipeline
        self.name = name
        self.status = "starting"
        self.error: BaseException | None = None
        self.created = time.time()      # prog.run() was called
        self.started = self.created     # compiled and starting: the metrics' time 0
        self.finished: float | None = None
        self.compile_s = 0.0            # compiling (or loading compiled code) before start
        self.t_first: float | None = None   # the first batch taken from the source
        self.t_last: float | None = None    # the last batch done
        self.source_records = 0
        self._events: list[tuple[float, str, str, str]] = []
        self._done = threading.Event()
        self._stop = threading.Event()
        self.sink: Any = None
        self.recorder: _metrics.Recorder | None = None
        self._on_finish: list[Any] = []
        self._ended = False
        self._dashboard: Any = None

    # --- lifecycle ------------------------------------------------------------------------
    def event(self, kind: str, message: str, stage: str = "") -> None:
        self._events.append((time.time(), kind, stage, message))

    def _finish(self, status: str, error: BaseException | None = None) -> None:
        self.error = error
        self.finished = time.time()
        self.status = status
        self.event(status, f"run {status}" + (f": {error}" if error else ""))
        with _HOOKS:
            self._ended, hooks = True, list(self._on_finish)
        for fn in hooks:        # e.g. a dashboard drawing its final picture
            try:
                fn(self)
            except Exception:  # noqa: BLE001, S110 - an observer never breaks the run
                pass
        self._done.set()

    def on_finish(self, fn: Any) -> None:
        """Call ``fn(run)`` once when the run ends, before ``wait()`` returns (at once if
        it has ended). Errors in ``fn`` are ignored."""
        with _HOOKS:
            if not self._ended:
                self._on_finish.append(fn)
                return
        fn(self)

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends; re-raise its error. Returns the run.

        Interrupting the wait (Ctrl-C, or the notebook's interrupt button: a cell blocked
        here holds the kernel, so the dashboard's Stop button waits too) stops the run,
        then raises the interrupt.
        """
        try:
            ended = self._done.wait(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise
        if not ended:
            raise TimeoutError(f"run still {self.status} after {timeout} s; call run.stop() "
                               "to end it, or wait longer.")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> Run:
        """Ask the run to end after the batches in flight; returns once it has."""
        self._stop.set()
        self._done.wait()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def reconfigure(self, **changes: Any) -> None:
        raise RunError(f"the {self.engine} engine cannot reconfigure a running program.\n"
                       "Fix: run it with engine='dask'.")

    # --- what users read -----------------------------------------------------------------
    @property
    def output(self) -> np.ndarray:
        """Output collected so far (all of it once the run is done)."""
        if self.sink is None or not hasattr(self.sink, "parts"):
            raise RunError("this run's sink keeps no output (sink='discard' or a callback); "
                           "run with sink='collect' to get run.output.")
        return self.sink.value()

    @property
    def metrics(self) -> Any:
        """The run's time series (pandas): one row per operator and instance per sample,
        plus ``source`` and ``sink`` rows; the columns are documented in
        :mod:`workbench.runtime.metrics`."""
        return _metrics.frame(sorted(self.metric_rows(), key=lambda r: r[0]))

    @property
    def channels(self) -> Any:
        """Channels between units as a time series (pandas): batches in flight per sender
        (see :mod:`workbench.runtime.metrics`); empty on the local engine."""
        return _metrics.channel_frame(sorted(self.channel_rows(), key=lambda r: r[0]))

    def metric_rows(self, start: int = 0) -> list[tuple]:
        """Metric rows from the ``start``-th on, as recorded (tuples in the columns of
        ``metrics``, in arrival order): a cheap incremental read for live views, where
        ``metrics`` rebuilds the whole sorted history."""
        return self.recorder.rows[start:] if self.recorder is not None else []

    def channel_rows(self, start: int = 0) -> list[tuple]:
        """Channel rows from the ``start``-th on (tuples in the columns of ``channels``)."""
        return self.recorder.channel_rows[start:] if self.recorder is not None else []

    def event_rows(self, start: int = 0) -> list[tuple]:
        """Events from the ``start``-th on: ``(time, kind, stage, message)`` tuples, time in
        seconds since the run started."""
        t0 = self.started
        return [(t - t0, *rest) for t, *rest in self._events[start:]]

    @property
    def events(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.event_rows(), columns=["time", "kind", "stage", "message"])

    # --- time, in labelled phases --------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds since the run started (after compiling): the metrics' clock."""
        return (self.finished or time.time()) - self.started

    @property
    def wall_s(self) -> float:
        """Seconds from ``prog.run()`` to the end (or now): compile + start-up + streaming
        + wind-down."""
        return (self.finished or time.time()) - self.created

    @property
    def startup_s(self) -> float | None:
        """Seconds from the start (compiled) to the first batch taken from the source."""
        return None if self.t_first is None else max(self.t_first - self.started, 0.0)

    @property
    def stream_seconds(self) -> float:
        """Seconds from the first batch taken to the last one done (start-up excluded)."""
        if self.t_first is None:
            return 0.0
        return max((self.t_last or time.time()) - self.t_first, 0.0)

    @property
    def records_per_s(self) -> float:
        """Source records per second of wall time (compile and start-up included)."""
        return self.source_records / max(self.wall_s, 1e-9)

    @property
    def steady_records_per_s(self) -> float:
        """Source records per second while batches flowed (start-up excluded)."""
        return self.source_records / max(self.stream_seconds, 1e-9)

    def dashboard(self, window: float = 60.0, interval: float = 0.25) -> Any:
        """The run's live dashboard (one per run): throughput and latency per stage,
        placement, events. A cell that ends with it shows it; see
        :mod:`workbench.observe.widgets`.
        """
        if self._dashboard is None:
            self._dashboard = backends.backend("view", "run-dashboard")(
                self, window=window, interval=interval)
        return self._dashboard

    @property
    def records_out(self) -> int:
        """Records that reached the sink."""
        return int(getattr(self.sink, "records", 0))

    def summary(self) -> str:
        """One line: records in and out, then each phase labelled (streaming rate and
        time, compile, start-up, wall), and the error's first line if it failed."""
        name = f"{self.name or 'run'} [{self.engine}] {self.status}"
        if not self.done:
            text = (f"{name}: {self.source_records:,} records in so far, "
                    f"{self.elapsed:.2f} s since the start")
        else:
            parts = [f"{name}: {self.source_records:,} records in, {self.records_out:,} out"]
            if self.stream_seconds > 0:
                parts.append(f"streaming {self.steady_records_per_s / 1e6:,.1f} M records/s "
                             f"for {self.stream_seconds:.2f} s")
            parts.append(f"compile {self.compile_s:.2f} s")
            if self.startup_s is not None:
                parts.append(f"start-up {self.startup_s:.2f} s")
            parts.append(f"wall {self.wall_s:.2f} s")
            text = " · ".join(parts)
        if self.error is not None:
            first = str(self.error).splitlines()[0] if str(self.error) else ""
            text += f"\n  error: {type(self.error).__name__}: {first}"
        return text

    def __repr__(self) -> str:
        return f"<Run {self.summary()}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())


_HOOKS = threading.Lock()
