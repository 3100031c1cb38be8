"""Functions on the cluster: the store server on storage workers, calls, coalesced maps.

:func:`runtime` (made on first use) and :func:`current` (never made) give a session's
:class:`Runtime`; the functions API (:mod:`workbench.functions`) and the views use these,
never the tables behind them.
"""

from __future__ import annotations

from .dispatch import Runtime, current, runtime, runtime_of

__all__ = ["Runtime", "current", "runtime", "runtime_of"]
