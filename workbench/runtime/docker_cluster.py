"""``wb.cluster("docker", compute=2, storage=1)``: a Dask cluster of containers.

The scheduler and every worker run in containers of the pinned workbench image
(:mod:`workbench.containers.image`) on a user-defined bridge network of their own:

- **private**: the network is ``internal`` (no route out) and nothing is published on the
  host: this client reaches the scheduler at its bridge address (an engine on this Linux
  machine). For an engine elsewhere (``DOCKER_HOST``, Docker Desktop) the scheduler port is
  published on the host's loopback only, never on 0.0.0.0;
- **TLS** with temporary certificates (``distributed.Security.temporary()``), copied into
  the containers before they start: only this client can submit code;
- **resources**: ``compute-i`` workers carry ``{"compute": 1}``, ``storage-i`` workers
  ``{"storage": 1}``, like the local cluster, so placement hints mean the same;
- **scaling**: as the local cluster, a compute-worker template: ``scale_compute(n)`` (and
  ``wb.autoscale``, Dask's ``Adaptive`` through ``adapt``) starts ``compute-N`` containers
  under names never used before, and removes compute workers only, newest first, retired
  gracefully (the calls they run finish first); storage workers keep their ``wb.store``
  values and are never removed;
- **artifacts**: ``store="mount"`` bind-mounts this process's artifact store at the same
  path (workers load what the client or the compile driver compiled); ``store="ship"``
  mounts nothing and the engine installs each run's bundles on the workers, as on a lab
  cluster without a shared disk. The current directory is mounted read-only at the same
  path and put on ``PYTHONPATH``, so operators imported from modules beside the notebook
  unpickle on the workers. The checkpoints' default location is mounted read-write at the
  same path too (``checkpoint=True``; with ``store="ship"``, pass ``checkpoint=`` a URL
  every worker and the client reach).

``close()`` removes the containers and the network, also when starting failed half-way;
containers of a process that died without closing are removed by the next start (or by
``workbench containers clean``).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import uuid
from typing import Any

from ..containers import engine
from ..errors import WorkbenchError

SCHEDULER_PORT = 8786
TLS_DIR = "/tmp/wb-tls"


class DockerCluster:
    """Scheduler and workers as containers; see the module docstring."""

    def __init__(self, compute: int = 2, storage: int = 1, threads: int = 2,
                 image: str | None = None, store: str = "mount",
                 internal: bool | None = None) -> None:
        if compute + storage < 1:
            raise WorkbenchError("a cluster needs at least one worker: compute + storage >= 1.")
        if store not in ("mount", "ship"):
            raise WorkbenchError(f"store must be 'mount' or 'ship'; got {store!r}.")
        self.compute, self.storage, self.threads = compute, storage, threads
        self.image = image
        self.store = store
        self.publish = not (engine.local_engine() and sys.platform.startswith("linux"))
        if store == "mount" and not engine.local_engine():
            raise WorkbenchError("store='mount' needs an engine on this machine (DOCKER_HOST "
                                 "points elsewhere).\nFix: wb.cluster('docker', store='ship')")
        self.internal = (not self.publish) if internal is None else internal
        self.session_id = uuid.uuid4().hex[:10]
        self.name = f"wb-{self.session_id}"
        self.containers: list[Any] = []
        self.network: Any = None
        self.security: Any = None
        self.scheduler_address = ""
        self.started_s = 0.0
        self.client: Any = None
        self._closed = False
        self._tag = ""
        self._compute: list[str] = []           # compute workers asked for, oldest first
        self.draining: set[str] = set()         # of those, leaving (Adaptive's choice)
        self._next = compute                    # the next compute worker's number
        self._observed: set[str] = set()        # worker names the scheduler has (Adaptive)
        self._scale_lock = threading.RLock()

    def same(self, compute: int, storage: int, threads: int, **options: Any) -> bool:
        """Whether this cluster is what ``wb.cluster("docker", ...)`` asks for."""
        return (not self._closed and (compute, storage, threads) == (
            self.compute, self.storage, self.threads)
            and options.get("store", "mount") == self.store
            and options.get("image") in (None, self.image))

    # --- start ---------------------------------------------------------------------------
    def start(self) -> Any:
        """Start everything; returns a connected :class:`~workbench.runtime.cluster.Session`
        (closing it closes this cluster)."""
        from distributed.security import Security

        from ..containers import image
        from .session import Session, make_client

        t0 = time.perf_counter()
        c = engine.client()
        engine.reap_orphans()
        tag = self._tag = self.image or image.ensure()
        atexit.register(self.close)
        try:
            self.security = Security.temporary()
            self.network = c.networks.create(
                self.name, driver="bridge", internal=self.internal, check_duplicate=True,
                labels=engine.labels(self.session_id, "network"))
            sched = self._container(c, tag, "scheduler", [
                "dask", "scheduler", "--protocol", "tls", "--port", str(SCHEDULER_PORT),
                "--no-dashboard", *self._tls_args()])
            host, port = self._address(sched)
            for kind, n in (("compute", self.compute), ("storage", self.storage)):
                for i in range(n):
                    self._worker(c, tag, kind, f"{kind}-{i}")
            self._compute = [f"compute-{i}" for i in range(self.compute)]
            self.scheduler_address = f"tls://{host}:{port}"
            client = self.client = self._connect(make_client)
            client.wait_for_workers(self.compute + self.storage, timeout=180)
        except BaseException as exc:
            logs = self._logs()
            self.close()
            if isinstance(exc, WorkbenchError):
                raise
            raise WorkbenchError(
                f"the docker cluster did not start: {type(exc).__name__}: {exc}\n{logs}\n"
                "Everything it had started was removed.\nFix: `workbench containers "
                "status` checks the engine and the image; `workbench containers build` "
                "rebuilds the image.") from exc
        from .stream.worker import warm

        threading.Thread(target=_quietly, args=(client.run, warm), daemon=True).start()
        self.started_s = time.perf_counter() - t0
        return Session(client, self, "docker")

    def _worker(self, c: Any, tag: str, kind: str, name: str) -> Any:
        return self._container(c, tag, name, [
            "dask", "worker", f"tls://{self.name}-scheduler:{SCHEDULER_PORT}",
            "--name", name, "--nthreads", str(self.threads), "--resources", f"{kind}=1",
            "--protocol", "tls", "--no-dashboard", "--local-directory", "/tmp/dask",
            *self._tls_args()])

    def _tls_args(self) -> list[str]:
        return ["--tls-ca-file", f"{TLS_DIR}/ca.pem", "--tls-cert", f"{TLS_DIR}/cert.pem",
                "--tls-key", f"{TLS_DIR}/key.pem"]

    def _container(self, c: Any, tag: str, role: str, command: list[str]) -> Any:
        from ..compile import default_root
        from .stream.checkpoint import default_location

        sec = self.security
        ctr = engine.create(
            tag, command, session=self.session_id, role=role, name=f"{self.name}-{role}",
            hostname=f"{self.name}-{role}", network=self.network.name,
            store_root=str(default_root()), mount=self.store == "mount",
            shared=(default_location(),),       # checkpoint=True: workers write there
            env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "inf",
                 "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
                 "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "60s",
                 "DASK_LOGGING__DISTRIBUTED": "warning",
                 # the image's Python is Debian's 3.11.2: see runtime/cluster.py on the
                 # profiler's deadlock (cpython gh-116969)
                 "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"},
            **({"ports": {f"{SCHEDULER_PORT}/tcp": ("127.0.0.1", None)}}
               if role == "scheduler" and self.publish else {}),
            files={f"{TLS_DIR}/ca.pem": sec.tls_ca_file.encode(),
                   f"{TLS_DIR}/cert.pem": sec.tls_scheduler_cert.encode(),
                   f"{TLS_DIR}/key.pem": sec.tls_scheduler_key.encode()}, file_mode=0o600,
            start=False)
        self.containers.append(ctr)      # (removed by close() even if it fails to start)
        ctr.start()
        return ctr

    def _address(self, ctr: Any) -> tuple[str, int]:
        """Where this client reaches the scheduler: its bridge address, or the loopback
        port the engine published."""
        ctr.reload()
        if self.publish:
            bound = ctr.attrs["NetworkSettings"]["Ports"][f"{SCHEDULER_PORT}/tcp"][0]
            return "127.0.0.1", int(bound["HostPort"])
        return ctr.attrs["NetworkSettings"]["Networks"][self.name]["IPAddress"], SCHEDULER_PORT

    def _connect(self, client_cls: Any) -> Any:
        deadline = time.monotonic() + 90
        while True:
            try:
                return client_cls(self.scheduler_address, security=self.security, timeout=10)
            except OSError:
                if time.monotonic() > deadline or self._exited():
                    raise
                time.sleep(0.3)

    def _exited(self) -> bool:
        for ctr in self.containers:
            ctr.reload()
            if ctr.status == "exited":
                return True
        return False

    def _logs(self) -> str:
        out = []
        for ctr in self.containers:
            try:
                ctr.reload()
                if ctr.status != "running":
                    tail = ctr.logs(tail=12).decode(errors="replace").strip()
                    out.append(f"--- {ctr.name} ({ctr.status}):\n{tail}")
            except Exception:  # noqa: BLE001 - gone already
                pass
        return "\n".join(out)

    # --- artifacts for workers without the store's disk ----------------------------------
    def ship_artifacts(self, store: Any, names: list[str]) -> None:
        """Install the bundle of ``names`` into every worker's copy of the store (only
        with ``store="ship"``; mounted workers read the store itself)."""
        if self.store != "ship" or not names:
            return
        self.client.run(_install_bundle, str(store.root), store.bundle(list(names)))

    # --- scaling compute workers -----------------------------------------------------------
    def storage_names(self) -> list[str]:
        return [f"storage-{i}" for i in range(self.storage)]

    def compute_names(self) -> list[str]:
        """The compute workers asked for (started or starting), oldest first."""
        with self._scale_lock:
            return [k for k in self._compute if k not in self.draining]

    def scale_compute(self, n: int) -> None:
        """Ask for ``n`` compute workers: new containers from the compute template (started
        before this returns; they join the scheduler a few seconds later), or the newest
        compute workers retired gracefully (the calls they run finish, their results move
        to the workers that stay) and their containers removed, in the background."""
        if self._closed:
            raise WorkbenchError(f"{self.name} is closed: it cannot add or remove workers.")
        gone: list[str] = []
        with self._scale_lock:
            live = [k for k in self._compute if k not in self.draining]
            while len(live) > max(int(n), 0):
                gone.append(live.pop())
                self._compute.remove(gone[-1])
            c = engine.client() if len(live) < n else None
            while len(live) < n:
                name = f"compute-{self._next}"
                self._next += 1
                self._worker(c, self._tag, "compute", name)
                self._compute.append(name)
                live.append(name)
        if gone:
            threading.Thread(target=self._retire, args=(gone,), daemon=True,
                             name="wb-docker-retire").start()

    def _retire(self, names: list[str]) -> None:
        """The workers named leave gracefully (:func:`~workbench.runtime.scaling.drain`:
        the calls they are running finish first), then their containers go."""
        from .scaling import drain

        client = self.client
        if client is not None:
            try:
                client.sync(drain, client.scheduler, names)
                client.retire_workers(names=names, close_workers=True, remove=True)
            except Exception:  # noqa: BLE001 - removed below all the same
                pass
        self._remove(names)

    def _remove(self, names: list[str]) -> None:
        """Remove the containers of the workers named (already retired, or to go now)."""
        wanted = {f"{self.name}-{k}" for k in names}
        with self._scale_lock:          # Adaptive's and scale_compute's threads both remove
            doomed = [x for x in self.containers if x.name in wanted]
            self.containers[:] = [x for x in self.containers if x.name not in wanted]
        for ctr in doomed:
            try:
                ctr.remove(force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass

    # what Dask's ``Adaptive`` reads and calls on a cluster (``wb.autoscale("reactive")``)
    def adapt(self, Adaptive: Any = None, **kwargs: Any) -> Any:  # noqa: N803 - Dask's name
        """Dask's ``Adaptive`` (by default :class:`~workbench.runtime.scaling.
        ComputeAdaptive`) on this cluster; ``.stop()`` ends it."""
        from .scaling import ComputeAdaptive

        return (Adaptive or ComputeAdaptive)(self, **kwargs)

    @property
    def plan(self) -> set[str]:
        return set(self.compute_names()) | set(self.storage_names())

    requested = plan

    @property
    def observed(self) -> set[str]:
        """The worker names the scheduler had at the last look (``seen``)."""
        return set(self._observed)

    def seen(self, names: set[str]) -> None:
        """Record the workers the scheduler has (Adaptive asks before each decision)."""
        self._observed = set(names)

    @property
    def status(self) -> Any:
        from distributed.core import Status

        return Status.closed if self._closed else Status.running

    @property
    def loop(self) -> Any:
        return self.client.loop

    @property
    def scheduler_comm(self) -> Any:
        return self.client.scheduler

    def scale(self, n: int) -> Any:
        """``n`` workers in all (Dask's count, storage included). Called on the client's
        event loop by ``Adaptive``: the engine's calls run in a thread."""
        import asyncio

        want = max(int(n) - self.storage, 0)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self.scale_compute(want)
        return loop.run_in_executor(None, self.scale_compute, want)

    def scale_down(self, workers: Any) -> Any:
        """``Adaptive`` retired ``workers`` (names): their containers go (compute only)."""
        import asyncio

        from .scaling import is_storage

        names = [str(w) for w in workers if not is_storage(w)]
        with self._scale_lock:
            self._compute = [k for k in self._compute if k not in names]
        return asyncio.get_running_loop().run_in_executor(None, self._remove, names)

    # --- close ---------------------------------------------------------------------------
    def close(self) -> None:
        """Remove every container and the network of this cluster (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        client, self.client = self.client, None
        if client is not None and client.status not in ("closed", "closing"):
            # disconnect before the containers go: a client whose scheduler vanishes
            # under it (at interpreter exit, say) prints CancelledError tracebacks
            log = logging.getLogger("distributed")
            level = log.level
            log.setLevel(logging.CRITICAL)
            try:
                client.close(timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            finally:
                log.setLevel(level)
        try:
            engine.cleanup(session=self.session_id)
        except Exception:  # noqa: BLE001 - the engine went away: nothing left to remove
            logging.getLogger("workbench").warning("docker cluster %s: clean-up failed",
                                                   self.name)

    def __repr__(self) -> str:
        return (f"<DockerCluster {self.name}: {len(self._compute)} compute + {self.storage} "
                f"storage workers, store={self.store}, scheduler {self.scheduler_address}>")


def write_certs(directory: str) -> dict[str, str]:
    """Temporary TLS certificates for a cluster you start yourself (containers/compose.yaml):
    ``ca.pem``, ``cert.pem``, ``key.pem`` and ``dask.yaml``, the client's configuration
    (``DASK_CONFIG=DIR``). Returns the paths."""
    from distributed.security import Security

    sec = Security.temporary()
    os.makedirs(directory, exist_ok=True)
    d = os.path.abspath(directory)
    paths = {k: os.path.join(d, f"{k}.pem") for k in ("ca", "cert", "key")}
    for k, text in (("ca", sec.tls_ca_file), ("cert", sec.tls_client_cert),
                    ("key", sec.tls_client_key)):
        fd = os.open(paths[k], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    pair = f"{{cert: {paths['cert']}, key: {paths['key']}}}"
    paths["config"] = os.path.join(d, "dask.yaml")
    with open(paths["config"], "w") as f:
        f.write(f"distributed:\n  comm:\n    require-encryption: true\n    tls:\n"
                f"      ca-file: {paths['ca']}\n      client: {pair}\n"
                f"      scheduler: {pair}\n      worker: {pair}\n")
    return paths


def _install_bundle(root: str, files: dict, dask_worker: Any = None) -> int:
    from ..compile import ArtifactStore

    ArtifactStore(root).install(files)
    return len(files)


def _quietly(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - warming up is an optimisation only
        pass


def start_docker(compute: int = 2, storage: int = 1, threads: int = 2, **options: Any) -> Any:
    """A docker cluster session (see :class:`DockerCluster`)."""
    return DockerCluster(compute, storage, threads, **options).start()
