"""The dry run a compile driver carries out: batch 0 through the compiled chain.

The Dask engine compiles before it starts anything: it pushes the source's first batch
through the chain of compiled segments, so numba compiles with the real types (and a
typing error surfaces, explained, before any worker is busy). With the ``local`` driver
that happens in the client process; with another driver (``docker``) this function runs
where the driver compiles, loading the segments from the artifacts the client wrote.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compile import ArtifactStore, CompiledSegment
from ..compile.segment import Artifacts
from ..model.fusion import Node, segments
from .metrics import Recorder
from .nodes import build_chain


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
