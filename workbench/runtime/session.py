"""A session: one connection to a Dask cluster, and what the workbench runs on it."""

from __future__ import annotations

import atexit
import warnings
from collections.abc import Callable
from typing import Any


class Session:
    """A connection to a Dask cluster: ``client``, ``workers``, ``dashboard_link``, ``close()``.

    ``workers`` maps each worker's address to its resources, e.g.
    ``{"tcp://127.0.0.1:40123": {"compute": 1}}``; ``leaving``, the same for the workers
    retiring (they take no new tasks and finish the ones they run).
    """

    def __init__(self, client: Any, cluster: Any = None, kind: str = "local") -> None:
        self.client = client
        self.cluster = cluster
        self.kind = kind
        self.runs: dict[str, Any] = {}
        self.sizes: tuple[int, int, int] | None = None    # local: compute, storage, threads
        self.on_close: list[Callable[[Session], None]] = []
        self.scaler: Any = None                 # the last wb.autoscale's Autoscaler
        self._dashboard: str | None = None      # "" once known to be none
        self._closed = False
        if cluster is not None:     # a cluster this session started closes at exit, its
            atexit.register(self._close_at_exit)   # client first (no lost-task warnings)

    @property
    def workers(self) -> dict[str, dict[str, float]]:
        """The workers that take tasks: not those leaving (see ``leaving``)."""
        return {a: r for a, (r, left) in self._members().items() if not left}

    @property
    def leaving(self) -> dict[str, dict[str, float]]:
        """Workers retiring: they take no new tasks, and finish the ones they run."""
        return {a: r for a, (r, left) in self._members().items() if left}

    def _members(self) -> dict[str, tuple[dict[str, float], bool]]:
        from .scaling import LEAVING

        # asked of the scheduler directly: client.scheduler_info() returns the client's
        # cached identity, which its periodic refresh may replace, between the fetch and
        # the read, by one without per-worker entries (workers would seem to have left)
        kw = {"n_workers": -1} if _takes_n_workers(self.client) else {}
        info = self.client.sync(self.client.scheduler.identity, **kw)["workers"]
        return {addr: (dict(w.get("resources") or {}), w.get("status") in LEAVING)
                for addr, w in info.items()}

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's address, or ``None`` when the scheduler serves none: run
        with ``--no-dashboard`` (the docker and compose clusters), or without bokeh (its
        HTTP server then answers health checks only)."""
        if self._dashboard is None:
            self._dashboard = self._find_dashboard()
        return self._dashboard or None

    def _find_dashboard(self) -> str:
        try:
            if "dashboard" not in (self.client.scheduler_info().get("services") or {}):
                return ""
            if not self.client.run_on_scheduler(_serves_dashboard):
                return ""
            return self.client.dashboard_link or ""
        except Exception:  # noqa: BLE001 - no dashboard is not an error
            return ""

    @property
    def closed(self) -> bool:
        return self.client.status in ("closed", "closing")

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        self.client.wait_for_workers(n, timeout=timeout)

    def close(self) -> None:
        """Stop running programs, disconnect, and stop the cluster if this session started it."""
        if self._closed:
            return
        self._closed = True
        if self.cluster is not None:
            atexit.unregister(self._close_at_exit)
        for run in list(self.runs.values()):
            if not run.done:
                try:
                    run.stop(timeout=10)
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
        if self.cluster is not None:
            try:      # Dask's shutdown race: a heartbeat in flight when the scheduler
                self.client.run(_stop_heartbeats)    # closes logs a traceback on a
            except Exception:  # noqa: BLE001     # loaded machine; the workers go anyway
                pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        for fn in self.on_close:
            fn(self)

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the interpreter is exiting
            pass

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        ws = self.workers
        kinds = ", ".join(f"{a} {r}" for a, r in sorted(ws.items()))
        link = self.dashboard_link
        return f"<workbench cluster [{self.kind}] {len(ws)} workers: {kinds}; " \
               f"{'dashboard ' + link if link else 'no dashboard'}>"


def _stop_heartbeats(dask_worker: Any) -> None:
    """On a worker about to be closed with its cluster: no more heartbeats to the
    scheduler (one in flight as the scheduler closes is logged as an error)."""
    dask_worker.periodic_callbacks["heartbeat"].stop()


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def make_client(address: str, **options: Any) -> Any:
    """``distributed.Client(address, **options)``, without Dask's version-mismatch warning
    when the only difference is Python's patch version (the pinned image has Debian's
    3.11.2, a host 3.11.7: the numba cache and pickles depend on 3.11 only)."""
    from distributed import Client

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        client = Client(address, **options)
    for w in seen:
        if not _patch_only(str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return client


def _patch_only(message: str) -> bool:
    """A version-mismatch table whose only row is Python with the same major.minor (the
    numba cache and pickles are keyed by those: 3.11.2 in the image, 3.11.7 here is fine)."""
    rows = [r for r in message.splitlines() if r.startswith("| ") and "Package" not in r]
    if len(rows) != 1 or not rows[0].startswith("| python "):
        return False
    versions = {".".join(v.strip().split(".")[:2]) for v in rows[0].strip("| ").split("|")[1:]
                if v.strip() not in ("", "None")}
    return len(versions) == 1


def _serves_dashboard(dask_scheduler: Any = None) -> bool:
    """On the scheduler: whether it can serve the bokeh dashboard (without bokeh, its HTTP
    server answers "Dask needs bokeh" at /status)."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None
