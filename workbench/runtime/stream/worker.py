"""Worker-side run bookkeeping and the control functions the client calls with
``client.run`` (straight to the workers: no scheduler task, no per-batch cost)."""

from __future__ import annotations

import gc
import math
import os
import pickle
import threading
import time
from typing import Any

from ..metrics import Recorder
from .channels import dataplane


class RunState:
    """One run as seen by one worker process: flags, metrics, live instances, and per
    generation (a plan the run has been running: 0, then one more per reconfiguration)
    where its readers start and stop and the cuts its new instances wait for."""

    def __init__(self, run_id: str, worker: str, t0: float, interval: float) -> None:
        self.run_id = run_id
        self.abort = threading.Event()
        # stopping (see reader_positions): readers claim each sequence number under the
        # lock before they read it; once a stop is requested they claim nothing more until
        # the stop point is known, then read everything below it, so that the output of a
        # stopped run (or of a generation handing over to the next) is the output of a
        # whole prefix of its source. A live switch asks them to go on a little first:
        # below ``fence`` they keep claiming while the stop point is decided (see
        # reader_positions), so the source does not pause for the client's round trip
        self.stop_requested: dict[int, bool] = {}
        self.fence: dict[int, int] = {}
        self.first_claims: dict[int, tuple[float, int]] = {}   # gen -> (time, seq)
        self.stop_at: dict[int, int] = {}
        self.start_at: dict[int, int] = {0: 0}   # generation -> its first sequence number
        self.readers: dict[tuple[int, str], int] = {}   # (gen, reader) -> its last claim
        # a reconfiguration: parts of cuts, (new gen, unit, index, old unit, old index) ->
        # what new instance (unit, index) takes over from old instance (old unit, index);
        # and where old instances of generation g send theirs (set before they stop):
        # g -> {(old unit, old index): [(worker address, new gen, Takeover), ...]}
        self.parts: dict[tuple[int, int, int, int, int], Any] = {}
        self.handover: dict[int, dict[tuple[int, int], list[tuple[str, int, Any]]]] = {}
        self.recorder = Recorder(worker, interval, t0=t0)
        self.instances: set[str] = set()
        self.epochs: list[tuple[float, str, int]] = []   # (time, instance, epoch completed)
        self.highest = -1                     # the highest batch an instance here took
        self.checkpoints: list[tuple] = []    # snapshots written (checkpoint.Writer)
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

    def wait_for(self, what: str, ready: Any, patience: float | None = None) -> Any:
        """Block until ``ready()`` returns something other than ``None`` (checked under
        the lock, woken by notify), or the run aborts."""
        from .frames import Aborted

        deadline = None if patience is None else time.monotonic() + patience
        with self.claims:
            while True:
                got = ready()
                if got is not None:
                    return got
                if self.abort.is_set():
                    raise Aborted()
                if deadline is not None and time.monotonic() > deadline:
                    raise Aborted(f"gave up waiting for {what}")
                self.claims.wait(0.05)


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
    """Start this worker's data plane (once); returns where its channels connect. Also
    lets other workers hand cuts to this one (:func:`send_part`)."""
    if PART_OP not in dask_worker.handlers:
        def workbench_cut_part(run_id: str, key: list, payload: bytes) -> bool:
            return _receive_part(dask_worker, run_id, key, payload)

        dask_worker.handlers[PART_OP] = workbench_cut_part
    return tuple(dataplane(dask_worker).data_address)


# --- priorities ------------------------------------------------------------------------------

def lower_priority() -> None:
    """This thread at a lower priority than the data path (Linux: per-thread nice values):
    on two cores, planning, compiling and loading a new plan compete with the running one."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def at_low_priority(fn: Any) -> Any:
    """``fn()`` in a thread of its own at a lower priority; its result (or its error)."""
    out: dict[str, Any] = {}

    def go() -> None:
        lower_priority()
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            out["error"] = exc

    t = threading.Thread(target=go, name="wb-load", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


# --- the cyclic garbage collector -----------------------------------------------------------

def settle_heap() -> None:
    """Put every object this process holds now out of the cyclic garbage collector's
    reach (``gc.freeze``), once an instance has loaded its code. A full collection scans
    the whole heap with the GIL held, and a worker's heap (numba, llvmlite, Dask, pandas)
    took 113 ms to scan on these machines: every stream in the process stood still that
    long (seen as an empty 100 ms window in a live switch, where loading a new plan's code
    had brought the next full collection on). Frozen objects are still freed when their
    last reference goes; only cycles among them wait for :func:`collect_heap`."""
    gc.freeze()


def collect_heap(plane: Any) -> None:
    """No run is left on this worker: give the frozen objects back to the collector and
    collect them once, while no stream can stall on it."""
    with plane.lock:
        if plane.runs or not gc.get_freeze_count():
            return
    gc.unfreeze()
    gc.collect()


# --- handing a cut over, worker to worker -------------------------------------------------

PART_OP = "workbench_cut_part"


def _changed(dask_worker: Any, run_id: str, change: Any) -> bool:
    """``change(rs)`` on this worker's state of the run, under its lock, then wake every
    instance waiting on it; False if this worker does not know the run."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is not None:
        with rs.claims:
            change(rs)
            rs.claims.notify_all()
    return rs is not None


