"""Worker-side run bookkeeping and the control functions the client calls with
``client.run`` (straight to the workers: no scheduler task, no per-batch cost)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..metrics import Recorder
from .channels import dataplane


class RunState:
    """One run as seen by one worker process: flags, metrics, live instances."""

    def __init__(self, run_id: str, worker: str, t0: float, interval: float) -> None:
        self.run_id = run_id
        self.abort = threading.Event()
        # stopping (see reader_positions): readers claim each sequence number under the
        # lock before they read it; once a stop is requested they claim nothing more until
        # the stop point is known, then read everything below it, so that the output of a
        # stopped run is the output of a whole prefix of its source
        self.stop_requested = False
        self.stop_at: int | None = None
        self.readers: dict[str, int] = {}        # reader instance -> its last claim
        self.recorder = Recorder(worker, interval, t0=t0)
        self.instances: set[str] = set()
        self.epochs: list[tuple[float, str, int]] = []   # (time, instance, epoch completed)
        self.started = False
        self.lock = threading.Lock()
        self.claims = threading.Condition(self.lock)

    def enter(self, name: str) -> None:
        with self.lock:
            self.instances.add(name)
            if not self.started:
                self.recorder.start()
                self.started = True

    def leave(self, name: str) -> None:
        with self.lock:
            self.instances.discard(name)


def run_state(worker: Any, run_id: str, t0: float = 0.0, interval: float = 0.25) -> RunState:
    plane = dataplane(worker)
    with plane.lock:
        rs = plane.runs.get(run_id)
        if rs is None:
            rs = plane.runs[run_id] = RunState(run_id, worker.address, t0 or time.time(),
                                               interval)
        return rs


# --- control functions (client.run passes dask_worker) ---------------------------------------

def warm(dask_worker: Any) -> bool:
    """Import numba and load the engine's own compiled kernels before the first run needs
    them (a cold worker otherwise spends ~0.5 s there on its first batch)."""
    import numpy as np

    from ...compile.kernels import group_order

    group_order(np.zeros(1, np.int64), 1)
    dataplane(dask_worker)
    return True


def install(dask_worker: Any) -> tuple[str, int]:
    """Start this worker's data plane (once); returns where its channels connect."""
    return tuple(dataplane(dask_worker).data_address)


def prepare(run_id: str, t0: float, interval: float, token: str, dask_worker: Any) -> bool:
    """Register a run before its instances start: its metrics clock and channel token."""
    plane = dataplane(dask_worker)
    with plane.lock:
        plane.tokens[run_id] = token
    run_state(dask_worker, run_id, t0, interval)
    return True


def reader_positions(run_id: str, dask_worker: Any) -> int | None:
    """Stop, phase 1: from now on this worker's source readers claim no new sequence
    number until the stop point arrives; returns the highest one they claimed (None: no
    reader here, or none claimed yet). A reader busy with its claim (blocked on credits,
    say) goes on with it: nothing waits for it here."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return None
    with rs.lock:
        rs.stop_requested = True
        return max(rs.readers.values(), default=None)


def stop_readers_at(run_id: str, stop_at: int, dask_worker: Any) -> bool:
    """Stop, phase 2: readers read every sequence number below ``stop_at`` (one past the
    highest claim of phase 1), then end."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is not None:
        with rs.claims:
            rs.stop_at = stop_at
            rs.claims.notify_all()
    return rs is not None


def abort(run_id: str, dask_worker: Any) -> bool:
    """Immediate: every instance of the run on this worker leaves its loop."""
    plane = dataplane(dask_worker)
    rs = plane.runs.get(run_id)
    if rs is not None:
        rs.abort.set()
    plane.close_run(run_id)
    return rs is not None


def take_rows(run_id: str, dask_worker: Any) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Metric rows, channel rows and epoch completions since the last call."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return [], [], []
    with rs.lock:
        epochs, rs.epochs = rs.epochs, []
    return (*rs.recorder.take_rows(), epochs)


def finish(run_id: str, dask_worker: Any) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Last metrics of a run, then forget it (and any inbox it left)."""
    plane = dataplane(dask_worker)
    with plane.lock:
        rs = plane.runs.pop(run_id, None)
        for key in [k for k in plane.inboxes if k[0] == run_id]:
            del plane.inboxes[key]
    plane.close_run(run_id)
    if rs is None:
        return [], [], []
    rs.abort.set()      # anything still looping leaves now
    if rs.started:
        rs.recorder.stop()
    return (*rs.recorder.take_rows(), rs.epochs)


def where(run_id: str, dask_worker: Any) -> dict[str, Any]:
    """A run's instances, inboxes and senders on this worker, and what each waits for."""
    plane = dataplane(dask_worker)
    rs = plane.runs.get(run_id)
    out = plane.describe(run_id)
    if rs is not None:
        with rs.lock:
            out.update(instances=sorted(rs.instances), readers=dict(rs.readers),
                       stop_at=rs.stop_at, stop_requested=rs.stop_requested)
    return out


def active(dask_worker: Any) -> dict[str, list[str]]:
    """Live instances and inboxes per run on this worker (for status and leak checks)."""
    plane = dataplane(dask_worker)
    with plane.lock:
        out = {rid: sorted(rs.instances) for rid, rs in plane.runs.items() if rs.instances}
        for key in plane.inboxes:
            out.setdefault(key[0], []).append(f"inbox {key[1]}.{key[2]}")
    return out
