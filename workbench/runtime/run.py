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
        self.started = time.time()
        self.finished: float | None = None
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
        """Block until the run ends; re-raise its error. Returns the run."""
        if not self._done.wait(timeout):
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
        """The run's time series as a pandas DataFrame (see :mod:`workbench.runtime.metrics`)."""
        return _metrics.frame(self.recorder.rows if self.recorder else [])

    def metric_rows(self, start: int = 0) -> list[tuple]:
        """Metric rows from the ``start``-th on, as recorded (tuples in the columns of
        ``metrics``, in arrival order): a cheap incremental read for live views, where
        ``metrics`` rebuilds the whole sorted history."""
        return self.recorder.rows[start:] if self.recorder is not None else []

    def event_rows(self, start: int = 0) -> list[tuple]:
        """Events from the ``start``-th on: ``(time, kind, stage, message)`` tuples, time in
        seconds since the run started."""
        t0 = self.started
        return [(t - t0, *rest) for t, *rest in self._events[start:]]

    @property
    def events(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.event_rows(), columns=["time", "kind", "stage", "message"])

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    @property
    def records_per_s(self) -> float:
        """Source records processed per second of the run (wall clock)."""
        return self.source_records / max(self.elapsed, 1e-9)

    @property
    def stream_seconds(self) -> float:
        """Seconds from the first batch taken to the last one done (start-up excluded)."""
        return self.elapsed

    @property
    def steady_records_per_s(self) -> float:
        """Source records per second while batches flowed."""
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

    def summary(self) -> str:
        out = getattr(self.sink, "records", 0)
        text = (f"{self.name or 'run'} [{self.engine}] {self.status}: {self.source_records:,} "
                f"records in {self.elapsed:.2f} s = {self.records_per_s / 1e6:,.1f} M records/s"
                f", {out:,} out")
        if self.error is not None:
            first = str(self.error).splitlines()[0] if str(self.error) else ""
            text += f"\n  error: {type(self.error).__name__}: {first}"
        return text

    def __repr__(self) -> str:
        return f"<Run {self.summary()}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary())


_HOOKS = threading.Lock()
