"""The "Python 3 (workbench, container)" kernel: ipykernel inside the workbench image.

Jupyter runs ``python -m workbench kernel run-container {connection_file}`` on the host,
which calls :func:`launch` with this process's artifact store. The launcher starts a
container of the image (the same Python, numba and Dask as the docker cluster's workers)
with

- the kernel's five ports published on the host's loopback only, at the numbers Jupyter
  chose (the kernel listens on the container's own interfaces);
- the current directory (the notebook's) and the artifact store mounted at the same paths,
  running as this user, so files and artifacts are shared with the host;
- ipykernel with the workbench extension preloaded.

It relays the container's output and exits with the kernel. Shutting the kernel down, a
signal to the launcher, or the launcher dying (its attached stdin closes) stops the
container, which the engine then removes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
INNER = "/tmp/wb-kernel/connection.json"


def launch(connection_file: str, store_root: str) -> int:
    """Start the kernel container for ``connection_file``, sharing the artifact store at
    ``store_root``; returns the kernel's exit code."""
    from . import engine, image

    info = json.loads(open(connection_file).read())
    engine.reap_orphans()
    tag = image.ensure(build_missing=False)     # Jupyter would time out during a build
    session = uuid.uuid4().hex[:10]
    ctr = engine.create(
        tag, ["python", "-m", "workbench.containers.kernel", "--inside", INNER],
        session=session, role="kernel", name=f"wb-kernel-{session}", store_root=store_root,
        mount=True, cwd="rw", detach=False, stdin_open=True, auto_remove=True,
        working_dir=os.getcwd(), start=False,
        ports={f"{info[p]}/tcp": ("127.0.0.1", info[p]) for p in PORTS},
        files={INNER: json.dumps(dict(info, ip="0.0.0.0")).encode()}, file_mode=0o600)
    # our end of its stdin: when this process dies, the container's stdin closes and the
    # kernel inside stops (see _inside)
    lifeline = ctr.attach_socket(params={"stdin": 1, "stream": 1})

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    signal.signal(signal.SIGINT, lambda *_: _quietly(ctr.kill, "SIGINT"))
    try:
        ctr.start()
        threading.Thread(target=_relay, args=(ctr,), daemon=True).start()
        return int(ctr.wait().get("StatusCode", 1))
    finally:
        _quietly(ctr.stop, timeout=3)
        _quietly(ctr.remove, force=True)
        _quietly(lifeline.close)


def _relay(ctr: Any) -> None:
    try:
        for chunk in ctr.logs(stream=True, follow=True):
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
    except Exception:  # noqa: BLE001 - the container went away
        pass


def _quietly(fn: Any, *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except Exception:  # noqa: BLE001 - already stopped or removed
        pass


def _inside(connection_file: str) -> int:
    """In the container: run ipykernel; stop it when stdin closes (the launcher is gone)."""
    proc = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f",
                             connection_file, "--ext=workbench"], stdin=subprocess.DEVNULL)

    def lifeline() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        proc.terminate()

    threading.Thread(target=lifeline, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: proc.send_signal(s))
    os._exit(proc.wait())     # no interpreter shutdown under the reading thread


def main(argv: list[str] | None = None) -> int:
    """Inside the container: ``python -m workbench.containers.kernel --inside FILE``. (On
    the host, ``workbench kernel run-container FILE`` launches it: see the kernelspec.)"""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--inside":
        return _inside(argv[1])
    print("usage: python -m workbench.containers.kernel --inside CONNECTION_FILE",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
