"""Runtime: engines that carry out plans. ``start`` picks the engine."""

from __future__ import annotations

import os
from typing import Any

from ..errors import GraphError

ENGINES = ("dask", "local")


def default_engine() -> str:
    return os.environ.get("WORKBENCH_ENGINE", "dask")


def start(pipeline: Any, *, batches: int | None, duration: float | None, engine: str | None,
          placement: dict, parallelism: dict, sink: Any, widget: bool, name: str | None = None,
          **options: Any) -> Any:
    engine = engine or default_engine()
    if engine == "dask":
        from .stream.engine import DaskRun

        run = DaskRun(pipeline, batches, duration, sink, placement, parallelism, name=name,
                      **options)
    elif engine == "local":
        from .local import LocalRun

        for hint in list(placement) + list(parallelism):
            pipeline.match_stages(hint)  # unknown names still fail loudly
        unknown = sorted(set(options) - {"interval"})
        if unknown:
            raise GraphError(f"the local engine has no option {', '.join(unknown)} (it runs "
                             "in this process, compiled here).\nFix: drop it, or run with "
                             "engine='dask'.")
        run = LocalRun(pipeline, batches, duration, sink, name=name, **options)
    else:
        raise GraphError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
    if widget:      # in a Jupyter kernel, the live dashboard (built before the run starts)
        from ..widgets import show

        show(run)
    return run.start()
