"""Compiling before a run starts: a dry run of batch 0 through the compiled chain.

Both engines compile before they start anything: they push the source's first batch
through a throw-away chain of the compiled segments (fresh state, metrics not counted),
so numba compiles with the real types, a typing error surfaces, explained, before any
worker is busy, and the time it takes is the run's ``compile_s``. Only the leading nodes
that are all compiled take part (a plain-Python operator may have side effects: it runs
once per batch, in the run). With the ``local`` driver that happens in the client
process (:func:`compile_here`); with another driver (``docker``) :func:`dry_run` runs where
the driver compiles, loading the segments from the artifacts the client wrote.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..compile import ArtifactStore, CompiledSegment
from ..compile.segment import Artifacts
from ..model.fusion import Node, segments
from .metrics import Recorder
from .nodes import build_chain


def jit_prefix(nodes: tuple[Node, ...], compiled: dict[str, CompiledSegment]
               ) -> tuple[Node, ...]:
    """The leading nodes whose segments are all compiled (what a dry run may run)."""
    prefix = []
    for node in nodes:
        if not all(compiled[s.name].jit for s in segments((node,))):
            break
        prefix.append(node)
    return tuple(prefix)


def has_batch(source: Any) -> bool:
    return source.num_batches is None or source.num_batches > 0


def compile_here(nodes: tuple[Node, ...], compiled: dict[str, CompiledSegment],
                 source: Any) -> None:
    """The dry run in this process (the ``local`` driver, and the local engine)."""
    prefix = jit_prefix(nodes, compiled)
    if prefix and has_batch(source):
        build_chain(prefix, Recorder("preflight"), compiled).push(source.batch(0), 0)


def dry_run(store: ArtifactStore, nodes: tuple[Node, ...], artifacts: dict[str, Artifacts],
            batch: np.ndarray) -> dict[str, dict[str, int]]:
    """Compile ``nodes`` into ``store`` by running ``batch`` through them; returns numba's
    cache counters per segment (``{"hits": .., "misses": ..}``) as seen where it ran."""
    compiled = {s.name: CompiledSegment(s, store, artifacts=artifacts[s.name])
                for s in segments(nodes)}
    build_chain(nodes, Recorder("preflight"), compiled).push(batch, 0)
    return {name: _counts(cs) for name, cs in compiled.items()}


def _counts(cs: CompiledSegment) -> dict[str, int]:
    st: Any = cs.dispatcher.stats
    return {"hits": int(sum(st.cache_hits.values())),
            "misses": int(sum(st.cache_misses.values()))}


# --- warming a reconfiguration's new instances ------------------------------------------------

def unit_inputs(units: tuple, source: Any) -> dict[int, tuple[Any, tuple, int]]:
    """Each unit's input on the source's first batch, ``{unit: (dtype, record shape,
    records)}``, from a dry run here through the units' compiled segments, as far as
    they are all compiled. A reconfiguration's new instances load their code with a batch
    of zeros of that type while they wait for the switch (:func:`warm`)."""
    out: dict[int, tuple[Any, tuple, int]] = {}
    if not has_batch(source):
        return out
    x = np.asarray(source.batch(0))
    for u in units:
        out[u.index] = (x.dtype, x.shape[1:], len(x))
        compiled = {s.name: CompiledSegment(s) for s in segments(u.nodes)}
        if jit_prefix(u.nodes, compiled) != tuple(u.nodes):
            break
        x = build_chain(u.nodes, Recorder("preflight"), compiled).push(x, 0)
        if x is None or not len(x):
            break
    return out


def warm(nodes: tuple[Node, ...], store: ArtifactStore, artifacts: dict[str, Artifacts],
         first: tuple[Any, tuple, int]) -> None:
    """Load the compiled code of ``nodes`` into this process before its first batch: a
    batch of zeros of type ``first`` through a scratch chain (fresh state, its own
    segments: the first-batch check of a fused loop still runs on the real first batch),
    as far as the nodes are compiled (a plain-Python operator may have side effects)."""
    dtype, shape, n = first
    compiled = {s.name: _Pausing(s, store, artifacts=artifacts.get(s.name))
                for s in segments(nodes)}
    prefix = jit_prefix(nodes, compiled)
    if prefix:
        build_chain(prefix, Recorder("preflight"), compiled).push(
            np.zeros((n, *shape), dtype=dtype), 0)


class _Pausing(CompiledSegment):
    """A segment of a warm-up chain: after each call (its code loaded: numba holds the
    GIL while it loads a function) it lets the process's other threads run for a moment,
    so a new plan loading beside a running one holds the GIL in short turns."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        finally:
            time.sleep(0.002)
