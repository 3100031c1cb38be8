"""The driver-only image (``workbench containers build --driver``): small, nothing of Dask or
Jupyter inside, the host's toolchain, and its compile driver makes the same artifact as the
host and the full image (what the artifact store and numba key on: module names, module
text, numba's index), which a fresh host process loads without compiling."""

from __future__ import annotations

import json
import os

import pytest

import workbench as wb
import workbench.compile
from workbench.bench import driver_move as dm
from workbench.bench.compile import spawn
from workbench.containers import engine
from workbench.containers import image as img

PROGRAM = "scale+mean4+running_sum"
LIMIT = 400 * 10**6          # bytes, `docker image inspect` Size


@pytest.fixture(scope="module")
def driver_image():
    tag = os.environ.get("WORKBENCH_DRIVER_IMAGE") or img.ensure(kind="driver")
    old = os.environ.get("WORKBENCH_DRIVER_IMAGE")
    os.environ["WORKBENCH_DRIVER_IMAGE"] = tag     # no rebuild if the source changes meanwhile
    yield tag
    if old is None:
        os.environ.pop("WORKBENCH_DRIVER_IMAGE", None)


def run_in(tag: str, code: str) -> str:
    out = engine.client().containers.run(tag, ["python", "-c", code], remove=True,
                                         labels=engine.labels("test-driver", "test"))
    return out.decode().strip().splitlines()[-1]


def test_the_driver_image_has_its_own_tag_per_toolchain_and_source():
    tag = img.image_tag("one:base", kind="driver")
    assert tag.startswith("workbench-driver:py") and "-numba" in tag
    assert tag.rsplit("-", 1)[0].split(":")[1] == \
        img.image_tag("one:base").rsplit("-", 1)[0].split(":")[1]   # the same toolchain
    assert tag != img.image_tag("other:base", kind="driver")
    with pytest.raises(wb.ContainerError, match="kind must be one of"):
        img.image_tag(kind="tiny")


def test_the_driver_image_is_at_most_400_mb_in_one_layer(driver_image):
    attrs = engine.client().images.get(driver_image).attrs
    assert attrs["Size"] <= LIMIT, f"{attrs['Size'] / 1e6:.0f} MB"
    assert len(attrs["RootFS"]["Layers"]) == 1          # deleted files do not count
    assert attrs["Config"]["Labels"]["org.workbench.kind"] == "driver"


def test_nothing_of_jupyter_or_dask_is_inside_and_the_toolchain_is_the_hosts(driver_image):
    code = ("import importlib.util as u, json, sys, numba, llvmlite, numpy;"
            "import workbench.compile.docker_driver, workbench.runtime.preflight;"
            "from workbench.compile import toolchain;"
            "heavy = ['jupyterlab', 'dask', 'distributed', 'IPython', 'ipykernel', 'pandas',"
            " 'pip', 'setuptools'];"
            "print(json.dumps({'importable': [m for m in heavy if u.find_spec(m)],"
            " 'toolchain': toolchain(), 'numpy': numpy.__version__}))")
    got = json.loads(run_in(driver_image, code))
    assert got["importable"] == []
    assert got["toolchain"] == wb.compile.toolchain()
    import numpy

    assert got["numpy"] == numpy.__version__


def _driver_compile(tag: str, root: str) -> list[str]:
    drv = dm._driver(tag, root)
    try:
        made = dm.driver_compile(drv, PROGRAM)
    finally:
        drv.close()
    assert list(made["counts"].values()) == [{"hits": 0, "misses": 1}]   # compiled there
    return made["names"]


def test_the_driver_image_compiles_the_artifact_the_host_and_full_image_make(
        driver_image, image, tmp_path):
    names = _driver_compile(driver_image, str(tmp_path / "driver"))
    full = _driver_compile(image, str(tmp_path / "full"))
    host = spawn(str(tmp_path / "host"), PROGRAM)       # a fresh process compiles on the host
    assert host["misses"] == 1
    assert sorted(full) == sorted(names)
    for other in ("full", "host"):
        same = dm.identity((str(tmp_path / "driver"), names), (str(tmp_path / other), names))
        assert same["same_files"] and same["same_module_text"], (other, same)
        assert same["same_numba_index"] and same["same_fingerprint"], (other, same)
    loaded = spawn(str(tmp_path / "driver"), PROGRAM)   # a fresh host worker loads it
    assert (loaded["hits"], loaded["misses"]) == (1, 0)
    assert loaded["checksum"] == host["checksum"]
