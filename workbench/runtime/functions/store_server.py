"""The store's Dask side: values in a dict on each storage worker, served by handlers.

A worker plugin adds four handlers to every worker (``wb_store_put``, ``wb_store_get``,
``wb_store_delete``, ``wb_store_list``). The client and functions running on workers talk
to the storage worker that owns a key directly (Dask's comm, no scheduler task); a call
running on the owner reads the value from the dict without copying. Stored arrays are made
read-only: functions share them, and must not change their inputs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dask.sizeof import sizeof
from distributed import WorkerPlugin, get_worker
from distributed.protocol.serialize import to_serialize
from distributed.utils import sync

from ...errors import StoreError
from ...model.refs import StoreRef, missing_key, owner, owners
from .targets import EXPECTED

PLUGIN = "workbench-store"


class StoreServer:
    """One worker's share of the store."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.data: dict[str, Any] = {}
        self.meta: dict[str, tuple[int, str]] = {}
        self.lock = threading.Lock()
        self.served_bytes = 0

    def put(self, key: str, value: Any) -> dict:
        _freeze(value)
        meta = (int(sizeof(value)), type(value).__name__)
        with self.lock:
            self.data[key] = value
            self.meta[key] = meta
        return {"key": key, "worker": self.worker.address, "nbytes": meta[0], "type": meta[1]}

    def get(self, key: str) -> dict:
        with self.lock:
            if key not in self.data:
                return {"status": "missing", "known": list(self.data)[:1000],
                        "count": len(self.data)}
            value, meta = self.data[key], self.meta[key]
            self.served_bytes += meta[0]
        return {"status": "OK", "value": to_serialize(value), "nbytes": meta[0]}

    def delete(self, key: str) -> bool:
        with self.lock:
            self.meta.pop(key, None)
            return self.data.pop(key, None) is not None

    def list(self, prefix: str = "") -> list:
        with self.lock:
            return [[k, self.worker.address, n, t] for k, (n, t) in self.meta.items()
                    if k.startswith(prefix)]


def _freeze(value: Any) -> None:
    import numpy as np

    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for v in value:
            _freeze(v)
    elif isinstance(value, dict):
        for v in value.values():
            _freeze(v)


def server(worker: Any) -> StoreServer:
    """This worker's store server (created, and its handlers added, once)."""
    srv = getattr(worker, "_wb_store", None)
    if srv is None:
        srv = worker._wb_store = StoreServer(worker)

        async def h_put(key: str, value: Any) -> dict:
            return srv.put(key, value)

        async def h_get(key: str) -> dict:
            return srv.get(key)

        async def h_delete(key: str) -> bool:
            return srv.delete(key)

        async def h_list(prefix: str = "") -> list:
            return srv.list(prefix)

        worker.handlers.update({"wb_store_put": h_put, "wb_store_get": h_get,
                                "wb_store_delete": h_delete, "wb_store_list": h_list})
    return srv


class StorePlugin(WorkerPlugin):
    """Adds the store's handlers to every worker, including ones that join later, and
    keeps a function's own error (raised in its body, reported to the caller as a
    FunctionError naming it) out of the worker's log."""

    name = PLUGIN

    def setup(self, worker: Any) -> None:
        server(worker)
        import logging

        log = logging.getLogger("distributed.worker")
        if not any(isinstance(f, ExpectedErrors) for f in log.filters):
            log.addFilter(ExpectedErrors())


class ExpectedErrors:
    """Drops Dask's "Compute Failed" record of a function call whose body raised (or whose
    store key was missing, or whose ``wb.remote`` code raised or crashed a worker before):
    the caller gets that error, named; it is not this worker's failure. Other task
    failures are logged as before."""

    PREFIXES = ("wb-fn-", "wb-map-")
    ERRORS = ("FunctionError", "StoreKeyError", "StoreError", "RemoteCrash")

    def filter(self, record: Any) -> bool:
        if not str(record.msg).startswith("Compute Failed") or not record.args:
            return True
        key, exc = str(record.args[0]), str(record.args[3]) if len(record.args) > 3 else ""
        return not (key.startswith(self.PREFIXES)
                    and (exc.startswith(self.ERRORS) or key in EXPECTED))   # wb.remote: its own


