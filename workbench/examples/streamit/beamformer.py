"""BeamFormer (StreamIt ``asplos06/beamformer/streamit/BeamFormer1.str``): 12 channels
filtered and decimated, combined into 4 beams, matched-filtered, magnitudes out.

Complex samples travel as interleaved (re, im) records, as in StreamIt. Graph: a round
robin split-join (weight 2 per channel) of ``channels`` branches ``coarse<c>`` (64 taps,
pop 2) >> ``fine<c>`` (64 taps, decimation 2: pop 4), joined round robin (2), then a
duplicate split-join of ``beams`` branches ``beam<b>`` (complex weighted sum of the
channels, pop 24) >> ``matched<b>`` (128 taps) >> ``magnitude<b>``, joined round robin.
Every filter is stateful and restarts at each frame (StreamIt's ``BeamFirFilter``).

StreamIt generates each channel's input inside its branch (a null split of 12 sources);
here the source yields the channels' samples already interleaved as the round robin split
deals them, so the branches get exactly StreamIt's ``InputGenerate`` streams.

>>> prog = program(source(512))
>>> reps = prog.validate().repetitions
>>> reps["source"], reps["coarse0"], reps["fine0"], reps["beam0"], reps["split@2"]
(48, 2, 1, 1, 24)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import workbench as wb

CHANNELS, BEAMS, SAMPLES = 12, 4, 256
COARSE_TAPS, FINE_TAPS, FINE_DECIMATION = 64, 64, 2
TARGET_BEAM, TARGET_SAMPLE = BEAMS // 4, SAMPLES // 4

# the first outputs of the suite's reference run (asplos06-space/beamformer/output/
# BeamFormer1.out, float32)
CHECK = np.array([1.84233856, 0.87963653, 0.54426152, 0.37765291, 1.32066882, 0.63826269,
                  0.92187107, 1.05120516, 2.09608340])
CHECK_RTOL = 1e-5


def data(steps: int) -> np.ndarray:
    """``steps`` input samples of every channel, interleaved: ``InputGenerate``'s
    ``-sqrt(s * c)``, ``-(sqrt(s * c) + 1)`` (positive at the target's sample)."""
    s = np.arange(steps) % SAMPLES
    c = np.arange(CHANNELS)
    v = np.sqrt(np.outer(s, c).astype(np.float64))
    sign = np.where((c[None, :] == TARGET_BEAM) & (s[:, None] == TARGET_SAMPLE), 1.0, -1.0)
    out = np.empty((steps, CHANNELS, 2))
    out[:, :, 0], out[:, :, 1] = sign * v, sign * (v + 1.0)
    return out.reshape(-1)


def source(steps: int = 16 * SAMPLES, batch_size: int = 24 * 512) -> Any:
    return wb.sources.array(data(steps), batch_size=batch_size)


def fir_weights(taps: int) -> tuple[np.ndarray, np.ndarray]:
    j = np.arange(1, taps + 1, dtype=np.float64)
    return np.sin(j) / j, np.cos(j) / j


def beam_weights(beam: int, channels: int = CHANNELS) -> tuple[np.ndarray, np.ndarray]:
    j = np.arange(1, channels + 1, dtype=np.float64)
    return np.sin(j) / (beam + j), np.cos(j) / (beam + j)


def beam_fir(taps: int, frame: int, decimation: int, name: str) -> wb.Operator:
    """StreamIt's ``BeamFirFilter``: keeps the first (re, im) of each ``decimation``, an
    FIR over the frame so far (``re * wr + im * wi``, ``im * wr + re * wi``), restarted
    every ``frame`` input samples."""
    wr, wi = fir_weights(taps)
    mask = taps - 1

    def work(x, state):
        rb, ib, ctr = state
        n = x.size // (2 * decimation)
        out = np.empty(2 * n)
        pos, count = int(ctr[0]), int(ctr[1])
        for k in range(n):
            top = taps - 1 - pos
            rb[top] = x[2 * decimation * k]
            ib[top] = x[2 * decimation * k + 1]
            re, im = 0.0, 0.0
            for i in range(taps):
                s = (top + i) & mask
                re += rb[s] * wr[i] + ib[s] * wi[i]
                im += ib[s] * wr[i] + rb[s] * wi[i]
            pos = (pos + 1) & mask
            out[2 * k], out[2 * k + 1] = re, im
            count += decimation
            if count == frame:
                count, pos = 0, 0
                rb[:] = 0.0
                ib[:] = 0.0
        ctr[0], ctr[1] = pos, count
        return out

    state = (np.zeros(taps), np.zeros(taps), np.zeros(2))
    return wb.operator(work, consumes=2 * decimation, produces=2, state=state, name=name)


def beam_form(beam: int, channels: int) -> wb.Operator:
    """One beam: ``sum_c (wr + i wi)[c] * (re + i im)[c]`` over the channels."""
    wr, wi = beam_weights(beam, channels)

    def work(x):
        n = x.size // (2 * channels)
        out = np.empty(2 * n)
        for k in range(n):
            re, im = 0.0, 0.0
            for c in range(channels):
                a, b = x[2 * channels * k + 2 * c], x[2 * channels * k + 2 * c + 1]
                re += wr[c] * a - wi[c] * b
                im += wr[c] * b + wi[c] * a
            out[2 * k], out[2 * k + 1] = re, im
        return out

    return wb.operator(work, consumes=2 * channels, produces=2, name=f"beam{beam}")


def magnitude(name: str) -> wb.Operator:
    def work(x):
        n = x.size // 2
        out = np.empty(n)
        for k in range(n):
            out[k] = math.sqrt(x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1])
        return out

    return wb.operator(work, consumes=2, name=name)


