"""Synchronous dataflow: balance equations, repetition vector, granularity (pure).

Every element of a program is an SDF actor. With ``f`` the records flowing into an actor
per source record, an operator fires ``f / consumes`` times and passes on
``f * produces / consumes``. A split-join's branches must deliver to the join in the
ratio of its weights; when they cannot, the graph is inconsistent and the error names the
branches' operators and what each delivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import gcd, lcm
from typing import TYPE_CHECKING

from ..errors import RateError

if TYPE_CHECKING:
    from .graph import Operator, Pipeline, SplitJoin


@dataclass(frozen=True)
class Solution:
    """The steady state of a program.

    ``repetitions``: firings of each actor per iteration (``source`` counts records,
    ``split@k``/``join@k`` the k-th split-join's split and join); ``flows``: records into
    each stage per source record; ``startup``: source records needed before each stage
    first fires (peeking operators wait for ``peek`` records; see
    :mod:`workbench.model.startup`).
    """

    repetitions: dict[str, int]
    flows: dict[str, Fraction]
    join_weights: dict[int, tuple[int, ...]]
    startup: dict[str, int] = field(default_factory=dict)

    @property
    def records_per_iteration(self) -> int:
        return self.repetitions["source"]


def _fmt(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def solve(pipeline: Pipeline) -> Solution:
    firings: dict[str, Fraction] = {"source": Fraction(1)}
    flows: dict[str, Fraction] = {}
    names = iter(pipeline.walk())
    counter = [0]
    joins: dict[int, tuple[int, ...]] = {}

    def chain(elements: tuple, flow: Fraction) -> Fraction:
        for el in elements:
            if hasattr(el, "branches"):   # a split-join
                flow = split_join(el, flow)
            else:
                stage = next(names)
                flows[stage.name] = flow
                firings[stage.name] = flow / el.consumes
                flow = flow * el.produces / el.consumes
        return flow

    def split_join(sj: SplitJoin, flow: Fraction) -> Fraction:
        counter[0] += 1
        k = counter[0]
        n = len(sj.branches)
        if sj.split == "duplicate":
            firings[f"split@{k}"] = flow
            ins = [flow] * n
        else:
            w = sj.split_weights or (1,) * n
            firings[f"split@{k}"] = flow / sum(w)
            ins = [flow * wj / sum(w) for wj in w]
        outs = [chain(b.elements, fin) for b, fin in zip(sj.branches, ins)]
        weights = sj.join_weights or natural_weights(outs)
        per_firing = [o / v for o, v in zip(outs, weights)]
        if len(set(per_firing)) > 1:
            raise RateError(_join_message(sj, k, outs, weights, flow))
        firings[f"join@{k}"] = per_firing[0]
        joins[k] = tuple(weights)
        return per_firing[0] * sum(weights)

    chain(pipeline.elements, Fraction(1))
    scale = lcm(*(f.denominator for f in firings.values()))
    ints = {k: int(v * scale) for k, v in firings.items()}
    common = 0
    for v in ints.values():
        common = gcd(common, v)
    from .startup import startup

    sol = Solution({k: v // common for k, v in ints.items()}, flows, joins)
    return replace(sol, startup=startup(pipeline, joins))


def natural_weights(outs: list[Fraction]) -> tuple[int, ...]:
    """Smallest integer join weights in the ratio of the branches' outputs."""
    scale = lcm(*(o.denominator for o in outs))
    ints = [int(o * scale) for o in outs]
    common = 0
    for v in ints:
        common = gcd(common, v)
    return tuple(v // common for v in ints)


def _branch_label(branch: Pipeline) -> str:
    return " >> ".join(getattr(e, "name", "splitjoin") for e in branch.elements) or "(empty)"


def _join_message(sj, k: int, outs: list[Fraction], weights: tuple[int, ...],
                  flow: Fraction) -> str:
    lines = [f"inconsistent rates in split-join {k}: join_weights={tuple(weights)} take records "
             "from the branches in that ratio, but the branches deliver:"]
    for i, (b, o) in enumerate(zip(sj.branches, outs), 1):
        lines.append(f"  branch {i} ({_branch_label(b)}): {_fmt(o / flow)} record(s) per "
                     "record entering the split-join")
    ops = sorted({e.name for b in sj.branches for e in b.elements if hasattr(e, "name")})
    lines.append(f"The operators whose rates disagree: {', '.join(ops)}.")
    lines.append(f"Fix: leave join_weights out (they then follow the branch rates: "
                 f"{natural_weights(outs)}), or change the operators' consumes/produces.")
    return "\n".join(lines)


def granularity(ops: list[Operator] | tuple[Operator, ...]) -> int:
    """Smallest input record count that gives every operator of a chain whole firings."""
    g = 1
    gain = Fraction(1)
    for op in ops:
        # n * gain must be a multiple of op.consumes
        need = Fraction(op.consumes) / gain
        g = lcm(g, need.numerator)  # need = a/b in lowest terms; n*b/a... n multiple of a
        gain = gain * op.produces / op.consumes
    return g
