"""Task bodies of function calls (run on workers): resolve references, call, measure.

``call_one`` is one call (its own Dask task, its result a Dask future); ``call_chunk`` is
a coalesced chunk of a map: one task loops over its calls and returns their results packed
as one object (:mod:`workbench.functions.pack`) together with its measurements. Both also
send their measurements to the client as a Dask event (topic :data:`TOPIC`).

Both count the CPU time their thread spends (warm-up calls included) in :data:`LEDGER`;
:func:`cpu_sample` reads it beside the process's CPU time, so the client can tell the CPU
other work takes on a worker from the CPU its own calls take (the ``load`` of a side).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...compile import ArtifactStore, ModuleText, is_numba_error
from ...errors import FunctionError, StoreError
from ...model.refs import StoreRef
from .pack import Packed, pack
from .store_server import StoreClient
from .targets import crash_guard, raise_remote

TOPIC = "workbench-functions"


@dataclass(frozen=True)
class FnSpec:
    """What a worker needs to run a function: its code (module and plain Python)."""

    name: str
    token: str
    func: Callable
    module: ModuleText | None
    entry: str
    root: str
    reason: str | None = None
    remote: str | None = None    # wb.remote: what it calls; errors keep their type



class Impl:
    """A function as one worker process runs it: compiled, or plain Python."""

    def __init__(self, spec: FnSpec) -> None:
        self.py = spec.func
        self.reason = spec.reason
        self.disp: Any = None
        if spec.module is not None:
            try:
                store = _store(spec.root)
                self.disp = store.jitted(store.put(spec.module), spec.entry)
            except Exception as exc:  # noqa: BLE001 - any failure: run plain Python
                self.reason = f"not compiled: {type(exc).__name__}: {exc}"[:500]

    @property
    def jit(self) -> bool:
        return self.disp is not None

    def __call__(self, args: list, kwargs: dict) -> tuple[Any, bool]:
        """The result, and whether this call compiled (its time is not a profile)."""
        disp = self.disp
        if disp is None:
            return self.py(*args, **kwargs), False
        n = len(disp.signatures)
        try:
            out = disp(*args, **kwargs)
        except Exception as exc:
            if not is_numba_error(exc):
                raise
            self.disp = None
            first = str(exc).strip().splitlines()
            self.reason = ("numba could not type it, plain Python instead: "
                           + " ".join(first[:3]))[:500]
            return self.py(*args, **kwargs), True
        return out, len(disp.signatures) != n


_IMPLS: dict[str, Impl] = {}


def _store(root: str) -> ArtifactStore:
    """One store per root: copies of a function (``with_placement``) share compiled code."""
    return ArtifactStore.shared(root)


def jit_of(token: str) -> tuple[bool, str | None]:
    """Whether this worker runs function ``token`` compiled, and why not (``client.run``)."""
    im = _IMPLS.get(token)
    return (False, "not called here") if im is None else (im.jit, im.reason)


def impl(spec: FnSpec) -> Impl:
    got = _IMPLS.get(spec.token)
    if got is None:
        got = _IMPLS[spec.token] = Impl(spec)
    return got


class CpuLedger:
    """CPU seconds this worker process spent running function calls (their threads' CPU
    time), including calls still running (where the platform can read another thread's
    CPU clock; elsewhere a call counts when it ends)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0.0
        self.running: dict[int, tuple[int | None, float]] = {}   # thread: (clock, start)

    def begin(self) -> None:
        ident = threading.get_ident()
        clock = _cpu_clock(ident)
        c0 = time.thread_time() if clock is None else time.clock_gettime(clock)
        with self.lock:
            self.running[ident] = (clock, c0)

    def end(self) -> float:
        """Closes this thread's span; returns its CPU seconds."""
        with self.lock:
            _, c0 = self.running.pop(threading.get_ident())
            used = time.thread_time() - c0
            self.done += used
        return used

    def total(self) -> float:
        with self.lock:
            return self.done + sum(time.clock_gettime(clock) - c0
                                   for clock, c0 in self.running.values()
                                   if clock is not None)


