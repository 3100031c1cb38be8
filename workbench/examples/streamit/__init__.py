"""The StreamIt benchmarks as workbench programs: FMRadio, FilterBank, ChannelVocoder,
BeamFormer, FFT, DCT, BitonicSort.

Each program follows the version of the StreamIt suite's ASPLOS'06 set
(``streams/apps/benchmarks/asplos06`` in the StreamIt repository): the same filters with
the same rates (``pop``/``peek``/``push`` as ``consumes``/``peek``/``produces``), split-joins
and parameters, so ``program().validate().repetitions`` is StreamIt's steady state
(:func:`steady`, per program) and the output is the suite's (each module's ``CHECK``: the
first values of the suite's own reference run). Each module has:

- ``program(src=None, **params)``: the Pipeline, reading ``src`` (default: the program's
  StreamIt input, ``source()``);
- ``data(...)``, ``source(...)``: the StreamIt input as records, and as a source;
- ``reference(x, **params)``: the output for input ``x`` computed independently with
  numpy/scipy (``np.convolve``, ``np.fft``, ``scipy.fft``, ``np.sort``), never by calling
  the program's operators;
- ``steady(**params)``: StreamIt's repetition vector, in the program's stage names.

:func:`inputs` gives a program's input for a number of steady-state iterations, the same
way for every program.

>>> sorted(PROGRAMS)
['BeamFormer', 'BitonicSort', 'ChannelVocoder', 'DCT', 'FFT', 'FMRadio', 'FilterBank']
>>> len(inputs("FFT", 2))          # two 256-point blocks of interleaved (re, im)
1024
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from . import beamformer, bitonic, channelvocoder, dct, fft, filterbank, fmradio

PROGRAMS: dict[str, ModuleType] = {
    "FMRadio": fmradio, "FilterBank": filterbank, "ChannelVocoder": channelvocoder,
    "BeamFormer": beamformer, "FFT": fft, "DCT": dct, "BitonicSort": bitonic,
}

# per program: how ``data`` counts (records, samples or blocks per steady state)
_PER_ITERATION = {"FMRadio": 5, "FilterBank": 8, "ChannelVocoder": 50, "BeamFormer": 2,
                  "FFT": 1, "DCT": 1, "BitonicSort": 1}


def inputs(name: str, iterations: int) -> np.ndarray:
    """The program's StreamIt input for ``iterations`` steady states."""
    return PROGRAMS[name].data(_PER_ITERATION[name] * iterations)


def records_per_iteration(name: str) -> int:
    """Source records one steady state reads."""
    return len(inputs(name, 1))


__all__ = ["PROGRAMS", "inputs", "records_per_iteration", "beamformer", "bitonic",
           "channelvocoder", "dct", "fft", "filterbank", "fmradio"]
