"""The ``docker`` compile driver: numba in a long-lived container of the pinned image.

The container (``workbench containers build``: this host's exact Python, numba, llvmlite)
runs a small request server. The client sends it work on artifacts: "load these modules
from the store and run this dry run", and numba compiles *there*, writing its cache files
into the artifact store. Workers then load the artifact, a few tens of KB, instead of
compiling; the image (hundreds of MB) never moves.

Two ways to reach the store:

- ``mount=True`` (the default for an engine on this machine): the store's directory is
  bind-mounted at the same path, so the cache files land straight in it;
- ``mount=False`` (a remote engine, ``DOCKER_HOST=ssh://...``): each request carries the
  modules as a bundle and the reply carries the compiled bundle back
  (:meth:`~workbench.compile.ArtifactStore.bundle` / ``install``).

The server listens inside the container's own network namespace; the engine publishes it
on the host's loopback only (``127.0.0.1:<random>``), and each connection must open with
the driver's random token before anything is unpickled.

Portable artifacts: start the client with ``NUMBA_CPU_NAME=generic`` (numba reads it at
start-up); the driver passes it on, so the container compiles for the generic CPU into the
store's ``...-generic`` directory. The container's toolchain must equal the client's; the
driver checks that on start and says how to fix a difference.
"""

from __future__ import annotations

import atexit
import hmac
import os
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import CompileError, WorkbenchError
from .artifacts import ArtifactStore, default_store, toolchain

PORT = 8750
_LEN = struct.Struct("!Q")


# --- framing (both sides) ----------------------------------------------------------------

def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv(sock: socket.socket) -> bytes:
    head = _exact(sock, _LEN.size)
    return _exact(sock, _LEN.unpack(head)[0])


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("the compile container closed the connection")
        got += k
    return bytes(buf)


# --- the client side ---------------------------------------------------------------------

