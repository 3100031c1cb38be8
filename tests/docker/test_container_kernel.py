"""The "Python 3 (workbench, container)" kernel: a real Jupyter kernel inside the image,
the extension preloaded, the notebook's directory and the artifact store shared; it stops
and its container goes when the kernel shuts down, and when its launcher is killed."""

from __future__ import annotations

import os
import signal
import time

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.magics.test_kernel import execute, text_of
from workbench.containers import engine
from workbench.notebook import kernelspec

NAME = "workbench-container"


def kernels() -> list[str]:
    # a container removed between the list and its inspection is gone: not an error
    return [c.name for c in engine.client().containers.list(
        all=True, filters={"label": f"{engine.LABEL}.role=kernel"}, ignore_removed=True)]


@pytest.fixture
def km(image, tmp_path):
    prefix = tmp_path / "jupyter"
    kernelspec.install(prefix=str(prefix), name=NAME)
    ksm = KernelSpecManager(kernel_dirs=[str(prefix / "share" / "jupyter" / "kernels")])
    assert ksm.get_kernel_spec(NAME).display_name == "Python 3 (workbench, container)"
    before = set(kernels())
    km = KernelManager(kernel_name=NAME, kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        yield km, kc, before
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)


def gone(before: set[str], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(kernels()) <= before:
            return True
        time.sleep(0.3)
    return False


def test_a_notebook_runs_in_the_image(km):
    manager, kc, before = km
    content, msgs = execute(kc, "import sys, os, numba\n"
                                "print(sys.prefix, os.path.exists('/.dockerenv'), "
                                "numba.__version__, os.getcwd(), "
                                "os.environ['WORKBENCH_ARTIFACTS'])")
    assert content["status"] == "ok", content
    prefix, in_docker, numba_v, cwd, store = text_of(msgs).split()
    import numba

    assert (prefix, in_docker, numba_v) == ("/opt/workbench", "True", numba.__version__)
    assert cwd == os.getcwd() and store == os.environ["WORKBENCH_ARTIFACTS"]
    content, _ = execute(kc, "import numpy as np\ndata = np.arange(8000.0)")
    cell = ("%%stream prog --source data --batch-size 1000\n"
            "def scale(x):\n"
            "    return x * 2.0\n")
    content, msgs = execute(kc, cell, timeout=180)      # a local cluster inside the image
    assert content["status"] == "ok", content
    assert "prog [dask] finished: 8,000 records" in text_of(msgs)
    content, msgs = execute(kc, "print(prog.output.sum() == (data * 2).sum())")
    assert text_of(msgs).strip() == "True"
    manager.shutdown_kernel(now=False)
    assert gone(before)


def test_killing_the_launcher_stops_the_container(km):
    manager, kc, before = km
    assert len(set(kernels()) - before) == 1
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)
    assert gone(before), kernels()
