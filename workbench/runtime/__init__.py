"""Runtime: engines that carry out plans. ``start`` picks the engine."""

from __future__ import annotations

from typing import Any

from ..errors import GraphError

ENGINES = ("local",)


def start(pipeline: Any, *, batches: int | None, duration: float | None, engine: str,
          placement: dict, parallelism: dict, sink: Any, widget: bool, name: str | None = None,
          **options: Any) -> Any:
    if engine == "local":
        from .local import LocalRun

        if placement or parallelism:
            for hint in list(placement) + list(parallelism):
                pipeline.match_stages(hint)  # unknown names still fail loudly
        return LocalRun(pipeline, batches, duration, sink, name=name, **options).start()
    raise GraphError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