def _cpu_clock(ident: int) -> int | None:
    try:
        return time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):      # not on this platform
        return None


LEDGER = CpuLedger()


def cpu_sample() -> dict[str, float]:
    """Run on a worker's event loop (``client.run``): its clock, the process's CPU
    seconds, the event loop thread's (Dask's own work, and serving the store) and the
    function calls' (:data:`LEDGER`). Differences of two samples give the CPU taken by
    anything else: other tasks on that worker."""
    return {"t": time.monotonic(), "proc": time.process_time(), "loop": time.thread_time(),
            "ours": LEDGER.total()}


class Stats:
    """Totals of one task's calls (sent to the client's placer)."""

    __slots__ = ("compute_s", "fetch_s", "remote_bytes", "local_bytes", "fetches",
                 "out_bytes", "timed", "compile_s", "cpu0")

    def __init__(self) -> None:
        self.compute_s = self.fetch_s = self.compile_s = 0.0
        self.cpu0 = time.thread_time()
        self.remote_bytes = self.local_bytes = self.fetches = self.out_bytes = self.timed = 0

    def record(self, spec: FnSpec, side: str, calls: int, wall: float, t0: float,
               im: Impl, warm: bool, errors: int = 0) -> dict:
        from distributed import get_worker

        w = get_worker()
        msg = {"fn": spec.token, "key": str(w.get_current_task()), "name": spec.name,
               "side": side, "worker": w.address,
               "calls": calls, "timed_calls": 0 if warm else self.timed,
               "compute_s": self.compute_s, "fetch_s": self.fetch_s,
               "remote_bytes": self.remote_bytes, "local_bytes": self.local_bytes,
               "fetches": self.fetches, "out_bytes": self.out_bytes,
               "compile_s": self.compile_s, "cpu_s": time.thread_time() - self.cpu0,
               "wall_s": wall, "t0": t0, "t": time.time(),
               "jit": im.jit, "reason": im.reason, "errors": errors,
               "id": uuid.uuid4().hex, "warm": warm}
        w.log_event(TOPIC, msg)
        return msg


def _resolve(v: Any, st: Stats, store: StoreClient | None, where: str) -> Any:
    if isinstance(v, StoreRef):
        t = time.perf_counter()
        value, remote = store.fetch(v, where) if store else (None, False)
        if remote:
            st.fetch_s += time.perf_counter() - t
            st.remote_bytes += v.nbytes
            st.fetches += 1
        else:
            st.local_bytes += v.nbytes
        return value
    if isinstance(v, (list, tuple)) and any(isinstance(x, StoreRef) for x in v):
        return type(v)(_resolve(x, st, store, where) for x in v)
    if isinstance(v, dict) and any(isinstance(x, StoreRef) for x in v.values()):
        return {k: _resolve(x, st, store, where) for k, x in v.items()}
    return v


def _has_ref(v: Any) -> bool:
    if isinstance(v, StoreRef):
        return True
    if isinstance(v, (list, tuple)):
        return any(isinstance(x, StoreRef) for x in v)
    if isinstance(v, dict):
        return any(isinstance(x, StoreRef) for x in v.values())
    return False


def _run(im: Impl, spec: FnSpec, args: list, kwargs: dict, st: Stats,
         call: int | None) -> Any:
    t = time.perf_counter()
    try:
        out, compiled = im(args, kwargs)
    except StoreError:
        raise
    except Exception as exc:
        if spec.remote is not None:
            raise_remote(exc, spec.name, spec.remote, call)
        where = f" in call {call} of a map" if call is not None else ""
        raise FunctionError(f"function '{spec.name}' raised {type(exc).__name__}{where}: "
                            f"{exc}", function=spec.name, call=call, original=exc) from exc
    dt = time.perf_counter() - t
    if compiled:
        st.compile_s += dt
    else:
        st.compute_s += dt
        st.timed += 1
    return out


