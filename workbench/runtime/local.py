"""The local engine: the whole program in one thread of this process.

It is the semantics oracle: the Dask engine must produce the same output. Segments are
fused and compiled exactly as on workers (same artifacts), batches go straight from one
segment to the next, and metrics are sampled by a side thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..compile import CompiledSegment
from ..errors import GraphError
from ..model import sinks
from ..model.fusion import plan_segments, segments
from .metrics import Recorder
from .nodes import build_chain
from .preflight import compile_here
from .run import Run


class LocalRun(Run):
    engine = "local"

    def __init__(self, pipeline: Any, batches: int | None, duration: float | None,
                 sink: Any, name: str | None = None, interval: float = 0.25) -> None:
        super().__init__(pipeline, name)
        if pipeline.source is None:
            raise GraphError("this pipeline has no source; start it with a source: "
                             "wb.sources.array(data) >> ...")
        self.plan = plan_segments(pipeline)
        t0 = time.perf_counter()
        self.compiled = {s.name: CompiledSegment(s) for s in segments(self.plan)}
        compile_here(self.plan, self.compiled, pipeline.source)   # or explain, now
        self.compile_s = time.perf_counter() - t0
        self.sink = sinks.make(sink)
        self.recorder = Recorder("local", interval)
        self.reading = self.recorder.point("source")
        self.chain = build_chain(self.plan, self.recorder, self.compiled)
        self.sunk = self.recorder.point("sink")
        self.batches = batches
        self.duration = duration
        self._thread = threading.Thread(target=self._main, name="wb-local-run", daemon=True)

    @property
    def placement(self) -> dict[str, list[str]]:
        return {name: ["local"] for name in self.pipeline.stage_names}

    def state(self, stage: str) -> Any:
        """A copy of a stage's current state (arrays; stacked per key group when keyed)."""
        for node in self.chain.segment_nodes():
            for s, st in zip(node.segment.stages, node.states):
                if s.name == stage:
                    if st is None:
                        raise GraphError(f"stage {stage!r} is stateless.")
                    return tuple(a.copy() for a in st) if isinstance(st, tuple) else st.copy()
        self.pipeline.stage(stage)  # raises with the list of stages
        raise GraphError(f"stage {stage!r} is not in this run's plan.")

    def start(self) -> LocalRun:
        self.started = self.recorder.t0 = time.time()
        self.recorder.first()
        self.recorder.start()
        self.status = "running"
        self.event("started", f"local engine: {len(self.compiled)} segment(s): "
                   + ", ".join(self.compiled))
        self._thread.start()
        return self

    def _main(self) -> None:
        src = self.pipeline.source
        sink_counter, reading = self.sunk, self.reading
        deadline = None if self.duration is None else time.time() + self.duration
        try:
            for seq, batch in src.batches(self.batches):
                if self.t_first is None:
                    self.t_first = time.time()
                if self._stop.is_set() or (deadline is not None and time.time() >= deadline):
                    break
                out = self.chain.push(batch, seq)
                self.source_records += len(batch)
                reading.records += len(batch)
                reading.records_out += len(batch)
                reading.batches += 1
                if out is not None:
                    self.sink.put(seq, out)
                    sink_counter.records += len(out)
                    sink_counter.records_out += len(out)
                sink_counter.batches += 1
            self.t_last = time.time()
            for msg in self.chain.leftovers():
                self.event("leftover", msg)
            for msg in self.chain.notes():
                self.event("note", msg)
            status = "stopped" if self._stop.is_set() else "finished"
            self.recorder.stop()
            self._finish(status)
        except BaseException as exc:  # noqa: BLE001 - the run reports it; the kernel lives
            self.recorder.stop()
            self._finish("failed", exc)
