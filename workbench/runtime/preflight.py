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
