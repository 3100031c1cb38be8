"""What a Dask run produced, over all of its generations: the output in source order,
an operator's state, where each instance ran (a mixin of
:class:`~workbench.runtime.stream.engine.DaskRun`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import GraphError, RunError


class Results:
    """The run's results, read from every generation's reports."""

    @property
    def placement(self) -> dict[str, list[str]]:
        return self.plan.placement

    @property
    def instances(self) -> Any:
        """Where each instance ran (from the instances themselves) and how it ended."""
        import pandas as pd

        rows = [{"generation": g.index, "unit": r["unit"], "instance": r["instance"],
                 "index": r["index"], "planned": g.plan.units[r["unit"]].workers[r["index"]],
                 "worker": r["worker"], "status": r["status"]}
                for g in self.gens for r in g.results.values()]
        return pd.DataFrame(rows)

    def metric_rows(self, start: int = 0) -> list[tuple]:
        return self._rows[start:]        # in arrival order (workers' rows, as polled)

    def channel_rows(self, start: int = 0) -> list[tuple]:
        return self._chans[start:]

    @property
    def output(self) -> np.ndarray:
        if self.sink_kind != "collect":
            raise RunError("this run's sink keeps no output (sink='discard' or a callback); "
                           "run with sink='collect' to get run.output.")
        if not self._done.is_set():
            raise RunError("the run is still going; its output is gathered when it ends.\n"
                           "Fix: run.wait() (or run.stop()) first.")
        if self._output is None:
            from .frames import Piece
            from .inbox import join

            parts: dict[int, list[tuple[int, Any]]] = {}
            for g in self.gens:          # each generation's sink parts: its batches
                last = len(g.plan.units) - 1      # (one copy of each: a recovery replays
                lo = g.start or 0                 # batches another generation had)
                hi = g.stop if g.stop is not None else float("inf")
                for r in g.results.values():
                    if r["unit"] == last and isinstance(r.get("sink"), dict):
                        for seq, part in r["sink"].items():
                            if lo <= seq < hi:
                                parts.setdefault(seq, []).append((r["index"], part))
            arrays = []
            for seq in sorted(parts):     # instances' parts, back in input order by key
                pieces = [Piece(*p) if isinstance(p, tuple) else Piece(p)
                          for _, p in sorted(parts[seq], key=lambda t: t[0])]
                x = join(pieces).records
                if x is not None:
                    arrays.append(x)
            self._output = np.concatenate(arrays) if arrays else np.empty(0)
        return self._output

    @property
    def records_out(self) -> int:
        return sum(r["sink"] if isinstance(r.get("sink"), int) else
                   sum(len(p[0] if isinstance(p, tuple) else p)
                       for p in (r.get("sink") or {}).values())
                   for r in self._results)

    def state(self, stage: str) -> Any:
        """A stage's final state (keyed: each key group's row from the instance owning it)."""
        op = self.pipeline.stage(stage).op
        if op.state is None:
            raise GraphError(f"stage {stage!r} is stateless.")
        if not self._done.is_set():
            raise RunError("state is collected when the run ends; run.wait() first.")
        have = [(r["index"], r["states"][stage]) for r in self.current.results.values()
                if stage in r.get("states", {})]
        if not have:
            raise RunError(f"no instance of {stage!r} reported its state.")
        if op.key is None:
            return have[0][1]
        unit = next(u for u in self.plan.units if stage in u.stages)
        merged = None
        for i, st in have:
            lo, hi = unit.group_range(i)
            if merged is None:
                merged = tuple(a.copy() for a in st) if isinstance(st, tuple) else st.copy()
            if isinstance(st, tuple):
                for m, a in zip(merged, st):
                    m[lo:hi] = a[lo:hi]
            else:
                merged[lo:hi] = st[lo:hi]
        return merged

    def summary(self) -> str:
        if not self._done.is_set():      # read so far (the metrics: not kept, only shown)
            got = sum(r[5] for r in self._rows[:] if r[1] == "source")
            return (f"{self.name or 'run'} [dask] {self.status}: {got:,} records in so far, "
                    f"{self.elapsed:.2f} s since the start")
        return super().summary()
