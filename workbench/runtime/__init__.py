"""Runtime: the engines that carry out plans, cluster sessions, the metrics recorder, the
functions runtime. Nothing here imports Dask at module level.

:func:`dask_run` and :func:`local_run` make a (not yet started) run of a program; the
package face installs them as the engines ``prog.run()`` looks up by name.
"""

from __future__ import annotations

from typing import Any

from ..errors import GraphError


def dask_run(pipeline: Any, *, batches: int | None, duration: float | None, placement: dict,
             parallelism: dict, sink: Any, name: str | None = None, **options: Any) -> Any:
    """A run of ``pipeline`` on the cluster of :func:`workbench.cluster` (not started)."""
    from .stream.engine import DaskRun

    return DaskRun(pipeline, batches, duration, sink, placement, parallelism, name=name,
                   **options)


def local_run(pipeline: Any, *, batches: int | None, duration: float | None, placement: dict,
              parallelism: dict, sink: Any, name: str | None = None, **options: Any) -> Any:
    """A run of ``pipeline`` in this process, the reference semantics (not started).
    Placement and parallelism mean nothing here, but unknown stage names still fail."""
    from .local import LocalRun

    for hint in list(placement) + list(parallelism):
        pipeline.match_stages(hint)
    unknown = sorted(set(options) - {"interval"})
    if unknown:
        raise GraphError(f"the local engine has no option {', '.join(unknown)} (it runs in "
                         "this process, compiled here).\nFix: drop it, or run with "
                         "engine='dask'.")
    return LocalRun(pipeline, batches, duration, sink, name=name, **options)
