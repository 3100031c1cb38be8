"""The Docker engine seen from Python: one client, labels, and clean-up of what we started.

Every container and network the workbench starts carries the label ``org.workbench=1``,
its session's id (``org.workbench.session``) and its owner (``org.workbench.owner``:
``host:pid`` of the process that started it), so ``workbench containers clean`` and
:func:`reap_orphans` find exactly ours, and nothing else on the engine is touched.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..errors import ContainerError

LABEL = "org.workbench"
INSTALL = "pip install 'workbench[docker]'   (the docker SDK and cryptography)"


def docker_module() -> Any:
    """The ``docker`` SDK, imported on first use (an optional dependency)."""
    try:
        import docker
    except ImportError as exc:
        raise ContainerError(f"the docker Python SDK is not installed.\nFix: {INSTALL}"
                             ) from exc
    return docker


_CLIENT: Any = None


def client() -> Any:
    """A docker client for ``$DOCKER_HOST`` (default: the local engine's socket), checked
    with a ping once per process."""
    global _CLIENT
    if _CLIENT is None:
        docker = docker_module()
        try:
            c = docker.from_env(timeout=120)
            c.ping()
        except Exception as exc:  # noqa: BLE001 - DockerException, connection errors
            where = os.environ.get("DOCKER_HOST") or "/var/run/docker.sock"
            raise ContainerError(
                f"no Docker engine answers at {where}: {str(exc).splitlines()[0][:160]}\n"
                "Fix: start the engine (Linux: `sudo dockerd &` or `sudo systemctl start "
                "docker`; macOS/Windows: Docker Desktop), or point DOCKER_HOST at one."
            ) from exc
        _CLIENT = c
    return _CLIENT


def unavailable() -> str | None:
    """Why the docker tier cannot run here (one line), or None when an engine answers."""
    try:
        client()
    except ContainerError as exc:
        return str(exc).splitlines()[0]
    return None


def local_engine() -> bool:
    """True when the engine runs on this machine (bind mounts of our paths work)."""
    host = os.environ.get("DOCKER_HOST", "")
    return host == "" or host.startswith("unix://")


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def labels(session: str, role: str) -> dict[str, str]:
    return {LABEL: "1", f"{LABEL}.session": session, f"{LABEL}.role": role,
            f"{LABEL}.owner": owner()}


def host_user() -> str | None:
    """``uid:gid`` of this process, so files containers write into our store are ours."""
    return f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None


def forwarded_env() -> dict[str, str]:
    """numba's target settings of this process: containers must compile for the same CPU
    (``NUMBA_CPU_NAME=generic`` makes portable artifacts; numba reads it at start-up)."""
    return {k: os.environ[k] for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
                                       "NUMBA_OPT", "WORKBENCH_DISABLE_JIT")
            if k in os.environ}


def cleanup(session: str | None = None, owner_: str | None = None) -> dict[str, int]:
    """Remove our containers and networks (of one session, one owner, or all of ours);
    returns how many of each were removed."""
    c = client()
    filt = [f"{LABEL}=1"]
    if session:
        filt.append(f"{LABEL}.session={session}")
    if owner_:
        filt.append(f"{LABEL}.owner={owner_}")
    removed = {"containers": 0, "networks": 0}
    for ctr in c.containers.list(all=True, filters={"label": filt}, ignore_removed=True):
        try:
            ctr.remove(force=True)
            removed["containers"] += 1
        except Exception:  # noqa: BLE001 - already gone
            pass
    for net in c.networks.list(filters={"label": filt}):
        try:
            net.reload()
            for ctr in net.containers:          # a stray container still attached
                net.disconnect(ctr, force=True)
            net.remove()
            removed["networks"] += 1
        except Exception:  # noqa: BLE001 - already gone
            pass
    return removed


def reap_orphans() -> dict[str, int]:
    """Remove containers and networks whose owning process on this host has died (a
    notebook kernel killed without closing its cluster)."""
    c = client()
    host = socket.gethostname()
    dead: set[str] = set()
    for obj in c.containers.list(all=True, filters={"label": f"{LABEL}=1"},
                                 ignore_removed=True) + \
            c.networks.list(filters={"label": f"{LABEL}=1"}):
        own = (obj.attrs.get("Config", {}).get("Labels") or obj.attrs.get("Labels") or {}
               ).get(f"{LABEL}.owner", "")
        h, _, pid = own.rpartition(":")
        if h == host and pid.isdigit() and not _alive(int(pid)):
            dead.add(own)
    total = {"containers": 0, "networks": 0}
    for own in dead:
        for k, v in cleanup(owner_=own).items():
            total[k] += v
    return total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours() -> dict[str, list[str]]:
    """Names of our containers and networks on the engine (for status and tests)."""
    c = client()
    return {"containers": [x.name for x in c.containers.list(
                all=True, filters={"label": f"{LABEL}=1"})],
            "networks": [n.name for n in c.networks.list(filters={"label": f"{LABEL}=1"})]}


def create(tag: str, command: list[str], *, session: str, role: str, name: str,
           store_root: str | None = None, mount: bool | None = None, cwd: str = "ro",
           env: dict[str, str] | None = None, files: dict[str, bytes] | None = None,
           file_mode: int = 0o644, start: bool = True, shared: tuple[str, ...] = (),
           **options: Any) -> Any:
    """A container of ``tag`` made as every workbench container is: labelled as ours
    (:func:`labels`), with ``init``, numba's target settings of this process
    (:func:`forwarded_env`), ``WORKBENCH_ARTIFACTS=store_root``, and, when ``mount``
    (default: the engine runs on this machine),

    - the artifact store mounted read-write at the same path, the container running as
      this user so the files it writes are ours;
    - the current directory mounted at the same path (``cwd``: ``"ro"`` or ``"rw"``) and
      put on ``PYTHONPATH``, so modules beside a notebook import there too;
    - each folder in ``shared`` mounted read-write at the same path (the checkpoints'
      default location: workers write, the client reads).

    ``files`` (absolute path -> bytes) are copied in before the container starts;
    ``start=False`` returns it created, not started. Other options go to the SDK's
    ``containers.create`` (``ports``, ``network``, ``hostname``, ...).
    """
    c = client()
    mount = local_engine() if mount is None else mount
    environment = {**forwarded_env(), **(env or {})}
    volumes: dict[str, dict[str, str]] = {}
    if store_root is not None:
        environment["WORKBENCH_ARTIFACTS"] = store_root
    if mount:
        for path in (store_root, *shared):
            if path is not None:
                os.makedirs(path, exist_ok=True)
                volumes[path] = {"bind": path, "mode": "rw"}
        options.setdefault("user", host_user())
        here = os.getcwd()
        if here not in ("/", store_root):    # (a store inside it stays writable)
            volumes[here] = {"bind": here, "mode": cwd}
            environment["PYTHONPATH"] = here
    options.setdefault("detach", True)
    ctr = c.containers.create(tag, command, name=name, init=True, environment=environment,
                              volumes=volumes, labels=labels(session, role), **options)
    if files:
        put_files(ctr, files, mode=file_mode)
    if start:
        ctr.start()
    return ctr


def put_files(container: Any, files: dict[str, bytes], mode: int = 0o644) -> None:
    """Copy small files (path -> bytes, absolute paths) into a created container."""
    import io
    import tarfile
    import time

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            uid = os.getuid() if hasattr(os, "getuid") else 0
            info.uid, info.gid = uid, (os.getgid() if hasattr(os, "getgid") else 0)
            tar.addfile(info, io.BytesIO(data))
    container.put_archive("/", buf.getvalue())
