"""Cluster sessions: ``wb.cluster()`` starts (once) or connects to a Dask cluster.

The default is a local cluster on loopback whose worker processes carry the resources
``{"compute": 1}`` or ``{"storage": 1}``, so placement hints have real workers to map to.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..errors import WorkbenchError

_LOCK = threading.RLock()
_SESSION: Session | None = None
_EARLIER: list[Session] = []


class Session:
    """A connection to a Dask cluster: ``client``, ``workers``, ``dashboard_link``, ``close()``.

    ``workers`` maps each worker's address to its resources, e.g.
    ``{"tcp://127.0.0.1:40123": {"compute": 1}}``.
    """

    def __init__(self, client: Any, cluster: Any = None, kind: str = "local") -> None:
        self.client = client
        self.cluster = cluster
        self.kind = kind
        self.runs: dict[str, Any] = {}

    @property
    def workers(self) -> dict[str, dict[str, float]]:
        # asked of the scheduler directly: client.scheduler_info() returns the client's
        # cached identity, which its periodic refresh may replace, between the fetch and
        # the read, by one without per-worker entries (workers would seem to have left)
        kw = {"n_workers": -1} if _takes_n_workers(self.client) else {}
        info = self.client.sync(self.client.scheduler.identity, **kw)["workers"]
        return {addr: dict(w.get("resources") or {}) for addr, w in info.items()}

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing) is not an error
            return None

    @property
    def closed(self) -> bool:
        return self.client.status in ("closed", "closing")

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        self.client.wait_for_workers(n, timeout=timeout)

    def close(self) -> None:
        """Stop running programs, disconnect, and stop the cluster if this session started it."""
        global _SESSION
        for run in list(self.runs.values()):
            if not run.done:
                try:
                    run.stop(timeout=10)
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        with _LOCK:
            if _SESSION is self:   # back to the session that was current before this one
                _SESSION = next((s for s in reversed(_EARLIER) if not s.closed), None)
            if self in _EARLIER:
                _EARLIER.remove(self)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        ws = self.workers
        kinds = ", ".join(f"{a} {r}" for a, r in sorted(ws.items()))
        return f"<workbench cluster [{self.kind}] {len(ws)} workers: {kinds}; " \
               f"dashboard {self.dashboard_link}>"


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def start_local(compute: int = 2, storage: int = 1, threads: int = 2,
                memory_limit: str | int = "auto") -> Session:
    """A cluster of worker processes on loopback with compute/storage resources."""
    import dask
    from distributed import Client, Nanny, Scheduler, SpecCluster

    if compute + storage < 1:
        raise WorkbenchError("a cluster needs at least one worker: compute + storage >= 1.")
    dask.config.set({
        # coalesced function calls need the scheduler to hand out all tasks at once
        "distributed.scheduler.worker-saturation": float("inf"),
        # Dask's nanny makes glibc return freed memory at once (trim threshold 64 KiB), so
        # every batch buffer is fresh memory, and this VM is slow to touch fresh memory
        # (~1.4 ms per 512 KiB): streaming reuses its working set instead.
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 256 * 2**20,
        "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 * 2**20,
    })
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1",
                                               "dashboard_address": "127.0.0.1:0"}}
    logging.getLogger("distributed").setLevel(logging.WARNING)
    workers = {}
    for kind, n in (("compute", compute), ("storage", storage)):
        for i in range(n):
            workers[f"{kind}-{i}"] = {"cls": Nanny, "options": {
                "host": "127.0.0.1", "nthreads": threads, "resources": {kind: 1},
                "memory_limit": memory_limit, "name": f"{kind}-{i}",
                "silence_logs": logging.WARNING}}
    cluster = SpecCluster(workers=workers, scheduler=scheduler, name="workbench",
                          silence_logs=40)
    client = Client(cluster)
    client.wait_for_workers(compute + storage, timeout=120)
    from .stream.worker import warm

    # in the background: the session is usable at once
    threading.Thread(target=_quietly, args=(client.run, warm), daemon=True).start()
    return Session(client, cluster, "local")


def _quietly(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - warming up is an optimisation only
        pass


def cluster(address: str | None = None, *, compute: int = 2, storage: int = 1,
            threads: int = 2, **options: Any) -> Session:
    """The workbench's Dask cluster session (started lazily, once).

    Parameters
    ----------
    address : str, optional
        ``None`` or ``"local"``: a local cluster on loopback (started once, then reused);
        ``"tcp://host:port"``: connect to an existing scheduler (it becomes the current
        session; closing it makes the previous one current again); ``"docker"``: scheduler
        and workers in containers of the pinned image, on a private bridge network, TLS
        (reused while open with the same sizes; ``close()`` removes the containers).
    compute, storage : int
        Worker processes with the ``compute`` / ``storage`` resource (local cluster).
    threads : int
        Threads per worker (local and docker clusters).
    **options
        ``address="docker"`` only (:class:`~workbench.runtime.docker_cluster.DockerCluster`):
        ``image``, ``store="mount" | "ship"``, ``internal``.
    """
    global _SESSION
    with _LOCK:
        if address in (None, "local"):
            if _SESSION is not None and not _SESSION.closed:
                return _SESSION
            _SESSION = start_local(compute, storage, threads)
            return _SESSION
        if address == "docker":
            from .docker_cluster import start_docker

            if _SESSION is not None and not _SESSION.closed:
                if _SESSION.kind == "docker" and _SESSION.cluster.same(compute, storage,
                                                                        threads, **options):
                    return _SESSION
                _EARLIER.append(_SESSION)
            _SESSION = start_docker(compute, storage, threads, **options)
            return _SESSION
        if not address.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise WorkbenchError(f"cluster address {address!r} is not a Dask scheduler "
                                 "address.\nFix: wb.cluster('tcp://host:8786'), "
                                 "wb.cluster('local') or wb.cluster().")
        from distributed import Client

        if _SESSION is not None and not _SESSION.closed:
            _EARLIER.append(_SESSION)      # still open; current again once this one closes
        _SESSION = Session(Client(address, timeout=30), None, "remote")
        return _SESSION


def current() -> Session | None:
    """The open session, if any (does not start one)."""
    return _SESSION if _SESSION is not None and not _SESSION.closed else None