_INSTALLED: set[int] = set()


def ensure(session: Any) -> None:
    """Register the plugin on the session's cluster (once per client)."""
    if id(session.client) in _INSTALLED:
        return
    session.client.register_plugin(StorePlugin(), name=PLUGIN)
    from .lineage import ensure as lineage

    lineage(session)                    # calls recomputed when their worker dies
    _INSTALLED.add(id(session.client))


CONNECT_S = 5.0      # a storage worker that died refuses: Dask would retry for 30 s


async def _rpc(pool: Any, addr: str, op: str, **kw: Any) -> Any:
    comm = await pool.connect(addr, timeout=CONNECT_S)
    pool.reuse(addr, comm)          # the call below takes this connection
    return await getattr(pool(addr), op)(**kw)


def _in_worker() -> Any:
    try:
        return get_worker()
    except ValueError:
        return None


class StoreClient:
    """Store operations from the client or from inside a function on a worker."""

    def __init__(self, session: Any = None) -> None:
        self.worker = _in_worker() if session is None else None
        self.session = session
        if self.worker is None:
            if session is None:
                from ..cluster import cluster

                self.session = session = cluster()
            ensure(session)

    def _call(self, addr: str, op: str, **kw: Any) -> Any:
        if self.worker is not None:
            w = self.worker
            if addr == w.address and op != "wb_store_get":
                srv = server(w)
                return getattr(srv, op[len("wb_store_"):])(**kw)
            return sync(w.loop, _rpc, w.rpc, addr, op, **kw)
        c = self.session.client
        return c.sync(_rpc, c.rpc, addr, op, **kw)

    def storage(self) -> list[str]:
        if self.worker is not None:
            return storage_of_worker(self.worker)
        return sorted(a for a, r in self.session.workers.items() if r.get("storage", 0) > 0)

    def put(self, key: str, value: Any, worker: str | None = None,
            replicas: int = 1) -> StoreRef:
        if not isinstance(key, str) or not key:
            raise StoreError(f"store keys are non-empty strings; got {key!r}.\nFix: "
                             "wb.store.put('graph/part-0', value).")
        for attempt in range(3):
            storage = self.storage() if attempt == 0 else self._storage_again(replicas)
            try:
                return self._put(key, value, worker, replicas, storage)
            except OSError:        # a storage worker died under the put: place it again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _storage_again(self, replicas: int, patience: float = 30.0) -> list[str]:
        """The storage workers after a loss: a moment for the nanny's replacement when
        fewer are left than ``replicas``."""
        deadline = time.monotonic() + patience
        while True:
            if self.worker is not None:
                info = sync(self.worker.loop, self.worker.scheduler.identity)["workers"]
                storage = sorted(a for a, w in info.items()
                                 if (w.get("resources") or {}).get("storage", 0) > 0)
            else:
                storage = self.storage()
            if len(storage) >= replicas or time.monotonic() > deadline:
                return storage
            time.sleep(0.1)

    def _put(self, key: str, value: Any, worker: str | None, replicas: int,
             storage: list[str]) -> StoreRef:
        if worker is not None and worker not in storage:
            raise StoreError(f"store worker {worker!r} is not a storage worker of this "
                             f"cluster.\nStorage workers: {', '.join(storage) or '(none)'}"
                             "\nFix: leave worker=None, or name one of these.")
        targets = owners(key, storage, replicas)   # (refuses more than there are)
        if worker is not None:          # the named worker first, then the ring after it
            ring = sorted(storage)
            i = ring.index(worker)
            targets = [ring[(i + j) % len(ring)] for j in range(replicas)]
        got: dict = {}
        for addr in targets:
            if self.worker is not None and addr == self.worker.address:
                got = server(self.worker).put(key, value)
            else:
                got = self._call(addr, "wb_store_put", key=key, value=to_serialize(value))
        return StoreRef(got["key"], targets[0], got["nbytes"], got["type"],
                        tuple(targets[1:]))

    def fetch(self, ref: StoreRef, where: str = "") -> tuple[Any, bool]:
        """The value of ``ref`` (from its owner, or a replica when the owner is gone) and
        whether it had to cross the network."""
        w = self.worker
        if w is not None and w.address in ref.workers:
            srv = server(w)
            with srv.lock:
                if ref.key in srv.data:
                    return srv.data[ref.key], False
        unreachable: list[str] = []
        known: list[str] | None = None
        live = self._live()     # (Dask would retry a dead address for its 30 s timeout)
        for addr in ref.workers:
            if w is not None and addr == w.address:
                continue
            if addr not in live:
                unreachable.append(addr)
                continue
            try:
                got = self._call(addr, "wb_store_get", key=ref.key)
            except OSError:
                unreachable.append(addr)
                continue
            if got["status"] == "OK":
                return got["value"], True
            known = got["known"] if known is None else known
        if known is not None or not unreachable:
            raise missing_key(ref.key, ref.worker, known or [], where)
        raise StoreError(
            f"store key {ref.key!r} is lost{where}: "
            + "; ".join(f"{a} {self._left(a)}" for a in unreachable)
            + (" (it had no other copy)" if not ref.replicas else " (every copy)")
            + ".\nFix: put it again; wb.store.put(key, value, replicas=2) keeps copies on two "
            "storage workers, so a key survives the loss of one.")

    def _live(self) -> set[str]:
        """The workers in the cluster now, as the scheduler knows them."""
        if self.worker is not None:
            info = sync(self.worker.loop, self.worker.scheduler.identity)
            return set(info["workers"])
        return set(self.session.workers)

    def _left(self, addr: str) -> str:
        """When ``addr`` left the cluster, as the scheduler logged it."""
        try:
            if self.worker is not None:
                events = sync(self.worker.loop, self.worker.scheduler.events, topic=addr)
            else:
                events = self.session.client.get_events(addr)
        except Exception:  # noqa: BLE001 - the error is raised either way
            events = ()
        gone = [t for t, e in events if isinstance(e, dict)
                and e.get("action") == "remove-worker"]
        if not gone:
            return "cannot be reached"
        return (f"left the cluster at {time.strftime('%H:%M:%S', time.localtime(gone[-1]))} "
                f"({time.time() - gone[-1]:.1f} s ago)")

    def ref(self, key: str) -> StoreRef:
        rows = [row for row in self.listing(key) if row[0] == key]
        if rows:
            storage = self.storage()
            order = owners(key, storage, len(storage)) if storage else []
            rows.sort(key=lambda r: order.index(r[1]) if r[1] in order else len(order))
            return StoreRef(key, rows[0][1], rows[0][2], rows[0][3],
                            tuple(r[1] for r in rows[1:]))
        storage = self.storage()
        known = [r[0] for r in self.listing("")]
        raise missing_key(key, owner(key, storage) if storage else "(no storage workers)",
                          known)

    def delete(self, key: str, worker: str | None = None) -> None:
        """Remove ``key`` from ``worker``, or every copy of it."""
        addrs = [worker] if worker else [r[1] for r in self.listing(key) if r[0] == key]
        if not addrs:
            addrs = [owner(key, self.storage())]
        gone = [a for a in addrs if self._call(a, "wb_store_delete", key=key)]
        if not gone:
            raise missing_key(key, addrs[0], [r[0] for r in self.listing("")])

    def listing(self, prefix: str = "") -> list[list]:
        rows: list[list] = []
        for addr in self.storage():
            rows += self._call(addr, "wb_store_list", prefix=prefix)
        return sorted(rows)


def storage_of_worker(worker: Any) -> list[str]:
    """Storage workers as this worker last heard from the scheduler (cached 2 s)."""
    cache = getattr(worker, "_wb_storage", None)
    if cache is None or time.monotonic() - cache[0] > 2.0:
        info = sync(worker.loop, worker.scheduler.identity)
        addrs = sorted(a for a, w in info["workers"].items()
                       if (w.get("resources") or {}).get("storage", 0) > 0)
        cache = worker._wb_storage = (time.monotonic(), addrs)
    return cache[1]
