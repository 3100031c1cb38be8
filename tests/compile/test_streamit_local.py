"""Every StreamIt program on the local engine (numba-compiled) equals its numpy/scipy
reference: the suite's input, and other inputs where the suite's is degenerate (sorted
keys, a counter), at batch sizes that split firings and windows."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.examples.streamit import PROGRAMS, inputs

ITERATIONS = {"FMRadio": 400, "FilterBank": 300, "ChannelVocoder": 40, "BeamFormer": 300,
              "FFT": 6, "DCT": 6, "BitonicSort": 200}
RANDOM = {   # inputs other than the suite's, where the suite's makes a weak check
    "FFT": lambda rng, n: rng.normal(size=n),
    "DCT": lambda rng, n: rng.integers(-300, 300, n),
    "BitonicSort": lambda rng, n: rng.integers(-1000, 1000, n),
}


def check(name, x, batch_size, engine="local", **run):
    mod = PROGRAMS[name]
    result = mod.program(wb.sources.array(x, batch_size=batch_size)).run(engine=engine, **run)
    out = result.wait().output
    ref = mod.reference(x)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    if ref.dtype.kind in "iu":
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    return result


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_each_program_equals_its_reference(name):
    x = inputs(name, ITERATIONS[name])
    check(name, x, batch_size=len(x) // 3 + 7)     # batches that split steady states


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_on_random_inputs_too(name):
    n = len(inputs(name, ITERATIONS[name]))
    check(name, RANDOM[name](np.random.default_rng(5), n), batch_size=n // 4 + 1)