def put_part(dask_worker: Any, run_id: str, key: tuple, part: Any) -> bool:
    """Part ``part`` of a cut, for the new instance that waits for ``key``."""
    return _changed(dask_worker, run_id, lambda rs: rs.parts.__setitem__(tuple(key), part))


def _receive_part(dask_worker: Any, run_id: str, key: tuple, payload: bytes) -> bool:
    return put_part(dask_worker, run_id, key, pickle.loads(payload))


def send_part(worker: Any, address: str, run_id: str, key: tuple, part: Any) -> bool:
    """Put ``part`` where new instance ``key[:3]`` waits for it: on this worker directly,
    on another one through Dask's worker-to-worker comm (no client, no scheduler).
    False if that worker does not know the run (the client hands it over instead)."""
    if address == worker.address:
        return put_part(worker, run_id, key, part)
    from distributed.utils import sync

    payload = pickle.dumps(part, protocol=5)

    async def go() -> Any:
        return await worker.rpc(address).workbench_cut_part(run_id=run_id, key=list(key),
                                                            payload=payload)
    try:
        return bool(sync(worker.loop, go))
    except Exception:  # noqa: BLE001 - the client's path delivers it instead
        return False


def prepare(run_id: str, t0: float, interval: float, token: str, dask_worker: Any) -> bool:
    """Register a run before its instances start: its metrics clock and channel token."""
    plane = dataplane(dask_worker)
    with plane.lock:
        plane.tokens[run_id] = token
    run_state(dask_worker, run_id, t0, interval)
    return True


def reader_positions(run_id: str, dask_worker: Any, gen: int = 0, lead_s: float = 0.0
                     ) -> int | None:
    """Stop, phase 1: this worker's source readers of generation ``gen`` claim no
    sequence number from the fence on until the stop point arrives; returns the highest
    one they may have claimed by then (None: no reader here, or none claimed yet). The
    fence is one past their highest claim, plus (``lead_s`` > 0, a live switch) the
    sequence numbers they claim in ``lead_s`` seconds at their rate so far: they read on
    while the client decides, instead of waiting for its round trip. A reader busy with
    its claim (blocked on credits, say) goes on with it: nothing waits for it here."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return None
    with rs.lock:
        rs.stop_requested[gen] = True
        high = max((v for (g, _), v in rs.readers.items() if g == gen), default=None)
        if high is None:
            return None
        ahead = 0
        first = rs.first_claims.get(gen)
        if lead_s > 0 and first is not None:
            took = time.monotonic() - first[0]
            if took > 0:
                ahead = math.ceil((high - first[1]) / took * lead_s)
        rs.fence[gen] = high + 1 + max(ahead, 0)
        return rs.fence[gen] - 1


def stop_readers_at(run_id: str, stop_at: int, dask_worker: Any, gen: int = 0) -> bool:
    """Stop, phase 2: readers of generation ``gen`` read every sequence number below
    ``stop_at`` (one past the highest claim of phase 1), then end."""
    return _changed(dask_worker, run_id, lambda rs: rs.stop_at.__setitem__(gen, stop_at))


def switch_at(run_id: str, old: int, stop_at: int, readers: list[str], new: int,
              dask_worker: Any) -> bool:
    """A live switch in one round trip: generation ``old``'s readers (on the workers in
    ``readers``) stop below ``stop_at``, generation ``new`` starts there."""
    def change(rs: RunState) -> None:
        if dask_worker.address in readers:
            rs.stop_at[old] = stop_at
        rs.start_at[new] = stop_at

    return _changed(dask_worker, run_id, change)


def start_at(run_id: str, gen: int, seq: int, dask_worker: Any) -> bool:
    """Generation ``gen`` takes over at sequence number ``seq``: its readers start there,
    its consumers expect it first."""
    return _changed(dask_worker, run_id, lambda rs: rs.start_at.__setitem__(gen, seq))


def set_handover(run_id: str, gen: int, table: dict, dask_worker: Any) -> bool:
    """Where the instances of generation ``gen`` on this worker send their cuts when they
    stop: {(unit, index): [(worker address, new gen, Takeover), ...]}."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is not None:
        with rs.lock:
            rs.handover[gen] = table
    return rs is not None


