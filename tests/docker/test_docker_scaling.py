"""Scaling the docker cluster's compute workers: containers from its compute template,
compute-only retirement, and ``wb.autoscale`` (Dask's ``Adaptive`` on it) as on the local
cluster."""

from __future__ import annotations

import time

import numpy as np
import pytest

import workbench as wb
from workbench.containers import engine
from workbench.runtime.scaling import compute_workers, scale_compute
from workbench.workloads.trace import hold


@pytest.fixture(scope="module")
def scalable(image):
    s = wb.cluster("docker", compute=1, storage=1)     # its own: workers come and go
    yield s
    s.close()


def names(s):
    """The worker names the scheduler has now."""
    from workbench.runtime.session import _takes_n_workers

    kw = {"n_workers": -1} if _takes_n_workers(s.client) else {}
    info = s.client.sync(s.client.scheduler.identity, **kw)["workers"]
    return sorted(w["name"] for w in info.values())


def containers(s):
    """The worker containers of the cluster (any state), by worker name."""
    prefix = f"{s.cluster.name}-"
    flt = {"label": [f"{engine.LABEL}.session={s.cluster.session_id}"]}
    return sorted(c.name[len(prefix):] for c in engine.client().containers.list(
        all=True, filters=flt, ignore_removed=True) if not c.name.endswith("-scheduler"))


def wait_compute(s, n, timeout=120):
    deadline = time.monotonic() + timeout
    while len(compute_workers(s)) != n and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(compute_workers(s))


def test_compute_containers_come_and_go_and_storage_keeps_its_values(scalable):
    ref = wb.store.put("docker-scaling/part-0", np.arange(1000.0))
    took = scale_compute(scalable, 3)                 # two new containers, new names
    assert len(compute_workers(scalable)) == 3 and took > 0
    assert names(scalable) == ["compute-0", "compute-1", "compute-2", "storage-0"]
    assert containers(scalable) == ["compute-0", "compute-1", "compute-2", "storage-0"]

    @wb.function(placement="compute")
    def where(x):
        from distributed import get_worker

        return get_worker().name

    seen = {where(i).result() for i in range(40)}
    assert seen <= {"compute-0", "compute-1", "compute-2"} and len(seen) >= 2

    scale_compute(scalable, 0)                         # compute only: storage stays
    assert wait_compute(scalable, 0) == 0
    deadline = time.monotonic() + 60
    while containers(scalable) != ["storage-0"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers(scalable) == ["storage-0"] and names(scalable) == ["storage-0"]
    assert float(wb.store.get(ref).sum()) == 499500.0
    scale_compute(scalable, 1)                         # a name never used before
    assert names(scalable) == ["compute-3", "storage-0"]


def test_autoscale_on_docker_reactive_grows_and_forecast_records(scalable):
    scale_compute(scalable, 1)
    fn = wb.function(hold, placement="compute", jit=False)
    fn(0.001).result()
    a = wb.autoscale("reactive", minimum=1, maximum=2, interval=0.5, target_duration=0.25,
                     session=scalable)
    calls = [fn(0.2, 1.0) for _ in range(60)]        # 12 s of work queued on 2 threads
    grown = wait_compute(scalable, 2, timeout=90)
    assert sum(c.result() for c in calls) == 60.0
    a.stop()
    assert grown == 2 and scalable.cluster.observed >= {"storage-0"}
    f = wb.autoscale("forecast", minimum=1, maximum=2, interval=0.5, service_s=0.2,
                     session=scalable)
    time.sleep(3)
    f.stop()
    h = f.history
    assert len(h) >= 3 and "error" not in h.columns and (h["asked"] >= 1).all()
    with pytest.raises(Exception, match="1 <= minimum <= maximum"):
        wb.autoscale("fixed", minimum=0, session=scalable)


def test_a_compute_container_leaves_after_the_calls_it_runs(scalable):
    scale_compute(scalable, 3)

    @wb.function(placement="compute", jit=False)
    def slow(i):
        import time as t

        from distributed import get_worker
        t.sleep(3.0)
        return get_worker().address

    calls = [slow(i) for i in range(6)]          # 3 workers x 2 threads: all run at once
    time.sleep(1.0)
    scale_compute(scalable, 1, wait=False)        # the two newest leave
    deadline = time.monotonic() + 30
    while len(scalable.leaving) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    leaving = set(scalable.leaving)
    assert len(leaving) == 2 and len(compute_workers(scalable)) == 1
    where = [c.result(timeout=120) for c in calls]
    assert set(where) & leaving, where           # finished where they ran, not cut short
    deadline = time.monotonic() + 60
    while len(containers(scalable)) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(containers(scalable)) == 2 and not scalable.leaving
