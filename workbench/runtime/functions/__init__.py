"""Functions on the cluster: the store on storage workers, calls, coalesced maps."""

from __future__ import annotations

from .dispatch import Runtime, runtime

__all__ = ["Runtime", "runtime"]
