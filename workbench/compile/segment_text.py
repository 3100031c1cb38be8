"""The source text of a segment's module: a function that calls each operator's own
artifact in turn and checks its output length against the declared rates (a keyed
segment: once per key group), and, for runs of element-wise operators, the call of their
fused loop (:mod:`workbench.compile.loops`)."""

from __future__ import annotations

from typing import Any

from ..model.fusion import Segment
from .artifacts import toolchain
from .source import ModuleText

_RATE = "__wb_rate__"


def _state_args(op: Any, i: int, index: str | None = None) -> str:
    if op.state is None:
        return ""
    if isinstance(op.state, tuple):
        parts = [f"s{i}[{j}]" + (f"[{index}]" if index else "") for j in range(len(op.state))]
        return ", (" + ", ".join(parts) + ",)"
    return f", s{i}" + (f"[{index}]" if index else "")


def _check(i: int, out: str, n_in: str, op: Any, indent: str) -> list[str]:
    if op.history:     # a peeking head gets (n - 1) * consumes + peek records: n firings
        expect = f"(({n_in} - {op.window}) // {op.consumes} + 1) * {op.produces}"
    else:
        expect = f"{n_in} // {op.consumes} * {op.produces}"
    return [f"{indent}if {out}.shape[0] != {expect}:",
            f"{indent}    raise ValueError({_RATE!r}, {i}, {n_in}, {out}.shape[0])"]


def segment_text(seg: Segment, entries: list[tuple[str, str]],
                 loops: tuple[tuple[int, int, str], ...] = ()) -> tuple[ModuleText, dict]:
    """Module text of a fused segment; also {module line: stage name} of the call lines.

    ``segment`` calls the operators one after another; with ``loops`` (``(start, end,
    module)``: operators ``start..end-1`` as one loop), ``fused`` calls those loops in
    their place (see :mod:`workbench.compile.loops`)."""
    head = [f"# workbench segment '{seg.name}'", f"# toolchain: {toolchain()}",
            "import numpy as np"]
    for i, (mod, func) in enumerate(entries):
        head.append(f"op{i} = __wb_store__.jitted({mod!r}, {func!r})")
    for k, (_, _, mod) in enumerate(loops):
        head.append(f"loop{k} = __wb_store__.jitted({mod!r}, '__wb_loop')")
    ops = seg.ops
    body: list[str] = []
    calls: dict[int, str] = {}
    if seg.keyed:
        op = ops[0]
        head.append("from workbench.compile.kernels import group_order")
        state = _state_args(op, 0, "g")[2:]
        first = state.replace("[g]", "[0]")
        body += ["def segment(x0, keys, s0):",
                 f"    groups = {'s0[0]' if isinstance(op.state, tuple) else 's0'}.shape[0]",
                 "    order, bounds = group_order(keys, groups)",
                 "    xs = x0[order]",
                 "    if xs.shape[0] == 0:",
                 f"        return op0(xs, {first})",
                 "    g = 0",
                 "    while bounds[g + 1] == bounds[g]:",
                 "        g += 1",
                 "    a = bounds[g]",
                 "    b = bounds[g + 1]",
                 f"    y = op0(xs[a:b], {state})"]
        calls[len(head) + len(body) + 2] = seg.stages[0].name
        calls[len(head) + len(body) + 3] = seg.stages[0].name + " returned"
        body += _check(0, "y", "(b - a)", op, "    ")
        # each group's output goes back to its records' places: input order
        body += ["    out = np.empty((xs.shape[0],) + y.shape[1:], y.dtype)",
                 "    out[order[a:b]] = y",
                 "    for g in range(g + 1, groups):",
                 "        a = bounds[g]",
                 "        b = bounds[g + 1]",
                 "        if b > a:",
                 f"            y = op0(xs[a:b], {state})"]
        body += _check(0, "y", "(b - a)", op, "            ")
        body += ["            out[order[a:b]] = y", "    return out"]
    else:
        params = ", ".join(["x0"] + [f"s{i}" for i, op in enumerate(ops) if op.state is not None])
        body.append(f"def segment({params}):")
        for i, op in enumerate(ops):
            calls[len(head) + len(body) + 3] = seg.stages[i].name
            calls[len(head) + len(body) + 4] = seg.stages[i].name + " returned"
            body.append(f"    x{i + 1} = op{i}(x{i}{_state_args(op, i)})")
            body += _check(i, f"x{i + 1}", f"x{i}.shape[0]", op, "    ")
        body.append(f"    return x{len(ops)}")
        if loops:
            body += ["", "", *_fused_text(ops, params, loops)]
    text = "\n".join(head) + "\n\n\n" + "\n".join(body) + "\n"
    return ModuleText(text), calls


def _fused_text(ops: tuple, params: str, loops: tuple[tuple[int, int, str], ...]
                ) -> list[str]:
    """``fused``: the segment with each loop group called in its operators' place."""
    body = [f"def fused({params}):"]
    starts = {a: (k, b) for k, (a, b, _) in enumerate(loops)}
    i = 0
    while i < len(ops):
        if i in starts:
            k, b = starts[i]
            last = ops[b - 1]
            body.append(f"    x{b} = loop{k}(x{i}{_state_args(last, b - 1)})")
            body += _check(b - 1, f"x{b}", f"x{i}.shape[0]", last, "    ")
            i = b
            continue
        body.append(f"    x{i + 1} = op{i}(x{i}{_state_args(ops[i], i)})")
        body += _check(i, f"x{i + 1}", f"x{i}.shape[0]", ops[i], "    ")
        i += 1
    body.append(f"    return x{len(ops)}")
    return body
