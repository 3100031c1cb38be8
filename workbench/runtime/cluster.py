"""Cluster sessions: ``wb.cluster()`` starts (once) or connects to a Dask cluster.

The default is a local cluster on loopback whose worker processes carry the resources
``{"compute": 1}`` or ``{"storage": 1}``, so placement hints have real workers to map to.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from ..errors import WorkbenchError
from .session import Session

_LOCK = threading.RLock()
_PROFILER_DEADLOCKS = (3, 11) <= sys.version_info[:3] < (3, 11, 9)
_SESSION: Session | None = None
_EARLIER: list[Session] = []


def start_local(compute: int = 2, storage: int = 1, threads: int = 2,
                memory_limit: str | int = "auto") -> Session:
    """A cluster of worker processes on loopback with compute/storage resources."""
    import dask
    from distributed import Client, Nanny, Scheduler

    from .scaling import WorkbenchCluster

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
        # On CPython 3.11 before 3.11.9, the worker's statistical profiler
        # (sys._current_frames every 10 ms) deadlocks against a thread being started while
        # a GC callback runs (cpython gh-116969, dask/distributed#8616); our instances
        # start threads. Seen here: a run hung for good with its worker's main thread in
        # _PyThread_CurrentFrames -> GCDiagnosis._gc_callback. No profiler, no deadlock.
        "distributed.worker.profile.enabled": not _PROFILER_DEADLOCKS,
        # SpecCluster closes a worker's nanny for good when no worker of its name is back
        # 15 s (this setting) after one was removed, checked once; a worker killed again
        # while its nanny restarts it, ~15 s after the kill before, loses its nanny and the
        # cluster stays a worker short. Each nanny here restarts its own worker.
        "distributed.deploy.lost-worker-timeout": "1 day",
    })
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1",
                                               "dashboard_address": "127.0.0.1:0"}}
    logging.getLogger("distributed").setLevel(logging.WARNING)
    def spec(kind: str) -> dict:
        return {"cls": Nanny, "options": {
            "host": "127.0.0.1", "nthreads": threads, "resources": {kind: 1},
            "memory_limit": memory_limit, "silence_logs": logging.WARNING}}

    workers = {f"{kind}-{i}": spec(kind) for kind, n in (("compute", compute),
                                                          ("storage", storage))
               for i in range(n)}
    # the template of the compute workers scaling adds (runtime.scaling); SpecCluster
    # names each worker after its key: compute-N, storage-N
    cluster = WorkbenchCluster(workers=workers, scheduler=scheduler, worker=spec("compute"),
                               name="workbench", silence_logs=40)
    client = Client(cluster)
    client.wait_for_workers(compute + storage, timeout=120)
    from .stream.worker import warm

    # in the background: the session is usable at once
    threading.Thread(target=_quietly, args=(client.run, warm), daemon=True).start()
    session = Session(client, cluster, "local")
    session.sizes = (compute, storage, threads)
    return session


def _current(session: Session) -> Session:
    """Make ``session`` the current one; the one before it is current again once this one
    closes (if it is still open then)."""
    global _SESSION
    if _SESSION is not None and not _SESSION.closed and _SESSION is not session:
        _EARLIER.append(_SESSION)
    _SESSION = session
    session.on_close.append(_forget)
    return session


def _forget(session: Session) -> None:
    global _SESSION
    with _LOCK:
        if _SESSION is session:    # back to the session that was current before this one
            _SESSION = next((s for s in reversed(_EARLIER) if not s.closed), None)
        if session in _EARLIER:
            _EARLIER.remove(session)


def _quietly(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - warming up is an optimisation only
        pass


def cluster(address: str | None = None, *, compute: int | None = None,
            storage: int | None = None, threads: int | None = None,
            **options: Any) -> Session:
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
        Worker processes with the ``compute`` / ``storage`` resource (local cluster;
        2 and 1 by default). Sizes other than those of the current local cluster start
        another one, which becomes current (closing it makes the earlier one current
        again); no sizes reuse whatever is current.
    threads : int
        Threads per worker (local and docker clusters; 2 by default).
    **options
        ``address="docker"`` (:class:`~workbench.runtime.docker_cluster.DockerCluster`):
        ``image``, ``store="mount" | "ship"``, ``internal``; a scheduler address:
        ``timeout`` (seconds to wait for it, 10 by default) and other options of
        ``distributed.Client``.
    """
    asked = (compute, storage, threads)
    compute, storage, threads = (2 if compute is None else compute,
                                 1 if storage is None else storage,
                                 2 if threads is None else threads)
    with _LOCK:
        now = current()
        if address in (None, "local"):
            if now is not None and not (now.kind == "local" and any(
                    a is not None and a != b for a, b in zip(asked, now.sizes))):
                return now
            return _current(start_local(compute, storage, threads))
        if address == "docker":
            from .docker_cluster import start_docker

            if now is not None and now.kind == "docker" and now.cluster.same(
                    compute, storage, threads, **options):
                return now
            return _current(start_docker(compute, storage, threads, **options))
        if not address.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise WorkbenchError(f"cluster address {address!r} is not a Dask scheduler "
                                 "address.\nFix: wb.cluster('tcp://host:8786'), "
                                 "wb.cluster('local') or wb.cluster().")
        return _current(Session(connect(address, **options), None, "remote"))


def connect(address: str, timeout: float = 10.0, **options: Any) -> Any:
    """A Dask client of the scheduler at ``address``; a clear error after ``timeout``
    seconds when nothing answers there (Dask's own default waits 30 s, then raises a long
    traceback)."""
    from .session import make_client

    try:
        return make_client(address, timeout=timeout, **options)
    except (OSError, TimeoutError, ValueError) as exc:
        # tornado's "IOStream is not idle; cannot convert to SSL": a published port (the
        # docker proxy of a compose cluster still starting) accepted and closed at once
        if isinstance(exc, ValueError) and "IOStream" not in str(exc):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkbenchError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({first[:160]})."
            "\nThe current cluster session, if any, stays current.\nFix: start one there "
            "(`dask scheduler`, then `dask worker ADDRESS --resources compute=1`), check "
            "the address, or wait longer: wb.cluster(ADDRESS, timeout=60).") from None


def current() -> Session | None:
    """The open session, if any (does not start one)."""
    return _SESSION if _SESSION is not None and not _SESSION.closed else None
