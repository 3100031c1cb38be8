"""The StreamIt programs as data: each one's repetition vector is the StreamIt source's
steady state (for the suite's parameters and others), and each numpy reference
reproduces the first outputs of the suite's own reference run."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.examples.streamit import PROGRAMS, inputs, records_per_iteration

VARIANTS = {   # the suite's parameters, and the other versions in the StreamIt repository
    "FMRadio": [{}, {"taps": 64, "bands": 11}],
    "FilterBank": [{}, {"bands": 4}, {"bands": 2, "taps": 64}],
    "ChannelVocoder": [{}, {"filters": 4}],
    "BeamFormer": [{}],
    "FFT": [{}, {"n": 64}, {"n": 1024}],
    "DCT": [{}, {"size": 8}],
    "BitonicSort": [{}, {"n": 32}, {"n": 4}],
}


@pytest.mark.parametrize("name,params", [(n, p) for n, ps in VARIANTS.items() for p in ps])
def test_repetitions_are_the_streamit_steady_state(name, params):
    mod = PROGRAMS[name]
    assert mod.program(**params).validate().repetitions == mod.steady(**params)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_one_iteration_reads_what_the_source_supplies_per_steady_state(name):
    reps = PROGRAMS[name].program().validate().repetitions
    assert reps["source"] == records_per_iteration(name)


@pytest.mark.parametrize("name", [n for n in sorted(PROGRAMS) if hasattr(PROGRAMS[n], "CHECK")])
def test_references_reproduce_the_suites_own_output(name):
    mod = PROGRAMS[name]
    got = mod.reference(inputs(name, 200))[: len(mod.CHECK)]
    np.testing.assert_allclose(got, mod.CHECK, rtol=getattr(mod, "CHECK_RTOL", 0),
                               atol=getattr(mod, "CHECK_ATOL", 0))


def test_bitonic_reference_sorts_and_dct_reference_is_twice_the_orthonormal_transform():
    from scipy.fft import idctn

    from workbench.examples.streamit import bitonic, dct

    x = np.random.default_rng(1).integers(-50, 50, 64)
    assert np.array_equal(bitonic.reference(x), np.sort(x.reshape(8, 8), axis=1).ravel())
    block = dct.data(1)
    expected = np.floor(2 * idctn(block.reshape(16, 16).astype(float), norm="ortho") + 0.5)
    np.testing.assert_array_equal(dct.reference(block), expected.ravel())
