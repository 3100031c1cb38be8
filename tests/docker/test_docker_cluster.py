"""``wb.cluster("docker", compute=2, storage=1)``: real containers on a private bridge
network, TLS, resources; the quickstart gives the local engine's output; workers load
artifacts (cache hits, no compile); nothing is left behind, also after a failed start."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

import workbench as wb
from tests.docker.conftest import worker_stats
from workbench.containers import engine
from workbench.examples.quickstart import mean4, running_sum, scale
from workbench.runtime.docker_cluster import DockerCluster

DATA = np.random.default_rng(7).random(2**16)


def quickstart():
    return wb.sources.array(DATA, batch_size=4096) >> scale >> mean4 >> running_sum


def times(k: float):
    """An operator whose module is new to the store (a fresh constant): a real compile."""
    @wb.operator
    def times_k(x):
        return x * k
    times_k.py_func.k = k                # for the reference below
    return times_k


def numpy_reference(prog) -> np.ndarray:
    """numpy's output for ``source >> [times(k)] >> mean4 >> running_sum`` (or the
    quickstart): written out here, not by running the operators."""
    x = np.concatenate([prog.source.batch(i) for i in range(prog.source.num_batches)])
    for op in prog.elements:
        if op.name == "times_k":
            x = x * op.py_func.k
        elif op.name == "scale":
            x = x * 2.0
        elif op.name == "mean4":
            x = x[: len(x) // 4 * 4].reshape(-1, 4).mean(axis=1)
        else:
            assert op.name == "running_sum", op.name
            x = np.cumsum(x)
    return x


def ours(session_id: str) -> list[str]:
    c = engine.client()
    flt = {"label": [f"{engine.LABEL}.session={session_id}"]}
    return [x.name for x in c.containers.list(all=True, filters=flt, ignore_removed=True)] + \
           [n.name for n in c.networks.list(filters=flt)]


def same_as_reference_from_artifacts(session, prog, run) -> None:
    """``run`` gave the output numpy computes (tests/references.py), and every worker that
    loaded one of its artifacts got a numba cache hit (no compile)."""
    np.testing.assert_allclose(run.output, numpy_reference(prog))
    stats = worker_stats(session.client, [a.module for a in run.artifacts.values()])
    loaded = [s for w in stats.values() for s in w.values()]
    assert loaded and all(s == {"hits": 1, "misses": 0} for s in loaded), stats


def test_workers_are_containers_with_resources(docker_session):
    ws = docker_session.workers
    assert sorted(tuple(r) for r in ws.values()) == [("compute",), ("compute",), ("storage",)]
    assert all(a.startswith("tls://") for a in ws)
    names = docker_session.client.run(lambda dask_worker: dask_worker.name)
    assert sorted(names.values()) == ["compute-0", "compute-1", "storage-0"]
    inside = docker_session.client.run(lambda: __import__("os").path.exists("/.dockerenv"))
    assert all(inside.values())


def test_quickstart_gives_numpys_output(docker_session):
    prog = quickstart()
    run = prog.run(placement={"running_sum": "storage"}, widget=False)
    run.wait()
    assert run.status == "finished", run.error
    storage = [a for a, r in docker_session.workers.items() if "storage" in r]
    assert run.placement["running_sum"] == storage
    np.testing.assert_allclose(run.output, numpy_reference(prog))
    stats = worker_stats(docker_session.client, [a.module for a in run.artifacts.values()])
    loaded = [s for w in stats.values() for s in w.values()]
    assert loaded and all(s["misses"] == 0 and s["hits"] >= 1 for s in loaded)


def test_compiled_by_the_docker_driver_workers_load_it(docker_session):
    prog = wb.sources.array(DATA, batch_size=4096) >> times(1 + uuid.uuid4().int % 997) \
        >> mean4 >> running_sum
    run = prog.run(compile="docker")
    run.wait()
    assert run.status == "finished", run.error
    assert any("compiled by docker" in e for e in run.events.message), run.events
    same_as_reference_from_artifacts(docker_session, prog, run)


def test_a_compile_error_in_the_container_names_the_operator(docker_session):
    @wb.operator
    def broken_in_container(x):
        return x.not_an_attribute

    with pytest.raises(wb.CompileError, match="broken_in_container"):
        (wb.sources.array(DATA[:4096]) >> broken_in_container).run(compile="docker")
    run = quickstart().run()                       # the cluster and the driver carry on
    run.wait()
    assert run.status == "finished"


def test_private_network_tls_only_and_nothing_on_the_host(docker_session):
    from distributed import Client
    from distributed.security import Security

    cl: DockerCluster = docker_session.cluster
    net = engine.client().networks.get(cl.name)
    assert net.attrs["Internal"] is True and net.attrs["Driver"] == "bridge"
    for ctr in engine.client().containers.list(
            filters={"label": f"{engine.LABEL}.session={cl.session_id}"}):
        assert not ctr.attrs["HostConfig"].get("PortBindings")      # nothing published
        assert list(ctr.attrs["NetworkSettings"]["Networks"]) == [cl.name]
    host = cl.scheduler_address.split("://")[1]
    with pytest.raises(OSError):
        Client(f"tcp://{host}", timeout=3)                         # plain TCP: refused
    with pytest.raises(OSError):
        Client(cl.scheduler_address, security=Security.temporary(), timeout=3)  # other certs


def test_without_a_shared_disk_workers_get_bundles(image):
    session = wb.cluster("docker", compute=1, storage=1, store="ship")
    sid = session.cluster.session_id
    try:
        for ctr in engine.client().containers.list(
                filters={"label": f"{engine.LABEL}.session={sid}"}):
            assert ctr.attrs["Mounts"] == []
        prog = wb.sources.array(DATA, batch_size=4096) >> times(2000 + uuid.uuid4().int % 997) \
            >> mean4 >> running_sum
        run = prog.run()                 # on the current session: this one
        run.wait()
        assert run.status == "finished", run.error
        same_as_reference_from_artifacts(session, prog, run)
    finally:
        session.close()
    assert ours(sid) == []


def test_a_failed_start_leaves_nothing_behind(image):
    cl = DockerCluster(compute=1, storage=1, image="workbench-base:bookworm"
                       if _has("workbench-base:bookworm") else "busybox-missing:none")
    with pytest.raises(wb.WorkbenchError, match="(?s)did not start.*removed"):
        cl.start()
    assert ours(cl.session_id) == []


def _has(tag: str) -> bool:
    try:
        engine.client().images.get(tag)
        return True
    except Exception:  # noqa: BLE001
        return False


def test_functions_run_on_the_docker_cluster(docker_session):
    @wb.function(placement="storage")
    def add_in_container(a, b):
        return a + b

    assert add_in_container(1, 2).result() == 3
    ref = wb.store.put("docker-test/part-0", np.arange(10.0))

    @wb.function(placement="auto")
    def total_in_container(x):
        return x.sum()

    assert total_in_container(ref).result() == 45.0


def test_a_cluster_left_open_at_exit_goes_quietly(image):
    import subprocess
    import sys

    code = ("import workbench as wb\n"
            "s = wb.cluster('docker', compute=1, storage=1, store='ship')\n"
            "print('up', s.cluster.session_id, repr(s), flush=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    up, sid, *rest = proc.stdout.split()
    assert up == "up" and "no dashboard" in " ".join(rest)   # run with --no-dashboard
    assert "Traceback" not in proc.stderr and "CancelledError" not in proc.stderr, \
        proc.stderr[-3000:]
    assert ours(sid) == []                                     # and removed what it started


def test_a_killed_worker_container_process_is_recovered_from_checkpoints(docker_session):
    """checkpoint=True on the docker cluster: the workers write to the default location
    (mounted at the same path), the client reads it back after a SIGKILL of the worker
    process inside its container (the container's nanny starts a new one)."""
    def throttled(i):          # (defined here: pickled by value, the image has no pytest)
        import time

        time.sleep(0.002)
        return np.random.default_rng(i).random(1024)

    prog = wb.sources.generator(throttled, batches=600) >> scale >> running_sum
    run = prog.run(checkpoint=True, epoch=20, poll=0.1, widget=False)
    deadline = time.monotonic() + 120
    while sum(r[5] for r in run.metric_rows() if r[1] == "source") < 100 * 1024 \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    wb.faults.kill(stage="running_sum", run=run)
    run.wait(timeout=180)
    assert run.status == "finished", run.error
    assert len(run.recoveries) == 1 and run.recoveries.checkpoint.iloc[0] >= 1
    data = np.concatenate([throttled(i) for i in range(600)])
    np.testing.assert_allclose(run.output, np.cumsum(data * 2.0))
    docker_session.wait_for_workers(3, timeout=120)
