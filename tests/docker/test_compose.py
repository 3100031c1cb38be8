"""containers/compose.yaml with `docker compose` (or Debian's docker-compose): the image
and certificates from `workbench containers certs` make a TLS cluster the workbench
connects to by address; the quickstart runs on it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

import workbench as wb
from workbench.examples.quickstart import mean4, reference, running_sum, scale

COMPOSE = Path(__file__).resolve().parents[2] / "containers" / "compose.yaml"


def compose_cmd() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if probe.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(address: str, timeout: float = 90):
    """The published port accepts before the scheduler listens: retry until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return wb.cluster(address, timeout=5)
        except (OSError, wb.WorkbenchError):      # "no Dask scheduler answered" yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_compose_cluster_runs_the_quickstart(image, tmp_path, artifact_root):
    from tests.conftest import skip_or_fail

    cmd = compose_cmd()
    if cmd is None:                 # .ci/run installs docker-compose: required there
        skip_or_fail("docker", "neither `docker compose` nor docker-compose is installed")
    certs = tmp_path / "certs"
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "containers", "certs",
                          str(certs)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    port = free_port()
    project = f"wbtest{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, WORKBENCH_IMAGE=image, WORKBENCH_CERTS=str(certs),
               WORKBENCH_ARTIFACTS=str(artifact_root), WORKBENCH_SCHEDULER_PORT=str(port))
    base = [*cmd, "-p", project, "-f", str(COMPOSE)]
    up = subprocess.run([*base, "up", "-d"], env=env, capture_output=True, text=True,
                        timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        import dask
        import distributed  # noqa: F401 - its defaults must exist before config.set below

        with dask.config.set({"distributed.comm.require-encryption": True,
                              "distributed.comm.tls.ca-file": str(certs / "ca.pem"),
                              "distributed.comm.tls.client.cert": str(certs / "cert.pem"),
                              "distributed.comm.tls.client.key": str(certs / "key.pem")}):
            import warnings

            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                session = connect(f"tls://127.0.0.1:{port}")
            # Python 3.11.2 there, 3.11.7 here: a patch version only, no warning table
            assert not [w for w in seen if "Mismatched versions" in str(w.message)]
            try:
                session.wait_for_workers(3, timeout=120)
                assert sorted(tuple(r) for r in session.workers.values()) == \
                    [("compute",), ("compute",), ("storage",)]
                # the scheduler runs with --no-dashboard: no link to a page that is not there
                assert session.dashboard_link is None
                assert repr(session).endswith("; no dashboard>"), repr(session)
                data = np.random.default_rng(3).random(2**14)
                prog = wb.sources.array(data, batch_size=4096) >> scale >> mean4 >> \
                    running_sum
                run = prog.run(placement={"running_sum": "storage"})
                run.wait()
                assert run.status == "finished", run.error
                np.testing.assert_allclose(run.output, reference(data))     # numpy's
            finally:
                session.close()
    finally:
        down = subprocess.run([*base, "down", "-t", "3"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert down.returncode == 0, down.stderr
