"""A session: one connection to a Dask cluster, and what the workbench runs on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
        self.on_close: list[Callable[[Session], None]] = []

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
        for run in list(self.runs.values()):
            if not run.done:
                try:
                    run.stop(timeout=10)
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        for fn in self.on_close:
            fn(self)

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
