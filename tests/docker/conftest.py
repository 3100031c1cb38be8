"""The docker tier: a real Docker engine, the real workbench image, real containers.

The image for this host is built once per session (a cached build takes seconds; a first
one about a minute plus the wheel download). ``WORKBENCH_IMAGE`` then pins it for the
session, so an edit of the source tree during the run does not trigger another build.
Operators come from ``tests/cluster/ops.py``: the containers see this directory (mounted
read-only at the same path, on ``PYTHONPATH``), as they would see a notebook's modules.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def image():
    from workbench.containers import image as img

    tag = os.environ.get("WORKBENCH_IMAGE") or img.ensure()
    old = os.environ.get("WORKBENCH_IMAGE")
    os.environ["WORKBENCH_IMAGE"] = tag
    yield tag
    if old is None:
        os.environ.pop("WORKBENCH_IMAGE", None)
    from workbench.compile.drivers import close_drivers

    close_drivers()


@pytest.fixture(scope="session")
def driver(image):
    from workbench.compile.drivers import compile_driver

    return compile_driver("docker")


@pytest.fixture(scope="module")
def docker_session(image):
    import workbench as wb

    s = wb.cluster("docker", compute=2, storage=1)
    yield s
    s.close()


def worker_stats(client, modules):
    """numba cache counters of the segment dispatchers the workers loaded."""

    def stats(names, dask_worker=None):
        import sys

        out = {}
        for n in names:
            mod = sys.modules.get(n)
            disp = None if mod is None else mod.__wb_store__._jitted.get((n, "segment"))
            if disp is not None:
                out[n] = {"hits": int(sum(disp.stats.cache_hits.values())),
                          "misses": int(sum(disp.stats.cache_misses.values()))}
        return out

    return client.run(stats, list(modules))
