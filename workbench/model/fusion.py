"""Fusion planning (pure): which consecutive stages run as one compiled function.

Consecutive operators that run in the same place, are all compiled (or all plain Python)
and are not keyed form one *segment*; keyed operators are segments of their own (records
are regrouped by key around them); a peeking operator starts a segment (its window over
the segment's input is the segment's pending records); split-joins are executed by the
engine, with their branches planned the same way. The plan is frozen data, so a new
placement gives a new plan and, through the compile layer, new fused code (Gloss's
"reoptimize and recompile").
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from math import gcd
from typing import TYPE_CHECKING

from .graph import SplitJoin, Stage
from .loops import loop_groups
from .sdf import granularity

if TYPE_CHECKING:
    from .graph import Pipeline


@dataclass(frozen=True)
class Segment:
    """A fused chain of stages."""

    stages: tuple[Stage, ...]
    place: Hashable = None

    @property
    def name(self) -> str:
        return "+".join(s.name for s in self.stages)

    @property
    def ops(self) -> tuple:
        return tuple(s.op for s in self.stages)

    @property
    def granularity(self) -> int:
        """Input records per whole firing of every operator (without a peeking head)."""
        return granularity(self.ops)

    @property
    def head_firings(self) -> int:
        """Firings of the first operator after which every other one fires whole."""
        head, rest = self.ops[0], self.ops[1:]
        g = granularity(rest) if rest else 1
        return g // gcd(head.produces, g)

    @property
    def loops(self) -> tuple[str, ...]:
        """The runs of its operators that compile to one loop over the batch each (see
        :mod:`workbench.model.loops`), as ``a+b+c`` names."""
        if self.keyed or not self.jit:
            return ()
        return tuple("+".join(s.name for s in self.stages[a:b])
                     for a, b in loop_groups(self.ops))

    @property
    def peeks(self) -> bool:
        return self.ops[0].history > 0

    @property
    def keyed(self) -> bool:
        return self.stages[0].op.key is not None

    @property
    def jit(self) -> bool:
        return self.stages[0].op.jit


@dataclass(frozen=True)
class Branching:
    """A split-join as executed: split, one plan per branch, roundrobin join."""

    index: int
    split: str
    split_weights: tuple[int, ...]
    join_weights: tuple[int, ...]
    branches: tuple[tuple[Node, ...], ...]

    @property
    def name(self) -> str:
        return f"splitjoin@{self.index}"


Node = Segment | Branching


def plan_segments(pipeline: Pipeline, place: Callable[[str], Hashable] | None = None,
                  jit_enabled: bool = True) -> tuple[Node, ...]:
    """Fuse a program's stages into segments.

    Examples
    --------
    >>> import numpy as np, workbench as wb
    >>> a, b, c = (wb.operator(lambda x: x, name=n) for n in "abc")
    >>> prog = wb.sources.array(np.zeros(4)) >> a >> b >> c
    >>> [s.name for s in plan_segments(prog)]
    ['a+b+c']
    >>> [s.name for s in plan_segments(prog, place=lambda st: st == "c")]
    ['a+b', 'c']
    """
    solution = pipeline.validate()
    place = place or (lambda name: None)
    stages = iter(pipeline.walk())
    counter = [0]

    def chain(elements: tuple) -> tuple[Node, ...]:
        nodes: list[Node] = []
        run: list[Stage] = []

        def flush() -> None:
            if run:
                nodes.append(Segment(tuple(run), place(run[0].name)))
                run.clear()

        for el in elements:
            if isinstance(el, SplitJoin):
                flush()
                counter[0] += 1
                k = counter[0]
                branches = tuple(chain(b.elements) for b in el.branches)
                nodes.append(Branching(k, el.split,
                                       el.split_weights or (1,) * len(el.branches),
                                       solution.join_weights[k], branches))
                continue
            stage = next(stages)
            jit = el.jit and jit_enabled
            if run:
                prev = run[-1].op
                if (el.key is not None or prev.key is not None or el.history
                        or (prev.jit and jit_enabled) != jit
                        or place(run[-1].name) != place(stage.name)):
                    flush()
            run.append(stage)
        flush()
        return tuple(nodes)

    return chain(pipeline.elements)


def segments(nodes: tuple[Node, ...]) -> list[Segment]:
    """All segments of a plan, branches included, in program order."""
    out: list[Segment] = []
    for n in nodes:
        if isinstance(n, Segment):
            out.append(n)
        else:
            for b in n.branches:
                out.extend(segments(b))
    return out