def call_one(spec: FnSpec, side: str, warm: bool, args: tuple, kwargs: dict) -> Any:
    """One call (a Dask task): futures in ``args`` arrive resolved by Dask, store
    references are resolved here."""
    LEDGER.begin()
    try:
        if spec.remote is None:
            return _call_one(spec, side, warm, args, kwargs)
        with crash_guard(spec.name, spec.remote, spec.root, 1):
            return _call_one(spec, side, warm, args, kwargs)
    finally:
        LEDGER.end()


def _call_one(spec: FnSpec, side: str, warm: bool, args: tuple, kwargs: dict) -> Any:
    t0 = time.time()
    w0 = time.perf_counter()
    im = impl(spec)
    st = Stats()
    where = f" (an argument of function '{spec.name}')"
    store = StoreClient() if any(_has_ref(a) for a in (*args, *kwargs.values())) else None
    a = [_resolve(x, st, store, where) for x in args]
    kw = {k: _resolve(x, st, store, where) for k, x in kwargs.items()}
    try:
        out = _run(im, spec, a, kw, st, None)
    except Exception:
        st.record(spec, side, 1, time.perf_counter() - w0, t0, im, warm, errors=1)
        raise
    st.out_bytes += _nbytes(out)
    st.record(spec, side, 1, time.perf_counter() - w0, t0, im, warm)
    return out


@dataclass
class ChunkResult:
    """A chunk's results (packed) and its measurements: one object on the wire."""

    packed: Packed
    stats: dict


def call_chunk(spec: FnSpec, side: str, warm: bool, start: Any, n: int,
               per_call: dict[int, Any], consts: tuple, kwargs: dict) -> ChunkResult:
    """``n`` calls: argument ``pos`` of call ``i`` is ``per_call[pos][i]`` when ``pos`` is
    in ``per_call``, else ``consts[pos]``; ``start`` is the first call's index in the map
    (or, for calls that are not contiguous, their indices)."""
    LEDGER.begin()
    try:
        if spec.remote is None:
            return _call_chunk(spec, side, warm, start, n, per_call, consts, kwargs)
        with crash_guard(spec.name, spec.remote, spec.root, n):
            return _call_chunk(spec, side, warm, start, n, per_call, consts, kwargs)
    finally:
        LEDGER.end()


def _call_chunk(spec: FnSpec, side: str, warm: bool, start: Any, n: int,
                per_call: dict[int, Any], consts: tuple, kwargs: dict) -> ChunkResult:
    t0 = time.time()
    w0 = time.perf_counter()
    im = impl(spec)
    st = Stats()
    seqs = {p: (s.tolist() if hasattr(s, "ndim") and s.ndim == 1 and s.dtype != object
                else s) for p, s in per_call.items()}
    refs = any(_has_ref(x) for x in (*consts, *kwargs.values())) or any(
        _has_ref(x) for s in seqs.values() if isinstance(s, list) for x in s[:1])
    store = StoreClient() if refs else None
    where = f" (an argument of function '{spec.name}')"
    kw = {k: _resolve(x, st, store, where) for k, x in kwargs.items()} if refs else kwargs
    base = list(consts)
    out: list = []
    i = 0
    try:
        for i in range(n):
            a = base.copy()
            for p, s in seqs.items():
                a[p] = s[i]
            if refs:
                a = [_resolve(x, st, store, where) for x in a]
            out.append(_run(im, spec, a, kw, st,
                            start + i if isinstance(start, int) else int(start[i])))
    except Exception:
        st.record(spec, side, i + 1, time.perf_counter() - w0, t0, im, warm, errors=1)
        raise
    packed = pack(out)
    st.out_bytes = packed.nbytes
    stats = st.record(spec, side, n, time.perf_counter() - w0, t0, im, warm)
    return ChunkResult(packed, stats)


def _nbytes(x: Any) -> int:
    from dask.sizeof import sizeof

    try:
        return int(sizeof(x))
    except Exception:  # noqa: BLE001 - unknown objects: count nothing
        return 0