def give_parts(run_id: str, parts: dict, dask_worker: Any) -> bool:
    """Parts of cuts that new instances take over, from the client (old instances that
    could not send theirs directly)."""
    return _changed(dask_worker, run_id, lambda rs: rs.parts.update(
        {tuple(k): p for k, p in parts.items()}))


def entered(run_id: str, dask_worker: Any) -> list[str]:
    """The instances of a run that have started on this worker."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return []
    with rs.lock:
        return sorted(rs.instances)


def drop_generation(run_id: str, gen: int, dask_worker: Any) -> int:
    """Free what a drained generation left on this worker (its inboxes); returns how
    many."""
    plane = dataplane(dask_worker)
    with plane.lock:
        keys = [k for k in plane.inboxes if k[0] == run_id and k[1] == gen]
    for k in keys:
        plane.drop(k)
    return len(keys)


def abort(run_id: str, dask_worker: Any) -> bool:
    """Immediate: every instance of the run on this worker leaves its loop."""
    plane = dataplane(dask_worker)
    rs = plane.runs.get(run_id)
    if rs is not None:
        rs.abort.set()
    plane.close_run(run_id)
    return rs is not None


def take_rows(run_id: str, dask_worker: Any) -> tuple[list[tuple], ...]:
    """Metric rows, channel rows, epoch completions and checkpoint snapshots written since
    the last call, and the highest batch an instance here has taken."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return [], [], [], [], -1
    with rs.lock:
        epochs, rs.epochs = rs.epochs, []
        written, rs.checkpoints = rs.checkpoints, []
    return (*rs.recorder.take_rows(), epochs, written, rs.highest)


def claimed(run_id: str, dask_worker: Any) -> int | None:
    """The highest sequence number this worker's readers claimed or its instances took
    (None: nothing here yet)."""
    rs = dataplane(dask_worker).runs.get(run_id)
    if rs is None:
        return None
    with rs.lock:
        top = max(max(rs.readers.values(), default=-1), rs.highest)
    return top if top >= 0 else None


def finish(run_id: str, dask_worker: Any) -> tuple[list[tuple], ...]:
    """Last metrics of a run, then forget it (and any inbox it left)."""
    plane = dataplane(dask_worker)
    with plane.lock:
        rs = plane.runs.pop(run_id, None)
        for key in [k for k in plane.inboxes if k[0] == run_id]:
            del plane.inboxes[key]
    plane.close_run(run_id)
    try:
        if rs is None:
            return [], [], [], [], -1
        rs.abort.set()      # anything still looping leaves now
        if rs.started:
            rs.recorder.stop()
        from .checkpoint import writer

        writer().flush(rs)    # no snapshot of it is written after this
        with rs.lock:
            return (*rs.recorder.take_rows(), rs.epochs, rs.checkpoints, rs.highest)
    finally:
        collect_heap(plane)


def where(run_id: str, dask_worker: Any) -> dict[str, Any]:
    """A run's instances, inboxes and senders on this worker, and what each waits for."""
    plane = dataplane(dask_worker)
    rs = plane.runs.get(run_id)
    out = plane.describe(run_id)
    if rs is not None:
        with rs.lock:
            out.update(instances=sorted(rs.instances),
                       readers={name: v for (_, name), v in rs.readers.items()},
                       start_at=dict(rs.start_at), stop_at=dict(rs.stop_at),
                       stop_requested=dict(rs.stop_requested))
    return out


def active(dask_worker: Any) -> dict[str, list[str]]:
    """Live instances and inboxes per run on this worker (for status and leak checks)."""
    plane = dataplane(dask_worker)
    with plane.lock:
        out = {rid: sorted(rs.instances) for rid, rs in plane.runs.items() if rs.instances}
        for key in plane.inboxes:
            out.setdefault(key[0], []).append(f"inbox g{key[1]} {key[2]}.{key[3]}")
    return out


async def kill(dask_worker: Any) -> None:
    """SIGKILL this worker's process (fault injection: ``wb.faults.kill``; a coroutine, so
    that ``client.run(..., wait=False)`` takes it)."""
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
