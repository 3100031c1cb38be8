"""A finite stream through a program, exactly (pure): how many records each stage takes
in and gives out for ``n`` source records, and how many the source must supply before
each stage first fires (its start-up: peeking operators need ``peek`` records at once).

StreamIt's semantics: an operator fires ``(r - peek) // consumes + 1`` times on ``r``
records (none below ``peek``, no implicit prefill); a roundrobin split fires on whole
rounds of its weights; a join fires when every branch has its weight's worth.

>>> import numpy as np, workbench as wb
>>> fir = wb.operator(lambda x: x, name="fir", peek=8)
>>> half = wb.operator(lambda x: x, name="half", consumes=2)
>>> prog = wb.sources.array(np.zeros(100)) >> fir >> half
>>> counts(prog, 100)
{'fir': (100, 93), 'half': (93, 46)}
>>> startup(prog)
{'fir': 8, 'half': 9}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Pipeline


def counts(pipeline: Pipeline, n: int, joins: dict | None = None
           ) -> dict[str, tuple[int, int]]:
    """``{stage: (records in, records out)}`` for ``n`` records from the source
    (``joins``: the split-joins' weights, from ``validate()``)."""
    if joins is None:
        joins = pipeline.validate().join_weights   # the weights the program runs with
    out: dict[str, tuple[int, int]] = {}
    names = iter(pipeline.walk())
    counter = [0]

    def chain(elements: tuple, r: int) -> int:
        for el in elements:
            if hasattr(el, "branches"):          # a split-join
                r = split_join(el, r)
            else:
                stage = next(names)
                got = el.outputs(r)
                out[stage.name] = (r, got)
                r = got
        return r

    def split_join(sj, r: int) -> int:
        counter[0] += 1
        jw = joins[counter[0]]
        k = len(sj.branches)
        if sj.split == "duplicate":
            ins = [r] * k
        else:
            w = sj.split_weights or (1,) * k
            ins = [r // sum(w) * wi for wi in w]            # whole rounds only
        outs = [chain(b.elements, i) for b, i in zip(sj.branches, ins)]
        rounds = min(o // w for o, w in zip(outs, jw))
        return rounds * sum(jw)

    chain(pipeline.elements, n)
    return out


def startup(pipeline: Pipeline, joins: dict | None = None, limit: int = 2**40
            ) -> dict[str, int]:
    """``{stage: source records needed before it first fires}`` (``limit + 1`` for a
    stage that never fires)."""
    if joins is None:
        joins = pipeline.validate().join_weights
    ops = {s.name: s.op for s in pipeline.walk()}
    out: dict[str, int] = {}
    for stage, op in ops.items():
        def fires(n: int, stage: str = stage, op=op) -> bool:
            return op.fires(counts(pipeline, n, joins)[stage][0]) > 0

        hi = 1
        while hi <= limit and not fires(hi):
            hi *= 2
        if hi > limit:
            out[stage] = limit + 1
            continue
        lo = hi // 2                      # fires(lo) is false (or lo == 0)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fires(mid) else (mid, hi)
        out[stage] = hi
    return out


def gate(pipeline: Pipeline, n: int, joins: dict | None = None) -> str | None:
    """The first stage that does not fire on ``n`` source records, or ``None``: which
    operator holds a program up on a short stream."""
    got = counts(pipeline, n, joins)
    for s in pipeline.walk():
        if s.op.fires(got[s.name][0]) == 0:
            return s.name
    return None
