"""Compile layer: operators to numba artifacts in a content-addressed store, fused segments.

Drivers (:mod:`workbench.compile.drivers`): this process (``local``, the default) or a
long-lived container of the pinned image (``docker``); both write the same artifacts.
"""

from __future__ import annotations

from typing import Any

from .artifacts import ArtifactStore, default_root, default_store, jit_enabled, toolchain
from .segment import Artifacts, CompiledSegment, is_numba_error, new_state
from .source import ModuleText

__all__ = ["ArtifactStore", "Artifacts", "CompiledSegment", "ModuleText", "compiled_operator",
           "default_root", "default_store", "is_numba_error", "jit_enabled", "new_state",
           "toolchain"]


def compiled_operator(op: Any, store: ArtifactStore | None = None) -> Any:
    """The numba dispatcher of one operator, from the artifact store (for direct calls)."""
    from .source import operator_module

    store = store or default_store()
    if not jit_enabled():
        return op.func
    return store.jitted(store.put(operator_module(op, toolchain())), op.func.__name__)
