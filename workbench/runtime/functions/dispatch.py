"""Client side of functions: place calls (by hint or by the cost model), submit, measure.

One :class:`Runtime` per cluster session. It keeps the session's :class:`Placer` (pure,
:mod:`workbench.placement.functions`), feeds it the measurements workers send as Dask
events (and chunks return with their results), measures the transfer rate between workers
and each side's CPU load (CPU taken by other work: a worker's process CPU minus its event
loop's and its function calls', :meth:`Runtime.load`), and tracks the work it has queued
per side (backlog) and per worker (a probe goes to the least busy worker of its side).
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import deque
from typing import Any

import numpy as np

from ...errors import PlacementError
from ...model.refs import StoreRef
from ...placement import resolve
from ...placement.functions import SIDES, Env, Placer
from .batch import Calls, Chunk, chunk_args, split_args
from .calls import TOPIC, call_chunk, call_one, cpu_sample, jit_of
from .store_server import StoreClient, ensure

_RUNTIMES: dict[int, Runtime] = {}
_LOCK = threading.Lock()


def runtime(session: Any = None) -> Runtime:
    """The functions runtime of ``session`` (default: ``wb.cluster()``), made on first use."""
    if session is None:
        from ..cluster import cluster

        session = cluster()
    with _LOCK:
        rt = _RUNTIMES.get(id(session.client))
        if rt is None or rt.session is not session:
            rt = _RUNTIMES[id(session.client)] = Runtime(session)
        return rt


def runtime_of(session: Any) -> Runtime | None:
    """The functions runtime of ``session`` if it has one (never makes one)."""
    if session is None:
        return None
    rt = _RUNTIMES.get(id(session.client))
    return rt if rt is not None and rt.session is session else None


def current() -> Runtime | None:
    """The functions runtime of the current session, if both exist (never starts either)."""
    from ..cluster import current as current_session

    return runtime_of(current_session())


def side_of(resources: dict) -> str:
    return "storage" if resources.get("storage", 0) > 0 else "compute"


class Runtime:
    """Places, submits and measures function calls on one session's cluster."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.client = session.client
        ensure(session)
        self.placer = Placer()
        self.lock = threading.RLock()
        self.backlog = dict.fromkeys(SIDES, 0.0)
        self.queued: dict[str, list[float]] = {}    # worker -> [est. seconds, chunks]
        self.rate, self.latency, self.calibrated = 1e9, 5e-4, False
        self.jit: dict[str, tuple[bool, str | None]] = {}
        self.done: deque[tuple[float, str, int, str, float]] = deque(maxlen=100000)
        self._workers: tuple[float, dict] = (0.0, {})
        self._cpu: tuple[float, dict, dict] = (0.0, {}, {})
        self._samples: dict[str, dict] = {}
        # the client reaches the workers themselves (a local cluster; a docker one on this
        # machine's engine): large arguments and results skip the scheduler; elsewhere
        # (a scheduler's address, a published docker port) only the scheduler is reachable
        self.direct = session.kind == "local" or (
            session.kind == "docker" and not getattr(session.cluster, "publish", True))
        self.arrivals: deque[tuple[float, int]] = deque(maxlen=200000)   # (time, calls)
        self.latencies: deque[tuple[float, float]] = deque(maxlen=200000)  # (done, s)
        self.client.subscribe_topic(TOPIC, self._on_event)

    # --- the cluster as measured ---------------------------------------------------------
    def workers(self, fresh: bool = False) -> dict[str, dict]:
        t, ws = self._workers
        if fresh or not ws or time.monotonic() - t > 2.0:
            ws = self.session.workers
            self._workers = (time.monotonic(), ws)
        return ws

    def sides(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {s: [] for s in SIDES}
        for a, r in sorted(self.workers().items()):
            out[side_of(r)].append(a)
        return out

    def sides_now(self) -> dict[str, list[str]]:
        """:meth:`sides` asked of the scheduler now (after a worker left)."""
        self.workers(fresh=True)
        return self.sides()

    def slots(self) -> dict[str, int]:
        ws = self.workers()
        return {"storage": int(sum(r.get("storage", 0) for r in ws.values())),
                "compute": sum(1 for r in ws.values() if side_of(r) == "compute")}

    def calibrate(self) -> None:
        """Measure latency and rate of a store fetch, storage worker to compute worker."""
        sides = self.sides()
        if self.calibrated or not sides["storage"] or not sides["compute"]:
            return
        store = StoreClient(self.session)
        small = store.put("__wb_calibrate/small", np.zeros(1))
        big = store.put("__wb_calibrate/big", np.zeros(2 ** 19))    # 4 MiB
        fut = self.client.submit(_fetch_times, small, big, workers=sides["compute"][:1],
                                 pure=False, key=f"wb-calibrate-{uuid.uuid4().hex[:8]}")
        lat, big_s = fut.result()
        for ref in (small, big):
            store.delete(ref.key, ref.worker)
        self.latency = max(lat, 1e-5)
        self.rate = big.nbytes / max(big_s - lat, 1e-6)
        self.calibrated = True

    def load(self) -> tuple[dict[str, float], dict[str, float]]:
        """Per side, the share of its CPU taken by other work (0..0.95), and its measured
        CPU %; sampled from the workers at most once a second.

        Each worker reports its process's CPU seconds, its event loop thread's and its
        function calls' (:func:`~.calls.cpu_sample`); what is left is other work on that
        worker (other tasks, say a stream running there). The calls' own CPU, warm-ups
        and the event loop serving store reads to the compute side are not "load": they
        are this runtime's own work, and counting them once made the storage side look
        busy because compute-side calls were reading from it, which kept calls there."""
        t, load, cpu = self._cpu
        now = time.monotonic()
        if now - t < 1.0:
            return load, cpu
        try:
            got = self.client.run(cpu_sample)
        except Exception:  # noqa: BLE001 - a worker leaving mid-sample: keep the last
            self._cpu = (now, load, cpu)
            return load, cpu
        ws = self.workers()
        other = dict.fromkeys(SIDES, 0.0)
        busy = dict.fromkeys(SIDES, 0.0)
        count = dict.fromkeys(SIDES, 0)
        fresh = False
        for addr, smp in got.items():
            prev = self._samples.get(addr)
            if prev is None or smp["t"] - prev["t"] < 0.2:
                continue
            dt = smp["t"] - prev["t"]
            side = side_of(ws.get(addr, {}))
            proc = smp["proc"] - prev["proc"]
            mine = (smp["loop"] - prev["loop"]) + (smp["ours"] - prev["ours"])
            other[side] += max(proc - mine, 0.0) / dt
            busy[side] += 100.0 * proc / dt
            count[side] += 1
            fresh = True
        for addr, smp in got.items():
            prev = self._samples.get(addr)
            if prev is None or smp["t"] - prev["t"] >= 0.2:
                self._samples[addr] = smp
        if fresh:
            load = {s: min(other[s] / count[s], 0.95) if count[s] else load.get(s, 0.0)
                    for s in SIDES}
            cpu = {s: busy[s] if count[s] else cpu.get(s, 0.0) for s in SIDES}
        self._cpu = (now, load, cpu)
        return load, cpu

    def env(self) -> Env:
        load, cpu = self.load()
        with self.lock:
            backlog = dict(self.backlog)
        return Env(slots=self.slots(), rate=self.rate, latency=self.latency, load=load,
                   backlog_s=backlog, cpu=cpu)

    # --- measurements --------------------------------------------------------------------
    def _on_event(self, event: tuple) -> None:
        self.observe(event[1])

    def observe(self, msg: dict) -> None:
        with self.lock:
            self.jit[msg["fn"]] = (bool(msg.get("jit")), msg.get("reason"))
            if msg.get("warm"):
                return
            if "load" not in msg:            # the side's load as last sampled
                msg = {**msg, "load": self._cpu[1].get(msg.get("side"), 0.0)}
            if not self.placer.observe(msg):
                return
            self.done.append((msg["t"], msg["fn"], int(msg["calls"]), msg["side"],
                              float(msg.get("wall_s", 0.0))))
            f, b = msg.get("fetches", 0), msg.get("remote_bytes", 0)
            if msg.get("side") == "compute" and f and b / f >= 2 ** 18:
                sample = b / max(msg["fetch_s"] - f * self.latency, 1e-6)
                self.rate = 0.7 * self.rate + 0.3 * sample

    # --- placing -------------------------------------------------------------------------
    def targets(self, fn: Any) -> tuple[str | None, list[str]]:
        """For a fixed placement: (side, workers); for ``auto``: (None, [])."""
        if fn.placement == "auto":
            return None, []
        who = f"function '{fn.name}'"
        ws = self.workers()        # one view for both: the cached one may be renewed between
        try:
            found = resolve(fn.placement, ws, who)
        except PlacementError:     # maybe a worker joined since the last look
            ws = self.workers(fresh=True)
            found = resolve(fn.placement, ws, who)
        side = "storage" if all(side_of(ws[a]) == "storage" for a in found) else "compute"
        return side, list(found)

    def warm(self, spec: Any, args: tuple, kwargs: dict) -> dict[str, tuple[bool, str | None]]:
        """One call of ``spec`` on every worker (compiling or loading its code there), not
        recorded in the profile; returns ``{worker: (compiled, reason)}``."""
        futs = {}
        for addr, res in self.workers().items():
            futs[addr] = self.client.submit(call_one, spec, side_of(res), True, args, kwargs,
                                            workers=[addr], allow_other_workers=False,
                                            pure=False, key=f"wb-warm-{spec.token}-{addr}")
        self.client.gather(list(futs.values()))
        return dict(self.client.run(jit_of, spec.token, workers=list(futs)))

    def jit_state(self, token: str, ask: bool = True) -> tuple[bool, str | None] | None:
        """Whether a function ran compiled on the workers, and why not: from their
        reports, or (``ask``) from the workers themselves when no report has arrived."""
        got = self.jit.get(token)
        if got is None and ask:
            ran = [s for s in self.client.run(jit_of, token).values()
                   if s[1] != "not called here"]
            if ran:
                got = next((s for s in ran if s[0]), ran[0])
                self.jit.setdefault(token, got)
        return got

    def _decide(self, fn: Any, n: int, remote: float, hint: str | None) -> Any:
        env = self.env()
        with self.lock:
            return self.placer.decide(fn.token, n, env, remote_bytes=remote, hint=hint)

    def _restrict(self, side: str, workers: list[str], owners: Any) -> dict:
        """Where a task may run: on the storage side, the workers that keep its store
        reference (the owner, and replicas), else the side's workers. A worker that dies
        is replaced in these restrictions by the others of its side (``lineage``)."""
        if side == "storage":
            owners = [owners] if isinstance(owners, str) else list(owners or ())
            ws = [o for o in owners if o in workers] or workers
            return {"workers": ws, "resources": {"storage": 1}, "allow_other_workers": False}
        return {"workers": workers, "allow_other_workers": False}

    def _account(self, fut: Any, side: str, seconds: float, worker: str | None = None,
                 work: float = 0.0) -> None:
        """Count a submitted task in its side's backlog (``seconds``) and its worker's
        queue (``work`` seconds, one task) until it is done."""
        with self.lock:
            self.backlog[side] += seconds
            if worker is not None:
                q = self.queued.setdefault(worker, [0.0, 0])
                q[0] += work
                q[1] += 1

        def release(_: Any) -> None:
            with self.lock:
                self.backlog[side] = max(self.backlog[side] - seconds, 0.0)
                if worker is not None:
                    q = self.queued[worker]
                    q[0] = max(q[0] - work, 0.0)
                    q[1] -= 1

        fut.add_done_callback(release)

    def least_queued(self, workers: list[str]) -> str:
        """The worker with the least work queued by this runtime (a probe goes there, so
        probes of different functions do not share a worker and skew each other)."""
        with self.lock:
            return min(workers, key=lambda w: (*self.queued.get(w, (0.0, 0)), w))

    # --- calls ---------------------------------------------------------------------------
    def call(self, fn: Any, args: tuple, kwargs: dict) -> Any:
        t0 = time.time()                      # the call's latency counts from here
        side, workers = self.targets(fn)
        refs = [v for v in (*args, *kwargs.values()) if isinstance(v, StoreRef)]
        remote = float(sum(r.nbytes for r in refs))
        if side is None:
            self.calibrate()
            d = self._decide(fn, 1, remote, None)
            side = d.probe_side if d.phase == "explore" and d.probe_side else d.side
            workers = self.sides()[side]
        else:
            d = self._decide(fn, 1, remote, side)
        per = d.per_call.get(side, 0.0)
        kw = self._restrict(side, workers, refs[0].workers if refs else ())
        self.arrivals.append((t0, 1))
        fut = self.client.submit(call_one, fn.spec(), side, False, args, kwargs, pure=False,
                                 key=f"wb-fn-{fn.name}-{uuid.uuid4().hex[:12]}", **kw)
        self._account(fut, side, per / max(self.slots().get(side, 1), 1))
        fut.add_done_callback(lambda _: self.latencies.append((time.time(),
                                                               time.time() - t0)))
        return fut

    def map(self, fn: Any, args: tuple, kwargs: dict) -> Calls:
        n, per_call, consts = split_args(fn.name, args)
        calls = Calls(fn, n, self)
        self.arrivals.append((time.time(), n))
        if n == 0:
            return calls
        remote = _remote_bytes(per_call, consts, kwargs, n)
        side, workers = self.targets(fn)
        todo = np.arange(n)
        if side is not None:
            d = self._decide(fn, n, remote, side)
            calls.decisions.append(d)
            self._submit(calls, todo, side, workers, per_call, consts, kwargs, d)
            return calls
        self.calibrate()
        d = self._decide(fn, n, remote, None)
        calls.decisions.append(d)
        probing: dict[str, list[Chunk]] = {}
        while d.phase == "explore" and d.probe_calls and len(todo) > 1:
            for s in d.probes or (d.probe_side,):
                if s not in probing:
                    take, todo = todo[:d.probe_calls], todo[d.probe_calls:]
                    probing[s] = self._submit(calls, take, s, self.sides()[s], per_call,
                                              consts, kwargs, d, one=True)
            running = [c for cs in probing.values() for c in cs if c.stats is None]
            if not running or not len(todo):
                break
            calls.wait_any(running)          # measure before deciding the rest
            d = self._decide(fn, len(todo), remote, None)
            calls.decisions.append(d)
        if (len(todo) > 1 and d.probe_calls and d.phase == "refresh"
                and d.probe_side not in probing):
            take, todo = todo[-d.probe_calls:], todo[:-d.probe_calls]
            self._submit(calls, take, d.probe_side, self.sides()[d.probe_side], per_call,
                         consts, kwargs, d, one=True)
        if len(todo):
            main = d.side if d.phase != "explore" or not d.probe_side else d.probe_side
            self._submit(calls, todo, main, self.sides()[main], per_call, consts, kwargs, d)
        return calls

    def _submit(self, calls: Calls, idx: np.ndarray, side: str, workers: list[str],
                per_call: dict, consts: tuple, kwargs: dict, d: Any,
                one: bool = False) -> list[Chunk]:
        """Chunks of ``idx`` on ``side``: one per worker (storage: by the owner of each
        call's first store reference)."""
        if one and side == "compute":
            workers = [self.least_queued(workers)]
        groups = _groups(idx, side, workers, per_call, consts, one)
        per = d.per_call.get(side, 0.0) / max(self.slots().get(side, 1), 1)
        fn_spec = calls.fn.spec()
        step = _piece_calls(per_call)
        parts = [(worker, whole[lo:lo + step] if step else whole)
                 for worker, whole in groups for lo in range(0, len(whole), step or len(whole))]
        local = [chunk_args(per_call, part) for _, part in parts]
        sent = self._scatter(local, [w for w, _ in parts]) if step else local
        name = calls.fn.name
        out = []
        for (worker, part), (sub, start), (args, _) in zip(parts, sent, local):
            c = calls.add(self._submit_part(name, fn_spec, part, sub, start, side, worker,
                                            consts, kwargs, per, d))
            if step:    # its arguments live on one worker only: if it dies, send them again
                # (from the client's copy; no reference back to `calls`, so a Calls the
                # user drops is freed at once, with its results and pieces)
                c.resend = functools.partial(self._resend, name, fn_spec, part, args,
                                             start, side, consts, kwargs, per, d)
            out.append(c)
        return out

    def _resend(self, name: str, fn_spec: Any, part: np.ndarray, args: Any, start: Any,
                side: str, consts: tuple, kwargs: dict, per: float, d: Any) -> Chunk:
        """A piece whose worker died with its arguments: sent again, from the client's
        copy, to a live worker of its side; returns the new chunk."""
        live = self.sides_now().get(side) or []
        if not live:
            raise PlacementError(f"{name}.map: no {side} worker left to run calls "
                                 f"{int(part[0])}-{int(part[-1])} again after theirs died.")
        worker = self.least_queued(live)
        [(sub, _)] = self._scatter([(args, start)], [worker])
        return self._submit_part(name, fn_spec, part, sub, start, side, worker, consts,
                                 kwargs, per, d)

    def _scatter(self, subs: list[tuple[Any, Any]], workers: list[str]) -> list[tuple[Any, Any]]:
        """Each piece's arguments sent to its worker (directly where the client reaches the
        workers), not inside its task: one message per worker, the workers' in parallel
        (threads)."""
        from concurrent.futures import ThreadPoolExecutor

        by: dict[str, list[int]] = {}
        for i, w in enumerate(workers):
            by.setdefault(w, []).append(i)

        def send(w: str) -> list:
            return self.client.scatter([subs[i][0] for i in by[w]], workers=[w],
                                       direct=self.direct, hash=False)

        out = list(subs)
        with ThreadPoolExecutor(len(by)) as pool:
            for w, futs in zip(by, pool.map(send, by)):
                for i, f in zip(by[w], futs):
                    out[i] = (f, subs[i][1])
        return out

    def _submit_part(self, name: str, fn_spec: Any, part: np.ndarray, sub: Any,
                     start: Any, side: str, worker: str, consts: tuple, kwargs: dict,
                     per: float, d: Any) -> Chunk:
        """One task of calls ``part`` of function ``name`` on ``worker`` (``sub``: their
        arguments, or the future of them already on the worker)."""
        kw = self._restrict(side, [worker], worker)
        fut = self.client.submit(
            call_chunk, fn_spec, side, False, start, len(part), sub, consts, kwargs,
            pure=False, key=f"wb-map-{name}-{uuid.uuid4().hex[:12]}", **kw)
        self._account(fut, side, per * len(part), worker, d.per_call.get(side, 0.0) * len(part))
        return Chunk(part, fut, side, worker)


PIECE_BYTES = 4 * 2**20      # per-call arguments above this per task travel in pieces


def _piece_calls(per_call: dict) -> int:
    """Calls per task when the per-call arguments are large (about ``PIECE_BYTES`` of
    them, at least one call), else 0 (one task per worker)."""
    from dask.sizeof import sizeof

    each = 0.0
    for seq in per_call.values():
        if isinstance(seq, np.ndarray):
            each += seq.nbytes / max(len(seq), 1)
        elif len(seq):
            sample = seq[:16]
            each += sum(sizeof(v) for v in sample) / len(sample)
    total = each * max((len(s) for s in per_call.values()), default=0)
    return 0 if total <= PIECE_BYTES else max(1, int(PIECE_BYTES // max(each, 1.0)))


def _groups(idx: np.ndarray, side: str, workers: list[str], per_call: dict,
            consts: tuple, one: bool) -> list[tuple[str, np.ndarray]]:
    if not workers:
        raise PlacementError(f"no {side} workers in this cluster to run calls on.\nFix: "
                             "wb.cluster(compute=2, storage=1), or another placement.")
    if side == "storage":
        owners = _owners(idx, per_call, consts)
        if owners is not None:
            out = []
            for w in sorted(set(owners)):
                part = idx[np.asarray([o == w for o in owners])]
                out.append((w if w in workers else workers[0], part))
            return out[:1] if one else out
    k = 1 if one else min(len(workers), len(idx))
    return [(workers[i], idx[i * len(idx) // k:(i + 1) * len(idx) // k]) for i in range(k)]


def _owners(idx: np.ndarray, per_call: dict, consts: tuple) -> list[str] | None:
    for c in consts:
        if isinstance(c, StoreRef):
            return [c.worker] * len(idx)
    for seq in per_call.values():
        if isinstance(seq, list) and seq and isinstance(seq[0], StoreRef):
            return [seq[i].worker for i in idx.tolist()]
    return None


def _remote_bytes(per_call: dict, consts: tuple, kwargs: dict, n: int) -> float:
    total = float(sum(c.nbytes for c in (*consts, *kwargs.values()) if isinstance(c, StoreRef)))
    for seq in per_call.values():
        if isinstance(seq, list) and seq and isinstance(seq[0], StoreRef):
            sample = seq[:256]
            total += sum(r.nbytes for r in sample if isinstance(r, StoreRef)) / len(sample)
    return total


def _fetch_times(small: StoreRef, big: StoreRef) -> tuple[float, float]:
    store = StoreClient()
    out = []
    for ref in (small, big):
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            store.fetch(ref)
            ts.append(time.perf_counter() - t)
        out.append(sorted(ts)[1])
    return out[0], out[1]