class DockerDriver:
    """Compile in a long-lived container of the workbench image.

    Parameters
    ----------
    store : ArtifactStore, optional
        Where artifacts go (default: this process's store).
    image : str, optional
        Image tag (default: this host's, built when missing; see
        :mod:`workbench.containers.image`).
    mount : bool, optional
        Bind-mount the store (default: when the engine runs on this machine) or move
        bundles over the connection.
    """

    name = "docker"
    local = False

    def __init__(self, store: ArtifactStore | None = None, image: str | None = None,
                 mount: bool | None = None) -> None:
        from ..containers import engine

        self.store = store or default_store()
        self.mount = engine.local_engine() if mount is None else mount
        self.image = image
        self.container: Any = None
        self.address: tuple[str, int] | None = None
        self.info: dict = {}
        self.session = uuid.uuid4().hex[:10]
        self._token = secrets.token_hex(16)
        self._lock = threading.Lock()
        self.started_s = 0.0          # create + start + first answer, seconds
        self.last_seconds = 0.0       # the last call's time inside the container

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 120) -> DockerDriver:
        from ..containers import engine, image

        t0 = time.perf_counter()
        engine.reap_orphans()
        tag = self.image or image.ensure()
        try:
            self.container = engine.create(
                tag, ["python", "-m", "workbench.compile.docker_driver", "serve", str(PORT)],
                session=self.session, role="compile", name=f"wb-compile-{self.session}",
                store_root=str(self.store.root) if self.mount else "/artifacts",
                mount=self.mount, env={"WB_DRIVER_TOKEN": self._token},
                ports={f"{PORT}/tcp": ("127.0.0.1", None)})
            self.container.reload()
            port = self.container.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]
            self.address = ("127.0.0.1", int(port["HostPort"]))
            self.info = self._hello(timeout)
        except BaseException:
            self.close()
            raise
        self.started_s = time.perf_counter() - t0
        mine = toolchain()
        if self.info["toolchain"] != mine:
            theirs = self.info["toolchain"]
            self.close()
            raise WorkbenchError(
                f"the compile container's toolchain {theirs} differs from this process's "
                f"{mine}: its artifacts would not load here.\nFix: `workbench containers "
                "build` (the image follows this host's versions); for an engine on other "
                "hardware, start Python with NUMBA_CPU_NAME=generic (portable artifacts).")
        atexit.register(self.close)
        return self

    def _hello(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return self._request({"op": "hello"}, timeout=30)
            except (OSError, ConnectionError) as exc:
                last = exc
                self.container.reload()
                if self.container.status == "exited":
                    break
                time.sleep(0.1)
        logs = self.container.logs(tail=30).decode(errors="replace")
        raise WorkbenchError(f"the compile container did not answer ({last}); its log:\n"
                             f"{logs}\nFix: `workbench containers build` (a stale or broken "
                             "image), then try again.")

    def close(self) -> None:
        ctr, self.container = self.container, None
        if ctr is not None:
            try:
                ctr.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        atexit.unregister(self.close)

    @property
    def running(self) -> bool:
        return self.container is not None

    def __enter__(self) -> DockerDriver:
        return self if self.running else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- requests ----------------------------------------------------------------------
    def _request(self, req: dict, timeout: float | None = None) -> Any:
        import cloudpickle

        assert self.address is not None
        with socket.create_connection(self.address, timeout=10) as sock:
            sock.settimeout(timeout)
            _send(sock, self._token.encode())
            _send(sock, cloudpickle.dumps(req))
            reply = cloudpickle.loads(_recv(sock))
        if not reply["ok"]:
            err = reply["error"]
            if isinstance(err, WorkbenchError):
                raise err
            raise CompileError(f"compiling in the container failed: {type(err).__name__}: "
                               f"{err}\n{reply.get('traceback', '')}") from err
        return reply["result"] if req["op"] != "call" else reply

    def call(self, fn: Callable[..., Any], *args: Any, names: list[str] = ()) -> Any:
        """Run ``fn(store, *args)`` in the container, ``store`` being its view of the
        artifact store; ``names`` are the artifacts ``fn`` compiles (moved as bundles when
        the store is not mounted). Returns what ``fn`` returns."""
        if not self.running:
            self.start()
        req = {"op": "call", "fn": fn, "args": args, "names": list(names)}
        if not self.mount and names:
            req["bundle"] = self.store.bundle(list(names))
        with self._lock:
            reply = self._request(req)
        if reply.get("bundle"):
            self.store.install(reply["bundle"])
        self.last_seconds = reply["seconds"]
        return reply["result"]


# --- the container side ------------------------------------------------------------------

def serve(port: int = PORT) -> None:
    """The request loop inside the container (``python -m workbench.compile.docker_driver
    serve``). One request at a time: numba compiles under one lock anyway."""
    import cloudpickle
    import numba
    import numpy as np

    token = os.environ["WB_DRIVER_TOKEN"].encode()
    store = default_store()

    @numba.njit(nogil=True)
    def _warm(a):  # start numba's compiler before the first request
        return a * 2.0

    _warm(np.ones(2))
    toolchain()
    # listens inside the container's own network namespace; published on host loopback
    srv = socket.create_server(("0.0.0.0", port))  # noqa: S104
    print(f"workbench compile driver: {toolchain()} on :{port}", flush=True)
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                conn.settimeout(30)
                if not hmac.compare_digest(_recv(conn), token):
                    continue                       # not our client: nothing is unpickled
                conn.settimeout(None)
                _send(conn, cloudpickle.dumps(_handle(store, _recv(conn))))
            except (OSError, ConnectionError):
                continue


def _handle(store: ArtifactStore, data: bytes) -> dict:
    import cloudpickle
    import numba

    try:
        req = cloudpickle.loads(data)
        if req["op"] == "hello":
            return {"ok": True, "result": {
                "toolchain": toolchain(), "python": sys.version.split()[0],
                "numba": numba.__version__, "root": str(store.root), "pid": os.getpid()}}
        if req.get("bundle"):
            store.install(req["bundle"])
        t = time.perf_counter()
        result = req["fn"](store, *req["args"])
        seconds = time.perf_counter() - t
        bundle = store.bundle(req["names"]) if req.get("bundle") else None
        return {"ok": True, "result": result, "seconds": seconds, "bundle": bundle}
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the client
        import pickle

        try:
            pickle.dumps(exc)
            err: BaseException = exc
        except Exception:  # noqa: BLE001 - not picklable: keep its text
            err = RuntimeError(f"{type(exc).__name__}: {exc}")
        return {"ok": False, "error": err, "traceback": traceback.format_exc()[-3000:]}


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else PORT)
    else:
        print("usage: python -m workbench.compile.docker_driver serve [PORT]", file=sys.stderr)
        sys.exit(2)
