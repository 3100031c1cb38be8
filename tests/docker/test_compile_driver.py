"""The docker compile driver: numba compiles in the container, into the artifact store, and
a fresh process on the host loads the artifact without compiling (numba's own cache hit
counters on the loading side, not timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import workbench as wb
from workbench.compile import ArtifactStore, CompiledSegment
from workbench.compile.docker_driver import DockerDriver
from workbench.examples.quickstart import mean4, reference, running_sum, scale
from workbench.model.fusion import plan_segments, segments
from workbench.runtime.preflight import dry_run

REPO = Path(__file__).resolve().parents[2]

LOAD = '''
import json
import numpy as np
import workbench as wb
from workbench.compile import CompiledSegment
from workbench.model.fusion import plan_segments, segments
from workbench.examples.quickstart import mean4, running_sum, scale
prog = wb.sources.array(np.arange(4096.0), batch_size=1024) >> scale >> mean4 >> running_sum
cs = CompiledSegment(segments(plan_segments(prog))[0])
out = cs(prog.source.batch(0), cs.new_states(), 0)
st = cs.dispatcher.stats
print(json.dumps({"hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values()),
                  "out": out.tolist(), "dir": str(cs.store.dir)}))
'''


def quickstart():
    return wb.sources.array(np.arange(4096.0), batch_size=1024) >> scale >> mean4 >> running_sum


def fresh_process(root: Path, **env: str) -> dict:
    """A new Python on the host that builds the quickstart segment from ``root``."""
    e = dict(os.environ, WORKBENCH_ARTIFACTS=str(root), **env)
    proc = subprocess.run([sys.executable, "-c", LOAD], env=e, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_in(driver: DockerDriver, prog) -> tuple[dict, list[str]]:
    """What the engine's preflight does with the docker driver: write the modules here,
    dry-run batch 0 in the container."""
    nodes = plan_segments(prog)
    arts = {s.name: CompiledSegment(s, driver.store).art for s in segments(nodes)}
    names = [n for a in arts.values() for n in a.names]
    return driver.call(dry_run, nodes, arts, prog.source.batch(0), names=names), names


def test_compiled_in_the_container_loads_on_the_host_without_compiling(image, tmp_path):
    with DockerDriver(ArtifactStore(tmp_path), image=image) as drv:
        assert drv.info["toolchain"] == wb.compile.toolchain()
        assert drv.info["python"].startswith("3.11.")
        got, names = compile_in(drv, quickstart())
    assert list(got.values()) == [{"hits": 0, "misses": 1}]       # compiled there
    caches = list((tmp_path / wb.compile.toolchain() / "__pycache__").glob("*.nbc"))
    assert {p.name.split(".")[0] for p in caches} >= set(names[:3])
    loaded = fresh_process(tmp_path)
    assert (loaded["hits"], loaded["misses"]) == (1, 0)            # loaded here, no compile
    np.testing.assert_allclose(loaded["out"], reference(np.arange(1024.0)))   # numpy's


def test_without_a_shared_disk_bundles_travel_both_ways(image, tmp_path):
    drv = DockerDriver(ArtifactStore(tmp_path), image=image, mount=False).start()
    try:
        assert drv.container.attrs["Mounts"] == []                 # no shared disk at all
        got, _ = compile_in(drv, quickstart())
    finally:
        drv.close()
    assert list(got.values()) == [{"hits": 0, "misses": 1}]
    assert any((tmp_path / wb.compile.toolchain() / "__pycache__").glob("*.nbi"))
    loaded = fresh_process(tmp_path)
    assert (loaded["hits"], loaded["misses"]) == (1, 0)


PORTABLE = '''
import json, sys
import numpy as np
from tests.docker.test_compile_driver import compile_in, quickstart
from workbench.compile import ArtifactStore, toolchain
from workbench.compile.docker_driver import DockerDriver
with DockerDriver(ArtifactStore(sys.argv[1]), image=sys.argv[2]) as drv:
    got, _ = compile_in(drv, quickstart())
print(json.dumps({"theirs": drv.info["toolchain"], "mine": toolchain(), "got": got}))
'''


def test_generic_cpu_artifacts_on_request(image, tmp_path):
    env = dict(os.environ, NUMBA_CPU_NAME="generic")
    proc = subprocess.run([sys.executable, "-c", PORTABLE, str(tmp_path), image], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["theirs"] == res["mine"] and res["mine"].endswith("-generic")
    assert list(res["got"].values()) == [{"hits": 0, "misses": 1}]
    loaded = fresh_process(tmp_path, NUMBA_CPU_NAME="generic")
    assert (loaded["hits"], loaded["misses"]) == (1, 0)
    assert loaded["dir"].endswith("-generic")


def test_a_request_without_the_token_is_refused(driver):
    import socket

    from workbench.compile.docker_driver import _recv, _send

    driver.container.reload()
    bound = [b for bs in driver.container.attrs["NetworkSettings"]["Ports"].values() for b in bs]
    assert bound and all(b["HostIp"] == "127.0.0.1" for b in bound)    # loopback only

    with socket.create_connection(driver.address, timeout=10) as sock:
        _send(sock, b"not the token")
        _send(sock, b"\x80\x04K\x01.")               # would be unpickled if accepted
        sock.settimeout(10)
        with pytest.raises(ConnectionError):
            _recv(sock)
    assert driver.call(lambda store, x: x + 1, 41) == 42     # the driver still serves


def test_workbench_compile_env_selects_the_running_driver(driver, monkeypatch):
    from workbench.compile.drivers import compile_driver

    monkeypatch.setenv("WORKBENCH_COMPILE", "docker")
    assert compile_driver() is driver                 # long-lived: started once, reused
