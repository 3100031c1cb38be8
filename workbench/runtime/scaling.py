"""Scaling the compute side of a local cluster with real worker processes.

The local cluster (:func:`~workbench.runtime.cluster.start_local`) is a Dask
``SpecCluster`` of named workers: ``compute-0``, ``compute-1``, ... and ``storage-0``.
:class:`WorkbenchCluster` gives it a compute-worker template, so ``scale`` and Dask's
``adapt`` can add workers (named ``compute-N``), and retires compute workers only: a
storage worker keeps the ``wb.store`` values that calls read next to it, so no scaling
request ever removes one. ``scale(n)`` counts every worker, as Dask does (``n`` minus
the storage workers are compute workers); :func:`scale_compute` counts compute workers.

A compute worker leaves gracefully (:func:`drain`): the scheduler sends it no more tasks
and moves the results only it holds, the calls it is running finish there, and only then
does it close (the calls queued on it but not started move to the workers that stay).
Dask's own retirement closes a worker once its results have moved, and the calls it was
running are cancelled and run again elsewhere: a scale-down would cost each of them its
time so far, and put it over a latency target.

:class:`ComputeAdaptive` is Dask's own ``Adaptive``, unchanged but for never choosing a
storage worker to close and retiring the workers it chose as above: the ``reactive``
policy of ``wb.autoscale``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import numpy as np
from distributed import SpecCluster
from distributed.deploy.adaptive import Adaptive

STORAGE_PREFIX = "storage-"
DRAIN_S = 60.0           # the longest a leaving worker waits for the calls it is running
LEAVING = ("closing_gracefully", "closing", "closed")    # a worker's status as it leaves


def is_storage(name: Any) -> bool:
    return str(name).startswith(STORAGE_PREFIX)


class WorkbenchCluster(SpecCluster):
    """A ``SpecCluster`` whose scaling adds and removes compute workers only."""

    def _new_worker_name(self, worker_number: int) -> str:
        return f"compute-{worker_number}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.draining: set[Any] = set()         # compute workers leaving (see drain)
        super().__init__(*args, **kwargs)

    def new_worker_spec(self) -> dict:
        """The next compute worker's spec, under a name never used before in this
        cluster (a removed worker may still be closing under its old name)."""
        got = super().new_worker_spec()
        self._i += 1
        return got

    def storage_names(self) -> list[Any]:
        return [k for k in self.worker_spec if is_storage(k)]

    def compute_names(self) -> list[Any]:
        """The compute workers asked for (started or starting; not those leaving)."""
        return [k for k in self.worker_spec if not is_storage(k) and k not in self.draining]

    @property
    def plan(self) -> set:
        return super().plan - self.draining

    def scale(self, n: int = 0, memory: Any = None, cores: Any = None) -> Any:
        """``n`` workers in all (Dask's count): ``n`` minus the storage workers compute
        workers, at least none; storage workers are never removed."""
        from distributed.core import Status

        if memory is not None or cores is not None or self.status in (Status.closing,
                                                                      Status.closed):
            return super().scale(n, memory=memory, cores=cores)   # closing: all go
        return self.scale_compute(max(int(n) - len(self.storage_names()), 0))

    def scale_compute(self, n: int) -> Any:
        """Ask for ``n`` compute workers: new ones from the template; removed ones
        newest first (those not started yet go at once, running ones leave gracefully:
        :func:`drain`)."""
        compute = self.compute_names()
        leave = []
        if len(compute) > n:
            running = {v["name"] for v in self.scheduler_info["workers"].values()}
            order = sorted(compute, key=lambda k: (k in running, _index(k)))
            for k in order[:len(compute) - n]:
                if k in running:
                    self.draining.add(k)
                    leave.append(k)
                else:
                    del self.worker_spec[k]
        while len(self.compute_names()) < n:
            self.worker_spec.update(self.new_worker_spec())
        self.loop.add_callback(self._correct_state)
        if leave:
            self.loop.add_callback(self.retire_compute, leave)
        return None

    async def retire_compute(self, names: list[Any]) -> None:
        """The compute workers named leave once the calls they are running have
        finished (:func:`drain`), their results moved to the workers that stay."""
        from distributed.core import Status

        self.draining.update(names)
        try:
            await drain(self.scheduler_comm, names)
            # the results of the calls they finished move to the workers that stay
            # (SpecCluster's own retirement, when it closes them below, names workers
            # where Dask wants addresses, and moves none)
            await self.scheduler_comm.retire_workers(names=[str(k) for k in names],
                                                     close_workers=False, remove=False)
            # that retirement's status message to the workers travels on the scheduler's
            # batched stream: let it land before their nannies close them (a worker
            # already closing logs it as an invalid transition)
            await asyncio.sleep(0.5)
        finally:
            for k in names:
                self.draining.discard(k)
                if self.status == Status.running:
                    self.worker_spec.pop(k, None)
            if self.status == Status.running:
                await self._correct_state()

    async def _close(self) -> None:
        """Close, once the workers being retired have finished moving their results
        (Dask's close asserts that every worker it started is closing or closed)."""
        import asyncio

        from distributed.core import Status

        deadline = time.monotonic() + 30
        while (any(w.status == Status.closing_gracefully for w in self._created)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        await super()._close()

    async def scale_down(self, workers: Any) -> None:
        """Dask's ``Adaptive`` closing workers it chose: compute ones only."""
        names = {}
        for addr, info in self.scheduler_info["workers"].items():
            names[addr] = info.get("name")
        keep = [w for w in workers if not is_storage(names.get(w, w))]
        await super().scale_down(keep)


def _running_calls(dask_worker: Any) -> int:
    """How many tasks the worker is running now (run on the worker)."""
    return len(dask_worker.state.executing)


def _stop_heartbeat(dask_worker: Any) -> bool:
    """Stop the worker's heartbeats to the scheduler (run on a worker about to close)."""
    pc = dask_worker.periodic_callbacks.get("heartbeat")
    if pc is not None:
        pc.stop()
    return pc is not None


async def _broadcast(scheduler: Any, fn: Any, workers: list[str]) -> dict:
    """``fn(dask_worker)`` on ``workers`` through the scheduler RPC ``scheduler``: each
    worker's reply (``{"status": "OK", "result": ...}``, or an error); workers gone
    already are left out."""
    from distributed.protocol.pickle import dumps

    if not workers:
        return {}
    msg = {"op": "run", "function": dumps(fn), "args": dumps(()), "kwargs": dumps({}),
           "wait": True}
    try:
        return await scheduler.broadcast(msg=msg, workers=workers, on_error="ignore")
    except Exception:  # noqa: BLE001 - gone already
        return {}


async def drain(scheduler: Any, names: list, timeout: float = DRAIN_S) -> list[str]:
    """Retire the workers ``names`` gracefully, up to closing them: the scheduler sends
    them no more tasks and moves the results only they hold (Dask's ``retire_workers``
    without closing); then wait, up to ``timeout`` seconds, until the tasks they are
    running have finished. ``scheduler`` is an RPC to the scheduler. Closing is the
    caller's (tasks queued on them and not started move to other workers then); their
    heartbeats stop here (one in flight while a worker closes fails, and Dask prints
    its traceback: a worker leaving is not a fault). Returns the addresses drained."""
    got = await scheduler.retire_workers(names=[str(k) for k in names],
                                         close_workers=False, remove=False)
    addrs = list(got or ())
    busy, deadline = addrs, time.monotonic() + timeout
    while busy and time.monotonic() < deadline:
        got = await _broadcast(scheduler, _running_calls, busy)
        if not got:
            break                                   # gone already: nothing to wait for
        busy = [a for a, r in got.items()
                if isinstance(r, dict) and r.get("status") == "OK" and r.get("result")]
        if busy:
            await asyncio.sleep(0.02)
    await _broadcast(scheduler, _stop_heartbeat, addrs)
    return addrs


def _index(name: Any) -> int:
    tail = str(name).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class ComputeAdaptive(Adaptive):
    """Dask's ``Adaptive`` that never picks a storage worker to close, and lets the
    workers it picked finish the calls they are running before they close."""

    async def scale_down(self, workers: Any) -> None:
        """The workers leave after :func:`drain` (Dask's retirement alone would cancel
        the calls running on them and run them again elsewhere): the local cluster's
        ``retire_compute``; elsewhere (docker) Dask's retirement once drained."""
        keep = [w for w in workers if not is_storage(w)]
        if not keep:
            return
        retire = getattr(self.cluster, "retire_compute", None)
        if retire is not None:
            await retire(keep)
            return
        draining = getattr(self.cluster, "draining", set())
        draining.update(keep)                   # scale_compute does not pick them again
        try:
            await drain(self.scheduler, keep)
            await super().scale_down(keep)
        finally:
            draining.difference_update(keep)

    async def adapt(self) -> None:
        """Dask's step; on a cluster without Dask's own worker bookkeeping (the docker
        cluster: it has ``seen``), the workers the scheduler has are looked up first."""
        from .session import _takes_n_workers

        seen = getattr(self.cluster, "seen", None)
        if seen is not None:
            kw = {"n_workers": -1} if _takes_n_workers(self.cluster.client) else {}
            info = await self.scheduler.identity(**kw)
            seen({w.get("name") for w in (info.get("workers") or {}).values()})
        await super().adapt()

    async def workers_to_close(self, target: int) -> list:
        """Dask's choice among the compute workers: asked as if the storage workers
        were not there to pick (they count in ``target``, as in Dask's own count), and
        never one already leaving."""
        storage = self.cluster.storage_names()
        got = await self.scheduler.workers_to_close(
            target=max(target - len(storage), 0), attribute="name")
        extra = max(len(self.plan) - target, 0)
        plan = {str(k) for k in self.plan}      # not those already leaving
        return [w for w in got if not is_storage(w) and str(w) in plan][:extra]


def compute_workers(session: Any, leaving: bool = False) -> list[str]:
    """Addresses of the session's compute workers running now; with ``leaving``, also
    those leaving but not gone yet (they still finish the calls they run: they count in
    worker-seconds)."""
    ws = dict(session.workers)
    if leaving:
        ws.update(session.leaving)
    return sorted(a for a, r in ws.items() if r.get("storage", 0) <= 0)


def scale_compute(session: Any, n: int, wait: bool = True, timeout: float = 120.0) -> float:
    """Ask the session's local cluster for ``n`` compute workers; with ``wait``, until
    that many are running. Returns the seconds it took (a worker's start time when
    growing)."""
    cl = _scalable(session)
    t0 = time.perf_counter()
    cl.scale_compute(n)
    if wait:
        deadline = time.monotonic() + timeout
        while len(compute_workers(session)) != n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"asked for {n} compute worker(s); "
                                   f"{len(compute_workers(session))} running after "
                                   f"{timeout:g} s.")
            time.sleep(0.05)
    return time.perf_counter() - t0


def _scalable(session: Any) -> Any:
    """The session's cluster, if the workbench started it with a compute-worker template
    (the local :class:`WorkbenchCluster`, or the docker cluster)."""
    from ..errors import WorkbenchError

    cl = getattr(session, "cluster", None)
    if not callable(getattr(cl, "scale_compute", None)):
        raise WorkbenchError(
            f"this session's cluster ({session.kind}) cannot add or remove workers from "
            "here: only a cluster the workbench started (local or docker) can.\nFix: "
            "wb.cluster() (the local default) or wb.cluster('docker'), or scale the "
            "cluster where it was started.")
    return cl


POLICIES = ("forecast", "reactive", "fixed")


class Autoscaler:
    """Scales the session's compute workers under a policy; ``history`` records, every
    ``interval`` seconds, the arrival rate, the forecast, the workers asked for and
    present, and latency against the SLO.

    ``fixed``: ``minimum`` workers, held. ``reactive``: Dask's ``Adaptive`` (through
    :class:`ComputeAdaptive`) between ``minimum`` and ``maximum``, with Dask's defaults,
    or with ``target_duration`` seconds of queued work (and our ``interval``) when given.
    ``forecast``: every interval the arrival rate goes into a
    :class:`~workbench.placement.scaling.Forecaster`; the highest rate it predicts
    within one worker start time (measured at each scale-up: from the request to the
    workers running; one interval until the first) asks for the workers that rate needs
    (:func:`~workbench.placement.scaling.workers_for`, from the measured service time per
    call); fewer workers only after ``patience`` intervals of needing fewer.
    """

    def __init__(self, session: Any, policy: str = "forecast", minimum: int = 1,
                 maximum: int = 4, slo_ms: float = 100.0, interval: float = 1.0,
                 season_s: float | None = None, utilization: float = 0.8,
                 patience: int = 3, service_s: float | None = None,
                 target_duration: float | None = None) -> None:
        from ..errors import WorkbenchError
        from ..placement.scaling import Forecaster

        if policy not in POLICIES:
            raise WorkbenchError(f"wb.autoscale: policy must be one of "
                                 f"{', '.join(POLICIES)}; got {policy!r}.")
        if target_duration is not None and (policy != "reactive" or target_duration <= 0):
            raise WorkbenchError(
                f"wb.autoscale: target_duration is Dask Adaptive's knob, for "
                f"policy='reactive' with a positive number of seconds; got "
                f"policy={policy!r}, target_duration={target_duration!r}.\nFix: drop it, "
                "or use it with policy='reactive'.")
        if not 1 <= minimum <= maximum:
            raise WorkbenchError(f"wb.autoscale: need 1 <= minimum <= maximum; got "
                                 f"minimum={minimum}, maximum={maximum}.")
        self.cluster = _scalable(session)
        self.session = session
        self.policy, self.minimum, self.maximum = policy, minimum, maximum
        self.slo_s, self.interval = slo_ms / 1e3, interval
        self.utilization, self.patience, self.service_s = utilization, patience, service_s
        self.target_duration = target_duration
        steps = int(round(season_s / interval)) if season_s else None
        self.forecaster = Forecaster(steps)
        self.threads = int(session.sizes[2]) if session.sizes else 2
        self.asked = len(compute_workers(session))
        self.start_s: float | None = None          # measured worker start time
        self.rows: list[dict] = []
        self._down = 0
        self._adaptive: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wb-autoscale", daemon=True)

    # --- control -----------------------------------------------------------------------------
    def start(self) -> Autoscaler:
        from .functions import runtime

        self.rt = runtime(self.session)
        self.t0 = time.time()
        self._ask(self.minimum if self.policy == "fixed"
                  else min(max(self.asked, self.minimum), self.maximum))
        if self.policy == "reactive":
            import dask

            storage = len(self.cluster.storage_names())
            # every knob given, Dask's defaults included: Dask's Cluster.adapt keeps the
            # options of earlier calls, so a call without them would inherit a previous
            # autoscaler's target_duration
            knobs = ({"target_duration": dask.config.get("distributed.adaptive.target-duration"),
                      "interval": dask.config.get("distributed.adaptive.interval")}
                     if self.target_duration is None else
                     {"target_duration": self.target_duration, "interval": self.interval})
            self._adaptive = self.cluster.adapt(Adaptive=ComputeAdaptive,
                                                minimum=storage + self.minimum,
                                                maximum=storage + self.maximum, **knobs)
        self._thread.start()
        self.session.scaler = self          # what the function board shows
        return self

    def stop(self) -> None:
        """Stop scaling (the workers stay as they are)."""
        self._stop.set()
        if self._adaptive is not None:
            self._adaptive.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=5 * self.interval + 5)

    @property
    def running(self) -> bool:
        """True while it scales (started, not stopped, its session open)."""
        return self._thread.is_alive() and not self._stop.is_set()

    def _ask(self, n: int) -> None:
        """Ask for ``n`` compute workers; a growth's start time is measured in a thread."""
        grow = n > len(compute_workers(self.session))
        self.asked = n
        if not grow:
            self.cluster.scale_compute(n)
            return

        def timed() -> None:
            try:
                took = scale_compute(self.session, n, wait=True)
            except TimeoutError:
                return
            self.start_s = took if self.start_s is None else 0.5 * self.start_s + 0.5 * took

        threading.Thread(target=timed, name="wb-autoscale-start", daemon=True).start()

    def _loop(self) -> None:
        last = time.time()
        while not self._stop.wait(max(0.0, last + self.interval - time.time())):
            if self.session.closed:
                return
            now = time.time()
            try:
                self._step(last, now)
            except Exception as exc:  # noqa: BLE001 - a bad step must not stop scaling
                self.rows.append({"time": now - self.t0, "error": str(exc)})
            last = now

    def _step(self, t_from: float, t_to: float) -> None:
        from ..placement.scaling import workers_for

        dt = max(t_to - t_from, 1e-9)
        rate = sum(n for t, n in list(self.rt.arrivals) if t_from <= t < t_to) / dt
        lat = np.asarray([s for t, s in list(self.rt.latencies) if t_from <= t < t_to])
        service = self._service()
        present = len(compute_workers(self.session))
        forecast = float("nan")
        need = float("nan")
        if self.policy == "forecast":
            self.forecaster.add(rate)
            ahead = max(1, math.ceil((self.start_s or self.interval) / self.interval))
            pred = self.forecaster.predict(ahead)
            forecast = float(pred.max())
            if service is not None:
                need = min(max(workers_for(forecast, service, self.threads,
                                           self.utilization), self.minimum), self.maximum)
                if need > self.asked:
                    self._down = 0
                    self._ask(int(need))
                elif need < self.asked:
                    self._down += 1
                    if self._down >= self.patience:
                        self._down = 0
                        self._ask(int(need))
                else:
                    self._down = 0
        elif self.policy == "reactive":
            self.asked = len(self.cluster.compute_names())
        self.rows.append({
            "time": t_to - self.t0, "rate": rate, "forecast": forecast,
            "model": self.forecaster.model if self.policy == "forecast" else "",
            "need": need, "asked": self.asked, "present": present,
            "service_ms": (service or float("nan")) * 1e3,
            "start_s": self.start_s if self.start_s is not None else float("nan"),
            "calls_done": int(lat.size),
            "p99_ms": float(np.percentile(lat, 99) * 1e3) if lat.size else float("nan"),
            "over_slo": float((lat > self.slo_s).mean()) if lat.size else float("nan")})

    def _service(self) -> float | None:
        """Seconds a call holds a worker thread: given, or measured on the compute side
        over the recent calls (``None`` before any)."""
        if self.service_s is not None:
            return self.service_s
        recent = [d for d in list(self.rt.done)[-2000:] if d[3] == "compute" and d[2] > 0]
        if not recent:
            return None
        return sum(d[4] for d in recent) / sum(d[2] for d in recent)

    # --- what happened -----------------------------------------------------------------------
    @property
    def history(self) -> Any:
        """One row per interval (pandas DataFrame): ``time`` (s from start), ``rate``
        (calls/s), ``forecast`` (the highest rate predicted within a worker start time),
        ``need``, ``asked``, ``present``, ``service_ms``, ``start_s``, ``p99_ms`` and
        ``over_slo`` (the share of calls finished in the interval over the SLO)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def __repr__(self) -> str:
        return (f"<Autoscaler {self.policy} {self.minimum}-{self.maximum} compute workers; "
                f"asked {self.asked}, {len(self.rows)} interval(s) recorded>")
