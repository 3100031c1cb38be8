"""Loop fusion: the code of a run of operators that becomes one loop over the batch.

:mod:`workbench.model.loops` decides which operators fuse; this module writes the module
of one such run: ``__wb_pre``, the element-wise operators composed into one function of
a record (compiled with numpy's error model, so a division by zero gives ``inf`` as it
does on arrays), and ``__wb_loop``, the loop. Without a loop operator at the end the loop
is ours: ``out[i] = __wb_pre(x[i])``. With one, it is the operator's own function with
every ``x[i]`` read through ``__wb_pre`` and ``np.empty_like(x)`` (and ``zeros_like``,
``ones_like``) made with the dtype ``__wb_pre`` returns: no intermediate array at all.

``WORKBENCH_LOOP_FUSION=0`` compiles segments without these loops (to measure them).
"""

from __future__ import annotations

import ast
import os
from typing import Any

from ..model.loops import elementwise, loop_reads
from .source import ModuleBuilder, ModuleText

_LIKE = {"empty_like": "empty", "zeros_like": "zeros", "ones_like": "ones"}


def loop_fusion() -> bool:
    """Whether segments are compiled with fused loops (``$WORKBENCH_LOOP_FUSION``)."""
    return os.environ.get("WORKBENCH_LOOP_FUSION", "1") not in ("0", "false", "no")


def pre_text(ops: list[Any]) -> str:
    """``__wb_pre(x_)``: the element-wise ``ops`` applied one after another to a record."""
    lines = ["def __wb_pre(x_):"]
    current = "x_"
    for k, op in enumerate(ops):
        ew = elementwise(op)
        for line in ew.lines:
            tree = _Rename(current, k).visit(ast.parse(line))
            lines.append("    " + ast.unparse(tree))
        current = f"r{k}_"
    lines.append(f"    return {current}")
    lines.append("__wb_pre = __wb_scalar__(__wb_pre)")
    return "\n".join(lines) + "\n"


class _Rename(ast.NodeTransformer):
    """Operator ``k``'s scalar lines: its record is ``current``, its names numbered."""

    def __init__(self, current: str, k: int) -> None:
        self.current, self.k = current, k

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == "x_":
            return ast.Name(self.current, node.ctx)
        if node.id == "r_":
            return ast.Name(f"r{self.k}_", node.ctx)
        if node.id.startswith("l_"):
            return ast.Name(f"l{self.k}{node.id[1:]}", node.ctx)
        return node


_OWN_LOOP = '''
def __wb_loop(x):
    probe = __wb_np.array([__wb_pre(__wb_np.zeros(1, x.dtype)[0])])
    out = __wb_np.empty(x.shape[0], probe.dtype)
    for i in range(x.shape[0]):
        out[i] = __wb_pre(x[i])
    return out
'''


class _ReadThrough(ast.NodeTransformer):
    """The loop operator's function with its batch read through ``__wb_pre``."""

    def __init__(self, param: str) -> None:
        self.param = param

    def _is_batch(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == self.param

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        node.name = "__wb_loop"
        node.decorator_list = []
        probe = ast.parse(f"__wb_probe = __wb_np.array([__wb_pre(__wb_np.zeros(1, "
                          f"{self.param}.dtype)[0])])").body
        node.body = probe + node.body
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        if self._is_batch(node.value):
            return ast.Call(ast.Name("__wb_pre", ast.Load()), [node], [])
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr in _LIKE and len(node.args) == 1
                and self._is_batch(node.args[0])):
            return ast.parse(f"__wb_np.{_LIKE[f.attr]}({self.param}.shape, "
                             "__wb_probe.dtype)", mode="eval").body
        return node


def loop_module(ops: list[Any], names: list[str], toolchain: str) -> ModuleText:
    """Module text of one loop: element-wise ``ops`` and, when the last one loops over its
    records, that operator reading through them."""
    last = ops[-1]
    tail = loop_reads(last) if elementwise(last) is None else None
    pre = ops[:-1] if tail is not None else ops
    builder = ModuleBuilder("+".join(names))
    header = (f"workbench artifact: one loop over the batch: {'+'.join(names)}\n"
              f"toolchain: {toolchain}")
    extra = ["import numpy as __wb_np", pre_text(pre)]
    if tail is None:
        extra.append(_OWN_LOOP)
    else:
        builder.add(last.func, entry=True)
        fn = _ReadThrough(tail.param).visit(ast.parse(tail.text))
        builder.functions[0] = ("__wb_loop", ast.unparse(fn) + "\n",
                                builder.functions[0][2], True)
    mt = builder.build(header)
    mt.text += "\n\n" + "\n\n".join(extra)
    return mt