def program(src: Any = None, *, channels: int = CHANNELS, beams: int = BEAMS,
            samples: int = SAMPLES) -> wb.Pipeline:
    """The BeamFormer pipeline from ``src`` (default: :func:`source`)."""
    chans = [beam_fir(COARSE_TAPS, samples, 1, f"coarse{c}")
             >> beam_fir(FINE_TAPS, samples, FINE_DECIMATION, f"fine{c}")
             for c in range(channels)]
    post = samples // FINE_DECIMATION
    beam_branches = [beam_form(b, channels) >> beam_fir(post, post, 1, f"matched{b}")
                     >> magnitude(f"magnitude{b}") for b in range(beams)]
    return ((src if src is not None else source())
            >> wb.splitjoin(*chans, split="roundrobin", split_weights=(2,) * channels,
                            join_weights=(2,) * channels)
            >> wb.splitjoin(*beam_branches))


def steady(channels: int = CHANNELS, beams: int = BEAMS) -> dict[str, int]:
    """The StreamIt steady state: each channel's source and coarse filter fire twice, its
    fine filter once; the duplicate splitter 24 times; the beams' filters once. Here the
    channels' sources are one source of 2 x 24 records and the round robin split that
    deals them (twice)."""
    out = {"source": 2 * 2 * channels, "split@1": 2, "join@1": 1, "split@2": 2 * channels,
           "join@2": 1}
    for c in range(channels):
        out.update({f"coarse{c}": 2, f"fine{c}": 1})
    for b in range(beams):
        out.update({f"beam{b}": 1, f"matched{b}": 1, f"magnitude{b}": 1})
    return out


def _frame_fir(z: np.ndarray, taps: int, frame: int) -> np.ndarray:
    """A causal FIR restarted every ``frame`` samples, with BeamFirFilter's sums."""
    wr, wi = fir_weights(taps)
    out = np.empty_like(z)
    for a in range(0, len(z), frame):
        re, im = z[a:a + frame].real, z[a:a + frame].imag
        n = len(re)
        out[a:a + frame] = (np.convolve(re, wr)[:n] + np.convolve(im, wi)[:n]) + 1j * (
            np.convolve(im, wr)[:n] + np.convolve(re, wi)[:n])
    return out


def reference(x: np.ndarray, *, channels: int = CHANNELS, beams: int = BEAMS,
              samples: int = SAMPLES) -> np.ndarray:
    """BeamFormer in numpy: per-frame ``np.convolve`` and a complex matrix product."""
    steps = len(x) // (2 * channels)
    z = x[: steps * 2 * channels].reshape(steps, channels, 2)
    z = z[:, :, 0] + 1j * z[:, :, 1]
    post = samples // FINE_DECIMATION
    chans = []
    for c in range(channels):
        coarse = _frame_fir(z[:, c], COARSE_TAPS, samples)
        kept = coarse[: len(coarse) // FINE_DECIMATION * FINE_DECIMATION: FINE_DECIMATION]
        chans.append(_frame_fir(kept, FINE_TAPS, post))
    fine = np.array(chans)                                     # channels x time
    outs = []
    for b in range(beams):
        wr, wi = beam_weights(b, channels)
        beam = (wr + 1j * wi) @ fine
        outs.append(np.abs(_frame_fir(beam, post, post)))
    return np.column_stack(outs).reshape(-1)
