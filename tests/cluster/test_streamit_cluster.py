"""Every StreamIt program on the Dask engine equals its numpy/scipy reference: default
placement, the peeking front filter of FMRadio split over parallel instances, and a
program cut in two by a placement hint (its split-joins on the storage worker)."""

from __future__ import annotations

import pytest

from tests.compile.test_streamit_local import ITERATIONS, check
from workbench.examples.streamit import PROGRAMS, inputs


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_each_program_on_the_cluster_equals_its_reference(session, name):
    x = inputs(name, ITERATIONS[name] // 2)
    check(name, x, batch_size=len(x) // 3 + 5, engine="dask")


def test_fmradio_with_its_front_filter_on_two_instances(session):
    x = inputs("FMRadio", 600)
    run = check("FMRadio", x, batch_size=501, engine="dask", parallelism={"lowpass": 2})
    (unit,) = [u for u in run.plan.units if "lowpass" in u.stages]
    assert unit.parallelism == 2 and unit.fission is not None


def test_fft_split_between_compute_and_storage(session):
    x = inputs("FFT", 8)
    placement = {f"combine{m}": "storage" for m in (2, 4, 8, 16, 32, 64, 128, 256)}
    run = check("FFT", x, batch_size=1536, engine="dask", placement=placement)
    assert len(run.plan.units) == 2
