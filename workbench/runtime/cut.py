"""A cut: everything a running program holds between two batches, named by stage.

Between batches a program holds operator state (per stage; a keyed stage's state per key
group), records waiting at a stage's input (a peeking operator's history, records fewer
than a firing: *pending*), and a split-join's records waiting at its split and its join.
A :class:`Cut` names each by the stage (or split-join) it belongs to, not by the instance
or fused segment that held it, so that a different plan (other parallelism, placement or
fusion) can take it over: live reconfiguration moves a cut from the old instances to the
new ones; a checkpoint is a cut saved at an epoch boundary.

>>> import numpy as np
>>> a = Cut(keyed={"count": {0: np.array([1.]), 1: np.array([2.])}})
>>> b = Cut(keyed={"count": {2: np.array([3.])}}, pending={"fir": np.arange(3.)})
>>> m = Cut.merge([a, b])
>>> sorted(m.keyed["count"]), m.pending["fir"].tolist()
([0, 1, 2], [0.0, 1.0, 2.0])
>>> sorted(m.part(keyed={"count": range(1, 3)}).keyed["count"])
[1, 2]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def copy_state(state: Any) -> Any:
    if state is None:
        return None
    return tuple(a.copy() for a in state) if isinstance(state, tuple) else state.copy()


def nbytes(obj: Any) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (tuple, list)):
        return sum(nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(nbytes(o) for o in obj.values())
    return 0


@dataclass
class Cut:
    """State and pending records of (part of) a program between two batches.

    ``states``: stage -> operator state (arrays; not keyed). ``keyed``: keyed stage ->
    {key group: that group's state}. ``pending``: stage -> records waiting at its input.
    ``fired``: peeking stage -> whether a firing has read its history (its pending
    records start with history, not with unread records). ``branchings``: split-join
    name -> (records at its split, [records waiting at its join, per branch]).
    """

    states: dict[str, Any] = field(default_factory=dict)
    keyed: dict[str, dict[int, Any]] = field(default_factory=dict)
    pending: dict[str, np.ndarray] = field(default_factory=dict)
    fired: dict[str, bool] = field(default_factory=dict)
    branchings: dict[str, tuple[Any, list]] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return (nbytes(self.states) + nbytes(self.keyed) + nbytes(self.pending)
                + sum(nbytes(c) + nbytes(p) for c, p in self.branchings.values()))

    def __bool__(self) -> bool:
        return bool(self.states or self.keyed or self.pending or self.branchings)

    @staticmethod
    def merge(cuts: Iterable[Cut]) -> Cut:
        """One cut from the cuts of several instances: each stage's state and pending
        records are held by one instance, a keyed stage's groups by several."""
        out = Cut()
        for c in cuts:
            out.states.update(c.states)
            out.pending.update(c.pending)
            out.fired.update(c.fired)
            out.branchings.update(c.branchings)
            for stage, groups in c.keyed.items():
                out.keyed.setdefault(stage, {}).update(groups)
        return out

    def part(self, stages: Iterable[str] = (), branchings: Iterable[str] = (),
             keyed: Mapping[str, Iterable[int]] | None = None) -> Cut:
        """What ``stages`` and ``branchings`` hold, and of the keyed stages in ``keyed``
        only the given groups."""
        stages, branchings = set(stages), set(branchings)
        keyed = keyed or {}
        return Cut(
            states={k: v for k, v in self.states.items() if k in stages},
            keyed={k: {g: self.keyed[k][g] for g in groups if g in self.keyed.get(k, {})}
                   for k, groups in keyed.items() if k in self.keyed},
            pending={k: v for k, v in self.pending.items() if k in stages},
            fired={k: v for k, v in self.fired.items() if k in stages},
            branchings={k: v for k, v in self.branchings.items() if k in branchings})

    def describe(self) -> str:
        parts = []
        if self.states:
            parts.append(f"state of {', '.join(sorted(self.states))}")
        for k, groups in sorted(self.keyed.items()):
            parts.append(f"{len(groups)} key group(s) of {k}")
        pend = {k: len(v) for k, v in self.pending.items() if len(v)}
        if pend:
            parts.append("pending " + ", ".join(f"{k}: {n}" for k, n in sorted(pend.items())))
        if self.branchings:
            parts.append(f"split-joins {', '.join(sorted(self.branchings))}")
        return "; ".join(parts) or "nothing"
